// Keras model files read directly, in Node and in browsers: legacy HDF5 `.h5` (Keras 2 and 3: the
// model_config attribute, model_weights/<layer> groups whose weight_names give the order) and
// Keras 3 `.keras` archives (config.json, metadata.json, model.weights.h5 with
// layers/<group>/vars/0..n). Either becomes what the TF.js converter makes of it, a model.json and
// one shard with Keras's weight names, so Model.fromJSON reads and checks it like any model.json.
import { ModelFormatError, fail, isObject, layerWeights, type LayerSpec } from '../model/layer-config.js';
import { Model, defaultName } from '../model/model.js';
import { parseTopology, type ModelInput } from '../model/tfjs-format.js';
import { attribute, child, guard, isDataset, isGroup, isHdf5, openHdf5, readFloat32, type Hdf5Group } from './hdf5.js';
import { readZipEntry, zipEntries } from './zip.js';

export type ModelFileFormat = 'json' | 'h5' | 'keras';

/** What a Keras file may declare before anything is allocated; raise them only for files you trust. */
export interface KerasFileLimits {
  /** The file, an archive entry unpacked, the weights together (bytes). */
  maxBytes: number;
  /** The model config (JSON text, bytes). */
  maxConfigBytes: number;
}

export const KERAS_FILE_LIMITS: Readonly<KerasFileLimits> = Object.freeze({ maxBytes: 2 ** 30, maxConfigBytes: 16 * 2 ** 20 });

/** A model.json and its shards, as the TF.js converter writes them. */
export interface TfjsArtifacts {
  modelJson: Record<string, unknown>;
  shards: ArrayBuffer[];
}

const EXTENSIONS: Record<string, ModelFileFormat> = { '.h5': 'h5', '.hdf5': 'h5', '.keras': 'keras', '.json': 'json' };

