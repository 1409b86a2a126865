// THE QUANTIZER TABLE: one row per Larq quantizer (and its WeightClip constraint), with Larq's names,
// string aliases, arguments, defaults and serialized configs; its CPU forward beside its
// pseudo-gradient (the references GPU kernels are tested against); its GPU forms (inference,
// training), its TF.js translation and its traits (quantizer-forms.ts says what each means).
// Code elsewhere asks a quantizer's traits and forms, never its class name. Source read: larq/larq
// `larq/quantizers.py` (the `_BaseQuantizer` / `DoReFa(mode=...)` version, Larq >= 0.12),
// `larq/math.py`, `larq/constraints.py`.
//
// Arithmetic is float32 where a boundary depends on it (thresholds and clip values are rounded to
// f32 before comparing, as TF casts the Python float to the tensor's dtype); smooth gradients are
// computed in f64 and rounded once on store.
import { sign } from '../bitpack.js';
import { hashU32, streamKey } from '../random.js';
import type { Shape } from '../tensor.js';
import { show } from './error-text.js';
import type { GpuInferenceForm, Levels, QuantizeMode, Statistic, TfjsQuantizer, TrainingForms } from './quantizer-forms.js';

export type { GpuInferenceForm, Levels, QuantizeMode, Statistic, TfjsQuantizer, TrainingForms, ElementwiseTrainingForm } from './quantizer-forms.js';

/** A quantizer as Larq defines it: forward, the gradient it uses instead of the true one, its config. */
export interface Quantizer {
  /** Larq's class name, as written in a serialized model (`SteSign`, `DoReFa`, ...). */
  readonly className: string;
  /** Larq's arguments (no Keras layer keys), defaults filled in. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The Keras layer name carried through serialization. */
  readonly name: string;
  /** Larq's `precision` attribute: bits of the output (null where Larq leaves it None). */
  readonly precision: number | null;
  /** Output is exactly +-1 (sign(0) = +1): the compiler may run b1 kernels on it. `levels === 'pm1'`. */
  readonly binary: boolean;
  /** The values the output takes (quantizer-forms.ts). */
  readonly levels: Levels;
  /** q is the identity at inference (NoOp; DoReFaGradient, which quantizes only the backward's gradient): it vanishes before lowering. */
  readonly identityAtInference: boolean;
  /** The statistic of the whole tensor q needs (magnitude_aware_sign's alpha, TWN's threshold, DoReFa weights' max |tanh|); null for element-wise quantizers. */
  readonly statistic: Statistic | null;
  /** Whether q reads only the sign of its input at inference ('sign': a b1 input does), or its value. */
  readonly reads: 'sign' | 'value';
  /** Draws its output at random while training (BinaryNet's stochastic binarization); deterministic at inference. */
  readonly stochastic: boolean;
  /** How the element-wise GPU kernel computes q at inference, or why it does not (quantizes weights: the CPU forward once at load). */
  readonly inference: GpuInferenceForm;
  /** How the GPU trainer runs q forward and backward. */
  readonly training: TrainingForms;
  /** q as TF.js ops (the benchmarks' float simulation), null where the translation has none. */
  readonly tfjs: TfjsQuantizer | null;
  /** The pseudo-gradient in the f32 operations the training kernel does, where they differ from `backward`'s f64 (tests compare the kernel to it). */
  readonly backwardF32: ((x: Float32Array, dy: Float32Array) => Float32Array) | null;
  /** q(x). `shape` matters only to per-channel (last axis) and per-tensor statistics. */
  forward(x: Float32Array, shape?: Shape): Float32Array;
  /** dL/dx given dL/dq = dy: the straight-through (or surrogate) gradient Larq uses. */
  backward(x: Float32Array, dy: Float32Array, shape?: Shape): Float32Array;
}

/** A quantizer as serialized by Keras / TF.js into model.json. */
export interface SerializedQuantizer {
  class_name: string;
  config: Record<string, unknown>;
}

export type QuantizerIdentifier = string | SerializedQuantizer | Quantizer | null | undefined;

