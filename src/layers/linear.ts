// The linear layer kinds: Dense, QuantDense, Conv2D, QuantConv2D (Keras's and Larq's). Their keys,
// weights (kernel, bias), output shapes, CPU reference (sums in f64, Larq's pad_values, XNOR-Net's
// K), value facts (a binary input quantizer reads only the sign), and their lowering (the compiler's
// lowerWeightLayer: XNOR-popcount, sign-select, ternary, bit-serial or fp32 kernels with fused epilogues).
import { fail, positiveInt, activation, bool, constraint, nullOnly, IGNORED, quantizer, anything, pair, padding, channelsLast, only, type KeySpec, type Activation, type Padding } from './config-readers.js';
import { defineKind, type LayerOf, type ReferenceValue, type TrainContext, type WeightList } from './kind.js';
import { quantizersOf } from './traits.js';
import { ConvOp, DenseOp } from '../train/linear-ops.js';
import { isSignQuantizer, LinearStep } from '../train/linear-step.js';
import { TrainError } from '../train/train-error.js';
import { TRAINING_REFERENCES } from '../model/training-references.js';
import type { BaseConfig, ConstraintConfig, QuantizerConfig } from './base-config.js';
import { imageShape, padBefore, windowOut } from './shapes.js';
import { getQuantizer } from '../model/quantizers.js';
import { trainingPathOf } from '../plan/kernel-path.js';
import { activate } from './activations.js';
import { xnorInputScaleReference } from '../ops/xnor-scale.js';
import type { LowerContext, PlanValue } from '../plan/lower.js';
import { TfjsTranslationError, type TfjsEnv, type TfjsLayer, type TfTensor } from './tfjs-ops.js';

export interface DenseConfig extends BaseConfig {
  units: number;
  activation: Activation;
  use_bias: boolean;
  kernel_constraint: ConstraintConfig;
}

/**
 * Not a Larq key: XNOR-Net's input scaling K (src/ops/xnor-scale.ts), the product scaled per output
 * position by the mean |x| over the channels and the window. Needs a binary input quantizer (it
 * scales sign(x)); written only when set, so other models stay loadable by Keras and TF.js.
 */
interface XnorInputScaleConfig {
  xnor_input_scale?: boolean;
}

export interface QuantDenseConfig extends DenseConfig, XnorInputScaleConfig {
  input_quantizer: QuantizerConfig;
  kernel_quantizer: QuantizerConfig;
}

export interface Conv2DConfig extends BaseConfig {
  filters: number;
  kernel_size: [number, number];
  strides: [number, number];
  padding: Padding;
  dilation_rate: [number, number];
  activation: Activation;
  use_bias: boolean;
  kernel_constraint: ConstraintConfig;
}

export interface QuantConv2DConfig extends Conv2DConfig, XnorInputScaleConfig {
  input_quantizer: QuantizerConfig;
  kernel_quantizer: QuantizerConfig;
  /** Value of the border when padding = "same": 0 (Larq's default) or 1 (the +1 border of LCE). */
  pad_values: number;
}

// ---- keys ----

const DENSE: Record<string, KeySpec> = {
  units: { read: positiveInt },
  activation: { read: activation, default: 'linear' },
  use_bias: { read: bool, default: true },
  kernel_constraint: { read: constraint, default: null },
  bias_constraint: { read: nullOnly, default: null, drop: true },
  kernel_regularizer: { read: nullOnly, default: null, drop: true },
  bias_regularizer: { read: nullOnly, default: null, drop: true },
  activity_regularizer: { read: nullOnly, default: null, drop: true },
  ...IGNORED('kernel_initializer', 'bias_initializer'),
};

const QUANT: Record<string, KeySpec> = {
  input_quantizer: { read: quantizer, default: null },
  kernel_quantizer: { read: quantizer, default: null },
  xnor_input_scale: { read: bool, default: undefined },
  metrics: { read: anything, default: undefined, drop: true },
};

