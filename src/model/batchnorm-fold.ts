// Folding BatchNormalization (inference: moving statistics) into what precedes it, as Larq Compute
// Engine does: into a per-channel affine map for float outputs, and, when a sign follows, into
// integer thresholds on the binary layer's +-1 dot products, so the next layer reads bits.
import { ap2Signed } from '../ap2.js';
import { ShapeError } from '../gpu/errors.js';
import { firstWhere, thresholdsFromAffine } from '../ops/gemm-binary.js';

/** A BatchNormalization layer's inference parameters, per channel (Keras semantics). */
export interface BatchNormParams {
  /** gamma; absent when the layer has scale = False (then 1). */
  gamma?: ArrayLike<number>;
  /** beta; absent when center = False (then 0). */
  beta?: ArrayLike<number>;
  movingMean: ArrayLike<number>;
  movingVariance: ArrayLike<number>;
  /** Keras' default 1e-3. */
  epsilon?: number;
  /** BinaryNet's shift-based BatchNorm: AP2(gamma) * AP2(1 / sqrt(var + eps)) (src/ap2.ts). */
  shift?: boolean;
  /** The layer's name, for errors. */
  name?: string;
}

/**
 * BN(y) = gamma * (y - mean) / sqrt(var + eps) + beta, with y = dot * layerScale + layerBias
 * (layerScale: a per-channel weight scale, XNOR-Net's alpha; default 1), as dot * scale + bias
 * per channel.
 */
export function foldBatchNormAffine(bn: BatchNormParams, layerBias?: ArrayLike<number>, layerScale?: ArrayLike<number>): { scale: Float32Array; bias: Float32Array } {
  const { scale, bias } = fold(bn, layerBias, layerScale);
  return { scale: Float32Array.from(scale), bias: Float32Array.from(bias) };
}

/**
 * BN followed by sign (bit set where BN(y) < 0; sign(0) = +1 as Larq) as integer thresholds on
 * the dot: bit = dot < threshold[c], or dot > threshold[c] where flip[c] (negative gamma), constant
 * for gamma = 0. Decided on the real-valued BN of the stored parameters (folded in f64, not
 * rounded through f32 scales); an f32 evaluation of BN can differ only where BN(y) is within f32
 * rounding of 0.
 */
export function foldBatchNormSign(bn: BatchNormParams, layerBias?: ArrayLike<number>, layerScale?: ArrayLike<number>, offset = 0): { threshold: Int32Array; flip: Uint32Array } {
  const { scale, bias } = approximateMap({ bn, layerBias, layerScale, offset }, bn.movingMean.length);
  // Decided as the reference decides: BN of the layer's f32 output (decisionValue); the folded map
  // only says where to start looking.
  return thresholdsFromAffine(scale, bias, decisionValue({ bn, layerBias, layerScale, offset }));
}

/**
 * What a sign or heaviside after a layer is decided on, as the CPU reference computes it: the
 * layer's output rounded to f32, y = fround((r - offset) * layerScale + layerBias) (r the raw
 * product the kernel wrote, offset the agreements of padded columns), then its BatchNormalization
 * in f64 (absent: y itself).
 */
export interface DecisionMap {
  bn?: BatchNormParams;
  layerScale?: ArrayLike<number>;
  layerBias?: ArrayLike<number>;
  offset?: number;
}

/** The value a decision is taken on, of raw value r in channel c (see DecisionMap). Monotone in r. */
export function decisionValue(m: DecisionMap): (r: number, c: number) => number {
  return (r, c) => {
    const y = Math.fround((r - (m.offset ?? 0)) * (m.layerScale?.[c] ?? 1) + (m.layerBias?.[c] ?? 0));
    return m.bn ? batchNormValue(m.bn, c, y) : y;
  };
}

/** Keras' BatchNormalization at inference of y in channel c, in f64 (shift-based: AP2(gamma) and AP2(1 / sigma), src/ap2.ts). */
export function batchNormValue(bn: BatchNormParams, c: number, y: number): number {
  const g = bn.gamma?.[c] ?? 1;
  const beta = bn.beta?.[c] ?? 0;
  const sigma = Math.sqrt(bn.movingVariance[c] + (bn.epsilon ?? 1e-3));
  if (bn.shift) return (y - bn.movingMean[c]) * ap2Signed(1 / sigma) * ap2Signed(g) + beta;
  return ((y - bn.movingMean[c]) / sigma) * g + beta;
}

/** The DecisionMap as one affine map in f64 per channel (rounded: a starting point for the exact search). */
function approximateMap(m: DecisionMap, n: number): { scale: Float64Array; bias: Float64Array } {
  const bn = m.bn ?? { movingMean: new Float32Array(n), movingVariance: new Float32Array(n).fill(1), epsilon: 0 };
  const { scale, bias } = fold(bn, m.layerBias, m.layerScale);
  for (let c = 0; c < n; c++) bias[c] -= (m.offset ?? 0) * scale[c];
  return { scale, bias };
}

