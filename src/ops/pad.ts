// Spatial padding of NHWC tensors (shaders/pad.wgsl): f32 (zeros, or a fill value) or b1 (zero
// words, i.e. +1 values with zero pad bits). The convolutions pad once and then read without
// bounds checks; the fp32 comparison model pads with Larq's pad_values 1 by a fill; negative
// margins crop (ZeroPadding2D's backward in training).
// Beside the launcher, its CPU reference.
import { wordsPerRow } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import { Tensor } from '../tensor.js';
import { expectOut } from './check.js';
import type { Conv2dGeometry } from './bconv2d.js';

export interface Padding2d {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

const OP = 'pad2d';

function checked(x: Tensor, p: Padding2d) {
  if (!(x instanceof Tensor)) throw new ShapeError(`${OP}: x must be a Tensor`);
  x.assertLive();
  if (x.shape.length !== 4 || (x.dtype !== 'f32' && x.dtype !== 'b1')) {
    throw new ShapeError(`${OP}: x must be an f32 or b1 NHWC tensor, got ${x}`);
  }
  const [n, h, w, c] = x.shape;
  const outH = h + p.top + p.bottom;
  const outW = w + p.left + p.right;
  if (![p.top, p.bottom, p.left, p.right].every(Number.isInteger) || outH < 1 || outW < 1) {
    throw new ShapeError(`${OP}: margins must be integers (negative ones crop) and the result non-empty, got ${JSON.stringify(p)} for [${x.shape.join(', ')}]`);
  }
  const words = x.dtype === 'b1' ? wordsPerRow(c) : c;
  return { n, h, w, c, outH, outW, words };
}

export interface Pad2dOptions {
  out?: Tensor;
  label?: string;
  /** The value around an f32 tensor. Default 0. (b1 tensors are padded with +1.) */
  fill?: number;
}

/**
 * x [N, H, W, C] -> [N, H + top + bottom, W + left + right, C] with zeros around (f32 0 or
 * options.fill, b1 +1). A negative margin crops: bottom/right the rows or columns no window
 * reads, top/left those before the first kept (the crop that undoes a padding).
 */
export async function pad2d(gpu: Gpu, x: Tensor, p: Padding2d, options: Pad2dOptions = {}): Promise<Tensor> {
  const g = checked(x, p);
  const fill = options.fill ?? 0;
  if (typeof fill !== 'number' || (fill !== 0 && x.dtype !== 'f32')) throw new ShapeError(`${OP}: fill ${fill} applies to f32 tensors only (b1 tensors pad with +1)`);
  const shape = [g.n, g.outH, g.outW, g.c];
  expectOut(OP, options.out, x.dtype, shape);
  const label = options.label ?? `${OP}[${x.shape.join('x')}]`;
  const wg = 64;
  const kernel = await gpu.kernel({ shader: 'pad', entryPoint: 'pad2d', constants: { WORKGROUP_SIZE: wg } });
  const out = options.out ?? gpu.tensor(shape, x.dtype, `${label}.out`);
  const params = { batch: g.n, in_h: g.h, in_w: g.w, out_h: g.outH, out_w: g.outW, words: g.words, top: p.top, left: p.left, fill: new Uint32Array(new Float32Array([fill]).buffer)[0] };
  const grid = gpu.grid(Math.ceil((g.n * g.outH * g.outW * g.words) / wg), label);
  await gpu.run(label, (rec) => rec.dispatch(kernel, { params, src: x, dst: out }, grid));
  return out;
}

/** CPU reference of pad2d on the raw 32-bit words (or floats) of an NHWC tensor with `words` per pixel; `fill` in the same unit. */
export function pad2dReference<T extends Float32Array | Uint32Array>(x: T, shape: readonly number[], words: number, p: Padding2d, fill = 0): T {
  const [n, h, w] = shape;
  const outH = h + p.top + p.bottom;
  const outW = w + p.left + p.right;
  const out = new (x.constructor as new (n: number) => T)(n * outH * outW * words);
  out.fill(fill);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < outH; y++) {
      for (let z = 0; z < outW; z++) {
        const sy = y - p.top;
        const sz = z - p.left;
        if (sy < 0 || sz < 0 || sy >= h || sz >= w) continue;
        for (let c = 0; c < words; c++) out[((b * outH + y) * outW + z) * words + c] = x[((b * h + sy) * w + sz) * words + c];
      }
    }
  }
  return out;
}

/**
 * The input a convolution's kernel reads: padded so that every window lies inside it (and cropped
 * of rows and columns no window reads), or x itself when it already is. Release `src` when
 * `padded` is true, once the convolution is recorded.
 */
export async function padForWindows(gpu: Gpu, x: Tensor, g: Conv2dGeometry, label: string): Promise<{ src: Tensor; srcH: number; srcW: number; padded: boolean }> {
  const srcH = (g.outH - 1) * g.strideH + (g.kernelH - 1) * g.dilationH + 1;
  const srcW = (g.outW - 1) * g.strideW + (g.kernelW - 1) * g.dilationW + 1;
  if (g.padTop === 0 && g.padLeft === 0 && srcH <= g.inH && srcW <= g.inW) return { src: x, srcH: g.inH, srcW: g.inW, padded: false };
  const p = { top: g.padTop, left: g.padLeft, bottom: srcH - g.padTop - g.inH, right: srcW - g.padLeft - g.inW };
  return { src: await pad2d(gpu, x, p, { label: `${label}.pad` }), srcH, srcW, padded: true };
}

/** The uniforms of shaders/lib/implicit_gemm.wgsl for a convolution over a padded input (padForWindows). */
export function implicitGemmParams(g: Conv2dGeometry, srcH: number, srcW: number, cChunks: number) {
  return {
    src_h: srcH,
    src_w: srcW,
    c_chunks: cChunks,
    out_w: g.outW,
    out_hw: g.outH * g.outW,
    kernel_h: g.kernelH,
    kernel_w: g.kernelW,
    stride_h: g.strideH,
    stride_w: g.strideW,
    dilation_h: g.dilationH,
    dilation_w: g.dilationW,
  };
}

/**
 * Taps per K step of shaders/lib/implicit_gemm.wgsl for pixels of `pixelLen` elements (words for
 * b1, floats for f32): 4 or 2 when a pixel has 1 or 2 (a step then spans taps instead of leaving
 * 3 or 2 of its 4 elements empty), else 1.
 */
export function stepTaps(pixelLen: number): number {
  return pixelLen <= 2 ? 4 / pixelLen : 1;
}
