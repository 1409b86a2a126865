// The package as users get it: `npm pack` (prepack builds), install the tarball into a scratch
// project outside the repo, then use it (a) from a plain Node ESM script, (b) from a page bundled
// by Vite with default settings, run in headless Chromium, and (c) from TypeScript with tsc's
// defaults. (a) and (b) check GPU results (pack, then XNOR-popcount GEMM) against the CPU
// references bit for bit; (a) finds the shipped models in the installed package. No adapter = failure.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, startStaticServer, type StaticServer } from './helpers/browser.js';
import { saveModel } from '../src/io/model-files.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VITE_VERSION: string = JSON.parse(readFileSync(join(REPO, 'node_modules/vite/package.json'), 'utf8')).version;
const TYPESCRIPT_VERSION: string = JSON.parse(readFileSync(join(REPO, 'node_modules/typescript/package.json'), 'utf8')).version;
const TIMEOUT = 240_000;

/** What both checks print or show: one JSON object. */
interface CheckResult {
  ok: boolean;
  error?: string;
  adapter?: string;
  backend?: string;
  cases?: { M: number; N: number; K: number; packMismatches: number; gemmMismatches: number; distinctValues: number }[];
  modelMismatches?: number;
  loadedMaxDiff?: number;
  /** Training: the loss over each 10 steps, the last 10 steps' accuracy. */
  losses?: number[];
  trainTop1?: number;
  ms?: number;
  /** Node: where the installed package looks for its shipped models, and the names there. */
  shipped?: { dir: string; names: string[] };
}

// The check itself, shared by the Node script and the page: random floats (seeded, with zeros and
// -0 in them) -> f32 tensors -> GPU pack -> binaryGemm, against packRows and binaryGemmReference.
const CHECK_JS = `
export async function runCheck(bnn, modelSource) {
  const t0 = performance.now();
  const gpu = await bnn.Gpu.create();
  const diff = (x, y) => (x.length !== y.length ? Infinity : x.reduce((n, v, i) => n + (v !== y[i] ? 1 : 0), 0));
  try {
    const cases = [];
    for (const [M, N, K, seed] of [[37, 45, 300, 1], [64, 96, 1024, 2], [5, 3, 31, 3]]) {
      let s = seed >>> 0;
      const rand = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32) * 2 - 1;
      const af = Float32Array.from({ length: M * K }, rand);
      const bf = Float32Array.from({ length: N * K }, rand);
      af[0] = 0; af[1] = -0; bf[0] = -0; bf[1] = 0;
      const a = await bnn.pack(gpu, gpu.upload(af, [M, K], 'f32', 'a'));
      const b = await bnn.pack(gpu, gpu.upload(bf, [N, K], 'f32', 'b'));
      const aRef = bnn.packRows(af, M, K);
      const bRef = bnn.packRows(bf, N, K);
      const aWords = await a.read();
      const bWords = await b.read();
      const c = await bnn.binaryGemm(gpu, a, b);
      const got = await c.read();
      const want = bnn.binaryGemmReference(aRef, bRef, M, N, K);
      cases.push({
        M, N, K,
        packMismatches: diff(aWords, aRef) + diff(bWords, bRef),
        gemmMismatches: got instanceof Int32Array ? diff(got, want) : Infinity,
        distinctValues: new Set(want).size,
      });
    }
    // The executor from the package: a model built with its API, compiled, its binarized hidden
    // activations read by name and compared with the CPU reference.
    const quant = { inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign' };
    const m = bnn.sequential([
      bnn.layers.quantDense({ units: 40, ...quant, inputShape: [70] }),
      bnn.layers.batchNormalization(),
      bnn.layers.quantDense({ units: 10, ...quant }),
      bnn.layers.activation({ activation: 'softmax' }),
    ], { seed: 3 });
    const plan = await bnn.InferencePlan.compile(gpu, m, { maxBatch: 4 });
    const x = Float32Array.from({ length: 4 * 70 }, (_, i) => ((i * 7919) % 13) - 6);
    const got = (await plan.run(x, { outputs: ['quant_dense_1:input'] })).get('quant_dense_1:input').data;
    const want = bnn.referenceForward(m.spec, [x], 4).get('quant_dense_1:input').data;
    const modelMismatches = diff(got, want);
    plan.destroy();
    // A model file (saved with packed binary kernels) loaded the way an app would: a path in
    // Node, a URL relative to the page in the browser.
    const loaded = await bnn.loadModel(modelSource);
    const lp = await bnn.InferencePlan.compile(gpu, loaded, { maxBatch: 2 });
    const lx = Float32Array.from({ length: 2 * 784 }, (_, i) => ((i * 31) % 17) - 8);
    const lgot = (await lp.run(lx)).get(loaded.outputs[0]).data;
    const lwant = bnn.referenceForward(loaded.spec, [lx], 2).get(loaded.outputs[0]).data;
    const loadedMaxDiff = lgot.length === lwant.length ? lgot.reduce((m, v, i) => Math.max(m, Math.abs(v - lwant[i])), 0) : Infinity;
    lp.destroy();
    // Training on the page's (or Node's) GPU: a small BinaryNet MLP on four noisy +-1 prototypes,
    // 40 steps of Adam; the loss must fall and the training accuracy rise.
    const tm = bnn.sequential([
      bnn.layers.quantDense({ units: 48, ...quant, kernelConstraint: 'weight_clip', useBias: false, inputShape: [32] }),
      bnn.layers.batchNormalization(),
      bnn.layers.quantDense({ units: 4, ...quant, kernelConstraint: 'weight_clip', useBias: false }),
      bnn.layers.batchNormalization(),
      bnn.layers.activation({ activation: 'softmax' }),
    ], { seed: 5 });
    let ts = 11;
    const trand = () => (ts = (Math.imul(ts ^ (ts >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
    const protos = Array.from({ length: 4 }, () => Array.from({ length: 32 }, () => (trand() < 0.5 ? -1 : 1)));
    const trainer = await bnn.Trainer.create(gpu, tm, { optimizer: { kind: 'adam', learningRate: 0.01 }, maxBatch: 64 });
    const losses = [];
    let trainTop1 = 0;
    try {
      for (let round = 0; round < 4; round++) {
        for (let step = 0; step < 10; step++) {
          const labels = Uint32Array.from({ length: 64 }, () => Math.floor(trand() * 4));
          const tx = new Float32Array(64 * 32);
          labels.forEach((c, r) => protos[c].forEach((v, k) => (tx[r * 32 + k] = trand() < 0.1 ? -v : v)));
          await trainer.step(tx, labels);
        }
        const mt = await trainer.readMetrics();
        losses.push(mt.loss);
        trainTop1 = mt.top1;
      }
    } finally {
      trainer.destroy();
    }
    const trained = losses[3] < 0.8 * losses[0] && trainTop1 > 0.9;
    const ok = cases.every((c) => c.packMismatches === 0 && c.gemmMismatches === 0 && c.distinctValues > 1) && modelMismatches === 0 && loadedMaxDiff <= 1e-5 && trained;
    return { ok, adapter: gpu.describe(), backend: gpu.adapter.backend, cases, modelMismatches, loadedMaxDiff, losses, trainTop1, ms: Math.round(performance.now() - t0) };
  } finally {
    gpu.destroy();
  }
}
`;

