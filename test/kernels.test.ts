// Every kernel against its CPU reference, from one table: a case names the op, its shape and its
// launch variant (GEMM tuning or workgroup size); the op's row below states how its output is
// compared. One row checks two kernels against each other (bconv2d = conv2d on +-1 values).
// Inputs are fresh random (seeded, see helpers/random.ts), outputs are poisoned first.
import { describe, expect, test } from 'vitest';
import { padBitsAreZero, packRows, unpackRows, wordsPerRow } from '../src/bitpack.js';
import type { Gpu } from '../src/gpu/context.js';
import { bconv2d, bconv2dReference, type Conv2dWindow } from '../src/ops/bconv2d.js';
import { concatBits, concatBitsReference, pack, packDorefaPlanes, packDorefaPlanesReference, unpack } from '../src/ops/bitpack.js';
import { conv2d, conv2dReference } from '../src/ops/conv2d.js';
import {
  CHANNEL_ACTIVATIONS,
  channelAffine,
  channelAffineReference,
  quantize,
  quantizeReference,
  thresholdQuantize,
  thresholdQuantizeReference,
  add,
  addReference,
  concatLast,
  concatLastReference,
  sliceLast,
  sliceLastReference,
  softmax,
  softmaxReference,
  SOFTMAX_SHORT_ROW,
  type ChannelActivation,
} from '../src/ops/elementwise.js';
import {
  binaryGemm,
  binaryGemmReference,
  thresholdsFromAffine,
  type BinaryGemmEpilogue,
  type BinaryGemmReferenceEpilogue,
} from '../src/ops/gemm-binary.js';
import { binaryFloatGemm, binaryFloatGemmReference } from '../src/ops/gemm-binary-float.js';
import { gemmF32, gemmF32Reference } from '../src/ops/gemm-f32.js';
import type { GemmTuning } from '../src/ops/gemm-tiling.js';
import { getQuantizer, type QuantizerIdentifier } from '../src/model/quantizers.js';
import { pad2d, pad2dReference, type Padding2d } from '../src/ops/pad.js';
import type { DType, HostArray, Tensor } from '../src/tensor.js';
import { expectClose, expectExact } from './helpers/check.js';
import { poisoned, useGpu } from './helpers/gpu.js';
import { randomBits, rngFor, seedNote, type Random } from './helpers/random.js';

const gpu = useGpu();

type Dims = { M: number; N: number; K: number } | { shape: number[]; pad?: Padding2d } | { conv: ConvDims };
/** A convolution: NHWC input, kernel [outChannels, KH, KW] over the input's channels, window. */
interface ConvDims {
  x: number[];
  kernel: [number, number, number];
  window: Conv2dWindow;
}
interface Variant {
  name: string;
  tuning?: GemmTuning; // GEMMs and convolutions; undefined: the adapter's default
  floatTuning?: GemmTuning; // the fp32 side of a cross-check
  workgroupSize?: number; // pack / unpack / element-wise ops; undefined: the op's default
  activation?: ChannelActivation; // channelAffine
  terms?: 'scale+bias' | 'scale' | 'bias' | 'none' | 'halves'; // channelAffine: which of scale and bias are given ('halves': both, x's halves summed)
  quantizer?: QuantizerIdentifier; // quantize
  decision?: 'sign' | 'heaviside'; // thresholdQuantize
  secondCols?: number; // concatLast, concatBits: the second input's last axis; sliceLast: the columns taken
  offset?: number; // sliceLast: columns left out after the slice (those before it: the rest)
}

/** What an op's prepare step hands the checker: a launch into `out`, and what `out` must hold. */
interface Prepared {
  out: { shape: number[]; dtype: DType };
  launch(gpu: Gpu, out: Tensor): Promise<Tensor>;
  /** The reference; or, for a cross-check of two kernels, the other kernel's output read back. */
  want: HostArray | (() => Promise<HostArray>);
  /** Per-element absolute bound for float outputs; absent: exact. */
  tol?: ArrayLike<number>;
  /** Further checks on the output, beyond equality with the reference. */
  extra?(got: HostArray, want: HostArray, what: string): void;
  inputs: Tensor[];
}

interface OpRow {
  /** How the output is compared, and why that bound. */
  tolerance: string;
  prepare(gpu: Gpu, rng: Random, dims: Dims, variant: Variant): Prepared;
}

const U = 2 ** -24; // unit roundoff of f32

// ---------------------------------------------------------------------------------------------
// The ops: inputs, launch, reference and tolerance of each.
// ---------------------------------------------------------------------------------------------

/** pad2d on f32, around with `fill` (Larq's pad_values 1 in the fp32 comparison model). */
function padF32Row(fill: number): OpRow {
  return {
    tolerance: 'exact, bit for bit (-0, NaN payloads, infinities and subnormals copied as they are)',
    prepare(g, rng, dims) {
      const { shape, pad } = padDims(dims);
      const values = withSpecials(rng, rng.floats(shape.reduce((x, y) => x * y, 1)));
      const x = g.upload(values, shape, 'f32', 'x');
      return {
        out: { shape: paddedShape(shape, pad), dtype: 'f32' },
        launch: (gg, out) => pad2d(gg, x, pad, { out, fill }),
        // On the raw words: a Float32Array copy in JS goes through doubles and quiets signaling NaNs.
        want: new Float32Array(pad2dReference(new Uint32Array(values.buffer), shape, shape[3], pad, new Uint32Array(new Float32Array([fill]).buffer)[0]).buffer),
        extra(got, want, what) {
          const bits = (a: HostArray) => new Uint32Array(a.buffer, a.byteOffset, a.length);
          expectExact(bits(got), bits(want), `${what}: bit patterns`, { hex: true, cols: shape[3] });
        },
        inputs: [x],
      };
    },
  };
}

