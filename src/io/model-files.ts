// Model files where they live: a model.json and its shards from a directory (Node) or a URL
// (browser or Node, model-url.ts), and saving one (Node; each file written to a temporary name,
// flushed, then renamed, so a reader never sees half a model).
import { Model } from '../model/model.js';
import { ModelFormatError } from '../model/layer-config.js';
import type { SerializeOptions } from '../model/tfjs-format.js';
import { clip } from '../model/error-text.js';
import { loadModelFromUrl, type UrlLoadOptions } from './model-url.js';
import { readFileBounded } from './read-bounded.js';
import { writeFileAtomic } from './write-atomic.js';

const isUrl = (s: string) => /^(https?|file|blob|data):/i.test(s) || (typeof window !== 'undefined' && !/^[a-z]:[\\/]/i.test(s));

/** The largest model.json read (the topology of 10,000 layers fits in a few MB). */
export const MAX_MODEL_JSON_BYTES = 64 * 2 ** 20;

/**
 * Loads a TF.js Layers model: `source` is model.json's path or its directory (Node), or its URL
 * (fetched; shards resolved beside it, see model-url.ts). Everything is validated before the
 * model is returned. Files are read with bounds (read-bounded.ts): model.json and its shards are
 * regular files inside model.json's directory by their real path (no symbolic link out of it),
 * none larger than MAX_MODEL_JSON_BYTES or what the manifest says its weights still need.
 */
export async function loadModel(source: string, options: UrlLoadOptions = {}): Promise<Model> {
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

export async function parseJson(text: string, where: string): Promise<unknown> {
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
