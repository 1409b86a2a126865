// Where tuning tables are kept, one per adapter: a JSON file in the user's cache directory (Node) or
// an IndexedDB record (browsers), both behind TuningStore, keyed by tuningCacheKey.
import { isBrowser, type AdapterSummary } from './device.js';
import { PACKAGE_VERSION } from '../version.js';
import { ConfigError } from './errors.js';
import { writeFileAtomic } from '../io/write-atomic.js';
import { TUNING_SCHEMA, parseTuningTable, type TuningTable } from './tuning-table.js';

/** A place tables are read from and written to. `where` names the record in warnings and reports. */
export interface TuningStore {
  where(key: string): string;
  /** The stored text, or null if there is none. */
  read(key: string): Promise<string | null>;
  write(key: string, text: string): Promise<void>;
}

/**
 * The key of a table: the adapter (vendor, architecture, device, description: Dawn's description
 * carries the driver's name and version), the package version and the table's schema, as readable
 * text cut to what a file name allows plus a hash of all of it, so any change gives a new key.
 */
export function tuningCacheKey(adapter: Pick<AdapterSummary, 'vendor' | 'architecture' | 'device' | 'description'>, version = PACKAGE_VERSION): string {
  const all = JSON.stringify([adapter.vendor, adapter.architecture, adapter.device, adapter.description, version, TUNING_SCHEMA]);
  let h = 0x811c9dc5;
  for (let i = 0; i < all.length; i++) h = Math.imul(h ^ all.charCodeAt(i), 0x01000193);
  const readable = [adapter.vendor, adapter.architecture, adapter.device].filter(Boolean).join('-').toLowerCase().replace(/[^a-z0-9.-]+/g, '_').slice(0, 60);
  return `${readable || 'adapter'}-v${version}-s${TUNING_SCHEMA}-${(h >>> 0).toString(16).padStart(8, '0')}`;
}

/** Reads the table for `key`; a missing one is null, a corrupt or stale one null with a warning naming the record. */
export async function loadTuningTable(store: TuningStore, key: string, warn: (line: string) => void): Promise<TuningTable | null> {
  let text: string | null;
  try {
    text = await store.read(key);
  } catch (err) {
    warn(`tuning cache ${store.where(key)} could not be read (${(err as Error).message}); ignored, using the defaults`);
    return null;
  }
  if (text === null) return null;
  const { table, why } = parseTuningTable(text, key);
  if (!table) warn(`tuning cache ${store.where(key)} is ignored: ${why}; using the defaults (\`bnn tune\` rewrites it)`);
  return table;
}

export async function saveTuningTable(store: TuningStore, table: TuningTable): Promise<string> {
  await store.write(table.key, JSON.stringify(table, null, 2) + '\n');
  return store.where(table.key);
}

/**
 * Node: $BNN_CACHE_DIR, else $XDG_CACHE_HOME/webgpu-bnn, else $HOME/.cache/webgpu-bnn; file
 * tuning-<key>.json. With none of the three set it throws a ConfigError naming them.
 */
export async function fileTuningStore(env: Record<string, string | undefined> = process.env): Promise<TuningStore> {
  const path = await import('node:path');
  const fs = await import('node:fs/promises');
  const home = env.HOME || env.USERPROFILE;
  if (!env.BNN_CACHE_DIR && !env.XDG_CACHE_HOME && !home) throw new ConfigError('no cache directory for tuning tables: set BNN_CACHE_DIR (or XDG_CACHE_HOME, or HOME)');
  const dir = env.BNN_CACHE_DIR || path.join(env.XDG_CACHE_HOME || path.join(home!, '.cache'), 'webgpu-bnn');
  const file = (key: string) => path.join(dir, `tuning-${key}.json`);
  return {
    where: file,
    read: (key) =>
      fs.readFile(file(key), 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      }),
    write: async (key, text) => {
      await fs.mkdir(dir, { recursive: true });
      await writeFileAtomic(file(key), text);
    },
  };
}

/** The few IndexedDB members the store uses: the browser's `indexedDB`, or a fake in tests. */
export interface IdbFactoryLike {
  open(name: string, version?: number): IDBOpenDBRequest;
}

const IDB_NAME = 'webgpu-bnn';
const IDB_STORE = 'tuning';

/** Browsers: one record per key in the object store 'tuning' of the database 'webgpu-bnn'. */
export function indexedDbTuningStore(factory: IdbFactoryLike = globalThis.indexedDB): TuningStore {
  const request = <T>(r: IDBRequest<T>) =>
    new Promise<T>((resolve, reject) => {
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
    });
  const open = () => {
    const r = factory.open(IDB_NAME, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(IDB_STORE);
    return request(r);
  };
  const withStore = async <T>(mode: IDBTransactionMode, use: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const db = await open();
    try {
      return await request(use(db.transaction(IDB_STORE, mode).objectStore(IDB_STORE)));
    } finally {
      db.close();
    }
  };
  return {
    where: (key) => `IndexedDB ${IDB_NAME}/${IDB_STORE}/${key}`,
    read: async (key) => {
      const v = await withStore('readonly', (s) => s.get(key) as IDBRequest<unknown>);
      return typeof v === 'string' ? v : v === undefined ? null : JSON.stringify(v);
    },
    write: async (key, text) => {
      await withStore('readwrite', (s) => s.put(text, key));
    },
  };
}

/** The store of this environment: IndexedDB in a browser, the cache directory in Node. */
export async function defaultTuningStore(): Promise<TuningStore> {
  return isBrowser() ? indexedDbTuningStore() : fileTuningStore();
}
