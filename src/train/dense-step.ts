// QuantDense in training (ste_sign input and kernel quantizers, no bias): forward and backward
// side by side, on the engine's binary kernels or as a float simulation (layer-step.ts).
//
// binary (K inputs, N units, batch B):
//   prepare   signWithMask(W)  -> W_b b1 [N, K], mask_W (|W| <= clip) b1; transposeBits -> W_b^T
//   forward   signWithMask(x)  -> x_b b1 [B, K], mask_x b1        (kept: 2 bits per input value)
//             z = x_b . W_b^T   binaryGemm, affine epilogue (scale 1) -> f32 [B, N]
//   backward  dW = ste(dz^T . x_b)  binaryFloatGemm(transposeF32(dz), transposeBits(x_b)), mask_W
//             dx = ste(dz . W_b)    binaryFloatGemm(dz, W_b^T), mask_x
// float simulation: the same values as f32 +-1, every product through gemmF32; the forward keeps
// x (f32, for the STE mask) and sign(x) (f32, for dW), as a framework's autodiff does.
import type { Gpu } from '../gpu/context.js';
import type { Model } from '../model/model.js';
import { quantize } from '../ops/elementwise.js';
import { binaryFloatGemm } from '../ops/gemm-binary-float.js';
import { binaryGemm } from '../ops/gemm-binary.js';
import { gemmF32 } from '../ops/gemm-f32.js';
import { signWithMask, steSignBackward } from '../ops/sign-ste.js';
import { transposeBits, transposeF32, transposeF32Reference } from '../ops/transpose.js';
import type { Tensor } from '../tensor.js';
import type { LayerStep, StepContext, TrainParam } from './layer-step.js';

export interface QuantDenseConfig {
  name: string;
  /** Inputs and units. */
  K: number;
  N: number;
  /** ste_sign's clip_value of the kernel and of the input (null: the gradient passes everywhere). */
  kernelClip: number | null;
  inputClip: number | null;
  /** Larq's weight_clip on the kernel, if any. */
  weightClip?: number;
  /** Whether the backward computes dL/dx (not for the first layer: the model's input). */
  inputGrad: boolean;
}

/** What forward keeps for backward. */
type Kept = { kind: 'binary'; xBits: Tensor; xMask: Tensor | null } | { kind: 'float'; x: Tensor | null; xSign: Tensor };

export class QuantDenseStep implements LayerStep {
  readonly params: readonly TrainParam[];
  private readonly latent: Tensor; // f32 [N, K]
  private readonly grad: Tensor; // f32 [N, K]
  private readonly bits: Tensor; // b1 [N, K]
  private readonly mask: Tensor; // b1 [N, K]
  private readonly bitsT: Tensor; // b1 [K, N]
  private readonly ones: Tensor; // f32 [N]: the affine epilogue's scale
  private readonly zeros: Tensor; // f32 [N]
  /** Float simulation: sign(W) as f32 [N, K] and its transpose, made by prepare. */
  private signW: Tensor | null = null;
  private signWT: Tensor | null = null;
  private kept: Kept | null = null;

  constructor(
    private readonly gpu: Gpu,
    readonly config: QuantDenseConfig,
    kernel: Float32Array, // Keras layout [K, N]
  ) {
    const { name, K, N } = config;
    const t = (shape: number[], dtype: 'f32' | 'b1', what: string) => gpu.tensor(shape, dtype, `${name}/${what}`);
    this.latent = gpu.upload(transposeF32Reference(kernel, K, N), [N, K], 'f32', `${name}/kernel`);
    this.grad = t([N, K], 'f32', 'kernel.grad');
    this.bits = t([N, K], 'b1', 'kernel.bits');
    this.mask = t([N, K], 'b1', 'kernel.mask');
    this.bitsT = t([K, N], 'b1', 'kernel.bitsT');
    this.ones = gpu.upload(new Float32Array(N).fill(1), [N], 'f32', `${name}/ones`);
    this.zeros = gpu.upload(new Float32Array(N), [N], 'f32', `${name}/zeros`);
    this.params = [{ value: this.latent, grad: this.grad, clip: config.weightClip, label: `${name}/kernel` }];
  }

  get name(): string {
    return this.config.name;
  }

