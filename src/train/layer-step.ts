// What the trainer asks of each trainable layer: a forward for training (batch statistics, what
// the backward needs kept) and the backward beside it, the parameters the optimizer updates, and
// the weights written back to the model. One file per layer family (linear-step.ts,
// batchnorm-step.ts, shape-steps.ts, merge-steps.ts); src/train/step-graph.ts wires them into the
// model's graph and src/train/trainer.ts records the whole step.
import type { Gpu } from '../gpu/context.js';
import type { Model } from '../model/model.js';
import type { BinaryFloatMethod } from '../ops/gemm-binary-float.js';
import type { Tensor } from '../tensor.js';

/**
 * Which kernels a step runs on:
 * - 'binary': the engine's own: +-1 operands bit-packed, XNOR-popcount forward, sign-select
 *   backward; per sign activation only its bit and its STE mask bit are kept;
 * - 'float': a float simulation of the same model, as Larq or Brevitas train it: +-1 values as
 *   f32, every GEMM through the fp32 kernel, the quantizers' float inputs and outputs kept for the
 *   backward. The baseline training throughput and memory are measured against (bench/train.ts).
 */
export type TrainKernels = 'binary' | 'float';

export interface StepContext {
  /** The device (a capturing view while a step is recorded). */
  gpu: Gpu;
  kernels: TrainKernels;
  /** How the binary backward GEMMs sum their sign-selected terms (binaryFloatGemm's method). */
  backwardMethod: BinaryFloatMethod;
  /**
   * 'train': batch statistics, moving averages updated with the layer's momentum, what the
   * backward needs kept. 'frozen': the same forward for a layer whose backward will not run
   * (before the first layer with parameters): nothing kept. 'recalibrate': batch statistics, the
   * moving averages updated with `recalibrateMomentum` (k/(k+1) at batch k: a plain average),
   * nothing kept.
   */
  mode: 'train' | 'frozen' | 'recalibrate';
  recalibrateMomentum?: number;
  /** Called with each tensor a forward keeps for its backward (the training-memory report). */
  keep(t: Tensor): void;
  /**
   * u32 [seed, step], rewritten before each step: where stochastic_ste_sign draws its random
   * numbers (signWithMask's `stochastic`). Absent: every sign is deterministic (recalibration).
   */
  noise?: Tensor;
}

/** A tensor the optimizer updates and its gradient. */
export interface TrainParam {
  value: Tensor;
  grad: Tensor;
  /** Larq's weight_clip: the value clipped to [-clip, clip] after each update. */
  clip?: number;
  /** The model's weight name (`layer/kernel`), the optimizer state's key in checkpoints. */
  label: string;
  /** A kernel binarized by ste_sign in the forward pass: what Bop trains. */
  binary?: boolean;
  /** A kernel's fans (fan_in, fan_out; a convolution's count taps x channels): BinaryNet's Glorot learning-rate scale. */
  fans?: [number, number];
}

export interface LayerStep {
  readonly name: string;
  readonly params: readonly TrainParam[];
  /**
   * Once per step before the forward passes (e.g. binarize the latent weights). Not per
   * recording: recorded as the step's first dispatches.
   */
  prepare(ctx: StepContext): Promise<void>;
  /** Takes ownership of x (f32 [B, ...]) and returns y, owned by the caller. */
  forward(ctx: StepContext, x: Tensor): Promise<Tensor>;
  /**
   * Takes ownership of dy and of what forward kept; returns dL/dx, or null for a layer built
   * without an input gradient (the first layer: the model's input needs none).
   */
  backward(ctx: StepContext, dy: Tensor): Promise<Tensor | null>;
  /** Writes the trained weights back to the model, in Keras layouts. */
  sync(model: Model): Promise<void>;
  /** Bytes of per-layer tensors beyond the optimizer's parameters and state (binarized copies). */
  extraParameterBytes?(): number;
  /** The moving statistics a recalibration restarts from zero (BatchNormalization). */
  resetMovingStatistics?(gpu: Gpu): void;
  destroy(): void;
}

/** A layer that reads several values (Add, Concatenate): no parameters; a gradient for each input. */
export interface MergeStep {
  readonly merge: true;
  readonly name: string;
  /** Takes ownership of every x and returns y, owned by the caller. */
  forward(ctx: StepContext, xs: Tensor[]): Promise<Tensor>;
  /** Takes ownership of dy; returns dL/dx for each input, in order (owned by the caller). */
  backward(ctx: StepContext, dy: Tensor): Promise<Tensor[]>;
}
