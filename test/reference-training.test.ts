// The CPU training reference (src/model/reference-training.ts) against finite differences where
// the layers are smooth, and against Larq's straight-through estimators worked by hand where they
// are not. GPU training is tested against this reference.
import { describe, expect, test } from 'vitest';
import { input, layers, model, sequential, type Model } from '../src/model/model.js';
import { referenceTrainingStep, type TrainingStepOptions } from '../src/model/reference-training.js';
import { rngFor } from './helpers/random.js';

type Labels = ArrayLike<number> | ArrayLike<number>[];

function lossOf(m: Model, x: Float32Array | Float32Array[], labels: Labels, batch: number, options: TrainingStepOptions): number {
  return referenceTrainingStep(m.spec, x, labels, batch, options).loss;
}

/**
 * Every trainable weight's gradient and each input's against central differences of the (total)
 * loss (step 1e-3 in f32). `kinks`: the model has max pooling, so the loss is only piecewise smooth:
 * where a step of 1e-3 moves a pooled maximum to another element, the central difference straddles
 * two pieces, and the gradient (the current maximum's) must instead match the one-sided difference
 * on one side (error O(h): tolerance 1e-3).
 */
function expectFiniteDifferences(m: Model, x: Float32Array | Float32Array[], labels: Labels, batch: number, tol = 1e-4, options: TrainingStepOptions & { kinks?: boolean } = {}): void {
  const { grads, inputGrads } = referenceTrainingStep(m.spec, x, labels, batch, options);
  const check = (name: string, v: Float32Array, g: ArrayLike<number>) => {
    for (let i = 0; i < v.length; i++) {
      const orig = v[i];
      const plus = Math.fround(orig + 1e-3);
      const minus = Math.fround(orig - 1e-3);
      v[i] = plus;
      const lp = lossOf(m, x, labels, batch, options);
      v[i] = minus;
      const lm = lossOf(m, x, labels, batch, options);
      v[i] = orig;
      const fd = (lp - lm) / (plus - minus);
      const ok = (d: number, t: number) => Math.abs(d - g[i]) <= t * (1 + Math.abs(d)) + 1e-6;
      if (options.kinks && !ok(fd, tol)) {
        const l0 = lossOf(m, x, labels, batch, options);
        const right = (lp - l0) / (plus - orig);
        const left = (l0 - lm) / (orig - minus);
        expect(ok(right, 1e-3) || ok(left, 1e-3), `${name}[${i}]: one-sided differences ${left}, ${right} (central ${fd}), gradient ${g[i]}`).toBe(true);
        continue;
      }
      expect(Math.abs(fd - g[i]), `${name}[${i}]: finite difference ${fd}, gradient ${g[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(fd)) + 1e-6);
    }
  };
  for (const [name, g] of grads) check(name, m.weight(name).data as Float32Array, g);
  (Array.isArray(x) ? x : [x]).forEach((v, i) => check(`input ${i}`, v, inputGrads[i]));
}

/** Random weights in [-1, 1] (gamma near 1); moving statistics untouched. */
function randomWeights(m: Model, rng: ReturnType<typeof rngFor>): void {
  for (const [name, w] of m.spec.weights) if (!name.includes('moving')) m.setWeight(name, rng.floats(w.data.length, -1, 1).map((v) => (name.endsWith('gamma') ? 1 + v / 2 : v)));
}

/** n distinct values 0.05 apart in random order: no two within a finite-difference step (max pooling away from ties). */
function distinct(rng: ReturnType<typeof rngFor>, n: number): Float32Array {
  const v = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.05);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [v[i], v[j]] = [v[j], v[i]];
  }
  return Float32Array.from(v);
}

const softmaxHead = (units = 3) => [layers.flatten(), layers.dense({ units, activation: 'softmax' })];

describe('referenceTrainingStep', () => {
  test('float layers: every gradient equals central finite differences of the loss', () => {
    const rng = rngFor('fd');
    const m = sequential([
      layers.dense({ units: 5, activation: 'tanh', inputShape: [6] }),
      layers.batchNormalization({ momentum: 0.9 }),
      layers.activation({ activation: 'sigmoid' }),
      layers.dense({ units: 4 }),
      layers.batchNormalization({ center: false }),
      layers.activation({ activation: 'softmax' }),
    ]);
    randomWeights(m, rng);
    const batch = 5;
    const x = rng.floats(batch * 6, -2, 2);
    const labels = [0, 3, 1, 2, 3];
    const { grads } = referenceTrainingStep(m.spec, x, labels, batch);
    expect([...grads.keys()].sort()).toEqual(['batch_normalization/beta', 'batch_normalization/gamma', 'batch_normalization_1/gamma', 'dense/bias', 'dense/kernel', 'dense_1/bias', 'dense_1/kernel']);
    expectFiniteDifferences(m, x, labels, batch);
  });

  const NO_OP = { class_name: 'NoOp', config: { precision: 1 } }; // the identity, through the quantizers' f32 plumbing
  test.each([
    ['Conv2D valid, bias, tanh', { filters: 3, kernelSize: 3, activation: 'tanh' }, [5, 5, 2]],
    ['Conv2D same, stride 2, no bias, 3x2 kernel', { filters: 2, kernelSize: [3, 2], strides: 2, padding: 'same', useBias: false }, [5, 6, 2]],
    ['Conv2D valid, stride [2, 1]', { filters: 2, kernelSize: 2, strides: [2, 1] }, [5, 4, 3]],
    ['Conv2D same, dilation 2', { filters: 2, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'sigmoid' }, [6, 5, 1]],
    ['Conv2D valid, dilation [2, 1]', { filters: 2, kernelSize: 2, dilationRate: [2, 1] }, [5, 4, 2]],
    ['QuantConv2D without quantizers, same, pad_values 1, stride 2, 4x3 kernel', { filters: 2, kernelSize: [4, 3], strides: 2, padding: 'same', padValues: 1 }, [5, 5, 2]],
    ['QuantConv2D with identity quantizers, same, pad_values 1', { filters: 2, kernelSize: 3, padding: 'same', padValues: 1, inputQuantizer: NO_OP, kernelQuantizer: NO_OP }, [4, 4, 2]],
    ['QuantConv2D with identity quantizers, same, pad_values 0', { filters: 2, kernelSize: 2, padding: 'same', padValues: 0, inputQuantizer: NO_OP, kernelQuantizer: NO_OP }, [3, 4, 2]],
  ] as const)('%s: kernel, bias and input gradients equal finite differences', (name, args, inputShape) => {
    const rng = rngFor(name);
    const quant = 'padValues' in args;
    const conv = quant ? layers.quantConv2d({ ...args, inputShape: [...inputShape] }) : layers.conv2d({ ...args, inputShape: [...inputShape] });
    const m = sequential([conv, ...softmaxHead()]);
    randomWeights(m, rng);
    const batch = 2;
    const x = rng.floats(batch * inputShape.reduce((a: number, b) => a * b, 1), -1.5, 1.5);
    const tol = 'inputQuantizer' in args ? 1e-3 : 1e-4; // the quantizers round to f32
    expectFiniteDifferences(m, x, [2, 0], batch, tol);
  });

  // XNOR-Net's input scaling K: inputs with 1 < |x| < 3 keep sign(x) fixed and ste_sign's gradient 0,
  // so the loss is smooth in x through K alone; float kernels keep it smooth in W.
  test.each([
    ['QuantConv2D same, 3x3', 'conv', { filters: 3, kernelSize: 3, padding: 'same' }, [4, 5, 2]],
    ['QuantConv2D same, stride 2, 3x2 kernel, bias, tanh', 'conv', { filters: 2, kernelSize: [3, 2], strides: 2, padding: 'same', useBias: true, activation: 'tanh' }, [5, 6, 3]],
    ['QuantConv2D valid, dilation 2, pad_values 1', 'conv', { filters: 2, kernelSize: 2, dilationRate: 2, padValues: 1 }, [5, 4, 2]],
    ['QuantDense, bias', 'dense', { units: 4, useBias: true }, [7]],
  ] as const)("XNOR-Net's input scaling K, %s: kernel, bias and input gradients equal finite differences", (name, kind, args, inputShape) => {
    const rng = rngFor(`xnor K ${name}`);
    const k = { ...args, inputQuantizer: 'ste_sign', xnorInputScale: true, inputShape: [...inputShape] };
    const m = sequential([kind === 'conv' ? layers.quantConv2d(k) : layers.quantDense(k), ...softmaxHead()]);
    randomWeights(m, rng);
    const batch = 2;
    const x = rng.floats(batch * inputShape.reduce((a: number, b) => a * b, 1), 1.1, 2.9).map((v) => (rng.int(2) ? v : -v));
    expectFiniteDifferences(m, x, [2, 0], batch);
  });

  test('xnor_input_scale needs a binary input quantizer', () => {
    expect(() => sequential([layers.quantDense({ units: 2, xnorInputScale: true, inputShape: [3] })])).toThrow(/xnor_input_scale scales a binarized input.*input_quantizer "ste_sign"/);
    expect(() => sequential([layers.quantDense({ units: 2, inputQuantizer: 'dorefa_quantizer', xnorInputScale: true, inputShape: [3] })])).toThrow(/not binary/);
  });

  test.each([
    ['MaxPooling2D 2x2 valid', 'max', { poolSize: 2 }, [4, 5, 2]],
    ['MaxPooling2D 3x3 same, stride 2 (overlapping windows)', 'max', { poolSize: 3, strides: 2, padding: 'same' }, [5, 6, 2]],
    ['MaxPooling2D [2, 3] same, strides [1, 2]', 'max', { poolSize: [2, 3], strides: [1, 2], padding: 'same' }, [3, 5, 1]],
    ['AveragePooling2D 2x2 valid', 'avg', { poolSize: 2 }, [4, 5, 2]],
    ['AveragePooling2D 3x3 same, stride 2 (divisor: the taps inside)', 'avg', { poolSize: 3, strides: 2, padding: 'same' }, [5, 6, 2]],
    ['AveragePooling2D [2, 3] same, strides [1, 2]', 'avg', { poolSize: [2, 3], strides: [1, 2], padding: 'same' }, [3, 5, 1]],
  ] as const)('%s: input gradient equals finite differences (inputs 0.05 apart: no ties)', (name, kind, args, inputShape) => {
    const rng = rngFor(name);
    const pool = kind === 'max' ? layers.maxPooling2d({ ...args, inputShape: [...inputShape] }) : layers.averagePooling2d({ ...args, inputShape: [...inputShape] });
    const m = sequential([pool, ...softmaxHead()]);
    randomWeights(m, rng);
    const batch = 2;
    expectFiniteDifferences(m, distinct(rng, batch * inputShape.reduce((a: number, b) => a * b, 1)), [1, 2], batch);
  });

  test('Conv2D then AveragePooling2D then BatchNormalization: the chain, weights and input, equals finite differences', () => {
    const rng = rngFor('conv-pool-bn');
    const m = sequential([
      layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh', inputShape: [5, 5, 2] }),
      layers.averagePooling2d({ poolSize: 2, padding: 'same' }),
      layers.batchNormalization(),
      layers.dropout({ rate: 0 }),
      ...softmaxHead(),
    ]);
    randomWeights(m, rng);
    expectFiniteDifferences(m, rng.floats(3 * 50, -1, 1), [0, 1, 2], 3);
  });

  test('MaxPooling2D ties: the gradient goes to the first maximum in row-major window order', () => {
    const m = sequential([layers.maxPooling2d({ poolSize: 2, padding: 'same', inputShape: [3, 3, 1] }), ...softmaxHead(2)]);
    m.setWeight('dense/kernel', new Float32Array([0.5, -0.5, 0.25, 1, -1, 0.75, 0.1, 0.2]));
    // Window (0, 0) holds [0, 0.9, 0.9, 0.3]: the 0.9 at (0, 1) gets it; window (1, 1) is (2, 2) alone.
    // Windows (0, 1) = [0.9 at (0, 2), 0.9 at (1, 2)] and (1, 0) = [0.2, 0.2] (row 2) also tie.
    const x = new Float32Array([0, 0.9, 0.9, 0.9, 0.3, 0.9, 0.2, 0.2, 0.4]);
    const r = referenceTrainingStep(m.spec, x, [1], 1);
    const d = r.grads.get('dense/kernel')!; // [4 pooled, 2]: dL/dW[k][n] = pooled[k] * dlogits[n]
    const pooled = [x[1], x[2], x[6], x[8]];
    const dlogits = [d[0] / pooled[0], d[1] / pooled[0]];
    const w = m.weight('dense/kernel').data;
    const g = [0, 1, 2, 3].map((k) => dlogits[0] * w[k * 2] + dlogits[1] * w[k * 2 + 1]); // dL/dpooled
    const want = [0, g[0], g[1], 0, 0, 0, g[2], 0, g[3]];
    want.forEach((v, i) => expect(r.inputGrad[i], `input[${i}]`).toBeCloseTo(v, 12));
  });

  test("QuantConv2D with ste_sign: Dense's straight-through estimators (1x1 equals QuantDense; clipped inputs and weights get 0)", () => {
    const rng = rngFor('ste-conv');
    const q = { inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', inputShape: [2, 3, 4] };
    const conv = sequential([layers.quantConv2d({ filters: 3, kernelSize: 1, ...q }), ...softmaxHead()]);
    const dense = sequential([layers.quantDense({ units: 3, ...q }), ...softmaxHead()]);
    randomWeights(conv, rng);
    conv.setWeight('quant_conv2d/kernel', rng.floats(12, -2, 2)); // some |w| > 1
    for (const [name, w] of conv.spec.weights) dense.setWeight(name.replace('quant_conv2d', 'quant_dense'), w.data as Float32Array); // HWIO [1, 1, 4, 3] = [4, 3]
    const x = rng.floats(2 * 24, -2, 2);
    const rc = referenceTrainingStep(conv.spec, x, [0, 2], 2);
    const rd = referenceTrainingStep(dense.spec, x, [0, 2], 2);
    expect(rc.loss).toBeCloseTo(rd.loss, 12);
    expect([...rc.inputGrad]).toEqual([...rd.inputGrad]);
    expect([...rc.grads.get('quant_conv2d/kernel')!]).toEqual([...rd.grads.get('quant_dense/kernel')!]);
    expect([...rc.grads.get('quant_conv2d/bias')!]).toEqual([...rd.grads.get('quant_dense/bias')!]);

    // 3x3 'same' with the +1 border: the quantizers' backward masks exactly where |x| > 1 and |w| > 1,
    // and the input quantizer as a layer of its own gives the same step.
    const args = { filters: 2, kernelSize: 3, padding: 'same', padValues: 1, kernelQuantizer: 'ste_sign' };
    const fused = sequential([layers.quantConv2d({ ...args, inputQuantizer: 'ste_sign', inputShape: [4, 4, 2] }), ...softmaxHead()]);
    const split = sequential([layers.inputLayer({ inputShape: [4, 4, 2] }), layers.steSign(), layers.quantConv2d(args), ...softmaxHead()]);
    randomWeights(fused, rng);
    const kernel = rng.floats(3 * 3 * 2 * 2, -2, 2);
    fused.setWeight('quant_conv2d/kernel', kernel);
    for (const [name, w] of fused.spec.weights) split.setWeight(name, w.data as Float32Array);
    const x2 = rng.floats(2 * 32, -2, 2);
    const rf = referenceTrainingStep(fused.spec, x2, [1, 0], 2);
    const rs = referenceTrainingStep(split.spec, x2, [1, 0], 2);
    expect(rf.loss).toBeCloseTo(rs.loss, 12);
    expect([...rf.inputGrad]).toEqual([...rs.inputGrad]);
    x2.forEach((v, i) => Math.abs(v) > 1 && expect(rf.inputGrad[i], `input[${i}] = ${v}`).toBe(0));
    const dk = rf.grads.get('quant_conv2d/kernel')!;
    kernel.forEach((v, i) => Math.abs(v) > 1 && expect(dk[i], `kernel[${i}] = ${v}`).toBe(0));
    expect(rf.inputGrad.some((g, i) => Math.abs(x2[i]) <= 1 && g !== 0)).toBe(true);
  });

  test("QuantDense with ste_sign: Larq's straight-through estimators, worked by hand", () => {
    const m = sequential([
      layers.quantDense({ units: 2, inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', useBias: false, inputShape: [3] }),
      layers.activation({ activation: 'softmax' }),
    ]);
    // W [in 3, out 2]; |W| > 1 at [2][1]: ste_sign passes no gradient there.
    m.setWeight('quant_dense/kernel', new Float32Array([0.5, -0.2, -0.3, 0.9, 0.1, -1.5]));
    const x = new Float32Array([0.4, -2, 0, -0.5, 0.7, 1]); // |x| > 1 at [0][1]: no gradient to it
    const r = referenceTrainingStep(m.spec, x, [1, 0], 2);
    // xq = [[1, -1, 1], [-1, 1, 1]]; wq = [[1, -1], [-1, 1], [1, -1]]
    // logits: row 0 = [1+1+1, -1-1-1] = [3, -3]; row 1 = [-1-1+1, 1+1-1] = [-1, 1]
    const p0 = 1 / (1 + Math.exp(-6)); // softmax([3, -3])[0]
    const p1 = 1 / (1 + Math.exp(2)); // softmax([-1, 1])[0]
    const dz = [[p0 / 2, (1 - p0 - 1) / 2], [(p1 - 1) / 2, (1 - p1) / 2]]; // (softmax - onehot) / M, labels [1, 0]
    const xq = [[1, -1, 1], [-1, 1, 1]];
    const dwq = [0, 1, 2].map((k) => [0, 1].map((n) => xq[0][k] * dz[0][n] + xq[1][k] * dz[1][n]));
    const want = [dwq[0][0], dwq[0][1], dwq[1][0], dwq[1][1], dwq[2][0], 0]; // the clipped weight gets 0
    const got = r.grads.get('quant_dense/kernel')!;
    want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 6)); // the quantizers' backward rounds to f32
    expect(r.correct).toBe(0); // row 0 predicts class 0 (label 1), row 1 predicts class 1 (label 0)
  });

  test("BatchNormalization's moving statistics follow Keras (momentum; dense outputs: the biased batch variance)", () => {
    const m = sequential([layers.batchNormalization({ momentum: 0.9, inputShape: [2] }), layers.activation({ activation: 'softmax' })]);
    const x = new Float32Array([1, 10, 3, 10, 8, 13]); // channel 0: 1, 3, 8; channel 1: 10, 10, 13
    const r = referenceTrainingStep(m.spec, x, [0, 1, 0], 3);
    const mean = [4, 11];
    const biased = [((1 - 4) ** 2 + (3 - 4) ** 2 + (8 - 4) ** 2) / 3, ((10 - 11) ** 2 * 2 + (13 - 11) ** 2) / 3];
    const mm = r.moving.get('batch_normalization/moving_mean')!;
    const mv = r.moving.get('batch_normalization/moving_variance')!;
    [0, 1].forEach((c) => {
      expect(mm[c]).toBeCloseTo(0 * 0.9 + mean[c] * 0.1, 12);
      expect(mv[c]).toBeCloseTo(1 * 0.9 + biased[c] * 0.1, 12);
    });
  });

  // Functional graphs: the merges' and shape layers' backwards, and fan-out (a value read by
  // several layers gets the sum of their gradients), against finite differences of the loss.
  const graphs: Record<string, { inputs: number[][]; build: () => Model }> = {
    'Add of two branches of one input (fan-out), then BatchNorm': {
      inputs: [[6]],
      build: () => {
        const x = input({ shape: [6] });
        const sum = layers.add().apply([layers.dense({ units: 5, activation: 'tanh' }).apply(x), layers.dense({ units: 5 }).apply(x)]);
        return model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(layers.batchNormalization().apply(sum)) });
      },
    },
    'a shortcut: Add of a value and a layer that reads it; three-way Add': {
      inputs: [[5]],
      build: () => {
        const x = input({ shape: [5] });
        const h = layers.dense({ units: 5, activation: 'sigmoid' }).apply(x);
        const g = layers.dense({ units: 5, activation: 'tanh' }).apply(h);
        const sum = layers.add().apply([g, h, x]);
        return model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(sum) });
      },
    },
    'Concatenate of three branches, one of them twice': {
      inputs: [[4]],
      build: () => {
        const x = input({ shape: [4] });
        const a = layers.dense({ units: 3, activation: 'tanh' }).apply(x);
        const b = layers.dense({ units: 2 }).apply(x);
        return model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(layers.concatenate().apply([a, b, a])) });
      },
    },
    'two inputs, concatenated on the last axis of images': {
      inputs: [[3, 3, 2], [3, 3, 1]],
      build: () => {
        const a = input({ shape: [3, 3, 2], name: 'a' });
        const b = input({ shape: [3, 3, 1], name: 'b' });
        const c = layers.conv2d({ filters: 2, kernelSize: 2, activation: 'tanh' }).apply(layers.concatenate().apply([a, b]));
        return model({ inputs: [a, b], outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(layers.flatten().apply(c)) });
      },
    },
    'ZeroPadding2D (asymmetric) then a valid convolution, GlobalAveragePooling2D': {
      inputs: [[3, 4, 2]],
      build: () => {
        const x = input({ shape: [3, 4, 2] });
        const p = layers.zeroPadding2d({ padding: [[1, 2], [0, 1]] }).apply(x);
        const c = layers.conv2d({ filters: 3, kernelSize: 3, activation: 'tanh' }).apply(p);
        return model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(layers.globalAveragePooling2d().apply(c)) });
      },
    },
    'GlobalMaxPooling2D (the gradient to the first maximum), with keepdims': {
      inputs: [[4, 3, 2]],
      build: () => {
        const x = input({ shape: [4, 3, 2] });
        const c = layers.conv2d({ filters: 3, kernelSize: 2, padding: 'same', activation: 'tanh' }).apply(x);
        const g = layers.globalMaxPooling2d({ keepdims: true }).apply(c);
        return model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(layers.flatten().apply(g)) });
      },
    },
    'Reshape of a dense output into an image, GlobalAveragePooling2D with keepdims': {
      inputs: [[5]],
      build: () => {
        const x = input({ shape: [5] });
        const r = layers.reshape({ targetShape: [2, 3, 2] }).apply(layers.dense({ units: 12, activation: 'tanh' }).apply(x));
        const c = layers.conv2d({ filters: 2, kernelSize: 2, padding: 'same' }).apply(r);
        const g = layers.globalAveragePooling2d({ keepdims: true }).apply(c);
        return model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(layers.flatten().apply(g)) });
      },
    },
  };
  test.each(Object.keys(graphs))('functional graph, %s: every gradient equals finite differences', (name) => {
    const rng = rngFor(`fd graph ${name}`);
    const { inputs, build } = graphs[name];
    const m = build();
    randomWeights(m, rng);
    const batch = 3;
    const x = inputs.map((s) => rng.floats(batch * s.reduce((a, b) => a * b, 1), -2, 2));
    expectFiniteDifferences(m, x.length === 1 ? x[0] : x, [0, 2, 1], batch, 1e-4, { kinks: /MaxPooling/.test(name) });
  });

  // Several outputs, each its own loss: the total is the sum of weight x mean cross-entropy, so
  // a trunk's gradient is the weighted sum of what each head sends back.
  test.each([
    ['two softmax heads on a shared trunk, loss weights 1 and 0.5', [1, 0.5]],
    ['the same, loss weights by name (the second 3, the first 1 by default)', { second: 3 }],
    ['the same, the second output weighing 0: only the first trains the trunk', [1, 0]],
  ] as const)('two outputs, %s: every gradient equals finite differences of the total loss', (_name, lossWeights) => {
    const rng = rngFor(`fd two outputs ${JSON.stringify(lossWeights)}`);
    const a = input({ shape: [4], name: 'a' });
    const b = input({ shape: [3], name: 'b' });
    const trunk = layers.batchNormalization().apply(layers.dense({ units: 5, activation: 'tanh' }).apply(layers.concatenate().apply([a, b])));
    const first = layers.dense({ units: 3, activation: 'softmax', name: 'first' }).apply(trunk);
    const second = layers.activation({ activation: 'softmax', name: 'second' }).apply(layers.dense({ units: 2 }).apply(layers.add().apply([trunk, layers.dense({ units: 5 }).apply(b)])));
    const m = model({ inputs: [a, b], outputs: [first, second] });
    randomWeights(m, rng);
    const batch = 3;
    const x = [rng.floats(batch * 4, -2, 2), rng.floats(batch * 3, -2, 2)];
    const labels = [[0, 2, 1], [1, 0, 1]];
    expectFiniteDifferences(m, x, labels, batch, 1e-4, { lossWeights });
    // The total is the weighted sum of the outputs' own losses, which are each a one-output model's.
    const r = referenceTrainingStep(m.spec, x, labels, batch, { lossWeights });
    const w = Array.isArray(lossWeights) ? lossWeights : [1, 3];
    expect(r.outputLosses.map((o) => o.weight)).toEqual(w);
    expect(r.loss).toBeCloseTo(w[0] * r.outputLosses[0].loss + w[1] * r.outputLosses[1].loss, 12);
    const alone = model({ inputs: [a, b], outputs: first });
    alone.spec.weights.forEach((v, k) => v.data.set(m.weight(k).data));
    const one = referenceTrainingStep(alone.spec, x, labels[0], batch);
    expect(r.outputLosses[0].loss).toBeCloseTo(one.loss, 12);
    expect(r.outputLosses[0].correct).toBe(one.correct);
    if (w[1] === 0) for (const [k, g] of one.grads) g.forEach((v, i) => expect(r.grads.get(k)![i], k).toBeCloseTo(v, 12));
  });

  // The element-wise losses (Keras's mean_squared_error, binary_crossentropy on a sigmoid's logits):
  // targets f32 of the output's shape; MSE's gradient flows back through the output's activation.
  test.each([
    ['a regression head: Dense, linear, MSE', { out: 'linear', loss: 'mse' }],
    ['MSE on a tanh output (the gradient through the activation)', { out: 'tanh', loss: 'mean_squared_error' }],
    ['BCE on a Dense with activation sigmoid', { out: 'sigmoid', loss: 'binary_crossentropy' }],
    ['BCE on an Activation(sigmoid) layer of its own', { out: 'sigmoid layer', loss: 'binary_crossentropy' }],
  ] as const)('%s: every gradient equals finite differences', (name, { out, loss }) => {
    const rng = rngFor(`fd elementwise ${name}`);
    const x = input({ shape: [4] });
    const h = layers.batchNormalization().apply(layers.dense({ units: 5, activation: 'tanh' }).apply(x));
    const y = out === 'sigmoid layer' ? layers.activation({ activation: 'sigmoid', name: 'y' }).apply(layers.dense({ units: 3 }).apply(h)) : layers.dense({ units: 3, activation: out, name: 'y' }).apply(h);
    const m = model({ inputs: x, outputs: y });
    randomWeights(m, rng);
    const batch = 3;
    const v = rng.floats(batch * 4, -2, 2);
    // BCE's targets in [0, 1], fractions too (the loss is smooth in the logits whatever they are).
    const t = loss === 'binary_crossentropy' ? rng.floats(batch * 3, 0, 1) : rng.floats(batch * 3, -2, 2);
    expectFiniteDifferences(m, v, t, batch, 1e-4, { losses: [loss] });
    const r = referenceTrainingStep(m.spec, v, t, batch, { losses: { y: loss } });
    // Keras's value: the mean over every target (the last axis, then the batch) of the element losses.
    const out_ = r.outputs.get('y')!;
    const p = (i: number) => out_[i];
    const want = Array.from(t, (ti, i) => (loss === 'binary_crossentropy' ? -(ti * Math.log(p(i)) + (1 - ti) * Math.log(1 - p(i))) : (p(i) - ti) ** 2)).reduce((a, b) => a + b, 0) / t.length;
    expect(r.loss).toBeCloseTo(want, 10);
  });

  test('two outputs, a softmax head (sparse CE) and a sigmoid head (BCE), loss weights 1 and 0.5: every gradient equals finite differences', () => {
    const rng = rngFor('fd softmax and sigmoid heads');
    const x = input({ shape: [4] });
    const trunk = layers.batchNormalization().apply(layers.dense({ units: 5, activation: 'tanh' }).apply(x));
    const m = model({ inputs: x, outputs: [layers.dense({ units: 3, activation: 'softmax', name: 'cls' }).apply(trunk), layers.dense({ units: 2, activation: 'sigmoid', name: 'tags' }).apply(trunk)] });
    randomWeights(m, rng);
    const batch = 3;
    const v = rng.floats(batch * 4, -2, 2);
    const labels = [[0, 2, 1], Float32Array.of(1, 0, 0, 1, 1, 1)];
    const options = { losses: { tags: 'binary_crossentropy' }, lossWeights: [1, 0.5] } as const;
    expectFiniteDifferences(m, v, labels, batch, 1e-4, options);
    const r = referenceTrainingStep(m.spec, v, labels, batch, options);
    expect(r.loss).toBeCloseTo(r.outputLosses[0].loss + 0.5 * r.outputLosses[1].loss, 12);
    // Binary accuracy at 0.5: each target value predicted right (probability > 0.5 for 1).
    const probs = r.outputs.get('tags')!;
    expect(r.outputLosses[1].binaryHits).toBe(Array.from(labels[1], (t, i) => (t === (probs[i] > 0.5 ? 1 : 0) ? 1 : 0)).reduce((a: number, b) => a + b, 0));
  });

  test('losses that do not fit an output are refused, naming the output and the fix', () => {
    const x = input({ shape: [2] });
    const lin = layers.dense({ units: 2, name: 'lin' }).apply(x);
    const m = model({ inputs: x, outputs: [lin, layers.dense({ units: 2, activation: 'softmax', name: 'p' }).apply(x)] });
    const v = new Float32Array(2);
    expect(() => referenceTrainingStep(m.spec, v, [[0, 0], [0]], 1)).toThrow(/output "lin" \(Dense\) has activation "linear" and no loss: .* TrainerOptions\.losses/);
    expect(() => referenceTrainingStep(m.spec, v, [[0, 0], [0]], 1, { losses: { lin: 'binary_crossentropy' } })).toThrow(/output "lin" \(Dense\) has activation "linear": its loss binary_crossentropy reads the logits before a sigmoid/);
    expect(() => referenceTrainingStep(m.spec, v, [[0, 0], [0]], 1, { losses: ['mse', 'mse'] })).toThrow(/output "p" \(Dense\) has activation "softmax": the trainer trains a softmax only folded into sparse_categorical_crossentropy/);
    expect(() => referenceTrainingStep(m.spec, v, [[0, 0], [0]], 1, { losses: ['mse', 'mean_squared_error', 'mse'] })).toThrow(/losses: 3 losses for 2 outputs/);
    expect(() => referenceTrainingStep(m.spec, v, [[0, 0], [0]], 1, { losses: { lin: 'hinge' as 'mse' } })).toThrow(/the loss of output "lin" \(Dense\) is "hinge"; the trainer knows/);
    // A name the alias table inherits (an object's own keys only).
    expect(() => referenceTrainingStep(m.spec, v, [[0, 0], [0]], 1, { losses: { lin: 'toString' as 'mse' } })).toThrow(/is "toString"; the trainer knows/);
    expect(() => referenceTrainingStep(m.spec, v, [[0], [0]], 1, { losses: { lin: 'mse' } })).toThrow(/1 labels of output "lin" for a batch of 1 \(2 per sample\)/);
  });

  test('several outputs: labels and loss weights that do not fit are refused, naming the output', () => {
    const x = input({ shape: [2] });
    const m = model({ inputs: x, outputs: [layers.dense({ units: 2, activation: 'softmax', name: 'p' }).apply(x), layers.dense({ units: 2, activation: 'softmax', name: 'q' }).apply(x)] });
    const v = new Float32Array(2);
    expect(() => referenceTrainingStep(m.spec, v, [0], 1)).toThrow(/1 label array\(s\) for 2 output\(s\)/);
    expect(() => referenceTrainingStep(m.spec, v, [[0], [0, 1]], 1)).toThrow(/2 labels of output "q" for a batch of 1/);
    expect(() => referenceTrainingStep(m.spec, v, [[0], [0]], 1, { lossWeights: [1] })).toThrow(/lossWeights: 1 weights for 2 outputs/);
    expect(() => referenceTrainingStep(m.spec, v, [[0], [0]], 1, { lossWeights: { r: 1 } })).toThrow(/"r" is not an output/);
  });

  test('fan-out: the gradient of a value read twice is the sum of both readers\' gradients (Add(x, x) doubles it)', () => {
    const x = input({ shape: [3] });
    const twice = model({ inputs: x, outputs: layers.dense({ units: 2, activation: 'softmax', name: 'head' }).apply(layers.add().apply([x, x])) });
    const once = model({ inputs: x, outputs: layers.dense({ units: 2, activation: 'softmax', name: 'head' }).apply(x) });
    const w = Float32Array.of(0.5, -1, 0.25, 2, -0.75, 1);
    twice.setWeight('head/kernel', w);
    once.setWeight('head/kernel', w);
    const v = Float32Array.of(1, -2, 0.5);
    const a = referenceTrainingStep(twice.spec, v, [1], 1);
    // head(x + x) = head(2x): the same loss as `once` on 2x, and d/dx = 2 * d/d(2x).
    const b = referenceTrainingStep(once.spec, v.map((u) => 2 * u), [1], 1);
    expect(a.loss).toBeCloseTo(b.loss, 12);
    a.inputGrad.forEach((g, i) => expect(g).toBeCloseTo(2 * b.inputGrad[i], 12));
  });

  test('Dropout with rate > 0, and bad labels, are refused by name', () => {
    const drop = sequential([layers.dropout({ rate: 0.5, inputShape: [2] }), layers.dense({ units: 2, activation: 'softmax' })]);
    expect(() => referenceTrainingStep(drop.spec, new Float32Array(2), [0], 1)).toThrow(/"dropout" is Dropout with rate 0.5/);
    const m = sequential([layers.dense({ units: 2, activation: 'softmax', inputShape: [2] })]);
    expect(() => referenceTrainingStep(m.spec, new Float32Array(2), [2], 1)).toThrow(/label 2/);
    const noSoftmax = sequential([layers.dense({ units: 2, inputShape: [2] })]);
    expect(() => referenceTrainingStep(noSoftmax.spec, new Float32Array(2), [0], 1)).toThrow(/softmax/);
  });
});
