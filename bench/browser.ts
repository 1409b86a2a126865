// Runs a benchmark in headless Chromium through puppeteer-core: serves the built library and a
// page on 127.0.0.1, calls the same benchmark code as in Node, and returns its report with the
// browser's version added. TF.js's and ONNX Runtime Web's bundles are served too (an import map
// names them), so the page times both beside ours when the dev dependencies are installed.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { launchChromium, startStaticServer } from './chromium.js';
import type { BenchRun } from './report.js';
import type { RunAllOptions } from './run-all.js';
import type { SuiteName, SuiteOptions, SuiteReport } from './suites.js';

const page = (imports: Record<string, string>) => `<!doctype html>
<meta charset="utf-8">
<title>webgpu-bnn benchmark</title>
<script type="importmap">${JSON.stringify({ imports })}</script>
<script type="module" src="/dist/bench/page.js"></script>
<body>webgpu-bnn benchmark</body>
`;

/** Serves the page and the built library, opens it in headless Chromium, calls `call` on it. */
async function withBenchPage<T>(onProgress: (line: string) => void, call: (page: import('puppeteer-core').Page) => Promise<T>): Promise<{ result: T; version: string }> {
  const dist = join(dirname(fileURLToPath(import.meta.url)), '..'); // dist/ (this file is dist/bench/browser.js)
  const require = createRequire(import.meta.url);
  const wgslReflect = dirname(require.resolve('wgsl_reflect/package.json'));
  const mounts: Record<string, string> = { '/dist/': dist, '/wgsl_reflect/': wgslReflect };
  const imports: Record<string, string> = { 'wgsl_reflect/': '/wgsl_reflect/' };
  // TF.js's self-contained ES module bundles (the backend imports '@tensorflow/tfjs-core' by name).
  for (const [name, bundle, at] of [
    ['@tensorflow/tfjs-core', 'tf-core.fesm.js', '/tfjs-core/'],
    ['@tensorflow/tfjs-backend-webgpu', 'tf-backend-webgpu.fesm.js', '/tfjs-backend-webgpu/'],
  ] as const) {
    try {
      const folder = dirname(require.resolve(name)); // its dist/ folder (main: dist/*.node.js)
      if (!existsSync(join(folder, bundle))) continue;
      mounts[at] = folder;
      imports[name] = at + bundle;
    } catch {
      // not installed: the page reports TF.js as absent
    }
  }
  // ONNX Runtime Web's WebGPU bundle; it loads its .wasm from beside itself (the same folder).
  try {
    const ortDist = dirname(require.resolve('onnxruntime-web')); // dist/ (main: dist/ort.node.min.js; the package exports no package.json)
    if (existsSync(join(ortDist, 'ort.webgpu.bundle.min.mjs'))) {
      mounts['/onnxruntime-web/'] = ortDist;
      imports['onnxruntime-web/webgpu'] = '/onnxruntime-web/ort.webgpu.bundle.min.mjs';
    }
  } catch {
    // not installed: the page reports ORT as absent
  }
  const site = mkdtempSync(join(tmpdir(), 'bnn-bench-page-'));
  writeFileSync(join(site, 'index.html'), page(imports));
  const server = await startStaticServer(site, mounts);
  const browser = await launchChromium();
  try {
    const p = await browser.newPage();
    p.on('pageerror', (err) => onProgress(`page error: ${String(err)}`));
    await p.exposeFunction('bnnProgress', (line: string) => onProgress(line));
    await p.goto(server.url, { waitUntil: 'load' });
    await p.waitForSelector('body[data-ready="1"]', { timeout: 30_000 });
    p.setDefaultTimeout(0);
    const result = await call(p);
    return { result, version: await browser.version() };
  } finally {
    await browser.close();
    await server.close();
    rmSync(site, { recursive: true, force: true });
  }
}

export async function benchInBrowser(
  name: SuiteName,
  options: Omit<SuiteOptions, 'onProgress'>,
  onProgress: (line: string) => void = () => {},
): Promise<SuiteReport & { browser: string }> {
  const { result: report, version } = await withBenchPage(onProgress, (p) => evaluateLong(p, 'bnnRunBench', [name, options]) as Promise<SuiteReport>);
  return { ...report, ...('engine' in report ? { engine: `${version} (${report.engine})` } : {}), browser: version };
}

/** `bnn bench all` in headless Chromium: every suite on the page's WebGPU, one combined report. */
export async function benchAllInBrowser(options: RunAllOptions, onProgress: (line: string) => void = () => {}): Promise<BenchRun> {
  const { result, version } = await withBenchPage(onProgress, (p) => evaluateLong(p, 'bnnRunAll', [options]) as Promise<BenchRun>);
  return { ...result, browser: version };
}

/**
 * Calls window[fn](...args) on the page and waits for its promise by polling: one evaluate that
 * awaited a run of many minutes would hit puppeteer's protocol timeout (180 s).
 */
async function evaluateLong(p: import('puppeteer-core').Page, fn: 'bnnRunBench' | 'bnnRunAll', args: unknown[]): Promise<unknown> {
  await p.evaluate(
    (f, a) => {
      const w = window as unknown as Record<string, unknown> & { bnnDone?: unknown };
      w.bnnDone = undefined;
      (w[f] as (...x: unknown[]) => Promise<unknown>)(...a).then(
        (value) => (w.bnnDone = { value }),
        (err: Error) => (w.bnnDone = { error: String(err?.stack ?? err) }),
      );
    },
    fn,
    args,
  );
  for (;;) {
    await new Promise((ok) => setTimeout(ok, 1000));
    const done = (await p.evaluate(() => (window as unknown as { bnnDone?: unknown }).bnnDone)) as { value?: unknown; error?: string } | undefined;
    if (!done) continue;
    if (done.error !== undefined) throw new Error(`in the page: ${done.error}`);
    return done.value;
  }
}
