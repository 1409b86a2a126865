// The two products a trainable linear layer can be: Dense (a GEMM) and Conv2D (NHWC, OHWI
// weights), each with the kernels LinearStep (linear-step.ts) picks from: +-1 x +-1 bit-packed,
// f32 x +-1 by sign-select, f32 x f32; and, beside each forward, the two backward products.
// Weights are held as [N, K] (dense) or [O, KH, KW, I] (conv): rows = output units.
import type { Gpu } from '../gpu/context.js';
import { bconv2d, conv2dGeometry, type Conv2dGeometry, type Conv2dWindow } from '../ops/bconv2d.js';
import { conv2d } from '../ops/conv2d.js';
import { bconv2dBackwardFilter, bconv2dBackwardInput, conv2dBackwardFilter, conv2dBackwardInput } from '../ops/conv2d-backward.js';
import { signSelectConv2d } from '../ops/first-layer.js';
import { binaryFloatGemm, type BinaryFloatMethod } from '../ops/gemm-binary-float.js';
import { binaryGemm } from '../ops/gemm-binary.js';
import { gemmF32 } from '../ops/gemm-f32.js';
import { pad2d } from '../ops/pad.js';
import { transposeBits, transposeF32 } from '../ops/transpose.js';
import type { Tensor, Shape } from '../tensor.js';
import { TensorView } from './tensor-handles.js';

export interface LinearOp {
  /** The weights' shape as held: [N, K] or [O, KH, KW, I]. */
  readonly weightShape: Shape;
  /** Output channels (the last axis of the output). */
  readonly units: number;
  /** A sample's output shape for a sample's input shape. */
  outputShape(inShape: Shape): Shape;
  /**
   * The input as the op reads it (same storage): dense [B, K] (the quantizer's bits then pack
   * along K), conv NHWC (packed along C). Input gradients come back in this shape.
   */
  inputView(x: Tensor): Tensor;
  /** Once per step: what the backward needs of the binarized weights (dense: their transpose). */
  prepareBits(gpu: Gpu, wBits: Tensor, label: string): Promise<void>;
  prepareFloat(gpu: Gpu, w: Tensor, label: string): Promise<void>;
  /**
   * The f32 path's input as forwardFloat and filterGradFloat read it: x itself, or (a conv with
   * Larq's pad_values 1 and 'same' padding) x padded with ones, the windows then 'valid'.
   */
  floatInput(gpu: Gpu, x: Tensor, label: string): Promise<Tensor>;
  /** z = x . w, +-1 x +-1 (x b1 packed in inputView's shape, w b1), f32 out. */
  forwardBits(gpu: Gpu, xBits: Tensor, wBits: Tensor, label: string): Promise<Tensor>;
  /** z = x . w, f32 x +-1 (w b1) by sign-select. */
  forwardSignSelect(gpu: Gpu, x: Tensor, wBits: Tensor, label: string): Promise<Tensor>;
  forwardFloat(gpu: Gpu, x: Tensor, w: Tensor, label: string): Promise<Tensor>;
  /** dL/dw from dz and the +-1 input (b1), into `out` if given (the weights' shape). */
  filterGradBits(gpu: Gpu, dz: Tensor, xBits: Tensor, method: BinaryFloatMethod, label: string, out?: Tensor): Promise<Tensor>;
  filterGradFloat(gpu: Gpu, dz: Tensor, x: Tensor, label: string, out?: Tensor): Promise<Tensor>;
  /** dL/dx from dz and the +-1 weights (b1; prepareBits ran). */
  inputGradBits(gpu: Gpu, dz: Tensor, wBits: Tensor, inShape: Shape, method: BinaryFloatMethod, label: string): Promise<Tensor>;
  inputGradFloat(gpu: Gpu, dz: Tensor, w: Tensor, inShape: Shape, label: string): Promise<Tensor>;
  /** XNOR-Net's K (src/ops/xnor-scale.ts): a convolution's kernel size and window; null for dense (K per row). */
  readonly scaleWindow: { kernelSize: readonly [number, number]; window: Conv2dWindow } | null;
  /** Bytes of the op's own tensors (constants, transposed weights). */
  readonly byteLength: number;
  destroy(): void;
}

/** Rows of a [B, ...] tensor as a [rows, cols] view of the same storage (no copy; releasing the view releases t). */
export function asMatrix(t: Tensor, cols: number): Tensor {
  return new TensorView(t, [t.size / cols, cols]);
}

/** The same storage under another shape of as many values. */
export function reshaped(t: Tensor, shape: Shape): Tensor {
  return new TensorView(t, shape);
}

