// A model fetched by URL (browser or Node) with bounds: shards and redirects only from model.json's
// origin unless more are allowed, a timeout on every request, a byte cap enforced while the body
// streams (so a gzip bomb or an endless shard stops at the cap), and errors that name the URL.
import { Model } from '../model/model.js';
import { ModelFormatError } from '../model/layer-config.js';
import { clip } from '../model/error-text.js';

/** A model file that could not be fetched: a network failure, an HTTP error, a timeout, a refused redirect or origin, too many bytes. */
export class ModelFetchError extends ModelFormatError {
  override name = 'ModelFetchError';
  constructor(readonly url: string, message: string) {
    super(message);
  }
}

export interface UrlLoadOptions {
  /** Origins besides model.json's own that shards may come from and redirects may lead to (e.g. "https://cdn.example.com"). Default: none. */
  allowedOrigins?: string[];
  /** Each request, its body included, must finish within this many milliseconds. Default 60,000. */
  timeoutMs?: number;
  /** The most bytes model.json may have (decoded). Default: MAX_MODEL_JSON_BYTES of model-files.ts. */
  maxJsonBytes?: number;
  /** The fetch to use (default: the global one), e.g. to add headers. */
  fetch?: typeof fetch;
}

const MAX_REDIRECTS = 10;

export async function loadModelFromUrl(source: string, options: UrlLoadOptions = {}): Promise<Model> {
  const url = new URL(source, typeof location !== 'undefined' ? location.href : undefined);
  const origins = new Set([url.origin, ...(options.allowedOrigins ?? []).map((o) => new URL(o).origin)]);
  // Called as a plain function: a browser's fetch throws "Illegal invocation" when called as a method of another object.
  const fetchFn = options.fetch ?? fetch;
  const call: typeof fetch = (input, init) => fetchFn(input, init);
  const get = (u: URL, what: string, maxBytes: number) => fetchBounded(u, { what, maxBytes, origins, timeoutMs: options.timeoutMs ?? 60_000, fetch: call });
  const bytes = await get(url, 'model.json', options.maxJsonBytes ?? 64 * 2 ** 20);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new ModelFormatError(`model.json at ${url}: not valid JSON (${clip((e as Error).message)})`);
  }
  return Model.fromJSON(json, async (path, maxBytes) => {
    let shard: URL;
    try {
      shard = new URL(path, url);
    } catch {
      throw new ModelFormatError(`weight shard "${clip(path)}": not a URL relative to ${url}`);
    }
    return get(shard, `weight shard "${clip(path)}"`, maxBytes);
  });
}

export interface FetchBounds {
  what: string;
  maxBytes: number;
  origins: Set<string>;
  timeoutMs: number;
  fetch: typeof fetch;
}

/** The body of `start`, following redirects by hand so that each hop's origin is checked before it is requested. */
export async function fetchBounded(start: URL, b: FetchBounds): Promise<Uint8Array> {
  const controller = new AbortController();
  let stopped: 'timeout' | 'cap' | null = null;
  const timer = setTimeout(() => {
    stopped = 'timeout';
    controller.abort();
  }, b.timeoutMs);
  const error = (url: URL, problem: string, fix?: string) => new ModelFetchError(String(url), `${b.what} at ${clip(String(url))}: ${problem}${fix ? `; ${fix}` : ''}`);
  const checkOrigin = (url: URL, how: string) => {
    if (url.protocol === 'file:') throw error(url, `${how} a file:// URL, which is not fetched`, 'serve the files over http(s), or load the model from its path');
    if (!b.origins.has(url.origin)) throw error(url, `${how} another origin (${url.origin}), which is not fetched`, 'pass allowedOrigins to allow it');
  };
  const failed = (url: URL, e: unknown) =>
    stopped === 'timeout'
      ? error(url, `no complete answer within ${b.timeoutMs} ms`, 'check the server, or raise timeoutMs')
      : error(url, `the request failed (${clip(String((e as Error)?.cause ?? (e as Error)?.message ?? e))})`);
  try {
    let url = start;
    checkOrigin(url, 'is on');
    for (let hop = 0; ; hop++) {
      let res: Response;
      try {
        res = await b.fetch(url, { redirect: 'manual', signal: controller.signal, credentials: 'same-origin' });
      } catch (e) {
        throw failed(url, e);
      }
      if (res.type === 'opaqueredirect') {
        // A browser hides a manual redirect's target: follow it, and refuse the answer if it came from elsewhere.
        try {
          res = await b.fetch(url, { redirect: 'follow', signal: controller.signal, credentials: 'same-origin' });
        } catch (e) {
          throw failed(url, e);
        }
        if (res.url) checkOrigin(new URL(res.url), 'was redirected to');
      }
      const location = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null;
      if (location !== null) {
        await res.body?.cancel().catch(() => {});
        if (hop >= MAX_REDIRECTS) throw error(url, `more than ${MAX_REDIRECTS} redirects`);
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw error(url, `redirects to "${clip(location)}", which is not a URL`);
        }
        checkOrigin(next, `redirects to ${clip(String(next))},`);
        url = next;
        continue;
      }
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        throw error(url, `HTTP ${res.status} ${res.statusText}`);
      }
      const declared = Number(res.headers.get('content-length'));
      if (!res.headers.get('content-encoding') && declared > b.maxBytes) {
        await res.body?.cancel().catch(() => {});
        throw error(url, `${declared} bytes (Content-Length), more than the ${b.maxBytes} allowed`);
      }
      return await readCapped(res, b.maxBytes, () => {
        stopped = 'cap';
        controller.abort();
        return error(url, `more than the ${b.maxBytes} bytes allowed (counted as the body arrives, decompressed)`);
      }, (e) => failed(url, e));
    }
  } finally {
    clearTimeout(timer);
  }
}

/** The body, read chunk by chunk and stopped as soon as it passes `maxBytes`. */
async function readCapped(res: Response, maxBytes: number, over: () => Error, failed: (e: unknown) => Error): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let part: ReadableStreamReadResult<Uint8Array>;
    try {
      part = await reader.read();
    } catch (e) {
      throw failed(e);
    }
    if (part.done) break;
    total += part.value.length;
    if (total > maxBytes) {
      const e = over();
      await reader.cancel().catch(() => {});
      throw e;
    }
    chunks.push(part.value);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
