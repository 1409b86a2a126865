// CIFAR-10 end to end on data the test writes (official-format batches in a temporary data
// directory; nothing from ../shared/data): `bnn train cifar10-cnv` for one step with
// augmentation, a checkpoint written and resumed for a second, the model and its preprocessing
// saved, `bnn eval` with the confusion matrix and `bnn predict --image` on a PNG with --chart;
// `bnn train cifar10-vgg16` for two steps and its checkpoint (one process: SwiftShader compiles
// every pipeline again in each, and VGG16's checkpoint is 180 MB). And
// the confusion matrix of evaluate() on a tiny model, checked against the plan's own outputs.
// The CLI runs from dist/ (npm test builds it) or $BNN_CLI.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { CIFAR10_CLASSES, writeCifarBatch } from '../src/data/cifar10.js';
import { decodeImage, encodePng } from '../src/data/images.js';
import { preprocessor } from '../src/data/datasets.js';
import { evaluate } from '../src/train/fit.js';
import { InferencePlan } from '../src/plan/plan.js';
import { finnCnv } from '../src/zoo/finn-cnv.js';
import { formatConfusion } from '../src/cli/confusion.js';
import { SYMMETRIC_NORMALIZATION } from '../src/ops/augment.js';
import { Random } from '../src/random.js';
import { useGpu } from './helpers/gpu.js';

const gpu = useGpu();
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const root = mkdtempSync(join(tmpdir(), 'bnn-cifar-train-'));
dirs.push(root);

/** `count` images whose colour says the class (class k: red 25k, green 255 - 25k), with noise. */
function samples(count: number, seed: number) {
  const rng = new Random(seed);
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  const images = new Uint8Array(count * 3072);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < 1024; p++) {
      const k = labels[i];
      images.set([Math.min(255, 25 * k + rng.int(30)), Math.max(0, 255 - 25 * k - rng.int(30)), rng.int(256)], i * 3072 + p * 3);
    }
  }
  return { images, labels, count };
}

// The official layout under a data directory of our own.
const dataDir = join(root, 'data');
const batches = join(dataDir, 'cifar10', 'cifar-10-batches-bin');
mkdirSync(batches, { recursive: true });
for (let b = 1; b <= 5; b++) writeFileSync(join(batches, `data_batch_${b}.bin`), writeCifarBatch(samples(4, b)));
writeFileSync(join(batches, 'test_batch.bin'), writeCifarBatch(samples(10, 9)));

const run = promisify(execFile);
const cli = process.env.BNN_CLI ?? 'dist/src/cli/bnn.js';
const bnn = (...args: string[]) => run(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, BNN_DATA_DIR: dataDir }, maxBuffer: 1 << 24 });

/** The current checkpoint's checkpoint.json (DIR/checkpoint/latest names its directory). */
const checkpointMeta = (out: string) => {
  const dir = join(out, 'checkpoint');
  return JSON.parse(readFileSync(join(dir, readFileSync(join(dir, 'latest'), 'utf8').trim(), 'checkpoint.json'), 'utf8'));
};

const lossOf = (stdout: string, epoch: number) => Number(new RegExp(`epoch ${epoch}: train loss ([^ ]+) acc`).exec(stdout)?.[1]);