// ---------------------------------------------------------------------------------------------
// Helpers shared by the definitions.

const f32 = Math.fround;

function map(x: Float32Array, f: (v: number, i: number) => number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i], i);
  return out;
}

function checkSameLength(x: Float32Array, dy: Float32Array, who: string): void {
  if (x.length !== dy.length) throw new RangeError(`${who}.backward: x has ${x.length} values, dy ${dy.length}`);
}

/**
 * Larq's `_clipped_gradient`: dy where |x| <= clip_value, else 0; clip_value null passes dy
 * everywhere. The clip value is compared in f32 (as TF does); NaN inputs get 0 (the mask is false).
 */
function clippedGradient(x: Float32Array, dy: Float32Array, clipValue: number | null): Float32Array {
  if (clipValue === null) return Float32Array.from(dy);
  const c = f32(clipValue);
  return map(x, (v, i) => (Math.abs(v) <= c ? dy[i] : 0));
}

/** tf.round: round half to even (banker's rounding). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Per last-axis channel: mean |x| over every other axis (Larq reduces axes 0..rank-2). */
function meanAbsPerChannel(x: Float32Array, shape: Shape | undefined): Float32Array {
  const channels = shape && shape.length > 0 ? shape[shape.length - 1] : 1;
  const rank = shape ? shape.length : 0;
  // Rank 0 and 1 reduce over no axis at all: the "mean" is |x| itself.
  if (rank <= 1) return map(x, (v) => Math.abs(v));
  if (x.length % channels !== 0) throw new RangeError(`shape [${shape}] does not match ${x.length} values`);
  const rows = x.length / channels;
  const sums = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) sums[i % channels] += Math.abs(x[i]);
  const scale = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) scale[i] = sums[i % channels] / rows;
  return scale;
}

// ---------------------------------------------------------------------------------------------
// The quantizers. Each: Larq's formula, its gradient, the paper; forward and backward adjacent.

/**
 * `ste_sign` / `SteSign(clip_value=1.0)`.
 *   q(x) = -1 if x < 0, +1 if x >= 0 (also -0.0; NaN gives +1, the bit convention of bitpack.ts;
 *   Larq's `tf.sign(tf.sign(x) + 0.1)` would give NaN).
 *   dq/dx = 1 if |x| <= clip_value else 0 (clip_value null: 1 everywhere).
 * Courbariaux et al., "Binarized Neural Networks", https://arxiv.org/abs/1602.02830
 */
function steSign(clipValue: number | null) {
  return {
    forward: (x: Float32Array) => map(x, sign),
    backward: (x: Float32Array, dy: Float32Array) => clippedGradient(x, dy, clipValue),
  };
}

/**
 * `approx_sign` / `ApproxSign()`.
 *   q(x) = sign(x) as ste_sign.
 *   dq/dx = 2 - 2|x| if |x| <= 1 else 0: the derivative of the piecewise polynomial
 *   F(x) = 2x + x^2 (-1 <= x < 0), 2x - x^2 (0 <= x <= 1), +-1 outside.
 * Liu et al., "Bi-Real Net", https://arxiv.org/abs/1808.00278
 */
function approxSign() {
  return {
    forward: (x: Float32Array) => map(x, sign),
    backward: (x: Float32Array, dy: Float32Array) =>
      map(x, (v, i) => (Math.abs(v) <= 1 ? (1 - Math.abs(v)) * 2 * dy[i] : 0)),
  };
}

/**
 * `swish_sign` / `SwishSign(beta=5.0)`.
 *   q(x) = sign(x) as ste_sign.
 *   dq/dx = beta (2 - beta x tanh(beta x / 2)) / (1 + cosh(beta x)): the derivative of the
 *   SignSwish surrogate 2 sigmoid(beta x) (1 + beta x (1 - sigmoid(beta x))) - 1. Tends to 0
 *   for large |beta x| (cosh overflows to Infinity in f64 past ~710 and the quotient becomes +-0).
 * Darabi et al., "BNN+: Improved Binary Network Training", https://arxiv.org/abs/1812.11800
 */
