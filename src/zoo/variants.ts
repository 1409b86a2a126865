// BinaryNet's training variants of any model (Courbariaux et al. 2016), as a rewrite of its
// layers: every BatchNormalization shift-based (AP2 of gamma and 1/sigma: shift_based), and/or
// every ste_sign input quantizer stochastic (stochastic_ste_sign: +1 with probability
// hard_sigmoid(x) while training, the deterministic sign at inference). Weights are kept.
import { Model } from '../model/model.js';
import { getQuantizer, serializeQuantizer } from '../model/quantizers.js';
import { LAYER_KEYS, layerClass } from '../model/layer-config.js';

export interface BinaryNetVariants {
  /** Every BatchNormalization shift-based. */
  shiftBatchNorm?: boolean;
  /** Every ste_sign input quantizer (activations) stochastic. */
  stochastic?: boolean;
}

/** `model` with the variants applied (a new Model; its weights copied). */
export async function withBinaryNetVariants(model: Model, variants: BinaryNetVariants): Promise<Model> {
  const { modelJson, shards } = model.toJSON();
  const topology = modelJson.modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
  for (const l of topology.config.layers) {
    // The kinds that take BinaryNet's shift_based key (BatchNormalization).
    if (variants.shiftBatchNorm && 'shift_based' in LAYER_KEYS[layerClass(l.class_name, 'withBinaryNetVariants')]) l.config.shift_based = true;
    if (variants.stochastic && 'input_quantizer' in l.config) {
      const q = getQuantizer(l.config.input_quantizer as never);
      // A deterministic sign trained with the clip STE (ste_sign) gets its stochastic twin, the same clip.
      if (q?.training.signMask && !q.stochastic) l.config.input_quantizer = serializeQuantizer(getQuantizer({ class_name: 'stochastic_ste_sign', config: { clip_value: q.training.signMask.clipValue } })!);
    }
  }
  return Model.fromJSON(modelJson, shards);
}
