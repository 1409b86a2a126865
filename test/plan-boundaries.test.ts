// Compiled plans against the CPU reference where rounding is most dangerous: values placed exactly
// on the quantizers' decision points. Every input quantizer is paired with every kernel quantizer,
// behind BatchNormalizations whose zero sits exactly on an integer dot product (a freshly
// initialized BN does this: mean 0, beta 0) and on integer inputs with zeros (sign(0) = +1,
// heaviside(0) = 0). A plan must decide each of those exactly as the reference does, and a model's
// outputs must not change when intermediate values are also read (issue 18's silent wrong results).
import { describe, test } from 'vitest';
import { layers, sequential, type Model } from '../src/model/model.js';
import { referenceForward } from '../src/model/reference.js';
import { InferencePlan } from '../src/plan/plan.js';
import { expectClose, expectExact } from './helpers/check.js';
import { useGpu } from './helpers/gpu.js';
import { rngFor, seedNote, type Random } from './helpers/random.js';

const gpu = useGpu();

const INPUT_QUANTIZERS: Record<string, unknown> = {
  none: null,
  ste_sign: 'ste_sign',
  approx_sign: 'approx_sign',
  swish_sign: 'swish_sign',
  ste_heaviside: 'ste_heaviside',
  'ste_tern(0.5)': { class_name: 'SteTern', config: { threshold_value: 0.5 } },
  'dorefa(2)': { class_name: 'DoReFa', config: { k_bit: 2, mode: 'activations' } },
  noop: { class_name: 'NoOp', config: { precision: 1 } },
};
const KERNEL_QUANTIZERS: Record<string, unknown> = {
  none: null,
  ste_sign: 'ste_sign',
  magnitude_aware_sign: 'magnitude_aware_sign',
  'ste_tern(twn)': { class_name: 'SteTern', config: { ternary_weight_networks: true } },
  'ste_tern(0.3)': { class_name: 'SteTern', config: { threshold_value: 0.3 } },
  'dorefa weights(1)': { class_name: 'DoReFa', config: { k_bit: 1, mode: 'weights' } },
  'dorefa weights(2)': { class_name: 'DoReFa', config: { k_bit: 2, mode: 'weights' } },
};

/**
 * Weights whose decision points fall exactly on reachable values: quantized kernels random, float
 * kernels and biases small integers, each BatchNormalization either freshly initialized or with
 * an integer mean, beta 0 and gamma of either sign (BN(y) = 0 exactly at y = mean). After a layer
 * in `inexact` (its products are sums of real values, which f32 and the reference's f64 round
 * differently), the BatchNorm's zero sits between reachable values instead (a mean of k + 0.3183,
 * no multiple of a third, a quarter or a magnitude scale k/180 of quarter weights):
 * such a sum's sign at 0 is rounding noise in the reference too, so only its rounding is kept away
 * from the decision.
 */
function boundaryWeights(m: Model, rng: Random, inexact: string[] = []): void {
  for (const l of m.layers) {
    const w = (p: string) => m.spec.weights.get(`${l.name}/${p}`);
    if (w('kernel')) {
      const quantized = 'kernel_quantizer' in l.config && l.config.kernel_quantizer !== null;
      const k = w('kernel')!;
      m.setWeight(`${l.name}/kernel`, quantized ? Float32Array.from(k.data, () => (rng.int(9) - 4) / 4) : Float32Array.from(k.data, () => rng.int(5) - 2));
      if (w('bias')) m.setWeight(`${l.name}/bias`, Float32Array.from(w('bias')!.data, () => rng.int(3) - 1));
    }
    if (l.class === 'BatchNormalization' && inexact.includes(l.inbound[0])) {
      m.setWeight(`${l.name}/moving_mean`, Float32Array.from(w('moving_mean')!.data, () => rng.int(5) - 2 + 0.3183));
    } else if (l.class === 'BatchNormalization' && rng.int(3) > 0) {
      const C = w('moving_mean')!.data.length;
      if (l.config.scale) m.setWeight(`${l.name}/gamma`, Float32Array.from({ length: C }, () => [1, -1, 0.5, 3][rng.int(4)]));
      m.setWeight(`${l.name}/moving_mean`, Float32Array.from({ length: C }, () => rng.int(5) - 2));
      m.setWeight(`${l.name}/moving_variance`, Float32Array.from({ length: C }, () => [1, 2, 0.25][rng.int(3)]));
    }
  }
}

