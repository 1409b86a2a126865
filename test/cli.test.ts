// The `bnn` command line as a user meets it, through the built CLI (dist/): help that never runs
// anything, mistyped flags refused by name with the nearest one, one-line errors without stack
// traces (unless --debug / BNN_DEBUG=1), zoo names checked, and the WebGPU driver's warnings kept
// off stderr (DawnMessageFilter on the exact block Dawn prints). Cheap commands only.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { DawnMessageFilter } from '../src/cli/dawn-filter.js';
import { closest } from '../src/cli/flags.js';
import { bnn, type CliResult } from './helpers/cli.js';

type Result = CliResult;

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const STACK = /^\s+at /m;

/** A usage error: exit 2, the reason and where the help is, nothing else (not the whole help). */
function expectUsage(r: Result, reason: RegExp): void {
  expect(r.code).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(reason);
  expect(lines[1]).toMatch(/^\(bnn help( [a-z -]+ lists the options| lists the commands)\)$/);
  expect(r.stdout).toBe('');
}

describe('bnn help', () => {
  test('bnn, bnn help and bnn --help list the commands', async () => {
    for (const args of [[], ['help'], ['--help']]) {
      const r = await bnn(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^usage: bnn <command>/);
      for (const c of ['info', 'bench gemm', 'train', 'eval', 'predict', 'export', 'summary', 'kernels']) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    }
  });

  test('bnn train --help, bnn train mnist-mlp --help and bnn help train print the options and train nothing', async () => {
    const texts = [];
    for (const args of [['train', '--help'], ['train', 'mnist-mlp', '--help', '--epochs', '1'], ['help', 'train'], ['train', '-h']]) {
      const r = await bnn(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^usage: bnn train MODEL \| --model FILE \[options\]/);
      expect(r.stdout).toMatch(/--epochs N +epochs to train \(default 30\)/);
      expect(r.stdout + r.stderr).not.toMatch(/^training |webgpu-bnn: using|^epoch 1/m);
      texts.push(r.stdout);
    }
    expect(new Set(texts).size).toBe(1);
  });

  test('bnn help bench and bnn bench --help list the benchmarks', async () => {
    for (const args of [['help', 'bench'], ['bench', '--help']]) {
      const r = await bnn(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^  bench gemm-variants /m);
    }
  });
});

describe('usage errors: one line and where the help is, before any work', () => {
  test.each([
    [['train', 'mnist-mlp', '--epoch', '1'], /^bnn: unknown option --epoch \(did you mean --epochs\?\)$/],
    [['export', '--model', '.', '--out', 'x', '--activation', 'x.npy'], /unknown option --activation \(did you mean --activations\?\)/],
    [['predict', '--ouput', 'y.npy'], /unknown option --ouput \(did you mean --output\?\)/],
    [['summary', 'mnist-mlp', '--epochs', '3'], /unknown option --epochs \(it is an option of bnn train\)/],
    [['train', 'mnist-mlp', '--epochs', 'ten'], /--epochs must be a positive integer, got 'ten'/],
    [['tune', 'mnist-mlp', '--batch', '0'], /--batch 0: write positive integers, e.g. 1,300/],
    [['bench', 'tune', '--cases', 'mlp-2'], /mlp-2/],
    [['train', 'mnist-mlp', '--epochs', '0'], /--epochs must be a positive integer, got '0'/],
    [['train', 'mnist-mlp', '--lr', '-1'], /--lr needs a value; to pass one starting with '-', write --lr=VALUE/],
    [['train', 'mnist-mlp', '--lr=-1'], /--lr must be a positive number, got '-1'/],
    [['train', 'mnist-mlp', '--optimizer', 'adma'], /--optimizer must be adam, sgd, shift_adamax or bop, got 'adma' \(did you mean adam\?\)/],
    [['train', 'mnist-mlp', '--out'], /--out needs a value/],
    [['train', 'mnist-mlp', '--resume=yes'], /--resume takes no value/],
    [['train', 'mnist-mlpp'], /no trainable model named 'mnist-mlpp' \(did you mean mnist-mlp\?\)/],
    [['train', 'mnist-mlp', 'extra'], /unexpected argument 'extra'/],
    [['trian', 'mnist-mlp'], /unknown command 'trian' \(did you mean bnn train\?\)/],
    [['bench', 'gem'], /no command 'bnn bench gem' \(did you mean bnn bench gemm\?\)/],
    [['bench', 'models', '--models', 'vgg16,cvn'], /--models must be .*, got 'cvn' \(did you mean cnv\?\)/],
    [['summary', 'mnist-mlpp'], /^bnn: no shipped model, zoo model or file named 'mnist-mlpp' \(did you mean mnist-mlp\?\)/],
    [['eval', '--model', 'nowhere/model.json'], /--model nowhere\/model.json: no such file or directory/],
  ])('bnn %j', async (args, reason) => {
    expectUsage(await bnn(args), reason);
  });
});

