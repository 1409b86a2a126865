// `bnn recalibrate-bn`: a trained model's BatchNorm moving statistics re-estimated over its training
// data, through the built CLI as a user runs it. The statistics it saves are the ones
// Trainer.recalibrateBatchNorm computes in process (itself checked against the CPU reference in
// trainer.test.ts), its record's training-split figures are evaluate()'s, the model as trained is
// kept, and bad requests are one-line usage errors before any work.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DATASETS, savePreprocessing, preprocessor } from '../src/data/datasets.js';
import { epochBatches } from '../src/data/batches.js';
import { loadModel, saveModel } from '../src/io/model-files.js';
import { layers, sequential } from '../src/model/model.js';
import { evaluate } from '../src/train/fit.js';
import { Trainer } from '../src/train/trainer.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';
import type { RecalibrationRecord } from '../src/cli/recalibrate-command.js';
import { expectClose } from './helpers/check.js';
import { bnn } from './helpers/cli.js';
import { useGpu } from './helpers/gpu.js';

const gpu = useGpu();
let work = '';
const LIMIT = 700; // not a multiple of the batch: the last batch is short

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'bnn-recalibrate-'));
  // A small MLP with BatchNorm, its moving statistics left at their initial values (0 and 1), so recalibration must move them.
  await saveModel(mnistMlp({ hidden: [48, 40], useBias: true, seed: 7 }), join(work, 'trained'));
  await savePreprocessing(join(work, 'trained'), { dataset: 'mnist' });
  const noBatchNorm = sequential([layers.flatten({ inputShape: [28, 28, 1] }), layers.quantDense({ units: 10, inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign' }), layers.activation({ activation: 'softmax' })]);
  await saveModel(noBatchNorm, join(work, 'no-bn'));
  await savePreprocessing(join(work, 'no-bn'), { dataset: 'mnist' });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('bnn recalibrate-bn', () => {
  test('saves the model with the statistics Trainer.recalibrateBatchNorm computes, and a record with the training-split figures before and after', { timeout: 180_000 }, async () => {
    const out = join(work, 'recalibrated');
    const r = await bnn(['recalibrate-bn', '--model', join(work, 'trained'), '--limit', String(LIMIT), '--batch', '300', '--out', out], {}, { timeout: 170_000 });
    expect(r.stderr).not.toMatch(/Error|at /);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^recalibrating 2 BatchNormalization layer\(s\) of mnist_mlp over 700 MNIST training images \(batch 300/);
    for (const f of ['model.json', 'group1-shard1of1.bin', 'preprocessing.json', 'recalibration.json']) expect(existsSync(join(out, f))).toBe(true);
    const record = JSON.parse(readFileSync(join(out, 'recalibration.json'), 'utf8')) as RecalibrationRecord;
    expect(record).toMatchObject({ source: join(work, 'trained'), dataset: 'mnist', samples: LIMIT, batchSize: 300, batchNormLayers: ['batch_normalization', 'batch_normalization_1'] });
    expect(record.argv.slice(0, 2)).toEqual(['recalibrate-bn', '--model']);

    // The same in process: the same images in the same order, the same batches.
    const trained = await loadModel(join(work, 'trained'));
    const train = await DATASETS.mnist.load('train', { limit: LIMIT });
    const preprocess = preprocessor({ dataset: 'mnist' });
    const before = await evaluate(gpu(), trained, train, 500, { preprocess });
    const trainer = await Trainer.create(gpu(), trained, { maxBatch: 300 });
    try {
      await trainer.recalibrateBatchNorm(epochBatches(train, { batchSize: 300, seed: 0, epoch: 0, shuffle: false, preprocess }));
      await trainer.syncModel();
    } finally {
      trainer.destroy();
    }
    const saved = await loadModel(out);
    for (const [name, w] of trained.spec.weights) {
      if (/moving_(mean|variance)$/.test(name)) {
        expectClose(saved.weight(name).data, w.data, Float32Array.from(w.data, (v) => 1e-5 * (1 + Math.abs(v))), name);
        expect(Array.from(w.data).some((v) => v !== 0 && v !== 1)).toBe(true); // moved from the initial 0 / 1
      } else {
        expect(Array.from(saved.weight(name).data), name).toEqual(Array.from(w.data)); // nothing else changes
      }
    }
    const after = await evaluate(gpu(), trained, train, 500, { preprocess });
    expect(record.trainBefore).toEqual({ top1: before.top1, top5: before.top5, loss: expect.closeTo(before.loss, 5), count: LIMIT });
    expect(record.trainAfter).toEqual({ top1: after.top1, top5: after.top5, loss: expect.closeTo(after.loss, 5), count: LIMIT });
    expect(r.stdout).toContain(`recalibrated:                 top-1 ${(100 * after.top1).toFixed(2)}%`);
    // The model as trained is untouched.
    expect(Array.from((await loadModel(join(work, 'trained'))).weight('batch_normalization/moving_mean').data).every((v) => v === 0)).toBe(true);
  });

  test('no --model, a model without BatchNorm, --out the model\'s own directory, --out inside the shipped models: one-line usage errors, nothing written', async () => {
    const cases: [string[], RegExp, Record<string, string>?][] = [
      [[], /^bnn: recalibrate-bn needs --model/],
      [['--model', join(work, 'no-bn'), '--out', join(work, 'x1')], /has no BatchNormalization layer, so there is nothing to recalibrate$/],
      [['--model', join(work, 'trained'), '--out', join(work, 'trained')], /is the model's own directory: the recalibrated model goes beside it/],
      [['--model', join(work, 'trained'), '--out', join(work, 'models', 'mnist-mlp')], /is inside .*models, where the shipped models live/, { BNN_MODELS_DIR: join(work, 'models') }],
    ];
    for (const [args, message, env] of cases) {
      const r = await bnn(['recalibrate-bn', ...args], env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(message);
    }
    expect(existsSync(join(work, 'x1'))).toBe(false);
    expect(existsSync(join(work, 'trained', 'recalibration.json'))).toBe(false);
  });
});