/**
 * A sign or heaviside after a layer (DecisionMap) as f32 thresholds on the raw value the kernel
 * wrote, for thresholdQuantize: 'sign' decides v < 0, 'heaviside' v > 0, v = decisionValue(m);
 * the decision holds exactly where r < threshold[c], or r > threshold[c] where flip[c], for every
 * f32 r. Each threshold is the f32 where v changes side (bisection over all f32 values; the
 * approximate map only gives the direction), so a value on the decision point (BN(y) = 0 at y =
 * mean) is decided as the reference decides it, not as an f32 evaluation happens to round.
 */
export function foldDecision(m: DecisionMap, kind: 'sign' | 'heaviside', channels: number): { threshold: Float32Array; flip: Uint32Array } {
  const { scale, bias } = approximateMap(m, channels);
  const value = decisionValue(m);
  const threshold = new Float32Array(channels);
  const flip = new Uint32Array(channels);
  // f32 values in order as integer keys (sign-magnitude to offset binary), -F32_MAX .. F32_MAX.
  const [lo, hi] = [f32Key(-F32_MAX), f32Key(F32_MAX)];
  for (let c = 0; c < channels; c++) {
    const s = scale[c];
    const holds = (r: number) => (kind === 'sign' ? value(r, c) < 0 : value(r, c) > 0);
    if (Number.isNaN(s) || Number.isNaN(bias[c]) || s === 0) {
      // A constant channel: the decision holds everywhere (r < +inf) or nowhere (r < -inf).
      threshold[c] = holds(0) ? Infinity : -Infinity;
    } else if ((kind === 'sign') === s > 0) {
      // It holds below: the smallest f32 t where it no longer holds, found by bisection over the
      // f32 keys (the layer output's f32 rounding can make the map flat over long runs of r).
      const k = firstWhere(lo, hi, (key) => !holds(keyF32(key)));
      threshold[c] = k > hi ? Infinity : keyF32(k);
    } else {
      // It holds above: the largest f32 t where it does not hold yet.
      const k = firstWhere(lo, hi, (key) => holds(keyF32(key))) - 1;
      threshold[c] = k < lo ? -Infinity : keyF32(k);
      flip[c] = 1;
    }
  }
  return { threshold, flip };
}

const F32_MAX = 3.4028234663852886e38;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** An f32's place in the order of all f32 values, as an integer (-0 just below +0). */
function f32Key(x: number): number {
  f32[0] = x;
  return u32[0] >= 0x80000000 ? 0xffffffff - u32[0] : u32[0] + 0x80000000;
}

/** The f32 at an f32Key. */
function keyF32(k: number): number {
  u32[0] = k >= 0x80000000 ? k - 0x80000000 : 0xffffffff - k;
  return f32[0];
}

/** The fold in f64, validated. */
function fold(bn: BatchNormParams, layerBias?: ArrayLike<number>, layerScale?: ArrayLike<number>): { scale: Float64Array; bias: Float64Array } {
  const n = bn.movingMean.length;
  const who = `foldBatchNorm${bn.name === undefined ? '' : ` (layer "${bn.name}")`}`;
  const check = (name: string, v: ArrayLike<number> | undefined) => {
    if (v !== undefined && v.length !== n) throw new ShapeError(`${who}: ${name} has ${v.length} channels, moving_mean has ${n}`);
  };
  check('gamma', bn.gamma);
  check('beta', bn.beta);
  check('moving_variance', bn.movingVariance);
  check('the layer bias', layerBias);
  check('the layer scale', layerScale);
  const eps = bn.epsilon ?? 1e-3;
  if (!(eps >= 0)) throw new ShapeError(`${who}: epsilon must be >= 0, got ${eps}`);
  const scale = new Float64Array(n);
  const bias = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    const variance = bn.movingVariance[c];
    if (!(variance >= 0)) throw new ShapeError(`${who}: moving_variance[${c}] = ${variance} is negative or NaN`);
    if (variance + eps === 0) throw new ShapeError(`${who}: channel ${c} has moving_variance 0 and epsilon 0 (division by zero)`);
    scale[c] = bn.shift ? ap2Signed(bn.gamma?.[c] ?? 1) * ap2Signed(1 / Math.sqrt(variance + eps)) : (bn.gamma?.[c] ?? 1) / Math.sqrt(variance + eps);
    bias[c] = (bn.beta?.[c] ?? 0) - (bn.movingMean[c] - (layerBias?.[c] ?? 0)) * scale[c];
    scale[c] *= layerScale?.[c] ?? 1;
  }
  return { scale, bias };
}
