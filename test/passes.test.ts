// The compiler's passes (src/plan/passes/), each on small graphs: graph in, expected graph (or
// facts) out. The plans they lead to are checked against the CPU reference in plan.test.ts.
import { describe, expect, it } from 'vitest';
import { input, layers, model, sequential } from '../src/model/model.js';
import { canonicalize } from '../src/plan/passes/canonicalize.js';
import { valueFacts } from '../src/plan/passes/value-facts.js';
import { fusions } from '../src/plan/passes/fusions.js';
import { describeGraph, type Graph } from '../src/plan/passes/graph.js';
import { describePasses } from '../src/plan/passes/describe.js';
import { foldPadding } from '../src/plan/passes/fold-padding.js';
import { kernelPaths } from '../src/plan/passes/kernel-paths.js';
import { lowerModel } from '../src/plan/lower.js';
import type { Model } from '../src/model/model.js';

const graphOf = (m: Model, keep: string[] = []): Graph => ({ spec: m.spec, keep: new Set([...m.outputs, ...keep]) });
const binaryDense = (units: number, name: string) => layers.quantDense({ units, inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', useBias: false, name });

describe('canonicalize', () => {
  it('removes the layers that are the identity at inference, rewiring their consumers and moving kept names', () => {
    const x = input({ shape: [6], name: 'x' });
    let h = layers.dense({ units: 5, name: 'd1' }).apply(x);
    h = layers.noOp({ precision: 1, name: 'noop' }).apply(h);
    h = layers.batchNormalization({ name: 'bn' }).apply(h);
    h = layers.quantizer('dorefa_gradient', { name: 'grad' }).apply(h);
    const s = layers.steSign({ name: 'sign' }).apply(h);
    const out = layers.noOp({ precision: 32, name: 'last' }).apply(layers.dense({ units: 3, name: 'd2' }).apply(s));
    const m = model({ inputs: x, outputs: out, name: 'm' });
    const { graph, source } = canonicalize(graphOf(m, ['grad']));
    expect(describeGraph(graph)).toBe(['x = InputLayer()', 'd1 = Dense(x)', 'bn = BatchNormalization(d1) [kept]', 'sign = Quantizer(bn)', 'd2 = Dense(sign) [kept]'].join('\n'));
    expect(Object.fromEntries(source)).toEqual({ noop: 'd1', grad: 'bn', last: 'd2' });
    expect(graph.spec.outputs).toEqual(['d2']);
  });

  it('leaves a graph without identity layers as it is (the same object)', () => {
    const m = sequential([layers.dense({ units: 3, inputShape: [4] }), layers.steSign()]);
    const g = graphOf(m);
    expect(canonicalize(g).graph).toBe(g);
  });
});

describe('value facts', () => {
  it('the functional seed MLP: each BatchNorm output is read only by its SteSign, so only its sign matters', () => {
    const x = input({ shape: [12], name: 'x' });
    let h = x;
    for (const i of [1, 2]) {
      h = layers.quantDense({ units: 8, kernelQuantizer: 'ste_sign', name: `d${i}` }).apply(h);
      h = layers.batchNormalization({ name: `bn${i}` }).apply(h);
      h = layers.steSign({ name: `s${i}` }).apply(h);
    }
    const out = layers.quantDense({ units: 3, kernelQuantizer: 'ste_sign', name: 'out' }).apply(h);
    const m = model({ inputs: x, outputs: out });
    expect([...valueFacts(graphOf(m)).signOnly].sort()).toEqual(['bn1', 'bn2']);
    // Kept (read in full by the user): no longer only signed.
    expect([...valueFacts(graphOf(m, ['bn1'])).signOnly]).toEqual(['bn2']);
    // The float kernels decide nothing on signs.
    expect(valueFacts(graphOf(m), { float: true }).signOnly.size).toBe(0);
  });

  it('signs pass through max pooling and flatten to a binary-input layer, but not through average pooling', () => {
    const build = (pool: 'max' | 'avg') =>
      sequential([
        layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [6, 6, 2], name: 'c' }),
        layers.batchNormalization({ name: 'bn' }),
        pool === 'max' ? layers.maxPooling2d({ name: 'p' }) : layers.averagePooling2d({ name: 'p' }),
        layers.flatten({ name: 'f' }),
        binaryDense(3, 'd'),
      ]);
    expect([...valueFacts(graphOf(build('max'))).signOnly].sort()).toEqual(['bn', 'f', 'p']);
    expect([...valueFacts(graphOf(build('avg'))).signOnly].sort()).toEqual(['f', 'p']);
  });

  it('a value read by a binary layer and by an Add (a Bi-Real shortcut) is read in full', () => {
    const x = input({ shape: [4, 4, 8], name: 'x' });
    const bn = layers.batchNormalization({ name: 'bn' }).apply(x);
    const conv = layers.quantConv2d({ filters: 8, kernelSize: 3, padding: 'same', inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', name: 'conv' }).apply(bn);
    const sum = layers.add({ name: 'sum' }).apply([conv, bn]);
    const m = model({ inputs: x, outputs: sum });
    expect(valueFacts(graphOf(m)).signOnly.has('bn')).toBe(false);
  });
});

describe('value facts: levels', () => {
  const levelsOf = (m: Model, signInputs?: boolean[]) => Object.fromEntries(valueFacts(graphOf(m), { signInputs }).levels);
  /** A linear layer without an input quantizer: it runs on XNOR only where its input is +-1 already. */
  const reader = (name = 'd') => layers.quantDense({ units: 3, kernelQuantizer: 'ste_sign', name });

  it('a +-1 input stays +-1 through max pooling and flatten, and the layer reading it runs on XNOR; a real input does not', () => {
    const m = sequential([layers.maxPooling2d({ name: 'p', inputShape: [4, 4, 2] }), layers.flatten({ name: 'f' }), reader()]);
    // (A Sequential model's first layer reads the model input of its name.)
    expect(levelsOf(m, [true])).toEqual({ p: 'pm1', f: 'pm1', d: 'real' });
    expect(levelsOf(m)).toEqual({ p: 'real', f: 'real', d: 'real' });
    const path = (signInputs?: boolean[]) => kernelPaths(graphOf(m), valueFacts(graphOf(m), { signInputs })).get('d')!.kind;
    expect([path([true]), path()]).toEqual(['xnor', 'signSelect']);
  });

  it('ZeroPadding2D adds zeros: +-1 becomes {-1, 0, +1}, and the layer after it no longer runs on XNOR', () => {
    const m = sequential([layers.zeroPadding2d({ padding: 1, name: 'pad', inputShape: [4, 4, 2] }), layers.flatten({ name: 'f' }), reader()]);
    const facts = valueFacts(graphOf(m), { signInputs: [true] });
    expect([facts.levels.get('pad'), facts.levels.get('f')]).toEqual(['ternary', 'ternary']);
    expect(kernelPaths(graphOf(m), facts).get('d')!.kind).toBe('signSelect');
  });

  it('Concatenate: of two +-1 values +-1, of +-1 and a real value real', () => {
    const x = input({ shape: [8], name: 'x' });
    const s1 = layers.steSign({ name: 's1' }).apply(x);
    const s2 = layers.steSign({ name: 's2' }).apply(layers.dense({ units: 5, name: 'dense' }).apply(x));
    const signs = layers.concatenate({ name: 'signs' }).apply([s1, s2]);
    const mixed = layers.concatenate({ name: 'mixed' }).apply([s1, x]);
    const m = model({ inputs: x, outputs: [reader('on_signs').apply(signs), reader('on_mixed').apply(mixed)] });
    expect(levelsOf(m)).toMatchObject({ s1: 'pm1', s2: 'pm1', signs: 'pm1', mixed: 'real' });
    const paths = kernelPaths(graphOf(m), valueFacts(graphOf(m)));
    expect([paths.get('on_signs')!.kind, paths.get('on_mixed')!.kind]).toEqual(['xnor', 'signSelect']);
  });

  it("quantizer layers make their quantizer's levels: SteSign +-1, DoReFa activations k-bit, ste_heaviside {0, 1}; those stay through hard_tanh, not relu", () => {
    const x = input({ shape: [6], name: 'x' });
    const s = layers.steSign({ name: 'sign' }).apply(x);
    const k = layers.quantizer({ class_name: 'DoReFa', config: { k_bit: 2, mode: 'activations' } }, { name: 'dorefa' }).apply(x);
    const h = layers.quantizer('ste_heaviside', { name: 'heaviside' }).apply(x);
    const tanh = layers.activation({ activation: 'hard_tanh', name: 'tanh' }).apply(s);
    const relu = layers.activation({ activation: 'relu', name: 'relu' }).apply(s);
    const m = model({ inputs: x, outputs: [k, h, tanh, relu] });
    expect(levelsOf(m)).toEqual({ x: 'real', sign: 'pm1', dorefa: 'kbit', heaviside: '01', tanh: 'pm1', relu: 'real' });
  });

  it("the seed's functional MLP: every QuantDense after a SteSign layer runs on XNOR; the first by sign-select on real pixels, on XNOR on +-1 pixels", () => {
    const x = input({ shape: [28, 28, 1], name: 'x' });
    let h = layers.flatten({ name: 'flat' }).apply(x);
    for (const i of [1, 2, 3]) {
      h = layers.quantDense({ units: 16, kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', name: `hidden${i}` }).apply(h);
      h = layers.batchNormalization({ momentum: 0.99, scale: false, name: `bn${i}` }).apply(h);
      h = layers.steSign({ name: `sign${i}` }).apply(h);
    }
    const m = model({ inputs: x, outputs: layers.quantDense({ units: 10, activation: 'softmax', kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', name: 'output' }).apply(h) });
    const kinds = (signInputs?: boolean[]) => Object.fromEntries([...kernelPaths(graphOf(m), valueFacts(graphOf(m), { signInputs }))].map(([n, p]) => [n, p.kind]));
    expect(kinds()).toEqual({ hidden1: 'signSelect', hidden2: 'xnor', hidden3: 'xnor', output: 'xnor' });
    expect(kinds([true])).toEqual({ hidden1: 'xnor', hidden2: 'xnor', hidden3: 'xnor', output: 'xnor' });
    // The decision is the plan's: lowering follows the pass.
    expect(lowerModel(m.spec).paths).toEqual(kernelPaths(graphOf(m), valueFacts(graphOf(m))));
  });
});

describe('fusions', () => {
  const chain = (act = 'linear') => sequential([binaryDense(5, 'd1'), layers.batchNormalization({ name: 'bn' }), binaryDense(3, 'd2')], { inputShape: [7] });
  it('a BatchNormalization read from a linear layer alone folds into its epilogue', () => {
    const f = fusions(graphOf(chain()));
    expect([...f.foldedInto].map(([l, bn]) => [l, bn.name])).toEqual([['d1', 'bn']]);
    expect([...f.fused]).toEqual(['bn']);
  });
  it('not when the linear output is kept, read twice, or activated first', () => {
    expect(fusions(graphOf(chain(), ['d1'])).fused.size).toBe(0);
    const activated = sequential([layers.dense({ units: 5, activation: 'relu', inputShape: [7] }), layers.batchNormalization()]);
    expect(fusions(graphOf(activated)).fused.size).toBe(0);
    const x = input({ shape: [7] });
    const d = layers.dense({ units: 5 }).apply(x);
    const twice = model({ inputs: x, outputs: [layers.batchNormalization().apply(d), layers.activation({ activation: 'relu' }).apply(d)] });
    expect(fusions(graphOf(twice)).fused.size).toBe(0);
  });
});

describe('fold padding', () => {
  const padded = (conv: Record<string, unknown>, padding: unknown = 1) => {
    const x = input({ shape: [6, 6, 4], name: 'x' });
    const p = layers.zeroPadding2d({ padding, name: 'pad' }).apply(x);
    return model({ inputs: x, outputs: layers.quantConv2d({ filters: 8, kernelSize: 3, kernelQuantizer: 'ste_sign', name: 'conv', ...conv }).apply(p) });
  };
  const convOf = (g: Graph) => g.spec.layers.find((l) => l.name === 'conv')!;
  it('a symmetric ZeroPadding2D before a valid 3x3 convolution becomes its same padding; the border is what the input quantizer makes of 0', () => {
    for (const [conv, padValues] of [[{ inputQuantizer: 'ste_sign' }, 1], [{}, 0], [{ inputQuantizer: 'ste_tern' }, 0]] as const) {
      const { graph, folded } = foldPadding(graphOf(padded(conv)));
      expect(Object.fromEntries(folded)).toEqual({ pad: 'conv' });
      expect(describeGraph(graph)).toBe('x = InputLayer()\nconv = QuantConv2D(x) [kept]');
      expect(convOf(graph).config).toMatchObject({ padding: 'same', pad_values: padValues });
    }
    // A 5x5 window with dilation 1 takes a padding of 2; a 3x3 with dilation 2 too.
    expect(foldPadding(graphOf(padded({ kernelSize: 5 }, 2))).folded.size).toBe(1);
    expect(foldPadding(graphOf(padded({ dilationRate: 2 }, 2))).folded.size).toBe(1);
  });
  it('left alone where the result would differ: strides, asymmetric or mismatched padding, already same, kept padding', () => {
    for (const [conv, padding] of [
      [{ strides: 2 }, 1],
      [{}, [[1, 0], [1, 1]]],
      [{}, 2],
      [{ padding: 'same' }, 1],
    ] as const) {
      expect(foldPadding(graphOf(padded(conv, padding))).folded.size, JSON.stringify([conv, padding])).toBe(0);
    }
    expect(foldPadding(graphOf(padded({}), ['pad'])).folded.size).toBe(0);
  });
});

describe('describePasses', () => {
  it('shows the graph after each pass (bnn summary --plan prints it)', () => {
    const text = describePasses(sequential([binaryDense(5, 'd1'), layers.batchNormalization({ name: 'bn' }), binaryDense(3, 'd2')], { inputShape: [7] }).spec);
    expect(text).toContain('identity layers removed: none');
    expect(text).toContain('bn = BatchNormalization(d1)');
    expect(text).toContain('value facts (values read only through their sign, so they may travel as bits): bn');
    expect(text).toContain('fusions (BatchNormalization folded into the linear layer before it): bn -> d1');
  });
  it('prints the levels facts and the kernel paths from the graph (no lowering)', () => {
    const m = sequential([layers.dense({ units: 5, name: 'd1', inputShape: [7] }), layers.steSign({ name: 's' }), layers.quantDense({ units: 3, kernelQuantizer: 'ste_sign', name: 'd2' })]);
    const text = describePasses(m.spec);
    expect(text).toContain('value facts (levels of the values known to be quantized): s pm1');
    expect(text).toMatch(/ {2}d2: xnor \(sign weights\): the input holds \+-1 already/);
  });
});
