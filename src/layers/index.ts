// Every layer kind the engine knows, by Keras class name: the table the format reader, the CPU
// reference and the compiler iterate over. Adding a kind: its record in its family file, and the
// family's table here if the family is new (docs/architecture.md, "Adding a layer kind").
import { INPUT_KINDS } from './input.js';
import { LINEAR_KINDS } from './linear.js';
import { NORMALIZATION_KINDS } from './normalization.js';
import { POOLING_KINDS } from './pooling.js';
import { RESHAPING_KINDS } from './reshaping.js';
import { ACTIVATION_KINDS } from './activations.js';
import { QUANTIZER_KINDS } from './quantizer-layers.js';
import { MERGE_KINDS } from './merges.js';
import type { LayerKind } from './kind.js';

export const LAYER_KINDS = {
  ...INPUT_KINDS,
  ...LINEAR_KINDS,
  ...NORMALIZATION_KINDS,
  ...POOLING_KINDS,
  ...RESHAPING_KINDS,
  ...ACTIVATION_KINDS,
  ...QUANTIZER_KINDS,
  ...MERGE_KINDS,
};

type Kinds = typeof LAYER_KINDS;
/** The layer classes (LayerSpec.class): Keras's class names, and `Quantizer` for Larq's quantizer layers. */
export type LayerClass = keyof Kinds;
/** Each class's parsed config. */
export type LayerConfigs = { [K in LayerClass]: Kinds[K] extends LayerKind<K, infer C> ? C : never };

/** One layer of a parsed model, in topological order. */
export type LayerSpec = {
  [K in LayerClass]: {
    class: K;
    name: string;
    config: LayerConfigs[K];
    /** Names of the layers feeding this one, in call order: one, several for a merge layer, [] for a layer that reads a model input. */
    inbound: string[];
    /** Output shape without the batch dimension (computed while parsing; not serialized). */
    outputShape: number[];
  };
}[LayerClass];

/** A layer's kind record, its hooks typed for any layer (the table is keyed by the layer's own class). */
export function kindOf(l: { class: LayerClass }): LayerKind<string, any> {
  return LAYER_KINDS[l.class] as LayerKind<string, any>;
}

/** The classes that read several inbound tensors (Keras's merge layers); every other class reads one. */
export const MERGE_LAYERS: readonly LayerClass[] = (Object.keys(LAYER_KINDS) as LayerClass[]).filter((k) => LAYER_KINDS[k].inputs === 'many');
