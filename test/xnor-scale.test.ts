// XNOR-Net's input scaling K (src/ops/xnor-scale.ts): its kernels against their CPU references on
// awkward sizes with poisoned outputs, and a training step of layers with K (bit-level kernels and
// the float simulation) against the CPU training reference.
import { describe, expect, test } from 'vitest';
import { packRows } from '../src/bitpack.js';
import { ShapeError } from '../src/gpu/errors.js';
import { layers, sequential } from '../src/model/model.js';
import { referenceTrainingStep } from '../src/model/reference-training.js';
import {
  addSignedRows,
  rowDots,
  scaleRows,
  xnorInputScale,
  xnorInputScaleBackward,
  xnorInputScaleBackwardReference,
  xnorInputScaleReference,
  xnorWindowKernel,
} from '../src/ops/xnor-scale.js';
import { Trainer, type TrainerOptions } from '../src/train/trainer.js';
import { expectClose, expectExact } from './helpers/check.js';
import { expectGradientsLikeReference } from './helpers/training.js';
import { poisoned, useGpu } from './helpers/gpu.js';
import { rngFor, seedNote } from './helpers/random.js';

const gpu = useGpu();

/** Relative f32 bound for sums of n terms of magnitude up to m. */
const sumTol = (n: number, m: number) => 4 * n * m * 2 ** -24 + 1e-7;

describe('row kernels', () => {
  test.each([
    [1, 1],
    [7, 33],
    [300, 5],
    [2, 1000],
  ])('scaleRows, rowDots, addSignedRows on [%i, %i]', async (rows, cols) => {
    const gp = gpu();
    const rng = rngFor(`row kernels ${rows}x${cols}`);
    const x = rng.floats(rows * cols, -4, 4);
    const b = rng.floats(rows * cols, -2, 2);
    const s = rng.floats(rows, -3, 3);
    const xt = gp.upload(x, [rows, cols], 'f32', 'x');
    const bt = gp.upload(b, [rows, cols], 'f32', 'b');
    const st = gp.upload(s, [rows], 'f32', 's');
    const y = await scaleRows(gp, xt, st, { out: poisoned(gp, [rows, cols], 'f32') });
    expectExact(await y.read(), Float32Array.from(x, (v, i) => v * s[Math.floor(i / cols)]), `scaleRows ${seedNote()}`, { cols });
    const d = await rowDots(gp, xt, bt, { out: poisoned(gp, [rows], 'f32') });
    const want = Float64Array.from({ length: rows }, (_, r) => x.subarray(r * cols, (r + 1) * cols).reduce((a, v, c) => a + v * b[r * cols + c], 0));
    expectClose(await d.read(), want, sumTol(cols, 8), `rowDots ${seedNote()}`);
    // In place, sign(b) from its bits; b has exact zeros too (sign +1).
    b[0] = 0;
    b[b.length - 1] = -0;
    const bits = gp.upload(packRows(b, rows, cols), [rows, cols], 'b1', 'bits');
    await addSignedRows(gp, xt, bits, st, { divisor: cols });
    const added = Float32Array.from(x, (v, i) => v + Math.fround((b[i] < 0 ? -1 : 1) * Math.fround(s[Math.floor(i / cols)] / cols)));
    expectExact(await xt.read(), added, `addSignedRows ${seedNote()}`, { cols });
    for (const t of [xt, bt, st, y, d, bits]) t.release();
  });

  test('errors name the argument and the fix', async () => {
    const gp = gpu();
    const x = gp.tensor([3, 4], 'f32', 'x');
    await expect(scaleRows(gp, x, gp.tensor([4], 'f32', 's'))).rejects.toThrow(/scaleRows: 's' must be f32 with one value per row \(3\)/);
    await expect(rowDots(gp, x, gp.tensor([4, 3], 'f32', 'b'))).rejects.toThrow(ShapeError);
    await expect(addSignedRows(gp, x, gp.tensor([3, 4], 'b1', 'bits'), gp.tensor([3], 'f32', 's'), { divisor: 0 })).rejects.toThrow(/divisor must be a positive number/);
    await expect(xnorInputScale(gp, gp.tensor([1, 4, 4, 2], 'f32', 'x'), { conv: { kernelSize: [3, 3], window: {}, windowKernel: xnorWindowKernel(gp, [2, 2]) } })).rejects.toThrow(/windowKernel must be xnorWindowKernel\(gpu, \[3, 3\]\)/);
  });
});

// [N, H, W, C, KH, KW, stride, dilation, padding]
type Case = [number, number, number, number, number, number, number, number, 'valid' | 'same'];
const CONV_CASES: Case[] = [
  [1, 1, 1, 1, 1, 1, 1, 1, 'valid'],
  [2, 7, 5, 33, 3, 3, 1, 1, 'same'],
  [3, 9, 8, 5, 3, 2, 2, 1, 'same'],
  [1, 11, 6, 70, 5, 5, 1, 1, 'same'],
  [2, 9, 9, 3, 3, 3, 1, 2, 'valid'],
];

