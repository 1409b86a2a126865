// The training loop: epochs of shuffled batches through the GPU trainer, metrics read once per
// `logEvery` steps, and an evaluation of the test split after each epoch through a compiled
// inference plan (moving statistics, thresholds: what a deployed model computes). A data set here
// is one image and one label per sample: models of one input and one output; a model of several
// trains through Trainer.step, a batch of arrays per input and per output.
import type { Gpu } from '../gpu/context.js';
import type { BatchAugmentation } from '../data/augmenter.js';
import { batchCount, epochBatches, type LabeledSamples } from '../data/batches.js';
import type { Model } from '../model/model.js';
import { InferencePlan } from '../plan/plan.js';
import type { OptimizerConfig } from './optimizers.js';
import { rowHits } from './metrics.js';
import { Trainer, TrainError, type TrainerState } from './trainer.js';

export interface FitOptions {
  epochs: number;
  batchSize: number;
  seed: number;
  optimizer: OptimizerConfig;
  /** With Bop: the optimizer of the parameters that are not binary kernels (TrainerOptions.defaultOptimizer). */
  defaultOptimizer?: OptimizerConfig;
  /** BinaryNet's per-layer learning-rate scale (TrainerOptions.lrScale). */
  lrScale?: 'none' | 'binarynet';
  /** Evaluate on this split after each epoch. */
  test?: LabeledSamples;
  /** Pixels to model inputs on the CPU (evaluation; training too without `augment`). Default preprocessMnist. */
  preprocess?: (pixels: Uint8Array, out: Float32Array) => Float32Array;
  /** Training inputs made on the GPU from each batch's pixels (data/augmenter.ts: crops, flips, normalization). */
  augment?: BatchAugmentation;
  /** After each epoch, re-estimate BatchNorm's moving statistics over a pass of the training data (Trainer.recalibrateBatchNorm); the test figures are then taken both before and after. */
  recalibrateBn?: boolean;
  /** Read the running loss/accuracy every this many steps (one read-back each). Default 20. */
  logEvery?: number;
  onProgress?: (p: { epoch: number; step: number; steps: number; loss: number; top1: number; samplesPerSecond: number }) => void;
  onEpoch?: (e: EpochResult) => void;
  /** Epochs already done (a resumed run): training starts at this epoch. Default 0. */
  startEpoch?: number;
  /** The optimizer state to resume from (Trainer.saveState in a checkpoint). */
  state?: TrainerState;
  /** After each epoch (and its evaluation), e.g. to write a checkpoint; awaited. */
  afterEpoch?: (e: EpochResult, trainer: Trainer) => Promise<void>;
}

export interface EpochResult {
  epoch: number;
  trainLoss: number;
  trainTop1: number;
  test?: Evaluation;
  /** With recalibrateBn: the test figures after the recalibration (`test` is before it). */
  testRecalibrated?: Evaluation;
  seconds: number;
  samplesPerSecond: number;
}

export interface Evaluation {
  top1: number;
  top5: number;
  loss: number;
  count: number;
  /** confusion[t][p]: samples of true class t predicted as p = argmax (the first largest probability), so its diagonal sums to top1 * count. */
  confusion: number[][];
}