const { units: _units, ...DENSE_BUT_UNITS } = DENSE;
const CONV: Record<string, KeySpec> = {
  ...DENSE_BUT_UNITS,
  filters: { read: positiveInt },
  kernel_size: { read: pair },
  strides: { read: pair, default: [1, 1] },
  padding: { read: padding, default: 'valid' },
  dilation_rate: { read: pair, default: [1, 1] },
  data_format: { read: channelsLast, default: 'channels_last', drop: true },
};

/** Keras refuses strides and dilation both past 1. */
function finishConv(c: Record<string, unknown>, where: string): void {
  if ((c.strides as number[]).some((s) => s > 1) && (c.dilation_rate as number[]).some((d) => d > 1)) fail(where, 'strides > 1 together with dilation_rate > 1', 'Keras does not allow both');
}

/** XNOR-Net's K scales sign(x): it needs a binary input quantizer. `false` is the default and is dropped. */
function finishQuant(c: Record<string, unknown>, where: string): void {
  if (c.xnor_input_scale === false) delete c.xnor_input_scale;
  if (c.xnor_input_scale && !getQuantizer(c.input_quantizer as QuantizerConfig)?.binary) {
    fail(where, 'xnor_input_scale scales a binarized input (sign(x) * K), but the input quantizer is not binary', 'give the layer input_quantizer "ste_sign" (or another +-1 quantizer), or drop xnor_input_scale');
  }
}

// ---- weights and shapes ----

const denseWeights = (c: DenseConfig, ch: number): WeightList => [['kernel', [ch, c.units]], ...(c.use_bias ? [['bias', [c.units]] as WeightList[0]] : [])];
const convWeights = (c: Conv2DConfig, ch: number): WeightList => [['kernel', [...c.kernel_size, ch, c.filters]], ...(c.use_bias ? [['bias', [c.filters]] as WeightList[0]] : [])];

const denseShape = (c: DenseConfig, [x]: number[][]): number[] => [...x.slice(0, -1), c.units];

/** A 2-D window (convolution or pooling) over an image: [OH, OW], refused where it does not fit. */
export function windowShape(x: number[], k: [number, number], strides: [number, number], dilation: [number, number], pad: Padding, at: string): [number, number] {
  const img = imageShape(x, at);
  const hw = [0, 1].map((i) => windowOut(img[i], k[i], strides[i], dilation[i], pad)) as [number, number];
  if (hw.some((s) => s < 1)) fail(at, `a ${k[0]}x${k[1]} window does not fit the input [${x}] with padding "${pad}"`, 'use padding "same" or a smaller window');
  return hw;
}

const convShape = (c: Conv2DConfig, [x]: number[][], at: string): number[] => [...windowShape(x, c.kernel_size, c.strides, c.dilation_rate, c.padding, at), c.filters];

const denseMacs = (l: { config: DenseConfig }, inShape: number[]) => inShape.reduce((a, b) => a * b, 1) * l.config.units;
const convMacs = (l: { config: Conv2DConfig; outputShape: number[] }, inShape: number[]) =>
  l.outputShape[0] * l.outputShape[1] * l.config.kernel_size[0] * l.config.kernel_size[1] * inShape[inShape.length - 1] * l.config.filters;

// ---- the CPU reference ----

type Linear = LayerOf<'Dense', DenseConfig> | LayerOf<'QuantDense', QuantDenseConfig> | LayerOf<'Conv2D', Conv2DConfig> | LayerOf<'QuantConv2D', QuantConv2DConfig>;
const isQuantLayer = (l: Linear): l is LayerOf<'QuantDense', QuantDenseConfig> | LayerOf<'QuantConv2D', QuantConv2DConfig> => l.class === 'QuantDense' || l.class === 'QuantConv2D';

