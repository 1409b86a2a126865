// The Activation layer kind (Keras's activations, and Larq's hard_tanh and leaky_tanh), and
// `activate`, the CPU reference of every layer's `activation` key.
import { activation } from './config-readers.js';
import type { Activation } from './config-readers.js';
import { defineKind } from './kind.js';
import type { BaseConfig } from './base-config.js';
import { channelAffineReference, softmaxReference } from '../ops/elementwise.js';
import { ElementwiseStep } from '../train/shape-steps.js';
import { TRAINING_REFERENCES } from '../model/training-references.js';
import type { Levels } from '../model/quantizer-forms.js';

export interface ActivationConfig extends BaseConfig {
  activation: Activation;
}

/** Keras's activations (and Larq's hard_tanh, leaky_tanh); softmax over the last axis. The element-wise ops' references. */
export function activate(x: Float32Array, shape: number[], a: Activation): Float32Array {
  if (a === 'linear') return x;
  return a === 'softmax' ? softmaxReference(x, shape) : channelAffineReference(x, shape, { activation: a });
}

/** Activations under which a +-1 value keeps its sign (hard_tanh maps +-1 to itself). */
export const SIGN_PRESERVING: readonly Activation[] = ['linear', 'hard_tanh'];

/** Levels whose values all lie within [-1, 1]. */
const WITHIN_UNIT: readonly Levels[] = ['pm1', '01', 'ternary', 'kbit', 'signedKbit'];

export const ACTIVATION_KINDS = {
  Activation: defineKind<'Activation', ActivationConfig>({
    className: 'Activation',
    keys: { activation: { read: activation } },
    outputShape: (_c, [x]) => x,
    reference: (l, [x]) => activate(x.data, x.shape, l.config.activation),
    tfjs: (l, env) => {
      const f = env.activate(l.config.activation, l.name);
      return ([x]) => f(x);
    },
    train: (l, ctx) => new ElementwiseStep(l.name, { activation: ctx.activation }),
    trainReference: () => TRAINING_REFERENCES.Activation!,
    signUse: (l) => (SIGN_PRESERVING.includes(l.config.activation) ? 'through' : 'value'),
    // linear is the identity; hard_tanh (clip to [-1, 1]) leaves values within [-1, 1] as they are.
    levels: (l, [x]) => (l.config.activation === 'linear' || (l.config.activation === 'hard_tanh' && WITHIN_UNIT.includes(x)) ? x : 'real'),
    lower: (ctx, l, u, at) => {
      const a = l.config.activation;
      if (a === 'linear' || (a === 'hard_tanh' && u.rep === 'b1')) return ctx.produce(l, ctx.alias(u, l.outputShape));
      const x = ctx.asFloat(u, [l.name]);
      const y = ctx.newValue(l.outputShape, 'f32', []);
      if (a === 'softmax') ctx.emit({ op: 'softmax', layers: [l.name], x: x.id, y: y.id });
      else ctx.emit({ op: 'affine', layers: [l.name], x: x.id, y: y.id, activation: ctx.elementwiseActivation(a, at) });
      ctx.produce(l, y);
    },
  }),
};
