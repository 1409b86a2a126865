// Models trained and saved by the real tools (Keras 3.15, the TF.js converter; made by
// scripts/fixtures/make_keras_fixtures.py into test/fixtures/keras/) load through model.json and
// compute what Keras computed: every layer on the CPU reference, then on the GPU plan.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/io/model-files.js';
import { readNpy } from '../src/io/npy.js';
import { referenceForward } from '../src/model/reference.js';
import { InferencePlan } from '../src/plan/plan.js';
import { expectClose, expectExact } from './helpers/check.js';
import { useGpu } from './helpers/gpu.js';

const ROOT = fileURLToPath(new URL('./fixtures/keras/', import.meta.url));
const FIXTURES = readdirSync(ROOT).filter((d) => statSync(join(ROOT, d)).isDirectory());

interface Expected {
  input: string;
  output: string;
  layers: { layer: string; class: string; file: string; kind: 'binary' | 'integer' | 'float'; shape: number[] }[];
}

function load(name: string): { dir: string; expected: Expected; x: Float32Array; batch: number; want: (layer: string) => Float32Array } {
  const dir = join(ROOT, name);
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
  const input = readNpy(readFileSync(join(dir, expected.input)));
  const want = (layer: string) => Float32Array.from(readNpy(readFileSync(join(dir, expected.layers.find((e) => e.layer === layer)!.file))).data);
  return { dir, expected, x: Float32Array.from(input.data), batch: input.shape[0], want };
}

/** Keras's float32 evaluation order differs from ours: floats agree within 1e-5, relative to the value's size. */
const floatTolerance = (want: Float32Array) => Array.from(want, (w) => 1e-5 * Math.max(1, Math.abs(w)));

function check(kind: Expected['layers'][number]['kind'], got: ArrayLike<number>, want: Float32Array, what: string): void {
  if (kind === 'float') expectClose(got, want, floatTolerance(want), what);
  else expectExact(got, want, what);
}

function argmaxes(p: ArrayLike<number>, classes: number): number[] {
  const out: number[] = [];
  for (let r = 0; r * classes < p.length; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (p[r * classes + c] > p[r * classes + best]) best = c;
    out.push(best);
  }
  return out;
}

describe('Keras fixtures: the CPU reference equals Keras, layer by layer', () => {
  it.each(FIXTURES)('%s', async (name) => {
    const { dir, expected, x, batch, want } = load(name);
    const model = await loadModel(dir);
    const ref = referenceForward(model.spec, [x], batch);
    for (const e of expected.layers) {
      const got = ref.get(e.layer);
      expect(got, `layer "${e.layer}" computed`).toBeDefined();
      expect(got!.shape).toEqual(e.shape);
      check(e.kind, got!.data, want(e.layer), `${name}: layer "${e.layer}" (${e.kind})`);
    }
  });
});

const gpu = useGpu();

describe('Keras fixtures: the GPU plan equals Keras', () => {
  it.each(FIXTURES)('%s: every argmax and probability (default plan), every layer (plan reading them all)', async (name) => {
    const { dir, expected, x, want } = load(name);
    const model = await loadModel(dir);
    const plan = await InferencePlan.compile(gpu(), model, { maxBatch: 16 });
    try {
      const out = (await plan.run(x)).get(expected.output)!;
      const probs = want(expected.output);
      const classes = out.shape[out.shape.length - 1];
      expect(argmaxes(out.data, classes)).toEqual(argmaxes(probs, classes));
      expectClose(out.data, probs, 1e-5, `${name}: probabilities`);
      const names = expected.layers.map((e) => e.layer);
      const all = await plan.run(x, { outputs: names });
      for (const e of expected.layers) check(e.kind, all.get(e.layer)!.data, want(e.layer), `${name}: plan, layer "${e.layer}" (${e.kind})`);
    } finally {
      plan.destroy();
    }
  });
});

describe('Keras fixtures: both Keras generations of one model read the same', () => {
  it.each([['mlp', 'keras2-mlp'], ['seed000', 'keras2-seed000']])('%s (Keras 3) and %s (Keras 2 schema)', async (k3, k2) => {
    const [a, b] = [await loadModel(join(ROOT, k3)), await loadModel(join(ROOT, k2))];
    expect(b.spec.layers).toEqual(a.spec.layers);
    expect([b.spec.inputs, b.spec.outputs, b.spec.format]).toEqual([a.spec.inputs, a.spec.outputs, a.spec.format]);
    expect([...b.spec.weights.keys()]).toEqual([...a.spec.weights.keys()]);
    expect([a.spec.kerasVersion, b.spec.kerasVersion]).toEqual(['3.15.1', '2.15.0']);
  });
});
