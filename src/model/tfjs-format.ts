// TensorFlow.js Layers model files (model.json + binary weight shards) with Larq's layer classes:
// read and validated completely before use (parseModel), and written back (serializeModel).
//
// model.json: {modelTopology, weightsManifest: [{paths, weights: [{name, shape, dtype, quantization?}]}]}.
// modelTopology is either the converter's {keras_version, backend, model_config: {class_name, config}}
// or tfjs-layers' own {class_name, config, keras_version, backend}. Each manifest group's shards,
// concatenated, hold its weights back to back in order (little-endian, no alignment).
//
// Our extension, b1 (TF.js itself cannot read it): with `serializeModel(spec, {packBinaryWeights:
// true})` the kernel of a layer whose kernel_quantizer is binary is stored as its sign bits, as
// `{name, shape, dtype: 'float32', quantization: {dtype: 'b1', original_dtype: 'float32'}}`: the
// values in row-major order of the Keras shape, bit = value < 0 (0 means +1), 32 per little-endian
// u32, ceil(count / 32) words, pad bits 0 (src/bitpack.ts's packRows with rows = 1). parseModel
// decodes it to +1/-1 floats, all the quantizer makes of the latent weights at inference.

import { packRows, unpackRows, wordsPerRow } from '../bitpack.js';
import {
  ModelFormatError, MERGE_LAYERS, fail, isObject, own, layerClass, layerWeights, readLayerConfig, readQuantizerLayerConfig, positiveInt,
  type LayerSpec, type LayerClass, type LayerConfigs,
} from './layer-config.js';
import { kindOf } from '../layers/index.js';
import { binaryKernel, isQuantized } from '../layers/traits.js';
import { checkedCount, sameShape } from '../layers/shapes.js';
import { canonicalTopology } from './keras-config.js';
import { getQuantizer, serializeQuantizer } from './quantizers.js';
import { clip, show } from './error-text.js';

export { ModelFormatError } from './layer-config.js';

export interface WeightTensor {
  shape: number[];
  data: Float32Array | Int32Array;
}

/** One model input: the layer that reads it and its shape. */
export interface ModelInput {
  /** A functional model's InputLayer, or a Sequential model's first layer (whose input is the model input). */
  name: string;
  /** Without the batch dimension. */
  shape: number[];
}

export interface ModelSpec {
  format: 'sequential' | 'functional';
  name: string;
  /** In the model's order (input_layers); a Sequential model has one. */
  inputs: ModelInput[];
  /** Topological order. The layers without inbound layers are exactly the inputs' layers. */
  layers: LayerSpec[];
  /** Names of the output layers, in the model's order (output_layers); any layer may be one. */
  outputs: string[];
  /** Keyed by `layer/param` (e.g. `quant_dense/kernel`). */
  weights: Map<string, WeightTensor>;
  kerasVersion?: string;
}

/**
 * The shards' bytes: in manifest order, or a loader called with each path and the most bytes the
 * manifest lets that shard hold (what its group's weights still need): a loader should refuse a
 * larger file before reading it.
 */
export type ShardSource = ArrayBuffer[] | ((path: string, maxBytes: number) => Promise<ArrayBuffer | ArrayBufferView>);

type ManifestDType = 'float32' | 'int32';
type StoredDType = ManifestDType | 'uint8' | 'uint16' | 'float16' | 'b1';
const STORED_BYTES: Record<Exclude<StoredDType, 'b1'>, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2 };

interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: ManifestDType;
  stored: StoredDType;
  scale: number;
  min: number;
  bytes: number;
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/**
 * The most bytes a model's weights may take decoded (float32/int32), checked from the manifest
 * before any shard is read: 512 MiB, 134M parameters (VGG16 for ImageNet has 138M; a BNN for the
 * browser has far fewer). A packed (b1) shard of 16 MiB may otherwise declare 2^32 weights.
 */
export const MAX_WEIGHT_BYTES = 512 * 2 ** 20;

