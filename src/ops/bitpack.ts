// Sign-binarize and bit-pack along the last axis (f32 -> b1), unpack (b1 -> f32), and concatenate
// bits along the last axis (concatBits), on the GPU (shaders/bitpack.wgsl). The CPU references are
// the convention module's packRows/unpackRows (concatBitsReference is built on them).
import { packBitPlanes, packRows, unpackRows, wordsPerRow } from '../bitpack.js';
import { concatLastReference } from './elementwise.js';
import { getQuantizer } from '../model/quantizers.js';
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import { Tensor, elementCount } from '../tensor.js';
import { expectOut } from './check.js';

export { packRows as packReference, unpackRows as unpackReference } from '../bitpack.js';

export interface BitpackOptions {
  out?: Tensor;
  label?: string;
  workgroupSize?: number;
}

export interface PackOptions extends BitpackOptions {
  /**
   * Length of the packed rows in values, at least x's last axis (default: equal). The extra
   * values are +1 (bits 0): a GEMM over rows padded alike, say to whole 128-bit vectors, adds one
   * agreement per padded value, which the caller subtracts.
   */
  columns?: number;
}

function rowsCols(op: string, t: Tensor, dtype: 'f32' | 'b1') {
  if (!(t instanceof Tensor)) throw new ShapeError(`${op}: input must be a Tensor`);
  t.assertLive();
  if (t.dtype !== dtype) throw new ShapeError(`${op}: input must be ${dtype}, got ${t}`);
  const cols = t.shape[t.shape.length - 1];
  return { rows: elementCount(t.shape) / cols, cols };
}

/** sign(x) of every value, packed 32 per word along the last axis: f32[..., n] -> b1[..., n]. */
export async function pack(gpu: Gpu, x: Tensor, options: PackOptions = {}): Promise<Tensor> {
  const { rows, cols } = rowsCols('pack', x, 'f32');
  const columns = options.columns ?? cols;
  if (!Number.isInteger(columns) || columns < cols) throw new ShapeError(`pack: columns must be an integer >= x's last axis (${cols}), got ${columns}`);
  const outShape = [...x.shape.slice(0, -1), columns];
  expectOut('pack', options.out, 'b1', outShape);
  const label = options.label ?? `pack[${x.shape.join('x')}${columns !== cols ? `->${columns}` : ''}]`;
  const wg = options.workgroupSize ?? 64;
  const kernel = await gpu.kernel({ shader: 'bitpack', entryPoint: 'pack', constants: { WORKGROUP_SIZE: wg } });
  const out = options.out ?? gpu.tensor(outShape, 'b1', `${label}.out`);
  const words = rows * wordsPerRow(columns);
  const grid = gpu.grid(Math.ceil(words / wg), label);
  const params = { rows, cols, words_per_row: wordsPerRow(columns) };
  await gpu.run(label, (rec) => rec.dispatch(kernel, { params, values: x, packed: out }, grid));
  return out;
}

/**
 * DoReFa's activation quantizer (Larq's dorefa_quantizer, mode 'activations', k_bit bits) straight
 * to the bit-serial kernels' operand: f32 [..., n] -> b1 [bits, ..., n], plane i holding bit i of
 * each level n = round_half_even(clip(x, 0, 1) * (2^bits - 1)) (packBitPlanes' layout).
 */
export async function packDorefaPlanes(gpu: Gpu, x: Tensor, bits: number, options: BitpackOptions = {}): Promise<Tensor> {
  const op = 'packDorefaPlanes';
  const { rows, cols } = rowsCols(op, x, 'f32');
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new ShapeError(`${op}: bits must be an integer in 1..8 (the bit-serial kernels' widths), got ${bits}`);
  const outShape = [bits, ...x.shape];
  expectOut(op, options.out, 'b1', outShape);
  const label = options.label ?? `${op}[${x.shape.join('x')}, ${bits} bits]`;
  const wg = options.workgroupSize ?? 64;
  const kernel = await gpu.kernel({ shader: 'bitpack', entryPoint: 'pack_dorefa_planes', constants: { WORKGROUP_SIZE: wg } });
  const out = options.out ?? gpu.tensor(outShape, 'b1', `${label}.out`);
  const words = rows * wordsPerRow(cols);
  const planes_params = { rows, cols, words_per_row: wordsPerRow(cols), bits, levels_max: 2 ** bits - 1 };
  await gpu.run(label, (rec) => rec.dispatch(kernel, { planes_params, values: x, packed: out }, gpu.grid(Math.ceil(words / wg), label)));
  return out;
}

