// The plain CPU forward pass of a model, layer by layer, as Larq/Keras compute it at inference
// (BatchNormalization with moving statistics, quantizers' forwards, Larq's pad_values): the
// reference compiled plans are tested against. Slow and obvious on purpose.
//
// Sums are taken in f64 and each layer's output rounded to f32 once. BatchNormalization is
// evaluated in f64 from the stored parameters, as the compiler's integer thresholds are; Larq
// evaluates it in f32, which can differ from both only where BN(y) is within f32 rounding of 0.
import { batchNormValue } from './batchnorm-fold.js';
import { ShapeError } from '../gpu/errors.js';
import { getQuantizer } from './quantizers.js';
import { addReference, channelAffineReference, concatLastReference, softmaxReference } from '../ops/elementwise.js';
import { xnorInputScaleReference } from '../ops/xnor-scale.js';
import type { Activation, LayerSpec } from './layer-config.js';
import type { ModelSpec } from './tfjs-format.js';

export interface ReferenceValue {
  /** With the batch dimension first. */
  shape: number[];
  data: Float32Array;
}

/**
 * Runs `spec` on `inputs` (one Float32Array per model input, batch-major, NHWC) for `batch`
 * samples. Returns every layer's output by layer name, and for a quantized layer with an input
 * quantizer also its quantized input as `name:input`.
 */
export function referenceForward(spec: ModelSpec, inputs: Float32Array[], batch: number): Map<string, ReferenceValue> {
  if (inputs.length !== spec.inputs.length) throw new ShapeError(`referenceForward: ${inputs.length} inputs given, the model has ${spec.inputs.length}`);
  const values = new Map<string, ReferenceValue>();
  for (const l of spec.layers) {
    let xs: ReferenceValue[];
    if (l.inbound.length === 0) {
      const i = spec.inputs.findIndex((inp) => inp.name === l.name);
      const shape = [batch, ...spec.inputs[i].shape];
      if (inputs[i].length !== shape.reduce((a, b) => a * b, 1)) throw new ShapeError(`referenceForward: input "${l.name}" has ${inputs[i].length} values, [${shape}] needs ${shape.reduce((a, b) => a * b, 1)}`);
      xs = [{ shape, data: inputs[i] }];
    } else xs = l.inbound.map((name) => values.get(name)!);
    for (const [name, v] of layerForward(spec, l, xs)) values.set(name, v);
  }
  return values;
}

function layerForward(spec: ModelSpec, l: LayerSpec, xs: ReferenceValue[]): [string, ReferenceValue][] {
  const x = xs[0];
  const out = (data: Float32Array, shape = [x.shape[0], ...l.outputShape]): [string, ReferenceValue] => [l.name, { shape, data }];
  const weight = (p: string) => spec.weights.get(`${l.name}/${p}`)!.data as Float32Array;
  switch (l.class) {
    case 'InputLayer':
    case 'Dropout':
    case 'Flatten':
    case 'Reshape':
      return [out(x.data)];
    case 'Add':
      // Left to right, each partial sum an f32: as Keras adds, and as the plan's chain of two-input adds.
      return [out(xs.slice(1).reduce((y, v) => addReference(y, v.data), x.data))];
    case 'Concatenate':
      return [out(xs.slice(1).reduce((y, v) => ({ shape: [...y.shape.slice(0, -1), y.shape.at(-1)! + v.shape.at(-1)!], data: concatLastReference(y.data, y.shape.at(-1)!, v.data, v.shape.at(-1)!) }), x).data)];
    case 'GlobalAveragePooling2D':
      return [out(pool(x, [x.shape[1], x.shape[2]], [x.shape[1], x.shape[2]], 'valid', false))];
    case 'ZeroPadding2D':
      return [out(zeroPad(x, l.config.padding))];
    case 'Activation':
      return [out(activate(x.data, x.shape, l.config.activation))];
    case 'Quantizer':
      return [out(getQuantizer(l.config.quantizer)!.forward(x.data, x.shape))];
    case 'BatchNormalization':
      return [out(batchNorm(x, l.config.epsilon, l.config.scale ? weight('gamma') : undefined, l.config.center ? weight('beta') : undefined, weight('moving_mean'), weight('moving_variance'), l.config.shift_based === true))];
    case 'MaxPooling2D':
    case 'AveragePooling2D':
      return [out(pool(x, l.config.pool_size, l.config.strides, l.config.padding, l.class === 'MaxPooling2D'))];
    case 'Dense':
    case 'QuantDense':
    case 'Conv2D':
    case 'QuantConv2D': {
      const quant = l.class === 'QuantDense' || l.class === 'QuantConv2D';
      const iq = quant ? getQuantizer(l.config.input_quantizer) : null;
      const kq = quant ? getQuantizer(l.config.kernel_quantizer) : null;
      const xq = iq ? { shape: x.shape, data: iq.forward(x.data, x.shape) } : x;
      const w = spec.weights.get(`${l.name}/kernel`)!;
      const wq = kq ? kq.forward(w.data as Float32Array, w.shape) : (w.data as Float32Array);
      const bias = l.config.use_bias ? weight('bias') : undefined;
      // XNOR-Net's K scales the product before the bias is added.
      const scaled = quant && l.config.xnor_input_scale === true;
      const y =
        l.class === 'Dense' || l.class === 'QuantDense'
          ? dense(xq, wq, w.shape[1], scaled ? undefined : bias)
          : conv(xq, wq, w.shape, l.outputShape, l.config, l.class === 'QuantConv2D' ? l.config.pad_values : 0, scaled ? undefined : bias);
      if (scaled) scaleByK(y, l.outputShape.at(-1)!, xnorScaleOf(l, x.shape, x.data), bias);
      const result = [out(activate(y, [x.shape[0], ...l.outputShape], l.config.activation))];
      if (iq) result.push([`${l.name}:input`, xq]);
      return result;
    }
    default:
      throw new ShapeError(`referenceForward: layer class ${(l as LayerSpec).class} has no reference`);
  }
}

