// The edge of the model reader: a Keras 2 / tf-keras or a Keras 3 model config (model.json's
// modelTopology, or the model_config of a .h5 / .keras file) turned into the one canonical form the
// layer table (layer-config.ts) and parseTopology read. Nothing past this file knows which Keras wrote a model.
//
// The canonical form is Keras 2's (tfjs-layers writes it too): InputLayer `batch_input_shape`; `dtype`
// the string "float32"; serialized objects `{class_name, config}`; a functional layer's inbound_nodes
// `[[[layer, node, tensor, {}], ...]]` (one list of tensors per call); input_layers / output_layers a
// list of `[name, node, tensor]`. Keys the executor does not model are checked against one policy
// table (UNMODELED, written out in docs/executor.md) and removed: accepted when their value changes
// nothing, refused by name (layer, key, why, what to do) when it would change results.
import { show } from './error-text.js';
import { fail, isObject, own } from './layer-config.js';

type Json = Record<string, unknown>;

/** out[k] = v as an own property, whatever k: a key "__proto__" from JSON.parse stays a key (the strict check then refuses it), never a prototype. */
function put(out: Json, k: string, v: unknown): void {
  Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
}

// ---- the policy for keys we do not model ----

interface KeyRule {
  /** Layer classes the key belongs to (as written in files); absent: any layer. */
  classes?: readonly string[];
  /** The value changes nothing the executor computes (inference or training) given the rest of the config. */
  accept: (value: unknown, config: Json) => boolean;
  /** Why another value changes results, and what to do: the refusal's message. */
  why: string;
  fix: string;
}

const BN = ['BatchNormalization'];
const CONV = ['Conv2D', 'QuantConv2D', 'Convolution2D'];

/**
 * Keys a Keras layer config may carry that the executor does not model. Order is the message order
 * when several are wrong (the first refused key is named).
 */
export const UNMODELED: Readonly<Record<string, KeyRule>> = {
  quantization_config: {
    accept: (v) => v === null,
    why: "Keras's own quantization (model.quantize: int8, int4, float8) changes the kernel's arithmetic and stores other weights",
    fix: 'save the float model (before model.quantize()); binarize with Larq quantizers instead',
  },
  lora_rank: {
    accept: (v) => v === null,
    why: 'a LoRA adapter adds a low-rank product (lora_kernel_a x lora_kernel_b) to the kernel',
    fix: 'merge the adapter into the kernel and save the layer without lora_rank',
  },
  lora_alpha: {
    accept: (v, c) => c.lora_rank === null || c.lora_rank === undefined,
    why: 'it scales a LoRA adapter',
    fix: 'merge the adapter into the kernel and save the layer without lora_rank',
  },
  optional: {
    classes: ['InputLayer'],
    // An optional input may be given as None; we always need it, and given, it computes the same.
    accept: (v) => typeof v === 'boolean',
    why: 'expected true or false',
    fix: 'save the model with a boolean `optional`',
  },
  sparse: { classes: ['InputLayer'], accept: (v) => v === false || v === null, why: 'sparse inputs are not supported', fix: 'use a dense input' },
  ragged: { classes: ['InputLayer'], accept: (v) => v === false || v === null, why: 'ragged inputs are not supported', fix: 'use a dense input of fixed shape' },
  synchronized: {
    classes: BN,
    // Cross-replica statistics in distributed training; on one device it computes what the plain layer does.
    accept: (v) => typeof v === 'boolean',
    why: 'expected true or false',
    fix: 'save the model with a boolean `synchronized`',
  },
  renorm: {
    classes: BN,
    accept: (v) => v === false || v === null,
    why: 'batch renormalization (renorm=True) trains with corrected batch statistics and keeps extra weights; the executor has the plain BatchNormalization only',
    fix: 'retrain with renorm=False',
  },
  // Unused unless renorm is on (and renorm on is refused above).
  renorm_clipping: { classes: BN, accept: (_v, c) => c.renorm !== true, why: 'it configures batch renormalization', fix: 'retrain with renorm=False' },
  renorm_momentum: { classes: BN, accept: (_v, c) => c.renorm !== true, why: 'it configures batch renormalization', fix: 'retrain with renorm=False' },
  virtual_batch_size: {
    classes: BN,
    accept: (v) => v === null,
    why: 'ghost batch normalization trains on statistics of virtual sub-batches; the executor normalizes over the whole batch',
    fix: 'retrain with virtual_batch_size=None',
  },
  groups: {
    classes: CONV,
    accept: (v) => v === 1,
    why: 'a grouped convolution (groups > 1) connects each output channel to 1/groups of the input channels; not implemented',
    fix: 'use groups=1',
  },
};

/** Dtype policies by their name: only float32 computes what the executor computes. */
const DTYPE_FIX = 'save the model with the float32 policy (keras.mixed_precision.set_global_policy("float32") before building it)';

