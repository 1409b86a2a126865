// The combined benchmark report (`bnn bench all`): its JSON schema (documented in
// docs/benchmarks.md; `validateRun` checks a file against it), the uniform summary rows every
// suite is reduced to, the self-contained HTML report (inline SVG, no external assets) and the
// comparison of two runs. Pure functions of the JSON: no GPU, runs anywhere.
import type { AdapterSummary } from '../src/gpu/device.js';
import type { Timing } from '../src/gpu/timing.js';
import type { ConvBenchReport } from './conv.js';
import type { GemmBenchReport } from './gemm.js';
import type { LowbitBenchReport } from './lowbit.js';
import type { MlpBenchReport } from './mlp.js';
import type { ModelsBenchReport } from './models.js';
import type { TrainBenchReport } from './train.js';
import { tuneMarkdown, type TuneBenchReport } from './tune.js';
import type { RunAllOptions } from './run-all.js';
import type { SuiteName, SuiteReport } from './suites.js';

export const BENCH_SCHEMA = 'webgpu-bnn-bench/1';

export interface TimestampInfo {
  available: boolean;
  /** 0.1 when every probe duration was a multiple of 100 us (Chromium's quantization); null when finer. */
  resolutionMs?: number | null;
  smallestStepMs?: number | null;
  note: string;
}

/** A timing as the summary keeps it. */
export interface Stat {
  medianMs: number;
  minMs: number;
  maxMs: number;
  reps: number;
  source: Timing['source'];
}

/** One measured case of one suite, the same shape for every suite: binary beside fp32 (and TF.js). */
export interface SummaryRow {
  suite: SuiteName;
  /** Unique within the suite: '300x512x784', 'vgg16 conv1_2 64->64 @32 (batch 2)', 'batch 300', ... */
  case: string;
  binary: Stat;
  /** Our fp32 kernels (for train: the float simulation of the same model). */
  f32: Stat;
  tfjs?: Stat;
  /** ONNX Runtime Web's WebGPU EP (conv, mlp, models). */
  ort?: Stat;
  /** fp32 median / binary median (mlp, models, train: median of the rounds' ratios). */
  speedup: number;
  /** tfjs median / binary median. */
  speedupVsTfjs?: number;
  /** ort median / binary median. */
  speedupVsOrt?: number;
  /** Rate per implementation, in `unit` (G-ops/s, images/s, samples/s). */
  throughput: { unit: string; binary: number; f32: number; tfjs?: number; ort?: number };
}

export interface BenchRun {
  schema: typeof BENCH_SCHEMA;
  /** ISO time the run started. */
  date: string;
  env: 'chromium' | 'node';
  device: { name: string; adapter: AdapterSummary; timestamps: TimestampInfo };
  /** The browser's version (env 'chromium'). */
  browser?: string;
  /** Node and Dawn, or the page's user agent. */
  engine: string;
  /** The TF.js version timed beside ours, or null (then `tfjsAbsent` says why). */
  tfjs: string | null;
  tfjsAbsent?: string;
  /** The ONNX Runtime Web version timed beside ours, or null (then `ortAbsent` says why); absent in runs before it was added. */
  ort?: string | null;
  ortAbsent?: string;
  options: RunAllOptions;
  durationS: number;
  /** Each suite's own report (its schema: bench/<suite>.ts), plus how long the suite took. */
  suites: Partial<Record<SuiteName, SuiteReport & { durationS: number }>>;
  failures: { suite: string; error: string }[];
  summary: SummaryRow[];
  /**
   * The autotuner's table for this adapter and the defaults against 'auto' tuning (bench/tune.ts),
   * run after the suites; absent when not asked for (options.tune false) or when it failed (failures names it).
   */
  tuning?: TuneBenchReport;
}

const stat = (t: Timing): Stat => ({ medianMs: t.medianMs, minMs: t.minMs, maxMs: t.maxMs, reps: t.reps, source: t.source });

/** The peers timed beside ours (TF.js, ONNX Runtime Web), as the summary names them. */
const PEERS = ['tfjs', 'ort'] as const;
type Peer = (typeof PEERS)[number];
const VS = { tfjs: 'speedupVsTfjs', ort: 'speedupVsOrt' } as const;

