// BatchNormalization for training (shaders/batchnorm.wgsl): forward on the batch's statistics
// (over all axes but the last) with Keras' moving-average update, and backward (dx, dgamma, dbeta);
// beside them, their f64 CPU references.
//
// Which variance: the normalization uses the biased batch variance (as Keras and TF's fused batch
// norm). For moving_variance, tf.keras 2.x (the Keras Larq runs on) also uses the biased one:
// its non-fused path (rank != 4, 5: dense layers) takes tf.nn.moments ("sample variance, not
// unbiased variance"), and its fused path (4D/5D) removes the Bessel correction the fused op
// applies, "to be consistent with non-fused batch norm" (tensorflow/python/keras/layers/
// normalization/batch_normalization.py, _fused_batch_norm: _maybe_add_or_remove_bessels_correction).
// The raw op tf.nn.fused_batch_norm returns the Bessel-corrected (unbiased) batch variance for the
// running average: `movingVariance: 'unbiased'` gives that, variance * n / (n - 1) (factor 1 when
// n = 1).
// The update is Keras' _assign_moving_average: moving -= (moving - batch) * f32(1 - momentum),
// which is moving * momentum + batch * (1 - momentum) up to rounding.
import { ap2Signed } from '../ap2.js';
import type { Gpu } from '../gpu/context.js';
import { ConfigError, ShapeError } from '../gpu/errors.js';
import type { ChannelReduction } from '../gpu/tuning-table.js';
import type { Tensor } from '../tensor.js';
import { expectVector } from './check.js';
import { checkWorkgroupSize, expectNotAliased, expectRows, expectSameShape, launchAll, outputTensor, type LaunchStep } from './training-launch.js';

export interface BatchNormForwardOptions {
  /** f32[C]; present: Keras' scale=True. */
  gamma?: Tensor;
  /** f32[C]; present: Keras' center=True. */
  beta?: Tensor;
  /** Keras default 1e-3. */
  epsilon?: number;
  /** Keras default 0.99. */
  momentum?: number;
  /** f32[C] each, updated in place with the batch statistics; both or neither. */
  movingMean?: Tensor;
  movingVar?: Tensor;
  /** Which batch variance moving_variance averages: 'biased' (tf.keras, default) or 'unbiased'. */
  movingVariance?: 'biased' | 'unbiased';
  /** How channel sums are formed (default: channelReduction(gpu)). */
  reduction?: ChannelReduction;
  out?: Tensor;
  /** f32[2, C]: receives mean (row 0) and 1/sqrt(var + epsilon) (row 1; AP2 of it when shift). */
  saved?: Tensor;
  /**
   * BinaryNet's shift-based BatchNorm (Algorithm 3): variance = mean((x - mean) AP2(x - mean)),
   * 1/sqrt(var + epsilon) and gamma rounded to powers of two (AP2, src/ap2.ts). Default false.
   */
  shift?: boolean;
  label?: string;
  workgroupSize?: number;
}

export interface BatchNormForward {
  /** gamma * (x - mean) / sqrt(var + epsilon) + beta, x's shape. */
  y: Tensor;
  /** f32[2, C]: the batch mean and 1/sqrt(var + epsilon), what the backward needs besides x. */
  saved: Tensor;
}

/**
 * How the per-channel sums over rows are formed (ChannelReduction, src/gpu/tuning-table.ts):
 * 'workgroup', a workgroup a channel with a tree sum through workgroup memory (GPUs: many rows,
 * few channels); 'subgroup', the same with each subgroup adding in registers first (adapters with
 * the `subgroups` feature; the shader's subgroup variant); 'serial', an invocation a channel
 * summing every row, no barriers (CPU adapters: 2.5-3x faster at the seed MLP's [300, 512] on
 * SwiftShader, bench train --profile). The sums' order differs: results agree to f32 rounding.
 * The default follows gpu.tuningKind; 'auto' tuning takes the autotuned winner per shape.
 */
export type { ChannelReduction };

export function channelReduction(gpu: Gpu): ChannelReduction {
  return gpu.tuningKind === 'software' ? 'serial' : 'workgroup';
}

