// Training on the GPU with the bit-level kernels (issue 5). The model becomes a graph of layer
// steps (layer-step.ts; one file per kind family, forward and backward side by side); one training
// step is recorded once per batch size through Gpu.capture (like an inference plan) and replayed:
// each layer's prepare (binarize latent weights), forward with batch statistics, each output's
// loss (times its loss weight) with metrics summed on the GPU, backward
// with Larq's STEs, the optimizer's update; one command buffer per step. `kernels: 'float'` runs
// the same model as a float simulation through the fp32 kernels: the baseline of bench/train.ts.
//
// What trains: a graph of layers (Sequential, or functional: shortcuts, merges, fan-out) with any
// number of inputs and outputs, each output with its own loss as Keras names it (loss-outputs.ts:
// sparse categorical cross-entropy on a softmax, mean squared error, binary cross-entropy on a sigmoid);
// each layer kind's `train` hook (src/layers/) builds its step and says which options train,
// step-graph.ts wires the steps and walks the graph both ways.
import { BufferPool } from '../gpu/buffer-pool.js';
import type { Dispatch, Gpu } from '../gpu/context.js';
import { LimitError, ShapeError } from '../gpu/errors.js';
import type { Model } from '../model/model.js';
import type { BinaryFloatMethod } from '../ops/gemm-binary-float.js';
import { elementwiseLoss, LossMetrics, softmaxCrossEntropy, type LossTotals } from '../ops/loss.js';
import { lossOutputs, type LossName, type LossOutput, type Losses, type LossWeights } from './loss-outputs.js';
import { batchInputs, batchLabels, type BatchInputs, type BatchLabels, type BatchSignature } from './step-batch.js';
import type { Shape, Tensor } from '../tensor.js';
import type { LayerStep, StepContext, TrainKernels } from './layer-step.js';
import { backwardGraph, buildStepGraph, destroySteps, forwardGraph, layerStepsOf, TrainError, type StepGraph } from './step-graph.js';
import { LentTensor } from './tensor-handles.js';
import { createOptimizer, glorotLrScale, type Optimizer, type OptimizerConfig } from './optimizers.js';

export type { TrainKernels } from './layer-step.js';
export type { LossChoice, LossName, Losses, LossWeights } from './loss-outputs.js';
export type { BatchInputs, BatchLabels, OutputLabels } from './step-batch.js';
export { TrainError };

/** One recorded step for a batch size. */
interface StepVariant {
  batch: number;
  /** One per model input, in its order. */
  inputs: Tensor[];
  /** One per output, in the model's order. */
  labels: Tensor[];
  dispatches: Dispatch[];
  arena: BufferPool;
  /** Bytes the forward keeps for the backward (all layers, this batch). */
  keptBytes: number;
  /** Peak bytes of the step's intermediates (its arena) while recording. */
  peakBytes: number;
}

/** What a checkpoint holds besides the model's weights: the optimizer's step count and state. */
export interface TrainerState {
  optimizer: string;
  iterations: number;
  /** Per tracked tensor (by its label, e.g. `quant_dense/kernel`) and state name (`m`, `v`, ...). */
  states: { param: string; name: string; data: Float32Array }[];
}

export interface TrainerOptions {
  /** Default Adam (Keras's defaults). Bop trains the binary kernels; `defaultOptimizer` the rest. */
  optimizer?: OptimizerConfig;
  /** With Bop: the optimizer of every parameter that is not a binary kernel. Default Adam, lr 0.01 (Larq's Bop example). */
  defaultOptimizer?: OptimizerConfig;
  /**
   * 'binarynet': BinaryNet's per-layer learning-rate scale for binary kernels, 1/H with H =
   * sqrt(1.5 / (fan_in + fan_out)) (glorotLrScale; W_LR_scale = "Glorot" in binary_net.py). Not with Bop.
   */
  lrScale?: 'none' | 'binarynet';
  /** Largest batch a step takes. Default 300 (the seed's). */
  maxBatch?: number;
  /** The engine's binary kernels (default) or a float simulation of the same model (layer-step.ts). */
  kernels?: TrainKernels;
  /** How the binary backward GEMMs sum sign-selected terms (binaryFloatGemm's method). Default 'table'. */
  backwardMethod?: BinaryFloatMethod;
  /** Seed of stochastic binarization's random numbers (stochastic_ste_sign); step k draws from (seed, k). Default 0. */
  seed?: number;
  /**
   * Keras's `loss_weights`: the total loss is the sum over outputs of weight x that output's mean
   * loss. One per output in the model's order, or by output name (unnamed outputs weigh 1). Default 1 each.
   */
  lossWeights?: LossWeights;
  /**
   * Keras's `loss`, per output (a list in the model's order, or by output name):
   * 'sparse_categorical_crossentropy' (softmax outputs, class indices), 'mean_squared_error' or
   * 'mse' (any activation but softmax; f32 targets of the output's shape), 'binary_crossentropy'
   * (sigmoid outputs, f32 targets in [0, 1]). Default: a softmax output's is sparse cross-entropy;
   * any other output must be given one.
   */
  losses?: Losses;
}

