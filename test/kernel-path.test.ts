// The one kernel-path decision of a linear layer (src/plan/kernel-path.ts) over the quantizer
// combinations: what it decides and why, that lowering emits the product that decision names, and
// how the trainer maps it.
import { describe, expect, it } from 'vitest';
import { layers, sequential } from '../src/model/model.js';
import type { QuantizerIdentifier } from '../src/model/quantizers.js';
import { kernelPathOf, trainingPathOf, type KernelPath } from '../src/plan/kernel-path.js';
import { lowerModel, type Step } from '../src/plan/lower.js';
import { describePasses } from '../src/plan/passes/describe.js';

const dorefa = (mode: 'activations' | 'weights', k: number) => ({ class_name: 'DoReFa', config: { k_bit: k, mode } });
const twn = { class_name: 'SteTern', config: { ternary_weight_networks: true } };
const noOp = { class_name: 'NoOp', config: { precision: 1 } };

/** A decision without its reason (Omit over each member of the union). */
type Want = KernelPath extends infer P ? (P extends KernelPath ? Omit<P, 'reason'> : never) : never;

interface Case {
  iq: QuantizerIdentifier;
  kq: QuantizerIdentifier;
  /** The input holds +-1 (a model input checked to, in the plan). */
  signs?: boolean;
  /** The decision: kind and its detail. */
  want: Want;
  /** The trainer's kernels ('binary' kernel set). */
  train: 'bits' | 'signSelect' | 'float';
}

const CASES: Case[] = [
  { iq: 'ste_sign', kq: 'ste_sign', want: { kind: 'xnor', weights: 'sign' }, train: 'bits' },
  { iq: 'stochastic_ste_sign', kq: 'ste_sign', want: { kind: 'xnor', weights: 'sign' }, train: 'bits' },
  { iq: 'ste_sign', kq: 'stochastic_ste_sign', want: { kind: 'xnor', weights: 'sign' }, train: 'bits' },
  // Surrogate gradients read the real value: inference on XNOR, training in f32.
  { iq: 'approx_sign', kq: 'ste_sign', want: { kind: 'xnor', weights: 'sign' }, train: 'float' },
  { iq: 'ste_sign', kq: 'approx_sign', want: { kind: 'xnor', weights: 'sign' }, train: 'float' },
  { iq: 'swish_sign', kq: 'swish_sign', want: { kind: 'xnor', weights: 'sign' }, train: 'float' },
  { iq: 'ste_sign', kq: 'magnitude_aware_sign', want: { kind: 'xnor', weights: 'scaledSign' }, train: 'float' },
  { iq: 'ste_sign', kq: 'ste_tern', want: { kind: 'ternary' }, train: 'float' },
  { iq: 'ste_sign', kq: twn, want: { kind: 'ternary' }, train: 'float' },
  { iq: null, kq: 'ste_sign', want: { kind: 'signSelect', weights: 'sign' }, train: 'signSelect' },
  // An input known to hold +-1 needs no quantizer to run on XNOR; the trainer knows no such fact.
  { iq: null, kq: 'ste_sign', signs: true, want: { kind: 'xnor', weights: 'sign' }, train: 'signSelect' },
  { iq: noOp, kq: 'ste_sign', signs: true, want: { kind: 'xnor', weights: 'sign' }, train: 'float' },
  { iq: noOp, kq: 'ste_sign', want: { kind: 'float' }, train: 'float' },
  { iq: null, kq: 'magnitude_aware_sign', want: { kind: 'signSelect', weights: 'scaledSign' }, train: 'float' },
  { iq: null, kq: 'ste_tern', want: { kind: 'signSelect', weights: 'ternary' }, train: 'float' },
  { iq: null, kq: dorefa('weights', 1), want: { kind: 'signSelect', weights: 'pm1Values' }, train: 'float' },
  { iq: null, kq: dorefa('weights', 2), want: { kind: 'float' }, train: 'float' },
  { iq: dorefa('activations', 2), kq: dorefa('weights', 2), want: { kind: 'dorefaPlanes', bits: [2, 2] }, train: 'float' },
  { iq: dorefa('activations', 3), kq: dorefa('weights', 1), want: { kind: 'dorefaPlanes', bits: [3, 1] }, train: 'float' },
  { iq: dorefa('activations', 2), kq: dorefa('weights', 9), want: { kind: 'float' }, train: 'float' },
  { iq: dorefa('activations', 2), kq: 'ste_sign', want: { kind: 'float' }, train: 'float' },
  { iq: 'ste_heaviside', kq: 'ste_sign', want: { kind: 'float' }, train: 'float' },
  { iq: 'ste_sign', kq: 'ste_heaviside', want: { kind: 'float' }, train: 'float' },
  { iq: 'ste_sign', kq: null, want: { kind: 'float' }, train: 'float' },
  { iq: null, kq: null, want: { kind: 'float' }, train: 'float' },
];

