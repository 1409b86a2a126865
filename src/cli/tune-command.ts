// `bnn tune [MODEL]` (the autotuner on a model, its table printed and cached for 'auto' tuning) and
// `bnn bench tune` (the defaults against 'auto' on the seeds, same run).
import { existsSync, writeFileSync } from 'node:fs';
import { Gpu } from '../gpu/context.js';
import { fileTuningStore, loadTuningTable, saveTuningTable, tuningCacheKey } from '../gpu/tuning-cache.js';
import { shapeClass } from '../gpu/tuning-table.js';
import { loadModel } from '../io/model-files.js';
import { autotune, collectSites, formatTuningTable, type TuneTarget } from '../tune/autotune.js';
import { ZOO } from '../zoo/registry.js';
import { DEFAULT_TUNE_CASES, TUNE_CASES, benchTune, tuneMarkdown, type TuneCaseName } from '../../bench/tune.js';
import { resolveModelArgument } from './model-argument.js';
import { UsageError, positiveInt, type Command, type Flags } from './flags.js';
import { BENCH_OPTIONS } from './bench-commands.js';

function batches(flags: Flags): number[] {
  const text = flags.values.get('batch') ?? '1';
  return text.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--batch ${text}: write positive integers, e.g. 1,300`);
    return n;
  });
}

/** The targets of `bnn tune [MODEL]`: the default cases, or MODEL (a zoo name, a shipped model, a file) at --batch. */
async function targetsOf(flags: Flags): Promise<{ what: string; targets: TuneTarget[] }> {
  const name = flags.positional[1];
  if (name === undefined) {
    return {
      what: DEFAULT_TUNE_CASES.map((c) => `${TUNE_CASES[c].name} batch ${TUNE_CASES[c].batch}`).join(', '),
      targets: DEFAULT_TUNE_CASES.map((c) => {
        const k: { make: () => import('../model/model.js').Model; batch: number; train?: boolean } = TUNE_CASES[c];
        return k.train ? { model: k.make(), batches: [], trainBatch: k.batch } : { model: k.make(), batches: [k.batch] };
      }),
    };
  }
  const model = Object.hasOwn(ZOO, name) && !existsSync(name) ? ZOO[name].build() : await loadModel(await resolveModelArgument(name, 'MODEL'));
  const trainBatch = positiveInt(flags, 'train');
  const b = batches(flags);
  return { what: `${name} batch ${b.join(', ')}${trainBatch ? `, training step batch ${trainBatch}` : ''}`, targets: [{ model, batches: b, trainBatch }] };
}

async function tuneCommand(flags: Flags): Promise<void> {
  const progress = (line: string) => console.error(line);
  const { what, targets } = await targetsOf(flags);
  const gpu = await Gpu.create({ log: progress, tuning: 'default' });
  try {
    const store = await fileTuningStore();
    const key = tuningCacheKey(gpu.adapter);
    const previous = await loadTuningTable(store, key, progress);
    progress(`tune: ${gpu.describe()}: ${what}`);
    const sites = await collectSites(gpu, targets);
    progress(`tune: ${sites.length} shape classes`);
    const table = await autotune(gpu, sites, { reps: positiveInt(flags, 'reps'), onProgress: progress }, previous);
    const where = await saveTuningTable(store, table);
    const mine = new Set(sites.map(shapeClass));
    const out = flags.values.get('out');
    if (out) writeFileSync(out, JSON.stringify(table, null, 2) + '\n');
    if (flags.switches.has('json')) console.log(JSON.stringify({ cache: where, tuned: [...mine], table }, null, 2));
    else console.log(`${formatTuningTable(table, mine)}\n\nwritten to ${where}: BNN_TUNING=auto (or Gpu.create({ tuning: 'auto' })) uses it`);
  } finally {
    gpu.destroy();
  }
}

async function benchTuneCommand(flags: Flags): Promise<void> {
  const progress = (line: string) => console.error(line);
  const cases = flags.values.get('cases')?.split(',') as TuneCaseName[] | undefined;
  const gpu = await Gpu.create({ log: progress, tuning: 'default' });
  try {
    const report = await benchTune(gpu, { cases, cached: flags.switches.has('cached'), reps: positiveInt(flags, 'reps'), rounds: positiveInt(flags, 'rounds'), warmup: flags.values.has('warmup') ? Number(flags.values.get('warmup')) : undefined, onProgress: progress });
    const out = flags.values.get('out');
    if (out) writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
    console.log(flags.switches.has('json') ? JSON.stringify(report, null, 2) : tuneMarkdown(report));
  } finally {
    gpu.destroy();
  }
}

export const TUNE_COMMANDS: Command[] = [
  {
    name: 'tune',
    args: '[MODEL]',
    positionals: { min: 0, max: 1 },
    summary: "autotune the hot kernels on a model's shapes: each variant checked against the CPU reference, then timed; prints the table and caches it for BNN_TUNING=auto",
    details:
      `MODEL: a zoo model (${Object.keys(ZOO).join(', ')}), a shipped model or a model file; default: ${DEFAULT_TUNE_CASES.map((c) => `${TUNE_CASES[c].name} batch ${TUNE_CASES[c].batch}`).join(', ')}. ` +
      'The table goes to $BNN_CACHE_DIR, else $XDG_CACHE_HOME/webgpu-bnn, else ~/.cache/webgpu-bnn (tuning-<adapter key>.json), merged with what is there.',
    options: {
      batch: { kind: 'text', placeholder: 'N,...', help: 'inference batches to tune MODEL at (default 1)' },
      train: { kind: 'posint', placeholder: 'N', help: "also MODEL's training step at batch N" },
      reps: { ...BENCH_OPTIONS.reps, help: 'timed repetitions per variant, interleaved (default 5)' },
      json: { kind: 'switch', help: 'print the table as JSON' },
      out: { kind: 'path', placeholder: 'FILE', help: 'also write the table to FILE' },
    },
    run: tuneCommand,
  },
  {
    name: 'bench tune',
    summary: "the autotuner on the seeds, then plans and the MLP's training step with the defaults against 'auto' tuning, interleaved rounds, same run",
    options: {
      cases: { kind: 'text', list: true, choices: Object.keys(TUNE_CASES), placeholder: 'a,b', help: `which (default ${DEFAULT_TUNE_CASES.join(',')})` },
      reps: BENCH_OPTIONS.reps,
      warmup: BENCH_OPTIONS.warmup,
      rounds: { ...BENCH_OPTIONS.rounds, help: 'rounds of the comparison (alternating which goes first; default 4)' },
      cached: { kind: 'switch', help: "time with the cached table when it covers every case's shapes, instead of tuning first" },
      json: BENCH_OPTIONS.json,
      out: BENCH_OPTIONS.out,
    },
    run: benchTuneCommand,
  },
];
