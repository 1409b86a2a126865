// 'auto' tuning in a page in headless Chromium: the tuning table kept in IndexedDB (the browser's
// TuningStore). A page bundled by Vite from the library's source tunes one launch of a tiny MLP,
// stores the table with a winner no default takes, and a second Gpu.create({ tuning: 'auto' })
// reads it from IndexedDB: its plan takes the winner (describe) and equals the CPU reference; a
// corrupt record is ignored with a warning naming it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libraryPage, type LibraryPage } from './helpers/library-page.js';

interface PageResult {
  error?: string;
  where?: string;
  describe?: string;
  worst?: number;
  corrupt?: { warnings: string[]; described: string };
}

const PAGE = `
import { Gpu, InferencePlan, autotune, collectSites, indexedDbTuningStore, layers, referenceForward, saveTuningTable, sequential, tuningCacheKey } from 'webgpu-bnn';
const mlp = () => sequential([
  layers.flatten({ inputShape: [40, 1] }),
  layers.quantDense({ units: 36, inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', useBias: false }),
  layers.batchNormalization({ momentum: 0.9 }),
  layers.quantDense({ units: 10, inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', useBias: false }),
  layers.activation({ activation: 'softmax' }),
]);
async function main() {
  const result = {};
  const model = mlp();
  const gpu = await Gpu.create({ tuning: 'default', log: null });
  let table;
  try {
    const sites = await collectSites(gpu, [{ model, batches: [3] }]);
    table = await autotune(gpu, sites.slice(2, 3), { reps: 1, warmup: 0 });
  } finally {
    gpu.destroy();
  }
  table.entries[0] = { ...table.entries[0], winner: 'direct 8x4 k8', params: { gemm: { wgX: 8, wgY: 4, tileK: 8, useWorkgroupTiles: false } } };
  const store = indexedDbTuningStore();
  result.where = await saveTuningTable(store, table);
  const auto = await Gpu.create({ tuning: 'auto', log: null });
  try {
    const plan = await InferencePlan.compile(auto, model, { maxBatch: 3 });
    const x = Float32Array.from({ length: 120 }, (_, i) => Math.sin(i * 1.7));
    const out = model.outputs[0];
    const got = (await plan.run(x)).get(out).data;
    const want = referenceForward(model.spec, [x], 3).get(out).data;
    result.worst = want.reduce((m, v, i) => Math.max(m, Math.abs(got[i] - v) / (1 + Math.abs(v))), 0);
    result.describe = plan.describe();
    plan.destroy();
  } finally {
    auto.destroy();
  }
  await store.write(table.key, 'not a table');
  const warnings = [];
  const again = await Gpu.create({ tuning: 'auto', log: (l) => warnings.push(l) });
  result.corrupt = { warnings, described: again.describe() };
  again.destroy();
  return result;
}
`;

describe("'auto' tuning in headless Chromium (IndexedDB)", () => {
  let page: LibraryPage | undefined;

  beforeAll(async () => {
    page = await libraryPage(PAGE, { title: 'tuning' });
  }, 180_000);

  afterAll(async () => {
    await page?.close();
  });

  it('a table in IndexedDB reaches the plan; a corrupt record is a warning naming it', { timeout: 180_000 }, async () => {
    const r = await page!.result<PageResult>();
    expect(r.error, `the page threw; log:\n${page!.log.join('\n')}`).toBeUndefined();
    expect(r.where).toMatch(/^IndexedDB webgpu-bnn\/tuning\/google-swiftshader/);
    expect(r.describe).toContain(`tuning: auto, table ${r.where}`);
    expect(r.describe).toMatch(/binaryGemm\.threshold M<=4 N36 K128 +tuned: direct 8x4 k8/);
    expect(r.worst).toBeLessThanOrEqual(1e-4);
    expect(r.corrupt!.warnings.join('\n')).toContain(`tuning cache ${r.where} is ignored: not JSON`);
    expect(r.corrupt!.described).toMatch(/auto tuning \(no tuning table: defaults\)/);
  });
});