/** y = act(q_in(x) . q_k(W) [* K] + bias), the quantized input also recorded as `name:input`. */
function linearReference(l: Linear, [x]: ReferenceValue[], ctx: { weight(p: string): Float32Array; also(name: string, v: ReferenceValue): void; spec: { weights: Map<string, { shape: number[]; data: Float32Array | Int32Array | Uint8Array }> } }): Float32Array {
  const quant = isQuantLayer(l);
  const iq = quant ? getQuantizer(l.config.input_quantizer) : null;
  const kq = quant ? getQuantizer(l.config.kernel_quantizer) : null;
  const xq = iq ? { shape: x.shape, data: iq.forward(x.data, x.shape) } : x;
  const w = ctx.spec.weights.get(`${l.name}/kernel`)!;
  const wq = kq ? kq.forward(w.data as Float32Array, w.shape) : (w.data as Float32Array);
  const bias = l.config.use_bias ? ctx.weight('bias') : undefined;
  // XNOR-Net's K scales the product before the bias is added.
  const scaled = quant && l.config.xnor_input_scale === true;
  const y =
    l.class === 'Dense' || l.class === 'QuantDense'
      ? denseReference(xq, wq, w.shape[1], scaled ? undefined : bias)
      : convReference(xq, wq, w.shape, l.outputShape, l.config, l.class === 'QuantConv2D' ? l.config.pad_values : 0, scaled ? undefined : bias);
  if (scaled) scaleByK(y, l.outputShape.at(-1)!, xnorScaleOf(l, x.shape, x.data), bias);
  if (iq) ctx.also(`${l.name}:input`, xq);
  return activate(y, [x.shape[0], ...l.outputShape], l.config.activation);
}

/** XNOR-Net's K of a layer's real-valued input x (src/ops/xnor-scale.ts), one per output position. */
export function xnorScaleOf(l: { class: string; config: unknown }, xShape: readonly number[], x: ArrayLike<number>): Float64Array {
  const cols = xShape[xShape.length - 1];
  if (l.class !== 'Conv2D' && l.class !== 'QuantConv2D') return xnorInputScaleReference(x, cols);
  const c = l.config as Conv2DConfig;
  return xnorInputScaleReference(x, cols, { inShape: xShape as [number, number, number, number], kernelSize: c.kernel_size, window: { strides: c.strides, padding: c.padding, dilation: c.dilation_rate } });
}

/** In place: each output row (position) times its K, then + bias (the product is already f32: exact for +-1 operands). */
function scaleByK(y: Float32Array, N: number, k: Float64Array, bias?: Float32Array): void {
  for (let i = 0; i < y.length; i++) y[i] = y[i] * k[Math.floor(i / N)] + (bias ? bias[i % N] : 0);
}

/** x [..., K] . w [K, N] + bias. */
function denseReference(x: ReferenceValue, w: Float32Array, N: number, bias?: Float32Array): Float32Array {
  const K = x.shape[x.shape.length - 1];
  const rows = x.data.length / K;
  const y = new Float32Array(rows * N);
  for (let r = 0; r < rows; r++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n] : 0;
      for (let k = 0; k < K; k++) s += x.data[r * K + k] * w[k * N + n];
      y[r * N + n] = s;
    }
  }
  return y;
}

/** NHWC x, HWIO kernel; outside the input, taps read `padValue` (Larq's pad_values on the quantized input). */
function convReference(
  x: ReferenceValue,
  w: Float32Array,
  wShape: number[],
  outShape: number[],
  c: { strides: [number, number]; dilation_rate: [number, number]; padding: Padding },
  padValue: number,
  bias?: Float32Array,
): Float32Array {
  const [N, H, W, C] = x.shape;
  const [KH, KW, , O] = wShape;
  const [OH, OW] = outShape;
  const [sh, sw] = c.strides;
  const [dh, dw] = c.dilation_rate;
  const top = c.padding === 'same' ? padBefore(H, OH, (KH - 1) * dh + 1, sh) : 0;
  const left = c.padding === 'same' ? padBefore(W, OW, (KW - 1) * dw + 1, sw) : 0;
  const y = new Float32Array(N * OH * OW * O);
  const acc = new Float64Array(O);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let o = 0; o < O; o++) acc[o] = bias ? bias[o] : 0;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh + kh * dh - top;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw + kw * dw - left;
            const inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
            if (!inside && padValue === 0) continue;
            for (let ci = 0; ci < C; ci++) {
              const v = inside ? x.data[((n * H + ih) * W + iw) * C + ci] : padValue;
              const wBase = ((kh * KW + kw) * C + ci) * O;
              for (let o = 0; o < O; o++) acc[o] += v * w[wBase + o];
            }
          }
        }
        y.set(acc, ((n * OH + oh) * OW + ow) * O);
      }
    }
  }
  return y;
}