/** Parses and validates a model.json (already JSON.parse'd) and its weight shards. Everything is checked before any shard is loaded. */
export async function parseModel(json: unknown, shards: ShardSource): Promise<ModelSpec> {
  if (!isObject(json)) fail('model.json', `not an object`, 'pass the parsed model.json');
  if (own(json, 'format') && json.format !== 'layers-model') {
    fail('model.json', `format is ${show(json.format)}`, 'only TF.js Layers models ("layers-model") are read; convert with --output_format tfjs_layers_model');
  }
  if (!own(json, 'modelTopology')) fail('model.json', 'missing "modelTopology"', 'save with model.save() or tensorflowjs_converter');
  if (!own(json, 'weightsManifest')) fail('model.json', 'missing "weightsManifest"', 'the weights are needed too');
  const topo = parseTopology(json.modelTopology);
  const groups = readManifest(json.weightsManifest);
  const expected = weightParams(topo.layers, topo.inputs);

  // Every manifest weight maps to one expected weight with the same shape, and none is missing.
  const seen = new Set<string>();
  for (const g of groups) {
    for (const w of g.weights) {
      const key = normalizeWeightName(w.name, expected);
      const param = expected.get(key);
      if (!param) fail(`weightsManifest, weight "${w.name}"`, 'belongs to no layer parameter of the model', `expected names: ${[...expected.keys()].slice(0, 8).join(', ')}${expected.size > 8 ? ', ...' : ''}`);
      if (seen.has(key)) fail(`weightsManifest, weight "${w.name}"`, 'appears twice');
      seen.add(key);
      if (!sameShape(param.shape, w.shape)) fail(`weightsManifest, weight "${w.name}"`, `shape [${w.shape}] does not match the layer config, which implies [${param.shape}]`);
      if (w.dtype !== 'float32') fail(`weightsManifest, weight "${w.name}"`, `dtype ${w.dtype}: layer weights must be float32`);
      if (w.stored === 'b1' && !(param.param === 'kernel' && binaryKernel(param.layer))) {
        fail(`weightsManifest, weight "${w.name}"`, `stored as b1 (sign bits), but ${describe(param.layer)} has no binary kernel_quantizer`, 'only the kernels of layers whose kernel_quantizer is binary (ste_sign, approx_sign, swish_sign) can be stored as sign bits');
      }
      w.name = key;
    }
  }
  for (const key of expected.keys()) if (!seen.has(key)) fail(`weightsManifest`, `missing weight "${key}"`, 'the layer config implies it (check use_bias, center, scale)');

  const paths = groups.flatMap((g) => g.paths);
  if (Array.isArray(shards) && shards.length !== paths.length) {
    fail('weight shards', `${shards.length} given for ${paths.length} manifest paths (${paths.join(', ')})`, 'pass one ArrayBuffer per path, in manifest order');
  }
  if (!Array.isArray(shards) && typeof shards !== 'function') fail('weight shards', 'expected an array of ArrayBuffers or a loader function');
  if (!HOST_IS_LITTLE_ENDIAN) fail('weight shards', 'this host is big-endian; shards are read little-endian in place');

  const decoded = groups.reduce((a, g) => a + g.weights.reduce((b, w) => b + 4 * w.shape.reduce((x, y) => x * y, 1), 0), 0);
  if (decoded > MAX_WEIGHT_BYTES) fail('weightsManifest', `the weights take ${decoded.toLocaleString('en-US')} bytes decoded, more than the ${MAX_WEIGHT_BYTES.toLocaleString('en-US')} allowed (MAX_WEIGHT_BYTES)`, 'a model this large is not supported');

  const weights = new Map<string, WeightTensor>();
  let p = 0;
  for (const g of groups) {
    const parts: Uint8Array[] = [];
    const need = g.weights.reduce((a, w) => a + w.bytes, 0);
    let loaded = 0;
    for (const path of g.paths) {
      const part = await loadShard(shards, p++, path, need - loaded);
      loaded += part.length;
      if (loaded > need) fail(`weight shards ${g.paths.join(', ')}`, `more than the ${need} bytes the manifest's weights need (at "${path}")`, 'extra bytes: a wrong shard or manifest');
      parts.push(part);
    }
    if (loaded < need) fail(`weight shards ${g.paths.join(', ')}`, `${loaded} bytes, the manifest's weights need ${need}`, 'the file is truncated or a shard is missing');
    const bytes = concat(parts, need);
    let off = 0;
    for (const w of g.weights) {
      weights.set(w.name, { shape: w.shape, data: decode(w, bytes.subarray(off, off + w.bytes)) });
      off += w.bytes;
    }
  }
  for (const [name, t] of weights) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) fail(`weight "${name}"`, `element ${i} is ${d[i]}`, 'weights must be finite; retrain or fix the checkpoint');
  }
  checkWeightValues(topo.layers, weights);
  return { ...topo, weights };
}

