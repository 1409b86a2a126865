// The benchmark harness end to end: `bnn bench all --quick` (every suite, tiny shapes, one
// repetition) in headless Chromium writes a report that matches its schema and an HTML report that
// renders (its charts have size, and a screenshot is not blank); `bnn bench compare` reads two.
// Needs the built CLI (npm run build; `npm test` builds first).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { BENCH_SCHEMA, validateRun, type BenchRun } from '../bench/report.js';
import { DEFAULT_SUITES } from '../bench/run-all.js';
import { launchChromium } from './helpers/browser.js';

const run = promisify(execFile);
const bnn = (...args: string[]) => run(process.execPath, ['dist/src/cli/bnn.js', ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
const dir = mkdtempSync(join(tmpdir(), 'bnn-bench-all-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bnn bench all (headless Chromium, --quick)', () => {
  let report: BenchRun;
  let stderr = '';

  test('runs every suite and writes JSON of the documented schema', async () => {
    const out = await bnn('bench', 'all', '--quick', '--out', dir);
    stderr = out.stderr;
    report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as BenchRun;
    expect(validateRun(report)).toEqual([]);
    expect(report.schema).toBe(BENCH_SCHEMA);
    expect(report.env).toBe('chromium');
    expect(report.browser).toMatch(/Chrome/);
    expect(report.failures).toEqual([]);
    expect(Object.keys(report.suites).sort()).toEqual([...DEFAULT_SUITES].sort());
    expect(new Set(report.summary.map((r) => r.suite))).toEqual(new Set(DEFAULT_SUITES));
    // TF.js is served to the page: its column is there for every suite.
    expect(report.tfjs).toMatch(/TensorFlow.js/);
    for (const s of ['gemm', 'conv', 'mlp', 'models', 'train']) expect(report.summary.filter((r) => r.suite === s).every((r) => r.tfjs && r.speedupVsTfjs! > 0)).toBe(true);
    // So is ONNX Runtime Web (its WebGPU bundle and .wasm): its column in the conv, mlp and models suites.
    expect(report.ort).toMatch(/ONNX Runtime Web/);
    for (const s of ['conv', 'mlp', 'models']) expect(report.summary.filter((r) => r.suite === s).every((r) => r.ort && r.speedupVsOrt! > 0)).toBe(true);
    expect(out.stdout).toContain('| case | binary ms');
    // The tuning step (docs/gpu.md's runbook brings it back in the same JSON): the table for this
    // adapter, every variant of every tuned shape timed, and the defaults against 'auto' on each case.
    const tuning = report.tuning!;
    expect(tuning.table.key).toMatch(/swiftshader/);
    expect(tuning.table.entries.length).toBeGreaterThan(0);
    for (const e of tuning.table.entries) {
      expect(e.medianMs[e.winner]).toBeGreaterThan(0);
      expect(e.speedup).toBeGreaterThanOrEqual(1);
    }
    expect(tuning.table.entries.some((e) => e.kernel === 'batchNormBackward' && 'subgroup reduction' in e.medianMs)).toBe(true);
    expect(tuning.cases.map((c) => `${c.case} ${c.batch}`)).toEqual(['mlp (tiny batch) 2', 'mlp training step (tiny batch) 4']);
    for (const c of tuning.cases) expect(c.speedup).toBeGreaterThan(0);
    expect(out.stdout).toContain("the defaults against 'auto'");
    // Progress while it runs: elapsed time, suite n of m.
    const n = DEFAULT_SUITES.length;
    expect(stderr).toMatch(new RegExp(`\\[\\d+:\\d\\d ${n}/${n} train\\] done in`));
  }, 240_000);

  test('validateRun names what is wrong', () => {
    const broken = structuredClone(report) as unknown as Record<string, unknown> & { summary: { binary: { minMs: number } }[] };
    broken.schema = 'other';
    broken.summary[0].binary.minMs = 1e9;
    broken.tuning = { benchmark: 'tune' };
    const errors = validateRun(broken);
    expect(errors.join('\n')).toMatch(/tuning needs benchmark "tune", table.entries and cases/);
    expect(errors.join('\n')).toMatch(/schema must be/);
    expect(errors.join('\n')).toMatch(/summary\[0\]\.binary: min <= median <= max/);
  });

  test('the HTML report renders offline: charts with size, a screenshot that is not blank', async () => {
    const browser = await launchChromium({ extraArgs: ['--offline'] });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1100, height: 800 });
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto('file://' + join(dir, 'report.html'), { waitUntil: 'load' });
      expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]); // self-contained
      const charts = await page.$$eval('svg.chart', (svgs) => svgs.map((s) => ({ w: s.getBoundingClientRect().width, h: s.getBoundingClientRect().height, bars: s.querySelectorAll('rect.bar').length })));
      expect(charts.length).toBe(2 * DEFAULT_SUITES.length); // time and throughput per suite
      for (const c of charts) {
        expect(c.w).toBeGreaterThan(100);
        expect(c.h).toBeGreaterThan(30);
        expect(c.bars).toBeGreaterThan(1);
      }
      expect(await page.title()).toContain('swiftshader');
      const png = (await page.screenshot({ encoding: 'base64' })) as string;
      // Decode the PNG in the page itself (an <img> drawn on a canvas) and count non-white pixels.
      const inked = await page.evaluate(async (data) => {
        const img = new Image();
        img.src = `data:image/png;base64,${data}`;
        await img.decode();
        const canvas = document.createElement('canvas');
        [canvas.width, canvas.height] = [img.width, img.height];
        const ctx = canvas.getContext('2d')!;
        ctx.drawImage(img, 0, 0);
        const px = ctx.getImageData(0, 0, img.width, img.height).data;
        let n = 0;
        for (let i = 0; i < px.length; i += 4) if (px[i] < 240 || px[i + 1] < 240 || px[i + 2] < 240) n++;
        return n / (px.length / 4);
      }, png);
      expect(inked).toBeGreaterThan(0.02); // text, bars and tables; a blank page is 0
    } finally {
      await browser.close();
    }
  }, 60_000);

  test('bnn bench compare: per-case changes between two reports', async () => {
    const file = join(dir, 'report.json');
    const { stdout } = await bnn('bench', 'compare', file, file);
    expect(stdout).toContain('| suite | case | binary A | binary B | change |');
    expect(stdout).toMatch(/\| gemm \| 64x64x128 \| .* \| \+0\.0% \|/);
    await expect(bnn('bench', 'compare', file)).rejects.toThrow(/needs two reports/);
  });
});
