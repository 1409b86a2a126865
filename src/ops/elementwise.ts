// Float element-wise ops of the graph executor (shaders/elementwise.wgsl): channelAffine (x * scale
// + bias per last-axis channel, then an activation), quantize (the forward of Larq's activation
// quantizers), softmax over the last axis, and the two-tensor merges add and concatLast (Keras's Add
// and Concatenate). Beside the launchers, their plain CPU references.
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import type { BindingValues, KernelSpec } from '../gpu/kernel.js';
import { getQuantizer, type Quantizer, type QuantizerIdentifier, type QuantizeMode } from '../model/quantizers.js';
import { Tensor, elementCount, type Shape } from '../tensor.js';
import { expectOut, expectTensor, expectVector } from './check.js';

/** What channelAffine applies after the affine map: Keras' and Larq's names. Softmax is its own op. */
export const CHANNEL_ACTIVATIONS = ['linear', 'relu', 'hard_tanh', 'sigmoid', 'tanh', 'leaky_tanh'] as const;
export type ChannelActivation = (typeof CHANNEL_ACTIVATIONS)[number];

export interface ElementwiseOptions {
  out?: Tensor;
  label?: string;
  workgroupSize?: number;
}

export interface ChannelAffineOptions extends ElementwiseOptions {
  /** f32[C]; omitted: 1. */
  scale?: Tensor;
  /** f32[C]; omitted: 0. */
  bias?: Tensor;
  /** Default 'linear'. */
  activation?: ChannelActivation;
  /**
   * x's last axis holds 2C values, y's C: each row's halves are summed first, y = act((x[c] +
   * x[C + c]) * scale[c] + bias[c]) (scale and bias then required). A ternary first layer's two
   * sign-select halves (src/plan/lower.ts).
   */
  halves?: boolean;
}

export interface QuantizeOptions extends ElementwiseOptions {
  /** A Larq activation quantizer (alias 'ste_sign', `{class_name, config}`, a Quantizer; null: identity) or its QuantizeMode. */
  quantizer: QuantizerIdentifier | QuantizeMode;
}

export type SoftmaxOptions = ElementwiseOptions;

export interface ThresholdQuantizeOptions extends ElementwiseOptions {
  /** 'sign': -1 where the decision holds (BN(y) < 0), else +1; 'heaviside': 1 where it holds (BN(y) > 0), else 0. */
  kind: 'sign' | 'heaviside';
  /** f32[C] (foldDecision): the decision holds where x < threshold[c], or x > threshold[c] where flip[c]. */
  threshold: Tensor;
  /** u32[C]. */
  flip: Tensor;
}

/**
 * y = act(x * scale[c] + bias[c]) for f32 x[..., C], c the last-axis index: a layer's bias and
 * activation, a folded BatchNormalization (scale = gamma / sqrt(var + eps), bias = beta - mean *
 * scale), an unfused one. NaN and infinities in x give unspecified results.
 */
export async function channelAffine(gpu: Gpu, x: Tensor, options: ChannelAffineOptions = {}): Promise<Tensor> {
  const op = 'channelAffine';
  const xShape = expectFloat(op, 'x', x);
  const { scale, bias, halves } = options;
  if (halves && (xShape[xShape.length - 1] % 2 !== 0 || !scale || !bias)) {
    throw new ShapeError(`${op}: halves sums the two halves of x's last axis, which must be even (got [${xShape.join(', ')}]), and needs scale and bias`);
  }
  const shape = halves ? [...xShape.slice(0, -1), xShape[xShape.length - 1] / 2] : xShape;
  const channels = shape[shape.length - 1];
  const activation = options.activation ?? 'linear';
  const code = CHANNEL_ACTIVATIONS.indexOf(activation);
  if (code < 0) {
    throw new ShapeError(`${op}: unknown activation ${JSON.stringify(activation)}; use one of ${CHANNEL_ACTIVATIONS.join(', ')} (softmax: the softmax op)`);
  }
  if (scale !== undefined) expectVector(op, 'scale', scale, 'f32', channels, "channel of x's last axis");
  if (bias !== undefined) expectVector(op, 'bias', bias, 'f32', channels, "channel of x's last axis");
  expectOut(op, options.out, 'f32', shape);
  expectNotAliased(op, options.out, { x, scale, bias });
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  const entryPoint = halves ? 'channel_affine_halves' : scale ? (bias ? 'channel_affine' : 'channel_scale') : bias ? 'channel_bias' : 'activation';
  const count = elementCount(shape);
  const label = options.label ?? `${op}[${shape.join('x')} ${activation}]`;
  const bindings: BindingValues = { affine_params: { count, channels }, x, ...(scale && { scale }), ...(bias && { bias }) };
  const spec = { shader: 'elementwise', entryPoint, constants: { WORKGROUP_SIZE: wg, ACTIVATION: code } } as const;
  return launch(gpu, label, spec, bindings, Math.ceil(count / wg), shape, options.out);
}

