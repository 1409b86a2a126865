// What a row of the quantizer table (quantizers.ts) carries besides its CPU forward and backward:
// its traits and its GPU and TF.js forms, as plain data the kernels' launchers interpret. Types only.
import type { TfGradientOps, TfOps, TfTensor } from '../layers/tfjs-ops.js';

/**
 * The values a quantizer's output takes:
 * - 'pm1': exactly sign(x) as the bit convention says (-1 where x < 0, +1 elsewhere, also for -0
 *   and NaN): b1 kernels may run on it, and a b1 input needs no quantizer;
 * - 'scaledPm1': a_c * sign(x), a_c > 0 a per-output-channel statistic (magnitude_aware_sign): the
 *   binary kernels with a_c in the epilogue;
 * - '01': {0, 1} (ste_heaviside);
 * - 'ternary': {-1, 0, +1} (ste_tern): the ternary kernels' mask and sign planes;
 * - 'kbit': 2^k levels r / n in [0, 1], n = 2^k - 1, k = precision (DoReFa activations): bit planes;
 * - 'signedKbit': 2^k levels 2 r / n - 1 in [-1, 1] (DoReFa weights; k = 1 gives exactly +-1, but
 *   0 goes to -1: not 'pm1');
 * - 'real': any value (NoOp, DoReFaGradient: the identity going forward).
 */
export type Levels = 'pm1' | 'scaledPm1' | '01' | 'ternary' | 'kbit' | 'signedKbit' | 'real';

/**
 * A statistic of the whole tensor a quantizer's forward needs: 'meanAbs' mean |x| per output
 * channel (magnitude_aware_sign's alpha), 'twn' 0.7 mean |x| over the tensor (ste_tern's Ternary
 * Weight Networks threshold), 'maxAbsTanh' max |tanh x| over the tensor (DoReFa 'weights').
 * `inBackward`: the pseudo-gradient reads it too (a scale); a threshold does not enter it.
 */
export interface Statistic {
  kind: 'meanAbs' | 'twn' | 'maxAbsTanh';
  inBackward: boolean;
}

/** What the element-wise quantize kernel computes (shaders/elementwise.wgsl; src/ops/elementwise.ts). */
export type QuantizeMode =
  | { kind: 'identity' }
  | { kind: 'sign' }
  | { kind: 'heaviside' }
  | { kind: 'tern'; threshold: number }
  | { kind: 'dorefa'; kBit: number };

/** A quantizer's GPU form at inference, or why the element-wise kernel does not compute it (`weightsOnly`: it needs a statistic of the whole tensor). */
export type GpuInferenceForm = QuantizeMode | { kind: 'weightsOnly'; why: string };

/**
 * A quantizer's form in shaders/train_elementwise.wgsl: the backward's pseudo-gradient (and, for
 * a quantizer with a statistic, the weights' forward after the reduction), with its parameters.
 */
export interface ElementwiseTrainingForm {
  gradient: 'identity' | 'clip' | 'approxSign' | 'swishSign' | 'magnitudeAwareSign' | 'dorefaActivations' | 'dorefaWeights';
  /** Larq's clip_value (the gradient passes where |x| <= it; null: everywhere). */
  clipValue?: number | null;
  /** swish_sign's beta. */
  beta?: number;
  /** DoReFa 'weights': k_bit (its levels table). */
  kBit?: number;
}

/** How the GPU trainer runs a quantizer; several forms where it runs on several kernel paths. */
export interface TrainingForms {
  /**
   * sign-ste.ts's signWithMask: the sign as bits and the clip STE's mask as bits (drawn at random
   * where the quantizer is stochastic): the form the binary kernels train on.
   */
  signMask?: { clipValue: number | null };
  /** The element-wise training kernels (train-elementwise.ts): q as f32, the pseudo-gradient from the kept x. */
  elementwise?: ElementwiseTrainingForm;
  /** The identity forward; the gradient quantized to k bits (dorefa-gradient.ts): a layer of its own. */
  gradient?: { kBit: number };
}

/**
 * A quantizer as TF.js ops. `forward(x, sign)`: `sign` is x < 0 ? -1 : +1 the way the engine
 * running the translation says it best. `gradient(x, dy)`: dy * dq/dx for tf.customGrad in training.
 */
export interface TfjsQuantizer {
  forward(ops: TfOps, x: TfTensor, sign: (x: TfTensor) => TfTensor): TfTensor;
  gradient(ops: TfGradientOps, x: TfTensor, dy: TfTensor): TfTensor;
}
