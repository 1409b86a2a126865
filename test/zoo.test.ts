// The zoo's CIFAR-10 models: layer output shapes and parameter counts as the papers give them, and
// a narrow copy of each (same layers, fewer filters) compiled to the binary and the fp32 plan and
// checked against the CPU reference, so the benchmark's models are known to run.
import { describe, expect, test } from 'vitest';
import { referenceForward } from '../src/model/reference.js';
import { summarize } from '../src/model/summary.js';
import { InferencePlan } from '../src/plan/plan.js';
import { Random } from '../src/random.js';
import { cifar10Vgg16 } from '../src/zoo/cifar10-vgg16.js';
import { finnCnv } from '../src/zoo/finn-cnv.js';
import { biRealNet } from '../src/zoo/bireal-net.js';
import { lowerModel } from '../src/plan/lower.js';
import { randomInputs, randomizeWeights } from '../bench/random-weights.js';
import { expectClose } from './helpers/check.js';
import { useGpu } from './helpers/gpu.js';
import type { Model } from '../src/model/model.js';

const gpu = useGpu();
const shapesOf = (m: Model, cls: string) => m.spec.layers.filter((l) => l.class === cls).map((l) => l.outputShape.join('x'));
const conv = (cin: number, cout: number) => 9 * cin * cout;