/**
 * The figures of one output since the last reset: its mean loss (unweighted); top-1/top-5 for a
 * sparse cross-entropy output (NaN for others); binary accuracy for a binary cross-entropy one.
 */
export interface OutputTotals extends LossTotals {
  /** The output layer's name. */
  name: string;
  /** Its loss function. */
  lossFunction: LossName;
  /** Its loss weight. */
  weight: number;
  /** binary_crossentropy: the fraction of target values predicted right at 0.5 (Keras's binary_accuracy). */
  binaryAccuracy?: number;
}

/**
 * readMetrics' result: `loss` is the total, the sum over outputs of weight x mean loss (what the
 * step minimizes; with one output of weight 1, its loss), `top1` and `top5` the first output's
 * (NaN unless its loss is sparse cross-entropy); `outputs` each output's own figures, in the model's order.
 */
export interface TrainerTotals extends LossTotals {
  outputs: OutputTotals[];
}

/** Training memory of a recorded step (bench/train.ts reports it per sample). */
export interface TrainingMemory {
  batch: number;
  /** Bytes of activations the forward keeps for the backward, per sample. */
  keptBytesPerSample: number;
  /** Peak bytes of all the step's intermediates (kept activations, gradients, workspaces), per sample. */
  peakBytesPerSample: number;
  /** Bytes of the parameters, their gradients, binarized copies and optimizer state (independent of the batch). */
  parameterBytes: number;
}

export class Trainer {
  private readonly variants = new Map<number, StepVariant>();
  /** Running loss and hits on the GPU, one per output (in the model's order). */
  readonly metrics: readonly LossMetrics[];
  /** Values per sample of each model input. */
  readonly inputFeatures: readonly number[];
  /** What a batch is checked against (step-batch.ts). */
  private readonly signature: BatchSignature;

  /** The steps with state (parameters, kept activations, moving statistics): every one but the merges. */
  private readonly layers: LayerStep[];

  private constructor(
    readonly gpu: Gpu,
    readonly model: Model,
    private readonly graph: StepGraph,
    /** One optimizer, or Bop for the binary kernels and `defaultOptimizer` for the rest (Larq's CaseOptimizer). */
    readonly optimizers: readonly Optimizer[],
    readonly maxBatch: number,
    readonly kernels: TrainKernels,
    readonly backwardMethod: BinaryFloatMethod,
    /** Stochastic binarization's seed; `noise` holds [seed, step] during a step. */
    readonly seed: number,
  ) {
    this.layers = layerStepsOf(graph);
    this.inputShapes = graph.inputShapes;
    this.inputFeatures = graph.inputShapes.map((s) => s.reduce((a, b) => a * b, 1));
    this.outputs = graph.outputs;
    const targets = (o: LossOutput) => (o.loss === 'sparse_categorical_crossentropy' ? undefined : o.size);
    this.signature = { inputs: model.spec.inputs.map((inp, i) => ({ name: inp.name, features: this.inputFeatures[i] })), outputs: this.outputs.map((o) => ({ name: o.name, targets: targets(o) })) };
    this.metrics = this.outputs.map((o) => LossMetrics.create(gpu, { label: `${model.name}.metrics["${o.name}"]` }));
    this.noise = gpu.upload(Uint32Array.of(seed, 0), [2], 'u32', `${model.name}.noise`);
  }

