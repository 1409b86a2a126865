// The Keras/Larq layer configs of a TF.js Layers model.json: one table of layer classes, each key with
// its reader (check + normalize) and Keras's default. Names, arguments and defaults are Keras's and Larq's.

/** A model file (model.json, its manifest or its weight shards) that we cannot read. The message names the layer, key or weight, and the fix. */
export class ModelFormatError extends Error {
  override name = 'ModelFormatError';
}

export type Padding = 'valid' | 'same';
export const ACTIVATIONS = ['linear', 'relu', 'softmax', 'sigmoid', 'tanh', 'hard_tanh', 'leaky_tanh'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** A Larq quantizer as serialized: a string alias ("ste_sign"), `{class_name, config}`, or null. Kept raw: src/model/quantizers.ts interprets it. */
export type QuantizerConfig = string | { class_name: string; config: Record<string, unknown>; [key: string]: unknown } | null;

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

export interface QuantDenseConfig extends DenseConfig {
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

export interface QuantConv2DConfig extends Conv2DConfig {
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
}

export type LayerClass = keyof LayerConfigs;

/** One layer of a parsed model, in topological order. */
export type LayerSpec = {
  [K in LayerClass]: {
    class: K;
    name: string;
    config: LayerConfigs[K];
    /** Names of the layers feeding this one ([] for the model's input layer). */
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

export function fail(at: string, problem: string, fix?: string): never {
  throw new ModelFormatError(`${at}: ${problem}${fix ? `; ${fix}` : ''}`);
}

const show = (v: unknown): string => {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
};

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

const quantizer: Reader = (v, at) => {
  if (v === null || (typeof v === 'string' && v.length > 0)) return v;
  if (isObject(v) && typeof v.class_name === 'string' && isObject(v.config)) {
    for (const k of Object.keys(v)) if (!['class_name', 'config', 'module', 'registered_name'].includes(k)) fail(at, `unknown quantizer key "${k}"`);
    return JSON.parse(JSON.stringify(v));
  }
  return fail(at, `got ${show(v)}, expected a quantizer: null, a name such as "ste_sign", or {class_name, config}`);
};

const constraint: Reader = (v, at) => {
  if (v === null) return null;
  if (v === 'weight_clip') return { class_name: 'WeightClip', config: { clip_value: 1 } };
  if (isObject(v) && v.class_name === 'WeightClip' && isObject(v.config)) {
    const clip = v.config.clip_value ?? 1;
    if (typeof clip !== 'number' || !Number.isFinite(clip) || clip <= 0) fail(`${at}.config.clip_value`, `got ${show(clip)}, expected a positive number`);
    return { class_name: 'WeightClip', config: { clip_value: clip } };
  }
  const name = isObject(v) ? v.class_name : v;
  return fail(at, `constraint ${show(name)} is not supported`, 'use null or Larq\'s "weight_clip" / WeightClip');
};

const bnAxis: Reader = (v, at) => {
  const a = Array.isArray(v) && v.length === 1 ? v[0] : v;
  if (typeof a !== 'number' || !Number.isInteger(a) || a < -5 || a > 4) fail(at, `got ${show(v)}, expected one axis (an integer, or a list of one)`);
  return a;
};

// ---- the table ----

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
  groups: { read: only(1), default: 1, drop: true },
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
    sparse: { read: only(false, null), default: false, drop: true },
    ragged: { read: only(false, null), default: false, drop: true },
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
    beta_regularizer: { read: nullOnly, default: null, drop: true },
    gamma_regularizer: { read: nullOnly, default: null, drop: true },
    beta_constraint: { read: nullOnly, default: null, drop: true },
    gamma_constraint: { read: nullOnly, default: null, drop: true },
    renorm: { read: only(false), default: false, drop: true },
    virtual_batch_size: { read: only(null), default: null, drop: true },
    ...IGNORED('beta_initializer', 'gamma_initializer', 'moving_mean_initializer', 'moving_variance_initializer', 'synchronized'),
  },
  MaxPooling2D: POOL,
  AveragePooling2D: POOL,
  Flatten: { data_format: { read: channelsLast, default: 'channels_last', drop: true } },
  Dropout: { rate: { read: finiteIn(0, 1) }, noise_shape: { read: only(null), default: null, drop: true }, seed: { read: anything, default: undefined, drop: true } },
  Activation: { activation: { read: activation } },
};

/** Keras aliases of class names, as some writers spell them. */
const CLASS_ALIASES: Record<string, LayerClass> = { MaxPool2D: 'MaxPooling2D', AvgPool2D: 'AveragePooling2D', AveragePooling2D: 'AveragePooling2D', Convolution2D: 'Conv2D' };

export function layerClass(v: unknown, at: string): LayerClass {
  if (typeof v !== 'string') fail(at, `class_name is ${show(v)}, expected a string`);
  if (own(LAYER_KEYS, v)) return v as LayerClass;
  if (own(CLASS_ALIASES, v)) return CLASS_ALIASES[v];
  return fail(at, `unknown layer class ${show(v)}`, `supported: ${Object.keys(LAYER_KEYS).join(', ')}`);
}

/** Checks one layer's config against the table: every key known and valid, every required key present. Returns the typed config. */
export function readLayerConfig<K extends LayerClass>(cls: K, config: unknown, at: string): LayerConfigs[K] {
  if (!isObject(config)) fail(at, `config is ${show(config)}, expected an object`);
  const table: Record<string, KeySpec> = { ...COMMON, ...LAYER_KEYS[cls] };
  const out: Record<string, unknown> = {};
  const name = own(config, 'name') ? COMMON.name.read(config.name, `${at}, key "name"`) : undefined;
  const where = name === undefined ? at : `layer "${name}" (${cls})`;
  for (const key of Object.keys(config)) {
    if (!own(table, key)) fail(where, `unknown config key "${key}"`, `${cls} accepts ${Object.keys(table).join(', ')}`);
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
  return out as unknown as LayerConfigs[K];
}