/** A suite row's peer columns in SummaryRow's shape: each peer's Stat, its time over binary's, its rate (`rate` picks it). */
function peers<T extends Timing>(r: { binary: Timing } & Partial<Record<Peer, T>>, rate: (t: T) => number): { fields: Partial<SummaryRow>; throughput: Partial<Record<Peer, number>> } {
  const fields: Partial<SummaryRow> = {};
  const throughput: Partial<Record<Peer, number>> = {};
  for (const p of PEERS) {
    const t = r[p];
    if (!t) continue;
    Object.assign(fields, { [p]: stat(t), [VS[p]]: t.medianMs / r.binary.medianMs });
    throughput[p] = rate(t);
  }
  return { fields, throughput };
}

/** Every suite's rows reduced to SummaryRow. */
export function summarizeRun(run: Pick<BenchRun, 'suites'>): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const s = run.suites;
  for (const r of (s.gemm as GemmBenchReport | undefined)?.rows ?? []) {
    const p = peers(r, (t) => t.gflops);
    rows.push({
      suite: 'gemm',
      case: `${r.M}x${r.N}x${r.K}`,
      binary: stat(r.binary),
      f32: stat(r.f32),
      ...p.fields,
      speedup: r.speedup,
      throughput: { unit: 'G-ops/s', binary: r.binary.gops, f32: r.f32.gflops, ...p.throughput },
    });
  }
  for (const r of (s.lowbit as LowbitBenchReport | undefined)?.rows ?? []) {
    rows.push({
      suite: 'lowbit',
      case: `${r.scheme} ${r.M}x${r.N}x${r.K}`,
      binary: stat(r.lowbit),
      f32: stat(r.f32),
      speedup: r.speedup,
      throughput: { unit: 'G-ops/s', binary: r.lowbit.gops, f32: r.f32.gflops },
    });
  }
  for (const r of (s.conv as ConvBenchReport | undefined)?.rows ?? []) {
    const p = peers(r, (t) => t.gflops);
    rows.push({
      suite: 'conv',
      case: `${r.layer.name} (batch ${r.batch})`,
      binary: stat(r.binary),
      f32: stat(r.f32),
      ...p.fields,
      speedup: r.speedup,
      throughput: { unit: 'G-ops/s', binary: r.binary.gops, f32: r.f32.gflops, ...p.throughput },
    });
  }
  for (const r of (s.mlp as MlpBenchReport | undefined)?.rows ?? []) {
    const p = peers(r, (t) => t.samplesPerSecond);
    rows.push({
      suite: 'mlp',
      case: `batch ${r.batch}`,
      binary: stat(r.binary),
      f32: stat(r.f32),
      ...p.fields,
      speedup: r.speedup,
      throughput: { unit: 'samples/s', binary: r.binary.samplesPerSecond, f32: r.f32.samplesPerSecond, ...p.throughput },
    });
  }
  for (const r of (s.models as ModelsBenchReport | undefined)?.rows ?? []) {
    const p = peers(r, (t) => t.imagesPerSecond);
    rows.push({
      suite: 'models',
      case: `${r.model} (batch ${r.batch})`,
      binary: stat(r.binary),
      f32: stat(r.f32),
      ...p.fields,
      speedup: r.speedup,
      throughput: { unit: 'images/s', binary: r.binary.imagesPerSecond, f32: r.f32.imagesPerSecond, ...p.throughput },
    });
  }
  const t = s.train as TrainBenchReport | undefined;
  if (t) {
    rows.push({
      suite: 'train',
      case: `training step (batch ${t.batch})`,
      binary: stat(t.binary),
      f32: stat(t.float),
      ...(t.tfjs ? { tfjs: stat(t.tfjs), speedupVsTfjs: t.speedupVsTfjs ?? t.tfjs.medianMs / t.binary.medianMs } : {}),
      speedup: t.speedup,
      throughput: { unit: 'samples/s', binary: t.binary.samplesPerSecond, f32: t.float.samplesPerSecond, ...(t.tfjs ? { tfjs: t.tfjs.samplesPerSecond } : {}) },
    });
  }
  return rows;
}