/** Each kind's checks of its loaded weights (BatchNormalization's variances). */
function checkWeightValues(layers: LayerSpec[], weights: Map<string, WeightTensor>): void {
  for (const l of layers) kindOf(l).checkWeights?.(l, (p) => weights.get(`${l.name}/${p}`)?.data, describe(l));
}

// ---- topology ----

type Topology = Omit<ModelSpec, 'weights'>;

const describe = (l: LayerSpec) => `layer "${clip(l.name)}" (${l.class})`;

const ENTRY_KEYS = ['class_name', 'config', 'name', 'inbound_nodes', 'module', 'registered_name', 'build_config'];

/**
 * A model.json's modelTopology (either form, Keras 2 or Keras 3: keras-config.ts makes it canonical
 * first) read and validated: layers in topological order with their output shapes, inputs, outputs.
 */
export function parseTopology(topology: unknown): Topology {
  const t = canonicalTopology(topology);
  if (!isObject(t)) fail('modelTopology', 'not an object');
  let model: unknown = t;
  if (own(t, 'model_config')) model = t.model_config; // the converter's form
  if (!isObject(model)) fail('modelTopology.model_config', 'not an object');
  const kv = t.keras_version ?? (model as Record<string, unknown>).keras_version;
  const kerasVersion = typeof kv === 'string' ? kv : undefined;
  const cls = model.class_name;
  const cfg = model.config;
  if (cls === 'Sequential') return readSequential(cfg, kerasVersion);
  if (cls === 'Functional' || cls === 'Model') return readFunctional(cfg, kerasVersion);
  return fail('modelTopology', `model class ${show(cls)} is not supported`, 'expected Sequential, Functional or Model');
}

function readEntry(e: unknown, i: number, functional: boolean): { cls: LayerClass; name: string; config: LayerConfigs[LayerClass]; raw: Record<string, unknown> } {
  if (!isObject(e)) fail(`layers[${i}]`, 'not an object {class_name, config}');
  // Messages name the layer as soon as its name is known.
  const name = isObject(e.config) && typeof e.config.name === 'string' && e.config.name.length <= 256 ? e.config.name : undefined;
  const at = name === undefined ? `layers[${i}]` : `layers[${i}] "${name}"`;
  for (const k of Object.keys(e)) if (!ENTRY_KEYS.includes(k) || (!functional && k === 'inbound_nodes')) fail(at, `unknown key "${k}"`);
  const cls = layerClass(e.class_name, at);
  const config = cls === 'Quantizer' ? readQuantizerLayerConfig(e.class_name as string, e.config, `${at} (${e.class_name})`) : readLayerConfig(cls, e.config, `${at} (${cls})`);
  if (functional && own(e, 'name') && e.name !== config.name) fail(`layer "${clip(config.name)}" (${cls})`, `entry name ${show(e.name)} differs from config.name`);
  return { cls, name: config.name, config, raw: e };
}

function readLayerList(v: unknown, at: string): unknown[] {
  if (!Array.isArray(v) || v.length === 0) fail(at, 'expected a non-empty list of layers');
  if (v.length > 10000) fail(at, `${v.length} layers, more than 10000`);
  return Array.from(v); // holes become undefined, and are rejected
}