/** The format a file name's extension promises (`.h5`/`.hdf5`, `.keras`, `.json`), or undefined. */
export function formatFromName(name: string): ModelFileFormat | undefined {
  const m = /\.[a-z0-9]+$/i.exec(name.replace(/[?#].*$/, ''));
  return m ? EXTENSIONS[m[0].toLowerCase()] : undefined;
}

/** The format a file's first bytes show: the HDF5 signature, a zip local header (PK\x03\x04), or a JSON object. */
export function formatFromBytes(bytes: Uint8Array): ModelFileFormat | undefined {
  if (isHdf5(bytes)) return 'h5';
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'keras';
  const first = bytes.subarray(0, 64).find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09 && b !== 0xef && b !== 0xbb && b !== 0xbf);
  return first === 0x7b ? 'json' : undefined; // '{', after whitespace or a UTF-8 BOM
}

const FORMAT_NAMES: Record<ModelFileFormat, string> = { h5: 'an HDF5 file (.h5)', keras: 'a zip archive (.keras)', json: 'JSON (model.json)' };

/** The Keras format of `bytes`: its extension's (if it has one) and its magic bytes', which must agree. */
export function kerasFormat(bytes: Uint8Array, file: string, byName = formatFromName(file)): 'h5' | 'keras' {
  const byBytes = formatFromBytes(bytes);
  if (!byBytes) throw new ModelFormatError(`${file}: neither an HDF5 file nor a zip archive nor JSON (first bytes ${hex(bytes.subarray(0, 8))})${byName ? `, though named as ${FORMAT_NAMES[byName]}` : ''}; the file is damaged or not a model`);
  if (byName && byName !== byBytes) throw new ModelFormatError(`${file}: named as ${FORMAT_NAMES[byName]}, but its bytes are ${FORMAT_NAMES[byBytes]}; rename it to its format's extension`);
  if (byBytes === 'json') throw new ModelFormatError(`${file}: a model.json, which needs its weight shards: load it by path or URL`);
  return byBytes;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

/**
 * A Keras `.h5` or `.keras` file as the TF.js converter would write it: modelTopology holds the
 * file's own config (read by parseTopology, Keras 2 and 3), the manifest Keras's weight names
 * (`layer/param`) in the file's order. Sizes are checked against the file and `limits` first.
 */
export async function kerasToTfjs(bytes: Uint8Array, file: string, options: { format?: 'h5' | 'keras'; limits?: Partial<KerasFileLimits> } = {}): Promise<TfjsArtifacts> {
  const limits = { ...KERAS_FILE_LIMITS, ...options.limits };
  if (bytes.length > limits.maxBytes) throw new ModelFormatError(`${file}: ${bytes.length} bytes, more than the limit of ${limits.maxBytes}; raise the limit if the file is trusted`);
  const format = options.format ?? kerasFormat(bytes, file);
  return format === 'h5' ? await h5Artifacts(bytes, file, limits) : await kerasArchiveArtifacts(bytes, file, limits);
}

/** A Model from a Keras `.h5` or `.keras` file's bytes; every error names `file`. */
export async function readKerasModel(bytes: Uint8Array, file: string, options: { format?: 'h5' | 'keras'; limits?: Partial<KerasFileLimits> } = {}): Promise<Model> {
  const { modelJson, shards } = await kerasToTfjs(bytes, file, options);
  return named(file, () => Model.fromJSON(modelJson, shards));
}

// ---- .h5 (legacy HDF5: keras.saving.legacy_h5_format) ----

interface Weight {
  name: string;
  shape: number[];
  data: Float32Array;
}

async function h5Artifacts(bytes: Uint8Array, file: string, limits: KerasFileLimits): Promise<TfjsArtifacts> {
  const root = await openHdf5(bytes, file);
  const configText = attribute(root, 'model_config', file);
  if (configText === undefined) fail(file, 'has no model_config attribute: a weights-only file (save_weights)', "save the whole model with model.save('model.h5'), or save it as .keras");
  const config = parseJson(configText, `${file}, attribute model_config`, limits);
  const kerasVersion = attribute(root, 'keras_version', file);
  const topology = { keras_version: typeof kerasVersion === 'string' ? kerasVersion : undefined, backend: 'tensorflow', model_config: config };
  const expected = expectedByLayer(topology, file);
  const weightsGroup = child(root, 'model_weights', file);
  if (!isGroup(weightsGroup)) fail(file, 'has no model_weights group', "not a Keras model file; save with model.save('model.h5')");
  const top = child(weightsGroup, 'top_level_model_weights', file);
  if (isGroup(top) && listAttribute(top, 'weight_names', `${file}, model_weights/top_level_model_weights`).length > 0) {
    fail(`${file}, model_weights/top_level_model_weights`, 'holds variables of the model itself (not of a layer)', 'models with their own variables (subclassed) are not supported');
  }
  const weights: Weight[] = [];
  let total = 0;
  for (const layer of listAttribute(weightsGroup, 'layer_names', `${file}, model_weights`)) {
    const at = `${file}, model_weights/${layer}`;
    const group = child(weightsGroup, layer, at);
    if (!isGroup(group)) fail(at, 'is listed in layer_names but missing');
    const names = listAttribute(group, 'weight_names', at);
    const params = expected.get(layer);
    if (!params) {
      if (names.length > 0) fail(at, `holds ${names.length} weights, but the config has no layer "${layer}" with weights`);
      continue;
    }
    if (names.length !== params.length) fail(at, `holds ${names.length} weights (${names.join(', ')}), but the config implies ${params.length} (${params.map((p) => p[0]).join(', ')})`, 'the weights belong to another model, or use_bias/center/scale differ');
    // By name, as TF.js's converter matches them; Keras writes them in the same order anyway.
    const seen = new Set<string>();
    for (const wname of names) {
      const param = wname.slice(wname.lastIndexOf('/') + 1).replace(/:0$/, '');
      const wat = `${at}/${wname}`;
      const p = params.find(([name]) => name === param);
      if (!p) fail(wat, `"${param}" is not a weight of layer "${layer}", whose config implies ${params.map((q) => q[0]).join(', ')}`);
      if (seen.has(param)) fail(wat, `a second "${param}" for layer "${layer}"`);
      seen.add(param);
      const ds = guard(wat, () => group.get(wname));
      if (!isDataset(ds)) fail(wat, 'is named in weight_names but is not a dataset');
      const w = readFloat32(ds, wat, bytes.length, limits.maxBytes - total);
      total += w.data.byteLength;
      weights.push(checked({ name: `${layer}/${param}`, ...w }, p[1], wat));
    }
    expected.delete(layer);
  }
  for (const [layer, params] of expected) fail(file, `model_weights has no weights for layer "${layer}" (${params.map((p) => p[0]).join(', ')})`);
  return artifacts(topology, weights);
}

// ---- .keras (keras.saving.saving_lib: a zip of config.json, metadata.json, model.weights.h5) ----

async function kerasArchiveArtifacts(bytes: Uint8Array, file: string, limits: KerasFileLimits): Promise<TfjsArtifacts> {
  const entries = zipEntries(bytes, file);
  const entry = async (name: string, max: number) => {
    const e = entries.get(name);
    if (!e) {
      const sharded = name === 'model.weights.h5' && [...entries.keys()].some((n) => n === 'model.weights.json' || n.endsWith('.weights.npz'));
      return fail(`${file}`, `zip entry "${name}" is missing (entries: ${[...entries.keys()].join(', ') || 'none'})`, sharded ? 'sharded or .npz weights are not read: save with model.save("model.keras") without max_shard_size' : 'not a Keras 3 .keras file, or a damaged one');
    }
    return readZipEntry(bytes, e, file, max);
  };
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const config = parseJson(text(await entry('config.json', limits.maxConfigBytes)), `${file}: config.json`, limits);
  if (!isObject(config)) fail(`${file}: config.json`, 'is not a JSON object {class_name, config}');
  let kerasVersion: string | undefined;
  if (entries.has('metadata.json')) {
    const meta = parseJson(text(await entry('metadata.json', limits.maxConfigBytes)), `${file}: metadata.json`, limits);
    if (isObject(meta) && typeof meta.keras_version === 'string') kerasVersion = meta.keras_version;
  }
  const topology = { keras_version: kerasVersion, backend: 'tensorflow', model_config: { class_name: config.class_name, config: config.config } };
  const expected = expectedByLayer(topology, file);
  const h5Bytes = await entry('model.weights.h5', limits.maxBytes);
  const h5File = `${file}: model.weights.h5`;
  const root = await openHdf5(h5Bytes, h5File);
  const groups = layerGroups(root, config, h5File);
  const own = child(root, 'vars', h5File);
  if (isGroup(own) && guard(`${h5File}, vars`, () => own.keys.length) > 0) fail(`${h5File}, vars`, 'holds variables of the model itself (not of a layer)', 'models with their own variables (subclassed) are not supported');
  const weights: Weight[] = [];
  let total = 0;
  for (const [layer, params] of expected) {
    const path = groups.get(layer);
    if (path === undefined) fail(h5File, `has no variables for layer "${layer}" (${params.map((p) => p[0]).join(', ')})`, 'the weights belong to another model');
    const vars = child(root, path, h5File) as Hdf5Group;
    const keys = guard(`${h5File}, ${path}`, () => vars.keys);
    if (keys.length !== params.length || !keys.every((k) => /^(0|[1-9][0-9]*)$/.test(k) && Number(k) < params.length)) {
      fail(`${h5File}, ${path}`, `holds ${keys.length} variables (${keys.slice(0, 8).join(', ')}) for layer "${layer}", whose config implies ${params.length} (${params.map((p) => p[0]).join(', ')})`, 'the weights belong to another model, or use_bias/center/scale differ');
    }
    params.forEach(([param, shape], i) => {
      const at = `${h5File}, ${path}/${i} (layer "${layer}", ${param})`;
      const ds = child(vars, String(i), at);
      if (!isDataset(ds)) fail(at, 'is not a dataset');
      const w = readFloat32(ds, at, h5Bytes.length, limits.maxBytes - total);
      total += w.data.byteLength;
      weights.push(checked({ name: `${layer}/${param}`, ...w }, shape, at));
    });
  }
  for (const [layer, path] of groups) {
    if (expected.has(layer)) continue;
    const n = guard(`${h5File}, ${path}`, () => (child(root, path, h5File) as Hdf5Group).keys.length);
    if (n > 0) fail(`${h5File}, ${path}`, `holds ${n} variables for layer "${layer}", whose config implies none`);
  }
  return artifacts(topology, weights);
}

/**
 * Layer name -> the path of its `vars` group. Keras 3 names the groups after the layer's class
 * (`layers/dense_1/vars`, saving_lib's _save_container_state) and records the layer's name in the
 * group's `name` attribute; files without that attribute (older Keras 3) are matched the way Keras
 * names them: model.layers in order (a Sequential model's without its InputLayer), each its
 * class in snake case, numbered from the second of a kind.
 */
function layerGroups(root: Hdf5Group, config: Record<string, unknown>, at: string): Map<string, string> {
  const layersGroup = child(root, 'layers', at);
  const out = new Map<string, string>();
  if (layersGroup === undefined) return out;
  if (!isGroup(layersGroup)) fail(`${at}, layers`, 'is not a group');
  const unnamed: string[] = [];
  for (const key of guard(`${at}, layers`, () => layersGroup.keys)) {
    const path = `layers/${key}/vars`;
    const vars = child(root, path, `${at}, ${path}`);
    if (!isGroup(vars)) fail(`${at}, layers/${key}`, 'has no vars group', 'nested layers (a model inside a model) are not supported');
    const name = attribute(vars, 'name', `${at}, ${path}`);
    if (typeof name === 'string') {
      if (out.has(name)) fail(`${at}, ${path}`, `names layer "${name}", as ${out.get(name)} does`);
      out.set(name, path);
    } else unnamed.push(key);
    checkNoNestedVariables(child(root, `layers/${key}`, at) as Hdf5Group, `${at}, layers/${key}`);
  }
  if (unnamed.length > 0) {
    const inner = isObject(config.config) ? config.config : {};
    const list = Array.isArray(inner.layers) ? (inner.layers as unknown[]) : [];
    const used = new Map<string, number>();
    for (const l of list) {
      if (!isObject(l) || typeof l.class_name !== 'string' || !isObject(l.config) || typeof l.config.name !== 'string') continue;
      if (config.class_name === 'Sequential' && l.class_name === 'InputLayer') continue; // not in Sequential.layers
      const base = defaultName(l.class_name);
      const n = used.get(base);
      used.set(base, (n ?? -1) + 1);
      const key = n === undefined ? base : `${base}_${n + 1}`;
      if (unnamed.includes(key) && !out.has(l.config.name)) out.set(l.config.name, `layers/${key}/vars`);
    }
  }
  return out;
}

/** Variables only in `vars`: a layer holding sub-layers with their own variables is not one we read. */
function checkNoNestedVariables(group: Hdf5Group, at: string): void {
  for (const key of guard(at, () => group.keys)) {
    if (key === 'vars') continue;
    const c = child(group, key, at);
    if (isDataset(c) || (isGroup(c) && guard(`${at}/${key}`, () => c.keys.length) > 0 && hasDatasets(c, `${at}/${key}`, 0))) {
      fail(`${at}/${key}`, 'holds variables of a nested layer', 'layers built from sub-layers are not supported');
    }
  }
}

function hasDatasets(group: Hdf5Group, at: string, depth: number): boolean {
  if (depth > 16) fail(at, 'groups nested more than 16 deep');
  return guard(at, () => group.keys).some((k) => {
    const c = child(group, k, at);
    return isDataset(c) || (isGroup(c) && hasDatasets(c, `${at}/${k}`, depth + 1));
  });
}

// ---- shared ----

/** Each layer's weights [param, shape] in Keras's order (LAYER_WEIGHTS), keyed by layer name, from the file's config. */
function expectedByLayer(topology: Record<string, unknown>, file: string): Map<string, [string, number[]][]> {
  const topo = named(file, () => parseTopology(topology));
  const shapes = new Map(topo.layers.map((l) => [l.name, l.outputShape]));
  const out = new Map<string, [string, number[]][]>();
  for (const l of topo.layers) {
    const ps = layerWeights(l, channelsIn(l, shapes, topo.inputs));
    if (ps.length > 0) out.set(l.name, ps);
  }
  return out;
}

function channelsIn(l: LayerSpec, shapes: Map<string, number[]>, inputs: ModelInput[]): number {
  const s = l.inbound.length === 0 ? inputs.find((i) => i.name === l.name)!.shape : shapes.get(l.inbound[0])!;
  return s[s.length - 1];
}

function checked(w: Weight, shape: number[], at: string): Weight {
  if (w.shape.length !== shape.length || w.shape.some((s, i) => s !== shape[i])) fail(at, `shape [${w.shape}], the layer config implies [${shape}]`, 'the weights belong to another model');
  return w;
}

function artifacts(topology: Record<string, unknown>, weights: Weight[]): TfjsArtifacts {
  const shard = new Float32Array(weights.reduce((a, w) => a + w.data.length, 0));
  let off = 0;
  for (const w of weights) {
    shard.set(w.data, off);
    off += w.data.length;
  }
  return {
    modelJson: {
      format: 'layers-model',
      generatedBy: `keras v${topology.keras_version ?? 'unknown'}`,
      convertedBy: 'webgpu-bnn',
      modelTopology: topology,
      weightsManifest: [{ paths: ['weights.bin'], weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
    },
    shards: [shard.buffer],
  };
}

function parseJson(text: unknown, at: string, limits: KerasFileLimits): unknown {
  if (typeof text !== 'string') fail(at, `is ${typeof text}, expected JSON text`);
  if (text.length > limits.maxConfigBytes) fail(at, `${text.length} characters, more than the limit of ${limits.maxConfigBytes}`);
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail(at, `not valid JSON (${(e as Error).message})`, 'the file is truncated or damaged');
  }
}

/**
 * A list-of-names attribute (layer_names, weight_names): `name`, or `name0`, `name1`, ... (Keras
 * splits one that outgrows an HDF5 object header: save_attributes_to_hdf5_group).
 */
function listAttribute(o: Hdf5Group, name: string, at: string): string[] {
  const whole = attribute(o, name, at);
  const parts: unknown[] = whole !== undefined ? [whole] : [];
  for (let i = 0; whole === undefined; i++) {
    const part = attribute(o, `${name}${i}`, at);
    if (part === undefined) break;
    parts.push(part);
  }
  if (parts.length === 0) fail(`${at}, attribute ${name}`, 'is missing', 'not a Keras model file, or a damaged one');
  const v = parts.flat();
  if (v.some((s) => typeof s !== 'string')) fail(`${at}, attribute ${name}`, `is ${JSON.stringify(parts)?.slice(0, 60)}, expected a list of names`);
  return v as string[];
}

/** Runs `read`, naming `file` in its ModelFormatErrors (the config's and the manifest's checks name only the layer). */
function named<T>(file: string, read: () => T): T {
  const prefix = (e: unknown) => (e instanceof ModelFormatError && !e.message.startsWith(file) ? new ModelFormatError(`${file}: ${e.message}`) : e);
  try {
    const r = read();
    return (r instanceof Promise ? r.catch((e) => Promise.reject(prefix(e))) : r) as T;
  } catch (e) {
    throw prefix(e);
  }
}