function dtypeName(v: unknown, at: string): string {
  // Keras 3: {module, class_name: "DTypePolicy" | "FloatDTypePolicy" | "QuantizedDTypePolicy" ..., config: {name}};
  // tf-keras: {class_name: "Policy", config: {name}}; or the name itself.
  const name = isObject(v) && isObject(v.config) && typeof v.class_name === 'string' && /Policy$/.test(v.class_name) ? v.config.name : v;
  if (name === 'float32') return name;
  if (typeof name === 'string' && /float16|bfloat16/.test(name)) {
    fail(at, `dtype policy "${name}" computes in ${name.includes('bfloat16') ? 'bfloat16' : 'float16'}, which changes results (the executor computes in float32)`, DTYPE_FIX);
  }
  if (isObject(v) && v.class_name === 'QuantizedDTypePolicy') fail(at, `dtype policy ${show(v)} is Keras's own quantization, which changes the kernel's arithmetic`, DTYPE_FIX);
  return fail(at, `dtype ${show(v)}: only float32 layers are supported`, DTYPE_FIX);
}

// ---- serialized objects ----

const MAX_DEPTH = 32;

/** Keys of a serialized object besides class_name and config that only tell Python where the class lives or how it was built. */
const OBJECT_ONLY_KEYS = ['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id'];

/**
 * A config value with every nested serialized object in Keras 2's form: `{class_name, config}` with
 * Keras 3's module / registered_name / build_config left out, and each `dtype` the policy's name
 * (checked: only float32). A refused dtype is named by the layer (`where`) and its key path (`path`).
 */
function canonicalValue(v: unknown, where: string, path: string, depth = 0): unknown {
  if (typeof v !== 'object' || v === null) return v;
  // Keras nests a few levels (a quantizer's config's dtype policy); a deeper value, or a cycle in a
  // hand-built topology, is refused before it can overflow the stack.
  if (depth >= MAX_DEPTH) fail(`${where}, key "${path.split(/[.[]/)[0]}"`, `nests deeper than ${MAX_DEPTH} levels`, 'a Keras config value is a few levels deep; the file is damaged');
  if (Array.isArray(v)) return v.map((e, i) => canonicalValue(e, where, `${path}[${i}]`, depth + 1));
  const o = v as Json;
  const out: Json = {};
  const serialized = typeof o.class_name === 'string' && own(o, 'config');
  for (const [k, e] of Object.entries(o)) {
    if (serialized && OBJECT_ONLY_KEYS.includes(k)) continue;
    put(out, k, k === 'dtype' ? dtypeName(e, `${where}, key "${path}.dtype"`) : canonicalValue(e, where, `${path}.${k}`, depth + 1));
  }
  return out;
}

// ---- layers ----

/** One layer's config in the canonical form; `cls` is its class as written, `where` names it in messages. */
export function canonicalLayerConfig(cls: string, config: unknown, where: string): unknown {
  if (!isObject(config)) return config; // layer-config.ts says what is wrong with it
  const out: Json = {};
  for (const [k, v] of Object.entries(config)) {
    put(out, k, k === 'dtype' ? dtypeName(v, `${where}, key "dtype"`) : canonicalValue(v, where, k));
  }
  if (own(out, 'batch_shape')) {
    // Keras 3's InputLayer: batch_shape is tf-keras's batch_input_shape.
    if (own(out, 'batch_input_shape')) fail(where, 'has both batch_shape (Keras 3) and batch_input_shape (Keras 2)', 'keep one');
    out.batch_input_shape = out.batch_shape;
    delete out.batch_shape;
  }
  for (const [k, rule] of Object.entries(UNMODELED)) {
    if (!own(out, k) || (rule.classes && !rule.classes.includes(cls))) continue;
    if (!rule.accept(out[k], out)) fail(`${where}, key "${k}"`, `got ${show(out[k])}: ${rule.why}`, rule.fix);
    delete out[k];
  }
  return out;
}

/** A call's keyword arguments: those that change nothing are dropped; the rest refused. */
function callKwargs(kwargs: unknown, at: string): void {
  if (kwargs === undefined) return;
  if (!isObject(kwargs)) fail(at, `call kwargs ${show(kwargs)} are not an object`);
  for (const [k, v] of Object.entries(kwargs)) {
    if (v === null) continue; // Keras 3 records mask=None
    if (k === 'training' && v === false) continue; // inference anyway
    if (k === 'training') fail(`${at}, kwarg "training"`, `got ${show(v)}: the layer is called in training mode even at inference (batch statistics, dropout)`, 'call the layer without training=True');
    fail(`${at}, kwarg "${k}"`, `got ${show(v)}: call arguments are not supported`, 'call the layer on its input tensors only');
  }
}

const nonNegativeInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Keras 3's `{class_name: "__keras_tensor__", config: {shape, dtype, keras_history: [layer, node, tensor]}}` as `[layer, node, tensor, {}]`. */
function kerasTensor(t: unknown, at: string): [string, number, number, Json] {
  if (!isObject(t) || t.class_name !== '__keras_tensor__' || !isObject(t.config)) {
    fail(at, `got ${show(t)}, expected a tensor {class_name: "__keras_tensor__", config: {keras_history}}`, 'only tensors may be passed to a layer');
  }
  const h = t.config.keras_history;
  if (!Array.isArray(h) || h.length !== 3 || typeof h[0] !== 'string' || h[0].length === 0 || !nonNegativeInt(h[1]) || !nonNegativeInt(h[2])) {
    fail(`${at}, keras_history`, `got ${show(h)}, expected [layer name, node index, tensor index]`);
  }
  return [h[0], h[1], h[2], {}];
}

/** One inbound node (a call) in the canonical form: Keras 3's {args, kwargs} or Keras 2's list of [layer, node, tensor, kwargs]. */
function canonicalNode(node: unknown, at: string): unknown {
  if (Array.isArray(node)) {
    // Keras 2: kwargs ride on each tensor entry; the same policy applies, then they are dropped.
    return node.map((t, i) => {
      if (Array.isArray(t) && t.length === 4) {
        callKwargs(t[3], `${at}[${i}]`);
        return [t[0], t[1], t[2], {}];
      }
      return t; // parseTopology says what is wrong with it
    });
  }
  if (!isObject(node)) return node;
  for (const k of Object.keys(node)) if (k !== 'args' && k !== 'kwargs') fail(at, `unknown key "${k}" in a Keras 3 inbound node`, 'expected {args, kwargs}');
  if (!Array.isArray(node.args)) fail(`${at}.args`, `got ${show(node.args)}, expected a list`);
  callKwargs(node.kwargs, `${at}.kwargs`);
  if (node.args.length === 0) fail(`${at}.args`, 'a call with no input tensors', 'a layer of a functional model is called on the tensors it reads');
  // A merge layer's args are one list of tensors; other layers' one tensor (or several positional tensors).
  return node.args.flatMap((a, i) => (Array.isArray(a) ? a.map((t, j) => kerasTensor(t, `${at}.args[${i}][${j}]`)) : [kerasTensor(a, `${at}.args[${i}]`)]));
}

/** One entry of a model's `layers` list. */
function canonicalEntry(e: unknown, i: number): unknown {
  if (!isObject(e)) return e;
  const cls = typeof e.class_name === 'string' && e.class_name.length <= 256 ? e.class_name : '?';
  const name = isObject(e.config) && typeof e.config.name === 'string' && e.config.name.length <= 256 ? e.config.name : undefined;
  const where = name === undefined ? `layers[${i}] (${cls})` : `layer "${name}" (${cls})`;
  const out: Json = {};
  for (const [k, v] of Object.entries(e)) {
    if (OBJECT_ONLY_KEYS.includes(k)) continue;
    if (k === 'config') out.config = canonicalLayerConfig(cls, v, where);
    else if (k === 'inbound_nodes' && Array.isArray(v)) out.inbound_nodes = v.map((n, j) => canonicalNode(n, `${where}, inbound_nodes[${j}]`));
    else put(out, k, v);
  }
  return out;
}

// ---- models ----

/** input_layers / output_layers: Keras 3 writes one endpoint as a bare `[name, 0, 0]`. */
function endpoints(v: unknown): unknown {
  return Array.isArray(v) && v.length > 0 && typeof v[0] === 'string' ? [v] : v;
}

function canonicalModelConfig(cls: unknown, cfg: unknown): unknown {
  if (Array.isArray(cfg)) return cfg.map(canonicalEntry); // old Sequential: a bare list of layers
  if (!isObject(cfg)) return cfg;
  const out: Json = {};
  for (const [k, v] of Object.entries(cfg)) {
    if (k === 'layers' && Array.isArray(v)) out.layers = v.map(canonicalEntry);
    else if (k === 'dtype') dtypeName(v, `${cls === 'Sequential' ? cls : 'model'} config, key "dtype"`); // Keras 3's Sequential: the model's policy, checked, then left out
    else if (k === 'input_layers' || k === 'output_layers') out[k] = endpoints(v);
    else put(out, k, v);
  }
  return out;
}

/** A model object `{class_name, config}` (Keras 3's module / registered_name / build_config / compile_config left out). */
function canonicalModel(m: unknown): unknown {
  if (!isObject(m)) return m;
  const out: Json = {};
  for (const [k, v] of Object.entries(m)) {
    if (OBJECT_ONLY_KEYS.includes(k)) continue;
    put(out, k, k === 'config' ? canonicalModelConfig(m.class_name, v) : v);
  }
  return out;
}

/**
 * A modelTopology in either of TF.js's forms (the converter's `{keras_version, backend,
 * model_config}` or tfjs-layers' `{class_name, config, keras_version, backend}`), from Keras 2 or
 * Keras 3, in the canonical form. The input is not modified.
 */
export function canonicalTopology(t: unknown): unknown {
  if (!isObject(t)) return t;
  if (own(t, 'model_config')) return { ...t, model_config: canonicalModel(t.model_config) };
  return canonicalModel(t);
}