/** y = x . W^T, W [N, K]; x [B, K]. */
export class DenseOp implements LinearOp {
  readonly weightShape: Shape;
  readonly scaleWindow = null;
  private bitsT: Tensor | null = null; // b1 [K, N]
  private floatT: Tensor | null = null; // f32 [K, N]
  private readonly plain: PlainEpilogue;

  constructor(
    gpu: Gpu,
    private readonly K: number,
    readonly units: number,
    label: string,
  ) {
    this.weightShape = [units, K];
    this.plain = new PlainEpilogue(gpu, units, label);
  }

  outputShape(): Shape {
    return [this.units];
  }

  inputView(x: Tensor): Tensor {
    return asMatrix(x, this.K);
  }

  async prepareBits(gpu: Gpu, wBits: Tensor, label: string): Promise<void> {
    this.bitsT ??= gpu.tensor([this.K, this.units], 'b1', `${label}/kernel.bitsT`);
    await transposeBits(gpu, wBits, { out: this.bitsT, label: `${label}.kernel.T` });
  }

  async prepareFloat(gpu: Gpu, w: Tensor, label: string): Promise<void> {
    this.floatT ??= gpu.tensor([this.K, this.units], 'f32', `${label}/kernel.f32.T`);
    await transposeF32(gpu, w, { out: this.floatT, label: `${label}.kernel.T` });
  }

  async floatInput(_gpu: Gpu, x: Tensor): Promise<Tensor> {
    return x;
  }

  async forwardBits(gpu: Gpu, xBits: Tensor, wBits: Tensor, label: string): Promise<Tensor> {
    return binaryGemm(gpu, xBits, wBits, { epilogue: this.plain.epilogue, label });
  }

  async forwardSignSelect(gpu: Gpu, x: Tensor, wBits: Tensor, label: string): Promise<Tensor> {
    return binaryFloatGemm(gpu, asMatrix(x, this.K), wBits, { label });
  }

  async forwardFloat(gpu: Gpu, x: Tensor, w: Tensor, label: string): Promise<Tensor> {
    return gemmF32(gpu, asMatrix(x, this.K), w, { label });
  }

  async filterGradBits(gpu: Gpu, dz: Tensor, xBits: Tensor, method: BinaryFloatMethod, label: string, out?: Tensor): Promise<Tensor> {
    const dzT = await transposeF32(gpu, dz, { label: `${label}.dz.T` });
    const xT = await transposeBits(gpu, xBits, { label: `${label}.input.T` });
    const dW = await binaryFloatGemm(gpu, dzT, xT, { method, label, out });
    dzT.release();
    xT.release();
    return dW;
  }

  async filterGradFloat(gpu: Gpu, dz: Tensor, x: Tensor, label: string, out?: Tensor): Promise<Tensor> {
    const dzT = await transposeF32(gpu, dz, { label: `${label}.dz.T` });
    const xT = await transposeF32(gpu, asMatrix(x, this.K), { label: `${label}.input.T` });
    const dW = await gemmF32(gpu, dzT, xT, { label, out });
    dzT.release();
    xT.release();
    return dW;
  }

  async inputGradBits(gpu: Gpu, dz: Tensor, _wBits: Tensor, _inShape: Shape, method: BinaryFloatMethod, label: string): Promise<Tensor> {
    return binaryFloatGemm(gpu, dz, this.bitsT!, { method, label });
  }

  async inputGradFloat(gpu: Gpu, dz: Tensor, _w: Tensor, _inShape: Shape, label: string): Promise<Tensor> {
    return gemmF32(gpu, dz, this.floatT!, { label });
  }

  get byteLength(): number {
    return this.plain.byteLength + (this.bitsT?.byteLength ?? 0) + (this.floatT?.byteLength ?? 0);
  }

  destroy(): void {
    this.bitsT?.release();
    this.floatT?.release();
    this.plain.destroy();
  }
}

/** Keras Conv2D / QuantConv2D: NHWC x, OHWI w, Larq's pad_values for the +-1 input. */
export class ConvOp implements LinearOp {
  readonly weightShape: Shape;
  private readonly plain: PlainEpilogue;

  constructor(
    gpu: Gpu,
    readonly units: number,
    private readonly kernel: readonly [number, number],
    inChannels: number,
    private readonly window: Conv2dWindow,
    label: string,
  ) {
    this.weightShape = [units, kernel[0], kernel[1], inChannels];
    this.plain = new PlainEpilogue(gpu, units, label);
  }

  get scaleWindow() {
    return { kernelSize: this.kernel, window: this.floatWindow(false) };
  }