  /** [seed, step]: stochastic binarization's draws of this step (rewritten before each). */
  private readonly noise: Tensor;
  /** A sample's shape of each model input, in the model's order. */
  readonly inputShapes: readonly Shape[];
  /** The model's outputs, in its order, each with its loss (its weight, the logits it reads). */
  readonly outputs: readonly LossOutput[];

  /** The (first) optimizer: the only one, or Bop. */
  get optimizer(): Optimizer {
    return this.optimizers[0];
  }

  /** Every tracked parameter, over the optimizers. */
  get params(): Optimizer['params'] {
    return this.optimizers.flatMap((o) => o.params);
  }

  /** What a checkpoint records of the optimizers: their kinds, e.g. 'adam' or 'bop+adam'. */
  get optimizerKind(): string {
    return this.optimizers.map((o) => o.kind).join('+');
  }

  /** Uploads `model`'s weights (latent, Keras layout in) and prepares the optimizer. */
  static async create(gpu: Gpu, model: Model, options: TrainerOptions = {}): Promise<Trainer> {
    const kernels = options.kernels ?? 'binary';
    if (kernels !== 'binary' && kernels !== 'float') throw new ShapeError(`Trainer: kernels must be 'binary' or 'float', got ${JSON.stringify(kernels)}`);
    const backwardMethod = options.backwardMethod ?? 'table';
    if (backwardMethod !== 'table' && backwardMethod !== 'select') throw new ShapeError(`Trainer: backwardMethod must be 'table' or 'select', got ${JSON.stringify(backwardMethod)}`);
    const maxBatch = options.maxBatch ?? 300;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new ShapeError(`Trainer: maxBatch must be a positive integer, got ${maxBatch}`);
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new ShapeError(`Trainer: seed must be an integer in [0, 2^32), got ${seed}`);
    // The outputs first: a model the losses cannot take is refused before anything is allocated.
    const outputs = lossOutputs(model.spec, options.lossWeights, options.losses);
    const graph = buildStepGraph(gpu, model, kernels, outputs);
    const layers = layerStepsOf(graph);
    const config = options.optimizer ?? { kind: 'adam' };
    const lrScale = options.lrScale ?? 'none';
    if (lrScale !== 'none' && lrScale !== 'binarynet') throw new ShapeError(`Trainer: lrScale must be 'none' or 'binarynet', got ${JSON.stringify(lrScale)}`);
    if (lrScale === 'binarynet' && config.kind === 'bop') throw new ShapeError("Trainer: lrScale 'binarynet' scales learning rates; Bop's binary kernels have none");
    const optimizers = [createOptimizer(gpu, config)];
    // Bop flips the +-1 kernels (no latent weights); the other parameters (BatchNorm, biases, float
    // layers) need an optimizer of their own: Larq's CaseOptimizer with Adam(0.01), its Bop example.
    if (config.kind === 'bop') optimizers.push(createOptimizer(gpu, options.defaultOptimizer ?? { kind: 'adam', learningRate: 0.01 }));
    try {
      for (const l of layers) {
        for (const p of l.params) {
          if (config.kind === 'bop' && p.binary) await optimizers[0].track(p.value, p.grad, { label: p.label });
          else {
            const scale = lrScale === 'binarynet' && p.binary && p.fans ? glorotLrScale(...p.fans) : undefined;
            await optimizers[optimizers.length - 1].track(p.value, p.grad, { clip: p.clip, label: p.label, lrScale: scale });
          }
        }
      }
      if (config.kind === 'bop' && optimizers[0].params.length === 0) throw new TrainError('Trainer: Bop trains binary kernels (ste_sign kernel quantizer) and this model has none; pick another optimizer');
    } catch (err) {
      for (const o of optimizers) o.destroy();
      destroySteps(graph);
      throw err;
    }
    return new Trainer(gpu, model, graph, optimizers, maxBatch, kernels, backwardMethod, seed);
  }

