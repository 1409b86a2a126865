// 2-D max and average pooling of NHWC tensors (shaders/pool.wgsl), with Keras/Larq's options and
// TensorFlow's 'valid'/'same' geometry, forward and backward. Beside the launchers, their plain CPU references.
import { wordsPerRow } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import { Tensor, elementCount, storageWords, type Shape } from '../tensor.js';
import { expectOut, expectTensor } from './check.js';
import { pool2dGeometry, type Pool2dGeometry, type Pool2dWindow } from './window.js';

export { pool2dGeometry, type Pool2dGeometry, type Pool2dPadding, type Pool2dWindow } from './window.js';

export interface Pool2dOptions extends Pool2dWindow {
  out?: Tensor;
  label?: string;
  workgroupSize?: number;
}

function outShape(g: Pool2dGeometry): number[] {
  return [g.batch, g.outH, g.outW, g.channels];
}

/** Max-pooling of f32 or b1 x[N, H, W, C]; b1 stays packed (the max of +-1 values is the AND of their bits). */
export async function maxPool2d(gpu: Gpu, x: Tensor, options: Pool2dOptions = {}): Promise<Tensor> {
  if (x instanceof Tensor && x.dtype !== 'f32' && x.dtype !== 'b1') {
    throw new ShapeError(`maxPool2d: 'x' must be f32 or b1, got ${x.dtype} (${x})`);
  }
  const binary = x instanceof Tensor && x.dtype === 'b1';
  return runPool(gpu, 'maxPool2d', binary ? 'max_pool_b1' : 'max_pool_f32', x, options);
}

/** Average-pooling of f32 x[N, H, W, C]; with 'same', each window averages its valid elements only. */
export async function avgPool2d(gpu: Gpu, x: Tensor, options: Pool2dOptions = {}): Promise<Tensor> {
  return runPool(gpu, 'avgPool2d', 'avg_pool_f32', x, options);
}

type PoolEntry = 'max_pool_b1' | 'max_pool_f32' | 'avg_pool_f32';

async function runPool(gpu: Gpu, op: string, entryPoint: PoolEntry, x: Tensor, options: Pool2dOptions): Promise<Tensor> {
  const dtype = entryPoint === 'max_pool_b1' ? 'b1' : 'f32';
  const g = pool2dGeometry(expectTensor(op, 'x', x, dtype, 4), options, op);
  const shape = outShape(g);
  expectOut(op, options.out, dtype, shape);
  const wg = options.workgroupSize ?? 64;
  const maxWg = gpu.limits.maxComputeInvocationsPerWorkgroup;
  if (!Number.isInteger(wg) || wg < 1 || wg > maxWg) {
    throw new ShapeError(`${op}: workgroupSize must be an integer in [1, ${maxWg}] on this device, got ${wg}`);
  }
  const label =
    options.label ?? `${op}[${x.shape.join('x')} ${dtype} ${g.poolH}x${g.poolW}/${g.strideH}x${g.strideW} ${options.padding ?? 'valid'}]`;
  const kernel = await gpu.kernel({ shader: 'pool', entryPoint, constants: { WORKGROUP_SIZE: wg } });
  const out = options.out ?? gpu.tensor(shape, dtype, `${label}.out`);
  const outCount = storageWords(shape, dtype);
  const params = {
    out_count: outCount,
    in_count: storageWords(x.shape, dtype),
    pixel_len: dtype === 'b1' ? wordsPerRow(g.channels) : g.channels,
    in_h: g.inH,
    in_w: g.inW,
    out_h: g.outH,
    out_w: g.outW,
    pool_h: g.poolH,
    pool_w: g.poolW,
    stride_h: g.strideH,
    stride_w: g.strideW,
    pad_top: g.padTop,
    pad_left: g.padLeft,
  };
  const io: Record<string, Tensor> = dtype === 'b1' ? { bits_in: x, bits_out: out } : { values: x, pooled: out };
  const grid = gpu.grid(Math.ceil(outCount / wg), label);
  await gpu.run(label, (rec) => rec.dispatch(kernel, { params, ...io }, grid));
  return out;
}

