// Backward kernels of convolution (binary and fp32) and pooling (issue 5) against their CPU
// references, and the references against finite differences of the forward references. Fresh
// seeded inputs, poisoned outputs, awkward sizes; small-integer data, so results compare exactly.
import { describe, expect, test } from 'vitest';
import { unpackRows } from '../src/bitpack.js';
import { ShapeError } from '../src/gpu/errors.js';
import { bconv2dReference, type Conv2dWindow } from '../src/ops/bconv2d.js';
import { conv2dReference } from '../src/ops/conv2d.js';
import {
  bconv2dBackwardFilter,
  bconv2dBackwardInput,
  conv2dBackwardFilter,
  conv2dBackwardFilterReference,
  conv2dBackwardInput,
  conv2dBackwardInputReference,
} from '../src/ops/conv2d-backward.js';
import {
  avgPool2dBackward,
  avgPool2dBackwardReference,
  avgPool2dReference,
  maxPool2dBackward,
  maxPool2dBackwardReference,
  maxPool2dReference,
  pool2dGeometry,
  type Pool2dWindow,
} from '../src/ops/pool.js';
import { conv2dGeometry } from '../src/ops/bconv2d.js';
import { expectClose, expectExact } from './helpers/check.js';
import { poisoned, useGpu } from './helpers/gpu.js';
import { randomBits, rngFor, seedNote, type Random } from './helpers/random.js';

const gpu = useGpu();

/** Small integers in [-k, k]: f32 sums of them are exact, so the GPU results compare exactly. */
function smallInts(rng: Random, n: number, k = 3): Float32Array {
  return Float32Array.from({ length: n }, () => rng.int(2 * k + 1) - k);
}

// [N, H, W, I, O, KH, KW, stride, dilation, padding, padValues]
type ConvCase = [number, number, number, number, number, number, number, number, number, 'valid' | 'same', 0 | 1];
const CONV_CASES: ConvCase[] = [
  [1, 5, 5, 1, 1, 1, 1, 1, 1, 'valid', 0],
  [3, 6, 7, 3, 33, 3, 3, 1, 1, 'same', 0],
  [1, 7, 6, 33, 3, 3, 3, 2, 1, 'same', 1],
  [3, 5, 5, 70, 5, 5, 5, 1, 1, 'same', 0],
  [1, 8, 7, 3, 70, 3, 1, 2, 1, 'valid', 0],
  [3, 9, 9, 33, 4, 3, 3, 1, 2, 'same', 0],
  [1, 9, 8, 1, 33, 3, 3, 2, 2, 'same', 1],
  [3, 6, 6, 70, 33, 3, 3, 1, 1, 'valid', 1],
  [1, 6, 5, 3, 2, 5, 5, 2, 1, 'same', 0],
];

function convSetup(c: ConvCase) {
  const [N, H, W, I, O, KH, KW, s, d, padding, padValues] = c;
  const window: Conv2dWindow = { strides: s, dilation: d, padding, padValues };
  const g = conv2dGeometry([N, H, W, I], [O, KH, KW, I], window);
  return { N, H, W, I, O, KH, KW, window, g, inShape: [N, H, W, I], kShape: [O, KH, KW, I], dzShape: [N, g.outH, g.outW, O] };
}

const name = (c: ConvCase) => `${c[0]}x${c[1]}x${c[2]}x${c[3]} * ${c[5]}x${c[6]} -> ${c[4]} s${c[7]} d${c[8]} ${c[9]} pad${c[10]}`;

