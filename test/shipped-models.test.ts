// Shipped models by name (src/io/shipped-models.ts): pretrained(name) and loadModel(name) in Node
// from a models directory (a stand-in model saved by the test in a temporary one, never committed),
// unknown and malformed names, a path that wins over a name, the CLI taking a name (summary, eval,
// predict, convert, train's refusal to write into models/, its training.json and the same facts read
// back from its output by recordFromLog), the repository's own
// models/ (index.json agrees with it) and what npm would pack of it.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadModel, pretrained, saveModel } from '../src/io/model-files.js';
import { MODELS_INDEX, UnknownModelError, isModelName, locateShippedModel, shippedModelNames, shippedModelsDir, shippedPreprocessing } from '../src/io/shipped-models.js';
import { ModelFormatError } from '../src/model/layer-config.js';
import { savePreprocessing } from '../src/data/datasets.js';
import { preprocessMnist, loadMnist } from '../src/data/mnist.js';
import { writeNpy, readNpy } from '../src/io/npy.js';
import { referenceForward } from '../src/model/reference.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';
import type { Model } from '../src/model/model.js';
import { bnn } from './helpers/cli.js';
import { recordFromLog } from '../src/cli/training-record.js';

const REPO = resolve(import.meta.dirname, '..');
let work = '';
let modelsDir = '';
let standIn: Model;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'bnn-shipped-'));
  modelsDir = join(work, 'models');
  // A small untrained stand-in under the real name, in a temporary models directory: the layout a shipped model has.
  standIn = mnistMlp({ hidden: [32], useBias: true, seed: 4 });
  await saveModel(standIn, join(modelsDir, 'mnist-mlp'), { packBinaryWeights: true });
  await savePreprocessing(join(modelsDir, 'mnist-mlp'), { dataset: 'mnist' });
  // Not models: a directory without model.json, a name that is not a model name.
  mkdirSync(join(modelsDir, 'empty-dir'));
  mkdirSync(join(modelsDir, 'Not_A_Name'));
  writeFileSync(join(modelsDir, 'Not_A_Name', 'model.json'), '{}');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The model's outputs on a fixed batch through the CPU reference: equal weights give equal outputs. */
function outputs(m: Model): Float32Array {
  const x = Float32Array.from({ length: 3 * 784 }, (_, i) => ((i * 37) % 11) - 5);
  return referenceForward(m.spec, [x], 3).get(m.outputs[0])!.data as Float32Array;
}

describe('pretrained(name) and loadModel(name) in Node', () => {
  test('a shipped model loads by name, the same model as its files (binary kernels packed as sign bits)', async () => {
    const a = await pretrained('mnist-mlp', { modelsDir });
    const b = await loadModel('mnist-mlp', { modelsDir });
    expect(a.name).toBe('mnist_mlp');
    expect(outputs(a)).toEqual(outputs(standIn));
    expect(outputs(b)).toEqual(outputs(standIn));
    expect(await locateShippedModel('mnist-mlp', { modelsDir })).toBe(join(modelsDir, 'mnist-mlp'));
    expect(await shippedPreprocessing('mnist-mlp', { modelsDir })).toMatchObject({ dataset: 'mnist' });
  });

  test('BNN_MODELS_DIR names the directory when no option does', async () => {
    const before = process.env.BNN_MODELS_DIR;
    process.env.BNN_MODELS_DIR = modelsDir;
    try {
      expect(await shippedModelsDir()).toBe(modelsDir);
      expect(outputs(await pretrained('mnist-mlp'))).toEqual(outputs(standIn));
    } finally {
      if (before === undefined) delete process.env.BNN_MODELS_DIR;
      else process.env.BNN_MODELS_DIR = before;
    }
  });

  test("only directories named as models and holding a model.json are listed", async () => {
    expect(await shippedModelNames({ modelsDir })).toEqual(['mnist-mlp']);
  });

  test('an unknown name is an UnknownModelError listing the shipped names and the directory', async () => {
    const err = await pretrained('mnist-cnn', { modelsDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownModelError);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as UnknownModelError).shipped).toEqual(['mnist-mlp']);
    expect((err as Error).message).toBe(`no shipped model named 'mnist-cnn' in ${modelsDir}: the shipped models are mnist-mlp`);
    await expect(loadModel('mnist-cnn', { modelsDir })).rejects.toThrow(UnknownModelError);
    await expect(pretrained('mnist-mlp', { modelsDir: join(work, 'nowhere') })).rejects.toThrow(/no shipped model named 'mnist-mlp' in .*nowhere: no model is shipped there/);
  });

  test('pretrained takes names only: a path or a file name is refused, saying to use loadModel', async () => {
    for (const bad of ['../models/mnist-mlp', 'mnist-mlp/model.json', 'Mnist-MLP', '', 'mnist--mlp']) {
      expect(isModelName(bad)).toBe(false);
      await expect(pretrained(bad, { modelsDir })).rejects.toThrow(/is not a shipped model's name .* with loadModel/);
    }
  });

  test('the default directory is the package\'s own models/, and its index.json lists exactly the models there', async () => {
    expect(await shippedModelsDir()).toBe(join(REPO, 'models'));
    const index = JSON.parse(readFileSync(join(REPO, 'models', MODELS_INDEX), 'utf8'));
    expect(index.models).toEqual(await shippedModelNames());
    for (const name of index.models) {
      for (const f of ['model.json', 'group1-shard1of1.bin', 'preprocessing.json', 'README.md']) expect(existsSync(join(REPO, 'models', name, f)), `models/${name}/${f}`).toBe(true);
      // Shipped packed: every binary kernel as sign bits.
      const manifest = JSON.parse(readFileSync(join(REPO, 'models', name, 'model.json'), 'utf8')).weightsManifest;
      const kernels = manifest.flatMap((g: { weights: { name: string; quantization?: { dtype: string } }[] }) => g.weights).filter((w: { name: string }) => w.name.endsWith('/kernel'));
      expect(kernels.every((w: { quantization?: { dtype: string } }) => w.quantization?.dtype === 'b1'), `models/${name}: kernels packed`).toBe(true);
    }
  });
});

