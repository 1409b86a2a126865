// Each layer kind's CPU training reference: its forward in training mode (BatchNormalization with
// batch statistics) beside its backward with Larq's straight-through estimators, in f64. A kind's
// record (src/layers/) points at its entry (`trainReference`); referenceTrainingStep
// (reference-training.ts) runs them over a model. This module reads no layer table, so the records
// can import it whichever module a program loads first.
import { ap2Signed } from '../ap2.js';
import { ShapeError } from '../gpu/errors.js';
import { getQuantizer } from './quantizers.js';
import { xnorScaleOf } from '../layers/linear.js';
import { quantizersOf } from '../layers/traits.js';
import { xnorInputScaleBackwardReference } from '../ops/xnor-scale.js';
import type { Activation, LayerSpec } from './layer-config.js';
import type { ModelSpec } from './tfjs-format.js';

type F64 = Float64Array;

export interface Ctx {
  spec: ModelSpec;
  l: LayerSpec;
  rows: number; // batch x every axis but the last
  inShape: number[]; // without batch
  weight(p: string): F64;
}

export interface TrainLayer {
  forward(c: Ctx, x: F64): { y: F64; saved: unknown; moving?: [string, F64][] };
  backward(c: Ctx, saved: unknown, dy: F64): { dx: F64; grads: [string, F64][] };
}

/** A merge layer (Add, Concatenate): several inputs, a gradient for each. */
export interface MergeTrainLayer {
  merge: true;
  forward(c: MergeCtx, xs: F64[]): { y: F64 };
  backward(c: MergeCtx, dy: F64): F64[];
}

export interface MergeCtx {
  l: LayerSpec;
  /** Each input's shape, without batch. */
  inShapes: number[][];
}

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

/** y = act(x) and dy/dx, element-wise (softmax is the loss's, at the output). */
const ACTIVATIONS: Record<Exclude<Activation, 'softmax'>, [(v: number) => number, (v: number) => number]> = {
  linear: [(v) => v, () => 1],
  relu: [(v) => Math.max(v, 0), (v) => (v > 0 ? 1 : 0)],
  sigmoid: [(v) => 1 / (1 + Math.exp(-v)), (v) => { const s = 1 / (1 + Math.exp(-v)); return s * (1 - s); }],
  tanh: [(v) => Math.tanh(v), (v) => 1 - Math.tanh(v) ** 2],
  hard_tanh: [(v) => Math.min(Math.max(v, -1), 1), (v) => (v >= -1 && v <= 1 ? 1 : 0)],
  leaky_tanh: [(v) => (v <= -1 ? 0.2 * (v + 1) - 1 : v >= 1 ? 0.2 * (v - 1) + 1 : v), (v) => (v <= -1 || v >= 1 ? 0.2 : 1)],
};

function activation(a: Activation, at: string): [(v: number) => number, (v: number) => number] {
  if (a === 'softmax') throw new ShapeError(`${at}: softmax is only supported as the model's output (with the cross-entropy loss)`);
  return ACTIVATIONS[a];
}

/** A layer that views its input under another shape: the gradient is the same values. */
const VIEW: TrainLayer = { forward: (_c, x) => ({ y: x, saved: null }), backward: (_c, _s, dy) => ({ dx: dy, grads: [] }) };

const MERGE_REFERENCES: Record<string, MergeTrainLayer> = {
  // y = x1 + x2 + ...: each input receives dy.
  Add: {
    merge: true,
    forward: (_c, xs) => ({ y: xs.slice(1).reduce((y, v) => y.map((a, i) => a + v[i]), xs[0]) }),
    backward: (c, dy) => c.inShapes.map(() => dy),
  },

  // Rows of each input side by side (last axis): the gradient splits dy's rows back into them.
  Concatenate: {
    merge: true,
    forward(c, xs) {
      const cols = c.inShapes.map((s) => s.at(-1)!);
      const width = cols.reduce((a, b) => a + b, 0);
      const rows = xs[0].length / cols[0];
      const y = new Float64Array(rows * width);
      let offset = 0;
      xs.forEach((x, k) => {
        for (let r = 0; r < rows; r++) y.set(x.subarray(r * cols[k], (r + 1) * cols[k]), r * width + offset);
        offset += cols[k];
      });
      return { y };
    },
    backward(c, dy) {
      const cols = c.inShapes.map((s) => s.at(-1)!);
      const width = cols.reduce((a, b) => a + b, 0);
      const rows = dy.length / width;
      let offset = 0;
      return cols.map((n) => {
        const dx = new Float64Array(rows * n);
        for (let r = 0; r < rows; r++) dx.set(dy.subarray(r * width + offset, r * width + offset + n), r * n);
        offset += n;
        return dx;
      });
    },
  },
};

