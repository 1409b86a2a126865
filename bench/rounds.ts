// Paired timing for the suites that compare two implementations of the same work (binary vs fp32
// plans, binary vs float training steps): rounds of an A block then a B block, so a shared
// machine's slow spells fall on both alike; the speed-up is the median over rounds of B/A.
import type { Gpu } from '../src/gpu/context.js';
import { median, timeGpu, type Timing } from '../src/gpu/timing.js';

export interface Rounds {
  a: Timing;
  b: Timing;
  rounds: { aMs: number; bMs: number; speedup: number }[];
  /** Median over rounds of b.medianMs / a.medianMs. */
  speedup: number;
}

export async function timeRounds(
  gpu: Gpu,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  opts: { warmup: number; reps: number; rounds: number; onRound?: (r: number) => void },
): Promise<Rounds> {
  const pairs: [Timing, Timing][] = [];
  for (let r = 0; r < opts.rounds; r++) {
    opts.onRound?.(r);
    pairs.push([await timeGpu(gpu, a, opts), await timeGpu(gpu, b, opts)]);
  }
  const rounds = pairs.map(([x, y]) => ({ aMs: x.medianMs, bMs: y.medianMs, speedup: y.medianMs / x.medianMs }));
  return { a: mergeTimings(pairs.map((p) => p[0])), b: mergeTimings(pairs.map((p) => p[1])), rounds, speedup: median(rounds.map((r) => r.speedup)) };
}

/** Several blocks' Timings as one: median of their medians, overall min and max, all repetitions. */
export function mergeTimings(ts: Timing[]): Timing {
  return {
    medianMs: median(ts.map((t) => t.medianMs)),
    minMs: Math.min(...ts.map((t) => t.minMs)),
    maxMs: Math.max(...ts.map((t) => t.maxMs)),
    reps: ts.reduce((a, t) => a + t.reps, 0),
    source: ts[0].source,
    wallMedianMs: median(ts.map((t) => t.wallMedianMs)),
  };
}