describe("in a page: names from index.json under the base URL, files fetched beside it", () => {
  const base = 'http://models.test/static/models/';
  /** A fetch serving modelsDir at `base` (404 elsewhere), recording the URLs asked for. */
  const served = (asked: string[]): typeof fetch => async (input) => {
    const url = String(input);
    asked.push(url);
    const file = url.startsWith(base) ? join(modelsDir, url.slice(base.length)) : '';
    return file && existsSync(file) ? new Response(readFileSync(file)) : new Response('not found', { status: 404, statusText: 'Not Found' });
  };
  let before: PropertyDescriptor | undefined;
  beforeAll(() => {
    writeFileSync(join(modelsDir, MODELS_INDEX), JSON.stringify({ models: ['mnist-mlp'] }));
    before = Object.getOwnPropertyDescriptor(globalThis, 'window');
    Object.defineProperty(globalThis, 'window', { value: {}, configurable: true }); // what model-files.ts and shipped-models.ts take for a page
  });
  afterAll(() => {
    if (before) Object.defineProperty(globalThis, 'window', before);
    else delete (globalThis as { window?: unknown }).window;
    rmSync(join(modelsDir, MODELS_INDEX));
  });

  test('pretrained(name) and loadModel(name) fetch index.json, then model.json and its shard beside it', async () => {
    const asked: string[] = [];
    const m = await pretrained('mnist-mlp', { baseUrl: base, fetch: served(asked) });
    expect(outputs(m)).toEqual(outputs(standIn));
    expect(asked).toEqual([`${base}index.json`, `${base}mnist-mlp/model.json`, `${base}mnist-mlp/group1-shard1of1.bin`]);
    expect(outputs(await loadModel('mnist-mlp', { baseUrl: base.slice(0, -1), fetch: served([]) }))).toEqual(outputs(standIn));
    expect(await shippedPreprocessing('mnist-mlp', { baseUrl: base, fetch: served([]) })).toMatchObject({ dataset: 'mnist' });
  });

  test('an unknown name lists index.json\'s names; a missing index says where it looked and what to do', async () => {
    await expect(pretrained('mnist-cnn', { baseUrl: base, fetch: served([]) })).rejects.toThrow(`no shipped model named 'mnist-cnn' in ${base}: the shipped models are mnist-mlp`);
    const elsewhere = 'http://models.test/elsewhere/';
    await expect(pretrained('mnist-mlp', { baseUrl: elsewhere, fetch: served([]) })).rejects.toThrow(
      `the shipped models' index at ${elsewhere}index.json: HTTP 404 Not Found. The shipped models are looked for under ${elsewhere}: serve the package's models/ directory there, or pass baseUrl`,
    );
    await expect(pretrained('mnist-mlp', { baseUrl: elsewhere, fetch: served([]) })).rejects.toMatchObject({ name: 'ModelFetchError', url: `${elsewhere}index.json` });
  });
});