/**
 * A sign or heaviside of an affine map of f32 x (a BatchNormalization, bias or weight scale after
 * the layer that wrote x), decided on x by per-channel thresholds (foldDecision in
 * src/model/batchnorm-fold.ts): exact where an f32 evaluation of the map would round a value on
 * the decision point to either side. Channel c = i % C, C the thresholds' length, which must divide
 * x's last axis (a flattened value keeps its channels innermost).
 */
export async function thresholdQuantize(gpu: Gpu, x: Tensor, options: ThresholdQuantizeOptions): Promise<Tensor> {
  const op = 'thresholdQuantize';
  const shape = expectFloat(op, 'x', x);
  const { threshold, flip, kind } = options;
  if (kind !== 'sign' && kind !== 'heaviside') throw new ShapeError(`${op}: kind must be 'sign' or 'heaviside', got ${JSON.stringify(kind)}`);
  const channels = threshold instanceof Tensor ? threshold.size : 0;
  const last = shape[shape.length - 1];
  if (channels < 1 || last % channels !== 0) throw new ShapeError(`${op}: the thresholds' length (${channels}) must divide x's last axis (${last})`);
  expectVector(op, 'threshold', threshold, 'f32', channels, 'channel');
  expectVector(op, 'flip', flip, 'u32', channels, 'channel');
  expectOut(op, options.out, 'f32', shape);
  expectNotAliased(op, options.out, { x, threshold, flip });
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  const count = elementCount(shape);
  const label = options.label ?? `${op}[${shape.join('x')} ${kind}]`;
  const spec = { shader: 'elementwise', entryPoint: 'threshold_quantize', constants: { WORKGROUP_SIZE: wg, QUANTIZER: kind === 'sign' ? 1 : 2 } } as const;
  return launch(gpu, label, spec, { affine_params: { count, channels }, x, threshold, flip }, Math.ceil(count / wg), shape, options.out);
}

/** Plain CPU reference of thresholdQuantize. */
export function thresholdQuantizeReference(x: Float32Array, kind: 'sign' | 'heaviside', threshold: Float32Array, flip: Uint32Array): Float32Array {
  const C = threshold.length;
  return Float32Array.from(x, (v, i) => {
    const c = i % C;
    const holds = flip[c] ? v > threshold[c] : v < threshold[c];
    return kind === 'sign' ? (holds ? -1 : 1) : holds ? 1 : 0;
  });
}

/** What the quantize kernel computes for a Larq quantizer: each quantizer's row says (quantizers.ts, `inference`). */
export type { QuantizeMode } from '../model/quantizers.js';

/** DoReFa's levels come from a table of 2^k_bit + 1 floats (see shaders/elementwise.wgsl). */
export const MAX_DOREFA_BITS = 16;

/**
 * The GPU form of a Larq activation quantizer (its row's `inference`), or a ShapeError saying why
 * there is none: ste_sign / approx_sign / swish_sign -> sign; ste_heaviside -> heaviside; ste_tern
 * with a fixed threshold_value -> tern; DoReFa in 'activations' mode -> dorefa (k_bit <= 16); NoOp,
 * DoReFaGradient and null -> identity. Quantizers that need statistics of the whole tensor
 * (magnitude_aware_sign, ste_tern with ternary_weight_networks, DoReFa 'weights') quantize
 * weights: apply their CPU forward once. A QuantizeMode is checked and returned as it is.
 */
