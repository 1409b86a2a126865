// The GPU training step (src/train/trainer.ts) against the CPU training reference: the gradients
// of one step (Larq's STEs, batch statistics), the moving averages, the loss; then a short run on a
// fixed task whose loss must fall. Inputs are small integers and kernels uniform floats, so no sign
// the two compare is decided by f32 rounding (BN outputs near 0 have probability ~1e-6 each).
import { describe, expect, test } from 'vitest';
import { layers, sequential, type Model } from '../src/model/model.js';
import { mnistMlpFunctional } from '../src/zoo/mnist-mlp.js';
import { referenceTrainingStep } from '../src/model/reference-training.js';
import { Trainer, TrainError } from '../src/train/trainer.js';
import { glorotLrScale } from '../src/train/optimizers.js';
import { expectClose, expectExact } from './helpers/check.js';
import { expectGradientsLikeReference } from './helpers/training.js';
import { useGpu } from './helpers/gpu.js';
import { rngFor, seedNote } from './helpers/random.js';

const gpu = useGpu();
const quant = { inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', useBias: false };

/** Hidden QuantDense + BN blocks, then the output QuantDense, with (scale=False, or scaled) or without BatchNorm, softmax. */
const small = (hidden: number[], features: number, classes: number, outputBn: 'none' | 'center' | 'scale' = 'center', q: Record<string, unknown> = quant): Model =>
  sequential([
    layers.flatten({ inputShape: [features, 1] }),
    ...hidden.flatMap((units) => [layers.quantDense({ units, ...q }), layers.batchNormalization({ momentum: 0.9 })]),
    layers.quantDense({ units: classes, ...q }),
    ...(outputBn === 'none' ? [] : [layers.batchNormalization({ scale: outputBn === 'scale' })]),
    layers.activation({ activation: 'softmax' }),
  ]);

describe('Trainer', () => {
  test("Larq's functional MLP (standalone SteSign layers, biases) trains: one step equals the CPU reference", async () => {
    const rng = rngFor('functional chain step');
    const m = mnistMlpFunctional({ hidden: [37, 33] });
    for (const [name, w] of m.spec.weights) if (name.endsWith('/kernel')) m.setWeight(name, rng.floats(w.data.length, -1.2, 1.2));
    const B = 6;
    const x = Float32Array.from({ length: B * 784 }, () => (rng.int(2) ? 1 : -1)); // pixels binarized before the model, as the example does
    const labels = Uint32Array.from({ length: B }, () => rng.int(10));
    const want = referenceTrainingStep(m.spec, x, labels, B);
    const trainer = await Trainer.create(gpu(), m, { optimizer: { kind: 'sgd', learningRate: 0 }, maxBatch: B });
    try {
      await trainer.step(x, labels);
      expect((await trainer.readMetrics()).loss).toBeCloseTo(want.loss, 4);
      await expectGradientsLikeReference(trainer, m, want, (v, scale) => 1e-4 * v + 1e-5 * scale + 1e-6, seedNote());
    } finally {
      trainer.destroy();
    }
  });

  test.each([
    ['center', 'binary', 'table'],
    ['none', 'binary', 'table'],
    ['center', 'binary', 'select'],
    ['center', 'float', 'table'],
    ['none', 'float', 'table'],
  ] as const)('one step (output BatchNorm: %s, %s kernels, %s backward): every gradient, moving average and the loss equal the CPU reference', async (outputBn, kernels, backwardMethod) => {
    const rng = rngFor(`trainer step ${outputBn}`);
    const m = small([37, 33], 45, 10, outputBn);
    for (const [name, w] of m.spec.weights) if (name.endsWith('/kernel')) m.setWeight(name, rng.floats(w.data.length, -1.2, 1.2));
    for (const [name, w] of m.spec.weights) if (name.endsWith('/beta') || name.endsWith('/gamma')) m.setWeight(name, rng.floats(w.data.length, -0.5, 0.5).map((v) => (name.endsWith('gamma') ? 1 + v : v)));
    const B = 7;
    const x = Float32Array.from({ length: B * 45 }, () => rng.int(7) - 3);
    const labels = Uint32Array.from({ length: B }, () => rng.int(10));
    const want = referenceTrainingStep(m.spec, x, labels, B);
    // SGD with lr 0: the update leaves the weights as they were, so the gradients can be read afterwards.
    const trainer = await Trainer.create(gpu(), m, { optimizer: { kind: 'sgd', learningRate: 0 }, maxBatch: 8, kernels, backwardMethod });
    try {
      await trainer.step(x, labels);
      const metrics = await trainer.readMetrics();
      expect(metrics.rows).toBe(B);
      expect(metrics.loss).toBeCloseTo(want.loss, 4);
      expect(metrics.top1 * B).toBe(want.correct);
      await expectGradientsLikeReference(trainer, m, want, (v) => 1e-4 * v + 1e-6);
      const synced = await trainer.syncModel();
      for (const [name, v] of want.moving) {
        const got = synced.weight(name).data;
        expectClose(got, Float32Array.from(v), Float32Array.from(v, (u) => 1e-5 * (1 + Math.abs(u))), name);
      }
    } finally {
      trainer.destroy();
    }
  });

  // Every trainable layer kind against the CPU training reference, on both kernel sets: binary
  // convolutions (pad_values 0 and 1, strides, dilation), a real-valued first layer, pooling,
  // float layers with bias and activations, Larq's other quantizers as layers and in layers.
  //
  // Gradients compare within 1e-4 |g| + r * max |g| of the layer + 1e-6, r = 1e-5 unless a family
  // says otherwise: an f32 backward through a chain of BatchNorms cancels (BN's n dy - sum dy -
  // x_hat sum(dy x_hat) is tens of times larger than its result), so entries the f64 reference has
  // at exactly 0 (a filter tap whose +-1 input is constant: sum of a BN backward = 0) come out as
  // that cancellation's residue.
  // `floor` (default 1e-6) is the absolute part: a bias right before a BatchNorm has an exact
  // gradient of 0 (BN removes any constant), and f32 leaves that same cancellation's residue.
  const families: Record<string, { input: number[]; build: () => Model; relative?: number; floor?: number }> = {
    'binary conv, pooling': {
      input: [7, 6, 3],
      // Four BatchNorms deep: at TEST_SEED=1300861707 quant_conv2d_1's zero taps came out 2.8e-4
      // of the layer's largest gradient on SwiftShader (both kernel sets).
      relative: 1e-3,
      build: () =>
        sequential([
          layers.quantConv2d({ filters: 8, kernelSize: 3, padding: 'same', ...quant, inputShape: [7, 6, 3] }),
          layers.batchNormalization(),
          layers.maxPooling2d({ poolSize: 2 }),
          layers.quantConv2d({ filters: 35, kernelSize: [3, 2], padding: 'same', padValues: 1, ...quant }),
          layers.batchNormalization(),
          layers.quantConv2d({ filters: 6, kernelSize: 2, strides: 2, ...quant }),
          layers.batchNormalization({ scale: false }),
          layers.flatten(),
          layers.quantDense({ units: 5, ...quant }),
          layers.batchNormalization(),
          layers.activation({ activation: 'softmax' }),
        ]),
    },
    'real-valued first layer, dilation, average pooling': {
      input: [8, 8, 2],
      build: () =>
        sequential([
          layers.quantConv2d({ filters: 9, kernelSize: 3, padding: 'same', inputQuantizer: null, kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', useBias: false, inputShape: [8, 8, 2] }),
          layers.batchNormalization(),
          layers.quantConv2d({ filters: 7, kernelSize: 3, dilationRate: 2, ...quant }),
          layers.batchNormalization(),
          layers.averagePooling2d({ poolSize: 2, padding: 'same' }),
          layers.flatten(),
          layers.quantDense({ units: 4, ...quant }),
          layers.activation({ activation: 'softmax' }),
        ]),
    },
    'float layers, bias, activations': {
      input: [5, 5, 2],
      build: () =>
        sequential([
          layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [5, 5, 2] }),
          layers.maxPooling2d({ poolSize: 2, strides: 1 }),
          layers.flatten(),
          layers.dense({ units: 6, activation: 'tanh' }),
          layers.activation({ activation: 'hard_tanh' }),
          layers.dense({ units: 3, activation: 'softmax' }),
        ]),
    },
    // BinaryNet's shift-based BatchNorm (AP2 of gamma, 1/sigma and x - mean in the variance).
    'shift-based BatchNorm': {
      input: [6, 6, 3],
      build: () =>
        sequential([
          layers.quantConv2d({ filters: 8, kernelSize: 3, inputQuantizer: null, kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', useBias: false, inputShape: [6, 6, 3] }),
          layers.batchNormalization({ shiftBased: true }),
          layers.flatten(),
          layers.quantDense({ units: 11, ...quant }),
          layers.batchNormalization({ shiftBased: true, center: false }),
          layers.quantDense({ units: 4, ...quant }),
          layers.batchNormalization({ shiftBased: true }),
          layers.activation({ activation: 'softmax' }),
        ]),
    },
    "Larq's other quantizers": {
      input: [12],
      // quant_dense's bias feeds a BatchNorm: at TEST_SEED=1418403021 its zero gradient came out
      // 1.4e-6 on SwiftShader (both kernel sets), the largest other gradient entries being ~0.1-1.
      floor: 1e-5,
      build: () =>
        sequential([
          layers.quantDense({ units: 10, inputQuantizer: 'approx_sign', kernelQuantizer: 'magnitude_aware_sign', useBias: true, inputShape: [12] }),
          layers.batchNormalization(),
          layers.quantizer({ class_name: 'SwishSign', config: { beta: 3 } }),
          layers.quantDense({ units: 9, inputQuantizer: 'ste_sign', kernelQuantizer: { class_name: 'SteTern', config: { ternary_weight_networks: true } }, useBias: false }),
          layers.batchNormalization(),
          layers.quantDense({ units: 4, inputQuantizer: { class_name: 'DoReFa', config: { k_bit: 3, mode: 'activations' } }, kernelQuantizer: { class_name: 'DoReFa', config: { k_bit: 2, mode: 'weights' } }, useBias: false }),
          layers.activation({ activation: 'softmax' }),
        ]),
    },
  };
  test.each(Object.keys(families).flatMap((f) => (['binary', 'float'] as const).map((k) => [f, k] as const)))('%s (%s kernels): one step equals the CPU reference', async (family, kernels) => {
    const rng = rngFor(`trainer family ${family}`);
    const { input, build, relative = 1e-5, floor = 1e-6 } = families[family];
    const m = build();
    for (const [name, w] of m.spec.weights) {
      if (name.endsWith('/kernel')) m.setWeight(name, rng.floats(w.data.length, -1.2, 1.2));
      if (name.endsWith('/bias') || name.endsWith('/beta')) m.setWeight(name, rng.floats(w.data.length, -0.5, 0.5));
      if (name.endsWith('/gamma')) m.setWeight(name, rng.floats(w.data.length, 0.5, 1.5));
    }
    const B = 5;
    const features = input.reduce((a, b) => a * b, 1);
    const x = Float32Array.from({ length: B * features }, () => rng.int(7) - 3);
    const classes = m.spec.layers.at(-1)!.outputShape.at(-1)!;
    const labels = Uint32Array.from({ length: B }, () => rng.int(classes));
    const want = referenceTrainingStep(m.spec, x, labels, B);
    const trainer = await Trainer.create(gpu(), m, { optimizer: { kind: 'sgd', learningRate: 0 }, maxBatch: B, kernels });
    try {
      await trainer.step(x, labels);
      const metrics = await trainer.readMetrics();
      expect(metrics.loss).toBeCloseTo(want.loss, 4);
      await expectGradientsLikeReference(trainer, m, want, (v, scale) => 1e-4 * v + relative * scale + floor, seedNote());
      const synced = await trainer.syncModel();
      for (const [name, v] of want.moving) expectClose(synced.weight(name).data, Float32Array.from(v), Float32Array.from(v, (u) => 1e-4 * (1 + Math.abs(u))), name);
    } finally {
      trainer.destroy();
    }
  });

  test("Bop flips the binary kernels (Larq's rule on the step's gradient), the rest trains with the default optimizer", async () => {
    const rng = rngFor('trainer bop');
    const m = small([21], 30, 6, 'center');
    for (const [name, w] of m.spec.weights) if (name.endsWith('/kernel')) m.setWeight(name, rng.floats(w.data.length, -1.2, 1.2));
    const B = 6;
    const x = Float32Array.from({ length: B * 30 }, () => rng.int(7) - 3);
    const labels = Uint32Array.from({ length: B }, () => rng.int(6));
    const want = referenceTrainingStep(m.spec, x, labels, B);
    const before = new Map([...m.spec.weights].map(([n, w]) => [n, Float32Array.from(w.data)]));
    const gamma = 1e-3;
    const threshold = 1e-6;
    const trainer = await Trainer.create(gpu(), m, { optimizer: { kind: 'bop', gamma, threshold }, defaultOptimizer: { kind: 'sgd', learningRate: 0.5 }, maxBatch: B });
    try {
      expect(trainer.optimizerKind).toBe('bop+sgd');
      await trainer.step(x, labels);
      const after = await trainer.syncModel();
      let flips = 0;
      for (const [name, g] of want.grads) {
        const w0 = before.get(name)!;
        const got = after.weight(name).data;
        if (name.endsWith('/kernel')) {
          // m = gamma g (m starts at 0); w = sign(-sign(w m - threshold) w), sign(0) = +1.
          const wantW = Float32Array.from(w0, (w, i) => {
            const r = -Math.sign(w * gamma * g[i] - threshold) * w;
            return r < 0 ? -1 : 1;
          });
          flips += wantW.filter((v, i) => v !== Math.sign(w0[i])).length;
          const margin = w0.map((w, i) => Math.abs(w * gamma * g[i] - threshold));
          expectExact(got.filter((_, i) => margin[i] > 1e-9), wantW.filter((_, i) => margin[i] > 1e-9), name);
        } else {
          expectClose(got, Float32Array.from(w0, (w, i) => w - 0.5 * g[i]), Float32Array.from(w0, () => 1e-5), name);
        }
      }
      expect(flips).toBeGreaterThan(0);
      const state = await trainer.saveState();
      expect(state.optimizer).toBe('bop+sgd');
    } finally {
      trainer.destroy();
    }
    const dense = sequential([layers.dense({ units: 3, inputShape: [4] }), layers.activation({ activation: 'softmax' })]);
    await expect(Trainer.create(gpu(), dense, { optimizer: { kind: 'bop' } })).rejects.toThrow(/Bop trains binary kernels/);
  });

  test("lrScale 'binarynet': each binary kernel's step is scaled by BinaryNet's Glorot factor, the rest not", async () => {
    const rng = rngFor('trainer lr scale');
    const m = small([19], 26, 4, 'center');
    for (const [name, w] of m.spec.weights) if (name.endsWith('/kernel')) m.setWeight(name, rng.floats(w.data.length, -0.9, 0.9));
    const B = 4;
    const x = Float32Array.from({ length: B * 26 }, () => rng.int(7) - 3);
    const labels = Uint32Array.from({ length: B }, () => rng.int(4));
    const want = referenceTrainingStep(m.spec, x, labels, B);
    const before = new Map([...m.spec.weights].map(([n, w]) => [n, Float32Array.from(w.data)]));
    const lr = 1e-3;
    const trainer = await Trainer.create(gpu(), m, { optimizer: { kind: 'sgd', learningRate: lr }, lrScale: 'binarynet', maxBatch: B });
    try {
      await trainer.step(x, labels);
      const after = await trainer.syncModel();
      for (const [name, g] of want.grads) {
        const [fanIn, fanOut] = m.weight(name).shape.length === 2 ? m.weight(name).shape : [1, 1];
        const scale = name.endsWith('/kernel') ? glorotLrScale(fanIn, fanOut) : 1;
        const w0 = before.get(name)!;
        // weight_clip keeps the kernels in [-1, 1].
        const wantW = Float32Array.from(w0, (w, i) => { const v = w - lr * scale * g[i]; return name.endsWith('/kernel') ? Math.min(1, Math.max(-1, v)) : v; });
        expectClose(after.weight(name).data, wantW, Float32Array.from(w0, () => 1e-5), name);
      }
    } finally {
      trainer.destroy();
    }
    await expect(Trainer.create(gpu(), m, { optimizer: { kind: 'bop' }, lrScale: 'binarynet' })).rejects.toThrow(/Bop's binary kernels have none/);
  });

  test('training memory: the binary step keeps 2 bits per sign activation where the float simulation keeps 2 floats', async () => {
    const m = small([64, 40], 96, 10, 'center');
    const [binary, float] = [await Trainer.create(gpu(), m, { maxBatch: 32 }), await Trainer.create(gpu(), m, { maxBatch: 32, kernels: 'float' })];
    try {
      const [b, f] = [await binary.memory(32), await float.memory(32)];
      // Kept per sample: bits (+ mask bits past the first layer) of each QuantDense's input; BN's
      // input z (f32) and its statistics (2C floats a batch).
      const bnKept = (c: number) => 4 * c + (2 * 4 * c) / 32;
      const bits = (n: number) => 4 * Math.ceil(n / 32);
      expect(b.keptBytesPerSample).toBeCloseTo(bits(96) + 2 * bits(64) + 2 * bits(40) + bnKept(64) + bnKept(40) + bnKept(10), 6);
      expect(f.keptBytesPerSample).toBeCloseTo(4 * 96 + 2 * 4 * 64 + 2 * 4 * 40 + bnKept(64) + bnKept(40) + bnKept(10), 6);
      // The peak adds transient workspaces (the binary backward's sign tables, bounded by their budget).
      for (const r of [b, f]) expect(r.peakBytesPerSample).toBeGreaterThanOrEqual(r.keptBytesPerSample);
      expect(b.parameterBytes).toBeGreaterThan(0);
    } finally {
      binary.destroy();
      float.destroy();
    }
  });

  test('Adam on a fixed task: the loss falls and training accuracy rises', async () => {
    const rng = rngFor('trainer learns');
    const m = small([64], 32, 4, 'scale');
    // Four classes, each a fixed random +-1 pattern with 10% of its signs flipped per sample.
    const protos = Array.from({ length: 4 }, () => rng.floats(32).map((v) => (v < 0 ? -1 : 1)));
    const B = 64;
    const batch = () => {
      const labels = Uint32Array.from({ length: B }, () => rng.int(4));
      const x = new Float32Array(B * 32);
      labels.forEach((c, r) => protos[c].forEach((v, k) => (x[r * 32 + k] = rng.next() < 0.1 ? -v : v)));
      return { x, labels };
    };
    const trainer = await Trainer.create(gpu(), m, { optimizer: { kind: 'adam', learningRate: 0.01 }, maxBatch: B });
    try {
      const epoch = async () => {
        for (let s = 0; s < 10; s++) {
          const { x, labels } = batch();
          await trainer.step(x, labels);
        }
        return trainer.readMetrics();
      };
      const first = await epoch();
      let last = first;
      for (let e = 0; e < 4; e++) last = await epoch();
      expect(last.loss).toBeLessThan(first.loss * 0.8);
      expect(last.top1).toBeGreaterThan(0.9);
    } finally {
      trainer.destroy();
    }
  });

  test('stochastic binarization: draws follow the seed and the step, the loss falls, float kernels refused', async () => {
    const rng = rngFor('stochastic trainer');
    const stochastic = { ...quant, inputQuantizer: 'stochastic_ste_sign', kernelQuantizer: 'stochastic_ste_sign' };
    const protos = Array.from({ length: 4 }, () => rng.floats(32).map((v) => (v < 0 ? -1 : 1)));
    const B = 64;
    const data = Array.from({ length: 50 }, () => {
      const labels = Uint32Array.from({ length: B }, () => rng.int(4));
      const x = new Float32Array(B * 32);
      labels.forEach((c, r) => protos[c].forEach((v, k) => (x[r * 32 + k] = (rng.next() < 0.1 ? -v : v) * rng.uniform(0.2, 1.2))));
      return { x, labels };
    });
    const start = small([64], 32, 4, 'scale', stochastic);
    const weights = new Map([...start.spec.weights].map(([k, w]) => [k, Float32Array.from(w.data)]));
    const run = async (q: Record<string, unknown>, seed: number, steps: number) => {
      const m = small([64], 32, 4, 'scale', q);
      for (const [k, w] of weights) m.setWeight(k, w);
      const trainer = await Trainer.create(gpu(), m, { optimizer: { kind: 'adam', learningRate: 0.01 }, maxBatch: B, seed });
      try {
        const losses: number[] = [];
        for (let s = 0; s < steps; s++) {
          await trainer.step(data[s].x, data[s].labels);
          if (s % 10 === 9) losses.push((await trainer.readMetrics()).loss);
        }
        return { losses, kernel: Float32Array.from((await trainer.syncModel()).weight('quant_dense/kernel').data) };
      } finally {
        trainer.destroy();
      }
    };
    const a = await run(stochastic, 7, 3);
    const again = await run(stochastic, 7, 3);
    const other = await run(stochastic, 8, 3);
    const deterministic = await run(quant, 7, 3);
    expectExact(again.kernel, a.kernel, 'same seed, same steps: the same weights');
    expect(other.kernel).not.toEqual(a.kernel);
    expect(deterministic.kernel).not.toEqual(a.kernel);
    // Activations drawn stochastically (BinaryNet's use; latent weights near 0 would draw coin flips).
    const long = await run({ ...quant, inputQuantizer: 'stochastic_ste_sign' }, 1, 50);
    expect(long.losses[long.losses.length - 1]).toBeLessThan(long.losses[0] * 0.8);
    await expect(Trainer.create(gpu(), small([8], 32, 4, 'scale', stochastic), { kernels: 'float' })).rejects.toThrow(/stochastic_ste_sign trains on the binary kernels only/);
  });

  test('recalibrateBatchNorm: the moving statistics become the average of the batch statistics (CPU reference)', async () => {
    const rng = rngFor('recalibrate');
    const m = small([20], 24, 5);
    for (const [name, w] of m.spec.weights) if (name.endsWith('/kernel')) m.setWeight(name, rng.floats(w.data.length));
    const batches = [0, 1].map(() => ({ size: 6, inputs: Float32Array.from({ length: 6 * 24 }, () => rng.int(7) - 3) }));
    const labels = [0, 1, 2, 3, 4, 0];
    const trainer = await Trainer.create(gpu(), m, { maxBatch: 6 });
    try {
      await trainer.step(batches[0].inputs, Uint32Array.from(labels)); // moves the weights a little
      const trained = await trainer.syncModel(); // the model itself, updated in place: copy what is compared
      const oldMoving = new Map([...trained.spec.weights].filter(([k]) => k.includes('moving')).map(([k, w]) => [k, Float32Array.from(w.data)]));
      // The batch statistics of each batch with these weights, from the reference's moving update.
      const batchStats = batches.map((b) => referenceTrainingStep(trained.spec, b.inputs, labels, 6).moving);
      await trainer.recalibrateBatchNorm(batches);
      const after = await trainer.syncModel();
      for (const bn of m.layers.filter((l) => l.class === 'BatchNormalization')) {
        const mom = (bn.config as { momentum: number }).momentum;
        for (const p of ['moving_mean', 'moving_variance']) {
          const name = `${bn.name}/${p}`;
          const old = oldMoving.get(name)!; // what the reference's update started from
          const want = Float32Array.from(old, (_, c) => batchStats.reduce((a, st) => a + (st.get(name)![c] - old[c] * mom) / (1 - mom), 0) / batchStats.length);
          expectClose(after.weight(name).data, want, Float32Array.from(want, (v) => 1e-4 * (1 + Math.abs(v))), name);
        }
      }
    } finally {
      trainer.destroy();
    }
  });

  test('models it cannot train yet are refused, naming the layer', async () => {
    const dropout = sequential([layers.flatten({ inputShape: [4, 1] }), layers.quantDense({ units: 3, ...quant }), layers.dropout({ rate: 0.5 }), layers.activation({ activation: 'softmax' })]);
    await expect(Trainer.create(gpu(), dropout)).rejects.toThrow(TrainError);
    await expect(Trainer.create(gpu(), dropout)).rejects.toThrow(/dropout.*rate 0.5/);
    const noSoftmax = sequential([layers.quantDense({ units: 2, ...quant, inputShape: [4] }), layers.batchNormalization()]);
    await expect(Trainer.create(gpu(), noSoftmax)).rejects.toThrow(/has no activation and no loss: .*TrainerOptions\.losses/);
    const unflat = sequential([layers.dense({ units: 2, inputShape: [3, 4] }), layers.activation({ activation: 'softmax' })]);
    await expect(Trainer.create(gpu(), unflat)).rejects.toThrow(/add a Flatten/);
  });
});