describe('zoo: CIFAR-10 models', () => {
  test('cifar10Vgg16: 13 convs in five blocks, a pool after each, dense 512 -> 1024 -> 10', () => {
    const m = cifar10Vgg16();
    expect(shapesOf(m, 'QuantConv2D')).toEqual([
      ...['32x32x64', '32x32x64'], ...['16x16x128', '16x16x128'], ...Array(3).fill('8x8x256'), ...Array(3).fill('4x4x512'), ...Array(3).fill('2x2x512'),
    ]);
    expect(shapesOf(m, 'MaxPooling2D')).toEqual(['16x16x64', '8x8x128', '4x4x256', '2x2x512', '1x1x512']);
    expect(shapesOf(m, 'QuantDense')).toEqual(['1024', '10']);
    expect(m.spec.layers.at(-1)!.outputShape).toEqual([10]);
    const s = summarize(m.spec);
    const binaryKernels =
      conv(3, 64) + conv(64, 64) + conv(64, 128) + conv(128, 128) + conv(128, 256) + 2 * conv(256, 256) + conv(256, 512) + 5 * conv(512, 512) + 512 * 1024 + 1024 * 10;
    const bnChannels = 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512 + 1024 + 10;
    expect(binaryKernels).toBe(15_244_992); // 14.71 M conv + 0.53 M dense weights
    expect(s.binaryParams).toBe(binaryKernels);
    expect(s.totalParams).toBe(binaryKernels + 4 * bnChannels);
    expect((m.layer('quant_conv2d').config as { input_quantizer?: unknown }).input_quantizer).toBeNull();
  });

  test('finnCnv: valid convs 64-64, pool, 128-128, pool, 256-256, dense 512-512-10', () => {
    const m = finnCnv();
    expect(shapesOf(m, 'QuantConv2D')).toEqual(['30x30x64', '28x28x64', '12x12x128', '10x10x128', '3x3x256', '1x1x256']);
    expect(shapesOf(m, 'MaxPooling2D')).toEqual(['14x14x64', '5x5x128']);
    expect(shapesOf(m, 'QuantDense')).toEqual(['512', '512', '10']);
    const s = summarize(m.spec);
    const binaryKernels = conv(3, 64) + conv(64, 64) + conv(64, 128) + conv(128, 128) + conv(128, 256) + conv(256, 256) + 256 * 512 + 512 * 512 + 512 * 10;
    expect(binaryKernels).toBe(1_542_848); // FINN's CNV: 1.54 M binary weights
    expect(s.binaryParams).toBe(binaryKernels);
    expect(s.totalParams).toBe(binaryKernels + 4 * (2 * 64 + 2 * 128 + 2 * 256 + 512 + 512 + 10));
  });

  test('biRealNet: stem, 4 stages of 4 blocks (sign, binary 3x3 conv, BN, Add), pooled shortcuts, GAP, dense 10', () => {
    const m = biRealNet();
    expect(shapesOf(m, 'QuantConv2D')).toEqual([...Array(4).fill('32x32x64'), ...Array(4).fill('16x16x128'), ...Array(4).fill('8x8x256'), ...Array(4).fill('4x4x512')]);
    expect(shapesOf(m, 'Add')).toHaveLength(16);
    expect(shapesOf(m, 'SteSign')).toHaveLength(0); // a quantizer layer's class is Quantizer
    expect(shapesOf(m, 'Quantizer')).toHaveLength(16);
    expect(shapesOf(m, 'AveragePooling2D')).toEqual(['16x16x64', '8x8x128', '4x4x256']);
    expect(shapesOf(m, 'GlobalAveragePooling2D')).toEqual(['512']);
    expect(m.spec.layers.at(-1)!.outputShape).toEqual([10]);
    const s = summarize(m.spec);
    const binary = conv(64, 64) * 4 + conv(64, 128) + conv(128, 128) * 3 + conv(128, 256) + conv(256, 256) * 3 + conv(256, 512) + conv(512, 512) * 3;
    expect(s.binaryParams).toBe(binary);
    // Every binary convolution runs on the XNOR kernels (bconv2d), its input packed once, nothing unpacked.
    const ops = lowerModel(m.spec).steps.map((st) => st.op);
    expect(ops.filter((o) => o === 'binaryConv')).toHaveLength(16);
    expect(ops.filter((o) => o === 'floatConv')).toHaveLength(1 + 3); // the real stem and the 1x1 shortcut convolutions
    expect(ops.filter((o) => o === 'pack')).toHaveLength(16);
    expect(ops.filter((o) => o === 'unpack')).toHaveLength(0);
  });

  const narrow: Record<string, () => Model> = {
    'Bi-Real Net (narrow, 1x1 conv shortcuts, SteSign layers)': () => biRealNet({ filters: [8, 16, 33, 40], blocks: [1, 2, 1, 1], inputShape: [8, 8, 3] }),
    'Bi-Real Net (narrow, concatenated shortcuts, input quantizers)': () => biRealNet({ filters: [8, 16, 32, 64], blocks: [1, 1, 1, 1], shortcut: 'concat', sign: 'input_quantizer', inputShape: [8, 8, 3] }),
    'VGG16 (narrow)': () => cifar10Vgg16({ blocks: [[8, 8], [16], [32], [40], [33]], dense: [20], inputShape: [32, 32, 3] }),
    'CNV (narrow)': () => finnCnv({ convs: [8, 16, 16, 32, 40, 33], dense: [24, 20] }),
  };
  for (const [name, make] of Object.entries(narrow)) {
    test(`${name}: binary and fp32 plans equal the CPU reference`, async () => {
      const m = make();
      const rng = new Random(3);
      randomizeWeights(m, rng);
      const xs = randomInputs(m, rng, 2);
      const want = referenceForward(m.spec, xs, 2).get(m.outputs[0])!.data;
      for (const kernels of ['binary', 'float'] as const) {
        const plan = await InferencePlan.compile(gpu(), m, { maxBatch: 2, kernels });
        try {
          const got = (await plan.run(xs)).get(m.outputs[0])!.data;
          expectClose(got, want, 1e-4, `${name} ${kernels}`);
          // A Bi-Real Net's binary convolutions run on the XNOR kernels (the fp32 plan: none).
          if (name.startsWith('Bi-Real')) expect(plan.describe().split('\n').filter((line) => / bconv2d /.test(line)), plan.describe()).toHaveLength(kernels === 'binary' ? m.layers.filter((l) => l.class === 'QuantConv2D').length : 0);
        } finally {
          plan.destroy();
        }
      }
    });
  }
});

describe('the zoo by name (bnn summary NAME)', () => {
  test('every entry builds; the float VGG16 has the binarized one\'s parameters, 32 bits each; the memory table', async () => {
    const { ZOO } = await import('../src/zoo/registry.js');
    for (const [name, e] of Object.entries(ZOO)) expect(summarize(e.build().spec).totalParams, name).toBeGreaterThan(0);
    const float = summarize(ZOO['cifar10-vgg16-float'].build().spec);
    const bnn = summarize(ZOO['cifar10-vgg16'].build().spec);
    expect(float.totalParams).toBe(bnn.totalParams);
    expect(float.binaryParams).toBe(0);
    expect(float.memoryBytes).toBe(float.totalParams * 4);
    // The README's memory table.
    expect(bnn.memoryBytes).toBe(1989752);
    expect(summarize(ZOO['cifar10-cnv'].build().spec).memoryBytes).toBe(223736);
    const bireal = summarize(ZOO['cifar10-bireal'].build().spec);
    expect([bireal.totalParams, bireal.binaryParams, bireal.memoryBytes, bireal.float32Bytes]).toEqual([11183562, 10985472, 2165544, 4 * 11183562]);
  });
});