const NODE_SCRIPT = `
import * as bnn from 'webgpu-bnn';
import { runCheck } from './check.js';
let result;
try {
  result = await runCheck(bnn, new URL('./public/model/model.json', import.meta.url).pathname);
  // Shipped models come from the installed package's own models/ (found from its modules' location).
  result.shipped = { dir: await bnn.shippedModelsDir(), names: await bnn.shippedModelNames() };
} catch (err) {
  result = { ok: false, error: String(err && err.stack || err) };
}
console.log(JSON.stringify(result));
process.exitCode = result.ok ? 0 : 1;
`;

const INDEX_HTML = `<!doctype html>
<html>
  <head><meta charset="utf-8"><title>webgpu-bnn package check</title></head>
  <body>
    <pre id="out">running...</pre>
    <script type="module" src="./main.js"></script>
  </body>
</html>
`;

const MAIN_JS = `
import * as bnn from 'webgpu-bnn';
import { runCheck } from './check.js';
runCheck(bnn, 'model/model.json')
  .catch((err) => ({ ok: false, error: String((err && err.stack) || err) }))
  .then((result) => {
    const text = JSON.stringify(result);
    document.getElementById('out').textContent = text;
    document.body.dataset.result = text;
  });
`;

// A TypeScript consumer with tsc's defaults (strict, no skipLibCheck, no `types` list): the
// package's declarations must compile as shipped, WebGPU types included.
const CONSUMER_TS = `
import { Gpu, InferencePlan, evaluate, loadMnist, mnistMlp, rowHits, type Evaluation, type Tensor } from 'webgpu-bnn';
export async function classify(gpu: Gpu): Promise<{ predicted: number; e: Evaluation }> {
  const model = mnistMlp({ hidden: [32] });
  const plan = await InferencePlan.compile(gpu, model, { maxBatch: 1 });
  const probs = (await plan.run(new Float32Array(784))).get(model.outputs[0])!.data;
  const t: Tensor = gpu.upload(new Float32Array(4), [4], 'f32', 'x');
  const device: GPUDevice = gpu.device;
  t.release();
  void device;
  return { predicted: rowHits(probs, 0).predicted, e: await evaluate(gpu, model, await loadMnist({ split: 'test', limit: 2 })) };
}
`;