const OPS = {
  pack: {
    tolerance: 'exact, and pad bits 0',
    prepare(g, rng, dims, v) {
      const shape = shapeOf(dims);
      const { rows, cols } = rowsCols(shape);
      const values = withSpecials(rng, rng.floats(rows * cols));
      const x = g.upload(values, shape, 'f32', 'x');
      return {
        out: { shape, dtype: 'b1' },
        launch: (gg, out) => pack(gg, x, { out, workgroupSize: v.workgroupSize }),
        want: packRows(values, rows, cols),
        inputs: [x],
      };
    },
  },
  'pack.padded': {
    tolerance: 'exact: rows padded to whole 128-bit vectors (+37 values) with +1 (bits 0)',
    prepare(g, rng, dims, v) {
      const shape = shapeOf(dims);
      const { rows, cols } = rowsCols(shape);
      const columns = Math.ceil(cols / 128) * 128 + 37;
      const values = withSpecials(rng, rng.floats(rows * cols));
      const padded = new Float32Array(rows * columns);
      for (let r = 0; r < rows; r++) padded.set(values.subarray(r * cols, (r + 1) * cols), r * columns);
      const x = g.upload(values, shape, 'f32', 'x');
      return {
        out: { shape: [...shape.slice(0, -1), columns], dtype: 'b1' },
        launch: (gg, out) => pack(gg, x, { out, columns, workgroupSize: v.workgroupSize }),
        want: packRows(padded, rows, columns),
        inputs: [x],
      };
    },
  },
  unpack: {
    tolerance: 'exact (+-1); pad bits of the input are ignored',
    prepare(g, rng, dims, v) {
      const shape = shapeOf(dims);
      const { rows, cols } = rowsCols(shape);
      // Any words, pad bits included: unpack must read only the first `cols` bits of each row.
      const words = Uint32Array.from({ length: rows * wordsPerRow(cols) }, () => (rng.next() * 2 ** 32) >>> 0);
      const x = g.upload(words, shape, 'b1', 'x');
      return {
        out: { shape, dtype: 'f32' },
        launch: (gg, out) => unpack(gg, x, { out, workgroupSize: v.workgroupSize }),
        want: unpackRows(words, rows, cols),
        inputs: [x],
      };
    },
  },
  ...epilogueRows('binaryGemm', (g, rng, dims) => {
    const { M, N, K } = gemmDims(dims);
    const [ha, hb] = [randomBits(rng, M, K), randomBits(rng, N, K)];
    const [a, b] = [g.upload(ha, [M, K], 'b1', 'a'), g.upload(hb, [N, K], 'b1', 'b')];
    return {
      M,
      N,
      K,
      outShape: [M, N],
      launch: (gg, out, epilogue, v) => binaryGemm(gg, a, b, { out, tuning: v.tuning, epilogue }),
      reference: (epilogue) => binaryGemmReference(ha, hb, M, N, K, epilogue),
      inputs: [a, b],
    };
  }),
  gemmF32: {
    // Any summation order of K products errs by at most gamma_K * sum|a*b| (gamma_K ~ K*U for
    // K*U << 1), and the reference (f64, rounded once) by U*|sum|: together (K+1)*U*sum|a*b|.
    // Doubled for headroom. A wrong index or a lost K-step errs by about |a||b| ~ 1, far above.
    tolerance: '|err| <= 2 (K+1) U sum_k |a_mk b_nk|, U = 2^-24',
    prepare(g, rng, dims, v) {
      const { M, N, K } = gemmDims(dims);
      const [ha, hb] = [rng.floats(M * K), rng.floats(N * K)];
      const [a, b] = [g.upload(ha, [M, K], 'f32', 'a'), g.upload(hb, [N, K], 'f32', 'b')];
      const absDots = gemmF32Reference(ha.map(Math.abs), hb.map(Math.abs), M, N, K);
      return {
        out: { shape: [M, N], dtype: 'f32' },
        launch: (gg, out) => gemmF32(gg, a, b, { out, tuning: v.tuning }),
        want: gemmF32Reference(ha, hb, M, N, K),
        tol: Float64Array.from(absDots, (s) => 2 * (K + 1) * U * s),
        inputs: [a, b],
      };
    },
  },
  binaryFloatGemm: {
    // Terms are +-a_mk exactly (a sign flip): only the K-term sum rounds, gamma_K * sum|a|, plus
    // the reference's one rounding; doubled for headroom, as for gemmF32.
    tolerance: '|err| <= 2 (K+1) U sum_k |a_mk|, U = 2^-24',
    prepare(g, rng, dims, v) {
      const { M, N, K } = gemmDims(dims);
      const [ha, hb] = [rng.floats(M * K), randomBits(rng, N, K)];
      const [a, b] = [g.upload(ha, [M, K], 'f32', 'a'), g.upload(hb, [N, K], 'b1', 'b')];
      const rowAbs = Float64Array.from({ length: M }, (_, m) => ha.subarray(m * K, (m + 1) * K).reduce((s, x) => s + Math.abs(x), 0));
      return {
        out: { shape: [M, N], dtype: 'f32' },
        launch: (gg, out) => binaryFloatGemm(gg, a, b, { out, tuning: v.tuning }),
        want: binaryFloatGemmReference(ha, hb, M, N, K),
        tol: Float64Array.from({ length: M * N }, (_, i) => 2 * (K + 1) * U * rowAbs[Math.floor(i / N)]),
        inputs: [a, b],
      };
    },
  },
  // Binary convolution: the same three epilogue rows on +-1 operands read through the window;
  // the pad correction (padValues 0) is integer, so the dots stay exact integers, |dot| <= K.
  ...epilogueRows('bconv2d', (g, rng, dims) => {
    const c = convDims(dims);
    const { xShape, kShape, pixels, rows, M, N, K, outShape } = convShapes(c);
    const C = xShape[3];
    const [hx, hw] = [randomBits(rng, pixels, C), randomBits(rng, rows, C)];
    const [x, w] = [g.upload(hx, xShape, 'b1', 'x'), g.upload(hw, kShape, 'b1', 'w')];
    const [fx, fw] = [unpackRows(hx, pixels, C), unpackRows(hw, rows, C)];
    return {
      M,
      N,
      K,
      outShape,
      launch: (gg, out, epilogue, v) => bconv2d(gg, x, w, { ...c.window, out, tuning: v.tuning, epilogue }),
      reference: (epilogue) => bconv2dReference(fx, xShape, fw, kShape, c.window, epilogue),
      inputs: [x, w],
    };
  }),
  conv2d: {
    // As gemmF32 with K = taps*C: zero-padded taps add exact zeros, which change no rounding, so
    // the bound sums |x w| over the taps inside the image only (conv2dReference of |x| and |w|).
    tolerance: '|err| <= 2 (K+1) U sum |x w| over the window inside the image, K = taps*C, U = 2^-24',
    prepare(g, rng, dims, v) {
      const c = convDims(dims);
      const { xShape, kShape, pixels, rows, K, outShape } = convShapes(c);
      const C = xShape[3];
      const [hx, hw] = [rng.floats(pixels * C), rng.floats(rows * C)];
      const [x, w] = [g.upload(hx, xShape, 'f32', 'x'), g.upload(hw, kShape, 'f32', 'w')];
      const window = floatWindow(c.window);
      const absSums = conv2dReference(hx.map(Math.abs), xShape, hw.map(Math.abs), kShape, window);
      return {
        out: { shape: outShape, dtype: 'f32' },
        launch: (gg, out) => conv2d(gg, x, w, { ...window, out, tuning: v.tuning }),
        want: conv2dReference(hx, xShape, hw, kShape, window),
        tol: Float64Array.from(absSums, (s) => 2 * (K + 1) * U * s),
        inputs: [x, w],
      };
    },
  },
  'bconv2d=conv2d': {
    // Two kernels, no CPU reference: every product is +-1, so every partial sum is an integer of
    // magnitude <= K = taps*C < 2^24, exact in f32 in any order. padValues 0 is zero padding.
    tolerance: 'exact: bconv2d (padValues 0, i32) equals conv2d on the same +-1 values, both on the GPU',
    prepare(g, rng, dims, v) {
      const c = convDims(dims);
      const { xShape, kShape, pixels, rows, outShape } = convShapes(c);
      const C = xShape[3];
      const [hx, hw] = [randomBits(rng, pixels, C), randomBits(rng, rows, C)];
      const [x, w] = [g.upload(hx, xShape, 'b1', 'x'), g.upload(hw, kShape, 'b1', 'w')];
      const [xf, wf] = [g.upload(unpackRows(hx, pixels, C), xShape, 'f32', 'xf'), g.upload(unpackRows(hw, rows, C), kShape, 'f32', 'wf')];
      return {
        out: { shape: outShape, dtype: 'i32' },
        launch: (gg, out) => bconv2d(gg, x, w, { ...c.window, padValues: 0, out, tuning: v.tuning }),
        want: async () => {
          const y = await conv2d(g, xf, wf, { ...floatWindow(c.window), tuning: v.floatTuning });
          try {
            return await y.read();
          } finally {
            y.release();
          }
        },
        inputs: [x, w, xf, wf],
      };
    },
  },
  'pad2d.f32': padF32Row(0),
  'pad2d.f32.fill1': padF32Row(1),
  'pad2d.b1': {
    tolerance: 'exact (words copied, zero words around: +1 with zero pad bits)',
    prepare(g, rng, dims) {
      const { shape, pad } = padDims(dims);
      const C = shape[3];
      const words = randomBits(rng, shape.reduce((x, y) => x * y, 1) / C, C);
      const x = g.upload(words, shape, 'b1', 'x');
      return {
        out: { shape: paddedShape(shape, pad), dtype: 'b1' },
        launch: (gg, out) => pad2d(gg, x, pad, { out }),
        want: pad2dReference(words, shape, wordsPerRow(C), pad),
        inputs: [x],
      };
    },
  },
  channelAffine: {
    // a = x s + b: the GPU rounds the product and the sum (or one fma), the reference rounds
    // act(a) once from f64: 4U (|x s| + |b|) as for the affine epilogue, through the activation's
    // slope L (<= 1; 1/4 for sigmoid). Plus the activation's own error A: leaky_tanh's three
    // roundings 4U |a|; sigmoid and tanh, built on exp (WGSL: 3 + 2|x| ULP, about 10 ULP of 1 for
    // the whole function), 16U absolute. Plus 2^-126 where a subnormal may flush to zero.
    tolerance: '|err| <= L 4U (|x s| + |b|) + A + 2^-126; L = 1 (1/4 sigmoid); A = 0 (linear, relu, hard_tanh), 4U |a| (leaky_tanh), 16U (sigmoid, tanh)',
    prepare(g, rng, dims, v) {
      const activation = v.activation ?? 'linear';
      const terms = v.terms ?? 'scale+bias';
      const halves = terms === 'halves';
      // halves: x [..., 2C] -> [..., C]; the sum of the halves is rounded once more (U |sum|, within the bound's 4U).
      const xShape = shapeOf(dims);
      const shape = halves ? [...xShape.slice(0, -1), xShape[xShape.length - 1] / 2] : xShape;
      const C = shape[shape.length - 1];
      const values = affineInputs(rng, xShape.reduce((x, y) => x * y, 1));
      const hs = terms !== 'bias' && terms !== 'none' ? affineInputs(rng, C, 2) : undefined;
      const hb = terms !== 'scale' && terms !== 'none' ? affineInputs(rng, C, 2) : undefined;
      const x = g.upload(values, xShape, 'f32', 'x');
      const summed = halves ? Float32Array.from({ length: values.length / 2 }, (_, i) => Math.abs(values[2 * i - (i % C)]) + Math.abs(values[2 * i - (i % C) + C])) : values;
      const scale = hs && g.upload(hs, [C], 'f32', 'scale');
      const bias = hb && g.upload(hb, [C], 'f32', 'bias');
      const slope = activation === 'sigmoid' ? 0.25 : 1;
      const own = (a: number) => (activation === 'leaky_tanh' ? 4 * U * Math.abs(a) : activation === 'sigmoid' || activation === 'tanh' ? 16 * U : 0);
      return {
        out: { shape, dtype: 'f32' },
        launch: (gg, out) => channelAffine(gg, x, { scale, bias, activation, halves, out, workgroupSize: v.workgroupSize }),
        want: channelAffineReference(values, xShape, { scale: hs, bias: hb, activation, halves }),
        tol: affineTolerance(summed, C, hs, hb, (ab) => slope * 4 * U * ab, own),
        inputs: [x, ...(scale ? [scale] : []), ...(bias ? [bias] : [])],
      };
    },
  },
  quantize: {
    tolerance: "exact, bit for bit but NaN payloads: the quantizer's CPU forward (src/model/quantizers.ts)",
    prepare(g, rng, dims, v) {
      const shape = shapeOf(dims);
      const quantizer = v.quantizer ?? null;
      const values = quantizeInputs(rng, shape.reduce((x, y) => x * y, 1), quantizer);
      const x = g.upload(values, shape, 'f32', 'x');
      return {
        out: { shape, dtype: 'f32' },
        launch: (gg, out) => quantize(gg, x, { quantizer, out, workgroupSize: v.workgroupSize }),
        want: quantizeReference(values, quantizer),
        extra(got, want, what) {
          // Zeros keep their sign (identity copies -0; the others write +0).
          const bits = (a: HostArray) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (b, i) => (Number.isNaN(a[i]) ? 0x7fc00000 : b));
          expectExact(bits(got), bits(want), `${what}: bit patterns`, { hex: true, cols: shape[shape.length - 1] });
        },
        inputs: [x],
      };
    },
  },
  thresholdQuantize: {
    tolerance: 'exact: x against f32 thresholds (both directions, +-inf for constant channels), values on and next to each threshold, NaN',
    prepare(g, rng, dims, v) {
      const shape = shapeOf(dims);
      const C = shape[shape.length - 1];
      const threshold = Float32Array.from({ length: C }, (_, c) => (c % 11 === 5 ? Infinity : c % 11 === 7 ? -Infinity : Math.fround(rng.uniform(-4, 4))));
      const flip = Uint32Array.from({ length: C }, () => rng.int(2));
      // Each value its channel's threshold, a neighbouring f32, or anything; some NaN.
      const near = (t: number) => (Number.isFinite(t) ? [t, Math.fround(t * (1 + 2 ** -23)), Math.fround(t * (1 - 2 ** -23)), 0][rng.int(4)] : rng.uniform(-4, 4));
      const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (rng.int(50) === 0 ? NaN : rng.int(3) ? near(threshold[i % C]) : rng.uniform(-4, 4)));
      const x = g.upload(values, shape, 'f32', 'x');
      const kind = v.decision ?? 'sign';
      const t = g.upload(threshold, [C], 'f32', 'threshold');
      const f = g.upload(flip, [C], 'u32', 'flip');
      return {
        out: { shape, dtype: 'f32' },
        launch: (gg, out) => thresholdQuantize(gg, x, { kind, threshold: t, flip: f, out, workgroupSize: v.workgroupSize }),
        want: thresholdQuantizeReference(values, kind, threshold, flip),
        inputs: [x, t, f],
      };
    },
  },
  add: {
    tolerance: 'exact: one f32 add per element, as the reference rounds it',
    prepare(g, rng, dims, v) {
      const shape = shapeOf(dims);
      const n = shape.reduce((x, y) => x * y, 1);
      const [av, bv] = [affineInputs(rng, n), affineInputs(rng, n)];
      const [a, b] = [g.upload(av, shape, 'f32', 'a'), g.upload(bv, shape, 'f32', 'b')];
      return {
        out: { shape, dtype: 'f32' },
        launch: (gg, out) => add(gg, a, b, { out, workgroupSize: v.workgroupSize }),
        want: addReference(av, bv),
        inputs: [a, b],
      };
    },
  },
  concatLast: {
    tolerance: 'exact: a copy',
    prepare(g, rng, dims, v) {
      const aShape = shapeOf(dims);
      const bShape = [...aShape.slice(0, -1), v.secondCols ?? 1];
      const count = (s: number[]) => s.reduce((x, y) => x * y, 1);
      const [av, bv] = [affineInputs(rng, count(aShape)), affineInputs(rng, count(bShape))];
      const [a, b] = [g.upload(av, aShape, 'f32', 'a'), g.upload(bv, bShape, 'f32', 'b')];
      return {
        out: { shape: [...aShape.slice(0, -1), aShape.at(-1)! + bShape.at(-1)!], dtype: 'f32' },
        launch: (gg, out) => concatLast(gg, a, b, { out, workgroupSize: v.workgroupSize }),
        want: concatLastReference(av, aShape.at(-1)!, bv, bShape.at(-1)!),
        inputs: [a, b],
      };
    },
  },
  sliceLast: {
    tolerance: 'exact: a copy',
    prepare(g, rng, dims, v) {
      const shape = shapeOf(dims);
      const colsIn = shape.at(-1)!;
      const cols = v.secondCols ?? 1;
      const offset = colsIn - cols - (v.offset ?? 0);
      const values = affineInputs(rng, shape.reduce((x, y) => x * y, 1));
      const x = g.upload(values, shape, 'f32', 'x');
      return {
        out: { shape: [...shape.slice(0, -1), cols], dtype: 'f32' },
        launch: (gg, out) => sliceLast(gg, x, { offset, cols }, { out, workgroupSize: v.workgroupSize }),
        want: sliceLastReference(values, colsIn, offset, cols),
        inputs: [x],
      };
    },
  },
  concatBits: {
    tolerance: 'exact: words copied; pad bits 0',
    prepare(g, rng, dims, v) {
      const aShape = shapeOf(dims);
      const bShape = [...aShape.slice(0, -1), v.secondCols ?? 1];
      const { rows, cols: aCols } = rowsCols(aShape);
      const bCols = bShape.at(-1)!;
      const [aw, bw] = [randomBits(rng, rows, aCols), randomBits(rng, rows, bCols)];
      const [a, b] = [g.upload(aw, aShape, 'b1', 'a'), g.upload(bw, bShape, 'b1', 'b')];
      return {
        out: { shape: [...aShape.slice(0, -1), aCols + bCols], dtype: 'b1' },
        launch: (gg, out) => concatBits(gg, a, b, { out, workgroupSize: v.workgroupSize }),
        want: concatBitsReference(aw, aCols, bw, bCols, rows),
        inputs: [a, b],
      };
    },
  },
  softmax: {
    // Per row, d_j = x_j - max and e_j = exp(d_j): d_j rounds (U |d_j|) and exp errs by
    // (3 + 2|d_j|) ULP (WGSL), so e_j by eps_j = (3 + 3|d_j|) U relative; the sum by
    // sum_k y_k eps_k, plus its own rounding, depth U (ceil(n / wg) terms per invocation, then
    // ceil(log2 wg) tree levels); the division 2.5 ULP, the reference's rounding U. Doubled for
    // headroom; plus 2^-126 where a subnormal may flush to zero.
    tolerance: '|err_j| <= 2 y_j (eps_j + sum_k y_k eps_k + (depth + 3.5) U) + 2^-126, eps_j = (3 + 3 |x_j - max|) U',
    prepare(g, rng, dims, v) {
      const shape = shapeOf(dims);
      const { rows, cols } = rowsCols(shape);
      const values = softmaxInputs(rng, rows, cols);
      const x = g.upload(values, shape, 'f32', 'x');
      const want = softmaxReference(values, shape);
      const wg = v.workgroupSize ?? 64;
      // summed serially by one invocation (short rows), or per invocation then by a tree
      const depth = cols <= SOFTMAX_SHORT_ROW ? cols : Math.ceil(cols / wg) + Math.ceil(Math.log2(wg));
      const tol = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        const row = values.subarray(r * cols, (r + 1) * cols);
        const max = row.reduce((m, z) => Math.max(m, z), -Infinity);
        const eps = Float64Array.from(row, (z) => (3 + 3 * Math.abs(z - max)) * U);
        const sumErr = eps.reduce((s, e, j) => s + want[r * cols + j] * e, 0) + (depth + 3.5) * U;
        for (let j = 0; j < cols; j++) tol[r * cols + j] = 2 * want[r * cols + j] * (eps[j] + sumErr) + 2 ** -126;
      }
      return {
        out: { shape, dtype: 'f32' },
        launch: (gg, out) => softmax(gg, x, { out, workgroupSize: v.workgroupSize }),
        want,
        tol,
        inputs: [x],
      };
    },
  },
} satisfies Record<string, OpRow>;