/** A layer kind's training reference (its record's `trainReference`): one input, or a merge. */
export type TrainingReference = TrainLayer | MergeTrainLayer;

/**
 * The training references by layer kind. Each kind's record (src/layers/) points at its entry
 * (`trainReference`); referenceTrainingStep asks the record, never this table.
 */
const ONE_INPUT_REFERENCES: Record<string, TrainLayer> = {
  InputLayer: VIEW,
  Flatten: VIEW,
  Reshape: VIEW,

  // y[n, c] = mean over the H x W pixels of x[n, :, :, c]; each pixel receives dy[n, c] / (H W).
  GlobalAveragePooling2D: {
    forward(c, x) {
      const [H, W, C] = c.inShape;
      const y = new Float64Array((x.length / (H * W * C)) * C);
      x.forEach((v, i) => (y[Math.floor(i / (H * W * C)) * C + (i % C)] += v / (H * W)));
      return { y, saved: null };
    },
    backward(c, _s, dy) {
      const [H, W, C] = c.inShape;
      const dx = new Float64Array(dy.length * H * W);
      return { dx: dx.map((_, i) => dy[Math.floor(i / (H * W * C)) * C + (i % C)] / (H * W)), grads: [] };
    },
  },

  // Zeros around each image; the gradient is dy cropped back to the input's pixels.
  ZeroPadding2D: {
    forward(c, x) {
      const { H, W, C, OH, OW, top, left } = padGeometry(c);
      const N = x.length / (H * W * C);
      const y = new Float64Array(N * OH * OW * C);
      for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) y.set(x.subarray((n * H + h) * W * C, (n * H + h + 1) * W * C), ((n * OH + h + top) * OW + left) * C);
      return { y, saved: null };
    },
    backward(c, _s, dy) {
      const { H, W, C, OH, OW, top, left } = padGeometry(c);
      const N = dy.length / (OH * OW * C);
      const dx = new Float64Array(N * H * W * C);
      for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) dx.set(dy.subarray(((n * OH + h + top) * OW + left) * C, ((n * OH + h + top) * OW + left + W) * C), (n * H + h) * W * C);
      return { dx, grads: [] };
    },
  },

  Activation: {
    forward(c, x) {
      const [f] = activation((c.l.config as { activation: Activation }).activation, c.l.name);
      return { y: x.map(f), saved: x };
    },
    backward(c, saved, dy) {
      const [, df] = activation((c.l.config as { activation: Activation }).activation, c.l.name);
      const x = saved as F64;
      return { dx: dy.map((g, i) => g * df(x[i])), grads: [] };
    },
  },

  Quantizer: {
    forward(c, x) {
      const q = getQuantizer((c.l.config as unknown as { quantizer: never }).quantizer)!;
      return { y: f64(q.forward(Float32Array.from(x), [c.rows, c.inShape.at(-1)!])), saved: x };
    },
    backward(c, saved, dy) {
      const q = getQuantizer((c.l.config as unknown as { quantizer: never }).quantizer)!;
      return { dx: f64(q.backward(Float32Array.from(saved as F64), Float32Array.from(dy), [c.rows, c.inShape.at(-1)!])), grads: [] };
    },
  },

  // y = act(q_in(x) . q_k(W) + b); the quantizers' backwards are Larq's STEs.
  Dense: denseLayer(),
  QuantDense: denseLayer(),

  // z = q_in(x) * q_k(W) + b (NHWC, HWIO) over TF's window; the quantized input's border is Larq's
  // pad_values, a constant: it feeds the kernel's gradient, none flows back from it.
  Conv2D: convLayer(),
  QuantConv2D: convLayer(),

  // The gradient goes to the window's first maximum in row-major order (TF's MaxPoolGrad on CPU).
  MaxPooling2D: {
    forward(c, x) {
      const g = poolWindow(c);
      const y = new Float64Array(g.N * g.OH * g.OW * g.C).fill(-Infinity);
      const arg = new Int32Array(y.length).fill(-1); // index into x of each output's maximum
      eachTap(g, (o, _t, i) => {
        if (i < 0) return; // max ignores the padding
        for (let ch = 0; ch < g.C; ch++) {
          const v = x[i * g.C + ch];
          if (arg[o * g.C + ch] < 0 || v > y[o * g.C + ch]) [y[o * g.C + ch], arg[o * g.C + ch]] = [v, i * g.C + ch];
        }
      });
      return { y, saved: arg };
    },
    backward(c, saved, dy) {
      const dx = new Float64Array(c.rows * c.inShape.at(-1)!);
      (saved as Int32Array).forEach((i, k) => (dx[i] += dy[k]));
      return { dx, grads: [] };
    },
  },

  // 'same' averages over the taps inside the input only, so each output has its own divisor.
  AveragePooling2D: {
    forward(c, x) {
      const g = poolWindow(c);
      const y = new Float64Array(g.N * g.OH * g.OW * g.C);
      const count = new Float64Array(g.N * g.OH * g.OW);
      eachTap(g, (o, _t, i) => {
        if (i < 0) return;
        count[o]++;
        for (let ch = 0; ch < g.C; ch++) y[o * g.C + ch] += x[i * g.C + ch];
      });
      return { y: y.map((v, k) => v / count[Math.floor(k / g.C)]), saved: count };
    },
    backward(c, saved, dy) {
      const g = poolWindow(c);
      const count = saved as F64;
      const dx = new Float64Array(c.rows * g.C);
      eachTap(g, (o, _t, i) => {
        if (i < 0) return;
        for (let ch = 0; ch < g.C; ch++) dx[i * g.C + ch] += dy[o * g.C + ch] / count[o];
      });
      return { dx, grads: [] };
    },
  },

  Dropout: {
    forward(c, x) {
      const { rate } = c.l.config as { rate: number };
      if (rate > 0) throw new ShapeError(`referenceTrainingStep: layer "${c.l.name}" is Dropout with rate ${rate}; only rate 0 (the identity) is supported, a random mask could not be shared with the GPU`);
      return { y: x, saved: null };
    },
    backward: (_c, _s, dy) => ({ dx: dy, grads: [] }),
  },

  BatchNormalization: {
    forward(c, x) {
      const cfg = c.l.config as { epsilon: number; momentum: number; center: boolean; scale: boolean; shift_based?: boolean };
      // BinaryNet's shift-based version: AP2 (src/ap2.ts) of x - mean in the variance, of 1/sigma
      // and of gamma; the backward is BatchNorm's with those factors (straight through AP2).
      const p2 = (v: number) => (cfg.shift_based ? ap2Signed(v) : v);
      const C = c.inShape.at(-1)!;
      const n = x.length / C;
      const mean = new Float64Array(C);
      const variance = new Float64Array(C);
      // Sums, then one division: exact for integer inputs (binary layers' outputs), so an input equal
      // to an integral mean normalizes to exactly 0 (sign +1), as the GPU's f32 sums give it.
      for (let i = 0; i < x.length; i++) mean[i % C] += x[i];
      for (let c = 0; c < C; c++) mean[c] /= n;
      for (let i = 0; i < x.length; i++) variance[i % C] += (x[i] - mean[i % C]) * p2(x[i] - mean[i % C]);
      for (let c = 0; c < C; c++) variance[c] /= n; // biased: normalization
      const invStd = variance.map((v) => p2(1 / Math.sqrt(v + cfg.epsilon)));
      const gamma = cfg.scale ? c.weight('gamma').map(p2) : new Float64Array(C).fill(1);
      const beta = cfg.center ? c.weight('beta') : new Float64Array(C);
      const xhat = x.map((v, i) => (v - mean[i % C]) * invStd[i % C]);
      const y = xhat.map((v, i) => v * gamma[i % C] + beta[i % C]);
      // tf.keras averages the biased batch variance on both of its paths: tf.nn.moments (dense
      // outputs), and the fused op for images, whose Bessel correction Keras removes again
      // (_maybe_add_or_remove_bessels_correction, "to be consistent with non-fused batch norm").
      const averaged = variance;
      const m = cfg.momentum;
      const moving: [string, F64][] = [
        [`${c.l.name}/moving_mean`, c.weight('moving_mean').map((v, k) => v * m + mean[k] * (1 - m))],
        [`${c.l.name}/moving_variance`, c.weight('moving_variance').map((v, k) => v * m + averaged[k] * (1 - m))],
      ];
      return { y, saved: { xhat, invStd, gamma }, moving };
    },
    backward(c, saved, dy) {
      const cfg = c.l.config as { center: boolean; scale: boolean };
      const { xhat, invStd, gamma } = saved as { xhat: F64; invStd: F64; gamma: F64 };
      const C = gamma.length;
      const n = dy.length / C;
      const dgamma = new Float64Array(C);
      const dbeta = new Float64Array(C);
      for (let i = 0; i < dy.length; i++) {
        dgamma[i % C] += dy[i] * xhat[i];
        dbeta[i % C] += dy[i];
      }
      // dx = gamma * invStd / n * (n dy - sum(dy) - xhat * sum(dy * xhat))
      const dx = dy.map((g, i) => ((gamma[i % C] * invStd[i % C]) / n) * (n * g - dbeta[i % C] - xhat[i] * dgamma[i % C]));
      const grads: [string, F64][] = [];
      if (cfg.scale) grads.push([`${c.l.name}/gamma`, dgamma]);
      if (cfg.center) grads.push([`${c.l.name}/beta`, dbeta]);
      return { dx, grads };
    },
  },
};