  /**
   * One step on a batch: `inputs` f32 [B, features] as the model takes them (one array per model
   * input, in its order; one array alone for a one-input model), `labels` one array per
   * output, in the model's order (one alone for a one-output model): a Uint32Array of class indices
   * for a sparse cross-entropy output, a Float32Array of B x the output's size targets for MSE or BCE. Adds the
   * batch's loss and hits to `metrics` (read them with readMetrics). Nothing is read back.
   * `inputs` null: the step's input tensors (inputTensor) were written on the GPU.
   */
  async step(inputs: BatchInputs | null, labels: BatchLabels): Promise<void> {
    const { v, xs, ys } = await this.batchFor(inputs, labels, 'Trainer.step');
    xs?.forEach((x, i) => this.gpu.write(v.inputs[i], x));
    ys.forEach((y, i) => this.gpu.write(v.labels[i], y));
    this.gpu.write(this.noise, Uint32Array.of(this.seed, this.optimizer.iterations >>> 0));
    for (const o of this.optimizers) o.writeUniforms();
    await this.gpu.run(`${this.model.name}.train[batch ${v.batch}]`, (rec) => {
      for (const d of v.dispatches) rec.record(d);
    });
    for (const o of this.optimizers) o.iterations++;
  }

  /** The training memory of the step for batch size B (recording it if needed). */
  async memory(batch = this.maxBatch): Promise<TrainingMemory> {
    const v = this.variants.get(batch) ?? (await this.record(batch));
    let parameterBytes = 0;
    for (const p of this.params) {
      parameterBytes += p.param.byteLength + p.grad.byteLength;
      for (const t of Object.values(p.state)) parameterBytes += t.byteLength;
    }
    for (const l of this.layers) parameterBytes += l.extraParameterBytes?.() ?? 0;
    return { batch, keptBytesPerSample: v.keptBytes / batch, peakBytesPerSample: v.peakBytes / batch, parameterBytes };
  }

  /**
   * One step run op by op (not replayed), each op its own GPU run: with a GpuTimer attached to
   * the device, its read() gives the time of every kernel of the step (bench/train.ts --profile).
   * The step changes the weights like step() does.
   */
  async profileStep(inputs: BatchInputs, labels: BatchLabels): Promise<void> {
    const { v, xs, ys } = await this.batchFor(inputs, labels, 'Trainer.profileStep');
    xs!.forEach((x, i) => this.gpu.write(v.inputs[i], x));
    ys.forEach((y, i) => this.gpu.write(v.labels[i], y));
    this.gpu.write(this.noise, Uint32Array.of(this.seed, this.optimizer.iterations >>> 0));
    for (const o of this.optimizers) o.writeUniforms();
    const kept: Tensor[] = [];
    await this.runStep(this.gpu, v.inputs, v.labels, kept);
    for (const o of this.optimizers) o.iterations++;
  }

  /**
   * An input tensor of the step for batch size B, f32 [B, ...that input's shape] (e.g. augmentation
   * writes it; then step(null, labels)): the model's input number `input` (default the first).
   */
  async inputTensor(B: number, input = 0): Promise<Tensor> {
    if (!Number.isInteger(input) || input < 0 || input >= this.inputShapes.length) throw new ShapeError(`Trainer.inputTensor: input ${input}; the model has ${this.inputShapes.length} input(s), numbered from 0 in its order`);
    return (await this.variantFor(B, 'Trainer.inputTensor')).inputs[input];
  }

  /** The batch checked against the model (step-batch.ts) and the step recorded for its size. */
  private async batchFor(inputs: BatchInputs | null, labels: BatchLabels, what: string) {
    const { batch, labels: ys } = batchLabels(what, this.signature, labels);
    const xs = inputs && batchInputs(what, this.signature, inputs, batch);
    return { v: await this.variantFor(batch, what), xs, ys };
  }

  private async variantFor(B: number, what: string): Promise<StepVariant> {
    if (!Number.isInteger(B) || B < 1 || B > this.maxBatch) throw new LimitError(`${what}: a batch of ${B}; this trainer takes 1 to ${this.maxBatch} (maxBatch)`);
    return this.variants.get(B) ?? (await this.record(B));
  }

  /** The optimizer's state, read back (with syncModel, what a checkpoint needs to resume exactly). */
  async saveState(): Promise<TrainerState> {
    const states: TrainerState['states'] = [];
    for (const p of this.params) {
      for (const [name, t] of Object.entries(p.state)) states.push({ param: p.param.label, name, data: (await t.read()) as Float32Array });
    }
    return { optimizer: this.optimizerKind, iterations: this.optimizer.iterations, states };
  }

