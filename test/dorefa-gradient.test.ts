// DoReFa-Net's k-bit gradients (src/ops/dorefa-gradient.ts, the DoReFaGradient quantizer): the
// kernel against its CPU reference with and without noise, the noise's unbiased rounding, the
// quantizer as a layer (identity forward, serialized, bypassed by plans), and in training.
import { describe, expect, test } from 'vitest';
import { layers, sequential } from '../src/model/model.js';
import { getQuantizer } from '../src/model/quantizers.js';
import { parseModel, serializeModel } from '../src/model/tfjs-format.js';
import { dorefaGradient, dorefaGradientReference } from '../src/ops/dorefa-gradient.js';
import { lowerModel } from '../src/plan/lower.js';
import { Trainer } from '../src/train/trainer.js';
import { mnistCnn } from '../src/zoo/mnist-cnn.js';
import { poisoned, useGpu } from './helpers/gpu.js';
import { rngFor, seedNote } from './helpers/random.js';

const gpu = useGpu();

/**
 * Equal to the reference but where WGSL's division (2.5 ULP) moves a value across a rounding
 * boundary: then one level (2m / n) off, and rarely.
 */
function expectQuantizedClose(got: Float32Array, want: Float32Array, shape: number[], kBit: number, what: string): void {
  const per = want.length / shape[0];
  let off = 0;
  for (let i = 0; i < want.length; i++) {
    if (got[i] === want[i]) continue;
    let m = 0;
    for (let j = Math.floor(i / per) * per; j < (Math.floor(i / per) + 1) * per; j++) m = Math.max(m, Math.abs(want[j]));
    expect(Math.abs(got[i] - want[i]), `${what}: element ${i} got ${got[i]}, want ${want[i]} (more than one level off) ${seedNote()}`).toBeLessThanOrEqual((2 * m) / (2 ** kBit - 1) + 1e-6 * m);
    off++;
  }
  // A 2.5-ULP quotient moves n v by up to ~n 2^-22: that close to a half it can round the other way.
  const allowed = Math.max(2, Math.ceil(want.length * ((2 ** kBit - 1) * 2 ** -20 + 1e-3)));
  expect(off, `${what}: ${off} of ${want.length} elements one level off (allowed ${allowed}) ${seedNote()}`).toBeLessThanOrEqual(allowed);
}

describe('dorefaGradient', () => {
  test.each([
    [[1, 1], 1],
    [[3, 33], 2],
    [[2, 5, 5, 7], 6],
    [[4, 300], 8],
    [[2, 9], 16],
  ])('%j at %i bits: the reference, with and without noise; a zero sample stays 0', async (shape, kBit) => {
    const gp = gpu();
    const rng = rngFor(`dorefa gradient ${shape} ${kBit}`);
    const count = shape.reduce((a, b) => a * b, 1);
    const dy = rng.floats(count, -0.01, 0.01);
    if (shape[0] > 2) dy.fill(0, 0, count / shape[0]); // sample 0: m = 0
    const t = gp.upload(dy, shape, 'f32', 'dy');
    const plain = await dorefaGradient(gp, t, { kBit, out: poisoned(gp, shape, 'f32') });
    expectQuantizedClose((await plain.read()) as Float32Array, dorefaGradientReference(dy, shape, kBit), shape, kBit, 'no noise');
    const draw = { seed: 7, step: 3, stream: 5 };
    const noise = gp.upload(Uint32Array.of(draw.seed, draw.step), [2], 'u32', 'noise');
    const noisy = await dorefaGradient(gp, t, { kBit, draw: { noise, stream: draw.stream }, out: poisoned(gp, shape, 'f32') });
    expectQuantizedClose((await noisy.read()) as Float32Array, dorefaGradientReference(dy, shape, kBit, draw), shape, kBit, 'noise');
    for (const x of [t, plain, noisy, noise]) x.release();
  });

  test('the noise rounds without bias: the mean over many draws approaches dy', () => {
    const rng = rngFor('dorefa gradient bias');
    const shape = [2, 64];
    const dy = rng.floats(128, -1, 1);
    const draws = 400;
    const sum = new Float64Array(dy.length);
    for (let step = 0; step < draws; step++) dorefaGradientReference(dy, shape, 2, { seed: 1, step, stream: 0 }).forEach((v, i) => (sum[i] += v));
    const m = [0, 1].map((s) => Math.max(...dy.subarray(s * 64, (s + 1) * 64).map(Math.abs)));
    // One draw is within one level (2m/3) of dy, so the mean's error is about (m/3) / sqrt(draws); 6 of those.
    sum.forEach((v, i) => expect(Math.abs(v / draws - dy[i]), `element ${i} ${seedNote()}`).toBeLessThanOrEqual((6 * m[i >> 6]) / 3 / Math.sqrt(draws)));
    // Without noise it is plain rounding to the grid, biased: not every element equals dy on average.
    const plain = dorefaGradientReference(dy, shape, 2);
    expect(plain.some((v, i) => Math.abs(v - dy[i]) > 0.05)).toBe(true);
  });

  test('argument errors', async () => {
    const gp = gpu();
    const t = gp.tensor([2, 3], 'f32', 'dy');
    await expect(dorefaGradient(gp, t, { kBit: 17 })).rejects.toThrow(/kBit must be an integer in 1..16/);
    await expect(dorefaGradient(gp, t, { kBit: 4, draw: { noise: gp.tensor([3], 'u32', 'n'), stream: 0 } })).rejects.toThrow(/draw.noise must be a u32 tensor of 2 values/);
    await expect(dorefaGradient(gp, gp.tensor([6], 'f32', 'flat'), { kBit: 4 })).rejects.toThrow(/rank >= 2/);
  });
});

