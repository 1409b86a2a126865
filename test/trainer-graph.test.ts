// The GPU trainer on functional graphs (issue 16) against the CPU training reference: shortcuts
// (Add), Concatenate, fan-out (a value read by several layers: gradients summed), global average
// pooling, ZeroPadding2D, Reshape, several inputs and several outputs (each its own loss, weighted:
// sparse cross-entropy, mean squared error, binary cross-entropy), and a small Bi-Real Net; one Adam step each (loss, gradients, moving averages, the updated
// weights); the storage rules of a step's values; what is refused; and the zoo's Bi-Real Net
// learning a CIFAR-shaped task.
import { describe, expect, test } from 'vitest';
import { input, layers, model, type Model } from '../src/model/model.js';
import { referenceTrainingStep } from '../src/model/reference-training.js';
import { optimizerReference } from '../src/train/optimizers.js';
import { LentTensor, shareReads, TensorView } from '../src/train/tensor-handles.js';
import { lossOutputs, type LossOutput } from '../src/train/loss-outputs.js';
import { Trainer, TrainError, type Losses, type LossWeights } from '../src/train/trainer.js';
import { biRealNet } from '../src/zoo/bireal-net.js';
import { expectClose } from './helpers/check.js';
import { useGpu } from './helpers/gpu.js';
import { rngFor, seedNote } from './helpers/random.js';
import { expectGradientsLikeReference } from './helpers/training.js';

