// The model API (builders, Sequential and functional, names, initializers), save/load round trips
// (float and packed-binary weights, files on disk), the summary, and .npy export; then the `bnn`
// commands on a saved model, run as a user would.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { exportWeights } from '../src/io/export.js';
import { loadModel, saveModel } from '../src/io/model-files.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { ModelFormatError } from '../src/model/layer-config.js';
import { Model, input, layers, model, sequential } from '../src/model/model.js';
import { referenceForward } from '../src/model/reference.js';
import { formatSummary, summarize } from '../src/model/summary.js';
import { InferencePlan } from '../src/plan/plan.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';
import { biRealNet } from '../src/zoo/bireal-net.js';
import { randomInputs, randomizeWeights } from '../bench/random-weights.js';
import { expectExact } from './helpers/check.js';
import { useGpu } from './helpers/gpu.js';
import { rngFor } from './helpers/random.js';

const gpu = useGpu();
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'bnn-model-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const smallMlp = () => mnistMlp({ hidden: [40, 33] });

describe('model API', () => {
  test('Keras default names, shapes and initializers', () => {
    const m = mnistMlp();
    expect(m.layers.map((l) => l.name)).toEqual([
      'flatten', 'quant_dense', 'batch_normalization', 'quant_dense_1', 'batch_normalization_1', 'quant_dense_2', 'batch_normalization_2', 'quant_dense_3', 'activation',
    ]);
    expect(m.layers.map((l) => l.outputShape)).toEqual([[784], [512], [512], [512], [512], [512], [512], [10], [10]]);
    expect(mnistMlp({ outputBatchNorm: true }).layers.map((l) => l.name).slice(-2)).toEqual(['batch_normalization_3', 'activation']);
    const k = m.weight('quant_dense/kernel');
    expect(k.shape).toEqual([784, 512]);
    const limit = Math.sqrt(6 / (784 + 512)); // glorot_uniform
    expect(Array.from(k.data).reduce((a, v) => Math.max(a, Math.abs(v)), 0)).toBeLessThanOrEqual(limit);
    expect([...m.weight('batch_normalization/moving_variance').data].every((v) => v === 1)).toBe(true);
    expect(m.spec.weights.has('batch_normalization/gamma')).toBe(false); // scale=False
    expect(sequential([layers.quantConv2d({ filters: 2, kernelSize: 3, inputShape: [5, 5, 1] }), layers.maxPooling2d(), layers.steSign()]).layers.map((l) => l.name)).toEqual(['quant_conv2d', 'max_pooling2d', 'ste_sign']);
  });

  test('options are validated like model.json, naming the layer and key', () => {
    expect(() => sequential([layers.quantDense({ units: 0, inputShape: [3] })])).toThrow(/layer "quant_dense" \(QuantDense\), key "units"/);
    expect(() => sequential([layers.quantDense({ units: 4, kernelQuantizer: 'ste_sgn', inputShape: [3] })])).toThrow(/kernel_quantizer.*ste_sgn/);
    expect(() => sequential([layers.dense({ units: 4, bogus: 1, inputShape: [3] })])).toThrow(/unknown config key "bogus"/);
    expect(() => sequential([layers.dense({ units: 4 })])).toThrow(/no batch_input_shape|input shape is unknown/);
    expect(() => sequential([layers.conv2d({ filters: 4, kernelSize: 5, inputShape: [3, 3, 1] })])).toThrow(ModelFormatError);
    const x = input({ shape: [4] });
    const d = layers.dense({ units: 2 });
    d.apply(x);
    expect(() => d.apply(x)).toThrow(/already applied/);
  });

  test('functional models with two inputs and two outputs round-trip through model.json', async () => {
    const a = input({ shape: [6], name: 'a' });
    const b = input({ shape: [3, 3, 2], name: 'b' });
    const ya = layers.quantDense({ units: 3, inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', name: 'ya' }).apply(a);
    const yb = layers.flatten().apply(layers.quantConv2d({ filters: 4, kernelSize: 2, kernelQuantizer: 'approx_sign', padValues: 1, padding: 'same', inputQuantizer: 'ste_sign' }).apply(b));
    const m = model({ inputs: [a, b], outputs: [ya, yb], name: 'two' });
    const { modelJson, shards } = m.toJSON();
    const back = await Model.fromJSON(JSON.parse(JSON.stringify(modelJson)), shards);
    expect(back.inputs).toEqual(m.inputs);
    expect(back.outputs).toEqual(['ya', 'flatten']);
    expect(back.layers.map((l) => [l.name, l.class, l.inbound, l.outputShape])).toEqual(m.layers.map((l) => [l.name, l.class, l.inbound, l.outputShape]));
    for (const [k, w] of m.spec.weights) expectExact(back.weight(k).data, w.data, k);
  });
});

describe('model API: merges and reshaping layers', () => {
  test('a merge layer applies to a list; Keras default names; the graph round-trips through model.json', async () => {
    const x = input({ shape: [4, 4, 3] });
    const padded = layers.zeroPadding2d({ padding: [1, 2] }).apply(x);
    const conv = layers.conv2d({ filters: 3, kernelSize: [3, 5] }).apply(padded);
    const sum = layers.add().apply([conv, x]);
    const both = layers.concatenate({ axis: -1 }).apply([sum, x]);
    const pooled = layers.globalAveragePooling2d().apply(both);
    const rows = layers.reshape({ targetShape: [2, -1] }).apply(pooled);
    const m = model({ inputs: x, outputs: [rows, sum] });
    expect(m.layers.map((l) => [l.name, l.inbound, l.outputShape])).toEqual([
      ['input_layer', [], [4, 4, 3]],
      ['zero_padding2d', ['input_layer'], [6, 8, 3]],
      ['conv2d', ['zero_padding2d'], [4, 4, 3]],
      ['add', ['conv2d', 'input_layer'], [4, 4, 3]],
      ['concatenate', ['add', 'input_layer'], [4, 4, 6]],
      ['global_average_pooling2d', ['concatenate'], [6]],
      ['reshape', ['global_average_pooling2d'], [2, 3]],
    ]);
    const { modelJson, shards } = m.toJSON();
    const back = await Model.fromJSON(JSON.parse(JSON.stringify(modelJson)), shards);
    expect(back.layers).toEqual(m.layers);
    expect(back.outputs).toEqual(['reshape', 'add']);
  });

  test('refusals name the layer: an empty list, a merge of one tensor, shapes that do not add', () => {
    expect(() => layers.add().apply([])).toThrow(/Add\.apply: expected a tensor .*a list of them for a merge layer/);
    const x = input({ shape: [4] });
    expect(() => model({ inputs: x, outputs: layers.add({ name: 'one' }).apply([x]) })).toThrow(/layer "one" \(Add\): reads 1 tensor, a merge layer needs at least 2/);
    const y = input({ shape: [5] });
    expect(() => model({ inputs: [x, y], outputs: layers.add({ name: 'sum' }).apply([x, y]) })).toThrow(/layer "sum" \(Add\): adds tensors of different shapes \[4\] and \[5\]/);
    expect(() => model({ inputs: x, outputs: layers.dense({ units: 2, name: 'd' }).apply([x, x]) })).toThrow(/layer "d" \(Dense\): reads 2 tensors: only merge layers/);
    expect(() => sequential([layers.flatten({ inputShape: [4] }), layers.add()])).toThrow(/layer "add" \(Add\): a merge layer reads several tensors, so it cannot be in a Sequential model/);
  });
});

describe('saving and loading', () => {
  test('a saved model loads back and computes the same; packed binary kernels are ~32x smaller and exact for inference', async () => {
    const rng = rngFor('save/load');
    const m = smallMlp();
    randomizeWeights(m, rng);
    const floatDir = tempDir();
    const packedDir = tempDir();
    await saveModel(m, floatDir);
    await saveModel(m, packedDir, { packBinaryWeights: true });
    const shardBytes = (d: string) => readdirSync(d).filter((f) => f.endsWith('.bin')).reduce((a, f) => a + readFileSync(join(d, f)).length, 0);
    const kernels = 784 * 40 + 40 * 33 + 33 * 10;
    const others = shardBytes(floatDir) - 4 * kernels;
    expect(shardBytes(packedDir) - others).toBeLessThanOrEqual(Math.ceil(kernels / 32) * 4 + 3 * 4); // one word per 32 weights (+ rounding per tensor)
    const xs = randomInputs(m, rng, 4);
    const want = referenceForward(m.spec, xs, 4).get('activation')!.data;
    for (const dir of [floatDir, packedDir]) {
      const loaded = await loadModel(dir);
      const plan = await InferencePlan.compile(gpu(), loaded, { maxBatch: 4 });
      try {
        const got = (await plan.run(xs)).get('activation')!.data;
        got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(1e-5));
      } finally {
        plan.destroy();
      }
    }
  });

  test('loading names the file and the problem', async () => {
    const dir = tempDir();
    await expect(loadModel(join(dir, 'missing.json'))).rejects.toThrow(/no such file/);
    writeFileSync(join(dir, 'model.json'), '{"modelTopology": ');
    await expect(loadModel(dir)).rejects.toThrow(/not valid JSON/);
    await saveModel(smallMlp(), dir);
    rmSync(join(dir, 'group1-shard1of1.bin'));
    await expect(loadModel(dir)).rejects.toThrow(/group1-shard1of1.bin/);
  });
});

describe('summary', () => {
  test("the seed MLP's parameters, memory and saving", () => {
    const s = summarize(mnistMlp().spec);
    const binary = 784 * 512 + 512 * 512 * 2 + 512 * 10;
    const bn = 3 * (3 * 512); // beta, moving mean, moving variance (scale=False) of the hidden layers
    expect(s.binaryParams).toBe(binary);
    expect(s.totalParams).toBe(binary + bn);
    expect(s.memoryBytes).toBe(binary / 8 + bn * 4);
    expect(s.float32Bytes).toBe((binary + bn) * 4);
    expect(s.binaryMacs).toBe(binary);
    const text = formatSummary(s);
    expect(text).toMatch(/quant_dense_1 +QuantDense +\[512\] +1 +262,144/);
    expect(text).toMatch(/smaller/);
  });

  test('a Bi-Real Net: rows for the merges and global pooling, the binary convolutions counted as binary', () => {
    const text = formatSummary(summarize(biRealNet({ filters: [8, 16], blocks: [1, 1], inputShape: [8, 8, 3] }).spec));
    expect(text).toMatch(/\badd +Add +\[8, ?8, ?8\] +32 +0/);
    expect(text).toMatch(/global_average_pooling2d +GlobalAveragePooling2D +\[16\]/);
    expect(text).toMatch(/quant_conv2d_1 +QuantConv2D +\[4, 4, 16\] +1 +1,152 .* 18,432 +0\n/);
    expect(text).toMatch(/MACs per sample: 55,296 binary \(XNOR-popcount\)/);
  });
});

describe('export', () => {
  test('binarized kernels as int8 +-1 in Keras layout, thresholds as int32', () => {
    const m = smallMlp();
    randomizeWeights(m, rngFor('export'));
    const { files, manifest } = exportWeights(m);
    const k = readNpy(files.get('weights/quant_dense.kernel.npy')!);
    expect(k.shape).toEqual([784, 40]);
    expectExact(k.data as Int8Array, Int8Array.from(m.weight('quant_dense/kernel').data, (v) => (v < 0 ? -1 : 1)), 'kernel');
    const t = readNpy(files.get('thresholds/quant_dense+batch_normalization.threshold.npy')!);
    expect(t.shape).toEqual([40]);
    expect(t.data).toBeInstanceOf(Int32Array);
    expect(manifest.every((e) => files.has(e.file))).toBe(true);
  });
});

describe('bnn summary / predict / export', () => {
  const run = promisify(execFile);
  const bnn = (...args: string[]) => run(process.execPath, ['dist/src/cli/bnn.js', ...args], { encoding: 'utf8' });

  test('predict writes the outputs and the binarized activations the plan computes', { timeout: 120_000 }, async () => {
    const rng = rngFor('cli');
    const m = smallMlp();
    randomizeWeights(m, rng);
    const dir = tempDir();
    await saveModel(m, join(dir, 'model'));
    const xs = randomInputs(m, rng, 5);
    writeFileSync(join(dir, 'x.npy'), writeNpy(xs[0], [5, 28, 28, 1]));
    const summary = await bnn('summary', join(dir, 'model'));
    expect(summary.stdout).toMatch(/Total params/);
    await bnn('predict', '--model', join(dir, 'model'), '--input', join(dir, 'x.npy'), '--output', join(dir, 'y.npy'), '--batch', '2', '--activations', join(dir, 'acts'));
    const ref = referenceForward(m.spec, xs, 5);
    const y = readNpy(readFileSync(join(dir, 'y.npy')));
    expect(y.shape).toEqual([5, 10]);
    (y.data as Float32Array).forEach((v, i) => expect(Math.abs(v - ref.get('activation')!.data[i])).toBeLessThanOrEqual(1e-5));
    const bits = readNpy(readFileSync(join(dir, 'acts', 'quant_dense_1.input.npy')));
    expect(bits.shape).toEqual([5, 40]);
    expectExact(Float32Array.from(bits.data as Int8Array), ref.get('quant_dense_1:input')!.data, 'quant_dense_1:input');
    const out = await bnn('export', '--model', join(dir, 'model'), '--out', join(dir, 'export'), '--activations', join(dir, 'x.npy'), '--layers', 'quant_dense_2:input');
    expect(out.stdout).toMatch(/manifest.json/);
    const manifest = JSON.parse(readFileSync(join(dir, 'export', 'manifest.json'), 'utf8'));
    expect(manifest.files.map((f: { file: string }) => f.file)).toContain('activations/quant_dense_2.input.npy');
  });

  test('kernels reads the binary conv layers of a model file', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const m = sequential([
      layers.quantConv2d({ filters: 16, kernelSize: 3, kernelQuantizer: 'ste_sign', inputQuantizer: 'ste_sign', inputShape: [8, 8, 4], name: 'bconv' }),
      layers.conv2d({ filters: 2, kernelSize: 3, name: 'float_conv' }),
    ]);
    await saveModel(m, dir);
    const { stdout } = await bnn('kernels', join(dir, 'model.json'));
    expect(stdout).toMatch(/bconv/);
    expect(stdout).not.toMatch(/float_conv/);
    // --choose: chooseConvPath on this device with the model's weights, per binary-input 3x3 layer.
    const chosen = JSON.parse((await bnn('kernels', join(dir, 'model.json'), '--choose', '--batch', '2', '--json')).stdout);
    expect(chosen.chosen.batch).toBe(2);
    expect(chosen.chosen.layers.map((l: { name: string }) => l.name)).toEqual(['bconv']);
    expect(['packed', 'reuse']).toContain(chosen.chosen.layers[0].path);
    expect(chosen.chosen.layers[0].reason).toMatch(/measured: packed .* ms, reuse .* ms/);
  });

  test('usage errors name the missing piece', async () => {
    await expect(bnn('predict', '--output', 'y.npy')).rejects.toMatchObject({ stderr: expect.stringMatching(/--input/) });
    await expect(bnn('predict', '--model', 'nowhere')).rejects.toMatchObject({ stderr: expect.stringMatching(/--model nowhere: no such file or directory/) });
    await expect(bnn('summary', '/nonexistent/model.json')).rejects.toMatchObject({ stderr: expect.stringMatching(/no such file/) });
  });
});