export const TRAINING_REFERENCES: Readonly<Record<string, TrainingReference>> = { ...ONE_INPUT_REFERENCES, ...MERGE_REFERENCES };


function padGeometry(c: Ctx) {
  const [[top], [left]] = (c.l.config as { padding: [[number, number], [number, number]] }).padding;
  const [H, W, C] = c.inShape;
  const [OH, OW] = c.l.outputShape;
  return { H, W, C, OH, OW, top, left };
}

/** A Quant* layer's input and kernel quantizers (null where absent, or for the float layers). */
function quantizers(l: LayerSpec) {
  const { input, kernel } = quantizersOf(l);
  return { iq: input, kq: kernel };
}

function denseLayer(): TrainLayer {
  return {
    forward(c, x) {
      const { iq, kq } = quantizers(c.l);
      const cfg = c.l.config as { units: number; use_bias: boolean; activation: Activation };
      const K = c.inShape.at(-1)!;
      const N = cfg.units;
      const w = c.weight('kernel');
      const xq = iq ? f64(iq.forward(Float32Array.from(x), [c.rows, K])) : x;
      const wq = kq ? f64(kq.forward(Float32Array.from(w), [K, N])) : w;
      const p = new Float64Array(c.rows * N);
      for (let r = 0; r < c.rows; r++) {
        for (let n = 0; n < N; n++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += xq[r * K + k] * wq[k * N + n];
          p[r * N + n] = s;
        }
      }
      const { z, scale } = scaledProduct(c, x, p, N);
      const [f] = activation(cfg.activation, c.l.name);
      return { y: z.map(f), saved: { x, xq, w, wq, z, p, scale } };
    },
    backward(c, saved, dy) {
      const { iq, kq } = quantizers(c.l);
      const cfg = c.l.config as { units: number; use_bias: boolean; activation: Activation };
      const { x, xq, w, wq, z, p, scale } = saved as Saved;
      const K = c.inShape.at(-1)!;
      const N = cfg.units;
      const [, df] = activation(cfg.activation, c.l.name);
      const dz = dy.map((g, i) => g * df(z[i]));
      const db = new Float64Array(N);
      dz.forEach((g, i) => (db[i % N] += g));
      const dp = scaleBackward(dz, p, scale, N);
      const dxq = new Float64Array(c.rows * K);
      const dwq = new Float64Array(K * N);
      for (let r = 0; r < c.rows; r++) {
        for (let n = 0; n < N; n++) {
          const g = dp[r * N + n];
          if (g === 0) continue;
          for (let k = 0; k < K; k++) {
            dxq[r * K + k] += g * wq[k * N + n];
            dwq[k * N + n] += g * xq[r * K + k];
          }
        }
      }
      const dx = iq ? f64(iq.backward(Float32Array.from(x), Float32Array.from(dxq), [c.rows, K])) : dxq;
      if (scale) addTo(dx, xnorInputScaleBackwardReference(x, K, scale.dK));
      const dw = kq ? f64(kq.backward(Float32Array.from(w), Float32Array.from(dwq), [K, N])) : dwq;
      const grads: [string, F64][] = [[`${c.l.name}/kernel`, dw]];
      if (cfg.use_bias) grads.push([`${c.l.name}/bias`, db]);
      return { dx, grads };
    },
  };
}

