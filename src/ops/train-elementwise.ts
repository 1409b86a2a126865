// Element-wise training kernels (shaders/train_elementwise.wgsl), forward beside backward, with
// their CPU references: quantizerBackward (Larq's pseudo-gradient of every quantizer),
// quantizeWeights (the forward of Larq's kernel quantizers; those that need a statistic of the
// tensor get it from shaders/reduce.wgsl, the others run elementwise.ts's `quantize`), and
// activationBackward (Keras' activations; their forward is channelAffine in elementwise.ts).
// ste_sign's training pair with its packed mask is in sign-ste.ts.
//
// Layout of kernels: magnitude_aware_sign scales per output channel, which Keras keeps on the last
// axis ([..., K, N], channelAxis 'last', the default); our latent dense kernels are [N, K], with
// the output channel first (channelAxis 'first').
//
// Accuracy against the CPU references (src/model/quantizers.ts, and the ones below), as tested in
// test/quantizer-training.test.ts (ulp = 2^-24 of the stated scale; measured maxima in brackets):
// - exact: identity, every clip (ste_sign, ste_heaviside, ste_tern), DoReFa activations,
//   approx_sign (against its f32 reference; within 1 ulp of Larq's f64 one), linear, relu,
//   hard_tanh, leaky_tanh (f32 as TF: dy * f32(0.2)); magnitude_aware_sign given the same
//   statistic; the forwards of ste_tern (TWN) and DoReFa weights away from the threshold and the
//   rounding boundaries (an f32 statistic can move a value sitting on one to the next level).
// - the statistics: f32 sums in chunks, (reduceErrorTerms + 4) ulp relative (reduce.ts); max
//   |tanh| 6 ulp [3.4] (lib/tanh.wgsl: a Taylor series below |x| = 0.625, exp above).
// - exp-based: swish_sign 8 ulp of beta |dy| [4.7]; DoReFa weights 8 ulp of |dy| / m [4.6];
//   sigmoid and tanh (16 + 4|x|) ulp relative [12 for |x| < 3, 31 at |x| = 12]: WGSL's exp is
//   accurate to 3 + 2|arg| ulp, so the bound grows with |x|.
// DoReFa weights' forward has its own entry point: the entry point that binds its level table.
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import { getQuantizer, type Quantizer, type QuantizerIdentifier, type Statistic as QuantizerStatistic } from '../model/quantizers.js';

type StatisticKind = QuantizerStatistic['kind'];
import { elementCount, type Shape, type Tensor } from '../tensor.js';
import { CHANNEL_ACTIVATIONS, MAX_DOREFA_BITS, quantize, type ChannelActivation } from './elementwise.js';
import { columnReduce } from './reduce.js';
import { maskBelow } from './sign-ste.js';
import { checkWorkgroupSize, expectNotAliased, expectRows, expectSameShape, launchAll, outputTensor } from './training-launch.js';

/** Which axis of a kernel holds its output channels (magnitude_aware_sign's scale is per channel). */
export type ChannelAxis = 'last' | 'first';

export interface TrainElementwiseOptions {
  out?: Tensor;
  label?: string;
  workgroupSize?: number;
}

export interface QuantizerBackwardOptions extends TrainElementwiseOptions {
  /** magnitude_aware_sign: 'last' (Keras layout, default) or 'first' (our [N, K] dense kernels). */
  channelAxis?: ChannelAxis;
  /**
   * magnitude_aware_sign (f32 [C], the channels' mean |x|) and DoReFa 'weights' (f32 [1], max
   * |tanh x|): the statistic the forward used (quantizeWeights' `stats`). Omitted: computed from x.
   */
  stats?: Tensor;
}

export interface QuantizeWeightsOptions extends TrainElementwiseOptions {
  /** magnitude_aware_sign: 'last' (Keras layout, default) or 'first' (our [N, K] dense kernels). */
  channelAxis?: ChannelAxis;
}