function swishSign(beta: number) {
  return {
    forward: (x: Float32Array) => map(x, sign),
    backward: (x: Float32Array, dy: Float32Array) =>
      map(x, (v, i) => {
        const bx = beta * v;
        return (dy[i] * beta * (2 - bx * Math.tanh(bx * 0.5))) / (1 + Math.cosh(bx));
      }),
  };
}

/**
 * `magnitude_aware_sign` / `MagnitudeAwareSign(clip_value=1.0)`.
 *   q(x) = a_c * sign(x), a_c = mean |x| over all axes but the last (per output channel of a
 *   kernel; for rank <= 1 Larq reduces over no axis, so a = |x| elementwise).
 *   dq/dx = a_c * (1 if |x| <= clip_value else 0): Larq wraps a_c in tf.stop_gradient, so the
 *   scale is a constant and only the STE of the sign is differentiated.
 * Liu et al., "Bi-Real Net", section 3.3, https://arxiv.org/abs/1808.00278
 */
function magnitudeAwareSign(clipValue: number | null) {
  return {
    forward: (x: Float32Array, shape?: Shape) => {
      const a = meanAbsPerChannel(x, shape);
      return map(x, (v, i) => a[i] * sign(v));
    },
    backward: (x: Float32Array, dy: Float32Array, shape?: Shape) => {
      const a = meanAbsPerChannel(x, shape);
      return clippedGradient(x, map(dy, (g, i) => a[i] * g), clipValue);
    },
  };
}

/**
 * `ste_heaviside` / `SteHeaviside(clip_value=1.0)`.
 *   q(x) = 1 if x > 0 else 0 (Larq's `math.heaviside`: tf.sign(tf.nn.relu(x)); so 0 and -0 give 0;
 *   NaN gives 0 here).
 *   dq/dx = 1 if |x| <= clip_value else 0. (Larq gives no paper.)
 */
function steHeaviside(clipValue: number | null) {
  return {
    forward: (x: Float32Array) => map(x, (v) => (v > 0 ? 1 : 0)),
    backward: (x: Float32Array, dy: Float32Array) => clippedGradient(x, dy, clipValue),
  };
}

/**
 * `ste_tern` / `SteTern(threshold_value=0.05, ternary_weight_networks=False, clip_value=1.0)`.
 *   q(x) = sign(sign(x + D) + sign(x - D)) in f32: +1 for x >= D, -1 for x <= -D, 0 between
 *   (D > 0; the boundaries |x| = D go to +-1). NaN stays NaN (tf.sign of NaN).
 *   D = threshold_value, or with ternary_weight_networks D = 0.7 * mean |x| over the whole tensor.
 *   dq/dx = 1 if |x| <= clip_value else 0.
 * Li, Zhang & Liu, "Ternary Weight Networks", https://arxiv.org/abs/1605.04711
 */
function steTern(thresholdValue: number, twn: boolean, clipValue: number | null) {
  return {
    forward: (x: Float32Array) => {
      const d = f32(twn ? twnThreshold(x) : thresholdValue);
      return map(x, (v) => {
        const s = Math.sign(Math.sign(f32(v + d)) + Math.sign(f32(v - d)));
        return s === 0 ? 0 : s; // -0 -> 0; NaN stays NaN
      });
    },
    backward: (x: Float32Array, dy: Float32Array) => clippedGradient(x, dy, clipValue),
  };
}

/** The Ternary Weight Networks threshold: 0.7 * mean |x| over the whole tensor. */
export function twnThreshold(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i]);
  return x.length ? (0.7 * s) / x.length : 0;
}

