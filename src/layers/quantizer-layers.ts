// The quantizer layer kind: a Larq quantizer used as a layer (SteSign, DoReFa, ... written under its
// own class name in a file; `Quantizer` here). A binary one reads only the sign and, on bits, is
// free; NoOp and DoReFaGradient are the identity at inference and vanish before lowering.
import { layerQuantizer } from './config-readers.js';
import { defineKind } from './kind.js';
import type { BaseConfig } from './base-config.js';
import { getQuantizer, type SerializedQuantizer } from '../model/quantizers.js';
import { ElementwiseStep, GradientQuantizerStep } from '../train/shape-steps.js';
import { TrainError } from '../train/train-error.js';
import { TRAINING_REFERENCES } from '../model/training-references.js';

/**
 * A Larq quantizer used as a layer (`SteSign`, `DoReFa`, ... in a model file: Larq's quantizers are
 * Keras layers). The Keras layer keys stay at the top; the quantizer's own arguments, normalized as
 * in QuantizerConfig, sit in `quantizer.config`. Output shape = input shape; no weights.
 */
export interface QuantizerLayerConfig extends BaseConfig {
  quantizer: SerializedQuantizer;
}

export const QUANTIZER_KINDS = {
  Quantizer: defineKind<'Quantizer', QuantizerLayerConfig>({
    className: 'Quantizer',
    keys: { quantizer: { read: layerQuantizer } },
    outputShape: (_c, [x]) => x,
    reference: (l, [x]) => getQuantizer(l.config.quantizer)!.forward(x.data, x.shape),
    tfjs: (l, env) => {
      const q = env.quantize(l.config.quantizer, l.name);
      return ([x]) => q(x);
    },
    train: (l, ctx) => {
      const q = getQuantizer(l.config.quantizer)!;
      if (q.stochastic) throw new TrainError(`${ctx.at}: ${q.className} (stochastic) is trained as a QuantDense/QuantConv2D input or kernel quantizer, not as a layer of its own`);
      if (q.training.gradient) return new GradientQuantizerStep(l.name, q.training.gradient.kBit, ctx.stream);
      return new ElementwiseStep(l.name, { quantizer: q });
    },
    trainReference: () => TRAINING_REFERENCES.Quantizer!,
    signUse: (l) => getQuantizer(l.config.quantizer)!.reads,
    // Its output takes the quantizer's levels (a SteSign layer makes +-1), or its input's where it is the identity.
    levels: (l, [x]) => {
      const q = getQuantizer(l.config.quantizer)!;
      return q.identityAtInference ? x : q.levels;
    },
    // Written under the quantizer's Larq class, its arguments beside the Keras layer keys (as Larq writes it).
    written: ({ quantizer, ...keras }) => ({ className: quantizer.class_name, config: { ...keras, dtype: 'float32', ...quantizer.config } }),
    identityAtInference: (c) => getQuantizer(c.quantizer)!.identityAtInference,
    lower: (ctx, l, u, at) => {
      const q = getQuantizer(l.config.quantizer)!;
      if (q.binary && !ctx.float) {
        // sign of bits is themselves; the result is a full +-1 value from here on.
        const y = u.rep === 'b1' ? ctx.alias(u, l.outputShape) : ctx.asBits(u, [l.name], []);
        y.full = true;
        ctx.produce(l, y);
      } else {
        ctx.produce(l, ctx.quantized(ctx.asFloat(u, [l.name]), q, [l.name], [], at, 'its input'));
      }
    },
  }),
};