describe('binary convolution backward', () => {
  test.each(CONV_CASES.map((c) => [name(c), c] as const))('%s', async (label, c) => {
    const gp = gpu();
    const rng = rngFor(`bconv backward ${label}`);
    const { N, H, W, I, O, KH, KW, window, g, inShape, kShape, dzShape } = convSetup(c);
    const xBits = randomBits(rng, N * H * W, I);
    const wBits = randomBits(rng, O * KH * KW, I);
    const dzVals = smallInts(rng, dzShape.reduce((a, b) => a * b));
    const x = gp.upload(xBits, inShape, 'b1', 'x');
    const w = gp.upload(wBits, kShape, 'b1', 'w');
    const dz = gp.upload(dzVals, dzShape, 'f32', 'dz');
    const [kh, kw] = [KH, KW];
    const dW = await bconv2dBackwardFilter(gp, dz, x, { ...window, kernelSize: [kh, kw], out: poisoned(gp, kShape, 'f32') });
    const wantW = conv2dBackwardFilterReference(dzVals, unpackRows(xBits, N * H * W, I), inShape, kShape, window);
    expectExact(await dW.read(), wantW, `dW ${label} ${seedNote()}`, { cols: I });
    // The same through sign tables (the trainer's default method).
    const dWt = await bconv2dBackwardFilter(gp, dz, x, { ...window, kernelSize: [kh, kw], method: 'table', out: poisoned(gp, kShape, 'f32') });
    expectExact(await dWt.read(), wantW, `dW (sign tables) ${label} ${seedNote()}`, { cols: I });
    dWt.release();
    const dx = await bconv2dBackwardInput(gp, dz, w, { ...window, inputShape: inShape, out: poisoned(gp, inShape, 'f32') });
    expectExact(await dx.read(), conv2dBackwardInputReference(dzVals, unpackRows(wBits, O * KH * KW, I), inShape, kShape, window), `dx ${label} ${seedNote()}`, { cols: I });
    expect(g.outH * g.outW).toBeGreaterThan(0);
    for (const t of [x, w, dz, dW, dx]) t.release();
  });
});

describe('fp32 convolution backward', () => {
  test.each(CONV_CASES.map((c) => [name(c), c] as const))('%s', async (label, c) => {
    const gp = gpu();
    const rng = rngFor(`conv backward ${label}`);
    const { N, H, W, I, O, KH, KW, window, inShape, kShape, dzShape } = convSetup(c);
    const fwindow = { ...window, padValues: undefined };
    const xVals = smallInts(rng, N * H * W * I);
    const wVals = smallInts(rng, O * KH * KW * I);
    const dzVals = smallInts(rng, dzShape.reduce((a, b) => a * b));
    const x = gp.upload(xVals, inShape, 'f32', 'x');
    const w = gp.upload(wVals, kShape, 'f32', 'w');
    const dz = gp.upload(dzVals, dzShape, 'f32', 'dz');
    const dW = await conv2dBackwardFilter(gp, dz, x, { ...fwindow, kernelSize: [KH, KW], out: poisoned(gp, kShape, 'f32') });
    expectExact(await dW.read(), conv2dBackwardFilterReference(dzVals, xVals, inShape, kShape, fwindow), `dW ${label} ${seedNote()}`, { cols: I });
    const dx = await conv2dBackwardInput(gp, dz, w, { ...fwindow, inputShape: inShape, out: poisoned(gp, inShape, 'f32') });
    expectExact(await dx.read(), conv2dBackwardInputReference(dzVals, wVals, inShape, kShape, fwindow), `dx ${label} ${seedNote()}`, { cols: I });
    for (const t of [x, w, dz, dW, dx]) t.release();
  });

  test('real-valued data: within the rounding of f32 sums', async () => {
    const gp = gpu();
    const rng = rngFor('conv backward floats');
    const c: ConvCase = [3, 9, 8, 5, 7, 3, 3, 2, 1, 'same', 0];
    const { N, H, W, I, O, KH, KW, window, inShape, kShape, dzShape } = convSetup(c);
    const fwindow = { ...window, padValues: undefined };
    const xVals = rng.floats(N * H * W * I, -2, 2);
    const wVals = rng.floats(O * KH * KW * I, -1, 1);
    const dzVals = rng.floats(dzShape.reduce((a, b) => a * b), -1, 1);
    const [x, w, dz] = [gp.upload(xVals, inShape, 'f32'), gp.upload(wVals, kShape, 'f32'), gp.upload(dzVals, dzShape, 'f32')];
    const dW = await conv2dBackwardFilter(gp, dz, x, { ...fwindow, kernelSize: [KH, KW] });
    const dx = await conv2dBackwardInput(gp, dz, w, { ...fwindow, inputShape: inShape });
    // Sums of at most N*OH*OW (dW) or O*KH*KW (dx) terms of magnitude <= 2: 1e-5 is far above their rounding.
    expectClose(await dW.read(), conv2dBackwardFilterReference(dzVals, xVals, inShape, kShape, fwindow), 1e-4, `dW ${seedNote()}`);
    expectClose(await dx.read(), conv2dBackwardInputReference(dzVals, wVals, inShape, kShape, fwindow), 1e-4, `dx ${seedNote()}`);
    for (const t of [x, w, dz, dW, dx]) t.release();
  });
});