describe('the CLI takes a shipped model by name', () => {
  const env = () => ({ BNN_MODELS_DIR: modelsDir });

  test('bnn summary NAME: the shipped model (its biases), not the zoo architecture of that name', async () => {
    const r = await bnn(['summary', 'mnist-mlp', '--json'], env());
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    // The stand-in has one hidden layer of 32 with biases; the zoo mnist-mlp has three of 512 without.
    expect(s.layers.map((l: { name: string }) => l.name)).toEqual(['flatten', 'quant_dense', 'batch_normalization', 'quant_dense_1', 'activation']);
    expect(r.stderr).toContain(`mnist-mlp: the shipped model (${join(modelsDir, 'mnist-mlp')})`);
  });

  test('bnn summary NAME with no shipped model of that name still builds the zoo model', async () => {
    const r = await bnn(['summary', 'mnist-cnn', '--json'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).layers.length).toBeGreaterThan(5);
  });

  test('unknown names: one usage line listing the shipped models', async () => {
    const e = await bnn(['eval', '--model', 'mnist-mpl'], env());
    expect(e.code).toBe(2);
    expect(e.stderr.split('\n')[0]).toBe('bnn: --model mnist-mpl: no such file or directory, and no shipped model of that name (did you mean mnist-mlp?); the shipped models are mnist-mlp');
    const s = await bnn(['summary', 'mnist-mpl'], env());
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/^bnn: no shipped model, zoo model or file named 'mnist-mpl' \(did you mean mnist-mlp\?\); the shipped models are mnist-mlp; the zoo models mnist-mlp, /);
  });

  test('a path of the same name wins over the shipped model', async () => {
    const cwd = join(work, 'cwd');
    const other = mnistMlp({ hidden: [16], seed: 9 });
    await saveModel(other, join(cwd, 'mnist-mlp'));
    const r = await bnn(['summary', 'mnist-mlp', '--json'], env(), { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).layers[1].outputShape).toEqual([16]);
    const m = await loadModel(join(cwd, 'mnist-mlp'));
    expect(outputs(m)).toEqual(outputs(other));
  });

  test('bnn convert NAME OUT --pack writes the shipped model with its preprocessing.json (how a run is shipped)', async () => {
    const out = join(work, 'converted');
    const r = await bnn(['convert', 'mnist-mlp', out, '--pack'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'preprocessing.json'), 'utf8'))).toMatchObject({ dataset: 'mnist' });
    expect(outputs(await loadModel(out))).toEqual(outputs(standIn));
    expect(readFileSync(join(out, 'group1-shard1of1.bin'))).toEqual(readFileSync(join(modelsDir, 'mnist-mlp', 'group1-shard1of1.bin')));
  });

  test('bnn eval --model NAME and bnn predict --model NAME run the shipped model (GPU)', { timeout: 120_000 }, async () => {
    const e = await bnn(['eval', '--model', 'mnist-mlp', '--limit', '200', '--json'], env());
    expect(e.code, e.stderr).toBe(0);
    const figures = JSON.parse(e.stdout.trim().split('\n').pop()!);
    expect(figures.model).toBe(join(modelsDir, 'mnist-mlp'));
    expect(figures.count).toBe(200);
    // The same images through the CPU reference: the plan and the reference agree on every argmax.
    const test = await loadMnist({ split: 'test', limit: 200 });
    const probs = referenceForward(standIn.spec, [preprocessMnist(test.images)], 200).get(standIn.outputs[0])!.data;
    let hits = 0;
    for (let i = 0; i < 200; i++) {
      const row = Array.from(probs.subarray(i * 10, i * 10 + 10));
      if (row.indexOf(Math.max(...row)) === test.labels[i]) hits++;
    }
    expect(figures.top1).toBeCloseTo(hits / 200, 10);

    const x = join(work, 'x.npy');
    writeFileSync(x, writeNpy(preprocessMnist(test.images.subarray(0, 4 * 784)), [4, 28, 28, 1]));
    const p = await bnn(['predict', '--model', 'mnist-mlp', '--input', x, '--output', join(work, 'y.npy')], env());
    expect(p.code, p.stderr).toBe(0);
    const y = readNpy(readFileSync(join(work, 'y.npy')));
    expect(y.shape).toEqual([4, 10]);
    expect(Array.from(y.data as Float32Array)).toEqual(Array.from(probs.subarray(0, 40)).map((v) => expect.closeTo(v, 5)));
  });
});