// ---------------------------------------------------------------------------------------------
// The three epilogue rows of a binary kernel (the GEMM, the convolution): one setup each.
// ---------------------------------------------------------------------------------------------

/** A binary kernel's operands, ready to launch with any epilogue, and its reference. */
interface BinaryKernel {
  /** Output rows and columns (output pixels x channels for a convolution); K sizes the thresholds' spread. */
  M: number;
  N: number;
  K: number;
  outShape: number[];
  launch(gpu: Gpu, out: Tensor, epilogue: BinaryGemmEpilogue, variant: Variant): Promise<Tensor>;
  reference(epilogue: BinaryGemmReferenceEpilogue): HostArray;
  inputs: Tensor[];
}

type Epilogue = 'i32' | 'affine' | 'threshold';

function epilogueRows<P extends string>(
  op: P,
  setup: (g: Gpu, rng: Random, dims: Dims) => BinaryKernel,
): Record<`${P}.${Epilogue}`, OpRow> {
  const i32: OpRow = {
    tolerance: 'exact',
    prepare(g, rng, dims, v) {
      const k = setup(g, rng, dims);
      return {
        out: { shape: k.outShape, dtype: 'i32' },
        launch: (gg, out) => k.launch(gg, out, { kind: 'i32' }, v),
        want: k.reference({ kind: 'i32' }),
        inputs: k.inputs,
      };
    },
  };
  const affine: OpRow = {
    // dot is an exact integer with |dot| <= K < 2^24, so f32(dot) is exact. The GPU rounds
    // dot*scale and the sum (or one fma), the reference rounds d*s+b once from f64: at most three
    // roundings, each within U of a magnitude <= |dot*scale| + |bias|.
    tolerance: '|err| <= 4U (|dot*scale| + |bias|), U = 2^-24',
    prepare(g, rng, dims, v) {
      const k = setup(g, rng, dims);
      const { scale, bias } = channels(rng, k.N, k.K);
      const [s, c] = [g.upload(scale, [k.N], 'f32', 'scale'), g.upload(bias, [k.N], 'f32', 'bias')];
      const dots = k.reference({ kind: 'i32' });
      return {
        out: { shape: k.outShape, dtype: 'f32' },
        launch: (gg, out) => k.launch(gg, out, { kind: 'affine', scale: s, bias: c }, v),
        want: k.reference({ kind: 'affine', scale, bias }),
        tol: Float64Array.from(dots, (d, i) => 4 * U * (Math.abs(d * scale[i % k.N]) + Math.abs(bias[i % k.N]))),
        inputs: [...k.inputs, s, c],
      };
    },
  };
  const threshold: OpRow = {
    tolerance: 'exact, pad bits 0, and equal to sign(affine) wherever the affine value is not within rounding of 0',
    prepare(g, rng, dims, v) {
      const k = setup(g, rng, dims);
      const { M, N } = k;
      const { scale, bias } = channels(rng, N, k.K);
      const { threshold, flip } = thresholdsFromAffine(scale, bias);
      const [t, f] = [g.upload(threshold, [N], 'i32', 'threshold'), g.upload(flip, [N], 'u32', 'flip')];
      const affine = k.reference({ kind: 'affine', scale, bias });
      const dots = k.reference({ kind: 'i32' });
      return {
        out: { shape: k.outShape, dtype: 'b1' },
        launch: (gg, out) => k.launch(gg, out, { kind: 'threshold', threshold: t, flip: f }, v),
        want: k.reference({ kind: 'threshold', threshold, flip }),
        extra(got, _want, what) {
          // The point of the threshold epilogue: the bits of sign(dot*scale + bias), the affine
          // epilogue followed by pack. Compared where the rounded affine value has a clear sign
          // (same bound as the affine row); the rest (exact ties, values within rounding of 0) are
          // decided exactly by thresholdsFromAffine and checked against the reference above.
          const bits = unpackRows(got as Uint32Array, M, N);
          const signs = unpackRows(packRows(affine, M, N), M, N);
          const clear: number[] = [];
          for (let i = 0; i < M * N; i++) {
            const tol = 4 * U * (Math.abs(dots[i] * scale[i % N]) + Math.abs(bias[i % N]));
            if (Math.abs(affine[i]) > tol) clear.push(i);
          }
          expectExact(clear.map((i) => bits[i]), clear.map((i) => signs[i]), `${what}: threshold bits vs packed affine`);
          // Not vacuous: most outputs that are not exactly 0 (a zero-bias constant channel, a tie) count.
          const nonzero = Array.from(affine).filter((y) => y !== 0).length;
          if (nonzero >= 100) expect(clear.length, `${what}: too few outputs with a clear sign to compare`).toBeGreaterThan(0.5 * nonzero);
        },
        inputs: [...k.inputs, t, f],
      };
    },
  };
  return { [`${op}.i32`]: i32, [`${op}.affine`]: affine, [`${op}.threshold`]: threshold } as Record<`${P}.${Epilogue}`, OpRow>;
}