describe('the convolution references against finite differences of the forward', () => {
  // L(x, w) = sum dz * conv(x, w) is linear in w and affine in x; on small integers the forward
  // references are exact, so L(. + e_j) - L(.) is exactly the gradient's element j.
  const cases: ConvCase[] = [
    [2, 5, 4, 3, 2, 3, 3, 1, 1, 'same', 0],
    [1, 6, 5, 2, 3, 3, 2, 2, 1, 'same', 1],
    [1, 7, 7, 2, 2, 3, 3, 2, 2, 'valid', 0],
  ];
  test.each(cases.map((c) => [name(c), c] as const))('%s', (label, c) => {
    const rng = rngFor(`fd ${label}`);
    const { inShape, kShape, dzShape, window } = convSetup(c);
    const binary = c[10] === 1; // pad_values 1 exists only for bconv2d: its reference is the forward there
    const { padValues: _, ...zeroPadded } = window;
    const forward = (x: Float32Array, w: Float32Array) =>
      binary ? Float32Array.from(bconv2dReference(x, inShape, w, kShape, window)) : conv2dReference(x, inShape, w, kShape, zeroPadded);
    const x = smallInts(rng, inShape.reduce((a, b) => a * b));
    const w = smallInts(rng, kShape.reduce((a, b) => a * b));
    const dz = smallInts(rng, dzShape.reduce((a, b) => a * b));
    const loss = (xv: Float32Array, wv: Float32Array) => forward(xv, wv).reduce((s, y, i) => s + y * dz[i], 0);
    const base = loss(x, w);
    const bump = (a: Float32Array, j: number) => Float32Array.from(a, (v, i) => (i === j ? v + 1 : v));
    const fdW = Float32Array.from(w, (_, j) => loss(x, bump(w, j)) - base);
    const fdX = Float32Array.from(x, (_, j) => loss(bump(x, j), w) - base);
    expectExact(conv2dBackwardFilterReference(dz, x, inShape, kShape, window), fdW, `dW reference ${label}`);
    expectExact(conv2dBackwardInputReference(dz, w, inShape, kShape, window), fdX, `dx reference ${label}`);
  });
});

// [shape, window]
const POOL_CASES: [number[], Pool2dWindow][] = [
  [[1, 5, 5, 1], {}],
  [[3, 7, 6, 3], { poolSize: 3, strides: 2, padding: 'same' }],
  [[1, 6, 7, 33], { poolSize: [3, 2], strides: 1, padding: 'valid' }],
  [[3, 5, 5, 70], { poolSize: 2, strides: 3, padding: 'valid' }],
  [[1, 4, 4, 2], { poolSize: 3, strides: 1, padding: 'same' }],
  [[3, 9, 8, 5], { poolSize: [2, 3], strides: [2, 1], padding: 'same' }],
];