export interface QuantizedWeights {
  /** q(w), f32, w's shape. */
  y: Tensor;
  /**
   * The statistic q used, for quantizerBackward: magnitude_aware_sign f32 [C] (mean |w| per
   * channel), ste_tern with ternary_weight_networks f32 [1] (the threshold 0.7 mean |w|), DoReFa
   * 'weights' f32 [1] (max |tanh w|); absent for the element-wise quantizers.
   */
  stats?: Tensor;
}

/** Quantizer codes of shaders/train_elementwise.wgsl: a row's `training.elementwise.gradient`, and 'twn' (TWN's forward). */
const CODE = { identity: 0, clip: 1, approxSign: 2, swishSign: 3, dorefaActivations: 4, dorefaWeights: 5, magnitudeAwareSign: 6, twn: 7 } as const;

type Statistic = 'none' | StatisticKind;

interface TrainForm {
  q: Quantizer | null;
  code: number;
  statistic: Statistic;
  /** The backward reads the forward's statistic (a scale). */
  scaled: boolean;
  maskBelow: number;
  beta: number;
  kBit: number;
}

/** The quantizer's row's element-wise training form as the kernels' parameters. */
function trainForm(op: string, id: QuantizerIdentifier): TrainForm {
  let q: Quantizer | null;
  try {
    q = getQuantizer(id);
  } catch (err) {
    throw new ShapeError(`${op}: 'quantizer': ${(err as Error).message}`);
  }
  const form: TrainForm = { q, code: CODE.identity, statistic: 'none', scaled: false, maskBelow: 0x80000000, beta: 0, kBit: 0 };
  if (q === null) return form;
  const e = q.training.elementwise;
  if (!e) throw new ShapeError(`${op}: no GPU training form for quantizer '${q.className}'`);
  if (e.kBit !== undefined && e.kBit > MAX_DOREFA_BITS) throw new ShapeError(`${op}: DoReFa k_bit must be at most ${MAX_DOREFA_BITS} on the GPU (its levels are a table of 2^k_bit + 1 floats), got ${e.kBit}`);
  return {
    q,
    code: CODE[e.gradient],
    statistic: q.statistic?.kind ?? 'none',
    scaled: q.statistic?.inBackward === true,
    maskBelow: e.clipValue !== undefined ? maskBelow(e.clipValue) : form.maskBelow,
    beta: e.beta ?? 0,
    kBit: e.kBit ?? 0,
  };
}

/** Entries of the statistic and how element i finds its own: stats[(i / div) % channels]. */
function statisticView(form: TrainForm, shape: Shape, axis: ChannelAxis): { channels: number; div: number } {
  if (form.statistic !== 'meanAbs') return { channels: 1, div: 1 };
  const n = elementCount(shape);
  return axis === 'last' ? { channels: shape[shape.length - 1], div: 1 } : { channels: shape[0], div: n / shape[0] };
}

function checkAxis(op: string, axis: unknown): ChannelAxis {
  if (axis !== 'last' && axis !== 'first') throw new ShapeError(`${op}: channelAxis must be 'last' (Keras layout) or 'first' (our [N, K] dense kernels), got ${JSON.stringify(axis)}`);
  return axis;
}

/** The statistic of `form` over w, on the GPU: f32 [channels]. */
async function statistic(gpu: Gpu, form: TrainForm, w: Tensor, axis: ChannelAxis, label: string): Promise<Tensor> {
  const n = elementCount(w.shape);
  switch (form.statistic) {
    case 'meanAbs': {
      const channels = statisticView(form, w.shape, axis).channels;
      return columnReduce(gpu, w, { map: 'abs', axis, divisor: n / channels, label: `${label}.meanAbs` });
    }
    case 'twn':
      return columnReduce(gpu, w, { map: 'abs', axis: 'all', factor: 0.7, divisor: n, label: `${label}.twnThreshold` });
    case 'maxAbsTanh':
      return columnReduce(gpu, w, { map: 'abs_tanh', op: 'max', axis: 'all', label: `${label}.maxAbsTanh` });
    default:
      throw new Error(`no statistic for ${form.q?.className}`);
  }
}