type OpName = keyof typeof OPS;

// ---------------------------------------------------------------------------------------------
// The table.
// ---------------------------------------------------------------------------------------------

const GEMM_SHAPES: [string, number, number, number][] = [
  ['1x1x1', 1, 1, 1],
  ['off-tile M, N; K % 32 != 0', 37, 45, 100],
  ['whole tiles', 64, 64, 64],
  ['K = 33', 70, 130, 33],
  ['deep K, odd words', 23, 29, 520],
  ['rows of whole vec4s (K % 128 = 0), several K steps', 37, 70, 512],
  ['rows of whole vec4s with pad bits', 5, 40, 100],
  ['tall-skinny', 2000, 3, 40],
  ['short-wide', 2, 1500, 300],
];

/** Tile-K defaults per kernel: 128-bit vectors (binary), vec4 (f32), words (binary x float). */
const TILE_K = { binary: 2, f32: 4, binaryFloat: 1 };

function gemmVariants(kind: keyof typeof TILE_K, threshold = false): Variant[] {
  // The threshold epilogue writes whole words per tile: 4*wgX must be a multiple of 32.
  const [x, y] = threshold ? [8, 2] : [4, 2];
  const out: Variant[] = [{ name: 'default tuning' }];
  for (const useWorkgroupTiles of [false, true]) {
    const how = useWorkgroupTiles ? 'workgroup tiles' : 'storage reads';
    out.push({ name: `8x8 ${how}`, tuning: { wgX: 8, wgY: 8, tileK: TILE_K[kind], useWorkgroupTiles } });
    out.push({ name: `${x}x${y} tileK 3 ${how}`, tuning: { wgX: x, wgY: y, tileK: 3, useWorkgroupTiles } });
  }
  return out;
}