/** Where `x` breaks the schema: an empty list for a valid BenchRun. */
export function validateRun(x: unknown): string[] {
  const errors: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) errors.push(what);
  };
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (!isObj(x)) return ['the report is not a JSON object'];
  need(x.schema === BENCH_SCHEMA, `schema must be '${BENCH_SCHEMA}'`);
  need(typeof x.date === 'string' && !Number.isNaN(Date.parse(x.date)), 'date must be an ISO date');
  need(x.env === 'chromium' || x.env === 'node', "env must be 'chromium' or 'node'");
  need(isObj(x.device) && typeof x.device.name === 'string' && isObj(x.device.adapter) && isObj(x.device.timestamps), 'device needs name, adapter, timestamps');
  need(x.env !== 'chromium' || typeof x.browser === 'string', 'a chromium run names its browser');
  need(typeof x.engine === 'string', 'engine must be a string');
  need(x.tfjs === null || typeof x.tfjs === 'string', 'tfjs must be a string or null');
  need(x.tfjs !== null || typeof x.tfjsAbsent === 'string', 'tfjs null needs tfjsAbsent (why)');
  need(x.ort === undefined || x.ort === null || typeof x.ort === 'string', 'ort must be a string or null when present');
  need(x.ort !== null || typeof x.ortAbsent === 'string', 'ort null needs ortAbsent (why)');
  need(num(x.durationS), 'durationS must be a number');
  need(isObj(x.suites), 'suites must be an object');
  need(Array.isArray(x.failures), 'failures must be an array');
  if (x.tuning !== undefined) {
    const t = x.tuning as Record<string, unknown>;
    need(isObj(t) && t.benchmark === 'tune' && isObj(t.table) && Array.isArray((t.table as Record<string, unknown>).entries) && Array.isArray(t.cases), 'tuning needs benchmark "tune", table.entries and cases');
  }
  if (!Array.isArray(x.summary)) return [...errors, 'summary must be an array'];
  x.summary.forEach((r: unknown, i) => {
    const at = `summary[${i}]`;
    if (!isObj(r)) return errors.push(`${at} is not an object`);
    need(typeof r.suite === 'string' && isObj(x.suites) && r.suite in x.suites, `${at}.suite must name a suite in suites`);
    need(typeof r.case === 'string', `${at}.case must be a string`);
    for (const k of ['binary', 'f32', ...PEERS.filter((p) => r[p] !== undefined)]) {
      const v = r[k];
      need(isObj(v) && num(v.medianMs) && num(v.minMs) && num(v.maxMs) && num(v.reps) && (v.source === 'gpu-timestamp' || v.source === 'wall-clock'), `${at}.${k} must be a Stat`);
      if (isObj(v)) need((v.minMs as number) <= (v.medianMs as number) && (v.medianMs as number) <= (v.maxMs as number), `${at}.${k}: min <= median <= max`);
    }
    need(num(r.speedup) && (r.speedup as number) > 0, `${at}.speedup must be a positive number`);
    need(isObj(r.throughput) && typeof r.throughput.unit === 'string' && num(r.throughput.binary) && num(r.throughput.f32), `${at}.throughput needs unit, binary, f32`);
  });
  return errors;
}

// ---- HTML ----

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const COLORS = { binary: '#2563eb', f32: '#9ca3af', tfjs: '#f59e0b', ort: '#10b981' } as const;
const LABELS = { binary: 'binary (this engine)', f32: 'fp32 (our kernels)', tfjs: 'TF.js WebGPU', ort: 'ONNX Runtime Web (WebGPU EP)' } as const;
/** Table headings of the peers. */
const PEER_NAMES = { tfjs: 'TF.js', ort: 'ORT' } as const;
type Impl = keyof typeof COLORS;
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2));

/**
 * Horizontal grouped bars on a log scale (the values span 10-100x): one group per row, one bar per
 * implementation, whiskers from min to max when given.
 */
