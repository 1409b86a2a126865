// Timing done one way for every benchmark and for the conv-path autotuner: warm-up runs, then
// timed repetitions, each waited for on the queue; the GPU's own timestamps when the adapter has
// them, wall clock otherwise.
import type { Gpu } from './context.js';

export interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  reps: number;
  /** What the figures measure: GPU timestamps of the compute passes, or queue-synchronized wall clock. */
  source: 'gpu-timestamp' | 'wall-clock';
  /** Queue-synchronized wall clock of the same repetitions (includes encoding and submission). */
  wallMedianMs: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Times `work` (one call = one repetition; it may record several GPU runs, whose GPU times add up).
 * `release` frees what a call returned.
 */
export async function timeGpu<T>(
  gpu: Gpu,
  work: () => Promise<T>,
  opts: { warmup: number; reps: number; release?: (x: T) => void },
): Promise<Timing> {
  for (let i = 0; i < opts.warmup; i++) {
    opts.release?.(await work());
    await gpu.sync();
  }
  const wall: number[] = [];
  const gpuMs: number[] = [];
  for (let i = 0; i < opts.reps; i++) {
    const timer = gpu.startTimer();
    const t0 = performance.now();
    const out = await work();
    await gpu.sync();
    wall.push(performance.now() - t0);
    if (timer) {
      const runs = await timer.read();
      gpuMs.push(runs.reduce((s, r) => s + r.ms, 0));
    }
    gpu.stopTimer();
    opts.release?.(out);
  }
  // Some implementations report zeros for timestamps: then only the wall clock is meaningful.
  const useGpu = gpuMs.length === wall.length && gpuMs.every((x) => x > 0);
  const xs = useGpu ? gpuMs : wall;
  return {
    medianMs: median(xs),
    minMs: Math.min(...xs),
    maxMs: Math.max(...xs),
    reps: xs.length,
    source: useGpu ? 'gpu-timestamp' : 'wall-clock',
    wallMedianMs: median(wall),
  };
}