// Convolutions: [label, input NHWC, [outChannels, KH, KW], window]. Each feature at least twice:
// padValues 0 and 1 with 'same', 'valid', strides 1, 2 and asymmetric, dilation 2, kernels 1x1,
// 3x3, 5x5 and 3x1, batch 1 and 3, channels 1, 31, 32, 33, 70, 130 (1 to 5 words; 130 takes two
// 4-word K steps per tap), output channels 5, 33, 65 (multiples neither of 32 nor of a tile), 1x1
// images, images smaller than the kernel, and padded copies that crop. Sized for ~1e9 simple
// ops/s: at most ~5M binary MACs a case.
const CONV_SHAPES: [string, number[], [number, number, number], Conv2dWindow][] = [
  ['', [1, 5, 6, 31], [5, 1, 1], {}],
  ['no padding needed', [3, 7, 5, 33], [33, 1, 1], { padding: 'same', strides: 2 }],
  ['', [1, 8, 8, 32], [65, 3, 3], { padding: 'same' }],
  ['', [1, 8, 7, 70], [33, 3, 3], { padding: 'same', padValues: 1 }],
  ['', [3, 6, 7, 1], [5, 3, 3], {}],
  ['', [1, 9, 10, 33], [33, 3, 3], { padding: 'same', strides: 2 }],
  ['', [3, 6, 6, 130], [5, 3, 3], { padding: 'same', strides: 2, padValues: 1 }],
  ['', [1, 7, 6, 70], [65, 3, 3], { padding: 'same', strides: [2, 1] }],
  ['', [1, 8, 5, 31], [65, 3, 3], { strides: [2, 1] }],
  ['', [1, 9, 9, 33], [5, 3, 3], { padding: 'same', dilation: 2 }],
  ['', [3, 7, 8, 31], [33, 3, 3], { padding: 'same', dilation: 2, padValues: 1 }],
  ['', [1, 9, 11, 70], [5, 3, 3], { strides: 2, dilation: [1, 2] }],
  ['several tiles in every tuning', [3, 9, 9, 32], [65, 3, 3], { padding: 'same', padValues: 1 }],
  ['', [1, 6, 7, 70], [33, 5, 5], { padding: 'same' }],
  ['pixels of whole vec4s (C = 128)', [2, 6, 5, 128], [33, 3, 3], { padding: 'same' }],
  ['pixels of whole vec4s with pad bits (C = 100)', [1, 7, 7, 100], [40, 3, 3], { padding: 'same', strides: 2, padValues: 1 }],
  ['', [1, 9, 8, 1], [65, 5, 5], { padding: 'same', strides: 2, padValues: 1 }],
  ['', [3, 7, 6, 32], [5, 5, 5], {}],
  ['the padded copy crops a column', [1, 6, 6, 130], [33, 3, 1], { padding: 'same', strides: [1, 2] }],
  ['the padded copy crops a column', [1, 6, 8, 31], [65, 3, 1], { padding: 'same', strides: [1, 3], padValues: 1 }],
  ['', [3, 7, 4, 33], [5, 3, 1], { strides: [1, 2], dilation: [2, 1] }],
  ['1x1 image', [3, 1, 1, 33], [5, 3, 3], { padding: 'same' }],
  ['1x1 image', [1, 1, 1, 70], [65, 3, 3], { padding: 'same', padValues: 1 }],
  ['image smaller than the kernel', [1, 3, 2, 31], [33, 5, 5], { padding: 'same' }],
  ['image smaller than the kernel', [3, 2, 4, 130], [5, 5, 5], { padding: 'same', dilation: 2, padValues: 1 }],
];
const CONV_CASES = CONV_SHAPES.map(([label, x, kernel, window]) => ({ label, dims: { x, kernel, window } }));
/** The geometries without padValues (fp32 pads with zeros), once each: conv2d and the cross-check. */
const FLOAT_CONV_CASES = [
  ...new Map(
    CONV_CASES.map(({ label, dims }) => {
      const floatDims = { ...dims, window: floatWindow(dims.window) };
      return [JSON.stringify(floatDims), { label, dims: floatDims }] as const;
    }),
  ).values(),
];

/**
 * The tunings of a convolution case. On SwiftShader a pipeline compile (~0.7 s; ~3 s for the fp32
 * default's 64x64 workgroup tiles) costs far more than a run (~10 ms), and a convolution's pipeline
 * is specialized on its kernel width and K steps per tap: so the cases of one kernel shape share
 * one tuning per op, rotating over shapes and ops (a shape meets three tunings in its three
 * epilogues); 3x3 kernels over at most 128 channels (most cases; one pipeline per tuning) run in
 * every tuning. The cross-check reuses the i32 and conv2d rows' pipelines.
 */
const CONV_ROTATION = { 'bconv2d.i32': 0, 'bconv2d.affine': 2, 'bconv2d.threshold': 4, conv2d: 1 };

function convVariants(op: keyof typeof CONV_ROTATION, d: ConvDims): Variant[] {
  const everyTuning = op !== 'conv2d' && d.kernel[1] === 3 && d.kernel[2] === 3 && d.x[3] <= 128;
  return everyTuning ? gemmVariants('binary', op === 'bconv2d.threshold') : [rotatedVariant(op, d)];
}

function rotatedVariant(op: keyof typeof CONV_ROTATION, d: ConvDims): Variant {
  const kind = op === 'conv2d' ? 'f32' : 'binary';
  const variants = gemmVariants(kind, op === 'bconv2d.threshold');
  return variants[(convShapeIndex(kind, d) + CONV_ROTATION[op]) % variants.length];
}

/** Index of the case's pipeline shape (kernel and K steps per tap) among the table's. */
function convShapeIndex(kind: 'binary' | 'f32', d: ConvDims): number {
  const key = (e: ConvDims) => `${e.kernel[1]}x${e.kernel[2]}/${kind === 'binary' ? Math.ceil(wordsPerRow(e.x[3]) / 4) : Math.ceil(e.x[3] / 4)}`;
  return [...new Set(CONV_CASES.map((c) => key(c.dims)))].indexOf(key(d));
}

const PAD_SHAPES: [string, number[], Padding2d][] = [
  ['no-op', [1, 5, 6, 33], { top: 0, bottom: 0, left: 0, right: 0 }],
  ['', [2, 3, 4, 3], { top: 1, bottom: 2, left: 3, right: 0 }],
  ['pads and crops', [3, 6, 5, 70], { top: 1, bottom: -2, left: 2, right: -1 }],
  ['crops to 1x1', [1, 4, 4, 1], { top: 0, bottom: -3, left: 0, right: -3 }],
  // Negative top/left: ZeroPadding2D's backward crops its dy back to the input's pixels.
  ['crops on every side', [2, 6, 7, 3], { top: -2, bottom: -1, left: -1, right: -3 }],
  ['crops the top, pads the left', [1, 5, 4, 40], { top: -3, bottom: 1, left: 2, right: -1 }],
  ['1x1 image', [2, 1, 1, 31], { top: 2, bottom: 2, left: 2, right: 2 }],
  ['many workgroups', [3, 10, 12, 64], { top: 2, bottom: 1, left: 0, right: 3 }],
];

