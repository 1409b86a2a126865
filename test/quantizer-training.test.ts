// The element-wise training kernels against their CPU references: quantizerBackward (Larq's
// pseudo-gradients), quantizeWeights (kernel quantizers' forward with their statistics),
// activationBackward (also against finite differences of the forward), and the reductions
// (columnSums = biasGradient, columnReduce). Fresh seeded inputs with the edge values a decision
// depends on, poisoned outputs, sizes that are not multiples of a workgroup or a chunk.
import { describe, expect, test } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import { getQuantizer, twnThreshold, type QuantizerIdentifier } from '../src/model/quantizers.js';
import { channelAffineReference, CHANNEL_ACTIVATIONS, type ChannelActivation } from '../src/ops/elementwise.js';
import { biasGradient, columnReduce, columnSums, columnSumsReference, reduceErrorTerms } from '../src/ops/reduce.js';
import {
  activationBackward, activationBackwardReference, quantizeWeights, quantizeWeightsReference, quantizerBackward,
  quantizerBackwardReference, type ChannelAxis,
} from '../src/ops/train-elementwise.js';
import type { Shape } from '../src/tensor.js';
import { expectClose, expectExact } from './helpers/check.js';
import { poisoned, useGpu } from './helpers/gpu.js';
import { rngFor, seedNote, type Random } from './helpers/random.js';

const gpu = useGpu();
const U = 2 ** -24; // unit roundoff of f32
const size = (s: Shape) => s.reduce((a, b) => a * b, 1);

/** The values a clip, sign or piece decides on: +-0, +-clip and the next float out, +-1, subnormals, infinities, NaN. */
function withEdges(rng: Random, x: Float32Array, clip: number, special = true): Float32Array {
  const edges = [0, -0, clip, -clip, Math.fround(clip * (1 + 2 ** -23)), -Math.fround(clip * (1 + 2 ** -23)), 1, -1, Math.fround(1 + 2 ** -23)];
  if (special) edges.push(-1e-45, 1e-45, Infinity, -Infinity, NaN);
  for (const e of edges) if (x.length > 1 || e === edges[0]) x[rng.int(x.length)] = e;
  return x;
}

/** expectClose where NaN must meet NaN: NaN positions agree, the rest within tol. */
function expectCloseOrNaN(got: Float32Array, want: Float32Array, tol: (i: number) => number, what: string): void {
  const nanGot = Array.from(got, Number.isNaN);
  expectExact(nanGot.map(Number), Array.from(want, (v) => Number(Number.isNaN(v))), `${what}: NaN positions`);
  const g = got.map((v) => (Number.isNaN(v) ? 0 : v));
  const w = want.map((v) => (Number.isNaN(v) ? 0 : v));
  expectClose(g, w, Array.from(w, (_, i) => tol(i)), what);
}

/** Channel-wise mean |x| as the CPU forward computes it (f64 sum, f32 quotient), channels on `axis`. */
function meanAbs(x: Float32Array, shape: Shape, axis: ChannelAxis): Float32Array {
  const C = axis === 'last' ? shape[shape.length - 1] : shape[0];
  const rows = x.length / C;
  const s = new Float64Array(C);
  for (let i = 0; i < x.length; i++) s[axis === 'last' ? i % C : Math.floor(i / rows)] += Math.abs(x[i]);
  return Float32Array.from(s, (v) => v / rows);
}

const maxAbsTanh = (x: Float32Array) => x.reduce((m, v) => Math.max(m, Math.abs(Math.fround(Math.tanh(v)))), 0);

const SHAPES: Shape[] = [[1, 1], [31, 33], [65], [3, 5, 65], [129, 7]];

