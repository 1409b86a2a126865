// The autotuner: finds a model's tunable launches (inference plans at given batches, and a training
// step if asked), checks every variant of each against the CPU reference, times them interleaved,
// and keeps the winner per (kernel, shape class) in a table cached per adapter.
import type { Gpu } from '../gpu/context.js';
import { tuningCacheKey } from '../gpu/tuning-cache.js';
import { TUNING_SCHEMA, shapeClass, type TuningEntry, type TuningSite, type TuningTable } from '../gpu/tuning-table.js';
import { describeAdapter } from '../gpu/device.js';
import { median, timeGpu } from '../gpu/timing.js';
import type { Model } from '../model/model.js';
import { InferencePlan } from '../plan/plan.js';
import { Random } from '../random.js';
import { Trainer } from '../train/trainer.js';
import { makeTrial } from './harness.js';
import { defaultVariant, variantsFor, type Variant } from './variants.js';

export interface TuneTarget {
  model: Model;
  /** Inference batches to plan (each gives its own M per launch). */
  batches: number[];
  /** Also the training step (binary kernels, Adam) at this batch. */
  trainBatch?: number;
}

export interface TuneOptions {
  /** Timed repetitions per variant (interleaved: rep r runs every variant once). Default 7. */
  reps?: number;
  /** Untimed runs per variant after the checked one. Default 1. */
  warmup?: number;
  /** A challenger must beat the default by this fraction in the median of paired repetitions to win (noise guard). Default 0.1. */
  margin?: number;
  onProgress?: (line: string) => void;
}

/** The tunable sites of one or more targets, one per shape class, in the order first launched. */
export async function collectSites(gpu: Gpu, targets: TuneTarget[]): Promise<TuningSite[]> {
  const sites = new Map<string, TuningSite>();
  const rng = new Random(3);
  for (const t of targets) {
    const spec = t.model.spec;
    const perSample = spec.inputs.map((i) => i.shape.reduce((a, b) => a * b, 1));
    for (const batch of t.batches) {
      const found = await gpu.tuned.collect(async () => {
        const plan = await InferencePlan.compile(gpu, t.model, { maxBatch: Math.max(batch, 1) });
        try {
          await plan.run(perSample.map((n) => rng.floats(n * batch)));
        } finally {
          plan.destroy();
        }
      });
      for (const s of found) if (!sites.has(shapeClass(s))) sites.set(shapeClass(s), s);
    }
    if (t.trainBatch) {
      const batch = t.trainBatch;
      const classes = spec.outputs.length === 1 ? outputWidth(t.model) : 0;
      const found = await gpu.tuned.collect(async () => {
        const trainer = await Trainer.create(gpu, t.model, { maxBatch: batch });
        try {
          await trainer.step(rng.floats(perSample[0] * batch), Uint32Array.from({ length: batch }, () => rng.int(Math.max(classes, 1))));
        } finally {
          trainer.destroy();
        }
      });
      for (const s of found) if (!sites.has(shapeClass(s))) sites.set(shapeClass(s), s);
    }
  }
  return [...sites.values()];
}

function outputWidth(model: Model): number {
  const shape = model.spec.layers.find((l) => l.name === model.spec.outputs[0])?.outputShape;
  return shape?.at(-1) ?? 10;
}

