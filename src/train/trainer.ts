// Training on the GPU with the bit-level kernels (issue 5). The model becomes a list of layer
// steps (layer-step.ts: one file per layer kind, forward and backward side by side); one training
// step is recorded once per batch size through Gpu.capture (like an inference plan) and replayed:
// each layer's prepare (binarize latent weights), forward with batch statistics, sparse softmax
// cross-entropy with metrics summed on the GPU, backward with Larq's STEs, the optimizer's
// update; one command buffer per step. `kernels: 'float'` runs the same model as a float
// simulation through the fp32 kernels: the baseline of bench/train.ts.
//
// What trains today: a Sequential stack of Flatten, QuantDense (ste_sign input and kernel
// quantizers, no bias), each optionally followed by BatchNormalization, ending in a softmax.
import { BufferPool } from '../gpu/buffer-pool.js';
import type { Dispatch, Gpu } from '../gpu/context.js';
import { LimitError, ShapeError } from '../gpu/errors.js';
import { Model } from '../model/model.js';
import { getQuantizer } from '../model/quantizers.js';
import type { LayerSpec } from '../model/layer-config.js';
import type { BinaryFloatMethod } from '../ops/gemm-binary-float.js';
import { LossMetrics, softmaxCrossEntropy, type LossTotals } from '../ops/loss.js';
import { Tensor } from '../tensor.js';
import { BatchNormStep } from './batchnorm-step.js';
import { QuantDenseStep } from './dense-step.js';
import type { LayerStep, StepContext, TrainKernels } from './layer-step.js';
import { createOptimizer, type Optimizer, type OptimizerConfig } from './optimizers.js';

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
  optimizer?: OptimizerConfig;
  /** Largest batch a step takes. Default 300 (the seed's). */
  maxBatch?: number;
  /** The engine's binary kernels (default) or a float simulation of the same model (layer-step.ts). */
  kernels?: TrainKernels;
  /** How the binary backward GEMMs sum sign-selected terms (binaryFloatGemm's method). Default 'table'. */
  backwardMethod?: BinaryFloatMethod;
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

  private constructor(
    readonly gpu: Gpu,
    readonly model: Model,
    private readonly layers: LayerStep[],
    readonly optimizer: Optimizer,
    readonly maxBatch: number,
    readonly kernels: TrainKernels,
    readonly backwardMethod: BinaryFloatMethod,
    private readonly inputFeatures: number,
  ) {
    this.metrics = LossMetrics.create(gpu, { label: `${model.name}.metrics` });
  }

  /** Uploads `model`'s weights (latent, Keras layout in) and prepares the optimizer. */
  static async create(gpu: Gpu, model: Model, options: TrainerOptions = {}): Promise<Trainer> {
    const kernels = options.kernels ?? 'binary';
    if (kernels !== 'binary' && kernels !== 'float') throw new ShapeError(`Trainer: kernels must be 'binary' or 'float', got ${JSON.stringify(kernels)}`);
    const backwardMethod = options.backwardMethod ?? 'table';
    if (backwardMethod !== 'table' && backwardMethod !== 'select') throw new ShapeError(`Trainer: backwardMethod must be 'table' or 'select', got ${JSON.stringify(backwardMethod)}`);
    const maxBatch = options.maxBatch ?? 300;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new ShapeError(`Trainer: maxBatch must be a positive integer, got ${maxBatch}`);
    const { layers, inputFeatures } = layerSteps(gpu, model);
    const optimizer = createOptimizer(gpu, options.optimizer ?? { kind: 'adam' });
    try {
      for (const l of layers) for (const p of l.params) await optimizer.track(p.value, p.grad, { clip: p.clip, label: p.label });
    } catch (err) {
      optimizer.destroy();
      for (const l of layers) l.destroy();
      throw err;
    }
    return new Trainer(gpu, model, layers, optimizer, maxBatch, kernels, backwardMethod, inputFeatures);
  }

  /**
   * One step on a batch: `inputs` f32 [B, features] as the model takes them, `labels` class
   * indices. Adds the batch's loss and hits to `metrics` (read them with readMetrics). Nothing is
   * read back.
   */
  async step(inputs: Float32Array, labels: Uint32Array): Promise<void> {
    const v = await this.variantFor(inputs, labels, 'Trainer.step');
    this.gpu.write(v.inputs, inputs);
    this.gpu.write(v.labels, labels);
    this.optimizer.writeUniforms();
    await this.gpu.run(`${this.model.name}.train[batch ${v.batch}]`, (rec) => {
      for (const d of v.dispatches) rec.record(d);
    });
    this.optimizer.iterations++;
  }

  /** The training memory of the step for batch size B (recording it if needed). */
  async memory(batch = this.maxBatch): Promise<TrainingMemory> {
    const v = this.variants.get(batch) ?? (await this.record(batch));
    let parameterBytes = 0;
    for (const p of this.optimizer.params) {
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
    this.optimizer.writeUniforms();
    const kept: Tensor[] = [];
    await this.runStep(this.gpu, v.inputs, v.labels, kept);
    this.optimizer.iterations++;
  }

  private async variantFor(inputs: Float32Array, labels: Uint32Array, what: string): Promise<StepVariant> {
    const B = labels.length;
    if (B < 1 || B > this.maxBatch) throw new LimitError(`${what}: a batch of ${B}; this trainer takes 1 to ${this.maxBatch} (maxBatch)`);
    if (inputs.length !== B * this.inputFeatures) throw new ShapeError(`${what}: ${inputs.length} input values for ${B} samples of ${this.inputFeatures}`);
    return this.variants.get(B) ?? (await this.record(B));
  }

  /** The optimizer's state, read back (with syncModel, what a checkpoint needs to resume exactly). */
  async saveState(): Promise<TrainerState> {
    const states: TrainerState['states'] = [];
    for (const p of this.optimizer.params) {
      for (const [name, t] of Object.entries(p.state)) states.push({ param: p.param.label, name, data: (await t.read()) as Float32Array });
    }
    return { optimizer: this.optimizer.kind, iterations: this.optimizer.iterations, states };
  }

  /** Restores saveState's result into this trainer (same model and optimizer kind), checked entry by entry. */
  restoreState(state: TrainerState): void {
    if (state.optimizer !== this.optimizer.kind) throw new TrainError(`restoreState: the checkpoint's optimizer is ${state.optimizer}, this trainer's ${this.optimizer.kind}; resume with --optimizer ${state.optimizer}`);
    const byKey = new Map(state.states.map((e) => [`${e.param}:${e.name}`, e.data]));
    let used = 0;
    for (const p of this.optimizer.params) {
      for (const [name, t] of Object.entries(p.state)) {
        const data = byKey.get(`${p.param.label}:${name}`);
        if (!data) throw new TrainError(`restoreState: the checkpoint has no optimizer state "${name}" for ${p.param.label}`);
        if (data.length !== t.size) throw new TrainError(`restoreState: optimizer state "${name}" of ${p.param.label} has ${data.length} values, the model needs ${t.size}`);
        this.gpu.write(t, data);
        used++;
      }
    }
    if (used !== state.states.length) throw new TrainError(`restoreState: the checkpoint holds ${state.states.length} optimizer states, this model uses ${used}`);
    this.optimizer.iterations = state.iterations;
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
      let x = g.upload(batch.inputs, [batch.size, this.inputFeatures], 'f32', `${this.model.name}.recalibrate.inputs`);
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
    this.optimizer.destroy();
    this.metrics.release();
    for (const l of this.layers) l.destroy();
  }

  private context(gpu: Gpu, mode: StepContext['mode'], keep: (t: Tensor) => void = () => {}): StepContext {
    return { gpu, kernels: this.kernels, backwardMethod: this.backwardMethod, mode, keep };
  }

  /** Forward, loss, backward and the optimizer's update on `gpu` (a capturing view when recording). */
  private async runStep(gpu: Gpu, inputs: Tensor, labels: Tensor, kept: Tensor[]): Promise<void> {
    const ctx = this.context(gpu, 'train', (t) => kept.push(t));
    for (const l of this.layers) await l.prepare(ctx);
    // The layers release what they do not keep; the model's input is the step's own: lent.
    let x: Tensor = new LentTensor(gpu, inputs.buffer, inputs.shape, 'f32', inputs.label);
    for (const l of this.layers) x = await l.forward(ctx, x);
    // The softmax is the loss's.
    const loss = await softmaxCrossEntropy(gpu, x, labels, { metrics: this.metrics, label: `${this.model.name}.loss` });
    x.release();
    for (const t of [loss.loss, loss.top1, loss.top5]) t.release();
    let dy: Tensor | null = loss.dLogits;
    for (let i = this.layers.length - 1; i >= 0 && dy; i--) dy = await this.layers[i].backward(ctx, dy);
    dy?.release();
    await gpu.run(`${this.model.name}.update`, (rec) => this.optimizer.record(rec));
  }

  /** Records the step for batch size B: forward, loss, backward, optimizer. */
  private async record(B: number): Promise<StepVariant> {
    const arena = new BufferPool(this.gpu.device, this.gpu.limits.maxBufferSize);
    const { gpu, dispatches } = this.gpu.capture(arena);
    const inputs = this.gpu.tensor([B, this.inputFeatures], 'f32', `${this.model.name}.inputs[${B}]`);
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

/** A tensor whose storage belongs to someone else: releasing it is a no-op. */
class LentTensor extends Tensor {
  override release(): void {}
}

/**
 * The model as layer steps, checked: what this trainer covers. The last layer must be the
 * softmax (the loss takes the logits before it).
 */
function layerSteps(gpu: Gpu, model: Model): { layers: LayerStep[]; inputFeatures: number } {
  const spec = model.spec;
  if (spec.inputs.length !== 1 || spec.outputs.length !== 1 || spec.format !== 'sequential') throw new TrainError('Trainer: a Sequential model with one input and one output (for now)');
  const specs = spec.layers;
  const at = (l: LayerSpec) => `layer "${l.name}" (${l.class})`;
  const steClip = (id: unknown, l: LayerSpec, key: string): number | null => {
    const q = getQuantizer(id as never);
    if (!q || q.className !== 'SteSign') throw new TrainError(`${at(l)}: ${key} must be ste_sign for this trainer (got ${q ? q.className : 'none'})`);
    return q.config.clip_value as number | null;
  };
  const last = specs[specs.length - 1];
  const endsInSoftmax = last.class === 'Activation' && last.config.activation === 'softmax';
  const layers: LayerStep[] = [];
  let i = 0;
  if (specs[0].class === 'InputLayer') i++;
  if (specs[i]?.class === 'Flatten') i++;
  let features = 0;
  let inputFeatures = 0;
  try {
    for (; i < specs.length - (endsInSoftmax ? 1 : 0); i++) {
      const l = specs[i];
      if (l.class === 'QuantDense') {
        if (l.config.use_bias) throw new TrainError(`${at(l)}: use_bias=True is not trained yet (the seed models have no biases: the BatchNormalization after each layer has its own)`);
        if (l.config.activation !== 'linear') throw new TrainError(`${at(l)}: activation "${l.config.activation}" is not trained yet`);
        const w = model.weight(`${l.name}/kernel`);
        const [K, N] = w.shape;
        if (layers.length === 0) inputFeatures = K;
        else if (K !== features) throw new TrainError(`${at(l)}: takes ${K} features, the layer before gives ${features}`);
        const constraint = l.config.kernel_constraint as { config: { clip_value: number } } | null | undefined;
        layers.push(
          new QuantDenseStep(
            gpu,
            {
              name: l.name,
              K,
              N,
              kernelClip: steClip(l.config.kernel_quantizer, l, 'kernel_quantizer'),
              inputClip: steClip(l.config.input_quantizer, l, 'input_quantizer'),
              weightClip: constraint?.config.clip_value,
              inputGrad: layers.length > 0,
            },
            w.data as Float32Array,
          ),
        );
        features = N;
      } else if (l.class === 'BatchNormalization' && layers.length > 0) {
        const c = l.config;
        layers.push(
          new BatchNormStep(gpu, { name: l.name, C: features, epsilon: c.epsilon, momentum: c.momentum, center: c.center, scale: c.scale }, (p) => model.weight(`${l.name}/${p}`).data as Float32Array),
        );
      } else {
        throw new TrainError(`${at(l)}: this trainer takes QuantDense + BatchNormalization blocks ending in a softmax; training other layers comes with the rest of issue 5`);
      }
    }
    if (!endsInSoftmax) throw new TrainError(`${at(last)}: the model must end in Activation softmax (the loss is sparse softmax cross-entropy)`);
    if (layers.length === 0) throw new TrainError('Trainer: no QuantDense layer to train');
  } catch (err) {
    for (const l of layers) l.destroy();
    throw err;
  }
  return { layers, inputFeatures };
}
