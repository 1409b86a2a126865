// One training run in the page: the library's Trainer driven step by step, as `fit` does (same
// shuffles, optimizer configs, metrics and evaluation, so a page run equals a Node run of the same
// settings), but yielding to the browser after every step, with pause, resume and stop, and a
// checkpoint on the CPU after each epoch (weights and optimizer state) to restart from when the GPU
// is lost.
import {
  DeviceLostError, Model, Trainer, batchCount, epochBatches, evaluate, optimizerConfigs,
  type Evaluation, type Gpu, type LabeledSamples, type OptimizerRun, type TrainerState, type WeightTensor,
} from 'webgpu-bnn';
import { yieldToBrowser } from './dom.js';

export interface RunSettings {
  modelId: string;
  epochs: number;
  batchSize: number;
  seed: number;
  optimizer: OptimizerRun;
  /** Read the running loss and accuracy every this many steps (one read-back each). */
  logEvery: number;
}

export interface Progress {
  epoch: number;
  step: number;
  steps: number;
  /** Running loss and top-1 over the steps since the last progress report. */
  loss: number;
  top1: number;
  samplesPerSecond: number;
}

export interface EpochFigures {
  epoch: number;
  trainLoss: number;
  trainTop1: number;
  test: Evaluation;
  seconds: number;
  samplesPerSecond: number;
}

/** What a restart continues from: the state after `epoch` whole epochs. */
export interface Checkpoint {
  epoch: number;
  weights: Map<string, WeightTensor>;
  state?: TrainerState;
}

export type RunState = 'running' | 'paused' | 'stopped' | 'done' | 'lost' | 'failed';

export interface RunHooks {
  progress(p: Progress): void;
  epoch(e: EpochFigures, model: Model): void;
  state(s: RunState, detail?: unknown): void;
}

const copyWeights = (w: Map<string, WeightTensor>) =>
  new Map([...w].map(([k, t]): [string, WeightTensor] => [k, { shape: [...t.shape], data: t.data.slice() }]));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class TrainingRun {
  state: RunState = 'running';
  checkpoint: Checkpoint;
  readonly history: EpochFigures[] = [];
  /** The model as trained so far (updated after each epoch and when stopped). */
  model: Model;
  private resumeWaiter: (() => void) | null = null;
  private pausedPromise: Promise<void> | null = null;
  private stopRequested = false;

  constructor(
    readonly settings: RunSettings,
    initial: Model,
    readonly data: { train: LabeledSamples; test: LabeledSamples },
    private readonly hooks: RunHooks,
  ) {
    this.model = initial;
    this.checkpoint = { epoch: 0, weights: copyWeights(initial.spec.weights) };
  }

  get stepsPerEpoch(): number {
    return batchCount(this.data.train.count, this.settings.batchSize);
  }

  /**
   * Asks the run to pause before its next step. The state becomes 'paused' when the loop is
   * actually waiting, after the step in flight and its progress report, so nothing moves while
   * the page says paused (a step already submitted to the GPU finishes first).
   */
  pause(): void {
    if (this.state !== 'running' || this.pausedPromise) return;
    this.pausedPromise = new Promise((r) => (this.resumeWaiter = r));
  }

  resume(): void {
    if (!this.pausedPromise) return;
    this.resumeWaiter?.();
    this.pausedPromise = this.resumeWaiter = null;
    this.setState('running');
  }

  stop(): void {
    this.stopRequested = true;
    this.resume();
  }

  /** Trains from the checkpoint to the last epoch on `gpu` (a fresh one after a loss). */
  async run(gpu: Gpu): Promise<void> {
    const { settings, data } = this;
    const cp = this.checkpoint;
    this.stopRequested = false;
    this.pausedPromise = this.resumeWaiter = null; // a pause asked for after the last step of an earlier run
    this.setState('running');
    const model = new Model({ ...this.model.spec, weights: copyWeights(cp.weights) });
    this.model = model;
    const steps = this.stepsPerEpoch;
    const configs = optimizerConfigs(settings.optimizer, settings.epochs, steps);
    let trainer: Trainer | null = null;
    try {
      trainer = await Trainer.create(gpu, model, { ...configs, maxBatch: settings.batchSize });
      if (cp.state) trainer.restoreState(cp.state);
      for (let epoch = cp.epoch; epoch < settings.epochs; epoch++) {
        const t0 = performance.now();
        let pausedMs = 0;
        let step = 0;
        let seen = 0;
        let sumLoss = 0;
        let sumTop1 = 0;
        let rows = 0;
        // At most one step queued behind the one the GPU runs: pause and stop act at once, and
        // the throughput shown is the GPU's.
        let previous: Promise<void> | null = null;
        for (const batch of epochBatches(data.train, { batchSize: settings.batchSize, seed: settings.seed, epoch })) {
          if (this.pausedPromise) {
            const p0 = performance.now();
            await previous; // the last step's GPU work done: nothing runs while paused
            previous = null;
            this.setState('paused');
            await this.pausedPromise;
            pausedMs += performance.now() - p0;
          }
          if (this.stopRequested) break;
          await trainer.step(batch.inputs, batch.labels);
          const done = gpu.device.queue.onSubmittedWorkDone();
          if (previous) await previous;
          previous = done;
          step++;
          seen += batch.size;
          if (step % settings.logEvery === 0 || step === steps) {
            const m = await trainer.readMetrics();
            sumLoss += m.loss * m.rows;
            sumTop1 += m.top1 * m.rows;
            rows += m.rows;
            const elapsed = (performance.now() - t0 - pausedMs) / 1000;
            this.hooks.progress({ epoch, step, steps, loss: m.loss, top1: m.top1, samplesPerSecond: seen / elapsed });
          }
          await yieldToBrowser();
        }
        await previous;
        await trainer.syncModel();
        if (this.stopRequested) {
          this.setState('stopped');
          return;
        }
        const seconds = (performance.now() - t0 - pausedMs) / 1000;
        const test = await evaluate(gpu, model, data.test, settings.batchSize);
        const figures: EpochFigures = { epoch, trainLoss: sumLoss / rows, trainTop1: sumTop1 / rows, test, seconds, samplesPerSecond: seen / seconds };
        this.history.push(figures);
        this.checkpoint = { epoch: epoch + 1, weights: copyWeights(model.spec.weights), state: await trainer.saveState() };
        this.hooks.epoch(figures, model);
      }
      this.setState('done');
    } catch (err) {
      // A lost device fails the call in flight with one error or another; the lost promise says which it was.
      const lost = err instanceof DeviceLostError || (await Promise.race([gpu.device.lost.then(() => true), sleep(300).then(() => false)]));
      this.setState(lost ? 'lost' : 'failed', err);
    } finally {
      try {
        trainer?.destroy();
      } catch {
        // a lost device's buffers are gone already
      }
    }
  }

  private setState(s: RunState, detail?: unknown): void {
    this.state = s;
    this.hooks.state(s, detail);
  }
}