  private geometry(inShape: Shape, batch = 1): Conv2dGeometry {
    return conv2dGeometry([batch, ...inShape], this.weightShape, this.window);
  }

  outputShape(inShape: Shape): Shape {
    const g = this.geometry(inShape);
    return [g.outH, g.outW, this.units];
  }

  inputView(x: Tensor): Tensor {
    return x;
  }

  async prepareBits(): Promise<void> {}
  async prepareFloat(): Promise<void> {}

  /** pad_values 1 with 'same' padding: the fp32 convolution pads with zeros, so the ones are written out. */
  private get padsWithOnes(): boolean {
    return this.window.padValues === 1 && this.window.padding === 'same';
  }

  async floatInput(gpu: Gpu, x: Tensor, label: string): Promise<Tensor> {
    if (!this.padsWithOnes) return x;
    const g = this.geometry(x.shape.slice(1), x.shape[0]);
    const spanH = (g.outH - 1) * g.strideH + (g.kernelH - 1) * g.dilationH + 1;
    const spanW = (g.outW - 1) * g.strideW + (g.kernelW - 1) * g.dilationW + 1;
    const p = { top: g.padTop, left: g.padLeft, bottom: Math.max(0, spanH - g.padTop - g.inH), right: Math.max(0, spanW - g.padLeft - g.inW) };
    return pad2d(gpu, x, p, { fill: 1, label: `${label}.pad` });
  }

  async forwardBits(gpu: Gpu, xBits: Tensor, wBits: Tensor, label: string): Promise<Tensor> {
    return bconv2d(gpu, xBits, wBits, { ...this.window, epilogue: this.plain.epilogue, label });
  }

  async forwardSignSelect(gpu: Gpu, x: Tensor, wBits: Tensor, label: string): Promise<Tensor> {
    return signSelectConv2d(gpu, x, wBits, { strides: this.window.strides, padding: this.window.padding, dilation: this.window.dilation, label });
  }

  async forwardFloat(gpu: Gpu, x: Tensor, w: Tensor, label: string): Promise<Tensor> {
    return conv2d(gpu, x, w, { ...this.floatWindow(this.padsWithOnes), label });
  }

  async filterGradBits(gpu: Gpu, dz: Tensor, xBits: Tensor, method: BinaryFloatMethod, label: string, out?: Tensor): Promise<Tensor> {
    return bconv2dBackwardFilter(gpu, dz, xBits, { ...this.window, kernelSize: this.kernel, method, label, out });
  }

  async filterGradFloat(gpu: Gpu, dz: Tensor, x: Tensor, label: string, out?: Tensor): Promise<Tensor> {
    return conv2dBackwardFilter(gpu, dz, x, { ...this.floatWindow(this.padsWithOnes), kernelSize: this.kernel, label, out });
  }

  async inputGradBits(gpu: Gpu, dz: Tensor, wBits: Tensor, inShape: Shape, _method: BinaryFloatMethod, label: string): Promise<Tensor> {
    return bconv2dBackwardInput(gpu, dz, wBits, { ...this.window, inputShape: [dz.shape[0], ...inShape], label });
  }

  async inputGradFloat(gpu: Gpu, dz: Tensor, w: Tensor, inShape: Shape, label: string): Promise<Tensor> {
    // The border's value does not reach x's gradient: the zero-padded 'same' geometry serves.
    return conv2dBackwardInput(gpu, dz, w, { ...this.floatWindow(false), inputShape: [dz.shape[0], ...inShape], label });
  }

  /** The fp32 convolution's window (zero padding; 'valid' on an input floatInput padded). */
  private floatWindow(padded: boolean): Conv2dWindow {
    return { strides: this.window.strides, padding: padded ? 'valid' : this.window.padding, dilation: this.window.dilation };
  }

  get byteLength(): number {
    return this.plain.byteLength;
  }

  destroy(): void {
    this.plain.destroy();
  }
}

/** The affine epilogue's scale 1 and bias 0 (a plain f32 result of the binary kernels). */
class PlainEpilogue {
  readonly scale: Tensor;
  readonly bias: Tensor;

  constructor(gpu: Gpu, n: number, label: string) {
    this.scale = gpu.upload(new Float32Array(n).fill(1), [n], 'f32', `${label}/ones`);
    this.bias = gpu.upload(new Float32Array(n), [n], 'f32', `${label}/zeros`);
  }

  get epilogue() {
    return { kind: 'affine' as const, scale: this.scale, bias: this.bias };
  }

  get byteLength(): number {
    return this.scale.byteLength + this.bias.byteLength;
  }

  destroy(): void {
    this.scale.release();
    this.bias.release();
  }
}
