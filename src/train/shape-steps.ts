// The layers without weights, in training: pooling and global average pooling (forward and
// backward on f32), ZeroPadding2D (the backward crops), Flatten, Reshape and Dropout at rate 0
// (views of the same storage), Activation and quantizer layers (element-wise, keeping their input
// for the backward), DoReFa's gradient quantizer. Forward and backward side by side.
import type { Gpu } from '../gpu/context.js';
import type { Model } from '../model/model.js';
import type { Quantizer } from '../model/quantizers.js';
import { channelAffine, quantize, type ChannelActivation } from '../ops/elementwise.js';
import { pad2d, type Padding2d } from '../ops/pad.js';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward, type Pool2dWindow } from '../ops/pool.js';
import { activationBackward, quantizerBackward } from '../ops/train-elementwise.js';
import { dorefaGradient } from '../ops/dorefa-gradient.js';
import type { Shape, Tensor } from '../tensor.js';
import type { LayerStep, StepContext, TrainParam } from './layer-step.js';
import { reshaped } from './linear-ops.js';

/** Steps without parameters share these. */
abstract class StatelessStep implements LayerStep {
  readonly params: readonly TrainParam[] = [];
  constructor(readonly name: string) {}
  async prepare(): Promise<void> {}
  abstract forward(ctx: StepContext, x: Tensor): Promise<Tensor>;
  abstract backward(ctx: StepContext, dy: Tensor): Promise<Tensor | null>;
  async sync(_model: Model): Promise<void> {}
  destroy(): void {}
}

/**
 * MaxPooling2D / AveragePooling2D on f32 NHWC; max keeps its input (the backward finds the maxima).
 * GlobalAveragePooling2D is average pooling over the whole image (window = H x W), its [1, 1, C]
 * output seen as `outShape` ([C] unless keepdims).
 */
export class PoolStep extends StatelessStep {
  private kept: Tensor | Shape | null = null;

  constructor(
    name: string,
    private readonly kind: 'max' | 'avg',
    private readonly window: Pool2dWindow,
    /** A sample's output shape when it is not the pooling's own (global pooling without keepdims). */
    private readonly outShape?: Shape,
  ) {
    super(name);
  }

  async forward(ctx: StepContext, x: Tensor): Promise<Tensor> {
    const label = `${this.name}.forward`;
    const y = this.kind === 'max' ? await maxPool2d(ctx.gpu, x, { ...this.window, label }) : await avgPool2d(ctx.gpu, x, { ...this.window, label });
    if (ctx.mode === 'train' && this.kind === 'max') {
      this.kept = x;
      ctx.keep(x);
    } else {
      if (ctx.mode === 'train') this.kept = x.shape;
      x.release();
    }
    return this.outShape ? reshaped(y, [y.shape[0], ...this.outShape]) : y;
  }

  async backward(ctx: StepContext, dy: Tensor): Promise<Tensor> {
    const kept = this.kept!;
    this.kept = null;
    const label = `${this.name}.backward`;
    // The pooling's own output shape: [B, OH, OW, C] (global pooling: 1 x 1).
    if (this.outShape) dy = reshaped(dy, [dy.shape[0], 1, 1, dy.size / dy.shape[0]]);
    let dx: Tensor;
    if (this.kind === 'max') {
      const x = kept as Tensor;
      dx = await maxPool2dBackward(ctx.gpu, x, dy, { ...this.window, label });
      x.release();
    } else {
      dx = await avgPool2dBackward(ctx.gpu, dy, kept as Shape, { ...this.window, label });
    }
    dy.release();
    return dx;
  }
}

/** ZeroPadding2D: zeros around each image; the gradient is dy cropped back (pad2d with the margins negated). */
export class PadStep extends StatelessStep {
  constructor(
    name: string,
    private readonly padding: Padding2d,
  ) {
    super(name);
  }

  async forward(ctx: StepContext, x: Tensor): Promise<Tensor> {
    const y = await pad2d(ctx.gpu, x, this.padding, { label: `${this.name}.forward` });
    x.release();
    return y;
  }

  async backward(ctx: StepContext, dy: Tensor): Promise<Tensor> {
    const { top, bottom, left, right } = this.padding;
    const dx = await pad2d(ctx.gpu, dy, { top: -top, bottom: -bottom, left: -left, right: -right }, { label: `${this.name}.backward` });
    dy.release();
    return dx;
  }
}

/** Flatten, Reshape and Dropout at rate 0: the same storage under the next shape; the gradient likewise. */
export class ReshapeStep extends StatelessStep {
  private inShape: Shape | null = null;

  constructor(
    name: string,
    private readonly outShape: Shape,
  ) {
    super(name);
  }

  async forward(ctx: StepContext, x: Tensor): Promise<Tensor> {
    if (ctx.mode === 'train') this.inShape = x.shape;
    return reshaped(x, [x.shape[0], ...this.outShape]);
  }

  async backward(_ctx: StepContext, dy: Tensor): Promise<Tensor> {
    const shape = this.inShape!;
    this.inShape = null;
    return reshaped(dy, shape);
  }
}

/** Activation layers (not softmax: the loss's) and Larq quantizer layers, element-wise; keep x. */
export class ElementwiseStep extends StatelessStep {
  private kept: Tensor | null = null;

  constructor(
    name: string,
    private readonly fn: { activation: ChannelActivation } | { quantizer: Quantizer | null },
  ) {
    super(name);
  }

  async forward(ctx: StepContext, x: Tensor): Promise<Tensor> {
    const label = `${this.name}.forward`;
    const y = 'activation' in this.fn ? await channelAffine(ctx.gpu, x, { activation: this.fn.activation, label }) : await quantize(ctx.gpu, x, { quantizer: this.fn.quantizer, label });
    if (ctx.mode === 'train') {
      this.kept = x;
      ctx.keep(x);
    } else {
      x.release();
    }
    return y;
  }

  async backward(ctx: StepContext, dy: Tensor): Promise<Tensor> {
    const x = this.kept!;
    this.kept = null;
    const label = `${this.name}.backward`;
    const dx =
      'activation' in this.fn
        ? await activationBackward(ctx.gpu, x, dy, this.fn.activation, { label })
        : await quantizerBackward(ctx.gpu, x, dy, this.fn.quantizer, { label });
    x.release();
    dy.release();
    return dx;
  }
}

/**
 * DoReFa-Net's gradient quantizer as a layer (DoReFaGradient): the identity going forward (x
 * passes through, nothing kept); the backward quantizes dy to k bits per sample with noise drawn
 * from the step's [seed, step] tensor and the layer's stream (src/ops/dorefa-gradient.ts).
 */
export class GradientQuantizerStep extends StatelessStep {
  constructor(
    name: string,
    private readonly kBit: number,
    private readonly stream: number,
  ) {
    super(name);
  }

  async forward(_ctx: StepContext, x: Tensor): Promise<Tensor> {
    return x;
  }

  async backward(ctx: StepContext, dy: Tensor): Promise<Tensor> {
    const draw = ctx.noise ? { noise: ctx.noise, stream: this.stream } : undefined;
    const dx = await dorefaGradient(ctx.gpu, dy, { kBit: this.kBit, draw, label: `${this.name}.backward` });
    dy.release();
    return dx;
  }
}

export type { Gpu };