function readSequential(cfg: unknown, kerasVersion?: string): Topology {
  let name = 'sequential';
  let list: unknown;
  let buildShape: unknown;
  if (Array.isArray(cfg)) list = cfg;
  else if (isObject(cfg)) {
    for (const k of Object.keys(cfg)) if (!['name', 'layers', 'build_input_shape', 'trainable'].includes(k)) fail('Sequential config', `unknown key "${k}"`);
    if (own(cfg, 'name')) name = typeof cfg.name === 'string' ? cfg.name : fail('Sequential config, key "name"', 'expected a string');
    list = cfg.layers;
    buildShape = cfg.build_input_shape;
  } else fail('Sequential config', 'expected a list of layers or {name, layers}');
  const entries = readLayerList(list, 'Sequential config, key "layers"').map((e, i) => readEntry(e, i, false));
  const first = entries[0];
  let batchShape = first.config.batch_input_shape;
  if (!batchShape && Array.isArray(buildShape)) batchShape = readLayerConfig('InputLayer', { name: 'input', batch_input_shape: buildShape }, 'Sequential build_input_shape').batch_input_shape;
  if (!batchShape) fail(`layer "${first.name}" (${first.cls})`, 'the first layer has no batch_input_shape, so the input shape is unknown', 'build the model with input_shape=... before saving');
  first.config.batch_input_shape = batchShape; // from build_input_shape: the first layer carries the input shape
  const layers = entries.map((e, i) => ({ class: e.cls, name: e.name, config: e.config, inbound: i === 0 ? [] : [entries[i - 1].name], outputShape: [] }) as LayerSpec);
  for (const l of layers) if (MERGE_LAYERS.includes(l.class)) fail(describe(l), 'a merge layer reads several tensors, so it cannot be in a Sequential model', 'build the model with the functional API');
  checkUnique(layers);
  const inputs = [{ name: layers[0].name, shape: batchShape.slice(1) as number[] }];
  inferShapes(layers, inputs);
  return { format: 'sequential', name, inputs, layers, outputs: [layers[layers.length - 1].name], kerasVersion };
}

/** `[["name", 0, 0], ...]`, the form of input_layers / output_layers: one entry per model input or output. */
function readEndpoints(v: unknown, at: string): string[] {
  if (isObject(v)) fail(at, 'a dict of named inputs or outputs is not supported', 'build the model with a list of inputs and outputs');
  if (!Array.isArray(v) || v.length === 0) fail(at, `got ${show(v)}, expected a non-empty list [[name, 0, 0], ...]`);
  const names = Array.from(v, (ref, i) => {
    const rat = `${at}[${i}]`;
    if (!Array.isArray(ref) || ref.length < 1 || ref.length > 3 || typeof ref[0] !== 'string') fail(rat, `got ${show(ref)}, expected [name, 0, 0]`);
    if (ref.length > 1 && ref[1] !== 0) fail(rat, `node index ${show(ref[1])}, expected 0`, 'shared layers (called more than once) are not supported');
    if (ref.length > 2 && ref[2] !== 0) fail(rat, `tensor index ${show(ref[2])}, expected 0`, 'layers with several output tensors are not supported');
    return ref[0] as string;
  });
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) fail(at, `"${n}" is listed twice`);
    seen.add(n);
  }
  return names;
}

/**
 * Canonical (Keras 2) inbound_nodes: [] or [[["name", 0, 0, {}], ...]]: one node (no shared
 * layers) of one tensor, or of several for a merge layer (MERGE_LAYERS checks the count later).
 */
function readInbound(v: unknown, at: string): string[] {
  if (v === undefined) fail(at, 'missing inbound_nodes');
  if (!Array.isArray(v)) fail(at, `inbound_nodes ${show(v)} is not a list`, 'Keras 2 form [[["name", 0, 0, {}]]] expected');
  if (v.length === 0) return [];
  if (v.length > 1) fail(at, `${v.length} inbound nodes: shared layers are not supported`);
  const node = v[0];
  if (!Array.isArray(node)) fail(at, `inbound node ${show(node)} is neither a list of tensors (Keras 2) nor {args, kwargs} (Keras 3)`);
  if (node.length === 0) fail(at, 'an inbound node of no tensors');
  if (node.length > 1024) fail(at, `an inbound node of ${node.length} tensors, more than 1024`);
  return Array.from(node, (t) => {
    if (!Array.isArray(t) || t.length < 3 || t.length > 4 || typeof t[0] !== 'string' || t[1] !== 0 || t[2] !== 0 || (t.length === 4 && !isObject(t[3]))) {
      fail(at, `inbound tensor ${show(t)} is not ["name", 0, 0, {}]`);
    }
    if (t.length === 4 && Object.keys(t[3] as object).length > 0) fail(at, 'inbound call kwargs are not supported');
    return t[0] as string;
  });
}

