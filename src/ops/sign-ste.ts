// Larq's ste_sign for training (shaders/sign_ste.wgsl): the forward writes the sign bits and the
// straight-through mask bits (|x| <= clip_value), the only per-activation state the backward
// keeps (2 bits instead of a float); the backward gates dy by the mask. CPU references beside.
// With `stochastic`, BinaryNet's stochastic binarization: +1 with probability
// hard_sigmoid(x) = clip((x + 1) / 2, 0, 1), drawn by a counter-based hash (shaders/lib/hash.wgsl).
import { packRows, wordsPerRow } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import { hashU32, streamKey } from '../random.js';
import type { Tensor } from '../tensor.js';
import { checkWorkgroupSize, expectNotAliased, expectRows, expectSameShape, launchAll, outputTensor } from './training-launch.js';

export interface SignWithMaskOptions {
  /** Larq's SteSign clip_value (default 1.0): the gradient passes where |x| <= clip_value; null: everywhere. */
  clipValue?: number | null;
  /** Caller-provided outputs, b1 of x's shape. */
  bits?: Tensor;
  mask?: Tensor;
  /**
   * Stochastic binarization (training): `noise` is a u32 tensor [seed, step] the caller rewrites
   * before each step (so a recorded step replays with fresh numbers); `stream` tells apart the
   * layers and operands drawing in the same step.
   */
  stochastic?: { noise: Tensor; stream: number };
  label?: string;
  workgroupSize?: number;
}

export interface SignWithMask {
  /** sign(x), the bit convention (bit 1 = -1, sign(0) = +1). */
  bits: Tensor;
  /** Bit set where the STE passes the gradient (|x| <= clip_value in f32). */
  mask: Tensor;
}

/**
 * The shader's mask_below for a clip value: |x|'s bits < mask_below <=> |x| <= f32(clip) (as Larq's
 * `tf.math.less_equal(tf.math.abs(x), clip_value)` in f32; NaN never), or every value for null.
 */
export function maskBelow(clipValue: number | null): number {
  if (clipValue === null) return 0x80000000;
  if (typeof clipValue !== 'number') throw new ShapeError(`signWithMask: clipValue must be a number or null, got ${JSON.stringify(clipValue)}`);
  const c = Math.fround(clipValue);
  if (Number.isNaN(c) || c < 0) return 0; // |x| <= c holds for no x
  return new Uint32Array(Float32Array.of(Math.abs(c)).buffer)[0] + 1; // abs: -0 -> +0
}

/** ste_sign forward for training: f32 x [..., C] -> { bits, mask } b1 [..., C]. */
export async function signWithMask(gpu: Gpu, x: Tensor, options: SignWithMaskOptions = {}): Promise<SignWithMask> {
  const op = 'signWithMask';
  const { shape, rows, cols } = expectRows(op, 'x', x, 'f32');
  const mask_below = maskBelow(options.clipValue === undefined ? 1.0 : options.clipValue);
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  expectNotAliased(op, { bits: options.bits, mask: options.mask }, { x });
  if (options.bits && options.mask && options.bits.buffer === options.mask.buffer) throw new ShapeError(`${op}: 'bits' and 'mask' must be different tensors`);
  const label = options.label ?? `${op}[${shape.join('x')}]`;
  const fresh: Tensor[] = [];
  const bits = outputTensor(gpu, op, 'bits', options.bits, 'b1', shape, label, fresh);
  const mask = outputTensor(gpu, op, 'mask', options.mask, 'b1', shape, label, fresh);
  const st = options.stochastic;
  if (st) {
    if (st.noise.dtype !== 'u32' || st.noise.size !== 2) throw new ShapeError(`${op}: stochastic.noise must be a u32 tensor of 2 values [seed, step], got ${st.noise.dtype} [${st.noise.shape.join(', ')}]`);
    if (!Number.isInteger(st.stream) || st.stream < 0 || st.stream > 0xffffffff) throw new ShapeError(`${op}: stochastic.stream must be an integer in [0, 2^32), got ${st.stream}`);
  }
  const params = { rows, cols, words_per_row: wordsPerRow(cols), mask_below, stream: st?.stream ?? 0 };
  const entryPoint = st ? 'sign_with_mask_stochastic' : 'sign_with_mask';
  const spec = { shader: 'sign_ste' as const, entryPoint, constants: { WORKGROUP_SIZE: wg } };
  const bindings = { params, x, bits, mask, ...(st ? { noise: st.noise } : {}) };
  await launchAll(gpu, label, [{ spec, bindings, workgroups: Math.ceil((rows * params.words_per_row) / wg) }], fresh);
  return { bits, mask };
}

