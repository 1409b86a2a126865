// The BatchNormalization layer kind (Keras's, with BinaryNet's shift-based variant as a key of
// ours): keys, weights (gamma, beta, moving statistics), the CPU reference at inference, and its
// lowering (an affine step whose sign a following quantizer decides exactly; linear layers fold it).
import { fail, bool, finiteIn, nullOnly, IGNORED, type Reader } from './config-readers.js';
import { defineKind, type WeightList } from './kind.js';
import type { BaseConfig } from './base-config.js';
import { axisOf } from './shapes.js';
import { show } from '../model/error-text.js';
import { batchNormValue, foldBatchNormAffine } from '../model/batchnorm-fold.js';
import { BatchNormStep } from '../train/batchnorm-step.js';
import { TRAINING_REFERENCES } from '../model/training-references.js';

export interface BatchNormalizationConfig extends BaseConfig {
  /** Always the channel (last) axis once a model is parsed; kept as written (-1, or the index). */
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  /**
   * Not a Keras key: BinaryNet's shift-based BatchNorm (AP2 of gamma and of 1/sigma; training's
   * variance by AP2 too). Written only when set, so other models stay loadable by Keras and TF.js.
   */
  shift_based?: boolean;
}

const bnAxis: Reader = (v, at) => {
  const a = Array.isArray(v) && v.length === 1 ? v[0] : v;
  if (typeof a !== 'number' || !Number.isInteger(a) || a < -5 || a > 4) fail(at, `got ${show(v)}, expected one axis (an integer, or a list of one)`);
  return a;
};

export const NORMALIZATION_KINDS = {
  BatchNormalization: defineKind<'BatchNormalization', BatchNormalizationConfig>({
    className: 'BatchNormalization',
    keys: {
      axis: { read: bnAxis, default: -1 },
      momentum: { read: finiteIn(0, 1), default: 0.99 },
      epsilon: { read: finiteIn(0, 1), default: 0.001 },
      center: { read: bool, default: true },
      scale: { read: bool, default: true },
      shift_based: { read: bool, default: undefined },
      beta_regularizer: { read: nullOnly, default: null, drop: true },
      gamma_regularizer: { read: nullOnly, default: null, drop: true },
      beta_constraint: { read: nullOnly, default: null, drop: true },
      gamma_constraint: { read: nullOnly, default: null, drop: true },
      ...IGNORED('beta_initializer', 'gamma_initializer', 'moving_mean_initializer', 'moving_variance_initializer'),
    },
    weights: (c, ch): WeightList => [...(c.scale ? [['gamma', [ch]] as WeightList[0]] : []), ...(c.center ? [['beta', [ch]] as WeightList[0]] : []), ['moving_mean', [ch]], ['moving_variance', [ch]]],
    outputShape: (c, [x], at) => {
      const axis = axisOf(c.axis, x.length); // Keras counts the batch axis
      if (axis !== x.length - 1) fail(`${at}, key "axis"`, `axis ${c.axis} is not the channel (last) axis of [${x}]`, 'only channels_last normalization is supported');
      return x;
    },
    // Keras's BatchNormalization at inference (batchNormValue, shared with the plan's decisions).
    reference: (l, [x], ctx) => {
      const mean = ctx.weight('moving_mean');
      const bn = { gamma: l.config.scale ? ctx.weight('gamma') : undefined, beta: l.config.center ? ctx.weight('beta') : undefined, movingMean: mean, movingVariance: ctx.weight('moving_variance'), epsilon: l.config.epsilon, shift: l.config.shift_based === true };
      return Float32Array.from(x.data, (v, i) => batchNormValue(bn, i % mean.length, v));
    },
    foldsIntoEpilogue: true,
    train: (l, { gpu, model, shape }) =>
      new BatchNormStep(gpu, { name: l.name, C: shape[shape.length - 1], epsilon: l.config.epsilon, momentum: l.config.momentum, center: l.config.center, scale: l.config.scale, shift: l.config.shift_based === true }, (p) => model.weight(`${l.name}/${p}`).data as Float32Array),
    trainReference: () => TRAINING_REFERENCES.BatchNormalization!,
    // At inference the moving statistics; in training the batch's (biased variance, as Keras).
    tfjs: (l, env) => {
      const { tf } = env;
      const C = env.weight('moving_mean')!.data.length;
      const gamma = l.config.scale ? env.param(env.weight('gamma')!.data, [C]) : undefined;
      const beta = l.config.center ? env.param(env.weight('beta')!.data, [C]) : undefined;
      const eps = l.config.epsilon;
      if (!env.training) {
        const [mean, variance] = [env.constant(env.weight('moving_mean')!.data, [C]), env.constant(env.weight('moving_variance')!.data, [C])];
        return ([x]) => tf.batchNorm(x, mean, variance, beta, gamma, eps);
      }
      return ([x]) => {
        const { mean, variance } = tf.moments(x, x.shape.slice(0, -1).map((_, i) => i));
        let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
        if (gamma) y = tf.mul(y, gamma);
        return beta ? tf.add(y, beta) : y;
      };
    },
    // BatchNormalization divides by sqrt(moving_variance + epsilon): a variance below 0, or one that
    // epsilon does not lift above 0, has no square root, and no trained model has one.
    checkWeights: (l, weight, at) => {
      const v = weight('moving_variance');
      if (!v) return;
      for (let c = 0; c < v.length; c++) {
        if (v[c] < 0 || !(v[c] + l.config.epsilon > 0)) {
          fail(`${at}, weight "moving_variance"`, `channel ${c} is ${v[c]} (epsilon ${l.config.epsilon}): a variance must be >= 0 and variance + epsilon > 0`, 'the file is damaged, or was not written by a trained model');
        }
      }
    },
    lower: (ctx, l, u) => {
      const x = ctx.asFloat(u, [l.name]);
      const params = ctx.bnParams(l);
      const y = ctx.newValue(l.outputShape, 'f32', []);
      ctx.emit({ op: 'affine', layers: [l.name], x: x.id, y: y.id, ...foldBatchNormAffine(params), activation: 'linear' });
      ctx.decideOn(y, { map: { bn: params }, raw: () => x });
      ctx.produce(l, y);
    },
  }),
};