describe('bnn train never writes into the shipped models, and keeps a record of the run', () => {
  test('--out inside the shipped models directory is refused before any work', async () => {
    for (const out of [join(modelsDir, 'mnist-mlp'), join(modelsDir, 'new-model'), modelsDir]) {
      const r = await bnn(['train', 'mnist-mlp', '--epochs', '1', '--out', out], { BNN_MODELS_DIR: modelsDir });
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(/^bnn: --out .* is inside .*models, where the shipped models live .*; write into another directory \(default runs\/MODEL\)/);
    }
    expect(existsSync(join(modelsDir, 'new-model'))).toBe(false);
    expect(existsSync(join(modelsDir, 'mnist-mlp', 'checkpoint'))).toBe(false);
  });

  test('a run writes OUT/training.json: the command, settings, device, dates and each epoch (GPU)', { timeout: 300_000 }, async () => {
    const out = join(work, 'run');
    const args = ['train', '--model', 'mnist-mlp', '--epochs', '1', '--limit', '300', '--test-limit', '100', '--batch', '100', '--out', out];
    const r = await bnn(args, { BNN_MODELS_DIR: modelsDir }, { timeout: 280_000 });
    expect(r.code, r.stderr).toBe(0);
    const record = JSON.parse(readFileSync(join(out, 'training.json'), 'utf8'));
    expect(record.sessions).toHaveLength(1);
    expect(record.sessions[0].argv).toEqual(args);
    expect(record.sessions[0].device).toMatch(/\S/);
    expect(Date.parse(record.sessions[0].started)).toBeLessThanOrEqual(Date.parse(record.finished));
    expect(record.run).toMatchObject({ model: `file:${join(modelsDir, 'mnist-mlp')}`, seed: 0, batchSize: 100, epochs: 1 });
    expect(record.epochs).toHaveLength(1);
    expect(record.epochs[0]).toMatchObject({ epoch: 1, test: { count: 100 } });
    expect(record.epochs[0].test.top1).toBeGreaterThanOrEqual(0);
    // What the run printed reads back (recordFromLog, for runs older than training.json) as the same facts, to the printed digits.
    const logged = recordFromLog(`${r.stderr}\n${r.stdout}`, args, 'end');
    expect(logged).toMatchObject({ model: record.run.model.replace(/^file:/, ''), finished: 'end', run: { seed: 0, batchSize: 100, epochs: 1, optimizer: { text: 'adam lr 0.001' } } });
    expect(logged.sessions[0].device).toBe(record.sessions[0].device);
    const [got, want] = [logged.epochs[0], record.epochs[0]];
    expect(got.epoch).toBe(1);
    expect(got.trainLoss).toBeCloseTo(want.trainLoss, 4);
    expect(got.test!.top1).toBeCloseTo(want.test.top1, 4);
    expect(got.test!.top5).toBeCloseTo(want.test.top5, 4);
    expect(got.test!.loss!).toBeCloseTo(want.test.loss, 4);
  });
});

test("the README's table of shipped models (scripts/model-card.mjs) has each shipped model's card figures", () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const block = /<!-- models:begin -->\n([\s\S]*?)\n<!-- models:end -->/.exec(readme)?.[1];
  expect(block, 'README.md has the generated block').toBeDefined();
  const names: string[] = JSON.parse(readFileSync(join(REPO, 'models', MODELS_INDEX), 'utf8')).models;
  for (const name of names) {
    const facts = JSON.parse(/<!-- facts: (\{.*\}) -->/.exec(readFileSync(join(REPO, 'models', name, 'README.md'), 'utf8'))![1]);
    expect(block).toContain(`| [${name}](models/${name}/README.md) | **${(100 * facts.top1).toFixed(2)}%** |`);
  }
});

test('npm would pack models/ (index, layout, each shipped model\'s four files) and nothing else from it', async () => {
  const listing = await new Promise<string>((ok, fail) =>
    execFile('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO, encoding: 'utf8', maxBuffer: 64 << 20 }, (err, stdout) => (err ? fail(err) : ok(stdout))),
  );
  const files: string[] = JSON.parse(listing)[0].files.map((f: { path: string }) => f.path);
  const models = files.filter((f) => f.startsWith('models/')).sort();
  const names: string[] = JSON.parse(readFileSync(join(REPO, 'models', MODELS_INDEX), 'utf8')).models;
  const want = ['models/README.md', 'models/index.json', ...names.flatMap((n) => ['README.md', 'group1-shard1of1.bin', 'model.json', 'preprocessing.json'].map((f) => `models/${n}/${f}`))].sort();
  expect(models).toEqual(want);
});
