// The autotuner (src/tune/) and its table (src/gpu/tuning-table.ts, tuning-cache.ts) on tiny shapes,
// with a temporary cache directory: every variant equals the reference, the cache round-trips, a
// corrupt or stale cache is ignored with a warning, 'auto' plans take the cached winners.
// Every Gpu names its tuning, so the file means the same in CI's BNN_TUNING=gpu pass.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Gpu } from '../src/gpu/context.js';
import { ConfigError } from '../src/gpu/errors.js';
import { fileTuningStore, indexedDbTuningStore, loadTuningTable, saveTuningTable, tuningCacheKey, type IdbFactoryLike } from '../src/gpu/tuning-cache.js';
import { TUNING_SCHEMA, parseTuningTable, shapeClass, type TuningSite, type TuningTable } from '../src/gpu/tuning-table.js';
import { referenceForward } from '../src/model/reference.js';
import { tuningMlp } from './helpers/tuning-mlp.js';
import { batchNormForward } from '../src/ops/batchnorm.js';
import { InferencePlan } from '../src/plan/plan.js';
import { Random } from '../src/random.js';
import { autotune, collectSites, formatTuningTable, pickWinner, tuneSite } from '../src/tune/autotune.js';
import { variantsFor } from '../src/tune/variants.js';
import { PACKAGE_VERSION } from '../src/version.js';

const conv = { strides: [1, 1] as [number, number], dilation: [1, 1] as [number, number], padding: 'same' as const };
/** One tiny site per tuned kernel and epilogue. */
const SITES: TuningSite[] = [
  { kernel: 'binaryGemm', epilogue: 'i32', M: 5, N: 20, K: 70 },
  { kernel: 'binaryGemm', epilogue: 'affine', M: 3, N: 33, K: 130 },
  { kernel: 'binaryGemm', epilogue: 'threshold', M: 6, N: 40, K: 256 },
  { kernel: 'bconv2d', epilogue: 'threshold', M: 2 * 25, N: 9, K: 9 * 40, conv: { input: [2, 5, 5, 40], kernel: [9, 3, 3, 40], ...conv, padValues: 0 } },
  { kernel: 'bconv2d', epilogue: 'affine', M: 16, N: 7, K: 9 * 20, conv: { input: [1, 4, 4, 20], kernel: [7, 3, 3, 20], ...conv, padValues: 1 } },
  { kernel: 'binaryFloatGemm', M: 4, N: 12, K: 50 },
  { kernel: 'signTableGemm', M: 4, N: 12, K: 50 },
  { kernel: 'gemmF32', M: 7, N: 9, K: 30 },
  { kernel: 'batchNormStats', M: 37, N: 11, K: 0 },
  { kernel: 'batchNormBackward', M: 37, N: 11, K: 0 },
];

