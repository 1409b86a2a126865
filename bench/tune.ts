// `bnn bench tune` and bench all's tuning section: runs the autotuner on the seeds (the MNIST MLP at
// batch 1 and 300, its training step, CNV; VGG16 when asked), then times the plans and the
// training step with the defaults against 'auto' tuning with that table, same device, same run:
// rounds alternating which goes first (A B, B A, ...), each a warm-up and several repetitions.
import type { Gpu } from '../src/gpu/context.js';
import { describeAdapter } from '../src/gpu/device.js';
import { median, timeGpu, type Timing } from '../src/gpu/timing.js';
import { saveTuningTable, defaultTuningStore, loadTuningTable, tuningCacheKey } from '../src/gpu/tuning-cache.js';
import { shapeClass, type TuningTable } from '../src/gpu/tuning-table.js';
import type { Model } from '../src/model/model.js';
import { referenceForward } from '../src/model/reference.js';
import { InferencePlan } from '../src/plan/plan.js';
import { Random } from '../src/random.js';
import { Trainer } from '../src/train/trainer.js';
import { autotune, collectSites, type TuneTarget } from '../src/tune/autotune.js';
import { finnCnv } from '../src/zoo/finn-cnv.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';
import { cifar10Vgg16 } from '../src/zoo/cifar10-vgg16.js';
import { mergeTimings } from './rounds.js';
import { randomInputs, randomizeWeights } from './random-weights.js';

/** A case: a model planned (or trained) at one batch. */
interface TuneCase {
  name: string;
  make: () => Model;
  batch: number;
  train?: boolean;
}

/** The cases by name; `bnn bench tune --cases` picks among them. */
export const TUNE_CASES = {
  'mlp-1': { name: 'mlp', make: () => mnistMlp(), batch: 1 },
  'mlp-300': { name: 'mlp', make: () => mnistMlp(), batch: 300 },
  'mlp-train-300': { name: 'mlp training step (+BN, Adam)', make: () => mnistMlp({ outputBatchNorm: true }), batch: 300, train: true },
  cnv: { name: 'cnv', make: () => finnCnv(), batch: 4 },
  'vgg16-1': { name: 'vgg16', make: () => cifar10Vgg16(), batch: 1 },
  // For tests and --quick: tiny shapes.
  'mlp-tiny': { name: 'mlp (tiny batch)', make: () => mnistMlp(), batch: 2 },
  'mlp-train-tiny': { name: 'mlp training step (tiny batch)', make: () => mnistMlp({ outputBatchNorm: true }), batch: 4, train: true },
} satisfies Record<string, TuneCase>;
export type TuneCaseName = keyof typeof TUNE_CASES;

/** `bnn tune`'s default and bench all's: the seed MLP at 1 and 300, its training step, CNV. */
export const DEFAULT_TUNE_CASES: readonly TuneCaseName[] = ['mlp-1', 'mlp-300', 'mlp-train-300', 'cnv'];

export interface TuneBenchOptions {
  cases?: TuneCaseName[];
  reps?: number;
  warmup?: number;
  rounds?: number;
  /** The tuner's repetitions per variant. Default 5. */
  tuneReps?: number;
  /** Write the table to this environment's cache (the user's cache directory; IndexedDB). Default true. */
  save?: boolean;
  /** Take the cached table as it is when it holds every shape class of the cases (no tuning). Default false. */
  cached?: boolean;
  onProgress?: (line: string) => void;
}

export interface TuneCaseReport {
  case: string;
  batch: number;
  train: boolean;
  check: string;
  defaults: Timing;
  auto: Timing;
  rounds: { defaultMs: number; autoMs: number; speedup: number }[];
  /** Median over rounds of default ms / auto ms: above 1, 'auto' is faster. */
  speedup: number;
  /** The launches of the auto plan and the variants they took (plan.describe()'s tuning lines). */
  choices: string;
  /** How many of those launches took a variant other than the default: 0 means both sides ran the same kernels (the ratio is then noise). */
  tunedLaunches: number;
}

export interface TuneBenchReport {
  benchmark: 'tune';
  schema: 1;
  date: string;
  adapterName: string;
  /** Where the table was written, or why not. */
  saved: string;
  tuneSeconds: number;
  table: TuningTable;
  cases: TuneCaseReport[];
}