  async prepare(ctx: StepContext): Promise<void> {
    const { gpu } = ctx;
    const name = this.name;
    await signWithMask(gpu, this.latent, { clipValue: this.config.kernelClip, bits: this.bits, mask: this.mask, label: `${name}.kernel.sign` });
    if (ctx.kernels === 'binary') {
      await transposeBits(gpu, this.bits, { out: this.bitsT, label: `${name}.kernel.T` });
      return;
    }
    this.signW ??= this.gpu.tensor([this.config.N, this.config.K], 'f32', `${name}/kernel.sign.f32`);
    this.signWT ??= this.gpu.tensor([this.config.K, this.config.N], 'f32', `${name}/kernel.sign.f32.T`);
    await quantize(gpu, this.latent, { quantizer: 'ste_sign', out: this.signW, label: `${name}.kernel.sign.f32` });
    await transposeF32(gpu, this.signW, { out: this.signWT, label: `${name}.kernel.sign.f32.T` });
  }

  async forward(ctx: StepContext, x: Tensor): Promise<Tensor> {
    const { gpu } = ctx;
    const name = this.name;
    const train = ctx.mode === 'train';
    if (ctx.kernels === 'binary') {
      const sx = await signWithMask(gpu, x, { clipValue: this.config.inputClip, label: `${name}.input.sign` });
      x.release();
      const z = await binaryGemm(gpu, sx.bits, this.bits, { epilogue: { kind: 'affine', scale: this.ones, bias: this.zeros }, label: `${name}.forward` });
      if (train) {
        this.kept = { kind: 'binary', xBits: sx.bits, xMask: this.config.inputGrad ? sx.mask : null };
        ctx.keep(sx.bits);
        if (this.config.inputGrad) ctx.keep(sx.mask);
        else sx.mask.release();
      } else {
        sx.bits.release();
        sx.mask.release();
      }
      return z;
    }
    const xSign = await quantize(gpu, x, { quantizer: 'ste_sign', label: `${name}.input.sign.f32` });
    const z = await gemmF32(gpu, xSign, this.signW!, { label: `${name}.forward.f32` });
    if (train) {
      const keepX = this.config.inputGrad;
      this.kept = { kind: 'float', x: keepX ? x : null, xSign };
      if (keepX) ctx.keep(x);
      else x.release();
      ctx.keep(xSign);
    } else {
      x.release();
      xSign.release();
    }
    return z;
  }

  async backward(ctx: StepContext, dz: Tensor): Promise<Tensor | null> {
    const { gpu } = ctx;
    const name = this.name;
    const kept = this.kept!;
    this.kept = null;
    const dzT = await transposeF32(gpu, dz, { label: `${name}.dz.T` });
    // dW, then the kernel's STE.
    let dWq: Tensor;
    if (kept.kind === 'binary') {
      const xT = await transposeBits(gpu, kept.xBits, { label: `${name}.input.T` });
      kept.xBits.release();
      dWq = await binaryFloatGemm(gpu, dzT, xT, { method: ctx.backwardMethod, label: `${name}.dW` });
      xT.release();
    } else {
      const xT = await transposeF32(gpu, kept.xSign, { label: `${name}.input.T` });
      kept.xSign.release();
      dWq = await gemmF32(gpu, dzT, xT, { label: `${name}.dW.f32` });
      xT.release();
    }
    dzT.release();
    await steSignBackward(gpu, dWq, this.mask, { out: this.grad, label: `${name}.dW.ste` });
    dWq.release();
    // dx, then the input's STE.
    let dx: Tensor | null = null;
    if (this.config.inputGrad) {
      let mask: Tensor;
      let dxq: Tensor;
      if (kept.kind === 'binary') {
        dxq = await binaryFloatGemm(gpu, dz, this.bitsT, { method: ctx.backwardMethod, label: `${name}.dx` });
        mask = kept.xMask!;
      } else {
        dxq = await gemmF32(gpu, dz, this.signWT!, { label: `${name}.dx.f32` });
        const s = await signWithMask(gpu, kept.x!, { clipValue: this.config.inputClip, label: `${name}.input.ste` });
        s.bits.release();
        mask = s.mask;
      }
      dx = await steSignBackward(gpu, dxq, mask, { label: `${name}.dx.ste` });
      dxq.release();
      mask.release();
    }
    if (kept.kind === 'float') kept.x?.release();
    dz.release();
    return dx;
  }

  extraParameterBytes(): number {
    return [this.bits, this.mask, this.bitsT, this.ones, this.zeros, this.signW, this.signWT].reduce((s, t) => s + (t?.byteLength ?? 0), 0);
  }

  async sync(model: Model): Promise<void> {
    const w = (await this.latent.read()) as Float32Array;
    model.setWeight(`${this.name}/kernel`, transposeF32Reference(w, this.config.N, this.config.K));
  }

  destroy(): void {
    for (const t of [this.latent, this.grad, this.bits, this.mask, this.bitsT, this.ones, this.zeros, this.signW, this.signWT]) t?.release();
  }
}
