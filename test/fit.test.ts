// The training loop on real MNIST (a subset), and the `bnn train` / `bnn eval` commands end to end.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { loadMnist } from '../src/data/mnist.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';
import { input, layers, model as functional } from '../src/model/model.js';
import { TrainError } from '../src/train/trainer.js';
import { evaluate, fit } from '../src/train/fit.js';
import { loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { optimizerConfigs, type OptimizerRun } from '../src/train/optimizer-run.js';
import { expectExact } from './helpers/check.js';
import { useGpu } from './helpers/gpu.js';

const gpu = useGpu();
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('fit', () => {
  test('a small BinaryNet MLP learns MNIST digits: test accuracy far above chance after one pass over 5000 images', { timeout: 180_000 }, async () => {
    const train = await loadMnist({ split: 'train', limit: 5000 });
    const test = await loadMnist({ split: 'test', limit: 1000 });
    const model = mnistMlp({ hidden: [128], outputBatchNorm: true, seed: 1 });
    const before = await evaluate(gpu(), model, test, 500);
    const history = await fit(gpu(), model, train, { epochs: 1, batchSize: 100, seed: 1, optimizer: { kind: 'adam', learningRate: 0.003 }, test, logEvery: 10 });
    expect(history).toHaveLength(1);
    const after = history[0].test!;
    expect(before.top1).toBeLessThan(0.3);
    expect(after.top1).toBeGreaterThan(0.5); // chance: 0.1 (measured: 0.57 after 3000 images)
    expect(after.top5).toBeGreaterThan(after.top1);
    expect(history[0].trainLoss).toBeLessThan(2.3);
  });

  test('a model of several outputs is refused before any work: a data set here holds one label per sample', async () => {
    const x = input({ shape: [28, 28, 1] });
    const h = layers.flatten().apply(x);
    const two = functional({ inputs: x, outputs: [layers.dense({ units: 10, activation: 'softmax' }).apply(h), layers.dense({ units: 2, activation: 'softmax' }).apply(h)] });
    const samples = { count: 0 } as unknown as Parameters<typeof fit>[2];
    const run = fit(gpu(), two, samples, { epochs: 1, batchSize: 10, seed: 0, optimizer: { kind: 'adam' } });
    await expect(run).rejects.toThrow(TrainError);
    await expect(fit(gpu(), two, samples, { epochs: 1, batchSize: 10, seed: 0, optimizer: { kind: 'adam' } })).rejects.toThrow(/1 input\(s\) and 2 output\(s\).*train it with Trainer.step/);
  });
});

describe('checkpoints', () => {
  test.each([
    ['Adam, constant rate', { kind: 'adam', learningRate: 0.003, schedule: 'constant' }],
    ['Bop + Adam, cosine decay', { kind: 'bop', learningRate: 0.01, schedule: 'cosine' }],
    ['SGD, exponential decay', { kind: 'sgd', learningRate: 0.05, schedule: 'exponential', decayRate: 0.5 }],
  ] as [string, OptimizerRun][])('a run stopped after epoch 1 and resumed from its checkpoint on disk ends with the weights of an uninterrupted run (%s)', { timeout: 180_000 }, async (_name, optimizerRun) => {
    const train = await loadMnist({ split: 'train', limit: 600 });
    const options = { epochs: 2, batchSize: 100, seed: 7, ...optimizerConfigs(optimizerRun, 2, 6) };
    const straight = mnistMlp({ hidden: [32], outputBatchNorm: true, seed: 3 });
    await fit(gpu(), straight, train, options);

    const dir = mkdtempSync(join(tmpdir(), 'bnn-ckpt-'));
    dirs.push(dir);
    const first = mnistMlp({ hidden: [32], outputBatchNorm: true, seed: 3 });
    const run = { model: 'test', seed: 7, batchSize: 100, epochs: 2, optimizer: { ...optimizerRun } };
    await fit(gpu(), first, train, {
      ...options,
      epochs: 1,
      afterEpoch: async (e, trainer) => saveCheckpoint(join(dir, 'checkpoint'), { epoch: e.epoch + 1, run, model: first, state: await trainer.saveState() }),
    });
    const ckpt = (await loadCheckpoint(join(dir, 'checkpoint')))!;
    expect(ckpt.epoch).toBe(1);
    expect(ckpt.state.iterations).toBe(6);
    // As `bnn train --resume` does: the optimizers rebuilt from the checkpoint's run.
    const resumed = optimizerConfigs(ckpt.run.optimizer as unknown as OptimizerRun, ckpt.run.epochs!, 6);
    await fit(gpu(), ckpt.model, train, { ...options, ...resumed, startEpoch: ckpt.epoch, state: ckpt.state });
    for (const [name, w] of straight.spec.weights) expectExact(ckpt.model.weight(name).data, w.data, name);
  });

  test('a missing or damaged checkpoint is reported, naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bnn-ckpt-'));
    dirs.push(dir);
    expect(await loadCheckpoint(join(dir, 'none'))).toBeNull();
    mkdirSync(join(dir, 'bad'));
    writeFileSync(join(dir, 'bad', 'checkpoint.json'), '{"format": "webgpu-bnn-checkpoint-1", "epoch": 1');
    await expect(loadCheckpoint(join(dir, 'bad'))).rejects.toThrow(/checkpoint\.json: not valid JSON/);
  });
});