function readFunctional(cfg: unknown, kerasVersion?: string): Topology {
  if (!isObject(cfg)) fail('Functional config', 'expected {name, layers, input_layers, output_layers}');
  for (const k of Object.keys(cfg)) if (!['name', 'layers', 'input_layers', 'output_layers', 'trainable'].includes(k)) fail('Functional config', `unknown key "${k}"`);
  const name = cfg.name === undefined ? 'model' : typeof cfg.name === 'string' ? cfg.name : fail('Functional config, key "name"', 'expected a string');
  const entries = readLayerList(cfg.layers, 'Functional config, key "layers"').map((e, i) => readEntry(e, i, true));
  const unordered = entries.map((e) => ({ class: e.cls, name: e.name, config: e.config, inbound: readInbound(e.raw.inbound_nodes, `layer "${e.name}" (${e.cls})`), outputShape: [] }) as LayerSpec);
  checkUnique(unordered);
  const inputNames = readEndpoints(cfg.input_layers, 'Functional config, key "input_layers"');
  const outputs = readEndpoints(cfg.output_layers, 'Functional config, key "output_layers"');
  const byName = new Map(unordered.map((l) => [l.name, l]));
  const inputs = inputNames.map((n) => {
    const l = byName.get(n);
    if (!l) fail('Functional config, key "input_layers"', `names "${n}", which is not a layer`);
    if (l.class !== 'InputLayer') fail(describe(l), 'a model input must be an InputLayer');
    return { name: n, shape: (l.config.batch_input_shape as number[]).slice(1) };
  });
  for (const n of outputs) if (!byName.has(n)) fail('Functional config, key "output_layers"', `names "${n}", which is not a layer`);
  for (const l of unordered) {
    for (const src of l.inbound) if (!byName.has(src)) fail(`layer "${l.name}" (${l.class})`, `inbound node "${src}" is not a layer of the model (dangling)`);
    if (l.inbound.length === 0 && !inputNames.includes(l.name)) fail(`layer "${l.name}" (${l.class})`, 'has no inbound node and is not a model input', 'list every InputLayer in input_layers');
    if (l.class === 'InputLayer' && l.inbound.length > 0) fail(`layer "${l.name}" (InputLayer)`, 'an InputLayer cannot have inbound nodes');
  }
  // Kahn's algorithm: topological order, and any layer left over is on a cycle.
  const order: LayerSpec[] = [];
  const done = new Set<string>();
  let progress = true;
  while (progress) {
    progress = false;
    for (const l of unordered) {
      if (!done.has(l.name) && l.inbound.every((s) => done.has(s))) {
        done.add(l.name);
        order.push(l);
        progress = true;
      }
    }
  }
  const cyclic = unordered.find((l) => !done.has(l.name));
  if (cyclic) fail(`layer "${cyclic.name}" (${cyclic.class})`, 'is on a cycle of inbound nodes', 'a model must be a DAG');
  inferShapes(order, inputs);
  return { format: 'functional', name, inputs, layers: order, outputs, kerasVersion };
}

function checkUnique(layers: LayerSpec[]): void {
  const names = new Set<string>();
  for (const l of layers) {
    if (names.has(l.name)) fail(`layer "${l.name}" (${l.class})`, 'duplicate layer name', 'layer names must be unique');
    names.add(l.name);
  }
}

// ---- shapes: each layer's output shape and the weights its config implies ----



/** [param, shape] pairs in Keras's weight order (the layer table's, src/model/layer-config.ts). */
function layerParams(l: LayerSpec, inShape: number[]): [string, number[]][] {
  return layerWeights(l, inShape[inShape.length - 1]);
}

/** The shapes layer `l` reads: its model input's (a layer without inbound layers reads the input named after it), or its inbound layers' outputs. */
function inShapesOf(l: LayerSpec, outShapes: Map<string, number[]>, inputs: ModelInput[]): number[][] {
  if (l.inbound.length === 0) {
    const s = inputs.find((i) => i.name === l.name)?.shape;
    if (!s) fail(describe(l), 'has no inbound layer and is not a model input', 'layers must be in topological order');
    return [s];
  }
  return l.inbound.map((name) => outShapes.get(name) ?? fail(describe(l), `inbound layer "${name}" comes later or is missing`, 'layers must be in topological order'));
}