/**
 * `dorefa_quantizer` / `DoReFa(k_bit=2, mode="activations")` (old class name `DoReFaQuantizer`).
 * n = 2^k_bit - 1; quantize_k(v) = round(v n) / n with tf.round (half to even).
 *   activations: q(x) = quantize_k(clip(x, 0, 1));  dq/dx = 1 if 0 <= x <= 1 else 0
 *     (identity through the round, tf.clip_by_value's gradient outside; NaN -> NaN, gradient dy).
 *   weights: t = tanh(x), m = max |t| over the whole tensor (stop_gradient),
 *     q(x) = 2 quantize_k(t / (2m) + 1/2) - 1  (t / (2m) is 0 when m = 0: tf.math.divide_no_nan);
 *     dq/dx = (1 - tanh^2 x) / m  (0 when m = 0).
 * Zhou et al., "DoReFa-Net", section 2.3, https://arxiv.org/abs/1606.06160
 */
function dorefa(kBit: number, mode: 'activations' | 'weights') {
  const n = 2 ** kBit - 1;
  const quantizeK = (v: number) => f32(roundHalfEven(f32(v * n)) / n);
  const maxAbsTanh = (x: Float32Array) => {
    let m = 0;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(f32(Math.tanh(x[i]))));
    return m;
  };
  if (mode === 'activations') {
    return {
      forward: (x: Float32Array) => map(x, (v) => quantizeK(Math.min(Math.max(v, 0), 1))),
      // tf.clip_by_value's gradient zeroes only x < 0 and x > 1, so NaN passes dy.
      backward: (x: Float32Array, dy: Float32Array) => map(x, (v, i) => (v < 0 || v > 1 ? 0 : dy[i])),
    };
  }
  return {
    forward: (x: Float32Array) => {
      const m = maxAbsTanh(x);
      return map(x, (v) => 2 * quantizeK(m === 0 ? 0.5 : f32(f32(f32(Math.tanh(v)) / f32(2 * m)) + 0.5)) - 1);
    },
    backward: (x: Float32Array, dy: Float32Array) => {
      const m = maxAbsTanh(x);
      return map(x, (v, i) => {
        if (m === 0) return 0;
        const t = Math.tanh(v);
        return (dy[i] * (1 - t * t)) / m;
      });
    },
  };
}

/**
 * `NoOp(precision)` (old class name `NoOpQuantizer`; no string alias in Larq; `precision` is
 * required). q(x) = x, dq/dx = 1. It only tags a variable's precision, for optimizers like Bop.
 */
function noOp() {
  return {
    forward: (x: Float32Array) => Float32Array.from(x),
    backward: (_x: Float32Array, dy: Float32Array) => Float32Array.from(dy),
  };
}

/**
 * `DoReFaGradient(k_bit=6)` (ours, not a Larq class: DoReFa-Net's gradient quantization, Zhou et
 * al. 2016 section 2.5, tensorpack's `fg`; k_bit 6 as the paper's W1A2G6 AlexNet). Placed after a
 * layer's output it is the identity going forward; the gradient dy reaching it becomes, per sample
 * (m = max |dy| over every axis but the batch; m = 0 gives 0),
 *   dx = 2m (quantize_k(clip(dy / 2m + 1/2 + N, 0, 1)) - 1/2),  quantize_k(v) = round(n v) / n,
 * n = 2^k - 1, N uniform in [-1/2, 1/2) / n: unbiased (stochastic) rounding to k bits. Training on
 * the GPU draws N from the counter-based hash (src/ops/dorefa-gradient.ts); this CPU backward is
 * the noise-free one (N = 0) unless dorefaGradientReference is given the draw.
 */
function dorefaGradientQuantizer(kBit: number) {
  // n = 2^k - 1 and the levels stay exact in f32 up to 16 bits (as the DoReFa activation kernel's).
  if (kBit > 16) throw new TypeError(`DoReFaGradient: config key 'k_bit' must be an integer in 1..16, got ${kBit}`);
  return {
    forward: (x: Float32Array) => Float32Array.from(x),
    backward: (_x: Float32Array, dy: Float32Array, shape?: Shape) => dorefaGradientReference(dy, shape ?? [1, dy.length], kBit),
  };
}

/** The draw of dorefaGradient's noise on the CPU: the values of the noise tensor, and the stream. */
export interface GradientDraw {
  seed: number;
  step: number;
  stream: number;
}

