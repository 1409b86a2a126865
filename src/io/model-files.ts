// Model files where they live: a model.json and its shards from a directory (Node) or a URL
// (browser or Node), a Keras .h5 or .keras file from a path, a URL or its bytes (read by
// keras-files.ts), and saving one (Node; written to temporary names, then renamed, so a reader
// never sees half a model).
import { Model } from '../model/model.js';
import { ModelFormatError } from '../model/layer-config.js';
import type { SerializeOptions } from '../model/tfjs-format.js';
import { KERAS_FILE_LIMITS, formatFromName, kerasFormat, readKerasModel, type KerasFileLimits } from './keras-files.js';

const isUrl = (s: string) => /^(https?|file|blob|data):/i.test(s) || (typeof window !== 'undefined' && !/^[a-z]:[\\/]/i.test(s));

/** A model file's bytes: an ArrayBuffer, a view, a Blob or a browser File (a Keras .h5 or .keras file). */
export type ModelBytes = ArrayBuffer | ArrayBufferView | Blob;

export interface LoadModelOptions {
  /** Overrides the name's extension for a Keras file; its magic bytes must still agree. */
  format?: 'h5' | 'keras';
  /** Names bytes in errors (and gives their extension). A File's own name is used otherwise. */
  name?: string;
  /** Sizes a Keras file may declare (default KERAS_FILE_LIMITS). */
  limits?: Partial<KerasFileLimits>;
}

/**
 * Loads a model: a TF.js Layers model.json by its path or directory (Node) or URL (shards resolved
 * beside it), or a Keras `.h5` / `.keras` file by path, URL or bytes (format by the extension or
 * options.format, checked against the magic bytes). Everything is validated before it returns.
 */
export async function loadModel(source: string | ModelBytes, options: LoadModelOptions = {}): Promise<Model> {
  if (typeof source !== 'string' || options.format || formatFromName(source) === 'h5' || formatFromName(source) === 'keras') return loadKerasModel(source, options);
  if (isUrl(source)) {
    const url = new URL(source, typeof location !== 'undefined' ? location.href : undefined);
    const res = await fetch(url);
    if (!res.ok) throw new ModelFormatError(`model.json at ${url}: HTTP ${res.status} ${res.statusText}`);
    const json = await parseJson(await res.text(), String(url));
    return Model.fromJSON(json, async (path) => {
      const r = await fetch(new URL(path, url));
      if (!r.ok) throw new Error(`HTTP ${r.status} ${r.statusText}`);
      return r.arrayBuffer();
    });
  }
  const fs = await import('node:fs/promises');
  const pathMod = await import('node:path');
  let file = source;
  const stat = await fs.stat(file).catch(() => null);
  if (!stat) throw new ModelFormatError(`${source}: no such file or directory`);
  if (stat.isDirectory()) file = pathMod.join(file, 'model.json');
  const text = await fs.readFile(file, 'utf8').catch((e: Error) => {
    throw new ModelFormatError(`${file}: cannot be read (${e.message})`);
  });
  const dir = pathMod.dirname(file);
  return Model.fromJSON(await parseJson(text, file), async (path) => {
    if (pathMod.isAbsolute(path) || path.split(/[\\/]/).includes('..')) throw new Error(`shard path "${path}" leaves the model's directory`);
    return fs.readFile(pathMod.join(dir, path));
  });
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
    const res = await fetch(url).catch((e: Error) => {
      throw new ModelFormatError(`${file}: cannot be fetched (${e.message})`);
    });
    if (!res.ok) throw new ModelFormatError(`${file}: HTTP ${res.status} ${res.statusText}`);
    const declared = Number(res.headers.get('content-length'));
    if (declared > max) throw tooLarge(file, declared);
    bytes = new Uint8Array(await res.arrayBuffer());
  } else if (typeof source === 'string') {
    file = source;
    const fs = await import('node:fs/promises');
    const stat = await fs.stat(file).catch(() => null);
    if (!stat?.isFile()) throw new ModelFormatError(`${file}: ${stat ? 'not a file' : 'no such file'}`);
    if (stat.size > max) throw tooLarge(file, stat.size);
    bytes = new Uint8Array(await fs.readFile(file));
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

async function parseJson(text: string, where: string): Promise<unknown> {
  const other = text.startsWith('PK\u0003\u0004') ? 'a zip archive (.keras)' : text.slice(1, 4) === 'HDF' ? 'an HDF5 file (.h5)' : undefined;
  if (other) throw new ModelFormatError(`${where}: named as JSON (model.json), but its bytes are ${other}; rename it to its format's extension`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(`${where}: not valid JSON (${(e as Error).message})`);
  }
}

/** Writes model.json and its shard into `dir` (created if needed). Node only. */
export async function saveModel(model: Model, dir: string, options: SerializeOptions = {}): Promise<string[]> {
  const fs = await import('node:fs/promises');
  const pathMod = await import('node:path');
  await fs.mkdir(dir, { recursive: true });
  const { modelJson, shards } = model.toJSON(options);
  const paths = (modelJson.weightsManifest as { paths: string[] }[]).flatMap((g) => g.paths);
  const files: [string, Uint8Array | string][] = [...paths.map((p, i): [string, Uint8Array] => [p, new Uint8Array(shards[i])]), ['model.json', JSON.stringify(modelJson)]];
  for (const [name, data] of files) {
    const target = pathMod.join(dir, name);
    const tmp = `${target}.tmp-${process.pid}`;
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, target); // shards first, model.json last: a model.json always finds its shards
  }
  return files.map(([n]) => pathMod.join(dir, n));
}