function barChart(title: string, unit: string, groups: { label: string; bars: { impl: Impl; value: number; min?: number; max?: number }[] }[]): string {
  const values = groups.flatMap((g) => g.bars.flatMap((b) => [b.value, b.min ?? b.value, b.max ?? b.value])).filter((v) => v > 0);
  if (values.length === 0) return '';
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values)) + 1e-9));
  const left = Math.min(380, 16 + 7 * Math.max(...groups.map((g) => g.label.length))); // room for the longest label at 12px
  const width = 460;
  const barH = 14;
  const x = (v: number) => left + (width * Math.log10(Math.max(v, lo) / lo)) / Math.log10(hi / lo);
  const parts: string[] = [];
  let y = 28;
  for (const g of groups) {
    parts.push(`<text x="${left - 8}" y="${y + (g.bars.length * barH) / 2 + 4}" text-anchor="end" class="lbl">${esc(g.label)}</text>`);
    for (const b of g.bars) {
      const w = Math.max(1, x(b.value) - left);
      parts.push(`<rect class="bar" x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH - 3}" fill="${COLORS[b.impl]}"><title>${esc(LABELS[b.impl])}: ${fmt(b.value)} ${esc(unit)}</title></rect>`);
      if (b.min !== undefined && b.max !== undefined && b.max > b.min) {
        const cy = y + (barH - 3) / 2;
        parts.push(`<line x1="${x(b.min).toFixed(1)}" x2="${x(b.max).toFixed(1)}" y1="${cy}" y2="${cy}" stroke="#111" stroke-width="1"/>`);
      }
      parts.push(`<text x="${(x(b.max ?? b.value) + 4).toFixed(1)}" y="${y + barH - 4}" class="val">${fmt(b.value)}</text>`);
      y += barH;
    }
    y += 8;
  }
  const ticks: string[] = [];
  for (let v = lo; v <= hi * 1.0001; v *= 10) {
    ticks.push(`<line x1="${x(v)}" x2="${x(v)}" y1="22" y2="${y}" stroke="#e5e7eb"/><text x="${x(v)}" y="${y + 14}" text-anchor="middle" class="val">${fmt(v)}</text>`);
  }
  const h = y + 22;
  return (
    `<figure><svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${left + width + 70}" height="${h}" viewBox="0 0 ${left + width + 70} ${h}" role="img" aria-label="${esc(title)}">` +
    `<text x="0" y="14" class="ttl">${esc(title)} (${esc(unit)}, log scale)</text>${ticks.join('')}${parts.join('')}</svg></figure>`
  );
}

function legend(impls: Impl[], suite: string): string {
  const label = (i: Impl) =>
    suite === 'train' && i === 'f32'
      ? 'float simulation (our fp32 kernels)'
      : suite === 'train' && i === 'tfjs'
        ? 'TF.js WebGPU (float simulation, tf.train.adam)'
        : suite === 'lowbit' && i === 'binary'
          ? 'low-bit kernel (this engine; the case names the scheme)'
          : LABELS[i];
  return `<p class="legend">${impls.map((i) => `<span><i style="background:${COLORS[i]}"></i>${label(i)}</span>`).join(' ')}</p>`;
}

const SUITE_TITLES: Record<string, string> = {
  gemm: 'GEMM: binary XNOR-popcount vs fp32 (C = A B^T)',
  lowbit: 'Low-bit GEMM: ternary (TWN) and DoReFa bit-serial vs fp32',
  conv: 'Convolution: VGG16 and BinaryNet 3x3 layers',
  mlp: 'The MNIST MLP (784-512-512-512-10): inference',
  models: 'CIFAR-10 models: inference throughput',
  train: 'One training step of the MNIST MLP (+BN, Adam)',
};