export interface Pool2dBackwardOptions extends Pool2dWindow {
  /** Write dx here: f32 of the forward input's shape. */
  out?: Tensor;
  label?: string;
  workgroupSize?: number;
}

/**
 * Gradient of maxPool2d (f32): dx[i] = sum of dy over the outputs whose window's maximum is element
 * i. Ties go to the first maximum in row-major window order, as TensorFlow's MaxPoolGrad on CPU
 * (its GPU kernel may pick another). x is the forward input, dy [N, OH, OW, C].
 */
export async function maxPool2dBackward(gpu: Gpu, x: Tensor, dy: Tensor, options: Pool2dBackwardOptions = {}): Promise<Tensor> {
  const op = 'maxPool2dBackward';
  return runPoolBackward(gpu, op, 'max_pool_backward_f32', expectTensor(op, 'x', x, 'f32', 4), dy, { values: x }, options);
}

/** Gradient of avgPool2d: dx[i] = sum of dy / (valid elements of the window) over the windows that hold element i. */
export async function avgPool2dBackward(gpu: Gpu, dy: Tensor, inputShape: Shape, options: Pool2dBackwardOptions = {}): Promise<Tensor> {
  return runPoolBackward(gpu, 'avgPool2dBackward', 'avg_pool_backward_f32', inputShape, dy, {}, options);
}