const show = (q: QuantizerIdentifier) => (q === null ? 'none' : typeof q === 'string' ? q : JSON.stringify(q));

/** The product step lowering emits for each kind (a dense layer). */
const productOf = (steps: Step[]): string => {
  const s = steps.find((t) => ['binaryDense', 'binaryFloatDense', 'bitSerialDense', 'floatDense'].includes(t.op))!;
  return s.op === 'binaryDense' && s.ternary ? 'binaryDense:ternary' : s.op;
};
const PRODUCT: Record<KernelPath['kind'], string> = { xnor: 'binaryDense', ternary: 'binaryDense:ternary', signSelect: 'binaryFloatDense', dorefaPlanes: 'bitSerialDense', float: 'floatDense' };

describe('kernelPathOf', () => {
  for (const c of CASES) {
    it(`input ${show(c.iq)}, kernel ${show(c.kq)}${c.signs ? ', input +-1' : ''}: ${c.want.kind}; the plan's product and the trainer's kernels follow`, () => {
      const m = sequential([layers.quantDense({ units: 3, inputQuantizer: c.iq, kernelQuantizer: c.kq, name: 'd', inputShape: [40] })]);
      const l = m.spec.layers.find((x) => x.name === 'd')!;
      const path = kernelPathOf(l, { signs: !!c.signs });
      expect(path).toMatchObject(c.want);
      expect(path.reason.length).toBeGreaterThan(10);
      const lowered = lowerModel(m.spec, { signInputs: [!!c.signs] });
      expect(lowered.paths.get('d')).toEqual(path);
      expect(productOf(lowered.steps)).toBe(PRODUCT[c.want.kind]);
      expect(trainingPathOf(l, 'binary').path).toBe(c.train);
      expect(trainingPathOf(l, 'float').path).toBe('float');
    });
  }

  it("kernels 'float': every layer on the fp32 kernels, in the plan too", () => {
    const m = sequential([layers.quantDense({ units: 3, inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', name: 'd', inputShape: [8] })]);
    const lowered = lowerModel(m.spec, { kernels: 'float' });
    expect(lowered.paths.get('d')).toMatchObject({ kind: 'float', reason: expect.stringMatching(/kernels 'float'/) });
    expect(productOf(lowered.steps)).toBe('floatDense');
  });

  it('a layer after a standalone SteSign layer (the seed MLP) runs on XNOR: its input holds +-1', () => {
    const m = sequential([
      layers.quantDense({ units: 6, kernelQuantizer: 'ste_sign', name: 'd1', inputShape: [8] }),
      layers.batchNormalization({ name: 'bn' }),
      layers.steSign({ name: 'sign' }),
      layers.quantDense({ units: 3, kernelQuantizer: 'ste_sign', name: 'd2' }),
    ]);
    const { paths } = lowerModel(m.spec);
    expect(paths.get('d1')).toMatchObject({ kind: 'signSelect', weights: 'sign' });
    expect(paths.get('d2')).toMatchObject({ kind: 'xnor', weights: 'sign', reason: expect.stringMatching(/input holds \+-1 already/) });
  });

  it('DoReFa planes pad with zeros only: pad_values 1 with padding same runs in f32, and says why', () => {
    const conv = (padValues: number) =>
      sequential([layers.quantConv2d({ filters: 2, kernelSize: 3, padding: 'same', padValues, inputQuantizer: dorefa('activations', 2), kernelQuantizer: dorefa('weights', 2), name: 'c', inputShape: [5, 5, 3] })]);
    expect(kernelPathOf(conv(0).spec.layers.find((l) => l.name === 'c')!, { signs: false })).toMatchObject({ kind: 'dorefaPlanes', bits: [2, 2] });
    const padded = lowerModel(conv(1).spec);
    expect(padded.paths.get('c')).toMatchObject({ kind: 'float', reason: expect.stringMatching(/pad_values 1 with padding 'same'/) });
    expect(padded.steps.map((s) => s.op)).toContain('floatConv');
  });

  it('bnn summary --plan shows each linear layer its path and reason', () => {
    const m = sequential([
      layers.quantDense({ units: 6, kernelQuantizer: 'ste_sign', name: 'first', inputShape: [8] }),
      layers.quantDense({ units: 3, inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_tern', name: 'tern' }),
    ]);
    const text = describePasses(m.spec);
    expect(text).toContain('kernel paths (one decision per linear layer; the trainer maps the same decision):');
    expect(text).toMatch(/ {2}first: signSelect \(sign weights\): real-valued input \(no input quantizer\), kernel quantizer SteSign gives \+-1: sign-select/);
    expect(text).toMatch(/ {2}tern: ternary: input quantizer SteSign gives \+-1, kernel quantizer SteTern gives \{-1, 0, \+1\}/);
    expect(describePasses(m.spec, { signInputs: [true] })).toMatch(/first: xnor \(sign weights\): the input holds \+-1 already/);
  });
});
