// Training on the GPU with the bit-level kernels (issue 5). The model becomes a list of layer
// steps (layer-step.ts: one file per layer kind, forward and backward side by side); one training
// step is recorded once per batch size through Gpu.capture (like an inference plan) and replayed:
// each layer's prepare (binarize latent weights), forward with batch statistics, sparse softmax
// cross-entropy with metrics summed on the GPU, backward with Larq's STEs, the optimizer's
// update; one command buffer per step. `kernels: 'float'` runs the same model as a float
// simulation through the fp32 kernels: the baseline of bench/train.ts.
//
// What trains: a chain of layers (Sequential, or a functional model whose layers each read the one
// before: Larq's examples) ending in a softmax; layerSteps says which layer kinds and options.
import { BufferPool } from '../gpu/buffer-pool.js';
import type { Dispatch, Gpu } from '../gpu/context.js';
import { LimitError, ShapeError } from '../gpu/errors.js';
import { Model } from '../model/model.js';
import { getQuantizer } from '../model/quantizers.js';
import type { LayerSpec } from '../model/layer-config.js';
import type { BinaryFloatMethod } from '../ops/gemm-binary-float.js';
import { LossMetrics, softmaxCrossEntropy, type LossTotals } from '../ops/loss.js';
import { Tensor, type Shape } from '../tensor.js';
import type { ChannelActivation } from '../ops/elementwise.js';
import { BatchNormStep } from './batchnorm-step.js';
import type { LayerStep, StepContext, TrainKernels } from './layer-step.js';
import { ConvOp, DenseOp } from './linear-ops.js';
import { isSignQuantizer, LinearStep } from './linear-step.js';
import { ElementwiseStep, GradientQuantizerStep, PoolStep, ReshapeStep } from './shape-steps.js';
import { createOptimizer, glorotLrScale, type Optimizer, type OptimizerConfig } from './optimizers.js';

export type { TrainKernels } from './layer-step.js';

/** The model cannot be trained here (yet): names the layer and what is missing. */
export class TrainError extends Error {
  override name = 'TrainError';
}

/** One recorded step for a batch size. */
interface StepVariant {
  batch: number;
  inputs: Tensor;
  labels: Tensor;
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
  readonly metrics: LossMetrics;
  /** Values per sample of the input. */
  readonly inputFeatures: number;

  private constructor(
    readonly gpu: Gpu,
    readonly model: Model,
    private readonly layers: LayerStep[],
    /** One optimizer, or Bop for the binary kernels and `defaultOptimizer` for the rest (Larq's CaseOptimizer). */
    readonly optimizers: readonly Optimizer[],
    readonly maxBatch: number,
    readonly kernels: TrainKernels,
    readonly backwardMethod: BinaryFloatMethod,
    /** A sample's input shape (the model's). */
    readonly inputShape: Shape,
    /** Stochastic binarization's seed; `noise` holds [seed, step] during a step. */
    readonly seed: number,
  ) {
    this.inputFeatures = inputShape.reduce((a, b) => a * b, 1);
    this.metrics = LossMetrics.create(gpu, { label: `${model.name}.metrics` });
    this.noise = gpu.upload(Uint32Array.of(seed, 0), [2], 'u32', `${model.name}.noise`);
  }

