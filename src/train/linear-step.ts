// Dense, QuantDense, Conv2D and QuantConv2D in training: the input quantizer, the kernel
// quantizer (latent float weights quantized on every forward pass), the product (linear-ops.ts),
// bias and activation; forward and backward side by side. Which kernels run: the compiler's kernel
// path mapped to training's (src/plan/kernel-path.ts, trainingPathOf):
//
//   binary kernels, input and kernel ste_sign     the seed's layers: x and W as bits (their STE
//     masks as bits), z = XNOR-popcount product; dW = dz^T . x_b and dx = dz . W_b read the +-1
//     operand packed (sign-select / sign tables); per input value 2 bits are kept
//   binary kernels, no input quantizer, ste_sign kernel   a real-valued first layer: sign-select
//     forward, dW from the float input
//   otherwise (other quantizers, float layers, the float simulation)   every product in f32:
//     q(x) and q(W) as floats, Larq's STE / surrogate gradient from the kept x and W
//
// Bias and activation follow the product: y = act(z + b); the backward takes act' at z + b
// (kept) and db = the sum of dL/d(z + b) over every axis but the last. With XNOR-Net's input
// scaling (xnor_input_scale), z = product * K per output position (src/ops/xnor-scale.ts): K is
// computed from the real-valued input before its bits replace it, and the backward adds K's share
// of dL/dx (sign(x) from the kept bits) to the STE's.
import type { Gpu } from '../gpu/context.js';
import type { Model } from '../model/model.js';
import type { Quantizer } from '../model/quantizers.js';
import { channelAffine, quantize, type ChannelActivation } from '../ops/elementwise.js';
import { biasGradient } from '../ops/reduce.js';
import { signWithMask, steSignBackward } from '../ops/sign-ste.js';
import { activationBackward, quantizeWeights, quantizerBackward } from '../ops/train-elementwise.js';
import { transposeF32Reference } from '../ops/transpose.js';
import { pack } from '../ops/bitpack.js';
import { ShapeError } from '../gpu/errors.js';
import { rowDots, scaleRows, xnorInputScale, xnorInputScaleBackward, xnorWindowKernel, type XnorScaleOptions } from '../ops/xnor-scale.js';
import { type Shape, type Tensor } from '../tensor.js';
import type { LayerStep, StepContext, TrainParam } from './layer-step.js';
import { reshaped, type LinearOp } from './linear-ops.js';

export interface LinearConfig {
  name: string;
  op: LinearOp;
  /** A sample's input shape. */
  inShape: Shape;
  /** Larq's input and kernel quantizers (null: none, a float input or float weights). */
  inputQuantizer: Quantizer | null;
  kernelQuantizer: Quantizer | null;
  /** Larq's weight_clip on the kernel, if any. */
  weightClip?: number;
  useBias: boolean;
  activation: ChannelActivation;
  /** Whether the backward computes dL/dx (not for the first layer: the model's input). */
  inputGrad: boolean;
  /** Stochastic binarization: the input draws from stream `stream`, the kernel from `stream + 1`. */
  stream?: number;
  /** XNOR-Net's input scaling K (the layer's xnor_input_scale; a binary input quantizer): z = (q(x) . q(W)) * K. */
  xnorInputScale?: boolean;
  /** The product's kernels per kernel set: the layer's shared kernel path as training maps it (trainingPathOf). */
  paths: Record<'binary' | 'float', Path>;
}

type Path = 'bits' | 'signSelect' | 'float';

/** What forward keeps for backward. */
interface Kept {
  path: Path;
  /** bits path: the input's sign bits and STE mask bits (in the op's input view). */
  xBits?: Tensor;
  xMask?: Tensor;
  /** signSelect / float paths: the input as the product read it (q(x), or x without a quantizer). */
  xq?: Tensor;
  /** float path with an input quantizer: x itself, for the quantizer's gradient. */
  x?: Tensor;
  /** z + b, when an activation follows (its gradient reads it). */
  pre?: Tensor;
  /** XNOR-Net's K per output position, and the product it scaled (dL/dK = sum of dz * product). */
  k?: Tensor;
  product?: Tensor;
  batch: number;
}

