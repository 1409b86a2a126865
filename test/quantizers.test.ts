// Larq's quantizers on the CPU (src/model/quantizers.ts): forwards on hand-picked values and
// boundaries, gradients against hand values (STE) or finite differences of the smooth surrogate,
// and the registry / serialization a model loader relies on.
import { describe, expect, test } from 'vitest';
import {
  QUANTIZERS,
  getConstraint,
  getQuantizer,
  roundHalfEven,
  serializeConstraint,
  serializeQuantizer,
  twnThreshold,
  weightClip,
  type Quantizer,
} from '../src/model/quantizers.js';

const F = (...v: number[]) => new Float32Array(v);
const q = (id: Parameters<typeof getQuantizer>[0]) => getQuantizer(id) as Quantizer;
const list = (a: Float32Array) => Array.from(a);
const ones = (n: number) => new Float32Array(n).fill(1);

/** Central difference of f at x (f64). */
const fd = (f: (x: number) => number, x: number, h = 1e-5) => (f(x + h) - f(x - h)) / (2 * h);

describe('forward', () => {
  test.each(['ste_sign', 'stochastic_ste_sign', 'approx_sign', 'swish_sign'])('%s: sign with sign(0) = sign(-0) = +1, NaN -> +1', (name) => {
    const out = q(name).forward(F(-2, -1, -1e-30, -0, 0, 1e-30, 1, 2, NaN, -Infinity, Infinity));
    expect(list(out)).toEqual([-1, -1, -1, 1, 1, 1, 1, 1, 1, -1, 1]);
    expect(q(name).binary).toBe(true);
    expect(q(name).precision).toBe(1);
  });

  test('ste_heaviside: 1 for x > 0, else 0 (0, -0 and NaN give 0)', () => {
    const out = q('ste_heaviside').forward(F(-1, -0, 0, 1e-30, 0.5, 2, NaN));
    expect(list(out)).toEqual([0, 0, 0, 1, 1, 1, 0]);
    expect(q('ste_heaviside').binary).toBe(false);
  });

  test('magnitude_aware_sign: mean |x| per last-axis channel times sign', () => {
    // shape [2, 3]: channel c holds x[c] and x[3 + c].
    const x = F(1, -2, 0, -3, 4, -0);
    const out = q('magnitude_aware_sign').forward(x, [2, 3]);
    expect(list(out)).toEqual([2, -3, 0, -2, 3, 0]);
    // rank 1 reduces over no axis (as Larq): |x| * sign(x) = x, with +0 for -0.
    expect(list(q('magnitude_aware_sign').forward(F(-2, 0.5, -0), [3]))).toEqual([-2, 0.5, 0]);
  });

  test('ste_tern: +-1 from |x| >= threshold, 0 inside; f32 boundaries', () => {
    const t = q('ste_tern');
    const x = F(-1, -0.05, -0.049, -0, 0, 0.049, 0.05, 0.051, 1, NaN);
    expect(list(t.forward(x))).toEqual([-1, -1, 0, 0, 0, 0, 1, 1, 1, NaN]);
    expect(q({ class_name: 'SteTern', config: { threshold_value: 0 } }).forward(F(-1, -0, 0, 1)))
      .toEqual(F(-1, 0, 0, 1));
    expect(t.precision).toBe(2);
  });

  test('ste_tern with ternary_weight_networks: threshold 0.7 * mean |W| over the whole tensor', () => {
    const w = F(1, -1, 0.5, -0.5, 0.2, 0); // mean |w| = 3.2 / 6, threshold = 0.3733...
    expect(twnThreshold(w)).toBeCloseTo((0.7 * 3.2) / 6, 6); // the f32 inputs, summed in f64
    const t = q({ class_name: 'SteTern', config: { ternary_weight_networks: true } });
    expect(list(t.forward(w, [3, 2]))).toEqual([1, -1, 1, -1, 0, 0]);
  });

  test('dorefa activations: clip to [0, 1], 2^k - 1 levels, tf.round half to even', () => {
    const d = q('dorefa_quantizer'); // k_bit = 2: levels 0, 1/3, 2/3, 1
    expect(list(d.forward(F(-1, 0, 0.1, 0.2, 0.4, 0.6, 0.9, 1, 3)))).toEqual(
      list(F(0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1, 1, 1)),
    );
    // x * 3 = 1.5 exactly -> 2 (even); x * 3 = 0.5 -> 0 (even).
    expect(list(d.forward(F(0.5, 1 / 6)))).toEqual(list(F(2 / 3, 0)));
    const k3 = q({ class_name: 'DoReFa', config: { k_bit: 3 } });
    expect(new Set(k3.forward(F(...Array.from({ length: 101 }, (_, i) => i / 100)))).size).toBe(8);
    expect(k3.precision).toBe(3);
  });

  test('dorefa weights: tanh, max-norm per tensor, quantize, 2q - 1', () => {
    const d = q({ class_name: 'DoReFa', config: { k_bit: 2, mode: 'weights' } });
    const x = F(-2, -0.3, 0, 0.3, 2);
    const m = Math.tanh(2);
    // 2q - 1 in f32 arithmetic, as TF: q = f32(2/3) gives f32(1/3) plus one ulp.
    const level = (i: number) => 2 * Math.fround(i / 3) - 1;
    const expected = list(x).map((v) => level(roundHalfEven(Math.fround((Math.tanh(v) / (2 * m) + 0.5) * 3))));
    expect(list(d.forward(x))).toEqual(list(F(...expected)));
    expect(list(d.forward(x))).toEqual(list(F(level(0), level(1), level(2), level(2), level(3))));
    // An all-zero tensor: divide_no_nan gives 0, so every weight maps to quantize(0.5) = 2/3 -> 1/3.
    expect(list(d.forward(F(0, 0)))).toEqual(list(F(level(2), level(2))));
  });

  test('noop: identity, precision tag only', () => {
    const n = q({ class_name: 'NoOp', config: { precision: 1 } });
    expect(list(n.forward(F(-2, 0.5)))).toEqual([-2, 0.5]);
    expect(list(n.backward(F(-2, 0.5), F(3, 4)))).toEqual([3, 4]);
    expect(n.precision).toBe(1);
    expect(n.binary).toBe(false);
  });

  test('roundHalfEven matches tf.round', () => {
    expect([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4, 2.6].map(roundHalfEven)).toEqual([-2, -2, -0, 0, 2, 2, 2, 3]);
  });
});