/** Trains `model` in place (its weights are updated after each epoch) and returns each epoch's figures. */
export async function fit(gpu: Gpu, model: Model, train: LabeledSamples, options: FitOptions): Promise<EpochResult[]> {
  const { inputs, outputs } = model.spec;
  if (inputs.length !== 1 || outputs.length !== 1) throw new TrainError(`fit: model "${model.name}" has ${inputs.length} input(s) and ${outputs.length} output(s), and a data set here holds one image and one label per sample; train it with Trainer.step (one array per input, one label array per output)`);
  const trainer = await Trainer.create(gpu, model, { optimizer: options.optimizer, defaultOptimizer: options.defaultOptimizer, lrScale: options.lrScale, maxBatch: options.batchSize, seed: options.seed });
  const history: EpochResult[] = [];
  try {
    if (options.state) trainer.restoreState(options.state);
    for (let epoch = options.startEpoch ?? 0; epoch < options.epochs; epoch++) {
      const steps = batchCount(train.count, options.batchSize);
      const t0 = performance.now();
      let step = 0;
      let seen = 0;
      let sumLoss = 0;
      let sumTop1 = 0;
      let rows = 0;
      const logEvery = options.logEvery ?? 20;
      const { augment, preprocess } = options;
      for (const batch of epochBatches(train, { batchSize: options.batchSize, seed: options.seed, epoch, preprocess: augment ? null : preprocess })) {
        if (augment) await augment.apply(batch, await trainer.inputTensor(batch.size));
        await trainer.step(augment ? null : batch.inputs, batch.labels);
        step++;
        seen += batch.size;
        if (step % logEvery === 0 || step === steps) {
          const m = await trainer.readMetrics();
          sumLoss += m.loss * m.rows;
          sumTop1 += m.top1 * m.rows;
          rows += m.rows;
          const elapsed = (performance.now() - t0) / 1000;
          options.onProgress?.({ epoch, step, steps, loss: m.loss, top1: m.top1, samplesPerSecond: seen / elapsed });
        }
      }
      const seconds = (performance.now() - t0) / 1000;
      await trainer.syncModel();
      const result: EpochResult = {
        epoch,
        trainLoss: sumLoss / rows,
        trainTop1: sumTop1 / rows,
        seconds,
        samplesPerSecond: seen / seconds,
        test: options.test ? await evaluate(gpu, model, options.test, options.batchSize, options) : undefined,
      };
      if (options.recalibrateBn) {
        await trainer.recalibrateBatchNorm(epochBatches(train, { batchSize: options.batchSize, seed: options.seed, epoch, shuffle: false, preprocess: options.preprocess }));
        await trainer.syncModel();
        if (options.test) result.testRecalibrated = await evaluate(gpu, model, options.test, options.batchSize, options);
      }
      history.push(result);
      options.onEpoch?.(result);
      await options.afterEpoch?.(result, trainer);
    }
  } finally {
    trainer.destroy();
  }
  return history;
}

/**
 * Top-1 (Keras' accuracy: argmax equals the label), top-5 (in_top_k), mean cross-entropy and the
 * confusion matrix of `model` on `data` (src/train/metrics.ts), through a compiled inference plan,
 * on its output probabilities as Keras' evaluate does; inputs by `preprocess` (default preprocessMnist).
 */
export async function evaluate(gpu: Gpu, model: Model, data: LabeledSamples, batchSize = 500, options: { preprocess?: (pixels: Uint8Array, out: Float32Array) => Float32Array } = {}): Promise<Evaluation> {
  const plan = await InferencePlan.compile(gpu, model, { maxBatch: batchSize });
  let top1 = 0;
  let top5 = 0;
  let loss = 0;
  let confusion: number[][] = [];
  try {
    for (const batch of epochBatches(data, { batchSize, seed: 0, epoch: 0, shuffle: false, preprocess: options.preprocess })) {
      const probs = (await plan.run(batch.inputs)).get(model.outputs[0])!.data;
      const C = probs.length / batch.size;
      if (confusion.length !== C) confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0));
      for (let r = 0; r < batch.size; r++) {
        const row = probs.subarray(r * C, (r + 1) * C);
        const label = batch.labels[r];
        const hits = rowHits(row, label);
        if (hits.top1) top1++;
        if (hits.top5) top5++;
        loss -= Math.log(Math.max(row[label], 1e-30));
        if (label < C && hits.predicted >= 0) confusion[label][hits.predicted]++;
      }
    }
  } finally {
    plan.destroy();
  }
  return { top1: top1 / data.count, top5: top5 / data.count, loss: loss / data.count, count: data.count, confusion };
}