/**
 * CPU reference of dorefaGradient for dy laid out as `shape` (batch first): the kernel's f32 steps
 * in its order. With `draw`, element i's noise is from u = (hashU32(i ^ key) >> 8) / 2^24.
 */
export function dorefaGradientReference(dy: Float32Array, shape: Shape, kBit: number, draw?: GradientDraw): Float32Array {
  const f = Math.fround;
  const perSample = dy.length / shape[0];
  const n = 2 ** kBit - 1;
  const key = draw ? streamKey(draw.seed, draw.step, draw.stream) : 0;
  const dx = new Float32Array(dy.length);
  for (let s = 0; s < shape[0]; s++) {
    let m = 0;
    for (let i = s * perSample; i < (s + 1) * perSample; i++) m = Math.max(m, Math.abs(dy[i]));
    const twoM = f(2 * m);
    for (let i = s * perSample; i < (s + 1) * perSample; i++) {
      if (twoM === 0) continue;
      const u = draw ? (hashU32((i ^ key) >>> 0) >>> 8) / 16777216 : 0.5;
      const v = Math.min(Math.max(f(f(f(dy[i] / twoM) + 0.5) + f(f(u - 0.5) / n)), 0), 1);
      dx[i] = f(f(f(roundHalfEven(f(v * n)) / n) - 0.5) * twoM);
    }
  }
  return dx;
}

// ---------------------------------------------------------------------------------------------
// The registry: one row per Larq class, its arguments with defaults and types.

type ArgType = 'number' | 'number|null' | 'boolean' | 'int' | 'mode';
interface ArgSpec {
  type: ArgType;
  /** The Larq default; `undefined` marks a required argument. */
  default?: unknown;
}
interface QuantizerDef {
  className: string;
  /** Larq's string alias (`utils.register_alias`), if it has one. */
  alias?: string;
  /** Older class names Larq still exports. */
  oldNames?: string[];
  /** Keras' default layer name (snake case of the class). */
  kerasName: string;
  args: Record<string, ArgSpec>;
  precision: (c: Record<string, any>) => number | null;
  make: (c: Record<string, any>) => Pick<Quantizer, 'forward' | 'backward'>;
  levels: (c: Record<string, any>) => Levels;
  statistic?: (c: Record<string, any>) => Statistic | null;
  stochastic?: true;
  inference: (c: Record<string, any>) => GpuInferenceForm;
  training: (c: Record<string, any>) => TrainingForms;
  tfjs?: (c: Record<string, any>) => TfjsQuantizer;
  backwardF32?: Quantizer['backwardF32'];
}

const clipArg: ArgSpec = { type: 'number|null', default: 1.0 };

// Forms several rows share.
const pm1 = () => 'pm1' as const;
const signForm = () => ({ kind: 'sign' }) as const;
const identityForm = () => ({ kind: 'identity' }) as const;
const clipTraining = (c: Record<string, any>): TrainingForms => ({ signMask: { clipValue: c.clip_value }, elementwise: { gradient: 'clip', clipValue: c.clip_value } });
const weightsOnly = (why: string): GpuInferenceForm => ({ kind: 'weightsOnly', why });

/**
 * ste_sign in TF.js: sign(sign(x) + 0.5) or the engine's own sign (so sign(0) = +1 as in Larq);
 * in training Larq's STE, dy where |x| <= clip_value.
 */
const steSignTfjs = (c: Record<string, any>): TfjsQuantizer => ({
  forward: (_ops, x, sign) => sign(x),
  gradient: (ops, x, dy) => (c.clip_value === null ? dy : ops.mul(dy, ops.cast(ops.lessEqual(ops.abs(x), f32(c.clip_value)), 'float32'))),
});