/** A quantizer that trains as sign bits with Larq's clip STE as a bit mask (ste_sign; BinaryNet's stochastic one). */
export const isSignQuantizer = (q: Quantizer | null) => q?.training.signMask !== undefined;

/** signWithMask's stochastic option for quantizer q, drawing from `stream` (none when deterministic). */
function draw(ctx: StepContext, q: Quantizer | null, stream: number) {
  return q?.stochastic && ctx.noise ? { noise: ctx.noise, stream } : undefined;
}

export class LinearStep implements LayerStep {
  readonly params: readonly TrainParam[];
  private readonly latent: Tensor;
  private readonly grad: Tensor;
  private readonly bias: Tensor | null;
  private readonly biasGrad: Tensor | null;
  // Per step, from the latent weights (prepare).
  private wBits: Tensor | null = null;
  private wMask: Tensor | null = null;
  private wq: Tensor | null = null;
  private wStats: Tensor | null = null;
  private kept: Kept | null = null;
  /** XNOR-Net's K: where its window reads (null: the layer has none). */
  private readonly scale: XnorScaleOptions | null;

  constructor(
    private readonly gpu: Gpu,
    readonly config: LinearConfig,
    kernel: Float32Array, // Keras layout: [K, N] or [KH, KW, I, O]
    bias: Float32Array | null,
  ) {
    const { name, op } = config;
    const units = op.units;
    const cols = kernel.length / units;
    this.latent = gpu.upload(transposeF32Reference(kernel, cols, units), op.weightShape, 'f32', `${name}/kernel`);
    this.grad = gpu.tensor(op.weightShape, 'f32', `${name}/kernel.grad`);
    this.bias = config.useBias ? gpu.upload(bias!, [units], 'f32', `${name}/bias`) : null;
    this.biasGrad = config.useBias ? gpu.tensor([units], 'f32', `${name}/bias.grad`) : null;
    const [out, ...rest] = op.weightShape;
    const taps = rest.length === 3 ? rest[0] * rest[1] : 1;
    const fans: [number, number] = [rest.reduce((a, b) => a * b, 1), taps * out];
    const params: TrainParam[] = [{ value: this.latent, grad: this.grad, clip: config.weightClip, label: `${name}/kernel`, binary: isSignQuantizer(config.kernelQuantizer), fans }];
    if (this.bias) params.push({ value: this.bias, grad: this.biasGrad!, label: `${name}/bias` });
    this.params = params;
    if (config.xnorInputScale && !config.inputQuantizer?.binary) throw new ShapeError(`${name}: XNOR-Net's input scaling needs a binary input quantizer (it scales sign(x))`);
    const sw = op.scaleWindow;
    this.scale = !config.xnorInputScale ? null : sw ? { conv: { ...sw, windowKernel: xnorWindowKernel(gpu, sw.kernelSize, `${name}/xnor.window`) } } : {};
  }

  get name(): string {
    return this.config.name;
  }

  /** Which kernels the product runs on for this step. */
  private path(ctx: StepContext): Path {
    return this.config.paths[ctx.kernels];
  }

  async prepare(ctx: StepContext): Promise<void> {
    const { gpu } = ctx;
    const { name, op, kernelQuantizer: qk } = this.config;
    const path = this.path(ctx);
    if (isSignQuantizer(qk)) {
      this.wBits ??= this.gpu.tensor(op.weightShape, 'b1', `${name}/kernel.bits`);
      this.wMask ??= this.gpu.tensor(op.weightShape, 'b1', `${name}/kernel.mask`);
      const stochastic = draw(ctx, qk, (this.config.stream ?? 0) + 1);
      await signWithMask(gpu, this.latent, { clipValue: qk!.training.signMask!.clipValue, bits: this.wBits, mask: this.wMask, stochastic, label: `${name}.kernel.sign` });
    }
    if (path !== 'float') {
      await op.prepareBits(gpu, this.wBits!, name);
      return;
    }
    if (!qk) {
      await op.prepareFloat(gpu, this.latent, name);
      return;
    }
    this.wq ??= this.gpu.tensor(op.weightShape, 'f32', `${name}/kernel.quantized`);
    const q = await quantizeWeights(gpu, this.latent, qk, { channelAxis: 'first', out: this.wq, label: `${name}.kernel.quantize` });
    this.wStats?.release();
    this.wStats = q.stats ?? null;
    await op.prepareFloat(gpu, this.wq, name);
  }

