// The Keras/Larq layer configs of a TF.js Layers model.json, read through the layer kinds' table
// (src/layers/): each kind's keys with their readers and Keras's defaults, its cross-key checks and
// its weights. Names, arguments and defaults are Keras's and Larq's. This file holds the reading;
// what each class accepts lives in its kind's record.
import { QUANTIZERS } from './quantizers.js';
import { COMMON, fail, isObject, own, serializedQuantizer, type KeySpec } from '../layers/config-readers.js';
import { LAYER_KINDS, kindOf, type LayerClass, type LayerConfigs, type LayerSpec } from '../layers/index.js';
import type { WeightList } from '../layers/kind.js';
import { show } from './error-text.js';

export { ModelFormatError, fail, isObject, own, positiveInt, ACTIVATIONS, type Activation, type Padding } from '../layers/config-readers.js';
export type { BaseConfig, QuantizerConfig, ConstraintConfig } from '../layers/base-config.js';
export type { InputLayerConfig } from '../layers/input.js';
export type { DenseConfig, QuantDenseConfig, Conv2DConfig, QuantConv2DConfig } from '../layers/linear.js';
export type { BatchNormalizationConfig } from '../layers/normalization.js';
export type { Pooling2DConfig, GlobalAveragePooling2DConfig } from '../layers/pooling.js';
export type { FlattenConfig, DropoutConfig, ZeroPadding2DConfig, ReshapeConfig } from '../layers/reshaping.js';
export type { ActivationConfig } from '../layers/activations.js';
export type { QuantizerLayerConfig } from '../layers/quantizer-layers.js';
export type { AddConfig, ConcatenateConfig } from '../layers/merges.js';
export { MERGE_LAYERS, type LayerClass, type LayerConfigs, type LayerSpec } from '../layers/index.js';

/** Each class's config keys (besides the common ones), from its kind record. */
export const LAYER_KEYS: { [K in LayerClass]: Readonly<Record<string, KeySpec>> } = Object.fromEntries(Object.entries(LAYER_KINDS).map(([k, kind]) => [k, kind.keys])) as never;

/**
 * Layer `l`'s weights as [param, shape], its input having `inChannels` channels (last dimension), in
 * Keras's variable order: the order of a model.json's manifest, of a legacy .h5 file's weight_names
 * and of a .keras file's `vars/0..n` (Layer.save_own_variables: the trainable variables in creation
 * order, then the others). Kinds without weights have none.
 */
export function layerWeights(l: LayerSpec, inChannels: number): WeightList {
  return kindOf(l).weights?.(l.config, inChannels) ?? [];
}

/** Keras aliases of class names, as some writers spell them, from the kinds' records. */
const CLASS_ALIASES: Record<string, LayerClass> = Object.fromEntries(Object.values(LAYER_KINDS).flatMap((kind) => (kind.aliases ?? []).map((a) => [a, kind.className as LayerClass])));

/** Larq's quantizer classes, current and old names (not the snake_case aliases): layers of class Quantizer. */
export const QUANTIZER_LAYER_CLASSES: readonly string[] = Object.freeze(Object.keys(QUANTIZERS).filter((k) => QUANTIZERS[k].alias !== k));

/** Keras's other merge layers, which the executor does not take (Add and Concatenate it does). */
const UNSUPPORTED_MERGES = ['Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Dot'];

/** The LayerSpec class of a class name as written in a model file. */
export function layerClass(v: unknown, at: string): LayerClass {
  if (typeof v !== 'string') fail(at, `class_name is ${show(v)}, expected a string`);
  if (QUANTIZER_LAYER_CLASSES.includes(v)) return 'Quantizer';
  if (v === 'Quantizer') fail(at, 'class "Quantizer" is not written in files', `write the quantizer's Larq class: ${QUANTIZER_LAYER_CLASSES.join(', ')}`);
  if (own(LAYER_KINDS, v)) return v as LayerClass;
  if (own(CLASS_ALIASES, v)) return CLASS_ALIASES[v];
  if (UNSUPPORTED_MERGES.includes(v)) fail(at, `merge layer ${v} is not supported`, 'the merge layers supported are Add and Concatenate');
  const known = [...Object.keys(LAYER_KINDS).filter((k) => k !== 'Quantizer'), ...QUANTIZER_LAYER_CLASSES];
  return fail(at, `unknown layer class ${show(v)}`, `supported: ${known.join(', ')}`);
}

/**
 * A Larq quantizer layer as written in a file (`{class_name: 'SteSign', config: {name, trainable,
 * dtype, clip_value}}`): the Keras layer keys stay at the top, the rest are the quantizer's arguments.
 */
export function readQuantizerLayerConfig(className: string, config: unknown, at: string): LayerConfigs['Quantizer'] {
  if (!isObject(config)) fail(at, `config is ${show(config)}, expected an object`);
  const layer: Record<string, unknown> = {};
  const args: Record<string, unknown> = {};
  for (const k of Object.keys(config)) (own(COMMON, k) ? layer : args)[k] = config[k];
  const name = own(layer, 'name') ? COMMON.name.read(layer.name, `${at}, key "name"`) : undefined;
  // Checked here first so that an argument's error names the layer by its Larq class.
  layer.quantizer = serializedQuantizer({ class_name: className, config: args }, name === undefined ? at : `layer "${name}" (${className})`);
  return readLayerConfig('Quantizer', layer, at, className);
}

/**
 * Checks one layer's config against its kind's keys: every key known and valid, every required key
 * present, then the kind's checks across keys. Returns the typed config. `shown` is the class named
 * in messages (a quantizer layer's Larq class).
 */
export function readLayerConfig<K extends LayerClass>(cls: K, config: unknown, at: string, shown: string = cls): LayerConfigs[K] {
  if (!isObject(config)) fail(at, `config is ${show(config)}, expected an object`);
  const kind = LAYER_KINDS[cls];
  const table: Record<string, KeySpec> = { ...COMMON, ...kind.keys };
  const out: Record<string, unknown> = {};
  const name = own(config, 'name') ? COMMON.name.read(config.name, `${at}, key "name"`) : undefined;
  const where = name === undefined ? at : `layer "${name}" (${shown})`;
  for (const key of Object.keys(config)) {
    if (!own(table, key)) fail(where, `unknown config key "${key}"`, `${shown} accepts ${Object.keys(table).join(', ')}`);
  }
  for (const [key, spec] of Object.entries(table)) {
    let value: unknown;
    if (own(config, key)) value = spec.read(config[key], `${where}, key "${key}"`);
    else if ('default' in spec) value = spec.default;
    else fail(where, `missing config key "${key}"`, `${cls} needs it`);
    if (!spec.drop && value !== undefined) out[key] = value;
  }
  kind.finish?.(out, where);
  return out as unknown as LayerConfigs[K];
}