describe('xnorInputScale', () => {
  test.each(CONV_CASES.map((c) => [c.join(' '), c] as const))('conv %s: K and its backward against the reference', async (label, c) => {
    const gp = gpu();
    const rng = rngFor(`xnor K ${label}`);
    const [N, H, W, C, KH, KW, s, d, padding] = c;
    const window = { strides: s, dilation: d, padding };
    const x = rng.floats(N * H * W * C, -3, 3);
    const xt = gp.upload(x, [N, H, W, C], 'f32', 'x');
    const windowKernel = xnorWindowKernel(gp, [KH, KW]);
    const conv = { kernelSize: [KH, KW] as const, window, windowKernel };
    const k = await xnorInputScale(gp, xt, { conv });
    const wantK = xnorInputScaleReference(x, C, { inShape: [N, H, W, C], kernelSize: [KH, KW], window });
    expect(k.shape).toEqual([wantK.length]);
    expectClose(await k.read(), wantK, Float64Array.from(wantK, (v) => sumTol(C + KH * KW, 3) + 1e-6 * v), `K ${seedNote()}`);
    const dK = rng.floats(wantK.length, -2, 2);
    const dx0 = rng.floats(x.length, -1, 1);
    const dx = gp.upload(dx0, [N, H, W, C], 'f32', 'dx');
    const bits = gp.upload(packRows(x, N * H * W, C), [N, H, W, C], 'b1', 'bits');
    await xnorInputScaleBackward(gp, gp.upload(dK, [dK.length], 'f32', 'dK'), bits, dx, { conv });
    const part = xnorInputScaleBackwardReference(x, C, dK, { inShape: [N, H, W, C], kernelSize: [KH, KW], window });
    expectClose(await dx.read(), part.map((v, i) => v + dx0[i]), 1e-5, `dx ${seedNote()}`, { cols: C });
    for (const t of [xt, windowKernel, k, dx, bits]) t.release();
  });

  test.each([
    [1, 1],
    [5, 70],
    [33, 3136],
  ])('dense [%i, %i]: K = mean |x| per row, and its backward', async (rows, cols) => {
    const gp = gpu();
    const rng = rngFor(`xnor K dense ${rows}x${cols}`);
    const x = rng.floats(rows * cols, -3, 3);
    const xt = gp.upload(x, [rows, cols], 'f32', 'x');
    const k = await xnorInputScale(gp, xt);
    const wantK = xnorInputScaleReference(x, cols);
    expectClose(await k.read(), wantK, sumTol(cols, 3), `K ${seedNote()}`);
    const dK = rng.floats(rows, -2, 2);
    const dx = gp.upload(new Float32Array(x.length), [rows, cols], 'f32', 'dx');
    await xnorInputScaleBackward(gp, gp.upload(dK, [rows], 'f32', 'dK'), gp.upload(packRows(x, rows, cols), [rows, cols], 'b1', 'bits'), dx);
    expectClose(await dx.read(), xnorInputScaleBackwardReference(x, cols, dK), 1e-6, `dx ${seedNote()}`, { cols });
    for (const t of [xt, k, dx]) t.release();
  });
});

describe("training with XNOR-Net's K", () => {
  const model = (kernelQuantizer: string) =>
    sequential(
      [
        layers.quantConv2d({ filters: 6, kernelSize: 3, padding: 'same', inputQuantizer: null, kernelQuantizer: 'ste_sign', useBias: false, inputShape: [7, 6, 2] }),
        layers.batchNormalization({ scale: false }),
        layers.quantConv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same', inputQuantizer: 'ste_sign', kernelQuantizer, xnorInputScale: true, useBias: true }),
        layers.batchNormalization({ scale: false }),
        layers.flatten(),
        layers.quantDense({ units: 4, inputQuantizer: 'ste_sign', kernelQuantizer, xnorInputScale: true, useBias: false }),
        layers.batchNormalization({ scale: false }),
        layers.activation({ activation: 'softmax' }),
      ],
      { seed: 3 },
    );

  test.each([
    ['ste_sign kernels, bit-level kernels', 'ste_sign', 'binary'],
    ['ste_sign kernels, float simulation', 'ste_sign', 'float'],
    ['magnitude_aware_sign kernels (XNOR-Net)', 'magnitude_aware_sign', 'binary'],
  ] as const)('%s: one step equals the CPU training reference', { timeout: 120_000 }, async (_name, kernelQuantizer, kernels) => {
    const rng = rngFor(`xnor K training ${kernelQuantizer} ${kernels}`);
    const m = model(kernelQuantizer);
    const B = 5;
    const x = Float32Array.from({ length: B * 84 }, () => rng.int(7) - 3);
    const labels = Uint32Array.from({ length: B }, () => rng.int(4));
    const want = referenceTrainingStep(m.spec, x, labels, B);
    const options: TrainerOptions = { optimizer: { kind: 'sgd', learningRate: 0 }, maxBatch: B, kernels: kernels as TrainerOptions['kernels'] };
    const trainer = await Trainer.create(gpu(), m, options);
    try {
      await trainer.step(x, labels);
      expect((await trainer.readMetrics()).loss).toBeCloseTo(want.loss, 4);
      await expectGradientsLikeReference(trainer, m, want, (v, scale) => 1e-3 * v + 2e-3 * scale + 1e-6, seedNote());
    } finally {
      trainer.destroy();
    }
  });
});
