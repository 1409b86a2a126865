// The seeds' MNIST CNN (src/zoo/mnist-cnn.ts) in each quantization scheme: its shapes, one GPU
// training step against the CPU training reference (binary: the bit-level kernels), and a few
// steps of each scheme on a fixed set of real MNIST digits whose loss must fall.
import { describe, expect, test } from 'vitest';
import { loadMnist, preprocessMnist } from '../src/data/mnist.js';
import { referenceTrainingStep } from '../src/model/reference-training.js';
import { Trainer } from '../src/train/trainer.js';
import { MNIST_CNN_SCHEMES, mnistCnn } from '../src/zoo/mnist-cnn.js';
import { expectGradientsLikeReference } from './helpers/training.js';
import { useGpu } from './helpers/gpu.js';
import { rngFor } from './helpers/random.js';

const gpu = useGpu();

describe('mnist-cnn', () => {
  test('layers and shapes: 28x28x1 -> 14x14x32 -> 7x7x64 -> 256 -> 10', () => {
    const m = mnistCnn();
    expect(m.spec.layers.map((l) => l.outputShape)).toEqual([[28, 28, 32], [14, 14, 32], [14, 14, 32], [14, 14, 64], [7, 7, 64], [7, 7, 64], [3136], [256], [256], [10], [10], [10]]);
    expect(m.weight('quant_conv2d/kernel').shape).toEqual([5, 5, 1, 32]);
    expect(() => mnistCnn({ quant: 'fp16' as never })).toThrow(/quant must be one of binary, xnor, ternary, dorefa/);
  });

  test('binary: one step on the bit-level kernels equals the CPU training reference', { timeout: 120_000 }, async () => {
    const rng = rngFor('mnist-cnn step');
    const m = mnistCnn({ quant: 'binary', seed: 1 });
    // Not 2: with two samples BatchNorm's backward cancels to rounding noise (x_hat = +-1).
    const B = 6;
    const x = Float32Array.from({ length: B * 784 }, () => rng.int(7) - 3);
    const labels = Uint32Array.from({ length: B }, () => rng.int(10));
    const want = referenceTrainingStep(m.spec, x, labels, B);
    const trainer = await Trainer.create(gpu(), m, { optimizer: { kind: 'sgd', learningRate: 0 }, maxBatch: B });
    try {
      await trainer.step(x, labels);
      expect((await trainer.readMetrics()).loss).toBeCloseTo(want.loss, 4);
      // Four layers of f32 backward (BatchNorm, pooling, 1568- to 3136-term sums) before the first
      // kernel's gradient: its small entries carry errors of about 1% of the largest.
      await expectGradientsLikeReference(trainer, m, want, (v, scale) => 1e-3 * v + 1e-2 * scale + 1e-7);
    } finally {
      trainer.destroy();
    }
  });

  test.each([...MNIST_CNN_SCHEMES.map((q) => [q, undefined] as const), ['dorefa', 6] as const])('%s (gradient bits %s): the loss falls over a few steps on 16 real digits', { timeout: 300_000 }, async (quant, gradientBits) => {
    const data = await loadMnist({ split: 'train', limit: 16 });
    const m = mnistCnn({ quant, seed: 2, gradientBits });
    const trainer = await Trainer.create(gpu(), m, { optimizer: { kind: 'adam', learningRate: 0.003 }, maxBatch: 16 });
    try {
      const losses: number[] = [];
      const images = preprocessMnist(data.images);
      const labels = Uint32Array.from(data.labels);
      for (let s = 0; s < 4; s++) {
        await trainer.step(images, labels);
        losses.push((await trainer.readMetrics()).loss);
      }
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses[3]).toBeLessThan(0.8 * losses[0]);
    } finally {
      trainer.destroy();
    }
  });
});
