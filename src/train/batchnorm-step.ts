// BatchNormalization in training (any rank, channels last): batch statistics and Keras's
// moving averages in the forward, the gradient through the batch statistics in the backward
// (src/ops/batchnorm.ts). Keeps its input z and the batch mean and 1/std (2 floats a channel).
import type { Gpu } from '../gpu/context.js';
import type { Model } from '../model/model.js';
import { batchNormBackward, batchNormForward } from '../ops/batchnorm.js';
import type { Tensor } from '../tensor.js';
import type { LayerStep, StepContext, TrainParam } from './layer-step.js';

export interface BatchNormConfig {
  name: string;
  /** Channels (the last axis). */
  C: number;
  epsilon: number;
  momentum: number;
  center: boolean;
  scale: boolean;
  /** BinaryNet's shift-based BatchNorm (the layer's shift_based key). */
  shift?: boolean;
}

export class BatchNormStep implements LayerStep {
  readonly params: readonly TrainParam[];
  private readonly gamma?: Tensor;
  private readonly beta?: Tensor;
  private readonly dgamma: Tensor;
  private readonly dbeta: Tensor;
  private readonly movingMean: Tensor;
  private readonly movingVar: Tensor;
  private kept: { z: Tensor; saved: Tensor } | null = null;

  constructor(
    gpu: Gpu,
    readonly config: BatchNormConfig,
    weights: (name: string) => Float32Array,
  ) {
    const { name, C } = config;
    const f32 = (data: Float32Array, what: string) => gpu.upload(data, [C], 'f32', `${name}/${what}`);
    this.gamma = config.scale ? f32(weights('gamma'), 'gamma') : undefined;
    this.beta = config.center ? f32(weights('beta'), 'beta') : undefined;
    this.dgamma = f32(new Float32Array(C), 'gamma.grad');
    this.dbeta = f32(new Float32Array(C), 'beta.grad');
    this.movingMean = f32(weights('moving_mean'), 'moving_mean');
    this.movingVar = f32(weights('moving_variance'), 'moving_variance');
    const params: TrainParam[] = [];
    if (this.gamma) params.push({ value: this.gamma, grad: this.dgamma, label: `${name}/gamma` });
    if (this.beta) params.push({ value: this.beta, grad: this.dbeta, label: `${name}/beta` });
    this.params = params;
  }

  get name(): string {
    return this.config.name;
  }

  async prepare(): Promise<void> {}

  async forward(ctx: StepContext, z: Tensor): Promise<Tensor> {
    const train = ctx.mode === 'train';
    const recalibrate = ctx.mode === 'recalibrate';
    const f = await batchNormForward(ctx.gpu, z, {
      gamma: this.gamma,
      beta: this.beta,
      epsilon: this.config.epsilon,
      momentum: recalibrate ? ctx.recalibrateMomentum! : this.config.momentum,
      movingMean: this.movingMean,
      movingVar: this.movingVar,
      shift: this.config.shift,
      label: `${this.name}.${recalibrate ? 'recalibrate' : 'forward'}`,
    });
    if (train) {
      this.kept = { z, saved: f.saved };
      ctx.keep(z);
      ctx.keep(f.saved);
    } else {
      z.release();
      f.saved.release();
    }
    return f.y;
  }

  async backward(ctx: StepContext, dy: Tensor): Promise<Tensor> {
    const { z, saved } = this.kept!;
    this.kept = null;
    const b = await batchNormBackward(ctx.gpu, dy, z, saved, { gamma: this.gamma, shift: this.config.shift, dgamma: this.dgamma, dbeta: this.dbeta, label: `${this.name}.backward` });
    for (const t of [dy, z, saved]) t.release();
    return b.dx;
  }

  resetMovingStatistics(gpu: Gpu): void {
    for (const t of [this.movingMean, this.movingVar]) gpu.write(t, new Float32Array(this.config.C));
  }

  async sync(model: Model): Promise<void> {
    const put = async (t: Tensor | undefined, p: string) => t && model.setWeight(`${this.name}/${p}`, (await t.read()) as Float32Array);
    await put(this.gamma, 'gamma');
    await put(this.beta, 'beta');
    await put(this.movingMean, 'moving_mean');
    await put(this.movingVar, 'moving_variance');
  }

  destroy(): void {
    for (const t of [this.gamma, this.beta, this.dgamma, this.dbeta, this.movingMean, this.movingVar]) t?.release();
  }
}