function params(form: TrainForm, count: number, view: { channels: number; div: number }) {
  return { count, channels: view.channels, channel_div: view.div, mask_below: form.maskBelow, beta: form.beta, levels_max: form.kBit ? 2 ** form.kBit - 1 : 0 };
}

/**
 * dx = dy * (Larq's pseudo-gradient of `quantizer` at x), f32 x and dy of one shape: ste_sign,
 * ste_heaviside, ste_tern (dy where |x| <= clip_value), approx_sign, swish_sign (beta),
 * magnitude_aware_sign (the per-channel scale a constant, then the clip), DoReFa (both modes),
 * NoOp and null (dy). The formulas: src/model/quantizers.ts.
 */
export async function quantizerBackward(gpu: Gpu, x: Tensor, dy: Tensor, quantizer: QuantizerIdentifier, options: QuantizerBackwardOptions = {}): Promise<Tensor> {
  const op = 'quantizerBackward';
  const { shape } = expectRows(op, 'x', x, 'f32');
  expectRows(op, 'dy', dy, 'f32');
  expectSameShape(op, 'dy', dy, 'x', shape);
  const form = trainForm(op, quantizer);
  const axis = checkAxis(op, options.channelAxis ?? 'last');
  const view = statisticView(form, shape, axis);
  const { scaled } = form;
  if (options.stats !== undefined) {
    if (!scaled) throw new ShapeError(`${op}: '${form.q?.className ?? 'null'}' takes no 'stats' (only magnitude_aware_sign and DoReFa 'weights' do)`);
    const [len] = expectRows(op, 'stats', options.stats, 'f32').shape;
    if (options.stats.shape.length !== 1 || len !== view.channels) throw new ShapeError(`${op}: 'stats' must be f32[${view.channels}] (${form.statistic === 'meanAbs' ? `the mean |x| of each '${axis}'-axis channel` : 'max |tanh x|'}), got ${options.stats}`);
  }
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  expectNotAliased(op, { out: options.out }, { x, dy, stats: options.stats });
  const label = options.label ?? `${op}[${shape.join('x')} ${form.q?.className ?? 'identity'}]`;
  const fresh: Tensor[] = [];
  const dx = outputTensor(gpu, op, 'out', options.out, 'f32', shape, label, fresh);
  const count = elementCount(shape);
  let stats: Tensor | undefined;
  try {
    stats = scaled ? options.stats ?? (await statistic(gpu, form, x, axis, label)) : undefined;
    const spec = { shader: 'train_elementwise', entryPoint: scaled ? 'quantizer_backward_scaled' : 'quantizer_backward', constants: { WORKGROUP_SIZE: wg, QUANTIZER: form.code } } as const;
    const bindings = { params: params(form, count, view), x, dy, dx, ...(stats && { stats }) };
    await launchAll(gpu, label, [{ spec, bindings, workgroups: Math.ceil(count / wg) }], fresh);
  } catch (err) {
    for (const t of fresh) t.release();
    throw err;
  } finally {
    if (stats && stats !== options.stats) stats.release();
  }
  return dx;
}

/**
 * The forward of a Larq kernel quantizer for training, on the latent f32 weights w: q(w) as
 * src/model/quantizers.ts computes it, with the statistic it used (for quantizerBackward).
 * magnitude_aware_sign, ste_tern with ternary_weight_networks and DoReFa 'weights' reduce w first
 * (reduce.ts); every other quantizer is element-wise and runs `quantize` (elementwise.ts).
 * NaN in w gives unspecified results for the three that reduce.
 */
