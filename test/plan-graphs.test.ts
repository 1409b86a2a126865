// Compiled plans against the CPU reference on random functional graphs: the random model families
// of plan.test.ts extended to DAGs, with standalone quantizer layers (Larq's SteSign as a layer),
// shortcuts (Add, Bi-Real style: real values summed with a binary convolution's BatchNorm output),
// concatenations (of bits and of floats), fan-out (a value read by several layers), max pooling on
// bits, zero padding, global average pooling, several outputs. Each graph is drawn from a seed
// (TEST_SEED, printed), so a failure reproduces. Binary values must match exactly, floats within 1e-3.
import { describe, expect, test } from 'vitest';
import { input, layers, model, type Model, type SymbolicTensor } from '../src/model/model.js';
import { referenceForward } from '../src/model/reference.js';
import { InferencePlan, describePlan } from '../src/plan/plan.js';
import { lowerModel } from '../src/plan/lower.js';
import { expectClose, expectExact } from './helpers/check.js';
import { useGpu } from './helpers/gpu.js';
import { rngFor, type Random } from './helpers/random.js';
import { randomInputs, randomizeWeights } from '../bench/random-weights.js';

const gpu = useGpu();

interface Value {
  t: SymbolicTensor;
  shape: [number, number, number];
}

/** A random functional graph over a [6, 5, 3] image: `ops` layers drawn from the kinds above, then GAP + dense heads. */
function randomGraph(rng: Random, ops: number): Model {
  const x = input({ shape: [6, 5, 3], name: 'image' });
  const values: Value[] = [{ t: x, shape: [6, 5, 3] }];
  const pick = () => values[values.length - 1 - rng.int(Math.min(values.length, 3))]; // mostly recent values
  const push = (t: SymbolicTensor, shape: [number, number, number]) => values.push({ t, shape });
  const conv = (v: Value, binaryInput: boolean) => {
    const filters = [5, 8, 32, 33][rng.int(4)];
    const c = layers.quantConv2d({ filters, kernelSize: 3, padding: 'same', padValues: rng.int(2), kernelQuantizer: 'ste_sign', ...(binaryInput ? { inputQuantizer: 'ste_sign' } : {}) }).apply(v.t);
    push(layers.batchNormalization().apply(c), [v.shape[0], v.shape[1], filters]);
  };
  for (let i = 0; i < ops; i++) {
    const v = pick();
    const op = rng.int(7);
    if (op <= 1) conv(v, op === 0);
    else if (op === 2) push(layers.steSign().apply(v.t), v.shape); // a standalone quantizer layer: its consumers run on XNOR
    else if (op === 3) {
      const same = values.filter((w) => w !== v && w.shape.every((d, k) => d === v.shape[k]));
      if (same.length) push(layers.add().apply([v.t, same[rng.int(same.length)].t]), v.shape);
      else conv(v, true);
    } else if (op === 4) {
      const same = values.filter((w) => w !== v && w.shape[0] === v.shape[0] && w.shape[1] === v.shape[1]);
      if (same.length) {
        const w = same[rng.int(same.length)];
        push(layers.concatenate().apply([v.t, w.t]), [v.shape[0], v.shape[1], v.shape[2] + w.shape[2]]);
      } else push(layers.steSign().apply(v.t), v.shape);
    } else if (op === 5 && v.shape[0] >= 2 && v.shape[1] >= 2) push(layers.maxPooling2d({ poolSize: 2, padding: 'same' }).apply(v.t), [Math.ceil(v.shape[0] / 2), Math.ceil(v.shape[1] / 2), v.shape[2]]);
    else push(layers.zeroPadding2d({ padding: 1 }).apply(v.t), [v.shape[0] + 2, v.shape[1] + 2, v.shape[2]]);
  }
  const head = (v: Value) => layers.dense({ units: 4, activation: 'softmax' }).apply(layers.globalAveragePooling2d().apply(v.t));
  const last = values[values.length - 1];
  const outputs = [head(last)];
  if (rng.int(2) && values.length > 2) outputs.push(head(values[values.length - 2])); // a second output
  return model({ inputs: x, outputs });
}