describe('backward', () => {
  const x = F(-2, -1.0000001, -1, -0.5, -0, 0, 0.5, 1, 1.0000001, 2, NaN);
  const dy = F(...Array.from(x, (_, i) => i + 1));

  test.each(['ste_sign', 'ste_heaviside', 'ste_tern', 'magnitude_aware_sign'])(
    '%s: dy where |x| <= clip_value (1.0, compared in f32), else 0; NaN -> 0',
    (name) => {
      const g = name === 'magnitude_aware_sign' ? q(name).backward(x, ones(x.length), [x.length, 1]) : q(name).backward(x, dy);
      const pass = [0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0];
      if (name === 'magnitude_aware_sign') {
        // one channel: scale = mean |x| (NaN here, so use finite values below); only the mask is checked
        expect(list(g).map((v) => (v === 0 ? 0 : 1))).toEqual(pass);
      } else {
        expect(list(g)).toEqual(pass.map((p, i) => p * dy[i]));
      }
    },
  );

  test('clip_value: f32 comparison, 0, null and Infinity', () => {
    const s = (clip: number | null) => q({ class_name: 'SteSign', config: { clip_value: clip } });
    // f32(0.1) > 0.1 in f64, but TF compares against the f32-cast clip value: it passes.
    expect(list(s(0.1).backward(F(0.1, -0.1, 0.11), F(1, 1, 1)))).toEqual([1, 1, 0]);
    expect(list(s(0).backward(F(-0, 0, 1e-30), F(1, 2, 3)))).toEqual([1, 2, 0]);
    expect(list(s(null).backward(F(-5, 0, 1e30, NaN), F(1, 2, 3, 4)))).toEqual([1, 2, 3, 4]);
    expect(list(s(Infinity).backward(F(-5, 1e30, NaN), F(1, 2, 3)))).toEqual([1, 2, 0]);
  });

  test('magnitude_aware_sign: scale (stop_gradient) times the clipped STE', () => {
    const xs = F(1, -2, 0, -3, 4, 1.5); // shape [2, 3], scales 2, 3, 0.75
    const g = q('magnitude_aware_sign').backward(xs, F(1, 1, 1, 1, 1, 1), [2, 3]);
    expect(list(g)).toEqual([2, 0, 0.75, 0, 0, 0]);
  });

  test('approx_sign: 2 - 2|x| inside [-1, 1], the derivative of the piecewise polynomial', () => {
    const surrogate = (v: number) => (v < -1 ? -1 : v < 0 ? 2 * v + v * v : v <= 1 ? 2 * v - v * v : 1);
    const pts = [-1.5, -0.9, -0.6, -0.25, 0.1, 0.3, 0.75, 0.99, 1.2];
    const g = q('approx_sign').backward(F(...pts), ones(pts.length));
    pts.forEach((v, i) => expect(g[i]).toBeCloseTo(fd(surrogate, Math.fround(v)), 4));
    expect(list(q('approx_sign').backward(F(-1, -0, 0, 1, NaN), F(1, 1, 1, 1, 1)))).toEqual([0, 2, 2, 0, 0]);
  });

  test.each([5, 1, 10])('swish_sign (beta=%d): derivative of 2 sigmoid(bx)(1 + bx(1 - sigmoid(bx))) - 1', (beta) => {
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    const surrogate = (v: number) => 2 * sig(beta * v) * (1 + beta * v * (1 - sig(beta * v))) - 1;
    const pts = [-3, -1, -0.4, -0.1, 0, 0.05, 0.2, 0.7, 2.5];
    const sw = q({ class_name: 'SwishSign', config: { beta } });
    const g = sw.backward(F(...pts), ones(pts.length));
    pts.forEach((v, i) => {
      const want = fd(surrogate, Math.fround(v));
      expect(Math.abs(g[i] - want)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want)));
    });
    expect(g[4]).toBeCloseTo(beta, 6); // peak at 0: beta * 2 / 2
    // Far out the gradient vanishes; cosh overflows without producing NaN.
    expect(list(sw.backward(F(-1e4, 1e4), F(1, 1))).every((v) => v === 0)).toBe(true);
  });

  test('dorefa activations: identity on [0, 1] (inclusive), 0 outside, NaN passes (tf.clip_by_value)', () => {
    const g = q('dorefa_quantizer').backward(F(-0.1, -0, 0, 0.5, 1, 1.1, NaN), F(1, 2, 3, 4, 5, 6, 7));
    expect(list(g)).toEqual([0, 2, 3, 4, 5, 0, 7]);
  });

  test('dorefa weights: (1 - tanh^2 x) / max|tanh|, the derivative of the unrounded map', () => {
    const d = q({ class_name: 'DoReFa', config: { mode: 'weights' } });
    const pts = [-2, -0.7, 0, 0.3, 1.1];
    const m = Math.tanh(2);
    const g = d.backward(F(...pts), ones(pts.length));
    pts.forEach((v, i) => expect(g[i]).toBeCloseTo(fd((u) => 2 * (Math.tanh(u) / (2 * m) + 0.5) - 1, v), 5));
    expect(list(d.backward(F(0, 0), F(1, 1)))).toEqual([0, 0]);
  });

  test('lengths must match', () => {
    expect(() => q('ste_sign').backward(F(1, 2), F(1))).toThrow(/SteSign\.backward: x has 2 values, dy 1/);
  });
});