export async function benchTune(gpu: Gpu, options: TuneBenchOptions = {}): Promise<TuneBenchReport> {
  const log = options.onProgress ?? (() => {});
  const names = options.cases ?? [...DEFAULT_TUNE_CASES];
  const cases = names.map((n) => {
    const c: TuneCase = TUNE_CASES[n];
    if (!c) throw new Error(`no tuning case '${n}' (there are: ${Object.keys(TUNE_CASES).join(', ')})`);
    return c;
  });
  const soft = gpu.adapter.isSoftware;
  const reps = options.reps ?? (soft ? 3 : 20);
  const warmup = options.warmup ?? 1;
  const rounds = options.rounds ?? 4;
  const rng = new Random(11);
  const models = cases.map((c) => {
    const m = c.make();
    randomizeWeights(m, rng, { floatSafe: true });
    return m;
  });

  const t0 = performance.now();
  const targets: TuneTarget[] = cases.map((c, i) => (c.train ? { model: models[i], batches: [], trainBatch: c.batch } : { model: models[i], batches: [c.batch] }));
  log(`tune: collecting the tunable launches of ${cases.map((c) => `${c.name} batch ${c.batch}`).join(', ')}`);
  const sites = await collectSites(gpu, targets);
  log(`tune: ${sites.length} shape classes; checking and timing each variant`);
  let saved = 'not asked to (save: false)';
  let previous: TuningTable | null = null;
  const store = options.save === false ? null : await defaultTuningStore();
  if (store) previous = await loadTuningTable(store, tuningCacheKey(gpu.adapter), (line) => log(line));
  const shapes = new Set(previous?.entries.map((e) => e.shape));
  const reuse = options.cached === true && previous !== null && sites.every((s) => shapes.has(shapeClass(s)));
  if (options.cached && !reuse) log('tune: the cached table lacks some of these shape classes: tuning them all again');
  const table = reuse ? previous! : await autotune(gpu, sites, { reps: options.tuneReps, onProgress: (l) => log(`tune: ${l}`) }, previous);
  if (store && !reuse) saved = await saveTuningTable(store, table);
  if (reuse) saved = `the cached table, not re-measured (${store!.where(table.key)})`;
  const tuneSeconds = (performance.now() - t0) / 1000;
  log(`tune: done in ${tuneSeconds.toFixed(0)} s; table ${saved}`);

  const reports: TuneCaseReport[] = [];
  {
    for (const [i, c] of cases.entries()) {
      // The same device under 'auto' with the table just measured: only the tuning differs. A view
      // per case, so that its record of choices holds this case's launches only.
      const auto = gpu.withTuningTable(table, 'just measured');
      const label = `${c.name} batch ${c.batch}`;
      log(`tune: timing ${label}, defaults against auto, ${rounds} rounds alternating which goes first`);
      const side = c.train ? await trainingSides(gpu, auto, models[i], c.batch, rng) : await planSides(gpu, auto, models[i], c.batch, rng);
      try {
        const pairs: { d: Timing; a: Timing }[] = [];
        for (let r = 0; r < rounds; r++) {
          const opts = { warmup, reps };
          if (r % 2 === 0) {
            const d = await timeGpu(gpu, side.defaults, opts);
            pairs.push({ d, a: await timeGpu(auto, side.auto, opts) });
          } else {
            const a = await timeGpu(auto, side.auto, opts);
            pairs.push({ d: await timeGpu(gpu, side.defaults, opts), a });
          }
        }
        const roundRows = pairs.map((p) => ({ defaultMs: p.d.medianMs, autoMs: p.a.medianMs, speedup: p.d.medianMs / p.a.medianMs }));
        const speedup = median(roundRows.map((r) => r.speedup));
        log(`tune: ${label}: defaults ${median(roundRows.map((r) => r.defaultMs)).toFixed(2)} ms, auto ${median(roundRows.map((r) => r.autoMs)).toFixed(2)} ms, ${speedup.toFixed(2)}x`);
        reports.push({
          case: c.name,
          batch: c.batch,
          train: c.train === true,
          check: side.check,
          defaults: mergeTimings(pairs.map((p) => p.d)),
          auto: mergeTimings(pairs.map((p) => p.a)),
          rounds: roundRows,
          speedup,
          choices: side.choices,
          tunedLaunches: side.choices.split('\n').filter((l) => l.includes('tuned: ') && !l.includes(`tuned: ${defaultOf(table, l)}`)).length,
        });
      } finally {
        side.destroy();
      }
    }
  }
  return { benchmark: 'tune', schema: 1, date: new Date().toISOString(), adapterName: describeAdapter(gpu.adapter), saved, tuneSeconds, table, cases: reports };
}