describe('known errors: one line (cause and fix), exit 1, a stack trace only when asked', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bnn-cli-'));
  dirs.push(dir);
  const bad = (name: string, text: string) => {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'model.json'), text);
    return join(dir, name);
  };
  const cases: [string, string, RegExp][] = [
    ['truncated JSON', '{"format": "layers-model", "modelTopology": ', /model\.json: not valid JSON/],
    ['a layer without its name', JSON.stringify({ modelTopology: { class_name: 'Sequential', config: { layers: [{ class_name: 'QuantDense', config: { units: 3 } }] } }, weightsManifest: [] }), /QuantDense/],
    ['an unknown layer class', JSON.stringify({ modelTopology: { class_name: 'Sequential', config: { layers: [{ class_name: 'Transformer', config: { name: 't' } }] } }, weightsManifest: [] }), /Transformer/],
  ];
  test.each(cases)('a model file with %s', async (name, text, reason) => {
    const path = bad(name.replace(/ /g, '-'), text);
    const r = await bnn(['summary', path]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^bnn: /);
    expect(r.stderr).toMatch(reason);
    expect(r.stderr).not.toMatch(STACK);
    for (const debug of [{ args: ['--debug'], env: {} }, { args: [], env: { BNN_DEBUG: '1' } }] as { args: string[]; env: Record<string, string> }[]) {
      const d = await bnn([...debug.args, 'summary', path], debug.env);
      expect(d.code).toBe(1);
      expect(d.stderr).toMatch(reason);
      expect(d.stderr).toMatch(STACK);
    }
  });
});