function inferShapes(layers: LayerSpec[], inputs: ModelInput[]): void {
  const shapes = new Map<string, number[]>();
  for (const l of layers) {
    const at = describe(l);
    const inShapes = inShapesOf(l, shapes, inputs);
    const merge = MERGE_LAYERS.includes(l.class);
    if (merge && inShapes.length < 2) fail(at, `reads ${inShapes.length} tensor, a merge layer needs at least 2`);
    if (!merge && inShapes.length > 1) fail(at, `reads ${inShapes.length} tensors: only merge layers (${MERGE_LAYERS.join(', ')}) read several`);
    const inShape = inShapes[0];
    const out = kindOf(l).outputShape(l.config, inShapes, at, l.inbound);
    checkedCount(out, at);
    for (const [p, s] of layerParams(l, inShape)) checkedCount(s, `${at}, weight ${p}`);
    l.outputShape = out;
    shapes.set(l.name, out);
  }
}

interface ExpectedWeight {
  shape: number[];
  layer: LayerSpec;
  param: string;
}

/** Every weight the layers' configs imply, keyed `layer/param`, in Keras's order. */
function weightParams(layers: LayerSpec[], inputs: ModelInput[]): Map<string, ExpectedWeight> {
  const shapes = new Map(layers.map((l) => [l.name, l.outputShape]));
  const out = new Map<string, ExpectedWeight>();
  for (const l of layers) {
    for (const [param, shape] of layerParams(l, inShapesOf(l, shapes, inputs)[0])) out.set(`${l.name}/${param}`, { shape, layer: l, param });
  }
  return out;
}

/**
 * The shape of every weight the layers imply, keyed `layer/param`, in Keras's (and the manifest's)
 * order. `inputs` defaults to the layers without inbound layers, shaped by their batch_input_shape.
 */
export function expectedWeights(layers: LayerSpec[], inputs?: ModelInput[]): Map<string, number[]> {
  const ins = inputs ?? layers.filter((l) => l.inbound.length === 0).map((l) => {
    if (!l.config.batch_input_shape) fail(describe(l), 'has no inbound layer and no batch_input_shape', 'pass the model inputs');
    return { name: l.name, shape: l.config.batch_input_shape.slice(1) as number[] };
  });
  return new Map([...weightParams(layers, ins)].map(([k, w]) => [k, w.shape]));
}


/** `quant_dense/kernel`, also with a `:0` suffix or a model-name prefix (`sequential/quant_dense/kernel`). */
function normalizeWeightName(name: string, expected: Map<string, unknown>): string {
  const n = name.endsWith(':0') ? name.slice(0, -2) : name;
  if (expected.has(n)) return n;
  const parts = n.split('/');
  return parts.length >= 2 ? parts.slice(-2).join('/') : n;
}


// ---- manifest and shards ----

function readManifest(m: unknown): { paths: string[]; weights: ManifestWeight[] }[] {
  if (!Array.isArray(m)) fail('weightsManifest', 'not a list of {paths, weights} groups');
  return Array.from(m, (g, gi) => {
    const at = `weightsManifest[${gi}]`;
    if (!isObject(g)) fail(at, 'not an object {paths, weights}');
    if (!Array.isArray(g.paths) || Array.from(g.paths).some((p) => typeof p !== 'string' || p.length === 0)) fail(`${at}.paths`, 'expected a list of shard file names');
    if (!Array.isArray(g.weights)) fail(`${at}.weights`, 'expected a list of {name, shape, dtype}');
    if (g.paths.length === 0 && g.weights.length > 0) fail(`${at}.paths`, 'missing shard paths for the group\'s weights');
    return { paths: Array.from(g.paths) as string[], weights: Array.from(g.weights, (w, wi) => readManifestWeight(w, `${at}.weights[${wi}]`)) };
  });
}