/** What a dense or conv layer's forward keeps: p = q(x) . q(W), z = p * K + b (K: XNOR-Net's input scaling, if on). */
interface Saved {
  x: F64;
  xq: F64;
  w: F64;
  wq: F64;
  z: F64;
  p: F64;
  /** XNOR-Net's K per output position; dK filled in by scaleBackward. */
  scale: { k: F64; dK: F64 } | null;
}

/** z = p * K + bias (K per output row when the layer has xnor_input_scale, else 1). */
function scaledProduct(c: Ctx, x: F64, p: F64, N: number): { z: F64; scale: Saved['scale'] } {
  const cfg = c.l.config as { use_bias: boolean; xnor_input_scale?: boolean };
  const bias = cfg.use_bias ? c.weight('bias') : new Float64Array(N);
  const batch = x.length / c.inShape.reduce((a, b) => a * b, 1);
  const k = cfg.xnor_input_scale ? xnorScaleOf(c.l, [batch, ...c.inShape], x) : null;
  const z = p.map((v, i) => (k ? v * k[Math.floor(i / N)] : v) + bias[i % N]);
  return { z, scale: k && { k, dK: new Float64Array(k.length) } };
}

/** dL/dp = dz * K; fills scale.dK = sum over the row of dz * p. Without K: dz itself. */
function scaleBackward(dz: F64, p: F64, scale: Saved['scale'], N: number): F64 {
  if (!scale) return dz;
  for (let i = 0; i < dz.length; i++) scale.dK[Math.floor(i / N)] += dz[i] * p[i];
  return dz.map((g, i) => g * scale.k[Math.floor(i / N)]);
}