describe("the WebGPU driver's own messages", () => {
  // As dawn.node prints it when Debian's old lavapipe is tried before SwiftShader.
  const DAWN = 'Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.\n - While initializing adapter (backend=BackendType::Vulkan)\n    at InitializeImpl (/home/runner/work/node-webgpu/node-webgpu/third_party/dawn/src/dawn/native/vulkan/PhysicalDeviceVk.cpp:257)\n\n';

  test('DawnMessageFilter drops their blocks, in any chunking, and passes the rest in order', async () => {
    const ours = 'webgpu-bnn: using SwiftShader\nWarning: not a driver message\nepoch 1/1 [==  ] 1/2\repoch 1/1 [====] 2/2\ndone\n';
    const text = DAWN + ours.slice(0, 30) + DAWN + ours.slice(30);
    for (const size of [1, 7, 64, text.length]) {
      let out = '';
      const f = new DawnMessageFilter((t) => (out += t));
      for (let i = 0; i < text.length; i += size) f.push(text.slice(i, i + size));
      f.end();
      expect(out).toBe(ours);
    }
  });

  test('bnn info shows none of them; --debug does show what the driver prints', { timeout: 60_000 }, async () => {
    const r = await bnn(['info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^adapter: /);
    expect(r.stderr).not.toMatch(/Warning: Vulkan|While initializing adapter|PhysicalDeviceVk/);
  });

  test('BNN_TUNING: gpu is shown by bnn info; an unknown value is one line naming it and the accepted values', async () => {
    const tuned = await bnn(['info'], { BNN_TUNING: 'gpu' });
    expect(tuned.code, tuned.stderr).toBe(0);
    expect(tuned.stdout).toMatch(/^adapter: .*, gpu tuning$/m);
    expect(tuned.stdout).toMatch(/^tuning: +gpu \(the GPU defaults/m);
    const bad = await bnn(['info'], { BNN_TUNING: 'fast' });
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^bnn: the environment variable BNN_TUNING is "fast": accepted values are 'default' or 'gpu'.*; fix or unset it$/);
    expect(bad.stderr).not.toMatch(STACK);
  });
});

test('closest: typos and prefixes, nothing for unrelated words', () => {
  expect(closest('epoch', ['epochs', 'batch'])).toBe('epochs');
  expect(closest('bacth', ['epochs', 'batch'])).toBe('batch');
  expect(closest('recalibrate', ['recalibrate-bn', 'resume'])).toBe('recalibrate-bn');
  expect(closest('xyz', ['epochs', 'batch'])).toBeUndefined();
});

describe('bnn train --model FILE', () => {
  test('continues a saved Keras model (a .keras file, a functional chain) on MNIST and saves it with its preprocessing', { timeout: 180_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'bnn-train-model-'));
    dirs.push(out);
    const r = await bnn(['train', '--model', 'test/fixtures/keras/seed000/model.keras', '--epochs', '1', '--limit', '200', '--test-limit', '100', '--batch', '100', '--out', out]);
    expect(r.stderr + r.stdout, r.stderr).toMatch(/epoch 1: train loss [\d.]+ acc [\d.]+%\s+test top-1 [\d.]+% top-5/);
    expect(r.code).toBe(0);
    const again = await bnn(['eval', '--model', out, '--limit', '100']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/on MNIST test \(100 images\): top-1 [\d.]+%/);
  });

  test('--shift N trains an MNIST model on randomly shifted images (on the GPU) and the run keeps it for --resume; refused for CIFAR-10 and past 8 pixels', { timeout: 180_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'bnn-train-shift-'));
    dirs.push(out);
    const r = await bnn(['train', 'mnist-mlp-bn', '--epochs', '1', '--limit', '200', '--test-limit', '100', '--batch', '100', '--shift', '2', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/random shifts of up to 2 pixel\(s\)/);
    expect(r.stdout).toMatch(/epoch 1: train loss [\d.]+ acc [\d.]+%\s+test top-1 [\d.]+%/);
    expect(JSON.parse(readFileSync(join(out, 'training.json'), 'utf8')).run.shift).toBe(2);
    expectUsage(await bnn(['train', 'cifar10-cnv', '--shift', '2']), /--shift applies to the MNIST models/);
    expectUsage(await bnn(['train', 'mnist-mlp', '--shift', '9']), /--shift must be at most 8 pixels/);
  });

  test('a zoo MODEL and --model together, --data without --model, a data set the model cannot take: one-line usage errors', async () => {
    expectUsage(await bnn(['train', 'mnist-mlp', '--model', 'test/fixtures/keras/mlp/model.keras']), /a zoo MODEL or --model FILE, not both/);
    expectUsage(await bnn(['train', 'mnist-mlp', '--data', 'cifar10']), /--data applies to --model FILE/);
    expectUsage(await bnn(['train', '--model', 'test/fixtures/keras/mlp/model.keras', '--data', 'cifar10']), /does not take CIFAR-10 images/);
  });
});

test("bnn summary MODEL --plan prints the compiled steps without a GPU: Larq's functional form on XNOR (and its +-1-input variant)", async () => {
  const r = await bnn(['summary', 'test/fixtures/keras/seed000/model.keras', '--plan']);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/plan \(real-valued inputs\):\nfirst_hidden_layer \+ batch_normalization\s+binaryFloatGemm 16x784/);
  expect(r.stdout).toMatch(/second_hidden_layer \+ batch_normalization_1\s+binaryGemm 16x16 threshold\s+b1\[16\] -> b1\[16\]/);
  expect(r.stdout).toMatch(/plan \(inputs holding only \+-1, e\.g\. binarized pixels\):\nfirst_hidden_layer \+ batch_normalization\s+pack/);
  expect(r.stdout).not.toMatch(/unpack/);
  // Each linear layer's kernel path and why (src/plan/kernel-path.ts).
  expect(r.stdout).toMatch(/kernel paths \(one decision per linear layer; the trainer maps the same decision\):\n {2}first_hidden_layer: signSelect \(sign weights\): real-valued input/);
  expect(r.stdout).toMatch(/ {2}second_hidden_layer: xnor \(sign weights\): the input holds \+-1 already, kernel quantizer SteSign gives \+-1: XNOR-popcount/);
  expect(r.stdout).toMatch(/kernel paths \(inputs holding only \+-1, e\.g\. binarized pixels\):\n {2}first_hidden_layer: xnor/);
});
