// `bnn bench all` (every suite in headless Chromium, or in Node with --node; one JSON report and a
// self-contained HTML report) and `bnn bench compare A.json B.json`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError, positiveInt, type Command, type Flags } from './flags.js';
import { BENCH_OPTIONS } from './bench-commands.js';
import { Gpu } from '../gpu/context.js';
import { DEFAULT_SUITES, QUICK, runAll, type RunAllOptions } from '../../bench/run-all.js';
import { compareRuns, runHtml, runMarkdown, validateRun, type BenchRun } from '../../bench/report.js';
import { SUITES, type SuiteName } from '../../bench/suites.js';

export async function benchAllCommand(flags: Flags): Promise<void> {
  const base: RunAllOptions = flags.switches.has('quick') ? QUICK : {};
  const suites = flags.values.get('suites')?.split(',').map((s) => s.trim());
  const options: RunAllOptions = {
    ...base,
    suites: (suites as SuiteName[] | undefined) ?? base.suites ?? [...DEFAULT_SUITES],
    common: {
      ...base.common,
      ...(flags.values.has('reps') ? { reps: positiveInt(flags, 'reps') } : {}),
      ...(flags.values.has('warmup') ? { warmup: Number(flags.values.get('warmup')) } : {}),
      ...(flags.switches.has('no-tfjs') ? { tfjs: false } : {}),
      ...(flags.switches.has('no-ort') ? { ort: false } : {}),
      ...(flags.switches.has('large') ? { large: true } : {}),
    },
    ...(flags.switches.has('no-tune') ? { tune: false as const } : {}),
  };
  const env = flags.switches.has('node') ? 'node' : 'chromium';
  const t0 = Date.now();
  const progress = (line: string) => console.error(line);
  let run: BenchRun;
  if (env === 'chromium') {
    const { benchAllInBrowser } = await import('../../bench/browser.js');
    run = await benchAllInBrowser(options, progress);
  } else {
    const gpu = await Gpu.create({ log: progress });
    try {
      run = await runAll(gpu, options, 'node', `Node ${process.versions.node}, Dawn (webgpu npm package)`, progress);
    } finally {
      gpu.destroy();
    }
  }
  const problems = validateRun(run);
  if (problems.length) throw new Error(`the report does not match its schema: ${problems.join('; ')}`);
  // --out DIR (report.json, report.html, report.md in it) or --out FILE.json (FILE.html, FILE.md beside it).
  const out = flags.values.get('out') ?? join('bench', 'results', `${run.date.slice(0, 10)}-${run.device.adapter.isSoftware ? 'swiftshader' : run.device.adapter.vendor || 'gpu'}-${env}`);
  const stem = out.endsWith('.json') ? out.slice(0, -'.json'.length) : join(out, 'report');
  mkdirSync(dirname(stem), { recursive: true });
  writeFileSync(`${stem}.json`, JSON.stringify(run, null, 2) + '\n');
  writeFileSync(`${stem}.html`, runHtml(run));
  writeFileSync(`${stem}.md`, runMarkdown(run) + '\n');
  console.log(runMarkdown(run));
  console.error(`\nwrote ${stem}.json, .html, .md (${((Date.now() - t0) / 60000).toFixed(1)} min in all)`);
  if (run.failures.length) process.exitCode = 1;
}

export function benchCompareCommand(flags: Flags): void {
  const files = flags.positional.slice(2);
  if (files.length !== 2) throw new UsageError('bench compare needs two reports: bnn bench compare A.json B.json');
  const [a, b] = files.map((f) => {
    const run = JSON.parse(readFileSync(f, 'utf8')) as BenchRun;
    const problems = validateRun(run);
    if (problems.length) throw new UsageError(`${f} is not a bench all report: ${problems.slice(0, 3).join('; ')}`);
    return run;
  });
  console.log(compareRuns(a, b));
}

export const BENCH_ALL_COMMANDS: Command[] = [
  {
    name: 'bench all',
    summary: 'every suite (gemm, lowbit, conv, mlp, models, train), each beside fp32 (and TF.js, ONNX Runtime Web), in headless Chromium; writes report.json, report.html (charts), report.md',
    options: {
      node: { kind: 'switch', help: 'run in Node (Dawn) instead of Chromium' },
      out: { kind: 'path', placeholder: 'DIR', help: 'where to write the reports (default bench/results/DATE-DEVICE-ENV); a FILE.json puts FILE.html and FILE.md beside it' },
      suites: { kind: 'text', list: true, choices: Object.keys(SUITES), placeholder: 'a,b', help: 'only these suites' },
      quick: { kind: 'switch', help: 'tiny shapes, 1 repetition (checks the harness)' },
      reps: BENCH_OPTIONS.reps,
      warmup: BENCH_OPTIONS.warmup,
      'no-tfjs': BENCH_OPTIONS['no-tfjs'],
      'no-ort': BENCH_OPTIONS['no-ort'],
      large: BENCH_OPTIONS.large,
      'no-tune': { kind: 'switch', help: "skip the autotuning step (bnn bench tune: the table, and the defaults against 'auto')" },
    },
    run: benchAllCommand,
  },
  {
    name: 'bench compare',
    args: 'A.json B.json',
    positionals: { min: 0, max: 2 }, // fewer than two: the command says what it needs
    summary: 'per case: the change in binary and fp32 medians and speed-ups between two `bnn bench all` reports',
    options: {},
    run: benchCompareCommand,
  },
];