describe('registry and serialization', () => {
  const larq: [string, string | undefined, Record<string, unknown>][] = [
    ['SteSign', 'ste_sign', { clip_value: 1.0 }],
    ['ApproxSign', 'approx_sign', {}],
    ['SwishSign', 'swish_sign', { beta: 5.0 }],
    ['MagnitudeAwareSign', 'magnitude_aware_sign', { clip_value: 1.0 }],
    ['SteHeaviside', 'ste_heaviside', { clip_value: 1.0 }],
    ['SteTern', 'ste_tern', { threshold_value: 0.05, ternary_weight_networks: false, clip_value: 1.0 }],
    ['DoReFa', 'dorefa_quantizer', { k_bit: 2, mode: 'activations' }],
    // Ours (BinaryNet's stochastic binarization): ste_sign at inference and in its gradient.
    ['StochasticSteSign', 'stochastic_ste_sign', { clip_value: 1.0 }],
  ];

  test('stochastic_ste_sign: the gradient is ste_sign\'s', () => {
    const x = F(-2, -1, -0.5, 0, 0.5, 1, 1.0000001, 2, NaN);
    const dy = F(1, 2, 3, 4, 5, 6, 7, 8, 9);
    for (const clip of [1.0, 0.5, null]) {
      expect(list(q({ class_name: 'StochasticSteSign', config: { clip_value: clip } }).backward(x, dy))).toEqual(list(q({ class_name: 'SteSign', config: { clip_value: clip } }).backward(x, dy)));
    }
  });

  test.each(larq)('%s / %s: Larq defaults, both names, round trip', (className, alias, defaults) => {
    const a = q(alias), b = q(className);
    expect(a.className).toBe(className);
    expect(a.config).toEqual(defaults);
    expect(b.config).toEqual(defaults);
    const s = serializeQuantizer(a);
    expect(s.class_name).toBe(className);
    // Keras' default layer name: the class name in snake case (DoReFa -> do_re_fa).
    const name = className === 'DoReFa' ? 'do_re_fa' : alias;
    expect(s.config).toEqual({ name, trainable: true, dtype: 'float32', ...defaults });
    const back = q(JSON.parse(JSON.stringify(s)));
    expect(serializeQuantizer(back)).toEqual(s);
    expect(QUANTIZERS[className]).toBe(QUANTIZERS[alias!]);
  });

  test('old class names and NoOp', () => {
    expect(q('DoReFaQuantizer').className).toBe('DoReFa');
    expect(serializeQuantizer(q({ class_name: 'NoOpQuantizer', config: { precision: 2 } }))).toEqual({
      class_name: 'NoOp',
      config: { name: 'no_op', trainable: true, dtype: 'float32', precision: 2 },
    });
  });

  test('a Keras model.json entry, layer keys and non-default arguments kept', () => {
    const entry = {
      class_name: 'SteSign',
      config: { name: 'ste_sign_3', trainable: true, dtype: 'float32', clip_value: null },
    };
    const s = q(entry);
    expect(s.config).toEqual({ clip_value: null });
    expect(s.name).toBe('ste_sign_3');
    expect(serializeQuantizer(s)).toEqual(entry);
    // metrics is an accepted argument; Larq does not serialize it, nor do we.
    expect(serializeQuantizer(q({ class_name: 'ApproxSign', config: { metrics: ['flip_ratio'] } })).config).not.toHaveProperty('metrics');
  });

  test('null, undefined and quantizer objects', () => {
    expect(getQuantizer(null)).toBeNull();
    expect(getQuantizer(undefined)).toBeNull();
    const s = q('ste_sign');
    expect(getQuantizer(s)).toBe(s);
  });

  test('errors name the quantizer and the key', () => {
    expect(() => getQuantizer('ste_sgn')).toThrow(/unknown quantizer 'ste_sgn' \(known: .*ste_sign/);
    expect(() => getQuantizer({ class_name: 'SteSign', config: { clipvalue: 1 } })).toThrow(
      "SteSign: unknown config key 'clipvalue' (accepted: clip_value, name, trainable, dtype, metrics)",
    );
    expect(() => getQuantizer({ class_name: 'SwishSign', config: { beta: '5' } })).toThrow(
      /SwishSign: config key 'beta' must be a number, got "5"/,
    );
    expect(() => getQuantizer({ class_name: 'DoReFa', config: { mode: 'weight' } })).toThrow(/DoReFa: config key 'mode'/);
    expect(() => getQuantizer({ class_name: 'DoReFa', config: { k_bit: 1.5 } })).toThrow(/DoReFa: config key 'k_bit'/);
    expect(() => getQuantizer('NoOp')).toThrow("NoOp: missing required config key 'precision'");
    expect(() => getQuantizer('toString')).toThrow(/unknown quantizer 'toString'/);
    expect(() => getQuantizer(42 as never)).toThrow(/could not interpret quantizer identifier 42/);
  });
});

describe('traits (what code outside the table asks instead of class names)', () => {
  // Every row, with its non-default configurations that change a trait.
  const ROWS: Parameters<typeof getQuantizer>[0][] = [
    'ste_sign', 'stochastic_ste_sign', 'approx_sign', 'swish_sign', 'magnitude_aware_sign', 'ste_heaviside', 'ste_tern',
    { class_name: 'SteTern', config: { ternary_weight_networks: true } },
    { class_name: 'DoReFa', config: { k_bit: 3, mode: 'activations' } },
    { class_name: 'DoReFa', config: { k_bit: 1, mode: 'weights' } },
    { class_name: 'DoReFa', config: { k_bit: 2, mode: 'weights' } },
    { class_name: 'NoOp', config: { precision: 1 } },
    'dorefa_gradient',
  ];
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 5)) * 0.6);
  const shape = [16, 4];
  const inSet = (values: Float32Array, ok: (v: number) => boolean) => expect(Array.from(values).filter((v) => !ok(v))).toEqual([]);

  test.each(ROWS.map((id) => [typeof id === 'string' ? id : JSON.stringify(id), id] as const))('%s: its levels, identity, statistic and reads traits hold for its CPU forward', (_, id) => {
    const qz = q(id);
    const y = qz.forward(x, shape);
    const n = qz.precision !== null ? 2 ** qz.precision - 1 : 0;
    expect(qz.binary).toBe(qz.levels === 'pm1');
    expect(qz.reads).toBe(qz.levels === 'pm1' ? 'sign' : 'value');
    switch (qz.levels) {
      case 'pm1':
        expect(list(y)).toEqual(Array.from(x, (v) => (v < 0 ? -1 : 1)));
        // Reads only the sign: the forward of the signs is the forward.
        expect(list(qz.forward(y, shape))).toEqual(list(y));
        break;
      case 'scaledPm1':
        for (let c = 0; c < 4; c++) inSet(y.filter((_, i) => i % 4 === c).map(Math.abs), (v) => v === Math.abs(y[c]));
        break;
      case '01':
        inSet(y, (v) => v === 0 || v === 1);
        break;
      case 'ternary':
        inSet(y, (v) => v === 0 || v === 1 || v === -1);
        break;
      case 'kbit':
        inSet(y, (v) => Number.isInteger(Math.round(v * n)) && Math.fround(Math.round(v * n) / n) === v && v >= 0 && v <= 1);
        break;
      case 'signedKbit':
        inSet(y, (v) => Math.abs(Math.round(((v + 1) * n) / 2) - ((v + 1) * n) / 2) < 1e-6 && v >= -1 && v <= 1);
        break;
      case 'real':
        break;
    }
    expect(qz.identityAtInference).toBe(qz.inference.kind === 'identity');
    if (qz.identityAtInference) expect(list(y)).toEqual(list(x));
    // A statistic of the tensor: making the second half louder changes the forward of the first half.
    const quiet = Float32Array.from(x, (v) => v * 0.1);
    const louder = Float32Array.from(x, (v, i) => (i < 32 ? v * 0.1 : v));
    const [a, b] = [qz.forward(quiet, shape), qz.forward(louder, shape)];
    const same = (u: Float32Array, v: Float32Array) => list(u).slice(0, 32).every((w, i) => Object.is(w, v[i]));
    const dy = ones(64);
    // (1-bit DoReFa weights are the sign whatever the statistic: it shows in the backward only.)
    const local = same(a, b) && same(qz.backward(quiet, dy, shape), qz.backward(louder, dy, shape));
    expect(local).toBe(qz.statistic === null);
    if (qz.statistic && !qz.statistic.inBackward) expect(same(a, b)).toBe(false);
    // Where the element-wise GPU kernel does not compute it, it is because of the statistic.
    expect(qz.inference.kind === 'weightsOnly').toBe(qz.statistic !== null);
  });

  test('training forms: the sign-mask form is the clip STE of the sign quantizers; only one row draws at random; DoReFaGradient quantizes the gradient', () => {
    expect(q('ste_sign').training).toEqual({ signMask: { clipValue: 1 }, elementwise: { gradient: 'clip', clipValue: 1 } });
    expect(q({ class_name: 'SteSign', config: { clip_value: null } }).training.signMask).toEqual({ clipValue: null });
    expect(q('stochastic_ste_sign').training).toEqual({ signMask: { clipValue: 1 } });
    expect([...new Set(Object.values(QUANTIZERS))].filter((d) => q(d.className === 'NoOp' ? { class_name: 'NoOp', config: { precision: 1 } } : d.className).stochastic).map((d) => d.className)).toEqual(['StochasticSteSign']);
    expect(q('dorefa_gradient').training).toEqual({ gradient: { kBit: 6 } });
    expect(q('approx_sign').training.signMask).toBeUndefined();
  });

  test("approx_sign's f32 backward (the training kernel's operations) is within 1 ulp of the f64 one", () => {
    const a = q('approx_sign');
    const dy = Float32Array.from(x, (_, i) => Math.cos(i));
    const f32 = a.backwardF32!(x, dy);
    const f64 = a.backward(x, dy);
    f32.forEach((v, i) => expect(Math.abs(v - f64[i])).toBeLessThanOrEqual(Math.abs(f64[i]) * 2 ** -23 + 1e-45));
    expect(q('ste_sign').backwardF32).toBeNull();
  });
});

describe('weight_clip', () => {
  test('clips to [-clip_value, clip_value], NaN stays NaN', () => {
    expect(list(weightClip().apply(F(-3, -1, -0.5, 0, 1, 2, NaN)))).toEqual([-1, -1, -0.5, 0, 1, 1, NaN]);
    expect(list(weightClip(0.5).apply(F(-3, 0.25, 3)))).toEqual([-0.5, 0.25, 0.5]);
  });

  test('registry and round trip', () => {
    expect(getConstraint('weight_clip')!.config).toEqual({ clip_value: 1 });
    const c = getConstraint({ class_name: 'WeightClip', config: { clip_value: 2 } })!;
    expect(serializeConstraint(c)).toEqual({ class_name: 'WeightClip', config: { clip_value: 2 } });
    expect(getConstraint(null)).toBeNull();
    expect(() => getConstraint('max_norm')).toThrow(/unknown constraint 'max_norm'/);
    expect(() => getConstraint({ class_name: 'WeightClip', config: { clip: 1 } })).toThrow(
      "WeightClip: unknown config key 'clip' (accepted: clip_value)",
    );
  });
});