describe('quantizerBackward', () => {
  // Exact against the reference: every clip, approx_sign (its f32 reference), DoReFa activations, identity.
  const exact: [string, QuantizerIdentifier, number][] = [
    ['ste_sign', 'ste_sign', 1],
    ['ste_sign clip null', { class_name: 'SteSign', config: { clip_value: null } }, 1],
    ['ste_sign clip 0.5', { class_name: 'SteSign', config: { clip_value: 0.5 } }, 0.5],
    ['ste_heaviside', 'ste_heaviside', 1],
    ['ste_heaviside clip 0.3', { class_name: 'SteHeaviside', config: { clip_value: 0.3 } }, 0.3],
    ['ste_tern', 'ste_tern', 1],
    ['ste_tern twn clip 2', { class_name: 'SteTern', config: { ternary_weight_networks: true, clip_value: 2 } }, 2],
    ['approx_sign', 'approx_sign', 1],
    ['dorefa activations 2', 'dorefa_quantizer', 1],
    ['dorefa activations 5', { class_name: 'DoReFa', config: { k_bit: 5 } }, 1],
    ['NoOp', { class_name: 'NoOp', config: { precision: 1 } }, 1],
    ['null', null, 1],
  ];
  for (const [name, q, clip] of exact) {
    test.each(SHAPES.map((s) => [s]))(`${name} %j`, async (shape) => {
      const g = gpu();
      const rng = rngFor(`backward ${name} ${shape}`);
      const n = size(shape);
      const xv = withEdges(rng, rng.floats(n, -2.5, 2.5), clip);
      const dyv = rng.floats(n, -1, 1);
      const x = g.upload(xv, shape, 'f32', 'x');
      const dy = g.upload(dyv, shape, 'f32', 'dy');
      const dx = await quantizerBackward(g, x, dy, q, { out: poisoned(g, shape, 'f32') });
      const got = (await dx.read()) as Float32Array;
      expectExact(got, quantizerBackwardReference(xv, dyv, q, shape), `${name} ${seedNote()}`);
      // approx_sign's f32 reference against Larq's f64 one: within 1 ulp.
      const larq = getQuantizer(q)?.backward(xv, dyv) ?? dyv;
      expectClose(got, larq, Array.from(larq, (v) => 2 * U * Math.abs(v)), `${name} against Larq's f64 gradient ${seedNote()}`);
      for (const t of [x, dy, dx]) t.release();
    });
  }

  test.each([[0.5], [5], [20]])('swish_sign beta %d', async (beta) => {
    const g = gpu();
    for (const shape of SHAPES) {
      const rng = rngFor(`swish ${beta} ${shape}`);
      const n = size(shape);
      const xv = withEdges(rng, rng.floats(n, -3, 3), 0.25);
      const dyv = rng.floats(n, -1, 1);
      const x = g.upload(xv, shape, 'f32', 'x');
      const dy = g.upload(dyv, shape, 'f32', 'dy');
      const q = { class_name: 'SwishSign', config: { beta } };
      const dx = await quantizerBackward(g, x, dy, q, { out: poisoned(g, shape, 'f32') });
      // Absolute, against the gradient's peak beta |dy| (at x = 0): SWISH_ULPS ulp of it.
      expectCloseOrNaN((await dx.read()) as Float32Array, quantizerBackwardReference(xv, dyv, q, shape), (i) => SWISH_ULPS * U * beta * Math.abs(dyv[i]), `swish_sign ${beta} ${shape} ${seedNote()}`);
      for (const t of [x, dy, dx]) t.release();
    }
  });

  const axes: ChannelAxis[] = ['last', 'first'];
  test.each(axes.map((a) => [a]))('magnitude_aware_sign, channels %s', async (axis) => {
    const g = gpu();
    for (const shape of [...SHAPES, [300, 2]]) {
      const rng = rngFor(`magnitude backward ${axis} ${shape}`);
      const n = size(shape);
      const xv = withEdges(rng, rng.floats(n, -1.5, 1.5), 1, false);
      const dyv = rng.floats(n, -1, 1);
      const x = g.upload(xv, shape, 'f32', 'x');
      const dy = g.upload(dyv, shape, 'f32', 'dy');
      const want = quantizerBackwardReference(xv, dyv, 'magnitude_aware_sign', shape, axis);
      // With the forward's statistic (here the CPU's): exact.
      const a = meanAbs(xv, shape, axis);
      const stats = g.upload(a, [a.length], 'f32', 'stats');
      const dx = await quantizerBackward(g, x, dy, 'magnitude_aware_sign', { channelAxis: axis, stats, out: poisoned(g, shape, 'f32') });
      expectExact(await dx.read(), want, `magnitude_aware_sign ${axis} ${shape} with stats ${seedNote()}`);
      // Computing it: the mean's f32 sum and division.
      const dx2 = await quantizerBackward(g, x, dy, 'magnitude_aware_sign', { channelAxis: axis, out: poisoned(g, shape, 'f32') });
      const terms = reduceErrorTerms(n / a.length) + 4;
      expectClose(await dx2.read(), want, Array.from(want, (v) => terms * U * Math.abs(v)), `magnitude_aware_sign ${axis} ${shape} ${seedNote()}`);
      for (const t of [x, dy, stats, dx, dx2]) t.release();
    }
  });

  test.each([[1, 3], [2, 3], [4, 3], [2, 0.05]])('dorefa weights k_bit %i, |x| <= %d', async (kBit, range) => {
    const g = gpu();
    for (const shape of SHAPES) {
      const rng = rngFor(`dorefa weights backward ${kBit} ${range} ${shape}`);
      const n = size(shape);
      const xv = withEdges(rng, rng.floats(n, -range, range), range / 2, false);
      const dyv = rng.floats(n, -1, 1);
      const x = g.upload(xv, shape, 'f32', 'x');
      const dy = g.upload(dyv, shape, 'f32', 'dy');
      const q = { class_name: 'DoReFa', config: { k_bit: kBit, mode: 'weights' } };
      const want = quantizerBackwardReference(xv, dyv, q, shape);
      const m = maxAbsTanh(xv);
      const stats = g.upload(Float32Array.of(m), [1], 'f32', 'stats');
      const dx = await quantizerBackward(g, x, dy, q, { stats, out: poisoned(g, shape, 'f32') });
      // Absolute against the peak |dy| / m (at x = 0), plus the relative error of m when computed here.
      const tol = (extra: number) => (i: number) => (DOREFA_ULPS * U * Math.abs(dyv[i])) / m + extra * U * Math.abs(want[i]);
      expectCloseOrNaN((await dx.read()) as Float32Array, want, m === 0 ? () => 0 : tol(0), `dorefa weights ${shape} with stats ${seedNote()}`);
      const dx2 = await quantizerBackward(g, x, dy, q, { out: poisoned(g, shape, 'f32') });
      expectCloseOrNaN((await dx2.read()) as Float32Array, want, m === 0 ? () => 0 : tol(TANH_ULPS), `dorefa weights ${shape} ${seedNote()}`);
      for (const t of [x, dy, stats, dx, dx2]) t.release();
    }
  });

  test('all zeros: magnitude_aware_sign and DoReFa weights give 0', async () => {
    const g = gpu();
    const x = g.upload(new Float32Array(70), [7, 10], 'f32', 'x');
    const dy = g.upload(Float32Array.from({ length: 70 }, (_, i) => i - 35), [7, 10], 'f32', 'dy');
    for (const q of ['magnitude_aware_sign', { class_name: 'DoReFa', config: { k_bit: 3, mode: 'weights' } }]) {
      const dx = await quantizerBackward(g, x, dy, q, { out: poisoned(g, [7, 10], 'f32') });
      expectExact(await dx.read(), new Float32Array(70), `${JSON.stringify(q)}`);
      dx.release();
    }
    x.release();
    dy.release();
  });
});