  async forward(ctx: StepContext, x: Tensor): Promise<Tensor> {
    const { gpu } = ctx;
    const { name, op, inputQuantizer: qi, inputGrad } = this.config;
    const train = ctx.mode === 'train';
    const path = this.path(ctx);
    const batch = x.shape[0];
    const xv = op.inputView(x);
    const kept: Kept = { path, batch };
    // K from the real-valued input, before the quantizer's bits replace it.
    const k = this.scale ? await xnorInputScale(gpu, xv, { ...this.scale, label: `${name}.xnor.K` }) : null;
    let z: Tensor;
    if (path === 'bits') {
      const stochastic = draw(ctx, qi, this.config.stream ?? 0);
      const sx = await signWithMask(gpu, xv, { clipValue: qi!.training.signMask!.clipValue, stochastic, label: `${name}.input.sign` });
      x.release();
      z = await op.forwardBits(gpu, sx.bits, this.wBits!, `${name}.forward`);
      kept.xBits = sx.bits;
      if (inputGrad) kept.xMask = sx.mask;
      else sx.mask.release();
    } else if (path === 'signSelect') {
      z = await op.forwardSignSelect(gpu, xv, this.wBits!, `${name}.forward`);
      kept.xq = xv;
    } else {
      const w = this.config.kernelQuantizer ? this.wq! : this.latent;
      const xq = qi ? await quantize(gpu, xv, { quantizer: qi, label: `${name}.input.quantize` }) : xv;
      const xf = await op.floatInput(gpu, xq, name);
      z = await op.forwardFloat(gpu, xf, w, `${name}.forward.f32`);
      kept.xq = xf;
      if (xf !== xq) xq.release();
      if (qi && inputGrad) kept.x = xv;
      else if (xq !== xv || xf !== xq) x.release();
    }
    if (k) {
      kept.product = z;
      kept.k = k;
      z = await scaleRows(gpu, z, k, { label: `${name}.xnor.scale` });
    }
    // Bias and activation.
    let y = z;
    if (this.bias) {
      y = await channelAffine(gpu, z, { bias: this.bias, label: `${name}.bias` });
      if (z !== kept.product) z.release();
    }
    if (this.config.activation !== 'linear') {
      const pre = y;
      y = await channelAffine(gpu, pre, { activation: this.config.activation, label: `${name}.activation` });
      kept.pre = pre;
    }
    const held = [kept.xBits, kept.xMask, kept.xq, kept.x, kept.pre, kept.k, kept.product].filter((t): t is Tensor => !!t);
    if (train) {
      this.kept = kept;
      for (const t of held) ctx.keep(t);
    } else {
      for (const t of held) t.release();
    }
    return y;
  }