/** XNOR-Net's K of a layer's real-valued input x (src/ops/xnor-scale.ts), one per output position. */
export function xnorScaleOf(l: LayerSpec, xShape: readonly number[], x: ArrayLike<number>): Float64Array {
  const cols = xShape[xShape.length - 1];
  if (l.class !== 'Conv2D' && l.class !== 'QuantConv2D') return xnorInputScaleReference(x, cols);
  const c = l.config;
  return xnorInputScaleReference(x, cols, { inShape: xShape as [number, number, number, number], kernelSize: c.kernel_size, window: { strides: c.strides, padding: c.padding, dilation: c.dilation_rate } });
}

/** In place: each output row (position) times its K, then + bias (the product is already f32: exact for +-1 operands). */
function scaleByK(y: Float32Array, N: number, k: Float64Array, bias?: Float32Array): void {
  for (let i = 0; i < y.length; i++) y[i] = y[i] * k[Math.floor(i / N)] + (bias ? bias[i % N] : 0);
}

/** x [..., K] . w [K, N] + bias. */
function dense(x: ReferenceValue, w: Float32Array, N: number, bias?: Float32Array): Float32Array {
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

/** TensorFlow's 'same' padding before the first element (the larger half goes after). */
function padBefore(size: number, out: number, k: number, stride: number): number {
  return Math.floor(Math.max((out - 1) * stride + k - size, 0) / 2);
}

/** NHWC x, HWIO kernel; outside the input, taps read `padValue` (Larq's pad_values on the quantized input). */
function conv(
  x: ReferenceValue,
  w: Float32Array,
  wShape: number[],
  outShape: number[],
  c: { strides: [number, number]; dilation_rate: [number, number]; padding: 'valid' | 'same' },
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

/** Keras' BatchNormalization at inference (batchNormValue, shared with the plan's decisions). */
function batchNorm(x: ReferenceValue, eps: number, gamma: Float32Array | undefined, beta: Float32Array | undefined, mean: Float32Array, variance: Float32Array, shift: boolean): Float32Array {
  const bn = { gamma, beta, movingMean: mean, movingVariance: variance, epsilon: eps, shift };
  return Float32Array.from(x.data, (v, i) => batchNormValue(bn, i % mean.length, v));
}

/** Max ignores the padding; average divides by the window's valid elements (TensorFlow's 'same'). */
function pool(x: ReferenceValue, size: [number, number], strides: [number, number], padding: 'valid' | 'same', max: boolean): Float32Array {
  const [N, H, W, C] = x.shape;
  const OH = padding === 'same' ? Math.ceil(H / strides[0]) : Math.floor((H - size[0]) / strides[0]) + 1;
  const OW = padding === 'same' ? Math.ceil(W / strides[1]) : Math.floor((W - size[1]) / strides[1]) + 1;
  const top = padding === 'same' ? padBefore(H, OH, size[0], strides[0]) : 0;
  const left = padding === 'same' ? padBefore(W, OW, size[1], strides[1]) : 0;
  const y = new Float32Array(N * OH * OW * C);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let c = 0; c < C; c++) {
          let acc = max ? -Infinity : 0;
          let count = 0;
          for (let ph = 0; ph < size[0]; ph++) {
            for (let pw = 0; pw < size[1]; pw++) {
              const ih = oh * strides[0] + ph - top;
              const iw = ow * strides[1] + pw - left;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const v = x.data[((n * H + ih) * W + iw) * C + c];
              acc = max ? Math.max(acc, v) : acc + v;
              count++;
            }
          }
          y[((n * OH + oh) * OW + ow) * C + c] = max ? acc : acc / count;
        }
      }
    }
  }
  return y;
}

/** NHWC x with zeros around: [[top, bottom], [left, right]]. */
function zeroPad(x: ReferenceValue, [[top, bottom], [left, right]]: [[number, number], [number, number]]): Float32Array {
  const [N, H, W, C] = x.shape;
  const OH = H + top + bottom;
  const OW = W + left + right;
  const y = new Float32Array(N * OH * OW * C);
  for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) y.set(x.data.subarray(((n * H + h) * W) * C, ((n * H + h) * W + W) * C), ((n * OH + h + top) * OW + left) * C);
  return y;
}

/** Keras's activations (and Larq's hard_tanh, leaky_tanh); softmax over the last axis. The element-wise ops' references. */
export function activate(x: Float32Array, shape: number[], a: Activation): Float32Array {
  if (a === 'linear') return x;
  return a === 'softmax' ? softmaxReference(x, shape) : channelAffineReference(x, shape, { activation: a });
}