describe('pooling backward', () => {
  test.each(POOL_CASES.map(([s, w]) => [`${s.join('x')} ${JSON.stringify(w)}`, s, w] as const))('%s', async (label, shape, window) => {
    const gp = gpu();
    const rng = rngFor(`pool backward ${label}`);
    const g = pool2dGeometry(shape, window);
    const outShape = [g.batch, g.outH, g.outW, g.channels];
    const xVals = smallInts(rng, shape.reduce((a, b) => a * b), 1); // -1, 0, 1: many ties
    const dyVals = smallInts(rng, outShape.reduce((a, b) => a * b));
    const x = gp.upload(xVals, shape, 'f32', 'x');
    const dy = gp.upload(dyVals, outShape, 'f32', 'dy');
    const dxMax = await maxPool2dBackward(gp, x, dy, { ...window, out: poisoned(gp, shape, 'f32') });
    expectExact(await dxMax.read(), maxPool2dBackwardReference(xVals, dyVals, shape, window), `max ${label} ${seedNote()}`, { cols: g.channels });
    const dxAvg = await avgPool2dBackward(gp, dy, shape, { ...window, out: poisoned(gp, shape, 'f32') });
    const want = avgPool2dBackwardReference(dyVals, shape, window);
    // Each term dy / count rounds once in f32, then at most pool_h * pool_w of them add.
    expectClose(await dxAvg.read(), want, Float32Array.from(want, (v) => 2 ** -20 * (1 + Math.abs(v)) * g.poolH * g.poolW), `avg ${label} ${seedNote()}`);
    for (const t of [x, dy, dxMax, dxAvg]) t.release();
  });

  test('ties go to the first maximum in row-major window order', () => {
    // One 2x2 window of equal values: all of dy goes to the top-left element.
    expectExact(maxPool2dBackwardReference(Float32Array.of(1, 1, 1, 1), Float32Array.of(5), [1, 2, 2, 1]), [5, 0, 0, 0], 'ties');
    expectExact(maxPool2dBackwardReference(Float32Array.of(0, 2, 2, 1), Float32Array.of(5), [1, 2, 2, 1]), [0, 5, 0, 0], 'ties');
  });

  test.each(POOL_CASES.map(([s, w]) => [`${s.join('x')} ${JSON.stringify(w)}`, s, w] as const))('references against finite differences: %s', (label, shape, window) => {
    const rng = rngFor(`pool fd ${label}`);
    const g = pool2dGeometry(shape, window);
    const n = shape.reduce((a, b) => a * b);
    // Distinct values 4 apart (a permutation), so a bump of 1 never changes a window's maximum.
    const perm = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    const x = Float32Array.from(perm, (v) => 4 * v);
    const dy = smallInts(rng, g.batch * g.outH * g.outW * g.channels);
    // At most 100 elements, drawn at random (a forward pass each).
    const picks = n <= 100 ? perm.map((_, j) => j) : Array.from({ length: 100 }, () => rng.int(n));
    const fd = (f: (x: Float32Array) => Float32Array, at: Float32Array) => {
      const loss = (xv: Float32Array) => f(xv).reduce((s, y, i) => s + y * dy[i], 0);
      const base = loss(at);
      return picks.map((j) => loss(Float32Array.from(at, (v, i) => (i === j ? v + 1 : v))) - base);
    };
    const maxRef = maxPool2dBackwardReference(x, dy, shape, window);
    expectExact(picks.map((j) => maxRef[j]), fd((xv) => maxPool2dReference(xv, shape, window), x), `max reference ${label}`);
    // The average is linear: small values keep the f32 forward's rounding below the bound.
    const avgRef = avgPool2dBackwardReference(dy, shape, window);
    const small = smallInts(rng, n);
    expectClose(picks.map((j) => avgRef[j]), fd((xv) => avgPool2dReference(xv, shape, window), small), 1e-4, `avg reference ${label}`);
  });
});

describe('errors', () => {
  test('bad shapes and dtypes throw ShapeError naming the cause', async () => {
    const gp = gpu();
    const x = gp.upload(new Uint32Array(2 * 5 * 5), [2, 5, 5, 3], 'b1', 'x');
    const xf = gp.tensor([2, 5, 5, 3], 'f32', 'xf');
    const w = gp.upload(new Uint32Array(4 * 9), [4, 3, 3, 3], 'b1', 'w');
    const dz = gp.tensor([2, 3, 3, 4], 'f32', 'dz');
    const dzBad = gp.tensor([2, 3, 4, 4], 'f32', 'dzBad');
    await expect(bconv2dBackwardFilter(gp, dz, xf, { kernelSize: 3 })).rejects.toThrow(/'xBits' must be b1/);
    await expect(bconv2dBackwardFilter(gp, dzBad, x, { kernelSize: 3 })).rejects.toThrow(ShapeError);
    await expect(bconv2dBackwardFilter(gp, dzBad, x, { kernelSize: 3 })).rejects.toThrow(/'dz' must be the forward output's shape \[2, 3, 3, 4\]/);
    await expect(bconv2dBackwardFilter(gp, dz, x, {} as never)).rejects.toThrow(/kernelSize/);
    await expect(bconv2dBackwardInput(gp, dz, w, { inputShape: [2, 5, 5, 4] })).rejects.toThrow(/channels/);
    await expect(bconv2dBackwardInput(gp, dz, w, {} as never)).rejects.toThrow(/inputShape/);
    await expect(conv2dBackwardFilter(gp, dz, xf, { kernelSize: 3, padValues: 1 })).rejects.toThrow(/padValues/);
    await expect(conv2dBackwardInput(gp, dz, w, { inputShape: [2, 5, 5, 3] })).rejects.toThrow(/'w' must be f32/);
    await expect(maxPool2dBackward(gp, xf, dzBad, { poolSize: 2 })).rejects.toThrow(/'dy' must be the pooled shape \[2, 2, 2, 3\]/);
    await expect(avgPool2dBackward(gp, dz, [2, 5, 5, 3], { poolSize: 2 })).rejects.toThrow(ShapeError);
    for (const t of [x, xf, w, dz, dzBad]) t.release();
  });
});