  async backward(ctx: StepContext, dy: Tensor): Promise<Tensor | null> {
    const { gpu, backwardMethod } = ctx;
    const { name, op, inputQuantizer: qi, kernelQuantizer: qk, inputGrad, inShape } = this.config;
    const kept = this.kept!;
    this.kept = null;
    // Activation, then bias.
    let dz = dy;
    if (kept.pre) {
      dz = await activationBackward(gpu, kept.pre, dy, this.config.activation, { label: `${name}.activation.backward` });
      dy.release();
      kept.pre.release();
    }
    if (this.bias) await biasGradient(gpu, dz, { out: this.biasGrad!, label: `${name}.bias.grad` });
    // Through K: dL/dK = sum over the row of dz * product (only the input's gradient reads it), and dz * K on to the product.
    let dK: Tensor | null = null;
    if (kept.k) {
      if (inputGrad) dK = await rowDots(gpu, dz, kept.product!, { label: `${name}.xnor.dK` });
      const scaled = await scaleRows(gpu, dz, kept.k, { label: `${name}.xnor.dz` });
      dz.release();
      kept.k.release();
      kept.product!.release();
      dz = scaled;
    }
    // The kernel's gradient through its quantizer.
    const dWq = !qk ? this.grad : undefined; // float weights: the product's gradient is the gradient
    let dW: Tensor;
    if (kept.path === 'bits') {
      dW = await op.filterGradBits(gpu, dz, kept.xBits!, backwardMethod, `${name}.dW`, dWq);
      if (!dK) kept.xBits!.release();
    } else {
      dW = await op.filterGradFloat(gpu, dz, kept.xq!, `${name}.dW`, dWq);
    }
    if (isSignQuantizer(qk)) {
      await steSignBackward(gpu, dW, this.wMask!, { out: this.grad, label: `${name}.dW.ste` });
      dW.release();
    } else if (qk) {
      // ste_tern's threshold does not enter its gradient; magnitude_aware_sign's and DoReFa's statistic does.
      const stats = qk.statistic?.inBackward ? (this.wStats ?? undefined) : undefined;
      await quantizerBackward(gpu, this.latent, dW, qk, { channelAxis: 'first', stats, out: this.grad, label: `${name}.dW.quantizer` });
      dW.release();
    }
    // The input's gradient through its quantizer.
    let dx: Tensor | null = null;
    if (inputGrad) {
      if (kept.path === 'float') {
        const dxq = await op.inputGradFloat(gpu, dz, qk ? this.wq! : this.latent, inShape, `${name}.dx`);
        if (qi) {
          dx = await quantizerBackward(gpu, kept.x!, dxq, qi, { label: `${name}.dx.quantizer` });
          dxq.release();
        } else {
          dx = dxq;
        }
      } else {
        const dxq = await op.inputGradBits(gpu, dz, this.wBits!, inShape, backwardMethod, `${name}.dx`);
        if (kept.path === 'bits') {
          dx = await steSignBackward(gpu, dxq, kept.xMask!, { label: `${name}.dx.ste` });
          dxq.release();
        } else {
          dx = dxq;
        }
      }
      if (dK) {
        // K's share: sign(x) * dL/dA / C, sign(x) from the kept bits (the float path packs x).
        const xBits = kept.path === 'bits' ? kept.xBits! : await pack(gpu, kept.x!, { label: `${name}.xnor.sign` });
        await xnorInputScaleBackward(gpu, dK, xBits, dx, { ...this.scale, label: `${name}.xnor.dx` });
        xBits.release();
        dK.release();
      }
      dx = reshaped(dx, [kept.batch, ...inShape]);
    }
    for (const t of [kept.xMask, kept.x, kept.path === 'bits' ? undefined : kept.xq]) t?.release();
    dz.release();
    return dx;
  }

  extraParameterBytes(): number {
    return [this.wBits, this.wMask, this.wq, this.wStats, this.scale?.conv?.windowKernel].reduce((s, t) => s + (t?.byteLength ?? 0), 0) + this.config.op.byteLength;
  }

  async sync(model: Model): Promise<void> {
    const w = (await this.latent.read()) as Float32Array;
    const units = this.config.op.units;
    model.setWeight(`${this.name}/kernel`, transposeF32Reference(w, units, w.length / units));
    if (this.bias) model.setWeight(`${this.name}/bias`, (await this.bias.read()) as Float32Array);
  }

  destroy(): void {
    for (const t of [this.latent, this.grad, this.bias, this.biasGrad, this.wBits, this.wMask, this.wq, this.wStats, this.scale?.conv?.windowKernel]) t?.release();
    this.config.op.destroy();
  }
}