const DEFS: QuantizerDef[] = [
  { className: 'SteSign', alias: 'ste_sign', kerasName: 'ste_sign', args: { clip_value: clipArg },
    precision: () => 1, make: (c) => steSign(c.clip_value), levels: pm1,
    inference: signForm, training: clipTraining, tfjs: steSignTfjs },
  // Not a Larq class: BinaryNet's stochastic binarization (training draws +1 with probability
  // hard_sigmoid(x); src/ops/sign-ste.ts). Its CPU forward is inference's: deterministic sign. It
  // trains on the binary kernels only (signWithMask's draw), so it has no element-wise training form.
  { className: 'StochasticSteSign', alias: 'stochastic_ste_sign', kerasName: 'stochastic_ste_sign', args: { clip_value: clipArg },
    precision: () => 1, make: (c) => steSign(c.clip_value), levels: pm1, stochastic: true,
    inference: signForm, training: (c) => ({ signMask: { clipValue: c.clip_value } }) },
  // Its training kernel computes (1 - |x|) * 2 * dy in f32, each operation rounded: within 1 ulp of the f64 backward.
  { className: 'ApproxSign', alias: 'approx_sign', kerasName: 'approx_sign', args: {},
    precision: () => 1, make: () => approxSign(), levels: pm1,
    inference: signForm, training: () => ({ elementwise: { gradient: 'approxSign' } }),
    backwardF32: (x, dy) => Float32Array.from(x, (v, i) => (Math.abs(v) <= 1 ? f32(f32(1 - Math.abs(v)) * 2 * dy[i]) : 0)) },
  { className: 'SwishSign', alias: 'swish_sign', kerasName: 'swish_sign', args: { beta: { type: 'number', default: 5.0 } },
    precision: () => 1, make: (c) => swishSign(c.beta), levels: pm1,
    inference: signForm, training: (c) => ({ elementwise: { gradient: 'swishSign', beta: c.beta } }) },
  { className: 'MagnitudeAwareSign', alias: 'magnitude_aware_sign', kerasName: 'magnitude_aware_sign',
    args: { clip_value: clipArg }, precision: () => 1, make: (c) => magnitudeAwareSign(c.clip_value),
    levels: () => 'scaledPm1', statistic: () => ({ kind: 'meanAbs', inBackward: true }),
    inference: () => weightsOnly('is per-channel (mean |x| over all other axes)'),
    training: (c) => ({ elementwise: { gradient: 'magnitudeAwareSign', clipValue: c.clip_value } }) },
  { className: 'SteHeaviside', alias: 'ste_heaviside', kerasName: 'ste_heaviside', args: { clip_value: clipArg },
    precision: () => 1, make: (c) => steHeaviside(c.clip_value), levels: () => '01',
    inference: () => ({ kind: 'heaviside' }), training: (c) => ({ elementwise: { gradient: 'clip', clipValue: c.clip_value } }) },
  { className: 'SteTern', alias: 'ste_tern', kerasName: 'ste_tern',
    args: {
      threshold_value: { type: 'number', default: 0.05 },
      ternary_weight_networks: { type: 'boolean', default: false },
      clip_value: clipArg,
    },
    precision: () => 2, make: (c) => steTern(c.threshold_value, c.ternary_weight_networks, c.clip_value),
    levels: () => 'ternary', statistic: (c) => (c.ternary_weight_networks ? { kind: 'twn', inBackward: false } : null),
    inference: (c) =>
      c.ternary_weight_networks ? weightsOnly('with ternary_weight_networks takes its threshold from the mean |x| of the whole tensor') : { kind: 'tern', threshold: c.threshold_value },
    training: (c) => ({ elementwise: { gradient: 'clip', clipValue: c.clip_value } }) },
  { className: 'DoReFa', alias: 'dorefa_quantizer', oldNames: ['DoReFaQuantizer'], kerasName: 'do_re_fa',
    args: { k_bit: { type: 'int', default: 2 }, mode: { type: 'mode', default: 'activations' } },
    precision: (c) => c.k_bit, make: (c) => dorefa(c.k_bit, c.mode),
    levels: (c) => (c.mode === 'activations' ? 'kbit' : 'signedKbit'),
    statistic: (c) => (c.mode === 'activations' ? null : { kind: 'maxAbsTanh', inBackward: true }),
    inference: (c) => (c.mode === 'activations' ? { kind: 'dorefa', kBit: c.k_bit } : weightsOnly("in 'weights' mode scales by the max |tanh| of the whole tensor")),
    training: (c) => ({ elementwise: c.mode === 'activations' ? { gradient: 'dorefaActivations' } : { gradient: 'dorefaWeights', kBit: c.k_bit } }) },
  { className: 'NoOp', oldNames: ['NoOpQuantizer'], kerasName: 'no_op', args: { precision: { type: 'int' } },
    precision: (c) => c.precision, make: () => noOp(), levels: () => 'real',
    inference: identityForm, training: () => ({ elementwise: { gradient: 'identity' } }) },
  // Not a Larq class: DoReFa-Net's k-bit gradients (the identity forward; src/ops/dorefa-gradient.ts).
  { className: 'DoReFaGradient', alias: 'dorefa_gradient', kerasName: 'do_re_fa_gradient', args: { k_bit: { type: 'int', default: 6 } },
    precision: () => 32, make: (c) => dorefaGradientQuantizer(c.k_bit), levels: () => 'real',
    inference: identityForm, training: (c) => ({ gradient: { kBit: c.k_bit } }) },
];