function addTo(a: F64, b: ArrayLike<number>): void {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
}

/** Where TensorFlow places a kernel or pooling window on an NHWC input (src/ops/window.ts, src/model/reference.ts). */
interface Window {
  N: number; H: number; W: number; C: number; OH: number; OW: number; KH: number; KW: number;
  strides: [number, number];
  dilation: [number, number];
  top: number; // 'same': padding before the first row / column, floor(total / 2); the rest pads the end
  left: number;
}

function windowOf(c: Ctx, size: [number, number], strides: [number, number], dilation: [number, number], padding: 'valid' | 'same'): Window {
  const [H, W, C] = c.inShape;
  const [OH, OW] = c.l.outputShape;
  const before = (n: number, o: number, k: number, s: number, d: number) => (padding === 'same' ? Math.floor(Math.max((o - 1) * s + (k - 1) * d + 1 - n, 0) / 2) : 0);
  const top = before(H, OH, size[0], strides[0], dilation[0]);
  const left = before(W, OW, size[1], strides[1], dilation[1]);
  return { N: c.rows / (H * W), H, W, C, OH, OW, KH: size[0], KW: size[1], strides, dilation, top, left };
}

function poolWindow(c: Ctx): Window {
  const cfg = c.l.config as { pool_size: [number, number]; strides: [number, number]; padding: 'valid' | 'same' };
  return windowOf(c, cfg.pool_size, cfg.strides, [1, 1], cfg.padding);
}

/**
 * Calls `visit(o, t, i)` for every output pixel o (n, oh, ow row-major), every tap t of its window
 * (kh, kw row-major, the HWIO kernel's pixel) and the input pixel i the tap reads: -1 on the padding.
 */
