// A training run's optimizer as plain data (what `bnn train` was asked for, stored in its
// checkpoint) and the optimizer configs it stands for: a resumed run rebuilds the same schedule.
import { cosineDecay, exponentialDecay, type LearningRate, type OptimizerConfig } from './optimizers.js';

/**
 * What `bnn train` was asked for about the optimizer, as plain data (a checkpoint stores it; a
 * resumed run rebuilds the same schedule): the kind, the learning rate (Bop: of the optimizer of
 * the other parameters, Adam), and the schedule over the run's steps.
 */
export interface OptimizerRun {
  kind: 'adam' | 'sgd' | 'shift_adamax' | 'bop';
  learningRate: number;
  schedule: 'constant' | 'exponential' | 'cosine';
  /** exponential: the factor per epoch. */
  decayRate?: number;
  /** BinaryNet's per-layer scale of the binary kernels' rates (TrainerOptions.lrScale). */
  lrScale?: 'none' | 'binarynet';
}

/** The optimizer configs of a run of `epochs` epochs of `stepsPerEpoch` steps. */
export function optimizerConfigs(
  run: OptimizerRun,
  epochs: number,
  stepsPerEpoch: number,
): { optimizer: OptimizerConfig; defaultOptimizer?: OptimizerConfig; lrScale: 'none' | 'binarynet' } {
  // Checkpoints from before schedules existed hold { kind, learningRate? } only.
  const rate: LearningRate | undefined =
    run.schedule === 'cosine'
      ? cosineDecay({ initialLearningRate: run.learningRate, decaySteps: epochs * stepsPerEpoch })
      : run.schedule === 'exponential'
        ? exponentialDecay({ initialLearningRate: run.learningRate, decaySteps: stepsPerEpoch, decayRate: run.decayRate ?? 0.9 })
        : run.learningRate;
  const lr = rate === undefined ? {} : { learningRate: rate };
  const lrScale = run.lrScale ?? 'none';
  if (run.kind === 'bop') return { optimizer: { kind: 'bop' }, defaultOptimizer: { kind: 'adam', ...lr }, lrScale };
  return { optimizer: { kind: run.kind, ...lr }, lrScale };
}

/** One line for logs: kind, rate, schedule. */
export function describeOptimizer(o: OptimizerRun): string {
  const schedule = !o.schedule || o.schedule === 'constant' ? '' : o.schedule === 'cosine' ? ', cosine decay' : `, exponential decay ${o.decayRate} an epoch`;
  const scale = o.lrScale === 'binarynet' ? ", BinaryNet's per-layer lr scale" : '';
  return o.kind === 'bop' ? `bop (binary kernels) + adam lr ${o.learningRate}${schedule}` : `${o.kind} lr ${o.learningRate}${schedule}${scale}`;
}