// Element-wise ops: [label, shape]; channels (the last axis) 1, 33, 100 and 5000.
const ELEMENTWISE_SHAPES: [string, number[]][] = [
  ['1x1', [1, 1]],
  ['C = 1', [7, 1]],
  ['C = 33', [5, 33]],
  ['C = 64', [3, 64]],
  ['C = 65', [3, 65]],
  ['rank 4', [2, 3, 4, 33]],
  ['one wide row', [1, 5000]],
  ['many workgroups', [257, 100]],
];

/** Larq activation quantizers, by alias and serialized config: [name, identifier]. */
const QUANTIZER_CASES: [string, QuantizerIdentifier][] = [
  ['ste_sign', 'ste_sign'],
  ['approx_sign', 'approx_sign'],
  ['swish_sign', 'swish_sign'],
  ['ste_heaviside', 'ste_heaviside'],
  ['ste_tern (0.05)', 'ste_tern'],
  ...[0.5, 0, -0.3, 1e-40].map((t): [string, QuantizerIdentifier] => [`ste_tern ${t}`, { class_name: 'SteTern', config: { threshold_value: t } }]),
  ['dorefa_quantizer (2 bits)', 'dorefa_quantizer'],
  ...[1, 3, 8, 16].map((k): [string, QuantizerIdentifier] => [`DoReFa ${k} bits`, { class_name: 'DoReFa', config: { k_bit: k } }]),
  ['NoOp', { class_name: 'NoOp', config: { precision: 8 } }],
  ['null (identity)', null],
];

const BITPACK_SHAPES = [[1], [31], [32], [33], [3, 4, 65], [257, 100], [1000, 37]];
const WORKGROUP_SIZES = [undefined, 1, 7, 256];

interface Case {
  op: OpName;
  dims: Dims;
  variant: Variant;
  label?: string;
  /** Workgroups the case must dispatch at least (the 2D fold past 65535). */
  minWorkgroups?: number;
}

const CASES: Case[] = [
  ...(['pack', 'pack.padded', 'unpack'] as const).flatMap((op) =>
    BITPACK_SHAPES.flatMap((shape) => WORKGROUP_SIZES.map((wg) => ({ op, dims: { shape }, variant: { name: `wg ${wg ?? 'default'}`, workgroupSize: wg } }))),
  ),
  // Past 65535 workgroups in x: the grid folds into 2D. Sized for ~1e9 simple ops/s (SwiftShader).
  { op: 'unpack', dims: { shape: [1250, 4000] }, variant: { name: 'wg 64', workgroupSize: 64 }, label: '5M values', minWorkgroups: 65536 },
  { op: 'pack', dims: { shape: [70000, 33] }, variant: { name: 'wg 1', workgroupSize: 1 }, label: '140k words', minWorkgroups: 65536 },
  ...(['binaryGemm.i32', 'binaryGemm.affine', 'binaryGemm.threshold', 'gemmF32', 'binaryFloatGemm'] as const).flatMap((op) => {
    const kind = op === 'gemmF32' ? 'f32' : op === 'binaryFloatGemm' ? 'binaryFloat' : 'binary';
    return GEMM_SHAPES.flatMap(([label, M, N, K]) =>
      gemmVariants(kind, op === 'binaryGemm.threshold').map((variant) => ({ op, dims: { M, N, K }, variant, label })),
    );
  }),
  ...(['bconv2d.i32', 'bconv2d.affine', 'bconv2d.threshold', 'conv2d'] as const).flatMap((op) =>
    (op === 'conv2d' ? FLOAT_CONV_CASES : CONV_CASES).flatMap(({ label, dims }) =>
      convVariants(op, dims).map((variant) => ({ op, dims: { conv: dims }, variant, label })),
    ),
  ),
  ...FLOAT_CONV_CASES.map(({ label, dims }): Case => {
    const [b, f] = [rotatedVariant('bconv2d.i32', dims), rotatedVariant('conv2d', dims)];
    return { op: 'bconv2d=conv2d', dims: { conv: dims }, variant: { name: `${b.name}, fp32 ${f.name}`, tuning: b.tuning, floatTuning: f.tuning }, label };
  }),
  ...(['pad2d.f32', 'pad2d.f32.fill1', 'pad2d.b1'] as const).flatMap((op) =>
    PAD_SHAPES.map(([label, shape, pad]) => ({ op, dims: { shape, pad }, variant: { name: 'wg 64' }, label })),
  ),
  ...CHANNEL_ACTIVATIONS.flatMap((activation) =>
    ELEMENTWISE_SHAPES.map(([label, shape]) => ({ op: 'channelAffine' as const, dims: { shape }, variant: { name: activation, activation }, label })),
  ),
  ...(['scale', 'bias', 'none'] as const).flatMap((terms) =>
    (['linear', 'tanh'] as const).map((activation) => ({ op: 'channelAffine' as const, dims: { shape: [5, 33] }, variant: { name: `${activation}, ${terms} only`, activation, terms } })),
  ),
  ...WORKGROUP_SIZES.slice(1).map((wg) => ({ op: 'channelAffine' as const, dims: { shape: [257, 100] }, variant: { name: `relu, wg ${wg}`, activation: 'relu' as const, workgroupSize: wg } })),
  // A ternary first layer's two sign-select halves summed (x [..., 2C] -> [..., C]).
  ...([[1, 2], [7, 66], [3, 5, 64]] as const).map((shape) => ({ op: 'channelAffine' as const, dims: { shape: [...shape] }, variant: { name: 'halves, relu', activation: 'relu' as const, terms: 'halves' as const } })),
  // Past 65535 workgroups in x: the grid folds into 2D.
  { op: 'channelAffine', dims: { shape: [70000, 64] }, variant: { name: 'hard_tanh', activation: 'hard_tanh' }, label: '4.5M values', minWorkgroups: 65536 },
  ...QUANTIZER_CASES.flatMap(([name, quantizer]) =>
    ELEMENTWISE_SHAPES.map(([label, shape]) => ({ op: 'quantize' as const, dims: { shape }, variant: { name, quantizer }, label })),
  ),
  ...(['ste_sign', 'dorefa_quantizer'] as const).flatMap((quantizer) =>
    WORKGROUP_SIZES.slice(1).map((wg) => ({ op: 'quantize' as const, dims: { shape: [257, 100] }, variant: { name: `${quantizer}, wg ${wg}`, quantizer, workgroupSize: wg } })),
  ),
  { op: 'quantize', dims: { shape: [70000] }, variant: { name: 'ste_tern, wg 1', quantizer: 'ste_tern', workgroupSize: 1 }, label: '70k workgroups', minWorkgroups: 65536 },
  ...(['sign', 'heaviside'] as const).flatMap((decision) =>
    ELEMENTWISE_SHAPES.map(([label, shape]) => ({ op: 'thresholdQuantize' as const, dims: { shape }, variant: { name: decision, decision }, label })),
  ),
  { op: 'thresholdQuantize', dims: { shape: [257, 100] }, variant: { name: 'sign, wg 1', decision: 'sign', workgroupSize: 1 } },
  ...ELEMENTWISE_SHAPES.map(([label, shape]) => ({ op: 'add' as const, dims: { shape }, variant: { name: 'a + b' }, label })),
  { op: 'add', dims: { shape: [257, 100] }, variant: { name: 'wg 7', workgroupSize: 7 } },
  { op: 'add', dims: { shape: [70000, 64] }, variant: { name: 'a + b' }, label: '4.5M values', minWorkgroups: 65536 },
  ...([[[1], 1], [[5, 33], 31], [[2, 3, 4, 64], 64], [[257, 7], 100]] as const).map(([shape, secondCols]) => ({ op: 'concatLast' as const, dims: { shape: [...shape] }, variant: { name: `then ${secondCols} columns`, secondCols } })),
  { op: 'concatLast', dims: { shape: [257, 9] }, variant: { name: 'then 5 columns, wg 1', secondCols: 5, workgroupSize: 1 } },
  ...([[[1], 1, 0], [[5, 33], 31, 2], [[2, 3, 4, 64], 32, 0], [[2, 3, 4, 64], 32, 32], [[257, 107], 7, 50]] as const).map(([shape, secondCols, offset]) => ({ op: 'sliceLast' as const, dims: { shape: [...shape] }, variant: { name: `${secondCols} columns, ${offset} after`, secondCols, offset } })),
  { op: 'sliceLast', dims: { shape: [257, 9] }, variant: { name: '5 columns, wg 1', secondCols: 5, workgroupSize: 1 } },
  ...([[[32], 1], [[5, 64], 33], [[2, 3, 4, 32], 96], [[257, 96], 7]] as const).map(([shape, secondCols]) => ({ op: 'concatBits' as const, dims: { shape: [...shape] }, variant: { name: `then ${secondCols} columns`, secondCols } })),
  { op: 'concatBits', dims: { shape: [257, 32] }, variant: { name: 'then 40 columns, wg 7', secondCols: 40, workgroupSize: 7 } },
  ...ELEMENTWISE_SHAPES.flatMap(([label, shape]) =>
    WORKGROUP_SIZES.map((wg) => ({ op: 'softmax' as const, dims: { shape }, variant: { name: `wg ${wg ?? 'default'}`, workgroupSize: wg }, label })),
  ),
  { op: 'softmax', dims: { shape: [70000, 3] }, variant: { name: 'wg 1', workgroupSize: 1 }, label: '70k rows', minWorkgroups: 65536 },
];

