// The Keras/Larq layer configs of a TF.js Layers model.json: one table of layer classes, each key with
// its reader (check + normalize) and Keras's default. Names, arguments and defaults are Keras's and Larq's.
// Quantizers and constraints are checked by src/model/quantizers.ts, the one place that knows them.
import { QUANTIZERS, getConstraint, getQuantizer, serializeConstraint, type Quantizer, type SerializedQuantizer } from './quantizers.js';
import { clip, show } from './error-text.js';

/** A model file (model.json, its manifest or its weight shards) that we cannot read. The message names the layer, key or weight, and the fix. */
export class ModelFormatError extends Error {
  override name = 'ModelFormatError';
}

export type Padding = 'valid' | 'same';
export const ACTIVATIONS = ['linear', 'relu', 'softmax', 'sigmoid', 'tanh', 'hard_tanh', 'leaky_tanh'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

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

/** Keys every layer has. `batch_input_shape` is on an InputLayer, or on the first layer of a Sequential model. */
export interface BaseConfig {
  name: string;
  trainable: boolean;
  /** Batch dimension first (null or a size), then fixed sizes. */
  batch_input_shape?: (number | null)[];
}

export interface InputLayerConfig extends BaseConfig {
  batch_input_shape: (number | null)[];
}

export interface DenseConfig extends BaseConfig {
  units: number;
  activation: Activation;
  use_bias: boolean;
  kernel_constraint: ConstraintConfig;
}

/**
 * Not a Larq key: XNOR-Net's input scaling K (src/ops/xnor-scale.ts), the product scaled per output
 * position by the mean |x| over the channels and the window. Needs a binary input quantizer (it
 * scales sign(x)); written only when set, so other models stay loadable by Keras and TF.js.
 */
interface XnorInputScaleConfig {
  xnor_input_scale?: boolean;
}

export interface QuantDenseConfig extends DenseConfig, XnorInputScaleConfig {
  input_quantizer: QuantizerConfig;
  kernel_quantizer: QuantizerConfig;
}

export interface Conv2DConfig extends BaseConfig {
  filters: number;
  kernel_size: [number, number];
  strides: [number, number];
  padding: Padding;
  dilation_rate: [number, number];
  activation: Activation;
  use_bias: boolean;
  kernel_constraint: ConstraintConfig;
}

export interface QuantConv2DConfig extends Conv2DConfig, XnorInputScaleConfig {
  input_quantizer: QuantizerConfig;
  kernel_quantizer: QuantizerConfig;
  /** Value of the border when padding = "same": 0 (Larq's default) or 1 (the +1 border of LCE). */
  pad_values: number;
}

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

export interface Pooling2DConfig extends BaseConfig {
  pool_size: [number, number];
  /** Keras's default is pool_size; normalized to it. */
  strides: [number, number];
  padding: Padding;
}

export type FlattenConfig = BaseConfig;

export interface DropoutConfig extends BaseConfig {
  rate: number;
}

export interface ActivationConfig extends BaseConfig {
  activation: Activation;
}

/**
 * A Larq quantizer used as a layer (`SteSign`, `DoReFa`, ... in a model file: Larq's quantizers are
 * Keras layers). The Keras layer keys stay at the top; the quantizer's own arguments, normalized as
 * in QuantizerConfig, sit in `quantizer.config`. Output shape = input shape; no weights.
 */
export interface QuantizerLayerConfig extends BaseConfig {
  quantizer: SerializedQuantizer;
}

/** Keras's Add: the element-wise sum of its inbound tensors (two or more, of one shape). No keys of its own. */
export type AddConfig = BaseConfig;

export interface ConcatenateConfig extends BaseConfig {
  /** As written (-1, or the index counting the batch axis); only the channel (last) axis is supported. */
  axis: number;
}

export interface GlobalAveragePooling2DConfig extends BaseConfig {
  /** false (Keras's default): [H, W, C] -> [C]; true: -> [1, 1, C]. */
  keepdims: boolean;
}

export interface ZeroPadding2DConfig extends BaseConfig {
  /** [[top, bottom], [left, right]] (an int or a pair as written is normalized to this). */
  padding: [[number, number], [number, number]];
}

export interface ReshapeConfig extends BaseConfig {
  /** Without the batch dimension; at most one -1 (inferred from the input's size). */
  target_shape: number[];
}

export interface LayerConfigs {
  InputLayer: InputLayerConfig;
  Dense: DenseConfig;
  QuantDense: QuantDenseConfig;
  Conv2D: Conv2DConfig;
  QuantConv2D: QuantConv2DConfig;
  BatchNormalization: BatchNormalizationConfig;
  MaxPooling2D: Pooling2DConfig;
  AveragePooling2D: Pooling2DConfig;
  Flatten: FlattenConfig;
  Dropout: DropoutConfig;
  Activation: ActivationConfig;
  /** Not a class name in files: there the quantizer's own class (`SteSign`, ...) is written. */
  Quantizer: QuantizerLayerConfig;
  Add: AddConfig;
  Concatenate: ConcatenateConfig;
  GlobalAveragePooling2D: GlobalAveragePooling2DConfig;
  ZeroPadding2D: ZeroPadding2DConfig;
  Reshape: ReshapeConfig;
}

/** The layer classes that read several inbound tensors (Keras's merge layers); every other class reads one. */
export const MERGE_LAYERS: readonly LayerClass[] = ['Add', 'Concatenate'];

export type LayerClass = keyof LayerConfigs;

/** One layer of a parsed model, in topological order. */
export type LayerSpec = {
  [K in LayerClass]: {
    class: K;
    name: string;
    config: LayerConfigs[K];
    /** Names of the layers feeding this one, in call order: one, several for a merge layer (MERGE_LAYERS), [] for a layer that reads a model input. */
    inbound: string[];
    /** Output shape without the batch dimension (computed while parsing; not serialized). */
    outputShape: number[];
  };
}[LayerClass];

// ---- readers: each checks one value and returns it normalized; `at` names the layer and key ----

type Reader = (value: unknown, at: string) => unknown;
/** `read` checks the value; without `default` the key is required; `drop` keys are checked, then left out of the typed config. */
interface KeySpec {
  read: Reader;
  default?: unknown;
  drop?: boolean;
}

/** Throws the ModelFormatError "AT: PROBLEM; FIX", each part clipped so no value from a file makes the message huge. */
export function fail(at: string, problem: string, fix?: string): never {
  throw new ModelFormatError(`${clip(at, 400)}: ${clip(problem, 1000)}${fix ? `; ${clip(fix, 1000)}` : ''}`);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const own = (o: Record<string, unknown>, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

const MAX_DIM = 2 ** 31 - 1;

export function positiveInt(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_DIM) fail(at, `got ${show(v)}, expected a positive integer`);
  return v;
}

const bool: Reader = (v, at) => (typeof v === 'boolean' ? v : fail(at, `got ${show(v)}, expected true or false`));

const finiteIn = (lo: number, hi: number): Reader => (v, at) =>
  typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi ? v : fail(at, `got ${show(v)}, expected a number in [${lo}, ${hi}]`);

const pair: Reader = (v, at) => {
  if (typeof v === 'number') return [positiveInt(v, at), v];
  if (!Array.isArray(v) || v.length !== 2) fail(at, `got ${show(v)}, expected an integer or a pair [h, w]`, 'only 2-D windows are supported');
  return [positiveInt(v[0], at), positiveInt(v[1], at)];
};

const padding: Reader = (v, at) =>
  v === 'valid' || v === 'same' ? v : fail(at, `got ${show(v)}, expected "valid" or "same"`, 'other paddings ("causal", "full") are not supported');

const activation: Reader = (v, at) => {
  if (v === null) return 'linear';
  if (typeof v === 'string' && (ACTIVATIONS as readonly string[]).includes(v)) return v;
  return fail(at, `activation ${show(v)} is not supported`, `use one of ${ACTIVATIONS.join(', ')} (or an Activation layer)`);
};

const only = (...values: unknown[]): Reader => (v, at) =>
  values.includes(v) ? v : fail(at, `got ${show(v)}, only ${values.map(show).join(' or ')} is supported`);

const channelsLast = only('channels_last', null);

/** Any JSON value (initializers, regularizers): not used for inference, so only its presence is accepted. */
const anything: Reader = (v) => v;

const nullOnly: Reader = (v, at) => (v === null ? v : fail(at, `got ${show(v)}, only null is supported`, 'remove the regularizer or constraint before saving'));

/** "float32", or a Keras mixed-precision Policy whose name is float32. */
const dtype: Reader = (v, at) => {
  if (v === 'float32') return v;
  if (isObject(v) && v.class_name === 'Policy' && isObject(v.config) && v.config.name === 'float32') return 'float32';
  return fail(at, `got ${show(v)}, only float32 layers are supported`, 'save the model with the float32 policy');
};

const batchInputShape: Reader = (v, at) => {
  if (!Array.isArray(v) || v.length < 2 || v.length > 5) fail(at, `got ${show(v)}, expected [batch, ...dims] with 1 to 4 dims`);
  if (v[0] !== null) positiveInt(v[0], `${at}[0]`);
  for (let i = 1; i < v.length; i++) {
    if (v[i] === null) fail(at, `dimension ${i} is null (variable size)`, 'save the model with a fixed input_shape');
    positiveInt(v[i], `${at}[${i}]`);
  }
  return v.slice();
};

/** getQuantizer's verdict, its errors as ModelFormatErrors at `at`. */
function interpretQuantizer(v: string | SerializedQuantizer, at: string): Quantizer {
  try {
    return getQuantizer(v)!;
  } catch (e) {
    return fail(at, e instanceof Error ? e.message : String(e));
  }
}

/** Keras keys of a quantizer's config that belong to the Keras layer, not to Larq's arguments. */
const QUANTIZER_LAYER_KEYS = ['name', 'trainable', 'dtype', 'metrics'];

/** `{class_name, config}` checked by getQuantizer, normalized to Larq's class name and arguments (defaults filled). */
function serializedQuantizer(v: unknown, at: string): SerializedQuantizer {
  if (!isObject(v) || typeof v.class_name !== 'string' || !isObject(v.config)) {
    fail(at, `got ${show(v)}, expected a quantizer: null, a name such as "ste_sign", or {class_name, config}`);
  }
  for (const k of Object.keys(v)) if (!['class_name', 'config', 'module', 'registered_name'].includes(k)) fail(at, `unknown quantizer key "${k}"`);
  const config = v.config;
  if (own(config, 'dtype')) dtype(config.dtype, `${at}, quantizer key "dtype"`);
  if (own(config, 'trainable')) bool(config.trainable, `${at}, quantizer key "trainable"`);
  const q = interpretQuantizer({ class_name: v.class_name, config }, at);
  // Also refuses keys getQuantizer lets through because they are inherited (`toString`, `__proto__`).
  for (const k of Object.keys(config)) {
    if (!own(q.config, k) && !QUANTIZER_LAYER_KEYS.includes(k)) fail(at, `${q.className}: unknown config key '${k}' (accepted: ${[...Object.keys(q.config), ...QUANTIZER_LAYER_KEYS].join(', ')})`);
  }
  return { class_name: q.className, config: { ...q.config } };
}

/** A layer's `*_quantizer`: null, a name (kept as written), or `{class_name, config}` (normalized). */
const quantizer: Reader = (v, at) => {
  if (v === null) return null;
  if (typeof v === 'string' && v.length > 0) {
    interpretQuantizer(v, at);
    return v;
  }
  return serializedQuantizer(v, at);
};

/** The `quantizer` of a Quantizer layer: always `{class_name, config}` (a name is expanded to it). */
const layerQuantizer: Reader = (v, at) => {
  if (typeof v === 'string' && v.length > 0) {
    const q = interpretQuantizer(v, at);
    return { class_name: q.className, config: { ...q.config } };
  }
  return serializedQuantizer(v, at);
};

/** Larq's WeightClip, checked by getConstraint; the alias "weight_clip" becomes `{class_name: 'WeightClip', config: {clip_value: 1}}`. */
const constraint: Reader = (v, at) => {
  if (v === null) return null;
  const fix = 'use null or Larq\'s "weight_clip" / WeightClip';
  if (isObject(v)) {
    if (typeof v.class_name !== 'string') fail(at, `got ${show(v)}, expected {class_name, config}`, fix);
    for (const k of Object.keys(v)) if (!['class_name', 'config', 'module', 'registered_name'].includes(k)) fail(at, `unknown constraint key "${k}"`);
    if (own(v, 'config') && !isObject(v.config)) fail(`${at}.config`, `got ${show(v.config)}, expected an object`);
  } else if (typeof v !== 'string') fail(at, `got ${show(v)}, expected a constraint`, fix);
  let c;
  try {
    c = getConstraint(v as string | SerializedQuantizer);
  } catch (e) {
    return fail(at, e instanceof Error ? e.message : String(e), fix);
  }
  const clip = c!.config.clip_value;
  if (!Number.isFinite(clip) || clip <= 0) fail(`${at}.config.clip_value`, `got ${show(clip)}, expected a positive number`);
  return serializeConstraint(c!);
};

const bnAxis: Reader = (v, at) => {
  const a = Array.isArray(v) && v.length === 1 ? v[0] : v;
  if (typeof a !== 'number' || !Number.isInteger(a) || a < -5 || a > 4) fail(at, `got ${show(v)}, expected one axis (an integer, or a list of one)`);
  return a;
};

/** Keras's ZeroPadding2D padding: n, [h, w] (symmetric) or [[top, bottom], [left, right]], each >= 0; normalized to the last. */
const zeroPadding: Reader = (v, at) => {
  const size = (x: unknown, where: string) => (typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 65535 ? x : fail(where, `got ${show(x)}, expected an integer in [0, 65535]`));
  const expected = 'expected an integer, a pair [h, w] or a pair of pairs [[top, bottom], [left, right]]';
  if (typeof v === 'number') return [[size(v, at), v], [v, v]];
  if (!Array.isArray(v) || v.length !== 2) return fail(at, `got ${show(v)}, ${expected}`);
  return v.map((p, i) => {
    if (typeof p === 'number') return [size(p, `${at}[${i}]`), p];
    if (!Array.isArray(p) || p.length !== 2) return fail(at, `got ${show(v)}, ${expected}`);
    return [size(p[0], `${at}[${i}][0]`), size(p[1], `${at}[${i}][1]`)];
  });
};

/** Reshape's target_shape: 1 to 4 positive sizes, at most one of them -1. */
const targetShape: Reader = (v, at) => {
  if (!Array.isArray(v) || v.length < 1 || v.length > 4) fail(at, `got ${show(v)}, expected a list of 1 to 4 sizes (without the batch dimension)`);
  const out = Array.from(v, (d, i) => (d === -1 ? -1 : positiveInt(d, `${at}[${i}]`)));
  if (out.filter((d) => d === -1).length > 1) fail(at, `got ${show(v)}: at most one size may be -1`);
  return out;
};

const axisIndex: Reader = (v, at) => (typeof v === 'number' && Number.isInteger(v) && v >= -5 && v <= 4 ? v : fail(at, `got ${show(v)}, expected an axis (an integer)`));

// ---- the table ----
// Keys a Keras layer may carry that the executor does not model (renorm, groups, quantization_config,
// ...) never reach it: keras-config.ts checks them against its UNMODELED policy and removes them.

const COMMON: Record<string, KeySpec> = {
  name: { read: (v, at) => (typeof v === 'string' && v.length > 0 && v.length <= 256 && !v.includes('/') ? v : fail(at, `got ${show(v)}, expected a non-empty name without "/"`)) },
  trainable: { read: bool, default: true },
  dtype: { read: dtype, default: 'float32', drop: true },
  batch_input_shape: { read: batchInputShape, default: undefined }, // optional, kept when present
  batch_size: { read: anything, default: undefined, drop: true },
};

const IGNORED = (...keys: string[]): Record<string, KeySpec> => Object.fromEntries(keys.map((k) => [k, { read: anything, default: undefined, drop: true }]));

const DENSE: Record<string, KeySpec> = {
  units: { read: positiveInt },
  activation: { read: activation, default: 'linear' },
  use_bias: { read: bool, default: true },
  kernel_constraint: { read: constraint, default: null },
  bias_constraint: { read: nullOnly, default: null, drop: true },
  kernel_regularizer: { read: nullOnly, default: null, drop: true },
  bias_regularizer: { read: nullOnly, default: null, drop: true },
  activity_regularizer: { read: nullOnly, default: null, drop: true },
  ...IGNORED('kernel_initializer', 'bias_initializer'),
};

const QUANT: Record<string, KeySpec> = {
  input_quantizer: { read: quantizer, default: null },
  kernel_quantizer: { read: quantizer, default: null },
  xnor_input_scale: { read: bool, default: undefined },
  metrics: { read: anything, default: undefined, drop: true },
};

const { units: _units, ...DENSE_BUT_UNITS } = DENSE;
const CONV: Record<string, KeySpec> = {
  ...DENSE_BUT_UNITS,
  filters: { read: positiveInt },
  kernel_size: { read: pair },
  strides: { read: pair, default: [1, 1] },
  padding: { read: padding, default: 'valid' },
  dilation_rate: { read: pair, default: [1, 1] },
  data_format: { read: channelsLast, default: 'channels_last', drop: true },
};

const POOL: Record<string, KeySpec> = {
  pool_size: { read: pair, default: [2, 2] },
  strides: { read: (v, at) => (v === null ? null : pair(v, at)), default: null },
  padding: { read: padding, default: 'valid' },
  data_format: { read: channelsLast, default: 'channels_last', drop: true },
};

export const LAYER_KEYS: { [K in LayerClass]: Record<string, KeySpec> } = {
  InputLayer: {
    batch_input_shape: { read: batchInputShape },
  },
  Dense: DENSE,
  QuantDense: { ...DENSE, ...QUANT },
  Conv2D: CONV,
  QuantConv2D: { ...CONV, ...QUANT, pad_values: { read: only(0, 1), default: 0 } },
  BatchNormalization: {
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
  MaxPooling2D: POOL,
  AveragePooling2D: POOL,
  Flatten: { data_format: { read: channelsLast, default: 'channels_last', drop: true } },
  Dropout: { rate: { read: finiteIn(0, 1) }, noise_shape: { read: only(null), default: null, drop: true }, seed: { read: anything, default: undefined, drop: true } },
  Activation: { activation: { read: activation } },
  Quantizer: { quantizer: { read: layerQuantizer } },
  Add: {},
  Concatenate: { axis: { read: axisIndex, default: -1 } },
  GlobalAveragePooling2D: { data_format: { read: channelsLast, default: 'channels_last', drop: true }, keepdims: { read: bool, default: false } },
  ZeroPadding2D: { padding: { read: zeroPadding, default: [[1, 1], [1, 1]] }, data_format: { read: channelsLast, default: 'channels_last', drop: true } },
  Reshape: { target_shape: { read: targetShape } },
};

type WeightList = [param: string, shape: number[]][];
const denseWeights = (c: DenseConfig, ch: number): WeightList => [['kernel', [ch, c.units]], ...(c.use_bias ? [['bias', [c.units]] as WeightList[0]] : [])];
const convWeights = (c: Conv2DConfig, ch: number): WeightList => [['kernel', [...c.kernel_size, ch, c.filters]], ...(c.use_bias ? [['bias', [c.filters]] as WeightList[0]] : [])];

/**
 * The weights a layer kind owns, as [param, shape] given its config and its input's channel count
 * (last dimension), in Keras's variable order: the order of a model.json's manifest, of a legacy
 * .h5 file's weight_names and of a .keras file's `vars/0..n` (Layer.save_own_variables: the
 * trainable variables in creation order, then the others). Kinds not listed have no weights.
 */
export const LAYER_WEIGHTS: { [K in LayerClass]?: (config: LayerConfigs[K], inChannels: number) => WeightList } = {
  Dense: denseWeights,
  QuantDense: denseWeights,
  Conv2D: convWeights,
  QuantConv2D: convWeights,
  BatchNormalization: (c, ch) => [...(c.scale ? [['gamma', [ch]] as WeightList[0]] : []), ...(c.center ? [['beta', [ch]] as WeightList[0]] : []), ['moving_mean', [ch]], ['moving_variance', [ch]]],
};

/** Layer `l`'s weights (LAYER_WEIGHTS), its input having `inChannels` channels. */
export function layerWeights(l: LayerSpec, inChannels: number): WeightList {
  const of = LAYER_WEIGHTS[l.class] as ((c: LayerSpec['config'], ch: number) => WeightList) | undefined;
  return of ? of(l.config, inChannels) : [];
}

/** Keras aliases of class names, as some writers spell them. */
const CLASS_ALIASES: Record<string, LayerClass> = { MaxPool2D: 'MaxPooling2D', AvgPool2D: 'AveragePooling2D', AveragePooling2D: 'AveragePooling2D', Convolution2D: 'Conv2D', GlobalAvgPool2D: 'GlobalAveragePooling2D' };

/** Larq's quantizer classes, current and old names (not the snake_case aliases): layers of class Quantizer. */
export const QUANTIZER_LAYER_CLASSES: readonly string[] = Object.freeze(Object.keys(QUANTIZERS).filter((k) => QUANTIZERS[k].alias !== k));

/** Keras's other merge layers, which the executor does not take (Add and Concatenate it does). */
const UNSUPPORTED_MERGES = ['Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Dot'];

/** The LayerSpec class of a class name as written in a model file. */
export function layerClass(v: unknown, at: string): LayerClass {
  if (typeof v !== 'string') fail(at, `class_name is ${show(v)}, expected a string`);
  if (QUANTIZER_LAYER_CLASSES.includes(v)) return 'Quantizer';
  if (v === 'Quantizer') fail(at, 'class "Quantizer" is not written in files', `write the quantizer's Larq class: ${QUANTIZER_LAYER_CLASSES.join(', ')}`);
  if (own(LAYER_KEYS, v)) return v as LayerClass;
  if (own(CLASS_ALIASES, v)) return CLASS_ALIASES[v];
  if (UNSUPPORTED_MERGES.includes(v)) fail(at, `merge layer ${v} is not supported`, 'the merge layers supported are Add and Concatenate');
  const known = [...Object.keys(LAYER_KEYS).filter((k) => k !== 'Quantizer'), ...QUANTIZER_LAYER_CLASSES];
  return fail(at, `unknown layer class ${show(v)}`, `supported: ${known.join(', ')}`);
}

/**
 * A Larq quantizer layer as written in a file (`{class_name: 'SteSign', config: {name, trainable,
 * dtype, clip_value}}`): the Keras layer keys stay at the top, the rest are the quantizer's arguments.
 */
export function readQuantizerLayerConfig(className: string, config: unknown, at: string): QuantizerLayerConfig {
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
 * Checks one layer's config against the table: every key known and valid, every required key present.
 * Returns the typed config. `shown` is the class named in messages (a quantizer layer's Larq class).
 */
export function readLayerConfig<K extends LayerClass>(cls: K, config: unknown, at: string, shown: string = cls): LayerConfigs[K] {
  if (!isObject(config)) fail(at, `config is ${show(config)}, expected an object`);
  const table: Record<string, KeySpec> = { ...COMMON, ...LAYER_KEYS[cls] };
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
  if (cls === 'MaxPooling2D' || cls === 'AveragePooling2D') out.strides ??= out.pool_size;
  if ((cls === 'Conv2D' || cls === 'QuantConv2D') && (out.strides as number[]).some((s) => s > 1) && (out.dilation_rate as number[]).some((d) => d > 1)) {
    fail(where, 'strides > 1 together with dilation_rate > 1', 'Keras does not allow both');
  }
  if (out.xnor_input_scale === false) delete out.xnor_input_scale;
  if (out.xnor_input_scale && !getQuantizer(out.input_quantizer as QuantizerConfig)?.binary) {
    fail(where, 'xnor_input_scale scales a binarized input (sign(x) * K), but the input quantizer is not binary', 'give the layer input_quantizer "ste_sign" (or another +-1 quantizer), or drop xnor_input_scale');
  }
  return out as unknown as LayerConfigs[K];
}