let dir: string;
let gpu: Gpu;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bnn-tune-'));
  gpu = await Gpu.create({ log: null, tuning: 'default' });
});
afterAll(() => {
  gpu?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('variants', () => {
  test.each(SITES.map((s) => [shapeClass(s), s] as const))('every variant of %s equals the CPU reference', async (_, site) => {
    const r = await tuneSite(gpu, site, { reps: 1, warmup: 0 });
    expect(r.wrong).toEqual({});
    expect(Object.keys(r.medianMs).sort()).toEqual(variantsFor(gpu, site).map((v) => v.name).sort());
    expect(r.medianMs[r.defaultVariant]).toBeGreaterThan(0);
    expect(r.medianMs[r.winner]).toBeLessThanOrEqual(r.medianMs[r.defaultVariant]!);
  });

  test("BatchNorm tries the subgroup reduction where the adapter offers 'subgroups' (SwiftShader does)", () => {
    const names = variantsFor(gpu, SITES.at(-1)!).map((v) => v.name);
    expect(names.includes('subgroup reduction')).toBe(gpu.features.subgroups);
  });

  test('bad tuning values are ConfigErrors naming the fix', async () => {
    const x = gpu.upload(new Float32Array(12), [4, 3], 'f32');
    try {
      await expect(batchNormForward(gpu, x, { reduction: 'tree' as never })).rejects.toThrow(ConfigError);
      await expect(batchNormForward(gpu, x, { reduction: 'tree' as never })).rejects.toThrow(/'workgroup', 'serial' or 'subgroup'/);
    } finally {
      x.release();
    }
    await expect(Gpu.create({ log: null, tuning: 'fastest' as never })).rejects.toThrow(ConfigError);
  });
});

describe('pickWinner (no GPU)', () => {
  const t = (o: Record<string, number[]>) => new Map(Object.entries(o));
  test('a challenger wins only when faster in 3 of 4 paired repetitions and by more than the margin in the median pair', () => {
    expect(pickWinner('d', t({ d: [10, 10, 10, 10], a: [8, 8, 8, 8] }), 0.1)).toEqual({ name: 'a', speedup: 1.25 });
    expect(pickWinner('d', t({ d: [10, 10, 10, 10], a: [8, 8, 8, 8], b: [5, 5, 5, 5] }), 0.1)).toEqual({ name: 'b', speedup: 2 });
    // The regression: a challenger whose own median is lower (10.5 against 15) but that lost half
    // its pairs (load swinging between repetitions) does not replace the default.
    expect(pickWinner('d', t({ d: [10, 20, 10, 20], a: [12, 9, 12, 9] }), 0.1)).toEqual({ name: 'd', speedup: 1 });
    expect(pickWinner('d', t({ d: [10, 10, 10], a: [9.5, 9.5, 9.5] }), 0.1)).toEqual({ name: 'd', speedup: 1 }); // within the margin
    expect(pickWinner('d', t({ d: [10, 10], a: [5, 5] }), 0.1)).toEqual({ name: 'd', speedup: 1 }); // too few pairs
    expect(pickWinner('d', t({ d: [10, 10, 10, 10], a: [5] }), 0.1)).toEqual({ name: 'd', speedup: 1 }); // timed once (pruned)
  });

  test('without a correct default the fastest correct variant wins; none correct: null', () => {
    expect(pickWinner('d', t({ a: [3, 3], b: [2, 2] }), 0.1)).toEqual({ name: 'b', speedup: 1 });
    expect(pickWinner('d', t({}), 0.1)).toBeNull();
  });
});

describe('the cache', () => {
  test('the key names the adapter, the package version and the schema; PACKAGE_VERSION is package.json\'s', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(PACKAGE_VERSION).toBe(pkg.version);
    const key = tuningCacheKey(gpu.adapter);
    expect(key).toContain(`-v${PACKAGE_VERSION}-s${TUNING_SCHEMA}-`);
    expect(tuningCacheKey({ ...gpu.adapter, description: `${gpu.adapter.description} driver 2` })).not.toBe(key);
    expect(tuningCacheKey(gpu.adapter, '9.9.9')).not.toBe(key);
  });

  test('a table round-trips through the file store in BNN_CACHE_DIR', async () => {
    const store = await fileTuningStore({ BNN_CACHE_DIR: dir });
    const table = await autotune(gpu, SITES.slice(0, 2), { reps: 1, warmup: 0 });
    const where = await saveTuningTable(store, table);
    expect(where).toBe(join(dir, `tuning-${table.key}.json`));
    const warnings: string[] = [];
    expect(await loadTuningTable(store, table.key, (l) => warnings.push(l))).toEqual(table);
    expect(warnings).toEqual([]);
    expect(formatTuningTable(table)).toContain(table.entries[0].shape);
    // A second model's shapes are added to the table, the first's kept.
    const more = await autotune(gpu, SITES.slice(7, 8), { reps: 1, warmup: 0 }, table);
    expect(more.entries.map((e) => e.shape)).toEqual([...table.entries, ...more.entries.slice(2)].map((e) => e.shape));
  });

  test('a corrupt, stale or foreign cache is ignored with a warning naming the file, never an error', async () => {
    const store = await fileTuningStore({ BNN_CACHE_DIR: dir });
    const key = tuningCacheKey(gpu.adapter);
    const file = store.where(key);
    const good = await autotune(gpu, SITES.slice(7, 8), { reps: 1, warmup: 0 });
    const cases: [string, RegExp][] = [
      ['{"schema": 1, "key": ', /not JSON/],
      [JSON.stringify({ ...good, schema: TUNING_SCHEMA + 1 }), /schema/],
      [JSON.stringify({ ...good, key: 'other' }), /another adapter/],
      [JSON.stringify({ ...good, entries: [{ ...good.entries[0], params: { gemm: { wgX: 0, wgY: 1, tileK: 1, useWorkgroupTiles: false } } }] }), /wgX/],
    ];
    for (const [text, why] of cases) {
      writeFileSync(file, text);
      const lines: string[] = [];
      const g = await Gpu.create({ log: (l) => lines.push(l), tuning: 'auto', tuningStore: store });
      try {
        expect(g.tuned.table).toBeNull();
        expect(lines.join('\n')).toContain(file);
        expect(lines.join('\n')).toMatch(why);
        expect(g.describe()).toMatch(/auto tuning \(no tuning table: defaults\)/);
      } finally {
        g.destroy();
      }
    }
  });

  test('the IndexedDB store has the file store\'s shape (a fake IndexedDB: no browser in this test)', async () => {
    const store = indexedDbTuningStore(fakeIndexedDb());
    expect(await store.read('k')).toBeNull();
    await store.write('k', '{"a":1}');
    expect(await store.read('k')).toBe('{"a":1}');
    expect(store.where('k')).toBe('IndexedDB webgpu-bnn/tuning/k');
    const warnings: string[] = [];
    await store.write('bad', 'nonsense');
    expect(await loadTuningTable(store, 'bad', (l) => warnings.push(l))).toBeNull();
    expect(warnings[0]).toContain('IndexedDB webgpu-bnn/tuning/bad');
  });
});

describe("'auto' tuning", () => {
  test('a plan takes the cached winner (seen in describe) and still equals the reference; shapes not in the table take the defaults, said once', async () => {
    const store = await fileTuningStore({ BNN_CACHE_DIR: dir });
    const model = tuningMlp();
    // Compiling records batch 1, the run batch 3: two layers at each (the first's K padded to 128 bits).
    const sites = await collectSites(gpu, [{ model, batches: [3] }]);
    expect(sites.map((s) => `${s.kernel} ${s.M}x${s.N}x${s.K}`)).toEqual(['binaryGemm 1x36x128', 'binaryGemm 1x10x36', 'binaryGemm 3x36x128', 'binaryGemm 3x10x36']);
    // A winner no default takes, for the first layer at batch 3 only: the other shapes stay out of the table.
    const table: TuningTable = await autotune(gpu, sites.slice(2, 3), { reps: 1, warmup: 0 });
    const forced = { wgX: 8, wgY: 4, tileK: 8, useWorkgroupTiles: false };
    table.entries[0] = { ...table.entries[0], winner: 'direct 8x4 k8', params: { gemm: forced } };
    expect(parseTuningTable(JSON.stringify(table), table.key).table).not.toBeNull();
    await saveTuningTable(store, table);
    const lines: string[] = [];
    const auto = await Gpu.create({ log: (l) => lines.push(l), tuning: 'auto', tuningStore: store });
    try {
      expect(auto.describe()).toMatch(/auto tuning \(1 tuned shapes\)/);
      const plan = await InferencePlan.compile(auto, model, { maxBatch: 3 });
      try {
        const rng = new Random(5);
        const xs = [rng.floats(3 * 40)];
        const got = (await plan.run(xs)).get(model.outputs[0])!.data;
        const want = referenceForward(model.spec, xs, 3).get(model.outputs[0])!.data;
        for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(want[i])));
        const text = plan.describe();
        expect(text).toContain(`tuning: auto, table ${store.where(table.key)}`);
        expect(text).toMatch(new RegExp(`${escape(table.entries[0].shape)} +tuned: direct 8x4 k8`));
        for (const s of [sites[0], sites[1], sites[3]]) expect(text).toMatch(new RegExp(`${escape(shapeClass(s))} +default \\(not in the table\\)`));
        // Each missing shape said once, however often it is launched.
        await plan.run(xs);
        expect(lines.filter((l) => l.includes('is not in the tuning table'))).toHaveLength(3);
      } finally {
        plan.destroy();
      }
    } finally {
      auto.destroy();
    }
  });
});