// Chains of real-valued convolutions (no input quantizer, fed by BatchNorm outputs: up to 33 x 9
// products each) drift from the f64 reference by f32 rounding; 1e-3 relative covers three in a
// row (measured worst: 1.3e-4 relative). Bits stay exact.
const tolerance = (want: Float32Array) => Float32Array.from(want, (v) => 1e-3 * (1 + Math.abs(v)));

describe.each([0, 1, 2, 3, 4, 5])('random functional graph %i', (i) => {
  test('every layer output equals the reference, on the binary and the fp32 kernels', async () => {
    const rng = rngFor(`random graph ${i}`);
    const m = randomGraph(rng, 6 + rng.int(5));
    randomizeWeights(m, rng);
    const xs = randomInputs(m, rng, 2);
    const ref = referenceForward(m.spec, xs, 2);
    const names = m.layers.map((l) => l.name);
    const graph = m.layers.map((l) => `${l.name}(${l.inbound.join(', ')})`).join(' ');
    for (const kernels of ['binary', 'float'] as const) {
      const plan = await InferencePlan.compile(gpu(), m, { maxBatch: 2, kernels });
      try {
        // The outputs alone (the plan fuses and keeps bits where it can), then every layer by name.
        const outs = await plan.run(xs);
        for (const o of m.outputs) expectClose(outs.get(o)!.data, ref.get(o)!.data, tolerance(ref.get(o)!.data), `${o} (${kernels}; ${graph})`);
        const got = await plan.run(xs, { outputs: names });
        for (const n of names) {
          const g = got.get(n)!;
          const want = ref.get(n)!.data;
          expect(g.shape, n).toEqual(ref.get(n)!.shape);
          if (g.bits) expectExact(g.data, want, `${n} (${kernels}, bits; ${graph})`);
          else expectClose(g.data, want, tolerance(want), `${n} (${kernels}; ${graph})`);
        }
      } finally {
        plan.destroy();
      }
    }
  });
});

describe('zero padding folded into the convolution after it', () => {
  // ZeroPadding2D(1) -> valid 3x3 QuantConv2D: through ste_sign (border +1), without an input
  // quantizer on bits written by a SteSign layer (border 0 of a +-1 input), and on floats.
  const build = (kind: 'sign' | 'bits' | 'float') => {
    const x = input({ shape: [7, 6, 3], name: 'x' });
    const first = layers.batchNormalization().apply(layers.quantConv2d({ filters: 33, kernelSize: 3, padding: 'same', kernelQuantizer: 'ste_sign' }).apply(x));
    const before = kind === 'bits' ? layers.steSign().apply(first) : first;
    const padded = layers.zeroPadding2d({ padding: 1, name: 'pad' }).apply(before);
    const conv = layers.quantConv2d({ filters: 8, kernelSize: 3, kernelQuantizer: 'ste_sign', ...(kind === 'sign' ? { inputQuantizer: 'ste_sign' } : {}), name: 'conv' }).apply(padded);
    return model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(layers.flatten().apply(layers.batchNormalization().apply(conv))) });
  };
  test.each(['sign', 'bits', 'float'] as const)('%s: no pad step, and the outputs equal the reference', async (kind) => {
    const rng = rngFor(`fold padding ${kind}`);
    const m = build(kind);
    randomizeWeights(m, rng);
    const steps = describePlan(lowerModel(m.spec));
    expect(steps).not.toMatch(/\bpad\b/);
    expect(steps).toMatch(kind === 'float' ? /signSelectConv2d/ : /bconv2d 8x3x3x33/);
    const xs = randomInputs(m, rng, 2);
    const ref = referenceForward(m.spec, xs, 2);
    const plan = await InferencePlan.compile(gpu(), m, { maxBatch: 2 });
    try {
      const got = await plan.run(xs, { outputs: [...m.outputs, 'conv'] });
      for (const o of [...m.outputs, 'conv']) expectClose(got.get(o)!.data, ref.get(o)!.data, tolerance(ref.get(o)!.data), `${o} (${kind})`);
    } finally {
      plan.destroy();
    }
  });
});