export async function quantizeWeights(gpu: Gpu, w: Tensor, quantizer: QuantizerIdentifier, options: QuantizeWeightsOptions = {}): Promise<QuantizedWeights> {
  const op = 'quantizeWeights';
  const { shape } = expectRows(op, 'w', w, 'f32');
  const form = trainForm(op, quantizer);
  const axis = checkAxis(op, options.channelAxis ?? 'last');
  if (form.statistic === 'none') {
    const { out, label, workgroupSize } = options;
    return { y: await quantize(gpu, w, { quantizer: form.q, out, label, workgroupSize }) };
  }
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  expectNotAliased(op, { out: options.out }, { w });
  const label = options.label ?? `${op}[${shape.join('x')} ${form.q!.className}]`;
  const fresh: Tensor[] = [];
  const y = outputTensor(gpu, op, 'out', options.out, 'f32', shape, label, fresh);
  const count = elementCount(shape);
  let stats: Tensor | undefined;
  try {
    stats = await statistic(gpu, form, w, axis, label);
    const code = form.statistic === 'twn' ? CODE.twn : form.code;
    const entryPoint = form.kBit ? 'quantize_weights_dorefa' : 'quantize_weights';
    const spec = { shader: 'train_elementwise', entryPoint, constants: { WORKGROUP_SIZE: wg, QUANTIZER: code } } as const;
    const levels = form.kBit ? dorefaWeightLevels(gpu, form.kBit) : undefined;
    const bindings = { params: params(form, count, statisticView(form, shape, axis)), x: w, y, stats, ...(levels && { levels }) };
    await launchAll(gpu, label, [{ spec, bindings, workgroups: Math.ceil(count / wg) }], fresh);
  } catch (err) {
    stats?.release();
    for (const t of fresh) t.release();
    throw err;
  }
  return { y, stats };
}

/**
 * DoReFa 'weights' levels 2 f32(r / n) - 1 (n = 2^k_bit - 1) in f32, as the CPU forward rounds
 * them, once per device and k_bit: a plain buffer outside the pool, since a plan being recorded
 * keeps binding it after the call (as elementwise.ts's activation levels).
 */
const weightLevelTables = new WeakMap<GPUDevice, Map<number, GPUBuffer>>();

