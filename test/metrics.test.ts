// Accuracy as Keras reports it: top-1 = argmax (first maximum) equals the label, top-5 = TF's
// in_top_k. Integer logits full of ties (what a binarized classifier outputs) on the CPU, in the
// training kernel, and through evaluate() on a real model, each against a plain count.
import { describe, expect, test } from 'vitest';
import { loadMnist } from '../src/data/mnist.js';
import { softmaxCrossEntropy } from '../src/ops/loss.js';
import { InferencePlan } from '../src/plan/plan.js';
import { preprocessMnist } from '../src/data/mnist.js';
import { evaluate } from '../src/train/fit.js';
import { argmax, inTopK, rowHits } from '../src/train/metrics.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';
import { useGpu } from './helpers/gpu.js';
import { rngFor } from './helpers/random.js';

const gpu = useGpu();

/** Plain references: the first index of the largest value; the label's rank among strictly greater values. */
const firstMax = (row: number[]) => row.indexOf(Math.max(...row));
const strictlyGreater = (row: number[], label: number) => row.filter((v) => v > row[label]).length;

// [logits, label, top-1 hit, top-5 hit]: written out by hand.
const CASES: [number[], number, boolean, boolean][] = [
  [[0, 3, 3, 1], 1, true, true], // the first of two maxima is the prediction
  [[0, 3, 3, 1], 2, false, true], // the second is not (the old rule counted it)
  [[5, 5, 5, 5, 5, 5, 5, 5, 5, 5], 0, true, true], // all equal: class 0 predicted
  [[5, 5, 5, 5, 5, 5, 5, 5, 5, 5], 9, false, true], // in_top_k: ties at the 5th place are in
  [[9, 8, 7, 6, 2, 2, 2, 1, 0, 0], 6, false, true], // 4 strictly above: in
  [[9, 8, 7, 6, 5, 2, 2, 1, 0, 0], 6, false, false], // 5 strictly above: out
  [[1, NaN, 0], 1, false, false], // a NaN label score hits nothing
  [[NaN, 0, 2, 2], 2, true, true], // other NaN scores are passed over
];

describe('metrics (CPU)', () => {
  test.each(CASES)('%j, label %i: top-1 %s, top-5 %s', (row, label, top1, top5) => {
    expect(rowHits(row, label)).toEqual({ predicted: argmax(row), top1, top5 });
  });

  test('argmax: first maximum; NaN passed over; -1 for a row of NaN', () => {
    expect(argmax([1, 4, 4, 2])).toBe(1);
    expect(argmax([NaN, -1, -1])).toBe(1);
    expect(argmax([NaN, NaN])).toBe(-1);
    expect(inTopK([1, 2, 3], 3, 5)).toBe(false); // a label outside the row
  });

  test('in_top_k compares probabilities with subnormals flushed to zero, as TensorFlow computes them', () => {
    // Softmax of integer logits: exp(-90) and the like are subnormal in float32; TF's softmax gives 0 for them, so they tie.
    const row = Float32Array.of(0.5, 0.3, 0.2, 5e-39, 4e-39, 3e-39, 1e-39, 0, 0, 0);
    expect(inTopK(row, 6, 5)).toBe(true); // 3 scores above it once flushed (6 without flushing)
    expect(inTopK(row, 9, 5)).toBe(true); // ties with the flushed ones
    expect(inTopK(Float32Array.of(0.5, 0.3, 0.2, 0.1, 0.05, 2e-38, 1e-39, 0, 0, 0), 6, 5)).toBe(false); // 2e-38 is normal: 6 above
    expect(rowHits(row, 6)).toEqual({ predicted: 0, top1: false, top5: true });
  });

  test('random integer logits in [-2, 2] (ties on most rows): equal to the plain counts', () => {
    const rng = rngFor('metrics ties');
    let ties = 0;
    for (let i = 0; i < 2000; i++) {
      const row = Array.from({ length: 10 }, () => rng.int(5) - 2);
      const label = rng.int(10);
      const h = rowHits(row, label);
      expect(h.predicted).toBe(firstMax(row));
      expect(h.top1).toBe(firstMax(row) === label);
      expect(h.top5).toBe(strictlyGreater(row, label) < 5);
      if (row.filter((v) => v === row[label]).length > 1) ties++;
    }
    expect(ties).toBeGreaterThan(1000);
  });
});

describe('metrics (GPU)', () => {
  test("the training kernel's top-1/top-5 hits follow the same rules on the hand-written cases", async () => {
    const g = gpu();
    const cases = CASES.filter(([row]) => row.length === 10 || row.length === 4);
    for (const C of [4, 10]) {
      const rows = cases.filter(([row]) => row.length === C);
      const logits = g.upload(Float32Array.from(rows.flatMap(([row]) => row)), [rows.length, C], 'f32', 'logits');
      const labels = g.upload(Uint32Array.from(rows.map(([, l]) => l)), [rows.length], 'u32', 'labels');
      const r = await softmaxCrossEntropy(g, logits, labels);
      expect(Array.from(await r.top1.read())).toEqual(rows.map(([, , t1]) => (t1 ? 1 : 0)));
      expect(Array.from(await r.top5.read())).toEqual(rows.map(([, , , t5]) => (t5 ? 1 : 0)));
      for (const t of [logits, labels, r.loss, r.dLogits, r.top1, r.top5]) t.release();
    }
  });

  test('evaluate() on the MLP as written (integer logits, many ties) equals an argmax count over the plan outputs; its confusion diagonal is top-1', { timeout: 120_000 }, async () => {
    const g = gpu();
    // Untrained, hidden 64: logits are small integers, so the softmax ties on many rows.
    const model = mnistMlp({ hidden: [64], seed: 5 });
    const data = await loadMnist({ split: 'test', limit: 500 });
    const e = await evaluate(g, model, data, 250);
    const plan = await InferencePlan.compile(g, model, { maxBatch: 500 });
    const probs = (await plan.run(preprocessMnist(data.images))).get(model.outputs[0])!.data;
    plan.destroy();
    let top1 = 0;
    let top5 = 0;
    let tiedAtTop = 0;
    for (let i = 0; i < data.count; i++) {
      const row = Array.from(probs.subarray(i * 10, (i + 1) * 10));
      const label = data.labels[i];
      if (firstMax(row) === label) top1++;
      if (strictlyGreater(row, label) < 5) top5++;
      if (row[label] === Math.max(...row) && firstMax(row) !== label) tiedAtTop++;
    }
    expect(tiedAtTop).toBeGreaterThan(0); // rows the old rule counted as hits
    expect(e.top1).toBe(top1 / data.count);
    expect(e.top5).toBe(top5 / data.count);
    expect(e.confusion.reduce((s, row, t) => s + row[t], 0)).toBe(top1);
    expect(e.confusion.flat().reduce((a, b) => a + b)).toBe(data.count);
  });
});