describe('bnn train / eval', () => {
  const run = promisify(execFile);
  const bnn = (...args: string[]) => run(process.execPath, ['dist/src/cli/bnn.js', ...args], { encoding: 'utf8' });

  test('trains, evaluates each epoch, saves; eval reads the saved model back', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bnn-train-'));
    dirs.push(dir);
    const out = await bnn('train', 'mnist-mlp-bn', '--epochs', '1', '--limit', '300', '--batch', '100', '--out', join(dir, 'model'));
    expect(out.stdout).toMatch(/epoch 1: train loss [\d.]+ acc [\d.]+%\s+test top-1 [\d.]+% top-5 [\d.]+%/);
    expect(out.stdout).toMatch(/saved .*model\.json/);
    const resumed = await bnn('train', 'mnist-mlp-bn', '--epochs', '2', '--limit', '300', '--out', join(dir, 'model'), '--resume');
    expect(resumed.stdout).toMatch(/resuming mnist-mlp-bn .*1 epoch\(s\) done/);
    expect(resumed.stdout).toMatch(/epoch 2: train loss/);
    expect(resumed.stdout).not.toMatch(/epoch 1: train loss/);
    const ev = await bnn('eval', '--model', join(dir, 'model'), '--limit', '500');
    expect(ev.stdout).toMatch(/mnist_mlp_bn on MNIST test \(500 images\): top-1 [\d.]+%, top-5 [\d.]+%/);
  });

  test("BinaryNet's variants: --shift-bn and --stochastic train and are saved in the model", { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bnn-variants-'));
    dirs.push(dir);
    const out = await bnn('train', 'mnist-mlp-bn', '--epochs', '1', '--limit', '200', '--batch', '100', '--shift-bn', '--stochastic', '--out', join(dir, 'model'));
    expect(out.stdout).toMatch(/epoch 1: train loss [\d.]+ acc [\d.]+%\s+test top-1/);
    const layers = JSON.parse(readFileSync(join(dir, 'model', 'model.json'), 'utf8')).modelTopology.config.layers as { class_name: string; config: Record<string, any> }[];
    const bn = layers.filter((l) => l.class_name === 'BatchNormalization');
    expect(bn.length).toBeGreaterThan(0);
    for (const l of bn) expect(l.config.shift_based).toBe(true);
    const quantized = layers.filter((l) => l.config.input_quantizer);
    expect(quantized.length).toBeGreaterThan(0);
    for (const l of quantized) expect(l.config.input_quantizer.class_name).toBe('StochasticSteSign');
  });

  test('usage errors', async () => {
    await expect(bnn('train', 'nope')).rejects.toMatchObject({ stderr: expect.stringMatching(/mnist-mlp, mnist-mlp-bn, mnist-cnn/) });
    await expect(bnn('train', 'mnist-cnn', '--quant', 'fp16')).rejects.toMatchObject({ stderr: expect.stringMatching(/--quant must be binary, xnor, ternary or dorefa, got 'fp16'/) });
    await expect(bnn('train', 'mnist-mlp', '--quant', 'binary')).rejects.toMatchObject({ stderr: expect.stringMatching(/--quant applies to mnist-cnn/) });
    await expect(bnn('train', 'mnist-mlp', '--optimizer', 'rmsprop')).rejects.toMatchObject({ stderr: expect.stringMatching(/--optimizer/) });
    await expect(bnn('train', 'mnist-mlp', '--schedule', 'step')).rejects.toMatchObject({ stderr: expect.stringMatching(/--schedule must be constant, exponential or cosine/) });
    await expect(bnn('train', 'mnist-mlp', '--decay-rate', '0.5')).rejects.toMatchObject({ stderr: expect.stringMatching(/--decay-rate goes with --schedule exponential/) });
    await expect(bnn('eval')).rejects.toMatchObject({ stderr: expect.stringMatching(/--model/) });
  });
});