const REDUCTIONS: readonly ChannelReduction[] = ['workgroup', 'serial', 'subgroup'];

function reductionLaunch(
  op: string,
  gpu: Gpu,
  given: ChannelReduction | undefined,
  site: { kernel: 'batchNormStats' | 'batchNormBackward'; rows: number; C: number; label: string },
  entryPoint: string,
  wg: number,
): { shader: 'batchnorm' | 'batchnorm_subgroups'; entryPoint: string; workgroups: number } {
  const tuned = given === undefined ? gpu.tuned.lookup({ kernel: site.kernel, M: site.rows, N: site.C, K: 0 }, site.label) : undefined;
  const r = given ?? (tuned && 'reduction' in tuned ? tuned.reduction : channelReduction(gpu));
  if (!REDUCTIONS.includes(r)) throw new ConfigError(`${op}: reduction must be 'workgroup', 'serial' or 'subgroup', got ${JSON.stringify(r)}`);
  if (r === 'serial') return { shader: 'batchnorm', entryPoint: `${entryPoint}_serial`, workgroups: Math.ceil(site.C / wg) };
  if (r === 'subgroup') {
    if (!gpu.features.subgroups) throw new ConfigError(`${op}: reduction 'subgroup' needs the adapter's 'subgroups' feature, which ${gpu.describe()} lacks; use 'workgroup' or 'serial'`);
    return { shader: 'batchnorm_subgroups', entryPoint, workgroups: site.C };
  }
  return { shader: 'batchnorm', entryPoint, workgroups: site.C };
}

/** BatchNormalization in training mode on f32 x [..., C]. */
export async function batchNormForward(gpu: Gpu, x: Tensor, options: BatchNormForwardOptions = {}): Promise<BatchNormForward> {
  const op = 'batchNormForward';
  const { shape, rows, cols: C } = expectRows(op, 'x', x, 'f32');
  const { gamma, beta, movingMean, movingVar } = options;
  if (gamma !== undefined) expectVector(op, 'gamma', gamma, 'f32', C, "channel of x's last axis");
  if (beta !== undefined) expectVector(op, 'beta', beta, 'f32', C, "channel of x's last axis");
  if ((movingMean === undefined) !== (movingVar === undefined)) throw new ShapeError(`${op}: pass both 'movingMean' and 'movingVar' (to update them) or neither`);
  if (movingMean) expectVector(op, 'movingMean', movingMean, 'f32', C, "channel of x's last axis");
  if (movingVar) expectVector(op, 'movingVar', movingVar, 'f32', C, "channel of x's last axis");
  const epsilon = options.epsilon ?? 1e-3;
  const momentum = options.momentum ?? 0.99;
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) throw new ShapeError(`${op}: epsilon must be a positive number, got ${epsilon}`);
  if (!(momentum >= 0 && momentum <= 1)) throw new ShapeError(`${op}: momentum must be in [0, 1] (Keras' default 0.99), got ${momentum}`);
  const mode = options.movingVariance ?? 'biased';
  if (mode !== 'biased' && mode !== 'unbiased') throw new ShapeError(`${op}: movingVariance must be 'biased' or 'unbiased', got ${JSON.stringify(mode)}`);
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  expectNotAliased(op, { out: options.out, saved: options.saved }, { x, gamma, beta });
  expectNotAliased(op, { movingMean, movingVar }, { x, gamma, beta, out: options.out, saved: options.saved });
  const label = options.label ?? `${op}[${shape.join('x')}]`;
  const fresh: Tensor[] = [];
  const y = outputTensor(gpu, op, 'out', options.out, 'f32', shape, label, fresh);
  const saved = outputTensor(gpu, op, 'saved', options.saved, 'f32', [2, C], label, fresh);
  const params = {
    rows,
    channels: C,
    epsilon,
    decay: 1 - momentum,
    variance_factor: mode === 'unbiased' && rows > 1 ? rows / (rows - 1) : 1,
  };
  const constants = { WORKGROUP_SIZE: wg, SHIFT: checkShift(op, options.shift) };
  const reduce = reductionLaunch(op, gpu, options.reduction, { kernel: 'batchNormStats', rows, C, label }, movingMean ? 'bn_stats_update' : 'bn_stats', wg);
  const stats: LaunchStep = movingMean
    ? { spec: { shader: reduce.shader, entryPoint: reduce.entryPoint, constants }, bindings: { params, x, saved, moving_mean: movingMean, moving_variance: movingVar! }, workgroups: reduce.workgroups }
    : { spec: { shader: reduce.shader, entryPoint: reduce.entryPoint, constants }, bindings: { params, x, saved }, workgroups: reduce.workgroups };
  const entryPoint = gamma ? (beta ? 'bn_normalize_affine' : 'bn_normalize_scale') : beta ? 'bn_normalize_center' : 'bn_normalize';
  const normalize = {
    spec: { shader: 'batchnorm' as const, entryPoint, constants },
    bindings: { params, x, stats: saved, y, ...(gamma && { gamma }), ...(beta && { beta }) },
  };
  await launchAll(gpu, label, [
    stats,
    { ...normalize, workgroups: Math.ceil((rows * C) / wg) },
  ], fresh);
  return { y, saved };
}