export interface SteSignBackwardOptions {
  out?: Tensor;
  label?: string;
  workgroupSize?: number;
}

/** ste_sign backward: dx = dy where the mask bit is set, else 0. dy f32 [..., C], mask b1 of its shape. */
export async function steSignBackward(gpu: Gpu, dy: Tensor, mask: Tensor, options: SteSignBackwardOptions = {}): Promise<Tensor> {
  const op = 'steSignBackward';
  const { shape, rows, cols } = expectRows(op, 'dy', dy, 'f32');
  expectRows(op, 'mask', mask, 'b1');
  expectSameShape(op, 'mask', mask, 'dy', shape);
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  expectNotAliased(op, { out: options.out }, { dy, mask });
  const label = options.label ?? `${op}[${shape.join('x')}]`;
  const fresh: Tensor[] = [];
  const dx = outputTensor(gpu, op, 'out', options.out, 'f32', shape, label, fresh);
  const params = { rows, cols, words_per_row: wordsPerRow(cols), mask_below: 0, stream: 0 };
  const spec = { shader: 'sign_ste' as const, entryPoint: 'ste_sign_backward', constants: { WORKGROUP_SIZE: wg } };
  await launchAll(gpu, label, [{ spec, bindings: { params, dy, grad_mask: mask, dx }, workgroups: Math.ceil((rows * cols) / wg) }], fresh);
  return dx;
}

/** Where stochastic binarization draws: the values of signWithMask's noise tensor, and the stream. */
export interface StochasticDraw {
  seed: number;
  step: number;
  stream: number;
}

/**
 * CPU reference of signWithMask: packed sign bits and mask bits of x (rows x cols). With `draw`,
 * the stochastic version: element i is -1 where x <= t_i = (hashU32(i ^ key) >> 8) / 2^23 - 1.
 */
export function signWithMaskReference(x: Float32Array, rows: number, cols: number, clipValue: number | null = 1.0, draw?: StochasticDraw): { bits: Uint32Array; mask: Uint32Array } {
  const c = clipValue === null ? null : Math.fround(clipValue);
  const inside = Float32Array.from(x, (v) => (c === null || Math.abs(v) <= c ? -1 : 1)); // -1 packs as bit 1
  if (!draw) return { bits: packRows(x, rows, cols), mask: packRows(inside, rows, cols) };
  const key = streamKey(draw.seed, draw.step, draw.stream);
  const signs = new Float32Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) {
    const t = ((hashU32((i ^ key) >>> 0) >>> 8) - 8388608) / 8388608;
    signs[i] = x[i] <= t ? -1 : 1; // NaN compares false: +1
  }
  return { bits: packRows(signs, rows, cols), mask: packRows(inside, rows, cols) };
}

/** CPU reference of steSignBackward: dy gated by the packed mask (rows x cols). */
export function steSignBackwardReference(dy: Float32Array, mask: Uint32Array, rows: number, cols: number): Float32Array {
  const wpr = wordsPerRow(cols);
  const dx = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) dx[r * cols + j] = (mask[r * wpr + (j >>> 5)] >>> (j & 31)) & 1 ? dy[r * cols + j] : 0;
  }
  return dx;
}