describe('DoReFaGradient as a layer', () => {
  test('the quantizer: identity forward, the noise-free k-bit backward, k_bit checked', () => {
    const q = getQuantizer('dorefa_gradient')!;
    expect([q.className, q.config.k_bit, q.binary]).toEqual(['DoReFaGradient', 6, false]);
    const x = Float32Array.of(0.3, -2, 5);
    expect(Array.from(q.forward(x))).toEqual(Array.from(x));
    const dy = Float32Array.of(0.5, -1, 0.25, 0);
    // 1 bit, m = 1: dy / 2 + 1/2 = 0.75, 0, 0.625, 0.5 -> round (half to even) 1, 0, 1, 0 -> 2 (q - 1/2).
    expect(Array.from(getQuantizer({ class_name: 'DoReFaGradient', config: { k_bit: 1 } })!.backward(new Float32Array(4), dy, [1, 4]))).toEqual([1, -1, 1, -1]);
    expect(() => getQuantizer({ class_name: 'DoReFaGradient', config: { k_bit: 17 } })).toThrow(/k_bit.*1..16/);
  });

  test('serialized and read back; plans bypass it (the same steps as without it), its name reads its input', async () => {
    const fg = () => layers.quantizer({ class_name: 'DoReFaGradient', config: { k_bit: 4 } });
    const body = (withFg: boolean) => [
      layers.quantDense({ units: 40, kernelQuantizer: 'ste_sign', inputShape: [50] }),
      ...(withFg ? [fg()] : []),
      layers.batchNormalization(),
      layers.quantDense({ units: 8, inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign' }),
      ...(withFg ? [fg()] : []),
      layers.activation({ activation: 'softmax' }),
    ];
    const m = sequential(body(true));
    const { modelJson, shards } = serializeModel(m.spec);
    const back = await parseModel(JSON.parse(JSON.stringify(modelJson)), shards);
    expect(back.layers.flatMap((l) => (l.class === 'Quantizer' ? [l.config.quantizer] : []))).toMatchObject([
      { class_name: 'DoReFaGradient', config: { k_bit: 4 } },
      { class_name: 'DoReFaGradient', config: { k_bit: 4 } },
    ]);
    const ops = (spec: typeof m.spec) => lowerModel(spec).steps.map((s) => s.op);
    expect(ops(m.spec)).toEqual(ops(sequential(body(false)).spec));
    const named = lowerModel(m.spec, { keep: ['do_re_fa_gradient'] }).named;
    expect(named.get('do_re_fa_gradient')).toBe(named.get('quant_dense'));
    // Larq's NoOp layer is the identity at inference too.
    const noOp = sequential(body(false).flatMap((l, i) => (i === 0 ? [l, layers.quantizer({ class_name: 'NoOp', config: { precision: 1 } })] : [l])));
    expect(ops(noOp.spec)).toEqual(ops(sequential(body(false)).spec));
  });

  test('in training the gradient reaching it is quantized: k-bit levels per sample, within a level of the float gradient', { timeout: 120_000 }, async () => {
    // x = identity rows, so the dense kernel's gradient is the quantized dlogits itself.
    const K = 6;
    const kBit = 3;
    const m = sequential([layers.dense({ units: 5, useBias: false, inputShape: [K] }), layers.quantizer({ class_name: 'DoReFaGradient', config: { k_bit: kBit } }), layers.activation({ activation: 'softmax' })]);
    const x = new Float32Array(K * K).map((_, i) => (i % (K + 1) === 0 ? 1 : 0));
    const labels = Uint32Array.from({ length: K }, (_, i) => i % 5);
    const trainer = await Trainer.create(gpu(), m, { optimizer: { kind: 'sgd', learningRate: 0 }, maxBatch: K });
    try {
      await trainer.step(x, labels);
      const g = (await trainer.params[0].grad.read()) as Float32Array; // [N, K]: column k is sample k's quantized dlogits
      const w = m.weight('dense/kernel').data as Float32Array; // [K, N]
      const n = 2 ** kBit - 1;
      for (let s = 0; s < K; s++) {
        const z = Array.from({ length: 5 }, (_, c) => w[s * 5 + c]);
        const e = z.map((v) => Math.exp(v - Math.max(...z)));
        const dl = e.map((v, c) => (v / e.reduce((a, b) => a + b, 0) - (c === labels[s] ? 1 : 0)) / K);
        const mx = Math.max(...dl.map(Math.abs));
        for (let c = 0; c < 5; c++) {
          const q = g[c * K + s];
          const level = (q / (2 * mx) + 0.5) * n;
          expect(Math.abs(level - Math.round(level)), `sample ${s} class ${c}: ${q} is not on the ${kBit}-bit grid of m = ${mx}`).toBeLessThan(1e-3);
          expect(Math.abs(q - dl[c])).toBeLessThanOrEqual((2 * mx) / n + 1e-6);
        }
      }
    } finally {
      trainer.destroy();
    }
  });

  test('the MNIST CNN with 4-bit gradients (--gradient-bits): a DoReFaGradient after each conv and dense layer', () => {
    const m = mnistCnn({ quant: 'dorefa', gradientBits: 4 });
    const names = m.spec.layers.map((l) => l.class);
    expect(names.filter((c) => c === 'Quantizer')).toHaveLength(4);
    expect(names.slice(0, 3)).toEqual(['QuantConv2D', 'Quantizer', 'MaxPooling2D']);
    expect(() => mnistCnn({ gradientBits: 0 })).toThrow(/gradientBits must be an integer in 1..16/);
  });
});