/** The report as one HTML file: no scripts, no external assets; the JSON is embedded. */
export function runHtml(run: BenchRun): string {
  const rows = run.summary;
  const sections: string[] = [];
  for (const suite of [...new Set(rows.map((r) => r.suite))]) {
    const rs = rows.filter((r) => r.suite === suite);
    const present = PEERS.filter((p) => rs.some((r) => r[p]));
    const impls: Impl[] = ['binary', 'f32', ...present];
    const timeChart = barChart('median time, min-max whiskers', 'ms', rs.map((r) => ({
      label: r.case,
      bars: impls.filter((i) => r[i]).map((i) => ({ impl: i, value: r[i]!.medianMs, min: r[i]!.minMs, max: r[i]!.maxMs })),
    })));
    const unit = rs[0].throughput.unit;
    const rateChart = barChart('throughput', unit, rs.map((r) => ({ label: r.case, bars: impls.filter((i) => r.throughput[i] !== undefined).map((i) => ({ impl: i, value: r.throughput[i]! })) })));
    const cell = (s?: Stat) => (s ? `${fmt(s.medianMs)} <small>(${fmt(s.minMs)}-${fmt(s.maxMs)}, n=${s.reps})</small>` : '');
    const each = (f: (p: Peer) => string) => present.map(f).join('');
    const table =
      `<table><thead><tr><th>case</th><th>binary ms</th><th>fp32 ms</th>${each((p) => `<th>${PEER_NAMES[p]} ms</th>`)}<th>binary ${esc(unit)}</th><th>fp32 ${esc(unit)}</th>${each((p) => `<th>${PEER_NAMES[p]} ${esc(unit)}</th>`)}<th>speed-up vs fp32</th>${each((p) => `<th>vs ${PEER_NAMES[p]}</th>`)}</tr></thead><tbody>` +
      rs
        .map(
          (r) =>
            `<tr><td>${esc(r.case)}</td><td>${cell(r.binary)}</td><td>${cell(r.f32)}</td>${each((p) => `<td>${cell(r[p])}</td>`)}` +
            `<td>${fmt(r.throughput.binary)}</td><td>${fmt(r.throughput.f32)}</td>${each((p) => `<td>${r.throughput[p] !== undefined ? fmt(r.throughput[p]) : ''}</td>`)}` +
            `<td><b>${r.speedup.toFixed(1)}x</b></td>${each((p) => `<td>${r[VS[p]] ? r[VS[p]]!.toFixed(1) + 'x' : ''}</td>`)}</tr>`,
        )
        .join('') +
      '</tbody></table>';
    const rep = run.suites[suite] as { check?: string; durationS?: number; rows?: { check?: string }[]; tfjsAbsent?: string; ortAbsent?: string } | undefined;
    const check = rep?.check ?? rep?.rows?.[0]?.check;
    sections.push(
      `<section id="${suite}"><h2>${esc(SUITE_TITLES[suite] ?? suite)}</h2>${legend(impls, suite)}<div class="charts">${timeChart}${rateChart}</div>${table}` +
        `<p class="note">${check ? `Checked before timing: ${esc(check)}. ` : ''}${rep?.tfjsAbsent ? `TF.js absent: ${esc(rep.tfjsAbsent)}. ` : ''}${rep?.ortAbsent ? `ORT absent: ${esc(rep.ortAbsent)}. ` : ''}Suite time ${rep?.durationS?.toFixed(0) ?? '?'} s.</p></section>`,
    );
  }
  const failures = run.failures.length ? `<section><h2>Failed suites</h2><ul>${run.failures.map((f) => `<li><b>${esc(f.suite)}</b>: ${esc(f.error)}</li>`).join('')}</ul></section>` : '';
  const json = JSON.stringify(run).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>webgpu-bnn benchmarks, ${esc(run.date.slice(0, 10))}, ${esc(run.device.name)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#111;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
small{color:#666}.note{color:#444;font-size:13px}dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:600}
.legend span{margin-right:16px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}.chart .lbl{font-size:12px}.chart .val{font-size:10px;fill:#444}.chart .ttl{font-size:12px;font-weight:600}
</style></head><body>
<h1>webgpu-bnn benchmarks</h1>
<dl>
<dt>device</dt><dd>${esc(run.device.name)}${run.device.adapter.isSoftware ? ' <b>(software adapter: CPU, not a GPU)</b>' : ''}</dd>
<dt>environment</dt><dd>${run.env === 'chromium' ? `headless ${esc(run.browser ?? 'Chromium')}` : 'Node (Dawn)'}; ${esc(run.engine)}</dd>
<dt>TF.js</dt><dd>${run.tfjs ? esc(run.tfjs) : `absent: ${esc(run.tfjsAbsent ?? '')}`}</dd>
${run.ort !== undefined ? `<dt>ORT</dt><dd>${run.ort ? `${esc(run.ort)}; timed by wall clock around session.run` : `absent: ${esc(run.ortAbsent ?? '')}`}</dd>` : ''}
<dt>timing</dt><dd>${esc(run.device.timestamps.note)}; warm-up, then the median of N repetitions (min-max shown); every result checked against a reference before it was timed</dd>
<dt>date</dt><dd>${esc(run.date)}; the whole run took ${(run.durationS / 60).toFixed(1)} min</dd>
</dl>
${sections.join('\n')}
${failures}
<script type="application/json" id="bench-run">${json}</script>
</body></html>
`;
}

// ---- comparison ----

/** Per row present in both runs: binary and fp32 medians, their change (B vs A) and the speed-ups, as Markdown. */
export function compareRuns(a: BenchRun, b: BenchRun): string {
  const key = (r: SummaryRow) => `${r.suite} ${r.case}`;
  const inB = new Map(b.summary.map((r) => [key(r), r]));
  const pct = (x: number, y: number) => `${y >= x ? '+' : ''}${(((y - x) / x) * 100).toFixed(1)}%`;
  const lines = [
    `A: ${a.date.slice(0, 16)} ${a.env}, ${a.device.name}`,
    `B: ${b.date.slice(0, 16)} ${b.env}, ${b.device.name}`,
    '',
    'Times are medians in ms; change = (B - A) / A (negative: B is faster).',
    '',
    '| suite | case | binary A | binary B | change | fp32 A | fp32 B | change | speed-up A | speed-up B |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const ra of a.summary) {
    const rb = inB.get(key(ra));
    if (!rb) continue;
    lines.push(
      `| ${ra.suite} | ${ra.case} | ${fmt(ra.binary.medianMs)} | ${fmt(rb.binary.medianMs)} | ${pct(ra.binary.medianMs, rb.binary.medianMs)} | ` +
        `${fmt(ra.f32.medianMs)} | ${fmt(rb.f32.medianMs)} | ${pct(ra.f32.medianMs, rb.f32.medianMs)} | ${ra.speedup.toFixed(1)}x | ${rb.speedup.toFixed(1)}x |`,
    );
  }
  const onlyA = a.summary.filter((r) => !inB.has(key(r))).map(key);
  const inA = new Set(a.summary.map(key));
  const onlyB = b.summary.filter((r) => !inA.has(key(r))).map(key);
  if (onlyA.length) lines.push('', `Only in A: ${onlyA.join('; ')}`);
  if (onlyB.length) lines.push('', `Only in B: ${onlyB.join('; ')}`);
  return lines.join('\n');
}

/** The run as Markdown: a header naming the device, then one table per suite (the README's section is made from this). */
export function runMarkdown(run: BenchRun): string {
  const lines = [
    `Device: ${run.device.name}; ${run.env === 'chromium' ? `headless ${run.browser}` : run.engine}; ${run.date.slice(0, 10)}; ${run.device.timestamps.note}; ` +
      `TF.js: ${run.tfjs ?? `absent (${run.tfjsAbsent})`}` +
      (run.ort !== undefined ? `; ORT: ${run.ort ? `${run.ort}, wall clock around session.run` : `absent (${run.ortAbsent})`}` : '') +
      `. Medians of N after warm-up (min-max in the JSON); whole run ${(run.durationS / 60).toFixed(1)} min.`,
  ];
  for (const suite of [...new Set(run.summary.map((r) => r.suite))]) {
    const rs = run.summary.filter((r) => r.suite === suite);
    const present = PEERS.filter((p) => rs.some((r) => r[p]));
    const each = (f: (p: Peer) => string) => present.map(f).join('');
    const unit = rs[0].throughput.unit;
    lines.push('', `**${SUITE_TITLES[suite] ?? suite}**`, '');
    lines.push(`| case | binary ms | fp32 ms |${each((p) => ` ${PEER_NAMES[p]} ms |`)} binary ${unit} | speed-up vs fp32 |${each((p) => ` vs ${PEER_NAMES[p]} |`)}`);
    lines.push(`|---|---:|---:|${each(() => '---:|')}---:|---:|${each(() => '---:|')}`);
    for (const r of rs) {
      lines.push(
        `| ${r.case} | ${fmt(r.binary.medianMs)} | ${fmt(r.f32.medianMs)} |${each((p) => ` ${r[p] ? fmt(r[p].medianMs) : ''} |`)} ${fmt(r.throughput.binary)} | **${r.speedup.toFixed(1)}x** |${each((p) => ` ${r[VS[p]] ? r[VS[p]]!.toFixed(1) + 'x' : ''} |`)}`,
      );
    }
  }
  if (run.tuning) lines.push('', "**Autotuning: the defaults against 'auto' (bnn bench tune)**", '', tuneMarkdown(run.tuning));
  if (run.failures.length) lines.push('', `Failed: ${run.failures.map((f) => `${f.suite} (${f.error})`).join('; ')}`);
  return lines.join('\n');
}