/** CPU reference of packDorefaPlanes: Larq's DoReFa levels (src/model/quantizers.ts) as bit planes. */
export function packDorefaPlanesReference(x: Float32Array, rows: number, cols: number, bits: number): Uint32Array {
  const q = getQuantizer({ class_name: 'DoReFa', config: { k_bit: bits, mode: 'activations' } })!.forward(x);
  const levels = 2 ** bits - 1;
  return packBitPlanes(Array.from(q, (v) => Math.round(v * levels)), rows, cols, bits);
}

/** The +-1 values of a b1 tensor as floats: b1[..., n] -> f32[..., n]. */
export async function unpack(gpu: Gpu, x: Tensor, options: BitpackOptions = {}): Promise<Tensor> {
  const { rows, cols } = rowsCols('unpack', x, 'b1');
  expectOut('unpack', options.out, 'f32', x.shape);
  const label = options.label ?? `unpack[${x.shape.join('x')}]`;
  const wg = options.workgroupSize ?? 64;
  const kernel = await gpu.kernel({ shader: 'bitpack', entryPoint: 'unpack', constants: { WORKGROUP_SIZE: wg } });
  const out = options.out ?? gpu.tensor(x.shape, 'f32', `${label}.out`);
  const grid = gpu.grid(Math.ceil((rows * cols) / wg), label);
  const params = { rows, cols, words_per_row: wordsPerRow(cols) };
  await gpu.run(label, (rec) => rec.dispatch(kernel, { params, bits: x, unpacked: out }, grid));
  return out;
}

/**
 * Keras's Concatenate on the last axis of two b1 tensors, word by word: b1[..., A], b1[..., B] ->
 * b1[..., A + B]. A must be a multiple of 32 (a's rows then hold no pad bits); other widths go
 * through unpack and the f32 concatLast.
 */
export async function concatBits(gpu: Gpu, a: Tensor, b: Tensor, options: BitpackOptions = {}): Promise<Tensor> {
  const op = 'concatBits';
  const { rows, cols: aCols } = rowsCols(op, a, 'b1');
  const { rows: bRows, cols: bCols } = rowsCols(op, b, 'b1');
  if (a.shape.length !== b.shape.length || a.shape.slice(0, -1).some((d, i) => d !== b.shape[i]) || bRows !== rows) {
    throw new ShapeError(`${op}: a [${a.shape.join(', ')}] and b [${b.shape.join(', ')}] must agree on every axis but the last`);
  }
  if (aCols % 32 !== 0) throw new ShapeError(`${op}: a's last axis (${aCols}) must be a multiple of 32 (its rows would hold pad bits); unpack and use concatLast`);
  const outShape = [...a.shape.slice(0, -1), aCols + bCols];
  expectOut(op, options.out, 'b1', outShape);
  const label = options.label ?? `${op}[${a.shape.join('x')}+${bCols}]`;
  const wg = options.workgroupSize ?? 64;
  const kernel = await gpu.kernel({ shader: 'bitpack', entryPoint: 'concat_words', constants: { WORKGROUP_SIZE: wg } });
  const out = options.out ?? gpu.tensor(outShape, 'b1', `${label}.out`);
  const params = { rows, words_a: aCols / 32, words_b: wordsPerRow(bCols) };
  const grid = gpu.grid(Math.ceil((rows * (params.words_a + params.words_b)) / wg), label);
  await gpu.run(label, (rec) => rec.dispatch(kernel, { concat_params: params, bits: a, bits_b: b, packed: out }, grid));
  return out;
}

/** Plain CPU reference of concatBits: the rows unpacked, concatenated, packed again. */
export function concatBitsReference(a: Uint32Array, aCols: number, b: Uint32Array, bCols: number, rows: number): Uint32Array {
  return packRows(concatLastReference(unpackRows(a, rows, aCols), aCols, unpackRows(b, rows, bCols), bCols), rows, aCols + bCols);
}
