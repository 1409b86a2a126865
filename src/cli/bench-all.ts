// `bnn bench all` (every suite in headless Chromium, or in Node with --node; one JSON report and a
// self-contained HTML report) and `bnn bench compare A.json B.json`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError, positiveInt, type Flags } from './flags.js';
import { Gpu } from '../gpu/context.js';
import { DEFAULT_SUITES, QUICK, runAll, type RunAllOptions } from '../../bench/run-all.js';
import { compareRuns, runHtml, runMarkdown, validateRun, type BenchRun } from '../../bench/report.js';
import { isSuiteName, SUITES, type SuiteName } from '../../bench/suites.js';

export async function benchAllCommand(flags: Flags): Promise<void> {
  const base: RunAllOptions = flags.switches.has('quick') ? QUICK : {};
  const suites = flags.values.get('suites')?.split(',').map((s) => s.trim());
  for (const s of suites ?? []) if (!isSuiteName(s)) throw new UsageError(`no suite named '${s}' (there are: ${Object.keys(SUITES).join(', ')})`);
  const options: RunAllOptions = {
    ...base,
    suites: (suites as SuiteName[] | undefined) ?? base.suites ?? [...DEFAULT_SUITES],
    common: {
      ...base.common,
      ...(flags.values.has('reps') ? { reps: positiveInt(flags, 'reps') } : {}),
      ...(flags.values.has('warmup') ? { warmup: Number(flags.values.get('warmup')) } : {}),
      ...(flags.switches.has('no-tfjs') ? { tfjs: false } : {}),
      ...(flags.switches.has('large') ? { large: true } : {}),
    },
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
