// Folding BatchNormalization (inference: moving statistics) into what precedes it, as Larq Compute
// Engine does: into a per-channel affine map for float outputs, and, when a sign follows, into
// integer thresholds on the binary layer's +-1 dot products, so the next layer reads bits.
import { ap2Signed } from '../ap2.js';
import { ShapeError } from '../gpu/errors.js';
import { thresholdsFromAffine } from '../ops/gemm-binary.js';

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
export function foldBatchNormSign(bn: BatchNormParams, layerBias?: ArrayLike<number>, layerScale?: ArrayLike<number>): { threshold: Int32Array; flip: Uint32Array } {
  const { scale, bias } = fold(bn, layerBias, layerScale);
  return thresholdsFromAffine(scale, bias);
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