export function quantizeMode(id: QuantizerIdentifier | QuantizeMode): QuantizeMode {
  if (id !== null && typeof id === 'object' && 'kind' in id) return checkMode(id);
  let q: Quantizer | null;
  try {
    q = getQuantizer(id);
  } catch (err) {
    throw new ShapeError(`quantize: 'quantizer': ${(err as Error).message}`);
  }
  if (q === null) return { kind: 'identity' };
  const form = q.inference;
  if (form.kind === 'weightsOnly') {
    throw new ShapeError(`quantize: '${q.className}' ${form.why}, which this element-wise kernel does not compute; it quantizes weights: apply its CPU forward (src/model/quantizers.ts) once at load`);
  }
  return checkMode(form);
}

function checkMode(m: QuantizeMode): QuantizeMode {
  switch (m.kind) {
    case 'identity':
    case 'sign':
    case 'heaviside':
      return m;
    case 'tern':
      if (typeof m.threshold !== 'number' || !Number.isFinite(Math.fround(m.threshold))) {
        throw new ShapeError(`quantize: the ste_tern threshold must be a number finite in f32, got ${m.threshold}`);
      }
      return m;
    case 'dorefa':
      if (!Number.isInteger(m.kBit) || m.kBit < 1 || m.kBit > MAX_DOREFA_BITS) {
        throw new ShapeError(`quantize: DoReFa k_bit must be an integer in [1, ${MAX_DOREFA_BITS}] on the GPU (its levels are a table of 2^k_bit + 1 floats), got ${m.kBit}`);
      }
      return m;
    default:
      throw new ShapeError(`quantize: unknown quantize mode ${JSON.stringify(m)}; kinds: identity, sign, heaviside, tern, dorefa`);
  }
}

const QUANTIZER_CODE = { identity: 0, sign: 1, heaviside: 2, tern: 3 } as const;

/**
 * The forward of a Larq activation quantizer on f32 x, element-wise, to f32: exactly the CPU
 * forward of src/model/quantizers.ts (NaN included: sign gives +1, heaviside 0, tern and DoReFa
 * NaN). Which quantizers run here: quantizeMode.
 */
export async function quantize(gpu: Gpu, x: Tensor, options: QuantizeOptions): Promise<Tensor> {
  const op = 'quantize';
  const shape = expectFloat(op, 'x', x);
  if (!options || !('quantizer' in options)) {
    throw new ShapeError(`${op}: options.quantizer is required (a Larq quantizer such as 'ste_sign', or null for identity)`);
  }
  const mode = quantizeMode(options.quantizer);
  expectOut(op, options.out, 'f32', shape);
  expectNotAliased(op, options.out, { x });
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  const count = elementCount(shape);
  const params = {
    count,
    threshold_bits: mode.kind === 'tern' ? f32Bits(Math.abs(Math.fround(mode.threshold))) : 0,
    levels_max: mode.kind === 'dorefa' ? 2 ** mode.kBit - 1 : 0,
  };
  const what = mode.kind === 'tern' ? `tern ${mode.threshold}` : mode.kind === 'dorefa' ? `dorefa ${mode.kBit} bits` : mode.kind;
  const label = options.label ?? `${op}[${shape.join('x')} ${what}]`;
  if (mode.kind === 'dorefa') {
    const spec = { shader: 'elementwise', entryPoint: 'quantize_dorefa', constants: { WORKGROUP_SIZE: wg } } as const;
    const bindings = { quantize_params: params, x, levels: dorefaLevels(gpu, mode.kBit) };
    return launch(gpu, label, spec, bindings, Math.ceil(count / wg), shape, options.out);
  }
  const spec = { shader: 'elementwise', entryPoint: 'quantize', constants: { WORKGROUP_SIZE: wg, QUANTIZER: QUANTIZER_CODE[mode.kind] } } as const;
  return launch(gpu, label, spec, { quantize_params: params, x }, Math.ceil(count / wg), shape, options.out);
}

/**
 * DoReFa's levels r / n (n = 2^k_bit - 1) as the CPU forward computes them, once per device and
 * k_bit. A plain buffer, outside the pool: a plan being recorded (Gpu.capture) keeps binding it
 * after this call returns, so it must never be released and reused.
 */
const levelTables = new WeakMap<GPUDevice, Map<number, GPUBuffer>>();