/**
 * Keys Keras writes for every layer (`Layer.get_config`) and `_BaseQuantizer`'s `metrics` argument.
 * Larq does not serialize `metrics` (no get_config override), but accepts it as an argument.
 */
const LAYER_KEYS = ['name', 'trainable', 'dtype', 'metrics'] as const;

/** Every Larq quantizer, keyed by string alias, class name and old class name. */
export const QUANTIZERS: Readonly<Record<string, QuantizerDef>> = Object.freeze(
  Object.fromEntries(
    DEFS.flatMap((d) => [d.className, ...(d.alias ? [d.alias] : []), ...(d.oldNames ?? [])].map((k) => [k, d])),
  ),
);

function checkArg(who: string, key: string, spec: ArgSpec, v: unknown): void {
  const bad = (want: string) => {
    throw new TypeError(`${who}: config key '${key}' must be ${want}, got ${show(v)}`);
  };
  switch (spec.type) {
    case 'number': if (typeof v !== 'number' || Number.isNaN(v)) bad('a number'); break;
    case 'number|null': if (v !== null && (typeof v !== 'number' || Number.isNaN(v))) bad('a number or null'); break;
    case 'boolean': if (typeof v !== 'boolean') bad('true or false'); break;
    case 'int': if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 32) bad('an integer in 1..32'); break;
    case 'mode': if (v !== 'activations' && v !== 'weights') bad("'activations' or 'weights'"); break;
  }
}

function build(def: QuantizerDef, given: Record<string, unknown>): Quantizer {
  const who = def.className;
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(def.args, key) && !(LAYER_KEYS as readonly string[]).includes(key)) {
      const accepted = [...Object.keys(def.args), ...LAYER_KEYS].join(', ');
      throw new Error(`${who}: unknown config key '${key}' (accepted: ${accepted})`);
    }
  }
  const config: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(def.args)) {
    const v = key in given ? given[key] : spec.default;
    if (v === undefined) throw new Error(`${who}: missing required config key '${key}'`);
    checkArg(who, key, spec, v);
    config[key] = v;
  }
  const name = given.name === undefined ? def.kerasName : given.name;
  if (typeof name !== 'string') throw new TypeError(`${who}: config key 'name' must be a string, got ${show(name)}`);
  const { forward, backward } = def.make(config);
  const levels = def.levels(config);
  const inference = def.inference(config);
  return Object.freeze({
    className: def.className,
    config: Object.freeze(config),
    name,
    precision: def.precision(config),
    binary: levels === 'pm1',
    levels,
    identityAtInference: inference.kind === 'identity',
    statistic: def.statistic?.(config) ?? null,
    reads: levels === 'pm1' ? ('sign' as const) : ('value' as const),
    stochastic: def.stochastic === true,
    inference,
    training: def.training(config),
    tfjs: def.tfjs?.(config) ?? null,
    backwardF32: def.backwardF32 ?? null,
    forward: (x: Float32Array, shape?: Shape) => forward(x, shape),
    backward: (x: Float32Array, dy: Float32Array, shape?: Shape) => {
      checkSameLength(x, dy, who);
      return backward(x, dy, shape);
    },
  });
}

