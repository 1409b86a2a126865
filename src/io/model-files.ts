// Model files where they live: a model.json and its shards from a directory (Node) or a URL
// (browser or Node, model-url.ts), a Keras .h5 or .keras file from a path, a URL or its bytes (read
// by keras-files.ts), a shipped model by name (shipped-models.ts), and saving one (Node; each file
// written to a temporary name, flushed, then renamed, so a reader never sees half a model).
import { Model } from '../model/model.js';
import { ModelFormatError } from '../model/layer-config.js';
import type { SerializeOptions } from '../model/tfjs-format.js';
import { clip } from '../model/error-text.js';
import { KERAS_FILE_LIMITS, formatFromName, kerasFormat, readKerasModel, type KerasFileLimits } from './keras-files.js';
import { fetchBounded, loadModelFromUrl, type UrlLoadOptions } from './model-url.js';
import { readFileBounded } from './read-bounded.js';
import { isModelName, locateShippedModel, type ShippedModelOptions } from './shipped-models.js';
import { writeFileAtomic } from './write-atomic.js';

const isUrl = (s: string) => /^(https?|file|blob|data):/i.test(s) || (typeof window !== 'undefined' && !/^[a-z]:[\\/]/i.test(s));

/** The largest model.json read (the topology of 10,000 layers fits in a few MB). */
export const MAX_MODEL_JSON_BYTES = 64 * 2 ** 20;

/** A model file's bytes: an ArrayBuffer, a view, a Blob or a browser File (a Keras .h5 or .keras file). */
export type ModelBytes = ArrayBuffer | ArrayBufferView | Blob;

export interface LoadModelOptions extends UrlLoadOptions, Omit<ShippedModelOptions, 'fetch' | 'timeoutMs'> {
  /** Overrides the name's extension for a Keras file; its magic bytes must still agree. */
  format?: 'h5' | 'keras';
  /** Names bytes in errors (and gives their extension). A File's own name is used otherwise. */
  name?: string;
  /** Sizes a Keras file may declare (default KERAS_FILE_LIMITS). */
  limits?: Partial<KerasFileLimits>;
}

/**
 * Loads a model: a TF.js Layers model.json by its path or directory (Node) or URL (fetched; shards
 * resolved beside it, see model-url.ts), a Keras `.h5` / `.keras` file by path, URL or bytes
 * (format by the extension or options.format, checked against the magic bytes), or a shipped
 * model by name ('mnist-mlp', as `pretrained`; in Node an existing path of that name wins). Everything is
 * validated before the model is returned. Files are read with bounds (read-bounded.ts): model.json
 * and its shards are regular files inside model.json's directory by their real path (no symbolic
 * link out of it), none larger than MAX_MODEL_JSON_BYTES or what the manifest says its weights
 * still need; a Keras file no larger than limits.maxBytes.
 */
export async function loadModel(source: string | ModelBytes, options: LoadModelOptions = {}): Promise<Model> {
  // A bare name ('mnist-mlp') is a shipped model's, unless (Node) a file or directory of that name exists: the path wins.
  if (typeof source === 'string' && options.format === undefined && isModelName(source)) {
    const exists = !isUrl(source) && (await (await import('node:fs/promises')).stat(source).catch(() => null)) !== null;
    if (!exists) source = await locateShippedModel(source, options);
  }
  if (typeof source !== 'string' || options.format || formatFromName(source) === 'h5' || formatFromName(source) === 'keras') return loadKerasModel(source, options);
  if (isUrl(source)) return loadModelFromUrl(source, options);
  const fs = await import('node:fs/promises');
  const pathMod = await import('node:path');
  let file = source;
  const stat = await fs.stat(file).catch(() => null);
  if (!stat) throw new ModelFormatError(`${source}: no such file or directory`);
  if (stat.isDirectory()) file = pathMod.join(file, 'model.json');
  const error = (_f: string, message: string) => new ModelFormatError(message);
  const dir = pathMod.dirname(file);
  const text = new TextDecoder().decode(await readFileBounded(file, { maxBytes: MAX_MODEL_JSON_BYTES, limitReason: 'MAX_MODEL_JSON_BYTES', within: dir, error }));
  try {
    return await Model.fromJSON(await parseJson(text, file), async (path, maxBytes) => {
      if (pathMod.isAbsolute(path) || path.split(/[\\/]/).includes('..')) throw new Error(`shard path "${clip(path)}" leaves the model's directory`);
      return readFileBounded(pathMod.join(dir, path), { maxBytes, limitReason: "what the manifest's weights still need", within: dir, error });
    });
  } catch (e) {
    // The reader names the layer and key; the message names the file too (a shard's error names the shard).
    if (e instanceof ModelFormatError && !e.message.startsWith(dir)) throw new ModelFormatError(`${file}: ${e.message}`);
    throw e;
  }
}

