// The models shipped with the package, by name: models/<name>/ holds model.json, its packed 1-bit
// shard, preprocessing.json and a model card (README.md). Node finds them in the package's own
// models/ directory; a page under a base URL (default: models/ beside the page), listed by index.json.
import { ModelFormatError } from '../model/layer-config.js';
import { clip } from '../model/error-text.js';
import { PREPROCESSING_FILE, loadPreprocessing, readPreprocessing, type Preprocessing } from '../data/datasets.js';
import { ModelFetchError, fetchBounded } from './model-url.js';
import { packageRoot } from './package-root.js';

/** The list of shipped models a page reads (a directory listing is not available over HTTP): `{"models": ["mnist-mlp", ...]}`. */
export const MODELS_INDEX = 'index.json';

/** Where a page looks for shipped models by default: models/ relative to the page (the web app serves the repository's models/ there). */
export const DEFAULT_MODELS_URL = 'models/';

export interface ShippedModelOptions {
  /** Node: the directory of shipped models. Default: $BNN_MODELS_DIR, else the package's own models/. */
  modelsDir?: string;
  /** Browser: the URL of the directory of shipped models, e.g. 'https://cdn.example.com/webgpu-bnn/models/'. Default DEFAULT_MODELS_URL, relative to the page. */
  baseUrl?: string | URL;
  /** Browser: the fetch to use (default the global one). */
  fetch?: typeof fetch;
  /** Browser: each request must finish within this many milliseconds (default 60,000). */
  timeoutMs?: number;
}

/** A name that is no shipped model; `shipped` lists those there are. */
export class UnknownModelError extends ModelFormatError {
  override name = 'UnknownModelError';
  constructor(readonly modelName: string, readonly shipped: readonly string[], message: string) {
    super(message);
  }
}

/** A shipped model's name: lower-case letters and digits in words joined by hyphens ('mnist-mlp'); never a path, a URL or a file name. */
export function isModelName(s: string): boolean {
  return /^[a-z0-9]+(-[a-z0-9]+)*$/.test(s);
}

// As model-files.ts decides between a path and a URL: a page has no file system.
const inBrowser = () => typeof window !== 'undefined';

/** Node: the directory of shipped models (options.modelsDir, else $BNN_MODELS_DIR, else the package's models/). */
export async function shippedModelsDir(options: ShippedModelOptions = {}): Promise<string> {
  const path = await import('node:path');
  if (options.modelsDir !== undefined) return path.resolve(options.modelsDir);
  if (process.env.BNN_MODELS_DIR) return path.resolve(process.env.BNN_MODELS_DIR);
  const root = await packageRoot();
  if (root === null) throw new ModelFormatError("shipped models: webgpu-bnn's own package.json was not found above its modules; pass modelsDir (or set BNN_MODELS_DIR)");
  return path.join(root, 'models');
}

/** The browser's models directory as an absolute URL ending in '/'. */
function modelsUrl(options: ShippedModelOptions): URL {
  const base = String(options.baseUrl ?? DEFAULT_MODELS_URL);
  return new URL(base.endsWith('/') ? base : `${base}/`, typeof location !== 'undefined' ? location.href : undefined);
}

/** The names of the shipped models, sorted: Node lists the directories holding a model.json; a page reads index.json. */
export async function shippedModelNames(options: ShippedModelOptions = {}): Promise<string[]> {
  if (inBrowser()) return namesFromIndex(options);
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const dir = await shippedModelsDir(options);
  const entries = await fs.readdir(dir).catch(() => [] as string[]);
  const names: string[] = [];
  for (const e of entries.filter(isModelName)) if ((await fs.stat(path.join(dir, e, 'model.json')).catch(() => null))?.isFile()) names.push(e);
  return names.sort();
}

/** A small file of the models directory (index.json, a preprocessing.json), fetched with model-url.ts's bounds: same origin, timeout, 1 MiB. */
function fetchSmall(url: URL, what: string, options: ShippedModelOptions): Promise<Uint8Array> {
  const fetchFn = options.fetch ?? fetch;
  return fetchBounded(url, { what, maxBytes: 2 ** 20, origins: new Set([url.origin]), timeoutMs: options.timeoutMs ?? 60_000, fetch: (i, init) => fetchFn(i, init) });
}

async function namesFromIndex(options: ShippedModelOptions): Promise<string[]> {
  const index = new URL(MODELS_INDEX, modelsUrl(options));
  const bytes = await fetchSmall(index, "the shipped models' index", options).catch((e: unknown) => {
    if (!(e instanceof ModelFetchError)) throw e;
    throw new ModelFetchError(e.url, `${e.message}. The shipped models are looked for under ${modelsUrl(options)}: serve the package's models/ directory there, or pass baseUrl`);
  });
  let names: unknown;
  try {
    names = (JSON.parse(new TextDecoder().decode(bytes)) as { models?: unknown }).models;
  } catch (e) {
    throw new ModelFormatError(`${index}: not valid JSON (${clip((e as Error).message)})`);
  }
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string' && isModelName(n))) throw new ModelFormatError(`${index}: expected {"models": [names]}, got models = ${clip(JSON.stringify(names) ?? 'nothing')}`);
  return [...names].sort();
}

/**
 * Where the shipped model `name` is: its directory (Node) or its model.json's URL (browser). An
 * unknown name is an UnknownModelError listing the shipped names and where they were looked for.
 */
export async function locateShippedModel(name: string, options: ShippedModelOptions = {}): Promise<string> {
  if (!isModelName(name)) throw new ModelFormatError(`'${clip(name)}' is not a shipped model's name (lower-case words joined by hyphens, e.g. mnist-mlp); load a file by its path or URL with loadModel`);
  const names = await shippedModelNames(options);
  const where = inBrowser() ? String(modelsUrl(options)) : await shippedModelsDir(options);
  if (!names.includes(name)) {
    const listed = names.length ? `the shipped models are ${names.join(', ')}` : 'no model is shipped there';
    throw new UnknownModelError(name, names, `no shipped model named '${name}' in ${where}: ${listed}`);
  }
  if (inBrowser()) return String(new URL(`${name}/model.json`, where));
  return (await import('node:path')).join(where, name);
}

/** The preprocessing a shipped model was trained with (its preprocessing.json), in Node or a page. */
export async function shippedPreprocessing(name: string, options: ShippedModelOptions = {}): Promise<Preprocessing> {
  const location = await locateShippedModel(name, options);
  if (!inBrowser()) {
    const path = await import('node:path');
    const fs = await import('node:fs/promises');
    const file = path.join(location, PREPROCESSING_FILE);
    if (!(await fs.stat(file).catch(() => null))) throw new ModelFormatError(`${file}: missing; every shipped model has its preprocessing.json (bnn train writes it beside the model)`);
    return loadPreprocessing(location, { shape: [], modelName: name });
  }
  const url = new URL(PREPROCESSING_FILE, location);
  return readPreprocessing(String(url), new TextDecoder().decode(await fetchSmall(url, PREPROCESSING_FILE, options)));
}