describe.each((Object.keys(OPS) as OpName[]).map((op) => [op, OPS[op].tolerance]))('%s: %s', (op) => {
  const cases = CASES.filter((c) => c.op === op);
  test.each(cases.map((c) => [caseName(c), c] as const))('%s', async (_name, c) => {
    await checkCase(gpu(), c);
  });
});

// ---------------------------------------------------------------------------------------------
// The one checker.
// ---------------------------------------------------------------------------------------------

async function checkCase(g: Gpu, c: Case): Promise<void> {
  const name = caseName(c);
  const what = `${name} [${seedNote()}]`;
  const row: OpRow = OPS[c.op];
  const p = row.prepare(g, rngFor(name), c.dims, c.variant);
  if (c.minWorkgroups) {
    const size = p.out.shape.reduce((x, y) => x * y, 1);
    const work = c.op === 'pack' ? storageCount(p.out.shape) : size;
    // softmax runs a workgroup per long row, an invocation per short one; the others a workgroup per workgroupSize outputs.
    const { rows, cols } = rowsCols(p.out.shape);
    const workgroups = c.op === 'softmax' && cols > SOFTMAX_SHORT_ROW ? rows : Math.ceil((c.op === 'softmax' ? rows : work) / (c.variant.workgroupSize ?? 64));
    expect(workgroups, `${what}: workgroups dispatched`).toBeGreaterThanOrEqual(c.minWorkgroups);
  }
  const out = poisoned(g, p.out.shape, p.out.dtype, 'out');
  try {
    const result = await p.launch(g, out);
    expect(result === out, `${what}: the op must write into the given 'out'`).toBe(true);
    const got = await out.read();
    const want = typeof p.want === 'function' ? await p.want() : p.want;
    const cols = p.out.shape[p.out.shape.length - 1];
    if (p.out.dtype === 'b1') {
      const rows = storageCount(p.out.shape) / wordsPerRow(cols);
      expectExact(got, want, what, { hex: true, cols: wordsPerRow(cols) });
      expect(padBitsAreZero(got as Uint32Array, rows, cols), `${what}: pad bits must be 0`).toBe(true);
    } else if (p.tol) {
      expectClose(got, want, p.tol, what, { cols });
    } else {
      expectExact(got, want, what, { cols });
    }
    p.extra?.(got, want, what);
  } finally {
    out.release();
    for (const t of p.inputs) t.release();
  }
}

function caseName(c: Case): string {
  return `${c.op} ${dimsName(c.dims)}${c.label ? ` (${c.label})` : ''}, ${c.variant.name}`;
}

function dimsName(d: Dims): string {
  if ('conv' in d) return `[${d.conv.x.join('x')}] * [${d.conv.kernel.join('x')}] ${windowName(d.conv.window)}`;
  if (!('shape' in d)) return `M${d.M} N${d.N} K${d.K}`;
  const pad = d.pad ? ` pad ${Object.entries(d.pad).map(([side, n]) => `${side} ${n}`).join(' ')}` : '';
  return `[${d.shape.join('x')}]${pad}`;
}

// ---------------------------------------------------------------------------------------------
// Inputs.
// ---------------------------------------------------------------------------------------------

/**
 * Values that test the sign convention, sprinkled over random data: +-0 and NaNs (with and
 * without the sign bit) are +1; infinities and subnormals keep their sign.
 */
const SPECIAL_BITS = [
  0x00000000, 0x80000000, // +0, -0.0
  0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, // NaNs, incl. sign bit set
  0x7f800000, 0xff800000, // +-inf
  0x00000001, 0x80000001, 0x807fffff, // subnormals
  0x00800000, 0x80800000, 0x7f7fffff, 0xff7fffff, // smallest normal, largest finite
];

function withSpecials(rng: Random, values: Float32Array): Float32Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) if (rng.next() < 0.1) bits[i] = SPECIAL_BITS[rng.int(SPECIAL_BITS.length)];
  // Each special at least once where there is room (a word of 32 values holds them all).
  SPECIAL_BITS.slice(0, values.length).forEach((x, i) => (bits[i] = x));
  return values;
}

/** Per element of channelAffine: bound(|x s| + |b|) + own(x s + b) + 2^-126 (a plain loop: 4.5M elements). */
function affineTolerance(
  x: Float32Array,
  C: number,
  scale: Float32Array | undefined,
  bias: Float32Array | undefined,
  bound: (absTerms: number) => number,
  own: (a: number) => number,
): Float64Array {
  const tol = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const xs = x[i] * (scale ? scale[i % C] : 1);
    const b = bias ? bias[i % C] : 0;
    tol[i] = bound(Math.abs(xs) + Math.abs(b)) + own(xs + b) + 2 ** -126;
  }
  return tol;
}

/** Uniform in [-range, range) with exact 0, -0, +-1, +-0.5 and (range > 2) +-100 sprinkled in. */
function affineInputs(rng: Random, n: number, range = 4): Float32Array {
  const values = rng.floats(n, -range, range);
  const specials = [0, -0, 1, -1, 0.5, -0.5, ...(range > 2 ? [100, -100] : [])];
  for (let i = 0; i < n; i++) if (rng.next() < 0.05) values[i] = specials[rng.int(specials.length)];
  return values;
}

/** The f32 next to `v` towards +inf (up = true) or -inf. */
function nextFloat(v: number, up: boolean): number {
  const [f, bits] = [Float32Array.of(v), new Uint32Array(1)];
  bits[0] = new Uint32Array(f.buffer)[0];
  if (v === 0) return up ? 2 ** -149 : -(2 ** -149);
  bits[0] += (v > 0) === up ? 1 : -1;
  return new Float32Array(bits.buffer)[0];
}

/**
 * Random values around [-2, 2] with the sign specials (withSpecials), and what decides the
 * quantizer's boundaries: +-D and its neighbours (ste_tern, D = |threshold| in f32); the midpoints
 * (r + 1/2) / n between DoReFa's levels and their neighbours, 0 and 1.
 */
