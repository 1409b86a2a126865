// Compiled plans against the plain CPU forward pass (src/model/reference.ts), layer by layer, on
// random dense and conv models: every padding mode, pad_values, strides and dilation, BatchNorm
// folding edge cases (negative, zero and tiny scales), float first layers, quantizer layers,
// several inputs and outputs, batch sizes up to the plan's maximum.
//
// Weights and inputs are drawn so that no sign is decided by rounding (bench/random-weights.ts).
// Binary tensors then must match exactly; floats within 1e-4 relative.
import { describe, expect, test } from 'vitest';
import { LimitError } from '../src/gpu/errors.js';
import { layers, model, input, sequential, type Model } from '../src/model/model.js';
import { referenceForward } from '../src/model/reference.js';
import { lowerModel } from '../src/plan/lower.js';
import { InferencePlan } from '../src/plan/plan.js';
import { expectClose, expectExact } from './helpers/check.js';
import { useGpu } from './helpers/gpu.js';
import { randomInputs, randomizeWeights } from '../bench/random-weights.js';
import { rngFor } from './helpers/random.js';

const gpu = useGpu();
const both = { inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip' };

/** The seed MLP's shape (BinaryNet on MNIST, Larq's example), small. */
const mlp = (hidden: number[], binaryInput: boolean) =>
  sequential([
    layers.flatten({ inputShape: [5, 7, 1] }),
    layers.quantDense({ units: hidden[0], kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', useBias: false, ...(binaryInput ? { inputQuantizer: 'ste_sign' } : {}) }),
    layers.batchNormalization({ momentum: 0.99, scale: false }),
    ...hidden.slice(1).flatMap((u) => [layers.quantDense({ units: u, ...both, useBias: false }), layers.batchNormalization({ scale: false })]),
    layers.quantDense({ units: 10, ...both, useBias: false }),
    layers.batchNormalization({ scale: false }),
    layers.activation({ activation: 'softmax' }),
  ]);

const MODELS: Record<string, () => Model> = {
  'seed MLP (binary input)': () => mlp([33, 40, 64], true),
  'MLP with a real-valued first layer': () => mlp([31, 17], false),
  'CNN: real first layer, pad_values 0 and 1, strides, dilation, pooling on bits': () =>
    sequential([
      layers.quantConv2d({ filters: 16, kernelSize: 3, padding: 'same', kernelQuantizer: 'ste_sign', inputShape: [9, 11, 3] }),
      layers.batchNormalization(),
      layers.maxPooling2d({ poolSize: 2, padding: 'same' }),
      layers.quantConv2d({ filters: 35, kernelSize: 3, padding: 'same', padValues: 1, ...both }),
      layers.batchNormalization(),
      layers.quantConv2d({ filters: 33, kernelSize: [3, 2], strides: 2, padding: 'same', ...both }),
      layers.batchNormalization({ center: false }),
      layers.quantConv2d({ filters: 64, kernelSize: 2, dilationRate: 2, padding: 'valid', ...both, useBias: false }),
      layers.batchNormalization(),
      layers.flatten(),
      layers.quantDense({ units: 10, ...both }),
      layers.batchNormalization(),
      layers.activation({ activation: 'softmax' }),
    ]),
  // XNOR-Net's magnitude_aware_sign kernels on binary inputs: binary kernels, alpha in the epilogue.
  'XNOR-Net kernels (alpha * sign(W)): sign-select first layer, thresholds and affine epilogues with alpha folded in': () =>
    sequential([
      layers.quantConv2d({ filters: 12, kernelSize: 3, padding: 'same', kernelQuantizer: 'magnitude_aware_sign', inputShape: [7, 7, 3] }),
      layers.batchNormalization(),
      layers.quantConv2d({ filters: 12, kernelSize: 3, padding: 'same', inputQuantizer: 'ste_sign', kernelQuantizer: 'magnitude_aware_sign' }),
      layers.batchNormalization(),
      layers.quantConv2d({ filters: 9, kernelSize: 3, inputQuantizer: 'ste_sign', kernelQuantizer: 'magnitude_aware_sign', useBias: true }),
      layers.flatten(),
      layers.quantDense({ units: 30, inputQuantizer: 'ste_sign', kernelQuantizer: 'magnitude_aware_sign' }),
      layers.batchNormalization(),
      layers.quantDense({ units: 5, inputQuantizer: 'ste_sign', kernelQuantizer: 'magnitude_aware_sign' }),
      layers.activation({ activation: 'softmax' }),
    ]),
  // TWN / Larq's ste_tern kernels on binary inputs: the ternary kernels, thresholds and affine epilogues.
  'ternary kernels (TWN and a fixed threshold) on binary inputs: ternary GEMM and convolutions': () =>
    sequential([
      layers.quantConv2d({ filters: 10, kernelSize: 3, padding: 'same', inputQuantizer: 'ste_sign', kernelQuantizer: { class_name: 'SteTern', config: { ternary_weight_networks: true } }, inputShape: [7, 6, 3] }),
      layers.batchNormalization(),
      layers.quantConv2d({ filters: 33, kernelSize: 3, padding: 'same', padValues: 1, inputQuantizer: 'ste_sign', kernelQuantizer: { class_name: 'SteTern', config: { threshold_value: 0.1 } } }),
      layers.batchNormalization(),
      layers.flatten(),
      layers.quantDense({ units: 21, inputQuantizer: 'ste_sign', kernelQuantizer: { class_name: 'SteTern', config: { ternary_weight_networks: true } } }),
      layers.batchNormalization({ center: false }),
      layers.quantDense({ units: 5, inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_tern', useBias: true }),
      layers.activation({ activation: 'softmax' }),
    ]),
  // DoReFa k-bit activations and weights: the bit-serial kernels (levels packed as planes on the GPU).
  // No bias before a DoReFa input: the test's half-integer biases put values on rounding ties.
  'DoReFa (3-bit activations x 1-bit weights, 2 x 2, 4 x 3): bit-serial GEMM and convolutions': () =>
    sequential([
      layers.quantConv2d({ filters: 12, kernelSize: 3, padding: 'same', kernelQuantizer: { class_name: 'DoReFa', config: { k_bit: 1, mode: 'weights' } }, inputShape: [7, 6, 3] }),
      layers.batchNormalization(),
      layers.quantConv2d({ filters: 9, kernelSize: 3, padding: 'same', inputQuantizer: { class_name: 'DoReFa', config: { k_bit: 3, mode: 'activations' } }, kernelQuantizer: { class_name: 'DoReFa', config: { k_bit: 1, mode: 'weights' } } }),
      layers.batchNormalization(),
      layers.quantConv2d({ filters: 33, kernelSize: 2, strides: 2, inputQuantizer: { class_name: 'DoReFa', config: { k_bit: 2, mode: 'activations' } }, kernelQuantizer: { class_name: 'DoReFa', config: { k_bit: 2, mode: 'weights' } }, useBias: false }),
      layers.flatten(),
      layers.quantDense({ units: 20, inputQuantizer: { class_name: 'DoReFa', config: { k_bit: 4, mode: 'activations' } }, kernelQuantizer: { class_name: 'DoReFa', config: { k_bit: 3, mode: 'weights' } } }),
      layers.batchNormalization(),
      layers.quantDense({ units: 5, inputQuantizer: { class_name: 'DoReFa', config: { k_bit: 3, mode: 'activations' } }, kernelQuantizer: { class_name: 'DoReFa', config: { k_bit: 1, mode: 'weights' } } }),
      layers.activation({ activation: 'softmax' }),
    ]),
  // BinaryNet's shift-based BatchNorm: folded into thresholds and affine maps with AP2(gamma) AP2(1/sigma).
  'shift-based BatchNorm, folded into thresholds and the output': () =>
    sequential([
      layers.quantDense({ units: 37, kernelQuantizer: 'ste_sign', inputShape: [20] }),
      layers.batchNormalization({ shiftBased: true }),
      layers.quantDense({ units: 33, ...both }),
      layers.batchNormalization({ shiftBased: true, center: false }),
      layers.quantDense({ units: 6, ...both }),
      layers.batchNormalization({ shiftBased: true }),
      layers.activation({ activation: 'softmax' }),
    ]),
  'CNN: bits flattened with C % 32 != 0, avg pooling, float head': () =>
    sequential([
      layers.quantConv2d({ filters: 5, kernelSize: 3, padding: 'valid', ...both, inputShape: [8, 8, 2] }),
      layers.batchNormalization(),
      layers.flatten(),
      layers.quantDense({ units: 12, ...both }),
      layers.batchNormalization(),
      layers.activation({ activation: 'relu' }),
      layers.dense({ units: 7, activation: 'tanh' }),
    ]),
  'float layers, quantizer layers, ternary / DoReFa / heaviside quantizers, avg pooling': () =>
    sequential([
      layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [6, 6, 2] }),
      layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }),
      // averages of integers over 1, 2 or 4 taps are multiples of 0.25: none is near 0.7
      layers.quantConv2d({ filters: 9, kernelSize: 1, inputQuantizer: { class_name: 'SteTern', config: { threshold_value: 0.7 } }, kernelQuantizer: { class_name: 'SteTern', config: { ternary_weight_networks: true } } }),
      layers.steSign(),
      layers.quantConv2d({ filters: 8, kernelSize: 3, kernelQuantizer: 'ste_sign', padding: 'same' }),
      layers.batchNormalization(),
      layers.activation({ activation: 'hard_tanh' }),
      layers.flatten(),
      layers.quantDense({ units: 6, inputQuantizer: 'dorefa_quantizer', kernelQuantizer: 'magnitude_aware_sign' }),
      layers.dropout({ rate: 0.5 }),
      layers.quantDense({ units: 5, inputQuantizer: 'ste_heaviside', kernelQuantizer: 'ste_sign' }),
    ]),
  "XNOR-Net's input scaling K (conv with stride and same padding, dense; alpha and ste_sign kernels)": () =>
    sequential([
      layers.quantConv2d({ filters: 12, kernelSize: 3, padding: 'same', kernelQuantizer: 'magnitude_aware_sign', inputShape: [7, 8, 3] }),
      layers.batchNormalization(),
      layers.quantConv2d({ filters: 33, kernelSize: 3, strides: 2, padding: 'same', inputQuantizer: 'ste_sign', kernelQuantizer: 'magnitude_aware_sign', xnorInputScale: true }),
      layers.batchNormalization(),
      layers.quantConv2d({ filters: 9, kernelSize: [3, 2], ...both, xnorInputScale: true, useBias: true }),
      layers.batchNormalization(),
      layers.flatten(),
      layers.quantDense({ units: 20, ...both, xnorInputScale: true }),
      layers.batchNormalization(),
      layers.quantDense({ units: 5, inputQuantizer: 'ste_sign', kernelQuantizer: 'magnitude_aware_sign', xnorInputScale: true }),
      layers.activation({ activation: 'softmax' }),
    ]),
  'ternary (TWN) kernels on real-valued inputs (conv, dense) and on binary inputs': () => {
    const twn = { class_name: 'SteTern', config: { ternary_weight_networks: true } };
    return sequential([
      layers.quantConv2d({ filters: 10, kernelSize: 3, padding: 'same', kernelQuantizer: twn, inputShape: [6, 7, 2] }),
      layers.batchNormalization(),
      layers.quantConv2d({ filters: 33, kernelSize: 3, strides: 2, inputQuantizer: 'ste_sign', kernelQuantizer: twn }),
      layers.batchNormalization(),
      layers.flatten(),
      layers.quantDense({ units: 7, kernelQuantizer: 'ste_tern', activation: 'relu' }),
      layers.batchNormalization(),
      layers.quantDense({ units: 4, inputQuantizer: 'ste_sign', kernelQuantizer: twn }),
      layers.activation({ activation: 'softmax' }),
    ]);
  },
  'functional: two inputs, two outputs, a shared trunk': () => {
    const a = input({ shape: [20], name: 'a' });
    const b = input({ shape: [4, 4, 3], name: 'b' });
    const h = layers.batchNormalization().apply(layers.quantDense({ units: 24, kernelQuantizer: 'ste_sign', name: 'trunk' }).apply(a));
    const head1 = layers.quantDense({ units: 3, ...both, name: 'head1' }).apply(h);
    const bits = layers.steSign({ name: 'bits' }).apply(layers.quantConv2d({ filters: 40, kernelSize: 3, ...both, padding: 'same' }).apply(b));
    const head2 = layers.quantDense({ units: 4, ...both, name: 'head2' }).apply(layers.flatten().apply(layers.maxPooling2d().apply(bits)));
    return model({ inputs: [a, b], outputs: [head1, head2] });
  },
  // Bi-Real Net's block (sign -> binary conv -> BN -> + the real-valued input), both ways of writing the
  // sign; a downsampling block whose shortcut is pooled and concatenated with itself; global pooling.
  'functional: Add shortcuts (standalone SteSign and input_quantizer), pooled shortcut concatenated with itself, GAP': () => {
    const x = input({ shape: [6, 6, 3] });
    const stem = layers.batchNormalization().apply(layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same' }).apply(x));
    const conv = (filters: number, extra: Record<string, unknown> = {}) => layers.quantConv2d({ filters, kernelSize: 3, padding: 'same', kernelQuantizer: 'ste_sign', useBias: false, ...extra });
    const main1 = layers.batchNormalization().apply(conv(8, { padValues: 1 }).apply(layers.steSign().apply(stem)));
    const b1 = layers.add().apply([main1, stem]);
    const b2 = layers.add().apply([layers.batchNormalization().apply(conv(8, { inputQuantizer: 'ste_sign' }).apply(b1)), b1]);
    const pooled = layers.averagePooling2d().apply(b2);
    const shortcut = layers.concatenate().apply([pooled, pooled]);
    const b3 = layers.add().apply([layers.batchNormalization().apply(conv(16, { inputQuantizer: 'ste_sign', strides: 2 }).apply(b2)), shortcut]);
    const head = layers.dense({ units: 5, activation: 'softmax' }).apply(layers.globalAveragePooling2d().apply(b3));
    return model({ inputs: x, outputs: head });
  },
  'functional: ZeroPadding2D, Reshape of bits (repacked) and of floats, Concatenate of bits and floats, GAP keepdims, Add of three': () => {
    const x = input({ shape: [5, 5, 2] });
    const padded = layers.zeroPadding2d({ padding: [[1, 0], [2, 1]] }).apply(x); // [6, 8, 2]
    const bn = layers.batchNormalization().apply(layers.quantConv2d({ filters: 6, kernelSize: 3, kernelQuantizer: 'ste_sign' }).apply(padded)); // [4, 6, 6]
    const bits = layers.steSign().apply(bn);
    const rows = layers.reshape({ targetShape: [-1, 16] }).apply(bits); // [9, 16]: the last axis changes, 6 % 32 != 0
    const head1 = layers.quantDense({ units: 8, kernelQuantizer: 'ste_sign' }).apply(layers.flatten().apply(rows));
    // A sign of the BatchNorm seen through a Reshape whose last axis (16) is no multiple of its channels (6): decided per channel all the same.
    const signedRows = layers.steSign().apply(layers.reshape({ targetShape: [-1, 16] }).apply(bn));
    const head3 = layers.quantDense({ units: 5, kernelQuantizer: 'ste_sign', name: 'head3' }).apply(signedRows);
    const floats = layers.reshape({ targetShape: [2, 12, 6] }).apply(bn);
    const both2 = layers.concatenate({ axis: 3 }).apply([layers.zeroPadding2d({ padding: 1 }).apply(floats), layers.zeroPadding2d({ padding: 1 }).apply(layers.reshape({ targetShape: [2, 12, 6] }).apply(bits))]); // [4, 14, 12]
    const gap = layers.globalAveragePooling2d({ keepdims: true }).apply(both2); // [1, 1, 12]
    const sum = layers.add().apply([gap, gap, layers.conv2d({ filters: 12, kernelSize: 1 }).apply(gap)]);
    const head2 = layers.dense({ units: 3 }).apply(layers.reshape({ targetShape: [12] }).apply(sum));
    return model({ inputs: x, outputs: [head1, head2, head3] });
  },
  'functional: Concatenate of bits (word by word where whole words lead, else unpacked), of sign-only and of full bits': () => concatOfBits(),
  'functional: GlobalMaxPooling2D on bits (an AND over the image) and on floats, keepdims': () => {
    const x = input({ shape: [5, 6, 3] });
    const bn = layers.batchNormalization().apply(layers.quantConv2d({ filters: 33, kernelSize: 3, padding: 'same', kernelQuantizer: 'ste_sign' }).apply(x));
    const bits = layers.globalMaxPooling2d({ name: 'gmp_bits' }).apply(layers.steSign().apply(bn)); // [33]: signs pooled as bits
    const head1 = layers.quantDense({ units: 4, kernelQuantizer: 'ste_sign', name: 'head1' }).apply(bits);
    const floats = layers.globalMaxPooling2d({ keepdims: true, name: 'gmp_floats' }).apply(bn); // [1, 1, 33]
    const head2 = layers.dense({ units: 3, activation: 'softmax' }).apply(layers.flatten().apply(floats));
    return model({ inputs: x, outputs: [head1, head2] });
  },
};

/** Binary convolutions whose outputs are concatenated before the next binary convolution, both orders; then SteSign layers' bits concatenated. */
function concatOfBits(): Model {
  const x = input({ shape: [5, 5, 3] });
  const conv = (filters: number, extra: Record<string, unknown> = both) => layers.quantConv2d({ filters, kernelSize: 3, padding: 'same', ...extra });
  const s = layers.steSign().apply(x);
  const a = layers.batchNormalization().apply(conv(32).apply(s));
  const b = layers.batchNormalization().apply(conv(5).apply(s));
  const d = layers.batchNormalization().apply(conv(32).apply(layers.concatenate({ name: 'cat_words' }).apply([a, b])));
  const f = layers.batchNormalization().apply(conv(7).apply(layers.concatenate({ name: 'cat_unpacked' }).apply([b, a])));
  const signs = layers.concatenate({ name: 'cat_signs' }).apply([layers.steSign().apply(d), layers.steSign().apply(f)]);
  const g = conv(6, { kernelQuantizer: 'ste_sign', name: 'reads_signs' }).apply(signs);
  return model({ inputs: x, outputs: layers.dense({ units: 4, activation: 'softmax' }).apply(layers.flatten().apply(g)) });
}

const tolerance = (want: Float32Array) => Float32Array.from(want, (v) => 1e-4 * (1 + Math.abs(v)));

describe.each(Object.entries(MODELS))('%s', (name, build) => {
  test('model outputs and every binarized activation equal the reference (batch 1, 3, max)', async () => {
    const rng = rngFor(name);
    const m = build();
    randomizeWeights(m, rng);
    const plan = await InferencePlan.compile(gpu(), m, { maxBatch: 5 });
    try {
      const quantizedInputs = m.layers.filter((l) => 'input_quantizer' in l.config && l.config.input_quantizer !== null).map((l) => `${l.name}:input`);
      for (const batch of [1, 3, 5]) {
        const xs = randomInputs(m, rng, batch);
        const ref = referenceForward(m.spec, xs, batch);
        const got = await plan.run(xs, { outputs: [...m.outputs, ...quantizedInputs] });
        for (const out of m.outputs) expectClose(got.get(out)!.data, ref.get(out)!.data, tolerance(ref.get(out)!.data), `${out} (batch ${batch})`);
        for (const q of quantizedInputs) expectExact(got.get(q)!.data, ref.get(q)!.data, `${q} (batch ${batch})`);
      }
    } finally {
      plan.destroy();
    }
  });

  test('every layer output, asked for by name, equals the reference; the fp32-kernel plan agrees', async () => {
    const rng = rngFor(`${name} by layer`);
    const m = build();
    randomizeWeights(m, rng);
    const xs = randomInputs(m, rng, 2);
    const ref = referenceForward(m.spec, xs, 2);
    for (const kernels of ['binary', 'float'] as const) {
      const plan = await InferencePlan.compile(gpu(), m, { maxBatch: 2, kernels });
      try {
        const names = m.layers.map((l) => l.name);
        const got = await plan.run(xs, { outputs: names });
        for (const n of names) {
          const g = got.get(n)!;
          const want = ref.get(n)!.data;
          expect(g.shape, n).toEqual(ref.get(n)!.shape);
          if (g.bits) expectExact(g.data, want, `${n} (${kernels} kernels, bits)`);
          else expectClose(g.data, want, tolerance(want), `${n} (${kernels} kernels)`);
        }
      } finally {
        plan.destroy();
      }
    }
  });
});

describe('the plan', () => {
  test('Concatenate stays on bits where the leading inputs fill whole words, signs only where only signs are read; a layer reading concatenated SteSign bits runs on XNOR', () => {
    const lowered = lowerModel(concatOfBits().spec);
    const ops = lowered.steps.map((s) => `${s.layers.at(-1)}:${s.op === 'binaryConv' ? `${s.op}:${s.epilogue.kind}` : s.op}`);
    expect(ops.filter((o) => /cat_|reads_signs/.test(o))).toEqual(['cat_words:concatBits', 'cat_unpacked:unpack', 'cat_unpacked:unpack', 'cat_unpacked:concat', 'cat_signs:concatBits', 'reads_signs:binaryConv:affine']);
    // The convolutions before the concatenations write only signs (threshold epilogues).
    expect(ops.filter((o) => /binaryConv:threshold/.test(o))).toHaveLength(4);
  });

  test('ste_tern kernels on binary inputs run on the ternary kernels (threshold epilogues between them)', () => {
    const q = { inputQuantizer: 'ste_sign', kernelQuantizer: { class_name: 'SteTern', config: { ternary_weight_networks: true } } };
    const m = sequential([layers.quantDense({ units: 40, ...q, inputShape: [50] }), layers.batchNormalization(), layers.quantDense({ units: 8, ...q }), layers.activation({ activation: 'softmax' })]);
    const steps = lowerModel(m.spec).steps;
    expect(steps.map((s) => (s.op === 'binaryDense' ? `${s.op}:${s.epilogue.kind}:${s.ternary ? 'ternary' : 'binary'}` : s.op))).toEqual(['pack', 'binaryDense:threshold:ternary', 'binaryDense:affine:ternary', 'softmax']);
  });

  test('DoReFa layers run on the bit-serial kernels, their inputs packed as planes (quantized to floats only when asked for)', () => {
    const a3 = { class_name: 'DoReFa', config: { k_bit: 3, mode: 'activations' } };
    const w1 = { class_name: 'DoReFa', config: { k_bit: 1, mode: 'weights' } };
    const m = sequential([layers.dense({ units: 40, useBias: false, inputShape: [50] }), layers.quantDense({ units: 30, inputQuantizer: a3, kernelQuantizer: w1 }), layers.batchNormalization(), layers.quantDense({ units: 8, inputQuantizer: a3, kernelQuantizer: w1 }), layers.activation({ activation: 'softmax' })]);
    const ops = lowerModel(m.spec).steps.map((s) => s.op);
    expect(ops).toEqual(['floatDense', 'dorefaPlanes', 'bitSerialDense', 'dorefaPlanes', 'bitSerialDense', 'softmax']);
    // The quantized input as floats only when it is asked for by name.
    const kept = lowerModel(m.spec, { keep: ['quant_dense:input'] }).steps.map((s) => s.op);
    expect(kept).toEqual(['floatDense', 'quantize', 'dorefaPlanes', 'bitSerialDense', 'dorefaPlanes', 'bitSerialDense', 'softmax']);
  });

  test("XNOR-Net's magnitude_aware_sign kernels run on the binary kernels, alpha folded into thresholds", () => {
    const q = { inputQuantizer: 'ste_sign', kernelQuantizer: 'magnitude_aware_sign' };
    const m = sequential([layers.quantDense({ units: 40, ...q, inputShape: [50] }), layers.batchNormalization(), layers.quantDense({ units: 8, ...q }), layers.activation({ activation: 'softmax' })]);
    const ops = lowerModel(m.spec).steps.map((s) => (s.op === 'binaryDense' ? `${s.op}:${s.epilogue.kind}` : s.op));
    expect(ops).toEqual(['pack', 'binaryDense:threshold', 'binaryDense:affine', 'softmax']);
  });

  test('a ternary layer on a real-valued input is one sign-select product of 2N channels (zeros as +1, then -1), halves summed with BN folded', () => {
    const twn = { class_name: 'SteTern', config: { ternary_weight_networks: true } };
    const m = sequential([layers.quantConv2d({ filters: 6, kernelSize: 3, kernelQuantizer: twn, inputShape: [5, 5, 1] }), layers.batchNormalization(), layers.flatten(), layers.quantDense({ units: 3, inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign' })]);
    const lowered = lowerModel(m.spec);
    const [conv, affine] = lowered.steps;
    expect([conv.op, affine.op, affine.op === 'affine' && affine.halves]).toEqual(['binaryFloatConv', 'affine', true]);
    expect(conv.op === 'binaryFloatConv' && conv.kernel).toEqual([12, 3, 3, 1]);
    expect([lowered.values[conv.y].shape, lowered.values[affine.y].shape]).toEqual([[3, 3, 12], [3, 3, 6]]);
  });

  test("XNOR-Net's K reads the real-valued input: the layer before writes floats, K scales the binary kernel's dot products", () => {
    const q = { inputQuantizer: 'ste_sign', kernelQuantizer: 'magnitude_aware_sign' };
    const m = sequential([layers.quantDense({ units: 40, ...q, inputShape: [50] }), layers.batchNormalization(), layers.quantDense({ units: 8, ...q, xnorInputScale: true }), layers.activation({ activation: 'softmax' })]);
    const ops = lowerModel(m.spec).steps.map((s) => (s.op === 'binaryDense' ? `${s.op}:${s.epilogue.kind}` : s.op));
    // The BN output is read in full (K) and signed: its signs come from the kernel once more with
    // integer thresholds (exact on the decision point), not from packing the f32 BN. The affine: the bias.
    expect(ops).toEqual(['pack', 'binaryDense:affine', 'xnorScale', 'binaryDense:threshold', 'binaryDense:affine', 'scaleRows', 'affine', 'softmax']);
    // Bits arriving at a K layer go to its kernel as they are; only K reads them unpacked.
    const fromBits = sequential([layers.dense({ units: 50, useBias: false, inputShape: [20] }), layers.quantizer('ste_sign'), layers.quantDense({ units: 8, ...q, xnorInputScale: true, useBias: false }), layers.activation({ activation: 'softmax' })]);
    expect(lowerModel(fromBits.spec).steps.map((s) => s.op)).toEqual(['floatDense', 'pack', 'unpack', 'xnorScale', 'binaryDense', 'scaleRows', 'softmax']);
  });

  /** Larq's MNIST example as its users write it: functional, no input quantizers, a standalone SteSign after each BatchNorm, biases. */
  const larqExample = (units: number) => {
    const x0 = input({ shape: [28, 28, 1] });
    let h = layers.flatten().apply(x0);
    for (const name of ['first_hidden_layer', 'second_hidden_layer', 'third_hidden_layer']) {
      h = layers.quantDense({ units, kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', name }).apply(h);
      h = layers.batchNormalization({ momentum: 0.99, scale: false }).apply(h);
      h = layers.steSign().apply(h);
    }
    return model({ inputs: x0, outputs: layers.quantDense({ units: 10, activation: 'softmax', kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', name: 'output_layer' }).apply(h) });
  };

  test("Larq's functional MLP with standalone SteSign layers runs on the XNOR kernels (its first layer too, on +-1 inputs)", async () => {
    const m = larqExample(48);
    const ops = (signInputs?: boolean[]) => lowerModel(m.spec, { signInputs }).steps.map((s) => (s.op === 'binaryDense' ? `${s.op}:${s.epilogue.kind}` : s.op));
    // Real-valued pixels: the first layer by sign-select, its BN's signs decided exactly, then bits to the end.
    expect(ops()).toEqual(['binaryFloatDense', 'thresholdQuantize', 'pack', 'binaryDense:threshold', 'binaryDense:threshold', 'binaryDense:affine', 'softmax']);
    // Pixels binarized before the model (as the example does): the same kernels as the zoo's mnistMlp().
    expect(ops([true])).toEqual(['pack', 'binaryDense:threshold', 'binaryDense:threshold', 'binaryDense:threshold', 'binaryDense:affine', 'softmax']);
    const rng = rngFor('larq example');
    randomizeWeights(m, rng);
    const plan = await InferencePlan.compile(gpu(), m, { maxBatch: 4 });
    try {
      const real = randomInputs(m, rng, 4);
      const signs = [Float32Array.from(real[0], (v) => (v < 0 ? -1 : 1))];
      const names = [m.outputs[0], 'ste_sign', 'ste_sign_1', 'ste_sign_2'];
      for (const xs of [real, signs, real]) {
        const ref = referenceForward(m.spec, xs, 4);
        const got = await plan.run(xs, { outputs: names });
        for (const n of names.slice(1)) expectExact(got.get(n)!.data, ref.get(n)!.data, n);
        const out = ref.get(m.outputs[0])!.data;
        expectClose(got.get(m.outputs[0])!.data, out, tolerance(out), 'output');
      }
    } finally {
      plan.destroy();
    }
  });

  // Regression: lowering once learned "this input holds +-1" from how the value was stored, so +-1
  // floats (a +-1 input max-pooled; SteSign outputs concatenated off word boundaries, unpacked) sent
  // the next layer to sign-select. The value facts know them +-1 from the graph: XNOR, still exact.
  test('+-1 values through max pooling or an unpacked concatenation run the next layer on XNOR (value facts, not storage)', async () => {
    const x = input({ shape: [4, 4, 3], name: 'x' });
    const reader = (name: string) => layers.quantConv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelQuantizer: 'ste_sign', name });
    const pooled = reader('reads_pooled').apply(layers.maxPooling2d({ poolSize: 2, strides: 1, name: 'pool' }).apply(x));
    const s1 = layers.steSign({ name: 's1' }).apply(x);
    const s2 = layers.steSign({ name: 's2' }).apply(layers.batchNormalization().apply(reader('c').apply(x)));
    const cat = reader('reads_cat').apply(layers.concatenate({ name: 'cat' }).apply([s1, s2])); // 3 + 4 channels: unpacked
    const m = model({ inputs: x, outputs: [pooled, cat] });
    const kinds = (signInputs?: boolean[]) => Object.fromEntries([...lowerModel(m.spec, { signInputs }).paths].map(([n, p]) => [n, p.kind]));
    expect(kinds()).toEqual({ reads_pooled: 'signSelect', c: 'signSelect', reads_cat: 'xnor' });
    expect(kinds([true])).toEqual({ reads_pooled: 'xnor', c: 'xnor', reads_cat: 'xnor' });
    const rng = rngFor('facts not storage');
    randomizeWeights(m, rng);
    const plan = await InferencePlan.compile(gpu(), m, { maxBatch: 2 });
    try {
      const real = randomInputs(m, rng, 2);
      const signs = [Float32Array.from(real[0], (v) => (v < 0 ? -1 : 1))];
      for (const xs of [signs, real]) {
        const ref = referenceForward(m.spec, xs, 2);
        const got = await plan.run(xs);
        for (const n of m.outputs) expectClose(got.get(n)!.data, ref.get(n)!.data, tolerance(ref.get(n)!.data), n);
      }
    } finally {
      plan.destroy();
    }
  });

  test('the seed MLP runs every hidden layer b1 -> b1 with thresholds, one pack at the input', () => {
    const lowered = lowerModel(mlp([512, 512, 512], true).spec);
    const ops = lowered.steps.map((s) => (s.op === 'binaryDense' ? `${s.op}:${s.epilogue.kind}` : s.op));
    expect(ops).toEqual(['pack', 'binaryDense:threshold', 'binaryDense:threshold', 'binaryDense:threshold', 'binaryDense:affine', 'softmax']);
    for (const s of lowered.steps.slice(1, 4)) {
      expect([lowered.values[s.x].rep, lowered.values[s.y].rep]).toEqual(['b1', 'b1']);
    }
  });

  test('a batch over maxBatch, a wrong input length and an unknown name are refused before any GPU work', async () => {
    const m = mlp([8], true);
    const plan = await InferencePlan.compile(gpu(), m, { maxBatch: 4 });
    try {
      await expect(plan.run(new Float32Array(35 * 5))).rejects.toThrow(LimitError);
      await expect(plan.run(new Float32Array(36))).rejects.toThrow(/not a whole number of samples/);
      await expect(plan.run(new Float32Array(35), { outputs: ['nope'] })).rejects.toThrow(/"nope" is not a layer/);
      await expect(plan.run(new Float32Array(35), { outputs: ['flatten:input'] })).rejects.toThrow(/has no input quantizer/);
      const ok = await plan.run(new Float32Array(35));
      expect(ok.get(m.outputs[0])!.data.length).toBe(10);
    } finally {
      plan.destroy();
    }
  });

  test("3x3 binary convolutions by BinaryNet's kernel reuse (convPath 'reuse' and 'auto') equal the reference", async () => {
    const rng = rngFor('reuse path');
    const m = sequential([
      layers.quantConv2d({ filters: 8, kernelSize: 3, padding: 'same', inputShape: [6, 7, 3], ...both }),
      layers.batchNormalization(),
      layers.quantConv2d({ filters: 9, kernelSize: 3, padding: 'same', padValues: 1, ...both }),
      layers.batchNormalization(),
      layers.flatten(),
      layers.quantDense({ units: 4, ...both }),
    ]);
    randomizeWeights(m, rng);
    const xs = randomInputs(m, rng, 2);
    const ref = referenceForward(m.spec, xs, 2);
    for (const convPath of ['reuse', 'auto'] as const) {
      const plan = await InferencePlan.compile(gpu(), m, { maxBatch: 2, convPath });
      try {
        const names = ['quant_conv2d_1:input', 'quant_dense:input', m.outputs[0]];
        const got = await plan.run(xs, { outputs: names });
        for (const n of names.slice(0, 2)) expectExact(got.get(n)!.data, ref.get(n)!.data, `${n} (${convPath})`);
        const out = ref.get(m.outputs[0])!.data;
        expectClose(got.get(m.outputs[0])!.data, out, tolerance(out), `output (${convPath})`);
      } finally {
        plan.destroy();
      }
    }
  });

  test('variants that fuse or pad differently keep their own weights (no output BatchNorm: same step names)', async () => {
    const rng = rngFor('variants');
    const m = sequential([
      layers.flatten({ inputShape: [5, 7, 1] }),
      layers.quantDense({ units: 40, ...both, useBias: false }),
      layers.batchNormalization({ scale: false }),
      layers.quantDense({ units: 10, ...both, useBias: false }), // its input: bits by default, floats packed with padding when the BN is read
      layers.activation({ activation: 'softmax' }),
    ]);
    randomizeWeights(m, rng);
    const xs = randomInputs(m, rng, 3);
    const ref = referenceForward(m.spec, xs, 3);
    const plan = await InferencePlan.compile(gpu(), m, { maxBatch: 3 });
    try {
      for (const outputs of [['activation'], m.layers.map((l) => l.name), ['activation']]) {
        const got = await plan.run(xs, { outputs });
        for (const n of outputs) expectClose(got.get(n)!.data, ref.get(n)!.data, tolerance(ref.get(n)!.data), `${n} (reading ${outputs.length} names)`);
      }
    } finally {
      plan.destroy();
    }
  });

  test('intermediates share buffers: the arena holds less than the sum of the intermediates', async () => {
    const m = mlp([64, 64, 64, 64, 64], true);
    const plan = await InferencePlan.compile(gpu(), m, { maxBatch: 64 });
    try {
      await plan.run(new Float32Array(35 * 64));
      const mem = plan.memory(64)!;
      expect(mem.arenaBytes).toBeLessThan(mem.intermediateBytes);
    } finally {
      plan.destroy();
    }
  });
});