function eachTap(g: Window, visit: (o: number, t: number, i: number) => void): void {
  for (let n = 0; n < g.N; n++) {
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++) {
        const o = (n * g.OH + oh) * g.OW + ow;
        for (let kh = 0; kh < g.KH; kh++) {
          const ih = oh * g.strides[0] + kh * g.dilation[0] - g.top;
          for (let kw = 0; kw < g.KW; kw++) {
            const iw = ow * g.strides[1] + kw * g.dilation[1] - g.left;
            const inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
            visit(o, kh * g.KW + kw, inside ? (n * g.H + ih) * g.W + iw : -1);
          }
        }
      }
    }
  }
}

function convLayer(): TrainLayer {
  type ConvCfg = { filters: number; kernel_size: [number, number]; strides: [number, number]; padding: 'valid' | 'same'; dilation_rate: [number, number]; use_bias: boolean; activation: Activation; pad_values?: number };
  const setup = (c: Ctx) => {
    const cfg = c.l.config as ConvCfg;
    const g = windowOf(c, cfg.kernel_size, cfg.strides, cfg.dilation_rate, cfg.padding);
    const xShape = [g.N, g.H, g.W, g.C];
    const wShape = [g.KH, g.KW, g.C, cfg.filters];
    return { cfg, g, xShape, wShape, O: cfg.filters, pad: cfg.pad_values ?? 0, ...quantizers(c.l) };
  };
  return {
    forward(c, x) {
      const { cfg, g, xShape, wShape, O, pad, iq, kq } = setup(c);
      const w = c.weight('kernel');
      const xq = iq ? f64(iq.forward(Float32Array.from(x), xShape)) : x;
      const wq = kq ? f64(kq.forward(Float32Array.from(w), wShape)) : w;
      const p = new Float64Array(g.N * g.OH * g.OW * O);
      eachTap(g, (o, t, i) => {
        for (let ci = 0; ci < g.C; ci++) {
          const v = i >= 0 ? xq[i * g.C + ci] : pad;
          for (let f = 0; f < O; f++) p[o * O + f] += v * wq[(t * g.C + ci) * O + f];
        }
      });
      const { z, scale } = scaledProduct(c, x, p, O);
      const [act] = activation(cfg.activation, c.l.name);
      return { y: z.map(act), saved: { x, xq, w, wq, z, p, scale } };
    },
    backward(c, saved, dy) {
      const { cfg, g, xShape, wShape, O, pad, iq, kq } = setup(c);
      const { x, xq, w, wq, z, p, scale } = saved as Saved;
      const [, df] = activation(cfg.activation, c.l.name);
      const dz = dy.map((v, k) => v * df(z[k]));
      const dxq = new Float64Array(x.length);
      const dwq = new Float64Array(w.length);
      const db = new Float64Array(O);
      dz.forEach((v, k) => (db[k % O] += v));
      const dp = scaleBackward(dz, p, scale, O);
      eachTap(g, (o, t, i) => {
        for (let ci = 0; ci < g.C; ci++) {
          const v = i >= 0 ? xq[i * g.C + ci] : pad;
          for (let f = 0; f < O; f++) {
            const gz = dp[o * O + f];
            dwq[(t * g.C + ci) * O + f] += v * gz;
            if (i >= 0) dxq[i * g.C + ci] += wq[(t * g.C + ci) * O + f] * gz;
          }
        }
      });
      const dx = iq ? f64(iq.backward(Float32Array.from(x), Float32Array.from(dxq), xShape)) : dxq;
      if (scale) addTo(dx, xnorInputScaleBackwardReference(x, g.C, scale.dK, { inShape: [g.N, g.H, g.W, g.C], kernelSize: cfg.kernel_size, window: { strides: cfg.strides, padding: cfg.padding, dilation: cfg.dilation_rate } }));
      const dw = kq ? f64(kq.backward(Float32Array.from(w), Float32Array.from(dwq), wShape)) : dwq;
      const grads: [string, F64][] = [[`${c.l.name}/kernel`, dw]];
      if (cfg.use_bias) grads.push([`${c.l.name}/bias`, db]);
      return { dx, grads };
    },
  };
}

/** The output layer's softmax and the loss: the gradient to the logits is (softmax - onehot) / M. */