function lookup(name: string): QuantizerDef {
  const def = QUANTIZERS[name];
  if (!def || !Object.hasOwn(QUANTIZERS, name)) {
    throw new Error(`unknown quantizer '${name}' (known: ${Object.keys(QUANTIZERS).join(', ')})`);
  }
  return def;
}

/**
 * A quantizer from what a Larq layer's `*_quantizer` argument holds: a string alias or class name
 * (Larq's defaults), a serialized `{class_name, config}` (Keras / TF.js model.json), a quantizer
 * (returned as is), or null / undefined (no quantizer: null). Unknown names and keys throw.
 */
export function getQuantizer(id: QuantizerIdentifier): Quantizer | null {
  if (id === null || id === undefined) return null;
  if (typeof id === 'string') return build(lookup(id), {});
  if (typeof id === 'object' && 'forward' in id && 'className' in id) return id;
  if (typeof id === 'object' && typeof (id as SerializedQuantizer).class_name === 'string') {
    const s = id as SerializedQuantizer;
    const config = s.config ?? {};
    if (typeof config !== 'object' || Array.isArray(config)) {
      throw new TypeError(`${s.class_name}: config must be an object, got ${show(config)}`);
    }
    return build(lookup(s.class_name), config);
  }
  throw new TypeError(`could not interpret quantizer identifier ${show(id)}`);
}

/**
 * `{class_name, config}` as Larq's `get_config` writes it under Keras: the layer keys `name`,
 * `trainable`, `dtype`, then the quantizer's own arguments (`metrics` is not written, as in Larq).
 */
export function serializeQuantizer(q: Quantizer): SerializedQuantizer {
  return { class_name: q.className, config: { name: q.name, trainable: true, dtype: 'float32', ...q.config } };
}

// ---------------------------------------------------------------------------------------------
// The constraint Larq pairs with binary kernels.

/** A Keras weight constraint: applied to the latent weights after each optimizer step. */
export interface Constraint {
  readonly className: 'WeightClip';
  readonly config: { readonly clip_value: number };
  apply(w: Float32Array): Float32Array;
}

/**
 * `weight_clip` / `WeightClip(clip_value=1)` from larq/constraints.py: w -> clip(w, -c, c)
 * (tf.clip_by_value; NaN stays NaN). Keeps latent weights where the STE still passes gradient.
 */
export function weightClip(clipValue = 1.0): Constraint {
  if (typeof clipValue !== 'number' || Number.isNaN(clipValue)) {
    throw new TypeError(`WeightClip: config key 'clip_value' must be a number, got ${show(clipValue)}`);
  }
  const c = f32(clipValue);
  return Object.freeze({
    className: 'WeightClip' as const,
    config: Object.freeze({ clip_value: clipValue }),
    apply: (w: Float32Array) => map(w, (v) => (Number.isNaN(v) ? v : Math.min(Math.max(v, -c), c))),
  });
}

/** A constraint from 'weight_clip' / 'WeightClip' or `{class_name, config}`; null for none. */
export function getConstraint(id: string | SerializedQuantizer | null | undefined): Constraint | null {
  if (id === null || id === undefined) return null;
  const name = typeof id === 'string' ? id : id.class_name;
  if (name !== 'weight_clip' && name !== 'WeightClip') throw new Error(`unknown constraint '${name}' (known: weight_clip, WeightClip)`);
  const config = typeof id === 'string' ? {} : id.config ?? {};
  for (const key of Object.keys(config)) {
    if (key !== 'clip_value') throw new Error(`WeightClip: unknown config key '${key}' (accepted: clip_value)`);
  }
  return weightClip((config as { clip_value?: number }).clip_value ?? 1.0);
}

/** `{class_name: 'WeightClip', config: {clip_value}}`, as Larq's `get_config` writes it. */
export function serializeConstraint(c: Constraint): SerializedQuantizer {
  return { class_name: c.className, config: { ...c.config } };
}