const gpu = useGpu();
const binary = { inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', useBias: false };
const sign = (x: ReturnType<typeof input>) => layers.steSign().apply(x);

/**
 * Small functional models, each exercising one graph feature; `inputs`: a sample's shape per model
 * input; `lossWeights` and `losses` as TrainerOptions takes them; `relative` as in trainer.test.ts (BN chains cancel).
 */
const graphs: Record<string, { inputs: number[][]; build: () => Model; lossWeights?: LossWeights; losses?: Losses; relative?: number }> = {
  // Bi-Real Net's block: a real-valued value, its sign through a binary conv + BN, added back.
  'shortcut: Add of a real-valued branch and a binary conv BatchNorm output': {
    inputs: [[6, 6, 3]],
    build: () => {
      const x = input({ shape: [6, 6, 3] });
      const stem = layers.batchNormalization().apply(layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(x));
      const branch = layers.batchNormalization().apply(layers.quantConv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', useBias: false }).apply(sign(stem)));
      const sum = layers.add().apply([branch, stem]);
      return model({ inputs: x, outputs: layers.dense({ units: 5, activation: 'softmax' }).apply(layers.flatten().apply(sum)) });
    },
  },
  'Concatenate of a binary branch and a real one': {
    inputs: [[5, 5, 2]],
    build: () => {
      const x = input({ shape: [5, 5, 2] });
      const real = layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x);
      const bin = layers.batchNormalization().apply(layers.quantConv2d({ filters: 5, kernelSize: 2, padding: 'same', ...binary }).apply(real));
      const cat = layers.concatenate().apply([bin, real]);
      return model({ inputs: x, outputs: layers.quantDense({ units: 4, ...binary, activation: 'softmax' }).apply(layers.flatten().apply(cat)) });
    },
  },
  'fan-out: one value read by three layers (two Dense, an Add of it with itself)': {
    inputs: [[12]],
    build: () => {
      const x = input({ shape: [12] });
      // No bias before the BatchNorm (as Keras users write it): its gradient is 0 up to rounding,
      // which an f32 sum leaves near 1e-5 of the terms it cancels, and no tolerance of its own size can hold.
      const h = layers.batchNormalization().apply(layers.dense({ units: 8, useBias: false }).apply(x));
      const a = layers.quantDense({ units: 6, ...binary }).apply(h);
      const b = layers.dense({ units: 6, activation: 'tanh' }).apply(h);
      const twice = layers.dense({ units: 6 }).apply(layers.add().apply([h, h]));
      const cat = layers.concatenate().apply([layers.batchNormalization().apply(a), b, twice]);
      return model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(cat) });
    },
  },
  'GlobalAveragePooling2D then Dense': {
    inputs: [[6, 5, 3]],
    build: () => {
      const x = input({ shape: [6, 5, 3] });
      const c = layers.batchNormalization().apply(layers.quantConv2d({ filters: 7, kernelSize: 3, inputQuantizer: null, kernelQuantizer: 'ste_sign', useBias: false }).apply(x));
      return model({ inputs: x, outputs: layers.dense({ units: 4, activation: 'softmax' }).apply(layers.globalAveragePooling2d().apply(c)) });
    },
  },
  'ZeroPadding2D (asymmetric) then a binary convolution': {
    inputs: [[5, 4, 2]],
    build: () => {
      const x = input({ shape: [5, 4, 2] });
      const c = layers.batchNormalization().apply(layers.conv2d({ filters: 3, kernelSize: 2, padding: 'same', useBias: false }).apply(x));
      const p = layers.zeroPadding2d({ padding: [[1, 2], [0, 1]] }).apply(c);
      const b = layers.batchNormalization().apply(layers.quantConv2d({ filters: 4, kernelSize: 3, ...binary }).apply(p));
      return model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(layers.flatten().apply(b)) });
    },
  },
  'Reshape of a dense output into images, GlobalAveragePooling2D with keepdims': {
    inputs: [[10]],
    build: () => {
      const x = input({ shape: [10] });
      const h = layers.batchNormalization().apply(layers.dense({ units: 24, useBias: false }).apply(x));
      const r = layers.reshape({ targetShape: [2, 3, 4] }).apply(h);
      const c = layers.batchNormalization().apply(layers.quantConv2d({ filters: 5, kernelSize: 2, padding: 'same', ...binary }).apply(r));
      const g = layers.globalAveragePooling2d({ keepdims: true }).apply(c);
      return model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(layers.flatten().apply(g)) });
    },
  },
  'GlobalMaxPooling2D on a binary convolution, then a binary Dense': {
    inputs: [[6, 5, 3]],
    build: () => {
      const x = input({ shape: [6, 5, 3] });
      const c = layers.batchNormalization().apply(layers.quantConv2d({ filters: 7, kernelSize: 3, kernelQuantizer: 'ste_sign', useBias: false }).apply(x));
      return model({ inputs: x, outputs: layers.quantDense({ units: 4, ...binary, activation: 'softmax' }).apply(layers.globalMaxPooling2d().apply(c)) });
    },
  },
  'two inputs: a Dense branch and a binary QuantDense branch, Concatenated': {
    inputs: [[6], [5]],
    build: () => {
      const a = input({ shape: [6], name: 'a' });
      const b = input({ shape: [5], name: 'b' });
      const ha = layers.batchNormalization().apply(layers.dense({ units: 4, useBias: false }).apply(a));
      const hb = layers.batchNormalization().apply(layers.quantDense({ units: 6, ...binary }).apply(b));
      return model({ inputs: [a, b], outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(layers.concatenate().apply([ha, hb])) });
    },
  },
  'two outputs: a shared trunk, two softmax heads (one an Activation layer), loss weights 1 and 0.5': {
    inputs: [[8]],
    lossWeights: [1, 0.5],
    build: () => {
      const x = input({ shape: [8] });
      const trunk = layers.batchNormalization().apply(layers.dense({ units: 8, useBias: false }).apply(x));
      const bin = layers.batchNormalization().apply(layers.quantDense({ units: 6, ...binary }).apply(trunk));
      const first = layers.dense({ units: 3, activation: 'softmax', name: 'first' }).apply(bin);
      const second = layers.activation({ activation: 'softmax', name: 'second' }).apply(layers.dense({ units: 4 }).apply(trunk));
      return model({ inputs: x, outputs: [first, second] });
    },
  },
  'two inputs, two outputs, binary QuantDense; loss weights by name': {
    inputs: [[7], [6]],
    lossWeights: { second: 0.25 },
    build: () => {
      const a = input({ shape: [7], name: 'a' });
      const b = input({ shape: [6], name: 'b' });
      // A real-valued first layer on binary kernels (sign-select), a float one, their sum signed into XNOR layers.
      const ha = layers.batchNormalization().apply(layers.quantDense({ units: 8, kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', useBias: false }).apply(a));
      const hb = layers.batchNormalization().apply(layers.dense({ units: 8, useBias: false }).apply(b));
      const sb = layers.batchNormalization().apply(layers.quantDense({ units: 6, ...binary }).apply(layers.add().apply([ha, hb])));
      const first = layers.quantDense({ units: 3, ...binary, activation: 'softmax', name: 'first' }).apply(sb);
      const second = layers.dense({ units: 2, activation: 'softmax', name: 'second' }).apply(layers.concatenate().apply([sb, hb]));
      return model({ inputs: [a, b], outputs: [first, second] });
    },
  },
  'two outputs sharing their logits (two softmax Activations of one Dense): the gradients summed': {
    inputs: [[5]],
    lossWeights: [0.5, 2],
    build: () => {
      const x = input({ shape: [5] });
      const logits = layers.dense({ units: 3 }).apply(layers.batchNormalization().apply(layers.quantDense({ units: 6, kernelQuantizer: 'ste_sign', useBias: false }).apply(x)));
      return model({ inputs: x, outputs: [layers.activation({ activation: 'softmax' }).apply(logits), layers.activation({ activation: 'softmax' }).apply(logits)] });
    },
  },
  'a regression head: binary trunk, Dense with a linear activation, mean squared error': {
    inputs: [[7]],
    losses: ['mse'],
    build: () => {
      const x = input({ shape: [7] });
      const h = layers.batchNormalization().apply(layers.quantDense({ units: 6, kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', useBias: false }).apply(x));
      return model({ inputs: x, outputs: layers.dense({ units: 2 }).apply(h) });
    },
  },
  'a softmax head (sparse CE) and a sigmoid head (BCE) on a binary QuantDense trunk, loss weights 1 and 0.5': {
    inputs: [[6]],
    lossWeights: [1, 0.5],
    losses: { tags: 'binary_crossentropy' },
    build: () => {
      const x = input({ shape: [6] });
      const h = layers.batchNormalization().apply(layers.dense({ units: 8, useBias: false }).apply(x));
      const trunk = layers.batchNormalization().apply(layers.quantDense({ units: 8, ...binary }).apply(h));
      const cls = layers.dense({ units: 3, activation: 'softmax', name: 'cls' }).apply(trunk);
      const tags = layers.quantDense({ units: 4, ...binary, activation: 'sigmoid', name: 'tags' }).apply(trunk);
      return model({ inputs: x, outputs: [cls, tags] });
    },
  },
  'three losses: MSE on a tanh output that a softmax head also reads (fan-out from a loss), BCE on an Activation(sigmoid)': {
    inputs: [[5]],
    losses: { value: 'mean_squared_error', flags: 'binary_crossentropy' },
    build: () => {
      const x = input({ shape: [5] });
      const trunk = layers.batchNormalization().apply(layers.quantDense({ units: 6, kernelQuantizer: 'ste_sign', useBias: false }).apply(x));
      const value = layers.dense({ units: 3, activation: 'tanh', name: 'value' }).apply(trunk);
      const cls = layers.dense({ units: 2, activation: 'softmax', name: 'cls' }).apply(value);
      const flags = layers.activation({ activation: 'sigmoid', name: 'flags' }).apply(layers.dense({ units: 2 }).apply(trunk));
      return model({ inputs: x, outputs: [value, cls, flags] });
    },
  },
  "the zoo's Bi-Real Net, small (1x1 conv shortcut)": {
    inputs: [[8, 8, 3]],
    relative: 1e-3,
    build: () => biRealNet({ filters: [4, 8], blocks: [1, 1], inputShape: [8, 8, 3], classes: 5 }),
  },
  "the zoo's Bi-Real Net, small (concatenated shortcut, input quantizers)": {
    inputs: [[8, 8, 3]],
    relative: 1e-3,
    build: () => biRealNet({ filters: [4, 8], blocks: [2, 1], inputShape: [8, 8, 3], classes: 5, shortcut: 'concat', sign: 'input_quantizer' }),
  },
};

describe('Trainer on functional graphs', () => {
  test.each(Object.keys(graphs).flatMap((g) => (['binary', 'float'] as const).map((k) => [g, k] as const)))('%s (%s kernels): one Adam step equals the CPU reference', async (name, kernels) => {
    const rng = rngFor(`trainer graph ${name}`);
    const { inputs: shapes, build, lossWeights, losses, relative = 1e-5 } = graphs[name];
    const m = build();
    for (const [w, v] of m.spec.weights) {
      if (w.endsWith('/kernel')) m.setWeight(w, rng.floats(v.data.length, -1.2, 1.2));
      if (w.endsWith('/bias') || w.endsWith('/beta')) m.setWeight(w, rng.floats(v.data.length, -0.5, 0.5));
      if (w.endsWith('/gamma')) m.setWeight(w, rng.floats(v.data.length, 0.5, 1.5));
    }
    const B = 5;
    // One array per model input and one label array per output, in the model's orders.
    const xs = shapes.map((shape) => Float32Array.from({ length: B * shape.reduce((a, b) => a * b, 1) }, () => rng.int(7) - 3));
    // Class indices for sparse CE; targets for MSE (any real) and BCE (0 or 1: binary accuracy counts them).
    const labelsOf = (o: LossOutput) => {
      if (o.loss === 'sparse_categorical_crossentropy') return Uint32Array.from({ length: B }, () => rng.int(o.units));
      return o.loss === 'binary_crossentropy' ? Float32Array.from({ length: B * o.size }, () => rng.int(2)) : rng.floats(B * o.size, -2, 2);
    };
    const outs = lossOutputs(m.spec, lossWeights, losses);
    const labels = outs.map(labelsOf);
    const want = referenceTrainingStep(m.spec, xs, labels, B, { lossWeights, losses });
    const adam = { kind: 'adam', learningRate: 0.01 } as const;
    const trainer = await Trainer.create(gpu(), m, { optimizer: adam, maxBatch: B, kernels, lossWeights, losses });
    try {
      const before = await Promise.all(trainer.params.map(async (p) => (await p.param.read()) as Float32Array));
      await trainer.step(xs, labels);
      const metrics = await trainer.readMetrics();
      expect(metrics.loss).toBeCloseTo(want.loss, 4);
      // Each output's own loss (unweighted), weight, and hits as the reference counts them: top-1
      // for sparse CE, binary accuracy for BCE, none for MSE (top-1 and top-5 NaN).
      expect(metrics.outputs.map((o) => [o.name, o.lossFunction, o.weight])).toEqual(outs.map((o) => [o.name, o.loss, o.weight]));
      metrics.outputs.forEach((o, i) => {
        const w = want.outputLosses[i];
        expect(o.loss, o.name).toBeCloseTo(w.loss, 4);
        if (o.lossFunction === 'sparse_categorical_crossentropy') expect(o.top1 * B, o.name).toBe(w.correct);
        else expect(o.top1, o.name).toBeNaN();
        if (o.lossFunction === 'binary_crossentropy') expect(o.binaryAccuracy, o.name).toBe(w.binaryHits / (B * outs[i].size));
      });
      expect(metrics.top1).toBe(metrics.outputs[0].top1);
      await expectGradientsLikeReference(trainer, m, want, (v, scale) => 1e-4 * v + relative * scale + 1e-6, seedNote());
      // The update: Adam's first step from the weights before it and the step's gradient, as the
      // optimizer's reference computes it (the gradient itself was compared just above).
      for (const [i, p] of trainer.params.entries()) {
        const grad = (await p.grad.read()) as Float32Array;
        const zeros = Object.fromEntries(Object.keys(p.state).map((k) => [k, new Float32Array(grad.length)]));
        const ref = optimizerReference(adam, { param: before[i], grad, state: zeros }, 1, { clip: p.clip ?? undefined });
        expectClose((await p.param.read()) as Float32Array, ref.param, 1e-6, `updated ${p.param.label}`);
      }
      const synced = await trainer.syncModel();
      for (const [w, v] of want.moving) expectClose(synced.weight(w).data, Float32Array.from(v), Float32Array.from(v, (u) => 1e-4 * (1 + Math.abs(u))), w);
    } finally {
      trainer.destroy();
    }
  });

  test('what the forward keeps is counted once per storage, and every other intermediate goes back to the arena', async () => {
    // A value read by two layers that both keep it (two float Dense with activations keep x... and
    // an Activation layer keeps its input): the memory report counts its storage once.
    const x = input({ shape: [16] });
    const h = layers.batchNormalization().apply(layers.dense({ units: 32 }).apply(x));
    const a = layers.activation({ activation: 'tanh' }).apply(h);
    const b = layers.activation({ activation: 'sigmoid' }).apply(h);
    const m = model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(layers.add().apply([a, b])) });
    const trainer = await Trainer.create(gpu(), m, { maxBatch: 8, kernels: 'float' });
    try {
      const mem = await trainer.memory(8);
      // Kept per sample: dense's x (16 f32), BN's z and its per-sample state, h once (32 f32, read by both
      // activations), dense_1's input (32): at most 16 + 3 * 32 + 32 floats; twice h would exceed it.
      expect(mem.keptBytesPerSample).toBeGreaterThan(0);
      expect(mem.keptBytesPerSample).toBeLessThanOrEqual(4 * (16 + 4 * 32));
      // The step runs: shared values were released once, not twice (a double release would have
      // handed one buffer to two tensors, and the arena's count of bytes in use would go negative).
      await trainer.step(new Float32Array(8 * 16).fill(1), new Uint32Array(8));
      expect(Number.isFinite((await trainer.readMetrics()).loss)).toBe(true);
    } finally {
      trainer.destroy();
    }
  });

  test('tensor handles: views of lent tensors and shared reads release their storage exactly once, with the last holder', () => {
    const g = gpu();
    const t = g.tensor([4, 6], 'f32', 'shared');
    const pool = g.pool;
    const inUse = pool.inUseBytes;
    // Regression: a Flatten of the step's input used to give a plain tensor over the input's
    // buffer, whose release put the step's own input into the arena for reuse.
    new TensorView(new LentTensor(t), [24]).release();
    expect(pool.inUseBytes).toBe(inUse);
    const [r1, r2, r3] = shareReads(t, 3);
    new TensorView(r1, [2, 12]).release();
    r1.release(); // released twice through its view and itself: counts once
    r2.release();
    expect(t.isReleased).toBe(false);
    expect(pool.inUseBytes).toBe(inUse);
    r3.release();
    expect(t.isReleased).toBe(true);
    expect(pool.inUseBytes).toBe(inUse - t.buffer.size);
  });

  // The must-reach of issue 16: the zoo's Bi-Real Net trains. CIFAR-shaped images (32x32x3), a
  // synthetic task, deterministic and learnable through global average pooling: each of 10
  // classes a random colour (one value per channel), each sample its class's colour plus uniform
  // noise as large as the colours. A narrow configuration of the zoo's network (stem, four blocks
  // with shortcuts, one of them downsampling; 4 and 8 filters) on 16 x 16 RGB images, a quarter of
  // CIFAR's pixels to keep CI's time (at 32 x 32 the test took 252-591 s on this loaded 2-core
  // machine). Real CIFAR-10 images: docs/training.md.
  test("the zoo's Bi-Real Net learns an RGB image task: the loss falls over 160 images", async () => {
    const rng = rngFor('bireal learns');
    const m = biRealNet({ filters: [4, 8], blocks: [2, 2], seed: 1, inputShape: [16, 16, 3] });
    const pixels = 16 * 16 * 3;
    const colours = Array.from({ length: 10 }, () => rng.floats(3, -1, 1));
    const N = 160;
    const B = 40;
    const labels = Uint32Array.from({ length: N }, (_, i) => i % 10);
    const images = new Float32Array(N * pixels);
    labels.forEach((c, r) => {
      for (let k = 0; k < pixels; k++) images[r * pixels + k] = colours[c][k % 3] + rng.uniform(-1, 1);
    });
    const trainer = await Trainer.create(gpu(), m, { optimizer: { kind: 'adam', learningRate: 0.01 }, maxBatch: B });
    try {
      const epoch = async () => {
        for (let s = 0; s < N; s += B) await trainer.step(images.subarray(s * pixels, (s + B) * pixels), labels.subarray(s, s + B));
        return trainer.readMetrics();
      };
      const losses: number[] = [];
      for (let e = 0; e < 3; e++) losses.push((await epoch()).loss);
      console.log(`Bi-Real Net [4, 8] x [2, 2], ${N} synthetic 16x16 RGB images, batch ${B}, Adam 0.01: loss per epoch ${losses.map((l) => l.toFixed(3)).join(', ')}`);
      expect(losses[0]).toBeGreaterThan(1.5); // near log(10) = 2.30 at first
      // A fifth below the first epoch's: chance stays near 2.30. 0.7 failed one data draw
      // (TEST_SEED=1443711410: 2.554 -> 1.810, 0.709 of it), on main's code as on a branch's.
      expect(losses[2]).toBeLessThan(losses[0] * 0.8);
    } finally {
      trainer.destroy();
    }
  }, 1_800_000);

  test('graphs the trainer cannot train are refused by layer or output, with the reason, at construction', async () => {
    const x = input({ shape: [4] });
    const h = layers.dense({ units: 4, name: 'trunk' }).apply(x);
    // An output without a softmax and no loss given: only softmax outputs default to sparse cross-entropy.
    const noSoftmax = model({ inputs: x, outputs: layers.add().apply([h, x]) });
    await expect(Trainer.create(gpu(), noSoftmax)).rejects.toThrow(/output "add.*" \(Add\) has no activation and no loss: .* give its loss in TrainerOptions\.losses/);
    const linear = model({ inputs: x, outputs: [layers.dense({ units: 2, activation: 'softmax' }).apply(h), layers.dense({ units: 2, name: 'scores' }).apply(h)] });
    await expect(Trainer.create(gpu(), linear)).rejects.toThrow(/output "scores" \(Dense\) has activation "linear"/);
    // A loss that does not fit the output's activation: BCE reads a sigmoid's logits; a softmax trains only under sparse CE.
    await expect(Trainer.create(gpu(), linear, { losses: { scores: 'binary_crossentropy' } })).rejects.toThrow(/output "scores" \(Dense\) has activation "linear": its loss binary_crossentropy reads the logits before a sigmoid/);
    await expect(Trainer.create(gpu(), linear, { losses: ['mse', 'mse'] })).rejects.toThrow(/output "dense.*" \(Dense\) has activation "softmax": the trainer trains a softmax only folded into sparse_categorical_crossentropy/);
    await expect(Trainer.create(gpu(), linear, { losses: { nope: 'mse' } })).rejects.toThrow(/losses: "nope" is not an output of the model/);
    await expect(Trainer.create(gpu(), linear, { losses: { scores: 'mae' as 'mse' } })).rejects.toThrow(/the loss of output "scores" \(Dense\) is "mae"/);
    // A sigmoid output read by another layer under BCE: the sigmoid is folded into the loss.
    const sig = layers.dense({ units: 2, activation: 'sigmoid', name: 'sig' }).apply(h);
    const readSig = model({ inputs: x, outputs: [sig, layers.dense({ units: 2, activation: 'softmax' }).apply(sig)] });
    await expect(Trainer.create(gpu(), readSig, { losses: { sig: 'binary_crossentropy' } })).rejects.toThrow(/output "sig" \(Dense\) is also read by layer "dense.*" \(Dense\): the loss folds the output's sigmoid into its binary_crossentropy/);
    // An output read by another layer: its softmax is folded into its loss.
    const probs = layers.dense({ units: 3, activation: 'softmax', name: 'probs' }).apply(h);
    const chained = model({ inputs: x, outputs: [probs, layers.dense({ units: 2, activation: 'softmax', name: 'after' }).apply(probs)] });
    await expect(Trainer.create(gpu(), chained)).rejects.toThrow(/output "probs" \(Dense\) is also read by layer "after"/);
    // A layer that leads to no output (a dead branch, as a saved file can hold: the second head dropped from the outputs).
    const dead = model({ inputs: x, outputs: [layers.dense({ units: 2, activation: 'softmax', name: 'kept' }).apply(h), layers.dense({ units: 2, activation: 'softmax', name: 'dropped' }).apply(h)] });
    dead.spec.outputs.pop();
    await expect(Trainer.create(gpu(), dead)).rejects.toThrow(/layer "dropped" \(Dense\): its output leads to none of the model's outputs \("kept"\)/);
    // Loss weights that do not fit the outputs.
    const a = input({ shape: [4], name: 'a' });
    const b = input({ shape: [4], name: 'b' });
    const twoIn = model({ inputs: [a, b], outputs: layers.dense({ units: 2, activation: 'softmax' }).apply(layers.add().apply([a, b])) });
    await expect(Trainer.create(gpu(), twoIn, { lossWeights: [1, 2] })).rejects.toThrow(/lossWeights: 2 weights for 1 outputs/);
    await expect(Trainer.create(gpu(), twoIn, { lossWeights: { nope: 1 } })).rejects.toThrow(/lossWeights: "nope" is not an output of the model/);
    await expect(Trainer.create(gpu(), twoIn, { lossWeights: [-1] })).rejects.toThrow(/the weight of output "dense.*" must be a finite number >= 0, got -1/);
    for (const bad of [noSoftmax, linear, chained, dead]) await expect(Trainer.create(gpu(), bad)).rejects.toThrow(TrainError);
  });

  test('a batch of a model with several inputs and outputs is checked against them, naming the input or output', async () => {
    const a = input({ shape: [3], name: 'a' });
    const b = input({ shape: [2], name: 'b' });
    const h = layers.dense({ units: 4 }).apply(layers.concatenate().apply([a, b]));
    const m = model({ inputs: [a, b], outputs: [layers.dense({ units: 2, activation: 'softmax', name: 'p' }).apply(h), layers.dense({ units: 3, activation: 'softmax', name: 'q' }).apply(h)] });
    const trainer = await Trainer.create(gpu(), m, { maxBatch: 4 });
    try {
      const xs = [new Float32Array(2 * 3), new Float32Array(2 * 2)];
      const ys = [new Uint32Array(2), new Uint32Array(2)];
      await expect(trainer.step(xs, ys[0])).rejects.toThrow(/1 label array\(s\) for a model of 2 output\(s\) \("p", "q"\)/);
      await expect(trainer.step(xs, [ys[0], new Uint32Array(3)])).rejects.toThrow(/output "q" has labels for 3 samples, output "p" for 2/);
      await expect(trainer.step(xs, [ys[0], [0, 1] as unknown as Uint32Array])).rejects.toThrow(/the labels of output "q" must be a Uint32Array of class indices, got Array/);
      await expect(trainer.step(xs[0], ys)).rejects.toThrow(/1 input array\(s\) for a model of 2 input\(s\) \("a", "b"\)/);
      await expect(trainer.step([xs[0], new Float32Array(3)], ys)).rejects.toThrow(/input "b" has 3 values for 2 samples of 2/);
      await expect(trainer.inputTensor(2, 2)).rejects.toThrow(/the model has 2 input\(s\)/);
      // The right batch trains; metrics per output.
      await trainer.step(xs, ys);
      expect((await trainer.inputTensor(2, 1)).shape).toEqual([2, 2]);
      const metrics = await trainer.readMetrics();
      expect(metrics.outputs.map((o) => o.name)).toEqual(['p', 'q']);
      expect(metrics.loss).toBeCloseTo(metrics.outputs[0].loss + metrics.outputs[1].loss, 5);
    } finally {
      trainer.destroy();
    }
  });
  test("an MSE or BCE output's targets are a Float32Array of B x its size, checked by name; the step trains on them", async () => {
    const x = input({ shape: [3] });
    const h = layers.dense({ units: 4, activation: 'relu' }).apply(x);
    const m = model({ inputs: x, outputs: [layers.dense({ units: 2, name: 'r' }).apply(h), layers.dense({ units: 3, activation: 'sigmoid', name: 's' }).apply(h)] });
    const trainer = await Trainer.create(gpu(), m, { maxBatch: 4, losses: ['mse', 'binary_crossentropy'] });
    try {
      const xs = new Float32Array(2 * 3).fill(0.5);
      const t = [Float32Array.of(1, -1, 0.5, 2), Float32Array.of(1, 0, 1, 0, 0, 1)];
      await expect(trainer.step(xs, [new Uint32Array(2), t[1]])).rejects.toThrow(/the labels of output "r" \(its loss takes targets\) must be a Float32Array of 2 value\(s\) per sample, got Uint32Array/);
      await expect(trainer.step(xs, [new Float32Array(3), t[1]])).rejects.toThrow(/output "r" has 3 target values, not a whole number of samples of 2/);
      await expect(trainer.step(xs, [t[0], new Float32Array(9)])).rejects.toThrow(/output "s" has labels for 3 samples, output "r" for 2/);
      await trainer.step(xs, t);
      const metrics = await trainer.readMetrics();
      expect(metrics.outputs.map((o) => [o.name, o.lossFunction, o.rows])).toEqual([['r', 'mean_squared_error', 2], ['s', 'binary_crossentropy', 2]]);
      expect(metrics.loss).toBeCloseTo(metrics.outputs[0].loss + metrics.outputs[1].loss, 5);
      expect(metrics.outputs[1].binaryAccuracy).toBeGreaterThanOrEqual(0);
    } finally {
      trainer.destroy();
    }
  });
});
