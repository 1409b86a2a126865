// The run record of bnn train (src/cli/training-record.ts): training.json across a resume, and the
// same facts read back from a run's printed output (recordFromLog). The record a real run writes is
// checked in test/shipped-models.test.ts.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { TRAINING_RECORD, TrainingLog, recordFromLog } from '../src/cli/training-record.js';
import type { EpochResult } from '../src/train/fit.js';

const dir = mkdtempSync(join(tmpdir(), 'bnn-record-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const epoch = (e: number, top1: number): EpochResult => ({ epoch: e, trainLoss: 1 / (e + 1), trainTop1: top1, test: { top1, top5: 1, loss: 0.5, count: 10, confusion: [] }, seconds: 2, samplesPerSecond: 50 });

test('training.json: rewritten after each epoch; a resumed run adds its session and keeps the epochs up to its checkpoint', async () => {
  const run = { model: 'mnist-mlp', seed: 0, batchSize: 300, epochs: 3, optimizer: { kind: 'adam', learningRate: 0.001 } };
  const read = () => JSON.parse(readFileSync(join(dir, TRAINING_RECORD), 'utf8'));
  const first = await TrainingLog.start(dir, 'mnist-mlp', run, { argv: ['train', 'mnist-mlp', '--epochs', '3'], device: 'gpu A', started: '2026-12-07T10:00:00.000Z', startEpoch: 0 });
  expect(read()).toMatchObject({ model: 'mnist-mlp', run, epochs: [], sessions: [{ device: 'gpu A', startEpoch: 0 }] });
  await first.epoch(epoch(0, 0.8));
  await first.epoch(epoch(1, 0.9)); // then killed: epoch 2 was written to the record, its checkpoint not
  expect(read().epochs.map((e: { epoch: number }) => e.epoch)).toEqual([1, 2]);
  expect(read().finished).toBeUndefined();
  const resumed = await TrainingLog.start(dir, 'mnist-mlp', run, { argv: ['train', 'mnist-mlp', '--epochs', '3', '--resume'], device: 'gpu B', started: '2026-12-07T11:00:00.000Z', startEpoch: 1 });
  await resumed.epoch(epoch(1, 0.91));
  await resumed.epoch(epoch(2, 0.95));
  await resumed.finish();
  const r = read();
  expect(r.sessions.map((s: { argv: string[]; startEpoch: number }) => [s.argv.at(-1), s.startEpoch])).toEqual([['3', 0], ['--resume', 1]]);
  expect(r.epochs.map((e: { epoch: number; test: { top1: number } }) => [e.epoch, e.test.top1])).toEqual([[1, 0.8], [2, 0.91], [3, 0.95]]);
  expect(r.epochs[0].test).toEqual({ top1: 0.8, top5: 1, loss: 0.5, count: 10 }); // no confusion matrix in the record
  expect(Date.parse(r.finished)).toBeGreaterThan(0);
});

test('recordFromLog: a resumed run keeps the last report of each epoch; BatchNorm recalibration and an unfinished run', () => {
  const log = [
    'training mnist-mlp-bn on 60000 MNIST images, 3 epoch(s), batch 300, adam lr 0.003, cosine schedule, seed 0, on google swiftshader (software, CPU; node-swiftshader)',
    'epoch 1/3 [===      ] 20/200  loss 2.3  acc 50.00%  300 samples/s',
    'epoch 1: train loss 0.5000 acc 90.90%  test top-1 84.62% top-5 99.00% loss 0.6000 (BN recalibrated: top-1 94.91% top-5 99.54%)  (150.0 s, 0.75 s/step, 400 samples/s)',
    'epoch 2: train loss 0.4000 acc 95.00%  test top-1 90.00% top-5 99.10% loss 0.5000  (150.0 s, 0.75 s/step, 400 samples/s)',
    'resuming mnist-mlp-bn from runs/x/checkpoint: 1 epoch(s) done (seed 0, batch 300, adam lr 0.003)',
    'training mnist-mlp-bn on 60000 MNIST images, 3 epoch(s), batch 300, adam lr 0.003, cosine schedule, seed 0, on google swiftshader (software, CPU; node-swiftshader)',
    'epoch 2: train loss 0.3000 acc 96.00%  test top-1 95.85% top-5 99.60% loss 0.1400  (160.0 s, 0.80 s/step, 375 samples/s)',
  ].join('\n');
  const r = recordFromLog(log, ['train', 'mnist-mlp-bn'], 'end');
  expect(r.finished).toBeUndefined(); // no "saved ..." line: the run has not finished
  expect(r.run).toMatchObject({ model: 'mnist-mlp-bn', epochs: 3, batchSize: 300, optimizer: { text: 'adam lr 0.003, cosine schedule' } });
  const bp = (x?: number) => (x === undefined ? undefined : Math.round(x * 1e4)); // in basis points: the log prints two decimals of a percentage
  expect(r.epochs.map((e) => [e.epoch, bp(e.test?.top1), bp(e.testRecalibrated?.top1), e.seconds])).toEqual([[1, 8462, 9491, 150], [2, 9585, undefined, 160]]);
  expect(recordFromLog(`${log}\nsaved runs/x/model.json`, [], 'end').finished).toBe('end');
  expect(() => recordFromLog('hello', [], 'end')).toThrow(/not the output of bnn train/);
});