function dorefaLevels(gpu: Gpu, kBit: number): GPUBuffer {
  let tables = levelTables.get(gpu.device);
  if (!tables) levelTables.set(gpu.device, (tables = new Map()));
  let buffer = tables.get(kBit);
  if (!buffer) {
    const n = 2 ** kBit - 1;
    // forward(f32(r / n)) = f32(r / n): f32(f32(r / n) * n) rounds to r for every r <= n < 2^23.
    const dorefa = getQuantizer({ class_name: 'DoReFa', config: { k_bit: kBit, mode: 'activations' } })!;
    const levels = dorefa.forward(Float32Array.from({ length: n + 1 }, (_, r) => r / n));
    buffer = gpu.device.createBuffer({
      label: `quantize.dorefa${kBit}.levels`,
      size: levels.byteLength,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    gpu.device.queue.writeBuffer(buffer, 0, levels.buffer as ArrayBuffer, levels.byteOffset, levels.byteLength);
    tables.set(kBit, buffer);
  }
  return buffer;
}

/** Rows up to this long are done by one invocation each; longer ones by a workgroup each. */
export const SOFTMAX_SHORT_ROW = 64;

/**
 * Softmax over the last axis of f32 x[..., n]: exp(x - max) / sum exp(x - max) per row, one
 * workgroup per row, or one invocation per row up to SOFTMAX_SHORT_ROW columns (measured on
 * SwiftShader: 300 rows of 10, 42 ms by workgroups, see the commit). NaN and infinities in x give
 * unspecified results.
 */
export async function softmax(gpu: Gpu, x: Tensor, options: SoftmaxOptions = {}): Promise<Tensor> {
  const op = 'softmax';
  const shape = expectFloat(op, 'x', x);
  const cols = shape[shape.length - 1];
  const rows = elementCount(shape) / cols;
  expectOut(op, options.out, 'f32', shape);
  expectNotAliased(op, options.out, { x });
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  const label = options.label ?? `${op}[${shape.join('x')}]`;
  const perRow = cols <= SOFTMAX_SHORT_ROW;
  const spec = { shader: 'elementwise', entryPoint: perRow ? 'softmax_per_row' : 'softmax', constants: { WORKGROUP_SIZE: wg } } as const;
  return launch(gpu, label, spec, { softmax_params: { rows, cols }, x }, perRow ? Math.ceil(rows / wg) : rows, shape, options.out);
}

/** y = a + b for f32 tensors of one shape (one f32 add per element): Keras's Add of two tensors. */
export async function add(gpu: Gpu, a: Tensor, b: Tensor, options: ElementwiseOptions = {}): Promise<Tensor> {
  const op = 'add';
  const shape = expectFloat(op, 'a', a);
  const bShape = expectFloat(op, 'b', b);
  if (!sameShape(shape, bShape)) throw new ShapeError(`${op}: a [${shape.join(', ')}] and b [${bShape.join(', ')}] must have one shape (no broadcasting)`);
  expectOut(op, options.out, 'f32', shape);
  expectNotAliased(op, options.out, { a, b });
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  const count = elementCount(shape);
  const label = options.label ?? `${op}[${shape.join('x')}]`;
  const spec = { shader: 'elementwise', entryPoint: 'add_tensors', constants: { WORKGROUP_SIZE: wg } } as const;
  return launch(gpu, label, spec, { affine_params: { count, channels: 1 }, x: a, x2: b }, Math.ceil(count / wg), shape, options.out);
}

/** y[..., A + B]: each row of f32 a[..., A] followed by the same row of b[..., B] (Keras's Concatenate, axis -1). */
export async function concatLast(gpu: Gpu, a: Tensor, b: Tensor, options: ElementwiseOptions = {}): Promise<Tensor> {
  const op = 'concatLast';
  const aShape = expectFloat(op, 'a', a);
  const bShape = expectFloat(op, 'b', b);
  if (!sameShape(aShape.slice(0, -1), bShape.slice(0, -1))) throw new ShapeError(`${op}: a [${aShape.join(', ')}] and b [${bShape.join(', ')}] must agree on every axis but the last`);
  const shape = [...aShape.slice(0, -1), aShape[aShape.length - 1] + bShape[bShape.length - 1]];
  expectOut(op, options.out, 'f32', shape);
  expectNotAliased(op, options.out, { a, b });
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  const count = elementCount(shape);
  const label = options.label ?? `${op}[${shape.join('x')}]`;
  const spec = { shader: 'elementwise', entryPoint: 'concat_last', constants: { WORKGROUP_SIZE: wg } } as const;
  const params = { count, cols_a: aShape[aShape.length - 1], cols_b: bShape[bShape.length - 1] };
  return launch(gpu, label, spec, { concat_params: params, x: a, x2: b }, Math.ceil(count / wg), shape, options.out);
}

/** y[..., cols]: columns offset .. offset + cols - 1 of each row of f32 x (Concatenate's gradient, split back). */
export async function sliceLast(gpu: Gpu, x: Tensor, slice: { offset: number; cols: number }, options: ElementwiseOptions = {}): Promise<Tensor> {
  const op = 'sliceLast';
  const xShape = expectFloat(op, 'x', x);
  const colsIn = xShape[xShape.length - 1];
  const { offset, cols } = slice;
  if (!Number.isInteger(offset) || !Number.isInteger(cols) || offset < 0 || cols < 1 || offset + cols > colsIn) {
    throw new ShapeError(`${op}: columns ${offset} .. ${offset + cols - 1} are not inside x's last axis of ${colsIn} (x [${xShape.join(', ')}])`);
  }
  const shape = [...xShape.slice(0, -1), cols];
  expectOut(op, options.out, 'f32', shape);
  expectNotAliased(op, options.out, { x });
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  const count = elementCount(shape);
  const label = options.label ?? `${op}[${xShape.join('x')}:${offset}+${cols}]`;
  const spec = { shader: 'elementwise', entryPoint: 'slice_last', constants: { WORKGROUP_SIZE: wg } } as const;
  const params = { count, cols_in: colsIn, cols_out: cols, offset };
  return launch(gpu, label, spec, { slice_params: params, x }, Math.ceil(count / wg), shape, options.out);
}

// ---------------------------------------------------------------------------------------------
// Shared launch steps.

const sameShape = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);

function expectFloat(op: string, name: string, t: unknown): Shape {
  if (!(t instanceof Tensor)) throw new ShapeError(`${op}: '${name}' must be a Tensor, got ${typeof t}`);
  return expectTensor(op, name, t, 'f32', t.shape.length);
}

function checkWorkgroupSize(gpu: Gpu, op: string, wg = 64): number {
  const max = Math.min(gpu.limits.maxComputeInvocationsPerWorkgroup, gpu.limits.maxComputeWorkgroupSizeX);
  if (!Number.isInteger(wg) || wg < 1 || wg > max) {
    throw new ShapeError(`${op}: workgroupSize must be an integer in [1, ${max}] on this device, got ${wg}`);
  }
  return wg;
}

/** WebGPU refuses one buffer bound both read-only and writable in a dispatch: say so before it does. */
function expectNotAliased(op: string, out: Tensor | undefined, inputs: Record<string, Tensor | undefined>): void {
  for (const [name, t] of Object.entries(inputs)) {
    if (out && t && t.buffer === out.buffer) {
      throw new ShapeError(`${op}: 'out' must not share storage with '${name}' (WebGPU binds a buffer either read-only or writable in one dispatch); pass another tensor`);
    }
  }
}

async function launch(gpu: Gpu, label: string, spec: KernelSpec, bindings: BindingValues, workgroups: number, shape: Shape, given?: Tensor): Promise<Tensor> {
  const kernel = await gpu.kernel(spec);
  const grid = gpu.grid(workgroups, label);
  const out = given ?? gpu.tensor(shape, 'f32', `${label}.out`);
  try {
    await gpu.run(label, (rec) => rec.dispatch(kernel, { ...bindings, y: out }, grid));
  } catch (err) {
    if (!given) out.release();
    throw err;
  }
  return out;
}

function f32Bits(v: number): number {
  return new Uint32Array(Float32Array.of(v).buffer)[0];
}

// ---------------------------------------------------------------------------------------------
// CPU references: plain loops in f64, each result rounded to f32 once.

const ACTIVATION_REFERENCE: Record<ChannelActivation, (v: number) => number> = {
  linear: (v) => v,
  relu: (v) => Math.max(v, 0),
  hard_tanh: (v) => Math.min(Math.max(v, -1), 1),
  sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  tanh: (v) => Math.tanh(v),
  // Larq: clip(x, -1, 1) + alpha (max(x, 1) - 1) + alpha (min(x, -1) + 1), alpha = 0.2.
  leaky_tanh: (v) => Math.min(Math.max(v, -1), 1) + 0.2 * (Math.max(v, 1) - 1) + 0.2 * (Math.min(v, -1) + 1),
};

/** Plain CPU reference of channelAffine on x (`shape`, channels last): act(x * scale[c] + bias[c]) in f64. */
export function channelAffineReference(
  x: Float32Array,
  shape: Shape,
  options: { scale?: ArrayLike<number>; bias?: ArrayLike<number>; activation?: ChannelActivation; halves?: boolean } = {},
): Float32Array {
  if (x.length !== elementCount(shape)) throw new RangeError(`channelAffineReference: ${x.length} values for shape [${shape}]`);
  const channels = shape[shape.length - 1] / (options.halves ? 2 : 1);
  const act = ACTIVATION_REFERENCE[options.activation ?? 'linear'];
  const { scale, bias } = options;
  const out = new Float32Array(options.halves ? x.length / 2 : x.length);
  for (let i = 0; i < out.length; i++) {
    const c = i % channels;
    const v = options.halves ? Math.fround(x[2 * i - c] + x[2 * i - c + channels]) : x[i];
    out[i] = act(v * (scale ? scale[c] : 1) + (bias ? bias[c] : 0));
  }
  return out;
}

/** The CPU reference of quantize: the Larq quantizer's forward in src/model/quantizers.ts (null: a copy). */
export function quantizeReference(x: Float32Array, quantizer: QuantizerIdentifier, shape?: Shape): Float32Array {
  return getQuantizer(quantizer)?.forward(x, shape) ?? Float32Array.from(x);
}

/** Plain CPU reference of softmax over the last axis of x (`shape`), in f64. */
export function softmaxReference(x: Float32Array, shape: Shape): Float32Array {
  const cols = shape[shape.length - 1];
  if (x.length !== elementCount(shape)) throw new RangeError(`softmaxReference: ${x.length} values for shape [${shape}]`);
  const out = new Float32Array(x.length);
  const e = new Float64Array(cols);
  for (let base = 0; base < x.length; base += cols) {
    let max = -Infinity;
    for (let j = 0; j < cols; j++) max = Math.max(max, x[base + j]);
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += e[j] = Math.exp(x[base + j] - max);
    for (let j = 0; j < cols; j++) out[base + j] = e[j] / sum;
  }
  return out;
}

/** Plain CPU reference of add: a + b, each sum rounded to f32. */
export function addReference(a: Float32Array, b: Float32Array): Float32Array {
  if (a.length !== b.length) throw new RangeError(`addReference: ${a.length} and ${b.length} values`);
  return Float32Array.from(a, (v, i) => v + b[i]);
}

/** Plain CPU reference of concatLast: rows of `aCols` then `bCols` values. */
export function concatLastReference(a: Float32Array, aCols: number, b: Float32Array, bCols: number): Float32Array {
  const rows = a.length / aCols;
  if (!Number.isInteger(rows) || b.length !== rows * bCols) throw new RangeError(`concatLastReference: ${a.length} and ${b.length} values are not rows of ${aCols} and ${bCols}`);
  const y = new Float32Array(rows * (aCols + bCols));
  for (let r = 0; r < rows; r++) {
    y.set(a.subarray(r * aCols, (r + 1) * aCols), r * (aCols + bCols));
    y.set(b.subarray(r * bCols, (r + 1) * bCols), r * (aCols + bCols) + aCols);
  }
  return y;
}

/** Plain CPU reference of sliceLast: columns offset .. offset + cols - 1 of each row of `colsIn`. */
export function sliceLastReference(x: Float32Array, colsIn: number, offset: number, cols: number): Float32Array {
  const rows = x.length / colsIn;
  if (!Number.isInteger(rows) || offset < 0 || offset + cols > colsIn) throw new RangeError(`sliceLastReference: columns ${offset} .. ${offset + cols - 1} of ${x.length} values in rows of ${colsIn}`);
  const y = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) y.set(x.subarray(r * colsIn + offset, r * colsIn + offset + cols), r * cols);
  return y;
}