/**
 * Bounds of the exp-based kernels, in ulp (2^-24) of the stated scale. Measured on SwiftShader over
 * 600,000 random points: swish_sign 4.7 ulp of beta |dy|; DoReFa weights 4.6 ulp of |dy| / m; max
 * |tanh| 3.4 ulp (3000 points, |x| from 1e-6 to 16: a Taylor series below 0.625, exp above); sigmoid and tanh 12 ulp relative for |x| < 3, 20-31 for |x| in [9, 12] (WGSL's exp
 * is accurate to 3 + 2|arg| ulp, so the bound grows with |x|).
 */
const SWISH_ULPS = 8;
const DOREFA_ULPS = 8;
const TANH_ULPS = 6;
const ACTIVATION_ULPS = (x: number) => 16 + 4 * Math.abs(x);

describe('quantizeWeights', () => {
  test.each([['last'], ['first']] as [ChannelAxis][])('magnitude_aware_sign, channels %s', async (axis) => {
    const g = gpu();
    for (const shape of [...SHAPES, [3, 3, 4, 9]]) {
      const rng = rngFor(`magnitude forward ${axis} ${shape}`);
      const n = size(shape);
      const wv = withEdges(rng, rng.floats(n, -1.5, 1.5), 1, false);
      const w = g.upload(wv, shape, 'f32', 'w');
      const { y, stats } = await quantizeWeights(g, w, 'magnitude_aware_sign', { channelAxis: axis, out: poisoned(g, shape, 'f32') });
      const want = quantizeWeightsReference(wv, 'magnitude_aware_sign', shape, axis);
      const a = meanAbs(wv, shape, axis);
      const terms = reduceErrorTerms(n / a.length) + 4;
      expectClose(await y.read(), want, Array.from(want, (v) => terms * U * Math.abs(v)), `y ${axis} ${shape} ${seedNote()}`);
      // The sign is exact: y's sign bit is x's (sign(0) = +1).
      const got = (await y.read()) as Float32Array;
      expectExact(Array.from(got, (v) => Math.sign(1 / v)), Array.from(want, (v) => Math.sign(1 / v)), `signs ${seedNote()}`);
      expectClose(await stats!.read(), a, Array.from(a, (v) => terms * U * v), `stats ${axis} ${shape} ${seedNote()}`);
      for (const t of [w, y, stats!]) t.release();
    }
  });

  test('ste_tern with ternary_weight_networks: exact away from the threshold', async () => {
    const g = gpu();
    const q = { class_name: 'SteTern', config: { ternary_weight_networks: true } };
    for (const shape of [...SHAPES, [1000, 70]]) {
      const rng = rngFor(`twn ${shape}`);
      const n = size(shape);
      const wv = withEdges(rng, rng.floats(n, -1, 1), 0, false);
      // Move values off the threshold D = 0.7 mean |w| (moving one changes D by at most 1e-3 D / n).
      for (let pass = 0; pass < 3; pass++) {
        const d = twnThreshold(wv);
        for (let i = 0; i < n; i++) if (n > 1 && Math.abs(Math.abs(wv[i]) - d) <= 1e-3 * d) wv[i] = Math.sign(wv[i] || 1) * d * 1.01;
      }
      const w = g.upload(wv, shape, 'f32', 'w');
      const { y, stats } = await quantizeWeights(g, w, q, { out: poisoned(g, shape, 'f32') });
      expectExact(await y.read(), quantizeWeightsReference(wv, q, shape), `twn ${shape} ${seedNote()}`);
      const d = Math.fround(twnThreshold(wv));
      expectClose(await stats!.read(), [d], (reduceErrorTerms(n) + 4) * U * d, `threshold ${shape} ${seedNote()}`);
      for (const t of [w, y, stats!]) t.release();
    }
  });

  test.each([[1, 2], [2, 2], [4, 2], [8, 2], [2, 0.05]])('dorefa weights k_bit %i, |w| <= %d: exact away from the rounding boundaries', async (kBit, range) => {
    const g = gpu();
    const q = { class_name: 'DoReFa', config: { k_bit: kBit, mode: 'weights' } };
    const levels = 2 ** kBit - 1;
    for (const shape of [...SHAPES, [500, 40]]) {
      const rng = rngFor(`dorefa weights ${kBit} ${range} ${shape}`);
      const n = size(shape);
      const wv = rng.floats(n, -range, range);
      // u = tanh(w) / (2m) + 1/2 rounds to a level; keep u n at least 1e-3 away from a half-integer.
      const m = maxAbsTanh(wv);
      for (let i = 0; i < n; i++) {
        for (let k = 0; k < 20; k++) {
          const un = (Math.tanh(wv[i]) / (2 * m) + 0.5) * levels;
          if (Math.abs(un - Math.floor(un) - 0.5) > 1e-3 || Math.abs(Math.tanh(wv[i])) >= m) break;
          wv[i] = Math.fround(wv[i] * 0.99);
        }
      }
      const w = g.upload(wv, shape, 'f32', 'w');
      const { y, stats } = await quantizeWeights(g, w, q, { out: poisoned(g, shape, 'f32') });
      expectExact(await y.read(), quantizeWeightsReference(wv, q, shape), `dorefa weights ${kBit} ${shape} ${seedNote()}`);
      expectClose(await stats!.read(), [maxAbsTanh(wv)], TANH_ULPS * U * maxAbsTanh(wv), `max |tanh| ${shape} ${seedNote()}`);
      for (const t of [w, y, stats!]) t.release();
    }
  });

  test('element-wise quantizers run quantize, exactly, with no statistic', async () => {
    const g = gpu();
    const rng = rngFor('quantizeWeights elementwise');
    const wv = withEdges(rng, rng.floats(31 * 33, -1, 1), 0.05);
    const w = g.upload(wv, [31, 33], 'f32', 'w');
    for (const q of ['ste_sign', 'ste_tern', 'approx_sign', { class_name: 'DoReFa', config: { k_bit: 3 } }, null] as QuantizerIdentifier[]) {
      const { y, stats } = await quantizeWeights(g, w, q, { out: poisoned(g, [31, 33], 'f32') });
      expect(stats).toBeUndefined();
      expectExact(await y.read(), quantizeWeightsReference(wv, q, [31, 33]), `${JSON.stringify(q)} ${seedNote()}`);
      y.release();
    }
    w.release();
  });
});