function dorefaWeightLevels(gpu: Gpu, kBit: number): GPUBuffer {
  let tables = weightLevelTables.get(gpu.device);
  if (!tables) weightLevelTables.set(gpu.device, (tables = new Map()));
  let buffer = tables.get(kBit);
  if (!buffer) {
    const n = 2 ** kBit - 1;
    const levels = Float32Array.from({ length: n + 1 }, (_, r) => 2 * Math.fround(r / n) - 1);
    buffer = gpu.device.createBuffer({ label: `quantizeWeights.dorefa${kBit}.levels`, size: levels.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    gpu.device.queue.writeBuffer(buffer, 0, levels.buffer as ArrayBuffer, levels.byteOffset, levels.byteLength);
    tables.set(kBit, buffer);
  }
  return buffer;
}

/** Keras' activations the executor trains through (softmax is fused into the loss). */
export type TrainableActivation = ChannelActivation;

/**
 * dx = dy * act'(x) for f32 x (the activation's input, as the forward saw it) and dy of one
 * shape; `activation` one of CHANNEL_ACTIVATIONS (linear, relu, hard_tanh, sigmoid, tanh,
 * leaky_tanh). Softmax is not here: the loss takes its gradient (loss.ts).
 */
export async function activationBackward(gpu: Gpu, x: Tensor, dy: Tensor, activation: TrainableActivation, options: TrainElementwiseOptions = {}): Promise<Tensor> {
  const op = 'activationBackward';
  const { shape } = expectRows(op, 'x', x, 'f32');
  expectRows(op, 'dy', dy, 'f32');
  expectSameShape(op, 'dy', dy, 'x', shape);
  const code = CHANNEL_ACTIVATIONS.indexOf(activation);
  if (code < 0) {
    const why = activation === ('softmax' as string) ? ' (softmax: its gradient is fused into the loss, softmaxCrossEntropy)' : '';
    throw new ShapeError(`${op}: unknown activation ${JSON.stringify(activation)}${why}; use one of ${CHANNEL_ACTIVATIONS.join(', ')}`);
  }
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  expectNotAliased(op, { out: options.out }, { x, dy });
  const label = options.label ?? `${op}[${shape.join('x')} ${activation}]`;
  const fresh: Tensor[] = [];
  const dx = outputTensor(gpu, op, 'out', options.out, 'f32', shape, label, fresh);
  const count = elementCount(shape);
  const spec = { shader: 'train_elementwise', entryPoint: 'activation_backward', constants: { WORKGROUP_SIZE: wg, ACTIVATION: code } } as const;
  const p = { count, channels: 1, channel_div: 1, mask_below: 0, beta: 0, levels_max: 0 };
  await launchAll(gpu, label, [{ spec, bindings: { params: p, x, dy, dx }, workgroups: Math.ceil(count / wg) }], fresh);
  return dx;
}

// ---------------------------------------------------------------------------------------------
// CPU references.

const f32 = Math.fround;

/** x [C, ...rest] (channel first, as [C, inner]) -> [...rest, C] (Keras layout), or back: a 2D transpose; `shape` is the channel-first one. */
function channelLast(x: Float32Array, shape: Shape, axis: ChannelAxis, back = false): { x: Float32Array; shape: Shape } {
  if (axis === 'last' || shape.length < 2) return { x, shape };
  const C = shape[0];
  const inner = x.length / C;
  const out = new Float32Array(x.length);
  if (!back) for (let c = 0; c < C; c++) for (let j = 0; j < inner; j++) out[j * C + c] = x[c * inner + j];
  else for (let c = 0; c < C; c++) for (let j = 0; j < inner; j++) out[c * inner + j] = x[j * C + c];
  return { x: out, shape: [...shape.slice(1), C] };
}

/**
 * CPU reference of quantizerBackward: Larq's backward from src/model/quantizers.ts (f64, rounded
 * once), on x in `shape` with channels on `channelAxis`; where the row has a `backwardF32`
 * (approx_sign), that instead: the f32 operations the kernel does, within 1 ulp of Larq's f64 value.
 */
export function quantizerBackwardReference(x: Float32Array, dy: Float32Array, quantizer: QuantizerIdentifier, shape: Shape, channelAxis: ChannelAxis = 'last'): Float32Array {
  const q = getQuantizer(quantizer);
  if (q === null) return Float32Array.from(dy);
  if (q.backwardF32) return q.backwardF32(x, dy);
  const xs = channelLast(x, shape, channelAxis);
  const dys = channelLast(dy, shape, channelAxis);
  return channelLast(q.backward(xs.x, dys.x, xs.shape), shape, channelAxis, true).x;
}

/** CPU reference of quantizeWeights' y: Larq's forward (src/model/quantizers.ts) with channels on `channelAxis`. */
export function quantizeWeightsReference(w: Float32Array, quantizer: QuantizerIdentifier, shape: Shape, channelAxis: ChannelAxis = 'last'): Float32Array {
  const q = getQuantizer(quantizer);
  if (q === null) return Float32Array.from(w);
  const ws = channelLast(w, shape, channelAxis);
  return channelLast(q.forward(ws.x, ws.shape), shape, channelAxis, true).x;
}

/** dact/dx in f64 (the sigmoid and tanh ones without cancellation); leaky_tanh's slope is TF's f32(0.2). */
const ACTIVATION_GRADIENT: Record<ChannelActivation, (v: number) => number> = {
  linear: () => 1,
  relu: (v) => (v > 0 ? 1 : 0),
  hard_tanh: (v) => (v >= -1 && v <= 1 ? 1 : 0),
  sigmoid: (v) => {
    const e = Math.exp(-Math.abs(v));
    return e / ((1 + e) * (1 + e));
  },
  tanh: (v) => 1 / Math.cosh(v) ** 2,
  leaky_tanh: (v) => (v <= -1 || v >= 1 ? f32(0.2) : 1),
};

/** CPU reference of activationBackward: dy * act'(x), each rounded to f32 once. */
export function activationBackwardReference(x: Float32Array, dy: Float32Array, activation: ChannelActivation): Float32Array {
  const d = ACTIVATION_GRADIENT[activation];
  if (!d) throw new RangeError(`activationBackwardReference: unknown activation ${activation}`);
  return Float32Array.from(x, (v, i) => {
    const g = d(v);
    return g === 0 ? 0 : dy[i] * g; // a zero slope gives 0 even for dy = +-inf, as the kernel's select
  });
}