  /** Restores saveState's result into this trainer (same model and optimizer kind), checked entry by entry. */
  restoreState(state: TrainerState): void {
    if (state.optimizer !== this.optimizerKind) throw new TrainError(`restoreState: the checkpoint's optimizer is ${state.optimizer}, this trainer's ${this.optimizerKind}; resume with the checkpoint's optimizer`);
    const byKey = new Map(state.states.map((e) => [`${e.param}:${e.name}`, e.data]));
    let used = 0;
    for (const p of this.params) {
      for (const [name, t] of Object.entries(p.state)) {
        const data = byKey.get(`${p.param.label}:${name}`);
        if (!data) throw new TrainError(`restoreState: the checkpoint has no optimizer state "${name}" for ${p.param.label}`);
        if (data.length !== t.size) throw new TrainError(`restoreState: optimizer state "${name}" of ${p.param.label} has ${data.length} values, the model needs ${t.size}`);
        this.gpu.write(t, data);
        used++;
      }
    }
    if (used !== state.states.length) throw new TrainError(`restoreState: the checkpoint holds ${state.states.length} optimizer states, this model uses ${used}`);
    for (const o of this.optimizers) o.iterations = state.iterations;
  }

  /** The loss and top-1/top-5 accuracy over the steps since the last reset (one read-back per output): TrainerTotals. */
  async readMetrics(reset = true): Promise<TrainerTotals> {
    const outputs: OutputTotals[] = [];
    for (const [i, m] of this.metrics.entries()) {
      const o = this.outputs[i];
      const t = await m.read();
      if (reset) m.reset();
      const own = { name: o.name, lossFunction: o.loss, weight: o.weight, rows: t.rows, loss: t.loss };
      if (o.loss === 'sparse_categorical_crossentropy') outputs.push({ ...own, top1: t.top1, top5: t.top5 });
      // The element-wise losses count hits per row (BCE: its values right at 0.5; elementwiseLoss).
      else outputs.push({ ...own, top1: NaN, top5: NaN, ...(o.loss === 'binary_crossentropy' && { binaryAccuracy: t.top1 / o.units }) });
    }
    // Keras's total loss: each output's mean loss times its weight, summed.
    const loss = outputs.reduce((sum, o) => sum + o.weight * o.loss, 0);
    return { rows: outputs[0].rows, loss, top1: outputs[0].top1, top5: outputs[0].top5, outputs };
  }

  /**
   * `--recalibrate-bn`: every BatchNormalization's moving statistics re-estimated as the average
   * of the batch statistics over `batches` with the current weights (a forward pass; momentum
   * k/(k+1) at batch k). After an epoch, Keras's momentum 0.99 leaves the averages far from the
   * trained network's statistics (0.99^200 = 13% of the initial values remain); this is the
   * standard remedy. Runs the ops directly (not a recorded step): once per epoch at most.
   */
  async recalibrateBatchNorm(batches: Iterable<{ inputs: BatchInputs; size: number }>): Promise<number> {
    const g = this.gpu;
    const ctx = this.context(g, 'recalibrate');
    for (const l of this.layers) {
      await l.prepare(ctx);
      l.resetMovingStatistics?.(g);
    }
    let k = 0;
    for (const batch of batches) {
      const xs = batchInputs('recalibrateBatchNorm', this.signature, batch.inputs, batch.size);
      ctx.recalibrateMomentum = k / (k + 1);
      const inputs = xs.map((x, i) => g.upload(x, [batch.size, ...this.inputShapes[i]], 'f32', `${this.model.name}.recalibrate.inputs[${i}]`));
      for (const y of await forwardGraph(this.graph, inputs.map((x) => new LentTensor(x)), () => ctx)) y.release();
      for (const x of inputs) x.release();
      k++;
    }
    return k;
  }

  /** The trained weights back in the model (Keras layouts), for saving or an inference plan. */
  async syncModel(): Promise<Model> {
    for (const l of this.layers) await l.sync(this.model);
    return this.model;
  }

  destroy(): void {
    for (const v of this.variants.values()) {
      for (const d of v.dispatches) d.destroy();
      for (const t of [...v.inputs, ...v.labels]) t.buffer.destroy();
      v.arena.trim();
    }
    this.variants.clear();
    for (const o of this.optimizers) o.destroy();
    for (const m of this.metrics) m.release();
    this.noise.release();
    destroySteps(this.graph);
  }