  /** [seed, step]: stochastic binarization's draws of this step (rewritten before each). */
  private readonly noise: Tensor;

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
    const { layers, inputShape } = layerSteps(gpu, model, kernels);
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
      for (const l of layers) l.destroy();
      throw err;
    }
    return new Trainer(gpu, model, layers, optimizers, maxBatch, kernels, backwardMethod, inputShape, seed);
  }

  /**
   * One step on a batch: `inputs` f32 [B, features] as the model takes them, `labels` class
   * indices. Adds the batch's loss and hits to `metrics` (read them with readMetrics). Nothing is
   * read back. `inputs` null: the step's input tensor (inputTensor) was written on the GPU.
   */
  async step(inputs: Float32Array | null, labels: Uint32Array): Promise<void> {
    const v = await this.variantFor(inputs, labels, 'Trainer.step');
    if (inputs) this.gpu.write(v.inputs, inputs);
    this.gpu.write(v.labels, labels);
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
  async profileStep(inputs: Float32Array, labels: Uint32Array): Promise<void> {
    const v = await this.variantFor(inputs, labels, 'Trainer.profileStep');
    this.gpu.write(v.inputs, inputs);
    this.gpu.write(v.labels, labels);
    this.gpu.write(this.noise, Uint32Array.of(this.seed, this.optimizer.iterations >>> 0));
    for (const o of this.optimizers) o.writeUniforms();
    const kept: Tensor[] = [];
    await this.runStep(this.gpu, v.inputs, v.labels, kept);
    for (const o of this.optimizers) o.iterations++;
  }

  /** The input tensor of the step for batch size B, f32 [B, ...input shape] (e.g. augmentation writes it; then step(null, labels)). */
  async inputTensor(B: number): Promise<Tensor> {
    return (await this.variantFor(null, { length: B }, 'Trainer.inputTensor')).inputs;
  }

  private async variantFor(inputs: Float32Array | null, labels: { length: number }, what: string): Promise<StepVariant> {
    const B = labels.length;
    if (B < 1 || B > this.maxBatch) throw new LimitError(`${what}: a batch of ${B}; this trainer takes 1 to ${this.maxBatch} (maxBatch)`);
    if (inputs && inputs.length !== B * this.inputFeatures) throw new ShapeError(`${what}: ${inputs.length} input values for ${B} samples of ${this.inputFeatures}`);
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

  /** The loss and top-1/top-5 accuracy over the steps since the last reset (one read-back). */
  async readMetrics(reset = true): Promise<LossTotals> {
    const m = await this.metrics.read();
    if (reset) this.metrics.reset();
    return m;
  }

  /**
   * `--recalibrate-bn`: every BatchNormalization's moving statistics re-estimated as the average
   * of the batch statistics over `batches` with the current weights (a forward pass; momentum
   * k/(k+1) at batch k). After an epoch, Keras's momentum 0.99 leaves the averages far from the
   * trained network's statistics (0.99^200 = 13% of the initial values remain); this is the
   * standard remedy. Runs the ops directly (not a recorded step): once per epoch at most.
   */
  async recalibrateBatchNorm(batches: Iterable<{ inputs: Float32Array; size: number }>): Promise<number> {
    const g = this.gpu;
    const ctx = this.context(g, 'recalibrate');
    for (const l of this.layers) {
      await l.prepare(ctx);
      l.resetMovingStatistics?.(g);
    }
    let k = 0;
    for (const batch of batches) {
      if (batch.inputs.length !== batch.size * this.inputFeatures) throw new ShapeError(`recalibrateBatchNorm: ${batch.inputs.length} inputs for ${batch.size} samples of ${this.inputFeatures}`);
      ctx.recalibrateMomentum = k / (k + 1);
      let x = g.upload(batch.inputs, [batch.size, ...this.inputShape], 'f32', `${this.model.name}.recalibrate.inputs`);
      for (const l of this.layers) x = await l.forward(ctx, x);
      x.release();
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
      v.inputs.buffer.destroy();
      v.labels.buffer.destroy();
      v.arena.trim();
    }
    this.variants.clear();
    for (const o of this.optimizers) o.destroy();
    this.metrics.release();
    this.noise.release();
    for (const l of this.layers) l.destroy();
  }

  private context(gpu: Gpu, mode: StepContext['mode'], keep: (t: Tensor) => void = () => {}): StepContext {
    // Stochastic binarization draws while training only; recalibration sees the inference network.
    const noise = mode === 'recalibrate' ? undefined : this.noise;
    return { gpu, kernels: this.kernels, backwardMethod: this.backwardMethod, mode, keep, noise };
  }

  /** Forward, loss, backward and the optimizer's update on `gpu` (a capturing view when recording). */
  private async runStep(gpu: Gpu, inputs: Tensor, labels: Tensor, kept: Tensor[]): Promise<void> {
    const ctx = this.context(gpu, 'train', (t) => kept.push(t));
    // Layers before the first with parameters need no backward: they keep nothing.
    const first = this.layers.findIndex((l) => l.params.length > 0);
    const frozen: StepContext = { ...ctx, mode: 'frozen' };
    for (const l of this.layers) await l.prepare(ctx);
    // The layers release what they do not keep; the model's input is the step's own: lent.
    let x: Tensor = new LentTensor(gpu, inputs.buffer, inputs.shape, 'f32', inputs.label);
    for (const [i, l] of this.layers.entries()) x = await l.forward(i < first ? frozen : ctx, x);
    // The softmax is the loss's.
    const loss = await softmaxCrossEntropy(gpu, x, labels, { metrics: this.metrics, label: `${this.model.name}.loss` });
    x.release();
    for (const t of [loss.loss, loss.top1, loss.top5]) t.release();
    let dy: Tensor | null = loss.dLogits;
    for (let i = this.layers.length - 1; i >= first && dy; i--) dy = await this.layers[i].backward(ctx, dy);
    dy?.release();
    await gpu.run(`${this.model.name}.update`, (rec) => this.optimizers.forEach((o) => o.record(rec)));
  }

  /** Records the step for batch size B: forward, loss, backward, optimizer. */
  private async record(B: number): Promise<StepVariant> {
    const arena = new BufferPool(this.gpu.device, this.gpu.limits.maxBufferSize);
    const { gpu, dispatches } = this.gpu.capture(arena);
    const inputs = this.gpu.tensor([B, ...this.inputShape], 'f32', `${this.model.name}.inputs[${B}]`);
    const labels = this.gpu.tensor([B], 'u32', `${this.model.name}.labels[${B}]`);
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
      inputs.release();
      labels.release();
      throw err;
    } finally {
      arena.acquire = acquire;
    }
    const keptBytes = kept.reduce((s, t) => s + t.byteLength, 0);
    const v = { batch: B, inputs, labels, dispatches, arena, keptBytes, peakBytes };
    this.variants.set(B, v);
    return v;
  }
}