/**
 * A model shipped with the package, by name (`pretrained('mnist-mlp')`): in Node from the package's
 * models/ directory (options.modelsDir or $BNN_MODELS_DIR instead), in a page from
 * options.baseUrl (default 'models/' beside the page). Never a path: an unknown name is an
 * UnknownModelError listing the shipped names. Its preprocessing: shippedPreprocessing(name).
 */
export async function pretrained(name: string, options: LoadModelOptions = {}): Promise<Model> {
  return loadModel(await locateShippedModel(name, options), options);
}

/** A Keras file from a path, a URL or its bytes, its size checked against the limit before it is read. */
async function loadKerasModel(source: string | ModelBytes, options: LoadModelOptions): Promise<Model> {
  const max = options.limits?.maxBytes ?? KERAS_FILE_LIMITS.maxBytes;
  const tooLarge = (where: string, n: number) => new ModelFormatError(`${where}: ${n} bytes, more than the limit of ${max}; raise limits.maxBytes if the file is trusted`);
  let bytes: Uint8Array;
  let file = options.name ?? 'the model bytes';
  if (typeof source === 'string' && isUrl(source)) {
    const url = new URL(source, typeof location !== 'undefined' ? location.href : undefined);
    file = String(url);
    const fetchFn = options.fetch ?? fetch;
    const origins = new Set([url.origin, ...(options.allowedOrigins ?? []).map((o) => new URL(o).origin)]);
    bytes = await fetchBounded(url, { what: 'Keras file', maxBytes: max, origins, timeoutMs: options.timeoutMs ?? 60_000, fetch: (i, init) => fetchFn(i, init) });
  } else if (typeof source === 'string') {
    file = source;
    bytes = await readFileBounded(file, { maxBytes: max, limitReason: 'limits.maxBytes; raise it if the file is trusted', error: (_f, message) => new ModelFormatError(message) });
  } else if (typeof Blob !== 'undefined' && source instanceof Blob) {
    if (!options.name && typeof File !== 'undefined' && source instanceof File) file = source.name;
    if (source.size > max) throw tooLarge(file, source.size);
    bytes = new Uint8Array(await source.arrayBuffer());
  } else if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  } else {
    throw new ModelFormatError(`loadModel: expected a path, a URL, an ArrayBuffer or a Blob/File, got ${Object.prototype.toString.call(source)}`);
  }
  if (bytes.length > max) throw tooLarge(file, bytes.length);
  const format = kerasFormat(bytes, file, options.format ?? formatFromName(file));
  return readKerasModel(bytes, file, { format, limits: options.limits });
}

export async function parseJson(text: string, where: string): Promise<unknown> {
  const other = text.startsWith('PK\u0003\u0004') ? 'a zip archive (.keras)' : text.slice(1, 4) === 'HDF' ? 'an HDF5 file (.h5)' : undefined;
  if (other) throw new ModelFormatError(`${where}: named as JSON (model.json), but its bytes are ${other}; rename it to its format's extension`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(`${where}: not valid JSON (${(e as Error).message})`);
  }
}

/** The files of a saved model, shards first and model.json last (so a model.json always finds its shards). */
export function modelFiles(model: Model, options: SerializeOptions = {}): [string, Uint8Array | string][] {
  const { modelJson, shards } = model.toJSON(options);
  const paths = (modelJson.weightsManifest as { paths: string[] }[]).flatMap((g) => g.paths);
  return [...paths.map((p, i): [string, Uint8Array] => [p, new Uint8Array(shards[i])]), ['model.json', JSON.stringify(modelJson)]];
}

/** Writes model.json and its shard into `dir` (created if needed), each file whole or not at all. Node only. */
export async function saveModel(model: Model, dir: string, options: SerializeOptions = {}): Promise<string[]> {
  const pathMod = await import('node:path');
  const files = modelFiles(model, options);
  for (const [name, data] of files) await writeFileAtomic(pathMod.join(dir, name), data);
  return files.map(([n]) => pathMod.join(dir, n));
}
