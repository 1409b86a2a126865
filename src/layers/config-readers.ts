// The readers of Keras/Larq layer config values: each checks one value (a key of a layer's config
// in a model file) and returns it normalized; `at` names the layer and key. The layer kinds
// (src/layers/*.ts) declare their keys with these; readLayerConfig (src/model/layer-config.ts) runs them.
// Quantizers and constraints are checked by src/model/quantizers.ts, the one place that knows them.
import { getConstraint, getQuantizer, serializeConstraint, type Quantizer, type SerializedQuantizer } from '../model/quantizers.js';
import { clip, show } from '../model/error-text.js';

/** A model file (model.json, its manifest or its weight shards) that we cannot read. The message names the layer, key or weight, and the fix. */
export class ModelFormatError extends Error {
  override name = 'ModelFormatError';
}

/** Keras's activations (and Larq's hard_tanh, leaky_tanh) the executor has kernels for. */
export const ACTIVATIONS = ['linear', 'relu', 'softmax', 'sigmoid', 'tanh', 'hard_tanh', 'leaky_tanh'] as const;
export type Activation = (typeof ACTIVATIONS)[number];
export type Padding = 'valid' | 'same';

// ---- readers: each checks one value and returns it normalized; `at` names the layer and key ----

export type Reader = (value: unknown, at: string) => unknown;
/** `read` checks the value; without `default` the key is required; `drop` keys are checked, then left out of the typed config. */
export interface KeySpec {
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

export const MAX_DIM = 2 ** 31 - 1;

export function positiveInt(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_DIM) fail(at, `got ${show(v)}, expected a positive integer`);
  return v;
}

export const bool: Reader = (v, at) => (typeof v === 'boolean' ? v : fail(at, `got ${show(v)}, expected true or false`));

export const finiteIn = (lo: number, hi: number): Reader => (v, at) =>
  typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi ? v : fail(at, `got ${show(v)}, expected a number in [${lo}, ${hi}]`);

export const pair: Reader = (v, at) => {
  if (typeof v === 'number') return [positiveInt(v, at), v];
  if (!Array.isArray(v) || v.length !== 2) fail(at, `got ${show(v)}, expected an integer or a pair [h, w]`, 'only 2-D windows are supported');
  return [positiveInt(v[0], at), positiveInt(v[1], at)];
};

export const padding: Reader = (v, at) =>
  v === 'valid' || v === 'same' ? v : fail(at, `got ${show(v)}, expected "valid" or "same"`, 'other paddings ("causal", "full") are not supported');

export const activation: Reader = (v, at) => {
  if (v === null) return 'linear';
  if (typeof v === 'string' && (ACTIVATIONS as readonly string[]).includes(v)) return v;
  return fail(at, `activation ${show(v)} is not supported`, `use one of ${ACTIVATIONS.join(', ')} (or an Activation layer)`);
};

export const only = (...values: unknown[]): Reader => (v, at) =>
  values.includes(v) ? v : fail(at, `got ${show(v)}, only ${values.map(show).join(' or ')} is supported`);

export const channelsLast = only('channels_last', null);

/** Any JSON value (initializers, regularizers): not used for inference, so only its presence is accepted. */
export const anything: Reader = (v) => v;

export const nullOnly: Reader = (v, at) => (v === null ? v : fail(at, `got ${show(v)}, only null is supported`, 'remove the regularizer or constraint before saving'));

/** "float32", or a Keras mixed-precision Policy whose name is float32. */
export const dtype: Reader = (v, at) => {
  if (v === 'float32') return v;
  if (isObject(v) && v.class_name === 'Policy' && isObject(v.config) && v.config.name === 'float32') return 'float32';
  return fail(at, `got ${show(v)}, only float32 layers are supported`, 'save the model with the float32 policy');
};

export const batchInputShape: Reader = (v, at) => {
  if (!Array.isArray(v) || v.length < 2 || v.length > 5) fail(at, `got ${show(v)}, expected [batch, ...dims] with 1 to 4 dims`);
  if (v[0] !== null) positiveInt(v[0], `${at}[0]`);
  for (let i = 1; i < v.length; i++) {
    if (v[i] === null) fail(at, `dimension ${i} is null (variable size)`, 'save the model with a fixed input_shape');
    positiveInt(v[i], `${at}[${i}]`);
  }
  return v.slice();
};

/** getQuantizer's verdict, its errors as ModelFormatErrors at `at`. */
export function interpretQuantizer(v: string | SerializedQuantizer, at: string): Quantizer {
  try {
    return getQuantizer(v)!;
  } catch (e) {
    return fail(at, e instanceof Error ? e.message : String(e));
  }
}

/** Keras keys of a quantizer's config that belong to the Keras layer, not to Larq's arguments. */
export const QUANTIZER_LAYER_KEYS = ['name', 'trainable', 'dtype', 'metrics'];

/** `{class_name, config}` checked by getQuantizer, normalized to Larq's class name and arguments (defaults filled). */
export function serializedQuantizer(v: unknown, at: string): SerializedQuantizer {
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
export const quantizer: Reader = (v, at) => {
  if (v === null) return null;
  if (typeof v === 'string' && v.length > 0) {
    interpretQuantizer(v, at);
    return v;
  }
  return serializedQuantizer(v, at);
};

/** The `quantizer` of a Quantizer layer: always `{class_name, config}` (a name is expanded to it). */
export const layerQuantizer: Reader = (v, at) => {
  if (typeof v === 'string' && v.length > 0) {
    const q = interpretQuantizer(v, at);
    return { class_name: q.className, config: { ...q.config } };
  }
  return serializedQuantizer(v, at);
};

/** Larq's WeightClip, checked by getConstraint; the alias "weight_clip" becomes `{class_name: 'WeightClip', config: {clip_value: 1}}`. */
export const constraint: Reader = (v, at) => {
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




export const axisIndex: Reader = (v, at) => (typeof v === 'number' && Number.isInteger(v) && v >= -5 && v <= 4 ? v : fail(at, `got ${show(v)}, expected an axis (an integer)`));

// ---- key sets shared by several kinds ----
// Keys a Keras layer may carry that the executor does not model (renorm, groups, quantization_config,
// ...) never reach it: keras-config.ts checks them against its UNMODELED policy and removes them.

export const COMMON: Record<string, KeySpec> = {
  name: { read: (v, at) => (typeof v === 'string' && v.length > 0 && v.length <= 256 && !v.includes('/') ? v : fail(at, `got ${show(v)}, expected a non-empty name without "/"`)) },
  trainable: { read: bool, default: true },
  dtype: { read: dtype, default: 'float32', drop: true },
  batch_input_shape: { read: batchInputShape, default: undefined }, // optional, kept when present
  batch_size: { read: anything, default: undefined, drop: true },
};

export const IGNORED = (...keys: string[]): Record<string, KeySpec> => Object.fromEntries(keys.map((k) => [k, { read: anything, default: undefined, drop: true }]));

