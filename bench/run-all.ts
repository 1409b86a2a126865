// `bnn bench all`: every suite, one after another, on one device (Node's Dawn or a page's
// navigator.gpu: this module runs in both), combined into one report of the documented schema
// (bench/report.ts, docs/benchmarks.md). Progress lines say which suite runs and for how long.
import type { Gpu } from '../src/gpu/context.js';
import { binaryGemm } from '../src/ops/gemm-binary.js';
import { packRows } from '../src/bitpack.js';
import { Random } from '../src/random.js';
import { SUITES, type SuiteName, type SuiteOptions } from './suites.js';
import { loadTfjsWebgpu, tfjsUnavailable, tfjsVersion } from './tfjs.js';
import { loadOrtWebgpu, ortUnavailable, ortVersion } from './ort.js';
import { BENCH_SCHEMA, summarizeRun, type BenchRun, type TimestampInfo } from './report.js';
import { benchTune, type TuneBenchOptions } from './tune.js';

/** What `bench all` runs by default (first-layer and the kernel-variant benchmarks run on their own). */
export const DEFAULT_SUITES: readonly SuiteName[] = ['gemm', 'lowbit', 'conv', 'mlp', 'models', 'train'];

export interface RunAllOptions {
  suites?: SuiteName[];
  /** Options for every suite (reps, warmup, tfjs, ort), then per suite. Plain data: it crosses into the page. */
  common?: SuiteOptions;
  perSuite?: { [K in SuiteName]?: Parameters<(typeof SUITES)[K]['run']>[1] };
  /** The autotuning step after the suites (its table and defaults-against-auto timings in run.tuning); false: none. Default: bench/tune.ts's defaults. */
  tune?: Omit<TuneBenchOptions, 'onProgress'> | false;
}

/**
 * A tiny configuration: every default suite on small shapes, one repetition; for the harness's test
 * and `bnn bench all --quick` (a minute or two on SwiftShader, not a measurement).
 */
export const QUICK: RunAllOptions = {
  common: { reps: 1, warmup: 0, rounds: 1 },
  perSuite: {
    gemm: { shapes: [[64, 64, 128], [33, 17, 70]] },
    lowbit: { shapes: [[64, 64, 128]] },
    conv: { layers: [{ name: 'tiny 64->32 @8', size: 8, cin: 64, cout: 32 }], batch: 1 },
    mlp: { batches: [4] },
    models: { models: ['cnv-tiny'] },
    train: { batch: 8 },
  },
  tune: { cases: ['mlp-tiny', 'mlp-train-tiny'], reps: 1, warmup: 0, rounds: 2, tuneReps: 1, save: false },
};

export async function runAll(gpu: Gpu, options: RunAllOptions, env: BenchRun['env'], engine: string, onProgress: (line: string) => void = () => {}): Promise<BenchRun> {
  const start = Date.now();
  const clock = () => {
    const s = Math.round((Date.now() - start) / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  };
  const names = options.suites ?? [...DEFAULT_SUITES];
  const wantTfjs = options.common?.tfjs !== false;
  const tf = wantTfjs ? await loadTfjsWebgpu() : null;
  const wantOrt = options.common?.ort !== false;
  const ort = wantOrt ? await loadOrtWebgpu() : null;
  const timestamps = await probeTimestamps(gpu);
  onProgress(`[0:00] ${gpu.describe()}; timestamps: ${timestamps.note}`);
  const run: BenchRun = {
    schema: BENCH_SCHEMA,
    date: new Date(start).toISOString(),
    env,
    device: { name: gpu.describe(), adapter: gpu.adapter, timestamps },
    engine,
    tfjs: tf ? tfjsVersion(tf) : null,
    ...(wantTfjs && !tf ? { tfjsAbsent: tfjsUnavailable() } : {}),
    ...(!wantTfjs ? { tfjsAbsent: 'not asked for (--no-tfjs)' } : {}),
    ort: ort ? ortVersion(ort) : null,
    ...(wantOrt && !ort ? { ortAbsent: ortUnavailable() } : {}),
    ...(!wantOrt ? { ortAbsent: 'not asked for (--no-ort)' } : {}),
    options,
    durationS: 0,
    suites: {},
    failures: [],
    summary: [],
  };
  for (const [i, name] of names.entries()) {
    const t0 = Date.now();
    const tag = () => `[${clock()} ${i + 1}/${names.length} ${name}]`;
    onProgress(`${tag()} starting`);
    try {
      const report = await SUITES[name].run(gpu, { ...options.common, ...(options.perSuite?.[name] as SuiteOptions), onProgress: (line) => onProgress(`${tag()} ${line}`) });
      run.suites[name] = { ...report, durationS: (Date.now() - t0) / 1000 } as never;
      onProgress(`${tag()} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } catch (err) {
      // One suite failing (a check, a device limit) must not lose the others' results.
      run.failures.push({ suite: name, error: String((err as Error).message ?? err) });
      onProgress(`${tag()} FAILED: ${(err as Error).message}`);
    }
  }
  if (options.tune !== false) {
    const t0 = Date.now();
    const tag = () => `[${clock()} tune]`;
    onProgress(`${tag()} starting`);
    try {
      run.tuning = await benchTune(gpu, { ...options.tune, onProgress: (line) => onProgress(`${tag()} ${line}`) });
      onProgress(`${tag()} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } catch (err) {
      run.failures.push({ suite: 'tune', error: String((err as Error).message ?? err) });
      onProgress(`${tag()} FAILED: ${(err as Error).message}`);
    }
  }
  run.durationS = (Date.now() - start) / 1000;
  run.summary = summarizeRun(run);
  return run;
}

/**
 * Whether the adapter times passes with timestamp queries, and at what resolution: a small GEMM
 * timed 16 times; durations that are all whole multiples of 0.1 ms mean the browser quantizes
 * timestamps (Chromium does, to 100 us, unless its WebGPU developer features are enabled).
 */
export async function probeTimestamps(gpu: Gpu): Promise<TimestampInfo> {
  const timer = gpu.startTimer();
  if (!timer) return { available: false, note: 'no timestamp-query: queue-synchronized wall clock' };
  const rng = new Random(7);
  const a = gpu.upload(packRows(rng.floats(64 * 256), 64, 256), [64, 256], 'b1', 'probe.a');
  const b = gpu.upload(packRows(rng.floats(64 * 256), 64, 256), [64, 256], 'b1', 'probe.b');
  try {
    for (let i = 0; i < 16; i++) (await binaryGemm(gpu, a, b)).release();
    await gpu.sync();
    const ms = (await timer.read()).map((r) => r.ms);
    const quantized = ms.every((x) => Math.abs(x * 10 - Math.round(x * 10)) < 1e-6);
    const steps = [...new Set(ms)].sort((x, y) => x - y);
    let smallest = Infinity;
    for (let i = 1; i < steps.length; i++) smallest = Math.min(smallest, steps[i] - steps[i - 1]);
    return {
      available: true,
      resolutionMs: quantized ? 0.1 : null,
      smallestStepMs: Number.isFinite(smallest) ? smallest : null,
      note: quantized
        ? 'timestamp-query, quantized to 100 us (every probe duration a multiple of 0.1 ms)'
        : `timestamp-query, not quantized (smallest step seen ${Number.isFinite(smallest) ? (smallest * 1000).toFixed(3) + ' us' : 'n/a'})`,
    };
  } finally {
    gpu.stopTimer();
    a.release();
    b.release();
  }
}