describe('activationBackward', () => {
  const acts = CHANNEL_ACTIVATIONS.map((a) => [a]) as [ChannelActivation][];
  test.each(acts)('%s', async (act) => {
    const g = gpu();
    const smooth = act === 'sigmoid' || act === 'tanh';
    for (const shape of SHAPES) {
      const rng = rngFor(`activation ${act} ${shape}`);
      const n = size(shape);
      const xv = withEdges(rng, rng.floats(n, -12, 12), 1);
      const dyv = rng.floats(n, -1, 1);
      const x = g.upload(xv, shape, 'f32', 'x');
      const dy = g.upload(dyv, shape, 'f32', 'dy');
      const dx = await activationBackward(g, x, dy, act, { out: poisoned(g, shape, 'f32') });
      const got = (await dx.read()) as Float32Array;
      const want = activationBackwardReference(xv, dyv, act);
      if (smooth) expectCloseOrNaN(got, want, (i) => ACTIVATION_ULPS(xv[i]) * U * Math.abs(want[i]) + 2 ** -126, `${act} ${shape} ${seedNote()}`);
      else expectExact(got, want, `${act} ${shape} ${seedNote()}`);
      for (const t of [x, dy, dx]) t.release();
    }
  });

  test.each(acts)('%s: the reference against finite differences of the forward', (act) => {
    const h = 2 ** -10;
    const points = [-2.5, -0.75, -0.125, 0.375, 1.75];
    const at = (v: number) => channelAffineReference(Float32Array.of(v), [1], { activation: act })[0];
    const fd = points.map((v) => (at(v + h) - at(v - h)) / (2 * h));
    const got = activationBackwardReference(Float32Array.from(points), new Float32Array(points.length).fill(1), act);
    expectClose(got, fd, 1e-4, `${act}: dact/dx against central differences`);
  });
});

