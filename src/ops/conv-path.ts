// Which binary-convolution path to run for a layer on this device: the packed implicit GEMM
// (bconv2d) or the kernel-reuse path (bconv2dReuse). Measured, not modelled: the two are timed
// once per (device, shapes, window, weights' distinct-pattern count), checked equal, and the
// choice kept in memory for the executor to ask again at no cost.
import { timeGpu } from '../gpu/timing.js';
import { packRows } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { bconv2d, conv2dGeometry, type Conv2dWindow } from './bconv2d.js';
import { BConvReuseWeights, bconv2dReuse, prepareBConvReuse } from './bconv-reuse.js';

export type ConvPath = 'packed' | 'reuse';

export interface ConvPathChoice {
  path: ConvPath;
  /** Median milliseconds of each path (i32 epilogue); absent where reuse does not apply. */
  packedMs?: number;
  reuseMs?: number;
  source?: 'gpu-timestamp' | 'wall-clock';
  /** Why, in words. */
  reason: string;
}

export interface ChooseConvPathOptions extends Conv2dWindow {
  /** Timed repetitions of each path (median); default 3. Each path also runs once before, to compile and check. */
  reps?: number;
  /** Measure again even if a choice is cached. */
  remeasure?: boolean;
}

const choices = new Map<string, ConvPathChoice>();
/** Distinct-pattern counts of weight tensors already seen, so a cached choice costs no read-back (weights are not expected to change in place; pass prepared weights or remeasure if they do). */
const patternCounts = new WeakMap<Tensor, number>();

/** The cached choices, by key (device description and tuning | shapes | window | distinct patterns). */
export function convPathChoices(): ReadonlyMap<string, ConvPathChoice> {
  return choices;
}

export function clearConvPathChoices(): void {
  choices.clear();
}

/**
 * 'packed' or 'reuse' for a conv of b1 input of shape `xShape` [N, H, W, C] with b1 OHWI weights
 * `w` (a tensor, or prepared for reuse). Times both on random input of that shape the first time
 * a (device and tuning, shape, window, weights) combination is asked for; kernels other than 3x3 are
 * 'packed' without timing. Throws if the two paths disagree (a bug, never a choice).
 */
export async function chooseConvPath(gpu: Gpu, xShape: readonly number[], w: Tensor | BConvReuseWeights, options: ChooseConvPathOptions = {}): Promise<ConvPath> {
  return (await convPathChoice(gpu, xShape, w, options)).path;
}

/** chooseConvPath's choice with the timings and the reason it was made by (cached, or measured now). */
export async function convPathChoice(gpu: Gpu, xShape: readonly number[], w: Tensor | BConvReuseWeights, options: ChooseConvPathOptions = {}): Promise<ConvPathChoice> {
  const weights = w instanceof BConvReuseWeights ? w.weights : w;
  if (!(weights instanceof Tensor)) throw new ShapeError(`chooseConvPath: 'w' must be a b1 Tensor or prepareBConvReuse's result`);
  const g = conv2dGeometry(xShape, weights.shape, options, 'chooseConvPath');
  const window = { strides: [g.strideH, g.strideW], padding: options.padding ?? 'valid', padValues: g.padValues, dilation: [g.dilationH, g.dilationW] } as const;
  if (g.kernelH !== 3 || g.kernelW !== 3) return { path: 'packed', reason: `a ${g.kernelH}x${g.kernelW} kernel: kernel reuse is for 3x3 kernels` };

  const keyOf = (patterns: number) =>
    [
      gpu.describe(), // the adapter and its tuning: the paths' kernels and so their timings differ by tuning
      `x ${xShape.join('x')}`,
      `w ${weights.shape.join('x')}`,
      `strides ${window.strides.join('x')} ${window.padding} pad ${window.padValues} dilation ${window.dilation.join('x')}`,
      `${patterns} distinct patterns`,
    ].join(' | ');
  const known = w instanceof BConvReuseWeights ? w.tables.entries.length : patternCounts.get(weights);
  const hit = known === undefined ? undefined : choices.get(keyOf(known));
  if (hit && !options.remeasure) return hit;

  const prepared = w instanceof BConvReuseWeights ? w : await prepareBConvReuse(gpu, weights);
  patternCounts.set(weights, prepared.tables.entries.length);
  const key = keyOf(prepared.tables.entries.length);
  try {
    const cached = choices.get(key);
    if (cached && !options.remeasure) return cached;
    const x = gpu.upload(packRows(new Random(1).floats(xShape.reduce((a, b) => a * b, 1)), xShape.slice(0, 3).reduce((a, b) => a * b, 1), g.channels), xShape, 'b1', 'chooseConvPath.x');
    try {
      const packed = await bconv2d(gpu, x, weights, window);
      const reuse = await bconv2dReuse(gpu, x, prepared, window);
      const [a, b] = [await packed.read(), await reuse.read()];
      packed.release();
      reuse.release();
      const bad = a.findIndex((v, i) => v !== b[i]);
      if (bad >= 0) throw new Error(`chooseConvPath: the reuse path differs from bconv2d at output ${bad} (${b[bad]} vs ${a[bad]}) for ${key}`);
      const reps = options.reps ?? 3;
      const release = (t: Tensor) => t.release();
      const tp = await timeGpu(gpu, () => bconv2d(gpu, x, weights, window), { warmup: 0, reps, release });
      const tr = await timeGpu(gpu, () => bconv2dReuse(gpu, x, prepared, window), { warmup: 0, reps, release });
      const choice: ConvPathChoice = {
        path: tr.medianMs < tp.medianMs ? 'reuse' : 'packed',
        packedMs: tp.medianMs,
        reuseMs: tr.medianMs,
        source: tp.source,
        reason: `measured: packed ${tp.medianMs.toFixed(2)} ms, reuse ${tr.medianMs.toFixed(2)} ms (median of ${reps}, ${tp.source})`,
      };
      choices.set(key, choice);
      return choice;
    } finally {
      x.release();
    }
  } finally {
    if (prepared !== w) prepared.release();
  }
}