const CONSUMER_TSCONFIG = { compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true }, files: ['consumer.ts'] };

/** The environment without what an enclosing `npm test` set for the repo (npm_config_local_prefix & co). */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
  for (const key of Object.keys(env)) {
    if (/^npm_(package|lifecycle)_|^npm_config_(local_prefix|prefix|global_prefix)$|^npm_command$|^INIT_CWD$/i.test(key)) delete env[key];
  }
  return env;
}

interface Ran {
  code: number | string | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (or `timeout` ms, then SIGTERM) and resolves with its exit code and output. */
function run(cmd: string, args: string[], cwd: string, timeout = TIMEOUT): Promise<Ran> {
  return new Promise((ok) => {
    execFile(cmd, args, { cwd, env: childEnv(), timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number | string }).code ?? (err as { signal?: string }).signal ?? 'error') : 0;
      ok({ code, stdout, stderr });
    });
  });
}

/** Like run, but rejects with the output's tail unless the command succeeded. */
async function sh(cmd: string, args: string[], cwd: string): Promise<Ran> {
  const r = await run(cmd, args, cwd);
  if (r.code !== 0) {
    const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-40).join('\n');
    throw new Error(`\`${cmd} ${args.join(' ')}\` in ${cwd} failed (exit ${r.code}):\n${tail}`);
  }
  return r;
}