export interface BatchNormBackwardOptions {
  /** f32[C], the forward's gamma (scale=True); absent: 1. */
  gamma?: Tensor;
  /** How channel sums are formed (default: channelReduction(gpu)). */
  reduction?: ChannelReduction;
  /** The forward was shift-based: dx reads AP2(gamma) (the saved inverse std is already AP2'd). */
  shift?: boolean;
  /** Caller-provided outputs: dx (x's shape), dgamma and dbeta (f32[C]). */
  dx?: Tensor;
  dgamma?: Tensor;
  dbeta?: Tensor;
  label?: string;
  workgroupSize?: number;
}

export interface BatchNormBackward {
  dx: Tensor;
  /** sum over rows of dy * x_hat: gamma's gradient (what it would be, when scale=False). */
  dgamma: Tensor;
  /** sum over rows of dy: beta's gradient. */
  dbeta: Tensor;
}

/**
 * The batch-norm gradient through the batch statistics, x_hat = (x - mean) * inv_std:
 *   dbeta = sum dy, dgamma = sum dy x_hat, dx = gamma inv_std / M (M dy - dbeta - x_hat dgamma).
 * dy and x f32 [..., C]; `saved` the forward's f32[2, C].
 */
export async function batchNormBackward(gpu: Gpu, dy: Tensor, x: Tensor, saved: Tensor, options: BatchNormBackwardOptions = {}): Promise<BatchNormBackward> {
  const op = 'batchNormBackward';
  const { shape, rows, cols: C } = expectRows(op, 'dy', dy, 'f32');
  expectRows(op, 'x', x, 'f32');
  expectSameShape(op, 'x', x, 'dy', shape);
  expectRows(op, 'saved', saved, 'f32');
  expectSameShape(op, 'saved', saved, "the forward's [2, C]", [2, C]);
  const { gamma } = options;
  if (gamma !== undefined) expectVector(op, 'gamma', gamma, 'f32', C, "channel of x's last axis");
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  expectNotAliased(op, { dx: options.dx, dgamma: options.dgamma, dbeta: options.dbeta }, { dy, x, saved, gamma });
  const label = options.label ?? `${op}[${shape.join('x')}]`;
  const fresh: Tensor[] = [];
  const dx = outputTensor(gpu, op, 'dx', options.dx, 'f32', shape, label, fresh);
  const dgamma = outputTensor(gpu, op, 'dgamma', options.dgamma, 'f32', [C], label, fresh);
  const dbeta = outputTensor(gpu, op, 'dbeta', options.dbeta, 'f32', [C], label, fresh);
  if (dgamma.buffer === dbeta.buffer || dx.buffer === dgamma.buffer || dx.buffer === dbeta.buffer) throw new ShapeError(`${op}: 'dx', 'dgamma' and 'dbeta' must be different tensors`);
  const params = { rows, channels: C, epsilon: 0, decay: 0, variance_factor: 0 };
  const constants = { WORKGROUP_SIZE: wg, SHIFT: checkShift(op, options.shift) };
  const reduce = reductionLaunch(op, gpu, options.reduction, { kernel: 'batchNormBackward', rows, C, label }, 'bn_backward_reduce', wg);
  await launchAll(gpu, label, [
    { spec: { shader: reduce.shader, entryPoint: reduce.entryPoint, constants }, bindings: { params, dy, x, stats: saved, dgamma, dbeta }, workgroups: reduce.workgroups },
    {
      spec: { shader: 'batchnorm' as const, entryPoint: gamma ? 'bn_backward_dx_scale' : 'bn_backward_dx', constants },
      bindings: { params, dy, x, stats: saved, dgamma_in: dgamma, dbeta_in: dbeta, dx, ...(gamma && { gamma }) },
      workgroups: Math.ceil((rows * C) / wg),
    },
  ], fresh);
  return { dx, dgamma, dbeta };
}