/** The default variant of the table entry a describe() line names (by its shape class). */
function defaultOf(table: TuningTable, line: string): string {
  return table.entries.find((e) => line.includes(` ${e.shape} `))?.defaultVariant ?? '';
}

interface Sides {
  defaults: () => Promise<unknown>;
  auto: () => Promise<unknown>;
  check: string;
  choices: string;
  destroy(): void;
}

/** Both plans, checked against the CPU reference on one image first. */
async function planSides(gpu: Gpu, auto: Gpu, model: Model, batch: number, rng: Random): Promise<Sides> {
  const plans = [await InferencePlan.compile(gpu, model, { maxBatch: batch })];
  // The launches of the timed batch's recording only (compiling records batch 1).
  let from = auto.tuned.choices.length;
  plans.push(await InferencePlan.compile(auto, model, { maxBatch: batch }));
  const out = model.outputs[0];
  const cx = randomInputs(model, rng, 1);
  const want = referenceForward(model.spec, cx, 1).get(out)!.data;
  for (const [k, plan] of plans.entries()) {
    const got = (await plan.run(cx)).get(out)!.data;
    const i = want.findIndex((v, j) => !(Math.abs(got[j] - v) <= 1e-4 * (1 + Math.abs(v))));
    if (i >= 0) throw new Error(`tune bench: the ${k ? 'auto' : 'default'} plan's ${out}[${i}] is ${got[i]}, the CPU reference ${want[i]}`);
  }
  const x = randomInputs(model, rng, batch);
  if (batch > 1) from = auto.tuned.choices.length;
  await plans[1].run(x); // records the batch's variant
  return {
    defaults: () => plans[0].run(x),
    auto: () => plans[1].run(x),
    check: `both plans' ${out} = CPU reference within 1e-4 relative on 1 image`,
    choices: auto.tuned.describe(undefined, from),
    destroy: () => plans.forEach((p) => p.destroy()),
  };
}

/** Both trainers from the same weights; their first losses on one batch checked equal. */
async function trainingSides(gpu: Gpu, auto: Gpu, model: Model, batch: number, rng: Random): Promise<Sides> {
  const make = (g: Gpu) => Trainer.create(g, model, { maxBatch: batch, optimizer: { kind: 'adam', learningRate: 0.001 } });
  const trainers = [await make(gpu), await make(auto)];
  const perSample = model.spec.inputs[0].shape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: batch * perSample }, () => rng.int(256) / 127.5 - 1);
  const y = Uint32Array.from({ length: batch }, () => rng.int(10));
  const losses: number[] = [];
  for (const t of trainers) {
    await t.step(x, y);
    losses.push((await t.readMetrics()).loss);
  }
  // BatchNorm sums in another order (serial, workgroup, subgroup) round differently: 1e-4 relative.
  if (!(Math.abs(losses[0] - losses[1]) <= 1e-4 * Math.abs(losses[0]))) throw new Error(`tune bench: the first training losses differ: defaults ${losses[0]}, auto ${losses[1]}`);
  return {
    defaults: () => trainers[0].step(x, y),
    auto: () => trainers[1].step(x, y),
    check: `first losses equal within 1e-4 relative (${losses[0].toFixed(5)}, ${losses[1].toFixed(5)})`,
    choices: auto.tuned.describe(),
    destroy: () => trainers.forEach((t) => t.destroy()),
  };
}

export function tuneMarkdown(r: TuneBenchReport): string {
  const lines = [
    `Device: ${r.adapterName}. Tuned in ${r.tuneSeconds.toFixed(0)} s (${r.table.entries.length} shape classes in the table; ${r.saved}).`,
    '',
    '| case | batch | launches on a tuned variant | defaults ms | auto ms | speed-up (rounds) |',
    '|---|---:|---:|---:|---:|---:|',
    ...r.cases.map((c) => `| ${c.case} | ${c.batch} | ${c.tunedLaunches} | ${c.defaults.medianMs.toFixed(2)} | ${c.auto.medianMs.toFixed(2)} | **${c.speedup.toFixed(2)}x** (${c.rounds.map((x) => x.speedup.toFixed(2)).join(', ')}) |`),
    '',
    '| kernel, shape class | default | winner | speed-up |',
    '|---|---|---|---:|',
    ...r.table.entries.map((e) => `| ${e.shape} | ${e.defaultVariant} | ${e.winner} | ${e.speedup.toFixed(2)}x |`),
  ];
  return lines.join('\n');
}