describe('the npm package, installed from its tarball', () => {
  let work = '';
  let project = '';
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      timings[name] = Math.round(performance.now() - t0);
    }
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'bnn-package-test-'));
    const packDir = join(work, 'pack');
    project = join(work, 'project');
    for (const dir of [packDir, project]) mkdirSync(dir);

    // prepack runs the build; the tarball goes to packDir, not into the repo.
    await timed('npm pack', () => sh('npm', ['pack', '--pack-destination', packDir], REPO));
    const tarballs = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
    expect(tarballs, 'npm pack made one tarball').toHaveLength(1);
    const tarball = join(packDir, tarballs[0]);

    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'bnn-scratch', private: true, type: 'module' }, null, 2));
    writeFileSync(join(project, 'check.js'), CHECK_JS);
    writeFileSync(join(project, 'check-node.mjs'), NODE_SCRIPT);
    writeFileSync(join(project, 'index.html'), INDEX_HTML);
    writeFileSync(join(project, 'main.js'), MAIN_JS);
    writeFileSync(join(project, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG, null, 2));
    // A saved model for both checks to load (Vite copies public/ into the page's build).
    await saveModel(mnistMlp({ hidden: [32] }), join(project, 'public/model'), { packBinaryWeights: true });
    // Only the npm registry (through the usual cache) is needed: webgpu (dawn.node inside), wgsl_reflect, vite.
    await timed('npm install', () =>
      sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `vite@${VITE_VERSION}`, `typescript@${TYPESCRIPT_VERSION}`], project),
    );
  }, TIMEOUT);

  afterAll(() => {
    console.log(`package test timings (ms): ${JSON.stringify(timings)}`);
    if (work) rmSync(work, { recursive: true, force: true, maxRetries: 3 });
  });

  it('the tarball holds the built entry points and no sources or tests', () => {
    const dir = join(project, 'node_modules/webgpu-bnn');
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const entry = pkg.exports?.['.'] ?? {};
    for (const file of [entry.import, entry.types, pkg.main, pkg.types]) {
      expect(file, 'package.json names its entry points').toMatch(/^\.\/dist\//);
      expect(existsSync(join(dir, file)), `${file} is in the tarball`).toBe(true);
    }
    const top = readdirSync(dir);
    expect(top).not.toContain('test');
    expect(top).not.toContain('src');
    // The shipped models: their index and layout, each listed model's four files, no checkpoints.
    const index = JSON.parse(readFileSync(join(dir, 'models/index.json'), 'utf8'));
    expect(existsSync(join(dir, 'models/README.md'))).toBe(true);
    for (const name of index.models) {
      expect(readdirSync(join(dir, 'models', name)).sort()).toEqual(['README.md', 'group1-shard1of1.bin', 'model.json', 'preprocessing.json']);
    }
  });

  it('type-checks in a TypeScript project with default settings (no skipLibCheck)', async () => {
    const r = await timed('tsc', () => run('node', ['node_modules/typescript/bin/tsc', '--project', '.'], project, 120_000));
    expect(`${r.stdout}${r.stderr}`.trim(), 'tsc reports no errors').toBe('');
    expect(r.code).toBe(0);
  }, TIMEOUT);

  it(
    'works from a plain Node ESM script',
    async () => {
      const { code, stdout, stderr } = await timed('node check', () => run('node', ['check-node.mjs'], project, 120_000));
      const last = stdout.trim().split('\n').pop() ?? '';
      let result: CheckResult;
      try {
        result = JSON.parse(last);
      } catch {
        throw new Error(`the Node check (exit ${code}) printed no JSON result:\n${stdout}\n${stderr}`);
      }
      console.log(`node: ${last}`);
      if (stderr.trim()) console.log(`node stderr: ${stderr.trim()}`);
      expect(result.error, 'the Node check threw').toBeUndefined();
      expect(result.backend).toMatch(/^node/);
      expect(result.cases).toHaveLength(3);
      expect(result.trainTop1, 'training in Node: accuracy after 40 steps').toBeGreaterThan(0.9);
      const installed = join(project, 'node_modules/webgpu-bnn');
      expect(result.shipped?.dir).toBe(join(installed, 'models'));
      expect(result.shipped?.names).toEqual(JSON.parse(readFileSync(join(installed, 'models/index.json'), 'utf8')).models);
      expect(result.ok, last).toBe(true);
      expect(code, 'the Node script exits by itself, with status 0').toBe(0);
    },
    TIMEOUT,
  );

  it(
    'works bundled by Vite (default settings, no plugin) in headless Chromium',
    async () => {
      const build = await timed('vite build', () => sh('npx', ['--no', 'vite', 'build'], project));
      const buildLog = `${build.stdout}\n${build.stderr}`;
      console.log(`vite build output:\n${buildLog.trim()}`);
      // The Node-only paths (Dawn's `webgpu` package, node:fs) must stay out of the browser bundle,
      // and Vite must not need to warn about them.
      expect(buildLog).not.toMatch(/externalized for browser compatibility/i);
      const assets = readdirSync(join(project, 'dist/assets')).filter((f) => f.endsWith('.js'));
      expect(assets.length).toBeGreaterThan(0);
      for (const f of assets) expect(readFileSync(join(project, 'dist/assets', f), 'utf8')).not.toContain('dawn.node');

      let server: StaticServer | undefined;
      let browser: Browser | undefined;
      const pageLog: string[] = [];
      try {
        server = await startStaticServer(join(project, 'dist'));
        browser = await launchChromium();
        const page = await browser.newPage();
        page.on('console', (m) => pageLog.push(`console.${m.type()}: ${m.text()}`));
        page.on('pageerror', (e) => pageLog.push(`pageerror: ${(e as Error).message}`));
        page.on('requestfailed', (r) => pageLog.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
        const text = await timed('chromium check', async () => {
          await page.goto(server!.url, { waitUntil: 'load' });
          await page
            .waitForFunction(() => document.body?.dataset.result !== undefined, { timeout: 180_000, polling: 100 })
            .catch((err: Error) => {
              throw new Error(`the page wrote no result (${err.message}); page log:\n${pageLog.join('\n')}`);
            });
          return page.evaluate(() => document.body.dataset.result as string);
        });
        console.log(`chromium: ${text}`);
        const result: CheckResult = JSON.parse(text);
        expect(result.error, `the page's check threw; page log:\n${pageLog.join('\n')}`).toBeUndefined();
        expect(result.backend).toBe('browser');
        expect(result.cases).toHaveLength(3);
        expect(result.trainTop1, 'training in Chromium: accuracy after 40 steps').toBeGreaterThan(0.9);
        expect(result.losses![3]).toBeLessThan(0.8 * result.losses![0]);
        expect(result.ok, text).toBe(true);
      } finally {
        await browser?.close();
        await server?.close();
      }
    },
    TIMEOUT,
  );
});
