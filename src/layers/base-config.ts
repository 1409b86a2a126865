// The config types every layer kind shares: the keys all layers have, and the serialized forms of
// Larq's quantizers and constraints a layer config holds.
import type { SerializedQuantizer } from '../model/quantizers.js';

/** Keys every layer has. `batch_input_shape` is on an InputLayer, or on the first layer of a Sequential model. */
export interface BaseConfig {
  name: string;
  trainable: boolean;
  /** Batch dimension first (null or a size), then fixed sizes. */
  batch_input_shape?: (number | null)[];
}

/**
 * A Larq quantizer as serialized, checked by `getQuantizer` and kept as data (the executor calls
 * `getQuantizer` on it): a string alias or class name as written ("ste_sign"), null, or
 * `{class_name, config}` normalized to Larq's current class name (`DoReFaQuantizer` -> `DoReFa`) and
 * the quantizer's own arguments with Larq's defaults filled in (the Keras layer keys name, trainable,
 * dtype, metrics are checked and left out; `serializeModel` writes them back as Larq does).
 */
export type QuantizerConfig = string | SerializedQuantizer | null;

/** Larq's `WeightClip` (the string alias "weight_clip" is normalized to clip_value 1, Larq's default). */
export type ConstraintConfig = { class_name: 'WeightClip'; config: { clip_value: number } } | null;