/** 16 -> 8 -> 6 -> 3 with the pair under test in the middle layer; the layers around it are binary. */
function denseModel(iq: unknown, kq: unknown): Model {
  const bin = { inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign' };
  return sequential([
    layers.quantDense({ units: 8, inputShape: [16], ...bin }),
    layers.batchNormalization(),
    layers.quantDense({ units: 6, inputQuantizer: iq, kernelQuantizer: kq }),
    layers.batchNormalization({ center: false }),
    layers.quantDense({ units: 3, ...bin }),
    layers.batchNormalization(),
    layers.activation({ activation: 'softmax' }),
  ]);
}

/** The same pair in a convolution with 'same' padding (Larq's default pad_values 0) after a binary one. */
function convModel(iq: unknown, kq: unknown): Model {
  const bin = { inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign' };
  return sequential([
    layers.quantConv2d({ filters: 5, kernelSize: 3, padding: 'same', inputShape: [5, 4, 3], ...bin }),
    layers.batchNormalization(),
    layers.quantConv2d({ filters: 7, kernelSize: 3, padding: 'same', inputQuantizer: iq, kernelQuantizer: kq }),
    layers.batchNormalization(),
    layers.flatten(),
    layers.quantDense({ units: 3, ...bin }),
    layers.activation({ activation: 'softmax' }),
  ]);
}

const PAIRS = Object.entries(INPUT_QUANTIZERS).flatMap(([i, iq]) => Object.entries(KERNEL_QUANTIZERS).map(([k, kq]) => [`${i} x ${k}`, iq, kq] as const));
const tolerance = (want: Float32Array) => Float32Array.from(want, (v) => 1e-4 * (1 + Math.abs(v)));

describe.each([
  ['dense', denseModel],
  ['conv', convModel],
] as const)('%s layers, values on the decision points', (kind, build) => {
  test.each(PAIRS)('%s: outputs and binarized inputs equal the reference, with and without intermediates', async (name, iq, kq) => {
    const rng = rngFor(`${kind} ${name}`);
    const m = build(iq, kq);
    // Sums of real values (a real or DoReFa input, DoReFa's or a magnitude scale's weights) round
    // differently in f32 and in the reference's f64: only products of +-1, {0, 1}, {-1, 0, 1}
    // inputs and weights are exact, and only those sit on the decision points.
    const className = (q: unknown) => (q !== null && typeof q === 'object' ? (q as { class_name: string }).class_name : q);
    const exactInput = ['ste_sign', 'approx_sign', 'swish_sign', 'ste_heaviside', 'SteTern'].includes(className(iq) as string);
    const exactKernel = kq === 'ste_sign' || className(kq) === 'SteTern' || (className(kq) === 'DoReFa' && (kq as { config: { k_bit: number } }).config.k_bit === 1);
    const middle = m.layers.filter((l) => l.class !== 'InputLayer')[2];
    boundaryWeights(m, rng, exactInput && exactKernel ? [] : [middle.name]);
    const plan = await InferencePlan.compile(gpu(), m, { maxBatch: 6 });
    try {
      const batch = 6;
      const xs = [Float32Array.from({ length: batch * m.inputs[0].shape.reduce((a, b) => a * b, 1) }, () => rng.int(5) - 2)];
      const ref = referenceForward(m.spec, xs, batch);
      const out = m.outputs[0];
      const alone = (await plan.run(xs)).get(out)!.data;
      expectClose(alone, ref.get(out)!.data, tolerance(ref.get(out)!.data), `${out}, read alone (${seedNote()})`);
      const quantized = m.layers.filter((l) => 'input_quantizer' in l.config && l.config.input_quantizer !== null).map((l) => `${l.name}:input`);
      const names = [...m.layers.map((l) => l.name), ...quantized];
      const all = await plan.run(xs, { outputs: names });
      expectClose(all.get(out)!.data, ref.get(out)!.data, tolerance(ref.get(out)!.data), `${out}, read with every intermediate (${seedNote()})`);
      for (const q of quantized) {
        // NoOp quantizes nothing: its "quantized input" is a real value.
        const real = (m.layers.find((l) => `${l.name}:input` === q)!.config as { input_quantizer?: { class_name?: string } }).input_quantizer?.class_name === 'NoOp';
        if (real) expectClose(all.get(q)!.data, ref.get(q)!.data, tolerance(ref.get(q)!.data), `${q} (${seedNote()})`);
        else expectExact(all.get(q)!.data, ref.get(q)!.data, `${q} (${seedNote()})`);
      }
      for (const n of m.layers.map((l) => l.name)) {
        const want = ref.get(n)!.data;
        expectClose(all.get(n)!.data, want, tolerance(want), `${n} (${seedNote()})`);
      }
    } finally {
      plan.destroy();
    }
  });
});

describe('regressions (issue 18)', () => {
  test('16 -> 8 -> 3 with ste_heaviside after a fresh BatchNorm: a zero BN output stays 0 (the padded rows\' f32 bias once made it positive)', async () => {
    const m = sequential([
      layers.quantDense({ units: 8, inputShape: [16], kernelQuantizer: 'ste_sign', inputQuantizer: 'ste_sign' }),
      layers.batchNormalization(),
      layers.quantDense({ units: 3, inputQuantizer: 'ste_heaviside', kernelQuantizer: 'ste_sign' }),
      layers.batchNormalization(),
      layers.activation({ activation: 'softmax' }),
    ], { seed: 3 });
    const x = Float32Array.from({ length: 16 * 8 }, (_, i) => Math.sin(i * 1.7));
    const plan = await InferencePlan.compile(gpu(), m, { maxBatch: 8 });
    try {
      for (const batch of [1, 2, 8]) {
        const xs = [x.subarray(0, 16 * batch)];
        const ref = referenceForward(m.spec, xs, batch);
        const want = ref.get('activation')!.data;
        expectClose((await plan.run(xs)).get('activation')!.data, want, tolerance(want), `batch ${batch}`);
        expectExact((await plan.run(xs, { outputs: ['quant_dense_1:input'] })).get('quant_dense_1:input')!.data, ref.get('quant_dense_1:input')!.data, `heaviside input, batch ${batch}`);
      }
    } finally {
      plan.destroy();
    }
  });
});