function quantizeInputs(rng: Random, n: number, id: QuantizerIdentifier): Float32Array {
  const q = getQuantizer(id);
  const dorefa = q?.className === 'DoReFa';
  const values = withSpecials(rng, rng.floats(n, dorefa ? -0.5 : -2, dorefa ? 1.5 : 2));
  const edges: number[] = [];
  if (q?.className === 'SteTern') {
    const d = Math.abs(Math.fround(q.config.threshold_value as number));
    for (const e of [d, -d]) edges.push(e, nextFloat(e, true), nextFloat(e, false));
  } else if (dorefa) {
    const levels = 2 ** (q.config.k_bit as number) - 1;
    edges.push(0, 1, nextFloat(1, true), nextFloat(0, false));
    for (let r = 0; r < Math.min(levels, 64); r++) {
      const mid = Math.fround((r + 0.5) / levels);
      edges.push(mid, nextFloat(mid, true), nextFloat(mid, false));
    }
  }
  // After the specials; then at random places.
  edges.forEach((e, i) => {
    const at = SPECIAL_BITS.length + i;
    values[at < n ? at : rng.int(n)] = e;
  });
  return values;
}

/** Rows uniform in [-8, 8), shifted by 0 or +-1000 (stability: exp(1000) overflows); from 3 rows on, row 1 all equal. */
function softmaxInputs(rng: Random, rows: number, cols: number): Float32Array {
  const values = rng.floats(rows * cols, -8, 8);
  for (let r = 0; r < rows; r++) {
    const shift = [0, 0, 1000, -1000][rng.int(4)];
    for (let j = 0; j < cols; j++) values[r * cols + j] = r === 1 && rows >= 3 ? shift + 0.25 : values[r * cols + j] + shift;
  }
  return values;
}

/**
 * Per-channel scale and bias for the affine and threshold epilogues, mixing: constant channels
 * (scale 0, bias of either sign or 0), exact ties (a power-of-two scale whose zero falls on a
 * reachable dot: dot = K mod 2 + 2j), negative scales (flip), and thresholds spread over the dots'
 * range (about +-2 sqrt(K)). From 4 channels on, the first three are one of each: a constant
 * channel, a tie, a negative scale.
 */
function channels(rng: Random, N: number, K: number): { scale: Float32Array; bias: Float32Array } {
  const scale = new Float32Array(N);
  const bias = new Float32Array(N);
  const spread = 2 * Math.sqrt(K) + 1;
  for (let n = 0; n < N; n++) {
    const forced = N >= 4 && n < 3;
    const sign = (forced && n === 2) || rng.next() < 0.4 ? -1 : 1;
    switch (forced ? n : rng.int(6)) {
      case 0:
        scale[n] = 0;
        bias[n] = [-1.5, 0, 0.25][rng.int(3)];
        break;
      case 1: {
        const tie = (K % 2) + 2 * Math.round(rng.uniform(-spread, spread) / 2);
        scale[n] = sign * 2 ** (rng.int(5) - 2);
        bias[n] = -scale[n] * tie;
        break;
      }
      default:
        scale[n] = sign * rng.uniform(0.01, 2);
        bias[n] = -scale[n] * rng.uniform(-spread, spread);
    }
  }
  return { scale, bias };
}

function shapeOf(dims: Dims): number[] {
  if (!('shape' in dims)) throw new Error('expected a shape');
  return dims.shape;
}

function windowName(w: Conv2dWindow): string {
  const pair = (v: number | readonly number[]) => (typeof v === 'number' ? `${v}` : v.join('x'));
  const parts: string[] = [w.padding ?? 'valid'];
  if (w.strides !== undefined) parts.push(`stride ${pair(w.strides)}`);
  if (w.dilation !== undefined) parts.push(`dilation ${pair(w.dilation)}`);
  if (w.padValues !== undefined) parts.push(`padValues ${w.padValues}`);
  return parts.join(' ');
}

function convDims(dims: Dims): ConvDims {
  if (!('conv' in dims)) throw new Error('expected a convolution');
  return dims.conv;
}

/**
 * A convolution's shapes and GEMM sizes. The output size is computed here from TensorFlow's rule,
 * not taken from the op's geometry: 'same' ceil(in / stride), 'valid' floor((in - span) / stride)
 * + 1 with span = (k - 1) * dilation + 1; a launch into an `out` of another size is refused.
 */
function convShapes(c: ConvDims) {
  const [batch, H, W, C] = c.x;
  const [O, KH, KW] = c.kernel;
  const pair = (v: number | readonly [number, number] = 1) => (typeof v === 'number' ? [v, v] : v);
  const [[sh, sw], [dh, dw]] = [pair(c.window.strides), pair(c.window.dilation)];
  const size = (n: number, k: number, s: number, d: number) => (c.window.padding === 'same' ? Math.ceil(n / s) : Math.floor((n - (k - 1) * d - 1) / s) + 1);
  const [outH, outW] = [size(H, KH, sh, dh), size(W, KW, sw, dw)];
  return {
    xShape: c.x,
    kShape: [O, KH, KW, C],
    pixels: batch * H * W,
    rows: O * KH * KW,
    M: batch * outH * outW,
    N: O,
    K: KH * KW * C,
    outShape: [batch, outH, outW, O],
  };
}

/** The window without padValues: fp32 convolution pads with zeros. */
function floatWindow({ padValues: _, ...w }: Conv2dWindow): Omit<Conv2dWindow, 'padValues'> {
  return w;
}

function padDims(dims: Dims): { shape: number[]; pad: Padding2d } {
  if (!('shape' in dims) || !dims.pad) throw new Error('expected a shape and a padding');
  return { shape: dims.shape, pad: dims.pad };
}

function paddedShape([n, h, w, c]: number[], p: Padding2d): number[] {
  return [n, h + p.top + p.bottom, w + p.left + p.right, c];
}

function gemmDims(dims: Dims): { M: number; N: number; K: number } {
  if (!('M' in dims)) throw new Error('expected M, N, K');
  return dims;
}

function rowsCols(shape: number[]): { rows: number; cols: number } {
  const cols = shape[shape.length - 1];
  return { rows: shape.reduce((x, y) => x * y, 1) / cols, cols };
}

/** u32 words of a b1 tensor of this shape. */
function storageCount(shape: number[]): number {
  const { rows, cols } = rowsCols(shape);
  return rows * wordsPerRow(cols);
}

describe('packDorefaPlanes', () => {
  // DoReFa's activation levels as bit planes, against Larq's quantizer on the CPU: every level, the
  // rounding ties (half to even), values outside [0, 1], awkward row lengths.
  test.each([[1, 1, 1], [3, 33, 3], [7, 65, 2], [2, 31, 8], [5, 100, 4]])('rows %i, cols %i, %i bits', async (rows, cols, bits) => {
    const g = gpu();
    const rng = rngFor(`dorefa planes ${rows} ${cols} ${bits}`);
    const levels = 2 ** bits - 1;
    const x = Float32Array.from({ length: rows * cols }, () => {
      const r = rng.next();
      if (r < 0.2) return (rng.int(levels + 1) + 0.5) / levels; // a tie (in f32, near it)
      if (r < 0.3) return rng.uniform(-2, 0);
      if (r < 0.4) return rng.uniform(1, 3);
      return rng.next();
    });
    const t = g.upload(x, [rows, cols], 'f32', 'x');
    const out = await packDorefaPlanes(g, t, bits, { out: poisoned(g, [bits, rows, cols], 'b1') });
    const got = (await out.read()) as Uint32Array;
    expectExact(got, packDorefaPlanesReference(x, rows, cols, bits), `planes ${seedNote()}`, { hex: true });
    for (let b = 0; b < bits; b++) expect(padBitsAreZero(got.subarray(b * rows * wordsPerRow(cols), (b + 1) * rows * wordsPerRow(cols)), rows, cols)).toBe(true);
    t.release();
    out.release();
  });

  test('bits outside 1..8 are refused', async () => {
    const g = gpu();
    const t = g.upload(new Float32Array(4), [2, 2], 'f32', 'x');
    await expect(packDorefaPlanes(g, t, 9)).rejects.toThrow(/bits must be an integer in 1..8/);
    await expect(packDorefaPlanes(g, t, 0)).rejects.toThrow(/bits must be an integer in 1..8/);
    t.release();
  });
});