describe('withTuningTable', () => {
  test("a view of the same device under 'auto' takes the table's winner; the Gpu itself keeps its defaults", async () => {
    const model = tuningMlp();
    const site: TuningSite = { kernel: 'binaryGemm', epilogue: 'threshold', M: 2, N: 36, K: 128 };
    const table = await autotune(gpu, [site], { reps: 1, warmup: 0 });
    table.entries[0] = { ...table.entries[0], winner: 'direct 8x4 k8', params: { gemm: { wgX: 8, wgY: 4, tileK: 8, useWorkgroupTiles: false } } };
    const view = gpu.withTuningTable(table, 'test table');
    expect(view.device).toBe(gpu.device);
    expect(view.tuning).toBe('auto');
    expect(gpu.tuning).toBe('default');
    const plans = [await InferencePlan.compile(gpu, model, { maxBatch: 2 }), await InferencePlan.compile(view, model, { maxBatch: 2 })];
    try {
      const xs = [new Random(9).floats(2 * 40)];
      const [a, b] = [await plans[0].run(xs), await plans[1].run(xs)];
      expect(b.get(model.outputs[0])!.data).toEqual(a.get(model.outputs[0])!.data);
      expect(plans[1].describe()).toMatch(/M<=2 N36 K128 +tuned: direct 8x4 k8/);
      expect(plans[0].describe()).not.toContain('tuning:');
      // Timing the view times its own runs (its own timer), not the Gpu's.
      const timer = view.startTimer();
      await plans[1].run(xs);
      expect(timer === null || (await timer.read()).length === 1).toBe(true);
      view.stopTimer();
    } finally {
      plans.forEach((p) => p.destroy());
    }
  });
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Just enough of IndexedDB for the store: open (with upgrade), one object store, get and put, all async. */
function fakeIndexedDb(): IdbFactoryLike {
  const data = new Map<string, unknown>();
  const later = <T>(result: T, extra: Record<string, unknown> = {}) => {
    const r = { result, error: null, onsuccess: null as null | (() => void), onerror: null, ...extra } as unknown as IDBRequest<T>;
    setTimeout(() => (r as { onsuccess: (() => void) | null }).onsuccess?.());
    return r;
  };
  const objectStore = { get: (k: string) => later(data.get(k)), put: (v: unknown, k: string) => later(data.set(k, v) && k) };
  const db = { transaction: () => ({ objectStore: () => objectStore }), close: () => {}, createObjectStore: () => objectStore };
  return {
    open: () => {
      const r = later(db) as unknown as IDBOpenDBRequest & { onupgradeneeded: (() => void) | null };
      setTimeout(() => (r as { onupgradeneeded: (() => void) | null }).onupgradeneeded?.());
      return r;
    },
  };
}