// ---- TF.js ----

/**
 * The layer as TF.js ops: at inference the kernel quantized once on the CPU, f32 matMul / conv2d
 * (XNOR-Net's K by a window-averaging conv of mean |x|); in training the latent kernel as a
 * variable, quantized each step by the STE quantizer (dense layers: TF.js's conv2d gradients are
 * not among those the benchmark registers).
 */
function linearTfjs(l: Linear, env: TfjsEnv): TfjsLayer {
  const { tf } = env;
  const c = l.config as Partial<QuantConv2DConfig> & DenseConfig;
  const conv = l.class === 'Conv2D' || l.class === 'QuantConv2D';
  if (c.pad_values) throw new TfjsTranslationError(`${l.name}: the TF.js translation pads with zeros only (pad_values ${c.pad_values})`);
  if (env.training && conv) throw new TfjsTranslationError(`${l.name}: the TF.js training translation has dense layers only`);
  const k = env.weight('kernel')!;
  const kq = getQuantizer(c.kernel_quantizer ?? null);
  const kernelQ = env.training ? env.quantize(c.kernel_quantizer ?? null, l.name) : null;
  const kernel = env.training ? env.param(k.data, k.shape) : env.constant(kq ? kq.forward(Float32Array.from(k.data), k.shape) : k.data, k.shape);
  const b = c.use_bias ? env.weight('bias') : undefined;
  const bias = b ? env.param(b.data, b.shape) : null;
  const inq = env.quantize(c.input_quantizer ?? null, l.name);
  const act = env.activate(c.activation, l.name);
  const cc = l.config as Conv2DConfig;
  const window = c.xnor_input_scale && conv ? env.constant(new Float32Array(cc.kernel_size[0] * cc.kernel_size[1]).fill(1 / (cc.kernel_size[0] * cc.kernel_size[1])), [...cc.kernel_size, 1, 1]) : null;
  // XNOR-Net's K (src/ops/xnor-scale.ts): mean |x| over channels, averaged over the window by a constant kernel.
  const scaleK = (x: TfTensor, y: TfTensor) => {
    const a = tf.moments(tf.abs(x), [x.shape.length - 1], true).mean;
    return tf.mul(y, window ? tf.conv2d(a, window, cc.strides, cc.padding, 'NHWC', cc.dilation_rate) : a);
  };
  return ([x]) => {
    const w = kernelQ ? kernelQ(kernel) : kernel;
    let y = conv ? tf.conv2d(inq(x), w, cc.strides, cc.padding, 'NHWC', cc.dilation_rate) : tf.matMul(inq(x), w);
    if (c.xnor_input_scale) y = scaleK(x, y);
    if (bias) y = tf.add(y, bias);
    return act(y);
  };
}

// ---- training ----

/**
 * The GPU training step of a linear layer (src/train/linear-step.ts over linear-ops.ts): the
 * product on bits, by sign-select or in f32 as its quantizers allow; refused with a TrainError
 * where this trainer has no path (pad_values 1 off the binary kernels, stochastic binarization off
 * them, DoReFaGradient as an input or kernel quantizer).
 */