async function runPoolBackward(
  gpu: Gpu, op: string, entryPoint: string, inShape: Shape, dy: Tensor, inputs: Record<string, Tensor>, options: Pool2dBackwardOptions,
): Promise<Tensor> {
  const g = pool2dGeometry(inShape, options, op);
  const dyShape = expectTensor(op, 'dy', dy, 'f32', 4);
  const shape = outShape(g);
  if (dyShape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${op}: 'dy' must be the pooled shape [${shape.join(', ')}] of input [${inShape.join(', ')}] with this window, got [${dyShape.join(', ')}]`);
  }
  expectOut(op, options.out, 'f32', inShape);
  if (options.out && (options.out.buffer === dy.buffer || options.out.buffer === inputs.values?.buffer)) {
    throw new ShapeError(`${op}: 'out' must not share storage with 'dy' or 'x' (WebGPU binds a buffer either read-only or writable in one dispatch)`);
  }
  const wg = options.workgroupSize ?? 64;
  const maxWg = gpu.limits.maxComputeInvocationsPerWorkgroup;
  if (!Number.isInteger(wg) || wg < 1 || wg > maxWg) {
    throw new ShapeError(`${op}: workgroupSize must be an integer in [1, ${maxWg}] on this device, got ${wg}`);
  }
  const label = options.label ?? `${op}[${inShape.join('x')} ${g.poolH}x${g.poolW}/${g.strideH}x${g.strideW} ${options.padding ?? 'valid'}]`;
  const kernel = await gpu.kernel({ shader: 'pool', entryPoint, constants: { WORKGROUP_SIZE: wg } });
  const dx = options.out ?? gpu.tensor(inShape, 'f32', `${label}.dx`);
  const inCount = elementCount(inShape);
  const params = {
    out_count: elementCount(shape),
    in_count: inCount,
    pixel_len: g.channels,
    in_h: g.inH,
    in_w: g.inW,
    out_h: g.outH,
    out_w: g.outW,
    pool_h: g.poolH,
    pool_w: g.poolW,
    stride_h: g.strideH,
    stride_w: g.strideW,
    pad_top: g.padTop,
    pad_left: g.padLeft,
  };
  try {
    const grid = gpu.grid(Math.ceil(inCount / wg), label);
    await gpu.run(label, (rec) => rec.dispatch(kernel, { params, ...inputs, dy, dx }, grid));
  } catch (err) {
    if (!options.out) dx.release();
    throw err;
  }
  return dx;
}

// ---------------------------------------------------------------------------------------------
// CPU references: plain loops over the padded window, skipping positions outside the input.
// ---------------------------------------------------------------------------------------------

/**
 * Calls `visit(o, i)` for every output element o (flat NHWC index, with `len` elements per pixel)
 * and every input element i of its window that lies inside the input.
 */
function eachWindow(g: Pool2dGeometry, len: number, visit: (o: number, i: number) => void): void {
  for (let n = 0; n < g.batch; n++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++) {
        const o = ((n * g.outH + oy) * g.outW + ox) * len;
        for (let ky = 0; ky < g.poolH; ky++) {
          const y = oy * g.strideH - g.padTop + ky;
          if (y < 0 || y >= g.inH) continue;
          for (let kx = 0; kx < g.poolW; kx++) {
            const x = ox * g.strideW - g.padLeft + kx;
            if (x < 0 || x >= g.inW) continue;
            const i = ((n * g.inH + y) * g.inW + x) * len;
            for (let c = 0; c < len; c++) visit(o + c, i + c);
          }
        }
      }
    }
  }
}

/** Plain CPU reference of maxPool2d on f32 x (NHWC `shape`). */
export function maxPool2dReference(x: Float32Array, shape: Shape, window: Pool2dWindow = {}): Float32Array {
  const g = pool2dGeometry(shape, window, 'maxPool2dReference');
  const out = new Float32Array(g.batch * g.outH * g.outW * g.channels).fill(-Infinity);
  eachWindow(g, g.channels, (o, i) => {
    if (x[i] > out[o]) out[o] = x[i];
  });
  return out;
}

/** Plain CPU reference of maxPool2d on b1 words (NHWC `shape`, packed along C): AND of the window's words. */
export function maxPool2dBinaryReference(words: Uint32Array, shape: Shape, window: Pool2dWindow = {}): Uint32Array {
  const g = pool2dGeometry(shape, window, 'maxPool2dBinaryReference');
  const len = wordsPerRow(g.channels);
  const out = new Uint32Array(g.batch * g.outH * g.outW * len).fill(0xffffffff);
  eachWindow(g, len, (o, i) => {
    out[o] &= words[i];
  });
  return out;
}

/** Plain CPU reference of avgPool2d on f32 x (NHWC `shape`): f64 sums over the valid elements, rounded once. */
export function avgPool2dReference(x: Float32Array, shape: Shape, window: Pool2dWindow = {}): Float32Array {
  const g = pool2dGeometry(shape, window, 'avgPool2dReference');
  const size = g.batch * g.outH * g.outW * g.channels;
  const sum = new Float64Array(size);
  const count = new Float64Array(size);
  eachWindow(g, g.channels, (o, i) => {
    sum[o] += x[i];
    count[o]++;
  });
  return Float32Array.from(sum, (s, o) => s / count[o]);
}

/** Plain CPU reference of maxPool2dBackward: each dy to its window's first maximum (row-major), f64 sums. */
export function maxPool2dBackwardReference(x: Float32Array, dy: Float32Array, shape: Shape, window: Pool2dWindow = {}): Float32Array {
  const g = pool2dGeometry(shape, window, 'maxPool2dBackwardReference');
  const best = new Int32Array(g.batch * g.outH * g.outW * g.channels).fill(-1);
  eachWindow(g, g.channels, (o, i) => {
    if (best[o] < 0 || x[i] > x[best[o]]) best[o] = i;
  });
  const dx = new Float64Array(x.length);
  best.forEach((i, o) => (dx[i] += dy[o]));
  return Float32Array.from(dx);
}

/** Plain CPU reference of avgPool2dBackward: dy / count added to every valid element of the window, f64 sums. */
export function avgPool2dBackwardReference(dy: Float32Array, shape: Shape, window: Pool2dWindow = {}): Float32Array {
  const g = pool2dGeometry(shape, window, 'avgPool2dBackwardReference');
  const count = new Float64Array(dy.length);
  eachWindow(g, g.channels, (o) => count[o]++);
  const dx = new Float64Array(elementCount(shape));
  eachWindow(g, g.channels, (o, i) => (dx[i] += dy[o] / count[o]));
  return Float32Array.from(dx);
}