function readManifestWeight(w: unknown, at: string): ManifestWeight {
  if (!isObject(w)) fail(at, 'not an object {name, shape, dtype}');
  if (typeof w.name !== 'string' || w.name.length === 0) fail(at, 'missing "name"');
  const wat = `weight "${clip(w.name)}"`;
  if (!Array.isArray(w.shape) || w.shape.length > 6) fail(wat, `shape ${show(w.shape)} is not a list of sizes`);
  const shape = Array.from(w.shape, (s, i) => (s === 0 ? 0 : positiveInt(s, `${wat}, shape[${i}]`)));
  const count = checkedCount(shape, wat);
  if (w.dtype !== 'float32' && w.dtype !== 'int32') fail(wat, `dtype ${show(w.dtype)} is not supported`, 'float32 and int32 are (with uint8, uint16 or float16 quantization)');
  let stored: StoredDType = w.dtype;
  let scale = 1;
  let min = 0;
  if (own(w, 'quantization') && w.quantization !== null) {
    const q = w.quantization;
    if (!isObject(q)) fail(`${wat}, quantization`, 'not an object {dtype, scale, min}');
    if (q.dtype !== 'uint8' && q.dtype !== 'uint16' && q.dtype !== 'float16' && q.dtype !== 'b1') fail(`${wat}, quantization`, `dtype ${show(q.dtype)} is not supported`, 'uint8, uint16, float16 and b1 (sign bits, our extension) are');
    stored = q.dtype;
    if (stored === 'b1') {
      if (w.dtype !== 'float32' || (own(q, 'original_dtype') && q.original_dtype !== 'float32')) fail(`${wat}, quantization`, 'b1 (sign bits) decodes to float32 only', 'write dtype and original_dtype "float32"');
    } else if (stored !== 'float16') {
      if (typeof q.scale !== 'number' || !Number.isFinite(q.scale) || typeof q.min !== 'number' || !Number.isFinite(q.min)) fail(`${wat}, quantization`, 'scale and min must be finite numbers');
      scale = q.scale;
      min = q.min;
    }
  }
  const bytes = stored === 'b1' ? wordsPerRow(count) * 4 : count * STORED_BYTES[stored];
  return { name: w.name, shape, dtype: w.dtype, stored, scale, min, bytes };
}