function trainLinear(l: Linear, ctx: TrainContext): LinearStep {
  const { gpu, model, shape, at } = ctx;
  const c = l.config as Partial<QuantConv2DConfig> & Partial<QuantDenseConfig> & { use_bias: boolean; kernel_constraint: ConstraintConfig };
  const { input: inputQuantizer, kernel: kernelQuantizer } = quantizersOf(l);
  const dense = l.class === 'Dense' || l.class === 'QuantDense';
  if (dense && shape.length !== 1) throw new TrainError(`${at}: takes [${shape.join(', ')}] per sample; this trainer applies Dense to flat inputs (add a Flatten before it)`);
  const padValues = (c.pad_values ?? 0) as 0 | 1;
  if (!dense && padValues === 1 && c.padding === 'same' && !(isSignQuantizer(inputQuantizer) && isSignQuantizer(kernelQuantizer))) {
    throw new TrainError(`${at}: pad_values=1 is trained with ste_sign input and kernel quantizers only (the binary kernels); use pad_values=0 or ste_sign`);
  }
  const gradientOnly = [inputQuantizer, kernelQuantizer].find((q) => q?.training.gradient);
  if (gradientOnly) {
    throw new TrainError(`${at}: ${gradientOnly.className} quantizes a gradient: it is a layer of its own after a layer's output (layers.quantizer), not an input or kernel quantizer`);
  }
  const stochastic = [inputQuantizer, kernelQuantizer].some((q) => q?.stochastic);
  if (stochastic && (ctx.kernels !== 'binary' || !isSignQuantizer(kernelQuantizer) || !(inputQuantizer === null || isSignQuantizer(inputQuantizer)))) {
    throw new TrainError(`${at}: stochastic_ste_sign trains on the binary kernels only (kernels 'binary'; ste_sign or stochastic_ste_sign on the kernel, and on the input or no input quantizer)`);
  }
  const w = model.weight(`${l.name}/kernel`);
  const op = dense
    ? new DenseOp(gpu, shape[0], c.units!, l.name)
    : new ConvOp(gpu, c.filters!, c.kernel_size!, shape[2], { strides: c.strides!, padding: c.padding!, dilation: c.dilation_rate!, padValues }, l.name);
  return new LinearStep(
    gpu,
    {
      name: l.name,
      op,
      inShape: shape,
      inputQuantizer,
      kernelQuantizer,
      weightClip: c.kernel_constraint?.config.clip_value,
      useBias: c.use_bias,
      activation: ctx.activation,
      inputGrad: ctx.inputGrad,
      stream: ctx.stream,
      xnorInputScale: c.xnor_input_scale === true,
      paths: { binary: trainingPathOf(l, 'binary').path, float: trainingPathOf(l, 'float').path },
    },
    w.data as Float32Array,
    c.use_bias ? (model.weight(`${l.name}/bias`).data as Float32Array) : null,
  );
}

// ---- value facts ----

/** A binary input quantizer reads only the sign, unless XNOR-Net's K also reads the magnitude. */
const quantSignUse = (l: { config: { input_quantizer: QuantizerConfig; xnor_input_scale?: boolean } }) =>
  getQuantizer(l.config.input_quantizer)?.binary && l.config.xnor_input_scale !== true ? ('sign' as const) : ('value' as const);

// ---- the records ----

/** What the four kinds share: the CPU reference, the TF.js translation, the compiler's linear lowering. */
const LINEAR = {
  reference: linearReference,
  tfjs: linearTfjs,
  train: trainLinear,
  lower: (ctx: LowerContext, l: Linear, u: PlanValue, at: string) => ctx.lowerWeightLayer(l, u, at),
} as const;
const DENSE_PRODUCT = { product: 'dense', weights: denseWeights, outputShape: denseShape, macs: denseMacs, trainReference: () => TRAINING_REFERENCES.Dense! } as const;
const CONV_PRODUCT = { product: 'conv', weights: convWeights, outputShape: convShape, macs: convMacs, trainReference: () => TRAINING_REFERENCES.Conv2D! } as const;

export const LINEAR_KINDS = {
  Dense: defineKind<'Dense', DenseConfig>({ className: 'Dense', keys: DENSE, ...DENSE_PRODUCT, ...LINEAR }),
  QuantDense: defineKind<'QuantDense', QuantDenseConfig>({ className: 'QuantDense', keys: { ...DENSE, ...QUANT }, finish: finishQuant, signUse: quantSignUse, ...DENSE_PRODUCT, ...LINEAR }),
  Conv2D: defineKind<'Conv2D', Conv2DConfig>({ className: 'Conv2D', aliases: ['Convolution2D'], keys: CONV, finish: finishConv, ...CONV_PRODUCT, ...LINEAR }),
  QuantConv2D: defineKind<'QuantConv2D', QuantConv2DConfig>({
    className: 'QuantConv2D',
    keys: { ...CONV, ...QUANT, pad_values: { read: only(0, 1), default: 0 } },
    finish: (c, where) => {
      finishConv(c, where);
      finishQuant(c, where);
    },
    signUse: quantSignUse,
    ...CONV_PRODUCT,
    ...LINEAR,
  }),
};