/** The first layer of a functional model that is not one link of a chain (reads other than the layer before it, or is read twice), or null. */
function chainBreak(spec: Model['spec']): string | null {
  let previous = spec.inputs[0].name;
  const reads = new Map<string, number>();
  for (const l of spec.layers) for (const n of l.inbound) reads.set(n, (reads.get(n) ?? 0) + 1);
  for (const l of spec.layers) {
    if (l.class === 'InputLayer') continue;
    if (l.inbound.length !== 1 || l.inbound[0] !== previous || (reads.get(l.name) ?? 0) > 1) return l.name;
    previous = l.name;
  }
  return previous === spec.outputs[0] ? null : spec.outputs[0];
}

/** A tensor whose storage belongs to someone else: releasing it is a no-op. */
class LentTensor extends Tensor {
  override release(): void {}
}

/**
 * The model as layer steps, checked: what this trainer covers. The model must end in a softmax
 * (an Activation layer, or the last layer's activation): the loss takes the logits before it.
 */
function layerSteps(gpu: Gpu, model: Model, kernels: TrainKernels): { layers: LayerStep[]; inputShape: Shape } {
  const spec = model.spec;
  if (spec.inputs.length !== 1 || spec.outputs.length !== 1) throw new TrainError(`Trainer: a model with one input and one output (for now); "${spec.name}" has ${spec.inputs.length} and ${spec.outputs.length}`);
  const branch = spec.format === 'functional' ? chainBreak(spec) : null;
  if (branch) throw new TrainError(`Trainer: layer "${branch}" branches or merges; this trainer takes a chain of layers (Sequential, or a functional model whose layers each read the one before, as Larq's examples write them) for now`);
  const specs = spec.layers;
  const at = (l: LayerSpec) => `layer "${l.name}" (${l.class})`;
  const last = specs[specs.length - 1];
  const softmaxLayer = last.class === 'Activation' && last.config.activation === 'softmax';
  const softmaxActivation = !softmaxLayer && 'activation' in last.config && last.config.activation === 'softmax' && last.class !== 'Activation';
  if (!softmaxLayer && !softmaxActivation) throw new TrainError(`${at(last)}: the model must end in a softmax (an Activation layer or the last layer's activation): the loss is sparse softmax cross-entropy`);
  const inputShape = spec.inputs[0].shape;
  const layers: LayerStep[] = [];
  let shape: Shape = inputShape;
  let trainable = false; // a layer with parameters came before: inputs need gradients from here on
  const quantizer = (id: unknown) => getQuantizer(id as never);
  try {
    for (const l of softmaxLayer ? specs.slice(0, -1) : specs) {
      const c = l.config as Record<string, any>;
      const activation = (l === last ? 'linear' : c.activation) as ChannelActivation | 'softmax';
      if (activation === 'softmax') throw new TrainError(`${at(l)}: softmax is only trained as the model's output (with the cross-entropy loss)`);
      let step: LayerStep;
      switch (l.class) {
        case 'InputLayer':
          continue;
        case 'Flatten':
          step = new ReshapeStep(l.name, [shape.reduce((a, b) => a * b, 1)]);
          break;
        case 'Dropout':
          if (c.rate !== 0) throw new TrainError(`${at(l)}: Dropout with rate ${c.rate} is not trained yet (its random mask); set rate 0 or remove the layer`);
          step = new ReshapeStep(l.name, shape);
          break;
        case 'Dense':
        case 'QuantDense':
        case 'Conv2D':
        case 'QuantConv2D': {
          const quant = l.class === 'QuantDense' || l.class === 'QuantConv2D';
          const inputQuantizer = quant ? quantizer(c.input_quantizer) : null;
          const kernelQuantizer = quant ? quantizer(c.kernel_quantizer) : null;
          const dense = l.class === 'Dense' || l.class === 'QuantDense';
          if (dense && shape.length !== 1) throw new TrainError(`${at(l)}: takes [${shape.join(', ')}] per sample; this trainer applies Dense to flat inputs (add a Flatten before it)`);
          const padValues = (l.class === 'QuantConv2D' ? c.pad_values : 0) as 0 | 1;
          if (!dense && padValues === 1 && c.padding === 'same' && !(isSignQuantizer(inputQuantizer) && isSignQuantizer(kernelQuantizer))) {
            throw new TrainError(`${at(l)}: pad_values=1 is trained with ste_sign input and kernel quantizers only (the binary kernels); use pad_values=0 or ste_sign`);
          }
          if ([inputQuantizer, kernelQuantizer].some((q) => q?.className === 'DoReFaGradient')) {
            throw new TrainError(`${at(l)}: DoReFaGradient quantizes a gradient: it is a layer of its own after a layer's output (layers.quantizer('dorefa_gradient')), not an input or kernel quantizer`);
          }
          const stochastic = [inputQuantizer, kernelQuantizer].some((q) => q?.className === 'StochasticSteSign');
          if (stochastic && (kernels !== 'binary' || !isSignQuantizer(kernelQuantizer) || !(inputQuantizer === null || isSignQuantizer(inputQuantizer)))) {
            throw new TrainError(`${at(l)}: stochastic_ste_sign trains on the binary kernels only (kernels 'binary'; ste_sign or stochastic_ste_sign on the kernel, and on the input or no input quantizer)`);
          }
          const w = model.weight(`${l.name}/kernel`);
          const op = dense
            ? new DenseOp(gpu, shape[0], c.units, l.name)
            : new ConvOp(gpu, c.filters, c.kernel_size, shape[2], { strides: c.strides, padding: c.padding, dilation: c.dilation_rate, padValues }, l.name);
          const constraint = c.kernel_constraint as { config: { clip_value: number } } | null | undefined;
          step = new LinearStep(
            gpu,
            { name: l.name, op, inShape: shape, inputQuantizer, kernelQuantizer, weightClip: constraint?.config.clip_value, useBias: c.use_bias, activation: activation as ChannelActivation, inputGrad: trainable, stream: 2 * layers.length, xnorInputScale: quant && c.xnor_input_scale === true },
            w.data as Float32Array,
            c.use_bias ? (model.weight(`${l.name}/bias`).data as Float32Array) : null,
          );
          break;
        }
        case 'BatchNormalization':
          step = new BatchNormStep(gpu, { name: l.name, C: shape[shape.length - 1], epsilon: c.epsilon, momentum: c.momentum, center: c.center, scale: c.scale, shift: c.shift_based === true }, (p) => model.weight(`${l.name}/${p}`).data as Float32Array);
          break;
        case 'MaxPooling2D':
        case 'AveragePooling2D':
          step = new PoolStep(l.name, l.class === 'MaxPooling2D' ? 'max' : 'avg', { poolSize: c.pool_size, strides: c.strides, padding: c.padding });
          break;
        case 'Activation':
          step = new ElementwiseStep(l.name, { activation: activation as ChannelActivation });
          break;
        case 'Quantizer':
          if (quantizer(c.quantizer)?.className === 'StochasticSteSign') throw new TrainError(`${at(l)}: stochastic_ste_sign is trained as a QuantDense/QuantConv2D input or kernel quantizer, not as a layer of its own`);
          if (quantizer(c.quantizer)?.className === 'DoReFaGradient') step = new GradientQuantizerStep(l.name, quantizer(c.quantizer)!.config.k_bit as number, 2 * layers.length);
          else step = new ElementwiseStep(l.name, { quantizer: quantizer(c.quantizer) });
          break;
        default:
          throw new TrainError(`${at(l)}: not trained yet`);
      }
      layers.push(step);
      trainable ||= step.params.length > 0;
      shape = l.outputShape;
    }
    if (!layers.some((l) => l.params.length > 0)) throw new TrainError('Trainer: the model has no layer with weights to train');
  } catch (err) {
    for (const l of layers) l.destroy();
    throw err;
  }
  return { layers, inputShape };
}