async function loadShard(shards: ShardSource, index: number, path: string, maxBytes: number): Promise<Uint8Array> {
  let b: unknown;
  if (Array.isArray(shards)) b = shards[index];
  else {
    try {
      b = await shards(path, maxBytes);
    } catch (e) {
      if (e instanceof ModelFormatError) throw e; // the loader's own typed error, naming the file
      fail(`weight shard "${path}"`, `could not be loaded: ${e instanceof Error ? e.message : String(e)}`, 'check that the file sits beside model.json');
    }
  }
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return fail(`weight shard "${path}"`, 'is missing or not an ArrayBuffer');
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function decode(w: ManifestWeight, bytes: Uint8Array): Float32Array | Int32Array {
  const copy = bytes.slice().buffer; // aligned
  if (w.stored === 'b1') {
    const words = new Uint32Array(copy);
    const count = w.shape.reduce((a, b) => a * b, 1);
    const pad = count % 32 === 0 || words.length === 0 ? 0 : words[words.length - 1] >>> (count % 32);
    if (pad !== 0) fail(`weight "${w.name}"`, `b1 pad bits past element ${count - 1} are set`, 'pack with src/bitpack.ts (rows = 1): pad bits are 0');
    return unpackRows(words, 1, count);
  }
  if (w.stored === 'float32') return new Float32Array(copy);
  if (w.stored === 'int32') return new Int32Array(copy);
  const q = w.stored === 'uint8' ? new Uint8Array(copy) : new Uint16Array(copy);
  const out = w.dtype === 'int32' ? new Int32Array(q.length) : new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = w.stored === 'float16' ? halfToFloat(q[i]) : q[i] * w.scale + w.min;
  if (out instanceof Int32Array && w.stored !== 'float16') for (let i = 0; i < q.length; i++) out[i] = Math.round(q[i] * w.scale + w.min);
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

// ---- writing ----

export interface SerializeOptions {
  /**
   * Store the kernel of every layer whose kernel_quantizer is binary as its sign bits (b1, our
   * extension; see the top of this file): 32x smaller, exact for inference, unreadable by TF.js.
   * A layer with a kernel_quantizer that is not binary is refused (packing would lose information);
   * kernels without a quantizer and all other weights stay float32. Default false.
   */
  packBinaryWeights?: boolean;
}

/** Writes a model as tfjs-layers does (modelTopology holding the class), with one shard (float32/int32, or b1 with packBinaryWeights). */
export function serializeModel(spec: ModelSpec, options: SerializeOptions = {}): { modelJson: Record<string, unknown>; shards: ArrayBuffer[] } {
  const functional = spec.format === 'functional';
  if (spec.layers.length === 0) fail('serializeModel', 'the model has no layers');
  if (!functional) {
    const first = spec.layers[0];
    const last = spec.layers[spec.layers.length - 1];
    if (spec.inputs.length !== 1 || spec.inputs[0].name !== first?.name) fail('serializeModel', 'a Sequential model has one input, read by its first layer', `inputs: ${JSON.stringify(spec.inputs.map((i) => i.name))}`);
    if (spec.outputs.length !== 1 || spec.outputs[0] !== last.name) fail('serializeModel', 'a Sequential model has one output, its last layer', `outputs: ${JSON.stringify(spec.outputs)}`);
  }
  const layers = spec.layers.map((l, i) => {
    const entry = layerEntry(l);
    if (!functional && i === 0) (entry.config as Record<string, unknown>).batch_input_shape ??= [null, ...spec.inputs[0].shape];
    if (functional) {
      entry.name = l.name;
      entry.inbound_nodes = l.inbound.length ? [l.inbound.map((s) => [s, 0, 0, {}])] : [];
    }
    return entry;
  });
  const config = functional
    ? { name: spec.name, layers, input_layers: spec.inputs.map((i) => [i.name, 0, 0]), output_layers: spec.outputs.map((o) => [o, 0, 0]) }
    : { name: spec.name, layers };
  const weights: Record<string, unknown>[] = [];
  const datas: ArrayBufferView[] = [];
  const params = weightParams(spec.layers, spec.inputs);
  for (const name of spec.weights.keys()) if (!params.has(name)) fail('serializeModel', `spec.weights has "${name}", which no layer's config implies`);
  for (const [name, { shape, layer, param }] of params) {
    const t = spec.weights.get(name);
    const at = describe(layer);
    if (!t) fail(at, `weight "${name}" is missing from spec.weights`);
    if (!sameShape(t.shape, shape) || t.data.length !== t.shape.reduce((a, b) => a * b, 1)) fail(at, `weight "${name}" has shape [${t.shape}] and ${t.data.length} values; the config implies [${shape}]`);
    if (options.packBinaryWeights && param === 'kernel' && isQuantized(layer) && (layer.config as { kernel_quantizer: unknown }).kernel_quantizer !== null) {
      const q = getQuantizer((layer.config as { kernel_quantizer: Parameters<typeof getQuantizer>[0] }).kernel_quantizer)!;
      if (!q.binary) fail(`${at}, key "kernel_quantizer"`, `${q.className} is not binary (+-1): packing its kernel to sign bits would lose information`, 'serialize without packBinaryWeights');
      if (!(t.data instanceof Float32Array)) fail(at, `weight "${name}" is not float32`);
      weights.push({ name, shape: shape.slice(), dtype: 'float32', quantization: { dtype: 'b1', original_dtype: 'float32' } });
      datas.push(packRows(t.data, 1, t.data.length));
    } else {
      weights.push({ name, shape: shape.slice(), dtype: (t.data instanceof Int32Array ? 'int32' : 'float32') satisfies ManifestDType });
      datas.push(t.data);
    }
  }
  const total = datas.reduce((a, d) => a + d.byteLength, 0);
  const shard = new Uint8Array(total);
  let off = 0;
  for (const d of datas) {
    shard.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), off);
    off += d.byteLength;
  }
  return {
    modelJson: {
      format: 'layers-model',
      generatedBy: 'webgpu-bnn',
      convertedBy: null,
      modelTopology: { class_name: functional ? 'Functional' : 'Sequential', config, keras_version: spec.kerasVersion ?? 'webgpu-bnn', backend: 'tensorflow' },
      weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights }],
    },
    shards: [shard.buffer],
  };
}

/** One layer's `{class_name, config}` as Keras and Larq write it (quantizers with their Keras layer keys). */
function layerEntry(l: LayerSpec): Record<string, unknown> {
  const written = kindOf(l).written?.(l.config);
  if (written) return { class_name: written.className, config: written.config };
  const config: Record<string, unknown> = { ...l.config, dtype: 'float32' };
  for (const key of ['input_quantizer', 'kernel_quantizer']) {
    const q = config[key];
    if (q !== null && typeof q === 'object') config[key] = serializeQuantizer(getQuantizer(q as Parameters<typeof getQuantizer>[0])!);
  }
  return { class_name: l.class, config };
}