describe('columnSums, biasGradient and columnReduce', () => {
  const shapes: [Shape, number][] = [[[1, 1], 256], [[3, 5], 256], [[300, 10], 256], [[7, 3, 65], 2], [[1000, 33], 3], [[100000, 3], 256], [[257, 1], 256]];
  test.each(shapes)('%j chunk %i', async (shape, chunk) => {
    const g = gpu();
    const rng = rngFor(`column sums ${shape} ${chunk}`);
    const xv = rng.floats(size(shape), -1, 1);
    const x = g.upload(xv, shape, 'f32', 'dy');
    const C = shape[shape.length - 1];
    const want = columnSumsReference(xv, shape);
    const absSum = columnSumsReference(xv.map(Math.abs), shape);
    const tol = Array.from(absSum, (s) => reduceErrorTerms(xv.length / C, chunk) * U * s);
    const s = await columnSums(g, x, { chunk, out: poisoned(g, [C], 'f32') });
    expectClose(await s.read(), want, tol, `columnSums ${shape} ${seedNote()}`);
    const b = await biasGradient(g, x, { chunk });
    expectExact(await b.read(), await s.read(), 'biasGradient is columnSums');
    for (const t of [x, s, b]) t.release();
  });

  test('axis first and all, max |tanh|', async () => {
    const g = gpu();
    const rng = rngFor('columnReduce axes');
    const shape = [33, 5, 7];
    const xv = rng.floats(size(shape), -3, 3);
    const x = g.upload(xv, shape, 'f32', 'x');
    const first = await columnReduce(g, x, { axis: 'first', map: 'abs', chunk: 4 });
    const rowSums = Array.from({ length: 33 }, (_, r) => xv.slice(r * 35, r * 35 + 35).reduce((a, v) => a + Math.abs(v), 0));
    expectClose(await first.read(), rowSums, rowSums.map((s) => reduceErrorTerms(35, 4) * U * s), `first ${seedNote()}`);
    const all = await columnReduce(g, x, { axis: 'all', map: 'abs_tanh', op: 'max', chunk: 16 });
    expectClose(await all.read(), [maxAbsTanh(xv)], TANH_ULPS * U, `max |tanh| ${seedNote()}`);
    for (const t of [x, first, all]) t.release();
  });
});