/** One site's measurements: every variant checked, then timed. */
export async function tuneSite(gpu: Gpu, site: TuningSite, options: TuneOptions = {}): Promise<TuningEntry & { wrong: Record<string, string> }> {
  const reps = options.reps ?? 7;
  const warmup = options.warmup ?? 1;
  const margin = options.margin ?? 0.1;
  const shape = shapeClass(site);
  const def = defaultVariant(gpu, site);
  const trial = makeTrial(gpu, site);
  const wrong: Record<string, string> = {};
  const times = new Map<string, number[]>();
  try {
    const ok: Variant[] = [];
    for (const v of variantsFor(gpu, site)) {
      try {
        const out = await trial.run(v.params);
        const bad = await trial.check(out).finally(() => out.forEach((t) => t.release()));
        if (bad) throw new Error(`differs from the CPU reference: ${bad}`);
        for (let i = 0; i < warmup; i++) (await trial.run(v.params)).forEach((t) => t.release());
        ok.push(v);
        times.set(v.name, []);
      } catch (err) {
        wrong[v.name] = (err as Error).message;
        options.onProgress?.(`${shape}: ${v.name} left out: ${(err as Error).message}`);
      }
    }
    // Interleaved, each repetition starting at another variant, so that load hits all alike.
    let live = ok;
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i < live.length; i++) {
        const v = live[(i + r) % live.length];
        const t = await timeGpu(gpu, () => trial.run(v.params), { warmup: 0, reps: 1, release: (out) => out.forEach((x) => x.release()) });
        times.get(v.name)!.push(t.medianMs);
      }
      // After the first repetition, a variant 3x slower than the fastest cannot win: its first
      // time is its figure (tiled GEMMs on a CPU adapter take seconds where storage reads take ms).
      if (r === 0) {
        const fastest = Math.min(...live.map((v) => times.get(v.name)![0]));
        live = live.filter((v) => v.name === def.name || times.get(v.name)![0] <= 3 * fastest);
      }
    }
  } finally {
    trial.release();
  }
  const medianMs: Record<string, number | null> = {};
  for (const name of [...times.keys(), ...Object.keys(wrong)]) medianMs[name] = times.has(name) ? median(times.get(name)!) : null;
  const pick = pickWinner(def.name, times, margin);
  if (!pick) throw new Error(`${shape}: no variant gave the reference's result (${Object.entries(wrong).map(([k, v]) => `${k}: ${v}`).join('; ')})`);
  const winner = variantsFor(gpu, site).find((v) => v.name === pick.name)!;
  const speedup = pick.speedup;
  options.onProgress?.(`${shape}: ${Object.entries(medianMs).map(([k, v]) => `${k} ${v === null ? 'wrong' : v.toFixed(2)}`).join(', ')} -> ${winner.name} (${speedup.toFixed(2)}x)`);
  return { kernel: site.kernel, shape, site, winner: winner.name, params: winner.params, defaultVariant: def.name, medianMs, speedup, wrong };
}

/**
 * The winner from each variant's times per repetition (`times`, in the order run). A challenger is
 * compared with the default repetition by repetition (the two ran back to back, under the same
 * load): it wins only if faster in at least 3 of 4 pairs (and in 3 pairs at least) and by more than
 * `margin` in the median pair, so that noise on a loaded machine does not replace the default.
 * Without a correct default (no times), the fastest correct variant wins. null: none is correct.
 */
export function pickWinner(defaultName: string, times: ReadonlyMap<string, readonly number[]>, margin: number): { name: string; speedup: number } | null {
  const defTimes = times.get(defaultName);
  let best: { name: string; speedup: number } | null = defTimes ? { name: defaultName, speedup: 1 } : null;
  let fastest = Infinity;
  for (const [name, vt] of times) {
    if (name === defaultName) continue;
    if (!defTimes) {
      if (median(vt) < fastest) [best, fastest] = [{ name, speedup: 1 }, median(vt)];
      continue;
    }
    const pairs = Array.from({ length: Math.min(vt.length, defTimes.length) }, (_, r) => defTimes[r] / vt[r]);
    const ratio = median(pairs);
    const consistent = pairs.length >= 3 && pairs.filter((x) => x > 1).length >= 0.75 * pairs.length;
    if (consistent && ratio > 1 + margin && ratio > best!.speedup) best = { name, speedup: ratio };
  }
  return best;
}

/** Tunes every site; the table for this adapter, merged over `previous` (same key) so shapes of other models stay. */
export async function autotune(gpu: Gpu, sites: TuningSite[], options: TuneOptions = {}, previous: TuningTable | null = null): Promise<TuningTable> {
  const key = tuningCacheKey(gpu.adapter);
  const entries = new Map<string, TuningEntry>();
  if (previous?.key === key) for (const e of previous.entries) entries.set(e.shape, e);
  for (const site of sites) {
    const { wrong, ...entry } = await tuneSite(gpu, site, options);
    if (Object.keys(wrong).length) options.onProgress?.(`${entry.shape}: ${Object.keys(wrong).length} variant(s) left out (see above)`);
    entries.set(entry.shape, entry);
  }
  return { schema: TUNING_SCHEMA, key, adapter: describeAdapter(gpu.adapter), createdAt: new Date().toISOString(), entries: [...entries.values()] };
}

/** The table as text: kernel and shape, each variant's median ms, the winner, its speed-up over the default. */
export function formatTuningTable(table: TuningTable, shapes?: Set<string>): string {
  const rows = table.entries.filter((e) => !shapes || shapes.has(e.shape));
  const lines = [`tuning table for ${table.adapter} (key ${table.key}, ${table.createdAt})`, ''];
  for (const e of rows) {
    const variants = Object.entries(e.medianMs).map(([k, v]) => `${k}${k === e.defaultVariant ? ' (default)' : ''} ${v === null ? 'wrong' : `${v.toFixed(2)} ms`}`);
    lines.push(`${e.shape}`, `  ${variants.join(' | ')}`, `  winner: ${e.winner}, ${e.speedup.toFixed(2)}x the default`);
  }
  return lines.join('\n');
}