describe.each([
  ['cifar10-cnv', 'finn_cnv', 4, 1, true],
  ['cifar10-vgg16', 'cifar10_vgg16_bnn', 2, 2, false],
])('bnn train %s', (name, modelName, batch, steps, resumeEvalPredict) => {
  test(`trains ${steps} step(s) with augmentation, checkpoints${resumeEvalPredict ? ', resumes; eval prints the confusion matrix; predict --image classifies a PNG' : ''}`, { timeout: 1_200_000 }, async () => {
    const out = join(root, name);
    const first = await bnn('train', name, '--epochs', '1', '--batch', String(batch), '--limit', String(batch * steps), '--test-limit', '10', '--out', out);
    expect(first.stdout).toMatch(new RegExp(`training ${name} on ${batch * steps} CIFAR-10 images, 1 epoch\\(s\\), batch ${batch}, adam lr 0\\.02, seed 0, inputs .*random crops \\(padding 4\\) and flips`));
    expect(first.stdout).toMatch(/epoch 1: train loss [\d.]+ acc [\d.]+%\s+test top-1 [\d.]+% top-5 [\d.]+% loss [\d.]+ .*s\/step/);
    expect(Number.isFinite(lossOf(first.stdout, 1))).toBe(true);
    expect(existsSync(join(out, 'checkpoint', 'latest'))).toBe(true);
    expect(checkpointMeta(out)).toMatchObject({ epoch: 1, iterations: steps, run: { model: name, augment: true, preprocessing: { dataset: 'cifar10' } } });
    const pre = JSON.parse(readFileSync(join(out, 'preprocessing.json'), 'utf8'));
    expect(pre.dataset).toBe('cifar10');
    expect(pre.classes).toEqual([...CIFAR10_CLASSES]);
    if (!resumeEvalPredict) return;

    const resumed = await bnn('train', name, '--epochs', '2', '--out', out, '--test-limit', '10', '--resume');
    expect(resumed.stdout).toMatch(new RegExp(`resuming ${name} .*1 epoch\\(s\\) done \\(seed 0, batch ${batch}`));
    expect(resumed.stdout).not.toMatch(/epoch 1: train loss/);
    expect(Number.isFinite(lossOf(resumed.stdout, 2))).toBe(true);
    expect(checkpointMeta(out).epoch).toBe(2);

    const ev = await bnn('eval', '--model', out);
    expect(ev.stdout).toMatch(new RegExp(`${modelName} on CIFAR-10 test \\(10 images\\): top-1 [\\d.]+%, top-5 [\\d.]+%`));
    const rows = ev.stdout.split('\n').filter((l) => CIFAR10_CLASSES.some((c) => l.startsWith(`${c} `)));
    expect(rows).toHaveLength(10);
    // One test image per class: every row holds one sample.
    for (const r of rows) expect(r.trim().split(/\s+/).slice(1, 11).map(Number).reduce((a, b) => a + b)).toBe(1);

    const photo = join(root, `${name}-photo.png`);
    writeFileSync(photo, encodePng({ width: 90, height: 60, channels: 3, data: new Uint8Array(90 * 60 * 3).fill(128) }));
    const chart = join(root, `${name}-chart.png`);
    const pr = await bnn('predict', '--model', out, '--image', photo, '--chart', chart);
    expect(pr.stdout).toMatch(/90x60, centre 60x60 reduced to 32x32 RGB/);
    const lines = pr.stdout.split('\n').filter((l) => /^[* ] \w+ +[\d.]+%$/.test(l));
    expect(lines.map((l) => l.slice(2).trim().split(/\s+/)[0])).toEqual([...CIFAR10_CLASSES]);
    expect(lines.filter((l) => l.startsWith('*'))).toHaveLength(1);
    const total = lines.reduce((s, l) => s + Number(/([\d.]+)%$/.exec(l)![1]), 0);
    expect(Math.abs(total - 100)).toBeLessThan(0.1);
    const img = decodeImage(readFileSync(chart));
    expect(img.width).toBeGreaterThan(300);
  });
});

describe('eval', () => {
  test("evaluate's confusion matrix: rows the true classes, columns the plan's first largest probability", { timeout: 300_000 }, async () => {
    const g = gpu();
    const model = finnCnv({ convs: [8, 8, 8, 8, 16, 16], dense: [16, 16], seed: 4 });
    const data = samples(30, 5);
    const preprocess = preprocessor({ dataset: 'cifar10', normalization: SYMMETRIC_NORMALIZATION });
    const e = await evaluate(g, model, data, 16, { preprocess });
    const plan = await InferencePlan.compile(g, model, { maxBatch: 30 });
    const probs = (await plan.run(preprocess(data.images, new Float32Array(30 * 3072)))).get(model.outputs[0])!.data;
    plan.destroy();
    const want = Array.from({ length: 10 }, () => new Array(10).fill(0));
    for (let i = 0; i < 30; i++) {
      const row = Array.from(probs.subarray(i * 10, (i + 1) * 10));
      want[data.labels[i]][row.indexOf(Math.max(...row))]++;
    }
    expect(e.confusion).toEqual(want);
    expect(e.confusion.flat().reduce((a, b) => a + b)).toBe(30);
    const table = formatConfusion(e.confusion, CIFAR10_CLASSES);
    expect(table).toMatch(/rows: true class, columns: predicted class/);
    expect(table.split('\n')[1]).toMatch(/true \\ predicted +airpl +autom +bird +cat +deer +dog +frog +horse +ship +truck +recall/);
    expect(table.split('\n')[2]).toMatch(new RegExp(`^airplane +${want[0].join(' +')} +[\\d.]+%$`));
  });

  test('usage errors', async () => {
    await expect(bnn('train', 'mnist-mlp', '--mean', '0.5')).rejects.toMatchObject({ stderr: expect.stringMatching(/--mean applies to the CIFAR-10 models/) });
    await expect(bnn('train', 'cifar10-cnv', '--std', '0,1,2')).rejects.toMatchObject({ stderr: expect.stringMatching(/--std must be 1 or 3 comma-separated numbers > 0/) });
    await expect(bnn('eval', '--model', 'x', '--data', 'imagenet')).rejects.toMatchObject({ stderr: expect.stringMatching(/--data must be mnist or cifar10/) });
    await expect(bnn('predict', '--model', '.', '--chart', 'c.png')).rejects.toMatchObject({ stderr: expect.stringMatching(/--chart draws the probabilities of --image/) });
  });
});
