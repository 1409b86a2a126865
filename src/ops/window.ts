// The geometry of a 2-D window sliding over an NHWC tensor (pooling, convolution): output size and
// padding as TensorFlow computes them for 'valid' and 'same'.
import { ShapeError } from '../gpu/errors.js';
import type { Shape } from '../tensor.js';

export type Pool2dPadding = 'valid' | 'same';

/** The window: Keras's MaxPooling2D / AveragePooling2D arguments and defaults. */
export interface Pool2dWindow {
  /** [height, width] of the window, or one size for both. Default [2, 2]. */
  poolSize?: number | readonly [number, number];
  /** [vertical, horizontal] step, or one for both. Default: poolSize. */
  strides?: number | readonly [number, number];
  /** 'valid' (no padding; default) or 'same' (out = ceil(in / stride), TF's padding). */
  padding?: Pool2dPadding;
}

/** Everything a pooling launch or reference needs, in input and output pixels. */
export interface Pool2dGeometry {
  batch: number;
  inH: number;
  inW: number;
  channels: number;
  outH: number;
  outW: number;
  poolH: number;
  poolW: number;
  strideH: number;
  strideW: number;
  /** Padding before the first row / column ('same' only); the rest, if any, pads the end. */
  padTop: number;
  padLeft: number;
}

/**
 * The output size and padding of pooling an NHWC `shape`, as TensorFlow computes them:
 * 'valid': out = floor((in - pool) / stride) + 1, refused when the window is larger than the input;
 * 'same': out = ceil(in / stride), pad_total = max((out - 1) * stride + pool - in, 0),
 * pad_before = floor(pad_total / 2). Every window then overlaps the input (pad_before < pool and
 * (out - 1) * stride < in), so no output is left without elements.
 */
export function pool2dGeometry(shape: Shape, window: Pool2dWindow = {}, op = 'pool2d'): Pool2dGeometry {
  if (shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${op}: the input must be NHWC, rank 4 with positive sizes, got [${shape.join(', ')}]`);
  }
  const [batch, inH, inW, channels] = shape;
  const [poolH, poolW] = pair(op, 'poolSize', window.poolSize ?? 2);
  const [strideH, strideW] = pair(op, 'strides', window.strides ?? [poolH, poolW]);
  const padding = window.padding ?? 'valid';
  if (padding === 'valid') {
    if (poolH > inH || poolW > inW) {
      throw new ShapeError(
        `${op}: a ${poolH}x${poolW} window does not fit a ${inH}x${inW} input with padding 'valid' (the output would be empty); ` +
          `use padding 'same' or a smaller window (poolSize or kernel)`,
      );
    }
    const out = (n: number, k: number, s: number) => Math.floor((n - k) / s) + 1;
    return { batch, inH, inW, channels, outH: out(inH, poolH, strideH), outW: out(inW, poolW, strideW), poolH, poolW, strideH, strideW, padTop: 0, padLeft: 0 };
  }
  if (padding === 'same') {
    const [outH, outW] = [Math.ceil(inH / strideH), Math.ceil(inW / strideW)];
    const before = (n: number, o: number, k: number, s: number) => Math.floor(Math.max((o - 1) * s + k - n, 0) / 2);
    return { batch, inH, inW, channels, outH, outW, poolH, poolW, strideH, strideW, padTop: before(inH, outH, poolH, strideH), padLeft: before(inW, outW, poolW, strideW) };
  }
  throw new ShapeError(`${op}: padding must be 'valid' or 'same', got ${JSON.stringify(padding)}`);
}

function pair(op: string, name: string, v: unknown): [number, number] {
  const p = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${op}: '${name}' must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [p[0], p[1]];
}