  private context(gpu: Gpu, mode: StepContext['mode'], keep: (t: Tensor) => void = () => {}): StepContext {
    // Stochastic binarization draws while training only; recalibration sees the inference network.
    const noise = mode === 'recalibrate' ? undefined : this.noise;
    return { gpu, kernels: this.kernels, backwardMethod: this.backwardMethod, mode, keep, noise };
  }

  /** Forward, loss, backward and the optimizer's update on `gpu` (a capturing view when recording). */
  private async runStep(gpu: Gpu, inputs: readonly Tensor[], labels: readonly Tensor[], kept: Tensor[]): Promise<void> {
    const ctx = this.context(gpu, 'train', (t) => kept.push(t));
    // Layers whose backward will not run (nothing before them has parameters) keep nothing.
    const frozen: StepContext = { ...ctx, mode: 'frozen' };
    for (const l of this.layers) await l.prepare(ctx);
    // The steps release what they do not keep; the model's inputs are the step's own: lent.
    const logits = await forwardGraph(this.graph, inputs.map((x) => new LentTensor(x)), (n) => (n.backward ? ctx : frozen));
    // Each output's loss (folding its softmax or sigmoid in); the loss weight scales the gradient it sends back.
    const dLogits: Tensor[] = [];
    for (const [i, o] of this.outputs.entries()) {
      const options = { metrics: this.metrics[i], gradientScale: o.weight, label: `${this.model.name}.loss["${o.name}"]` };
      if (o.loss === 'sparse_categorical_crossentropy') {
        const loss = await softmaxCrossEntropy(gpu, logits[i], labels[i], options);
        for (const t of [loss.loss, loss.top1, loss.top5]) t.release();
        dLogits.push(loss.dLogits);
      } else {
        const loss = await elementwiseLoss(gpu, o.loss, logits[i], labels[i], options);
        for (const t of [loss.loss, loss.hits]) t.release();
        dLogits.push(loss.dX);
      }
      logits[i].release();
    }
    await backwardGraph(this.graph, dLogits, ctx);
    await gpu.run(`${this.model.name}.update`, (rec) => this.optimizers.forEach((o) => o.record(rec)));
  }

  /** Records the step for batch size B: forward, loss, backward, optimizer. */
  private async record(B: number): Promise<StepVariant> {
    const arena = new BufferPool(this.gpu.device, this.gpu.limits.maxBufferSize);
    const { gpu, dispatches } = this.gpu.capture(arena);
    const inputs = this.inputShapes.map((s, i) => this.gpu.tensor([B, ...s], 'f32', `${this.model.name}.inputs["${this.signature.inputs[i].name}"][${B}]`));
    // Class indices, or targets laid out as the output (its logits have the output's shape).
    const shapeOf = (o: LossOutput) => this.model.spec.layers.find((l) => l.name === o.name)!.outputShape;
    const labels = this.outputs.map((o) => (o.loss === 'sparse_categorical_crossentropy' ? this.gpu.tensor([B], 'u32', `${this.model.name}.labels["${o.name}"][${B}]`) : this.gpu.tensor([B, ...shapeOf(o)], 'f32', `${this.model.name}.targets["${o.name}"][${B}]`)));
    let peakBytes = 0;
    const acquire = arena.acquire.bind(arena);
    arena.acquire = (bytes, label) => {
      const b = acquire(bytes, label);
      peakBytes = Math.max(peakBytes, arena.inUseBytes);
      return b;
    };
    const kept: Tensor[] = [];
    try {
      await this.runStep(gpu, inputs, labels, kept);
    } catch (err) {
      for (const d of dispatches) d.destroy();
      arena.trim();
      for (const t of [...inputs, ...labels]) t.release();
      throw err;
    } finally {
      arena.acquire = acquire;
    }
    // A value two readers keep (fan-out) is one storage: counted once.
    const keptBytes = [...new Map(kept.map((t) => [t.buffer, t.byteLength])).values()].reduce((s, b) => s + b, 0);
    const v = { batch: B, inputs, labels, dispatches, arena, keptBytes, peakBytes };
    this.variants.set(B, v);
    return v;
  }
}