describe('errors', () => {
  test('shapes, dtypes, quantizers and activations are named', async () => {
    const g = gpu();
    const x = g.upload(new Float32Array(6), [2, 3], 'f32', 'x');
    const dy = g.upload(new Float32Array(6), [3, 2], 'f32', 'dy');
    const bits = g.upload(new Uint32Array(2), [2, 3], 'b1', 'bits');
    const one = g.upload(new Float32Array(1), [1], 'f32', 'one');
    await expect(quantizerBackward(g, x, dy, 'ste_sign')).rejects.toThrow(/quantizerBackward: 'dy' must have the shape of 'x'/);
    await expect(quantizerBackward(g, x, x, 'no_such')).rejects.toThrow(ShapeError);
    await expect(quantizerBackward(g, x, x, 'no_such')).rejects.toThrow(/unknown quantizer 'no_such'/);
    await expect(quantizerBackward(g, bits, x, 'ste_sign')).rejects.toThrow(/'x' must be f32/);
    await expect(quantizerBackward(g, x, x, 'magnitude_aware_sign', { stats: one })).rejects.toThrow(/'stats' must be f32\[3\]/);
    await expect(quantizerBackward(g, x, x, 'ste_sign', { stats: one })).rejects.toThrow(/takes no 'stats'/);
    await expect(quantizerBackward(g, x, x, 'magnitude_aware_sign', { channelAxis: 'middle' as ChannelAxis })).rejects.toThrow(/channelAxis/);
    await expect(quantizeWeights(g, bits, 'magnitude_aware_sign')).rejects.toThrow(/quantizeWeights: 'w' must be f32/);
    await expect(activationBackward(g, x, x, 'softmax' as ChannelActivation)).rejects.toThrow(/fused into the loss/);
    await expect(activationBackward(g, x, x, 'elu' as ChannelActivation)).rejects.toThrow(ShapeError);
    await expect(columnSums(g, bits)).rejects.toThrow(/columnReduce: 'x' must be f32/);
    await expect(columnReduce(g, x, { op: 'max' })).rejects.toThrow(/non-negative/);
    for (const t of [x, dy, bits, one]) t.release();
  });
});