function checkShift(op: string, shift: boolean | undefined): boolean {
  if (shift !== undefined && typeof shift !== 'boolean') throw new ShapeError(`${op}: shift must be true or false, got ${JSON.stringify(shift)}`);
  return shift === true;
}

// ---------------------------------------------------------------------------------------------
// CPU references, in f64 (the shift-based version's AP2 on f32 values, as the GPU's).

export interface BatchNormReferenceOptions {
  gamma?: ArrayLike<number>;
  beta?: ArrayLike<number>;
  epsilon?: number;
  momentum?: number;
  movingMean?: ArrayLike<number>;
  movingVar?: ArrayLike<number>;
  movingVariance?: 'biased' | 'unbiased';
  shift?: boolean;
}

/** f64 reference of batchNormForward on x [rows, C] (row-major): y, mean, inv std, updated moving averages. */
export function batchNormForwardReference(x: ArrayLike<number>, rows: number, C: number, o: BatchNormReferenceOptions = {}) {
  const epsilon = o.epsilon ?? 1e-3;
  const momentum = o.momentum ?? 0.99;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) mean[c] += x[r * C + c];
  for (let c = 0; c < C; c++) mean[c] /= rows;
  const shift = o.shift === true;
  const p2 = (v: number) => (shift ? ap2Signed(v) : v);
  for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) variance[c] += (x[r * C + c] - mean[c]) * p2(x[r * C + c] - mean[c]);
  for (let c = 0; c < C; c++) variance[c] /= rows;
  const invStd = variance.map((v) => p2(1 / Math.sqrt(v + epsilon)));
  const y = new Float32Array(rows * C);
  for (let i = 0; i < rows * C; i++) {
    const c = i % C;
    y[i] = (x[i] - mean[c]) * invStd[c] * (o.gamma ? p2(o.gamma[c]) : 1) + (o.beta ? o.beta[c] : 0);
  }
  const factor = o.movingVariance === 'unbiased' && rows > 1 ? rows / (rows - 1) : 1;
  const movingMean = o.movingMean && Float64Array.from(o.movingMean, (m, c) => m * momentum + mean[c] * (1 - momentum));
  const movingVar = o.movingVar && Float64Array.from(o.movingVar, (m, c) => m * momentum + variance[c] * factor * (1 - momentum));
  return { y, mean, variance, invStd, movingMean, movingVar };
}

/** f64 reference of batchNormBackward, given the forward's mean and inverse std per channel. */
export function batchNormBackwardReference(
  dy: ArrayLike<number>, x: ArrayLike<number>, rows: number, C: number,
  mean: ArrayLike<number>, invStd: ArrayLike<number>, gamma?: ArrayLike<number>, shift = false,
) {
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  const xHat = (i: number) => (x[i] - mean[i % C]) * invStd[i % C];
  for (let i = 0; i < rows * C; i++) {
    dgamma[i % C] += dy[i] * xHat(i);
    dbeta[i % C] += dy[i];
  }
  const dx = new Float32Array(rows * C);
  for (let i = 0; i < rows * C; i++) {
    const c = i % C;
    const g = gamma ? (shift ? ap2Signed(gamma[c]) : gamma[c]) : 1;
    dx[i] = ((g * invStd[c]) / rows) * (rows * dy[i] - dbeta[c] - xHat(i) * dgamma[c]);
  }
  return { dx, dgamma, dbeta };
}
