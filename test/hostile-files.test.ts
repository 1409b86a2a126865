// Hostile model files and inputs: every one a typed error naming the file and key, at once (no
// hang on a FIFO, no read of a device, nothing read outside the model's directory or past what the
// manifest implies, no allocation from a declared size over the stated limits), and a safe error
// formatter whatever the value.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { loadModel, saveModel } from '../src/io/model-files.js';
import { FileReadError, readFileBounded } from '../src/io/read-bounded.js';
import { ModelFormatError } from '../src/model/layer-config.js';
import { MAX_WEIGHT_BYTES, parseModel } from '../src/model/tfjs-format.js';
import { clip, show } from '../src/model/error-text.js';
import { loadPreprocessing } from '../src/data/datasets.js';
import { DataFormatError } from '../src/data/idx.js';
import { decodeImage, encodePng } from '../src/data/images.js';
import { writeNpy } from '../src/io/npy.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';
import { lowerModel } from '../src/plan/lower.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = (prefix = 'bnn-hostile-') => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
const SHARD = 'group1-shard1of1.bin';

/** A small saved model: its directory and model.json's parsed contents. */
async function savedModel(): Promise<{ dir: string; json: Record<string, any> }> {
  const dir = join(tempDir(), 'model');
  await saveModel(mnistMlp({ hidden: [8], seed: 2 }), dir);
  return { dir, json: JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) };
}

const mkfifo = (path: string) => promisify(execFile)('mkfifo', [path]);

describe('model files are regular files inside the model directory', () => {
  test('a FIFO as model.json or as a shard is refused at once, not waited on', { timeout: 10_000 }, async () => {
    const { dir } = await savedModel();
    rmSync(join(dir, SHARD));
    await mkfifo(join(dir, SHARD));
    await expect(loadModel(dir)).rejects.toThrow(ModelFormatError);
    await expect(loadModel(dir)).rejects.toThrow(/group1-shard1of1\.bin: is a FIFO \(named pipe\), not a regular file/);
    rmSync(join(dir, 'model.json'));
    await mkfifo(join(dir, 'model.json'));
    await expect(loadModel(dir)).rejects.toThrow(/model\.json: is a FIFO \(named pipe\), not a regular file/);
  });

  test('a shard linked to /dev/zero, to a file outside, or reached through a symlinked subdirectory or "../" is refused, naming where it leads', async () => {
    const { dir, json } = await savedModel();
    const outside = tempDir('bnn-outside-');
    copyFileSync(join(dir, SHARD), join(outside, SHARD));
    const cases: [string, () => void, RegExp][] = [
      ['a link to /dev/zero', () => symlinkSync('/dev/zero', join(dir, SHARD)), /resolves to \/dev\/zero, outside the directory/],
      ['a link to a file outside', () => symlinkSync(join(outside, SHARD), join(dir, SHARD)), /resolves to .*bnn-outside-.*, outside the directory/],
      ['a "../" link', () => symlinkSync(join('..', '..', outside.split('/').pop()!, SHARD), join(dir, SHARD)), /outside the directory/],
      ['a symlinked subdirectory', () => {
        symlinkSync(outside, join(dir, 'sub'));
        writeFileSync(join(dir, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0], paths: [`sub/${SHARD}`] }] }));
      }, /sub\/group1-shard1of1\.bin: resolves to .*bnn-outside-.*, outside the directory/],
    ];
    const shard = readFileSync(join(dir, SHARD));
    for (const [what, make, message] of cases) {
      rmSync(join(dir, SHARD), { force: true });
      rmSync(join(dir, 'sub'), { force: true });
      writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
      make();
      await expect(loadModel(dir), what).rejects.toThrow(message);
    }
    // model.json itself linked out of the directory.
    const elsewhere = join(outside, 'model.json');
    writeFileSync(elsewhere, JSON.stringify(json));
    rmSync(join(dir, 'model.json'));
    symlinkSync(elsewhere, join(dir, 'model.json'));
    await expect(loadModel(dir)).rejects.toThrow(/model\.json: resolves to .*bnn-outside-.*model\.json, outside the directory/);
    // A link that stays inside the directory is fine.
    rmSync(join(dir, 'sub'), { force: true });
    rmSync(join(dir, 'model.json'));
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    rmSync(join(dir, SHARD), { force: true });
    writeFileSync(join(dir, 'real.bin'), shard);
    symlinkSync('real.bin', join(dir, SHARD));
    expect((await loadModel(dir)).name).toBe('mnist_mlp');
  });

  test('a shard longer than the manifest implies is refused before it is read (a 4 GB sparse file: at once)', async () => {
    const { dir } = await savedModel();
    const size = readFileSync(join(dir, SHARD)).length;
    truncateSync(join(dir, SHARD), 4e9);
    const t0 = performance.now();
    await expect(loadModel(dir)).rejects.toThrow(new RegExp(`group1-shard1of1\\.bin: 4,000,000,000 bytes, more than the ${size.toLocaleString('en-US')} allowed \\(what the manifest's weights still need\\)`));
    expect(performance.now() - t0).toBeLessThan(1000);
    // A loader function is told the bound.
    const { json } = await savedModel();
    const asked: number[] = [];
    await parseModel(json, async (_path, maxBytes) => {
      asked.push(maxBytes);
      return new ArrayBuffer(size);
    });
    expect(asked).toEqual([size]);
  });

  test('a model.json over 64 MiB is refused before it is read', async () => {
    const { dir } = await savedModel();
    truncateSync(join(dir, 'model.json'), 65 * 2 ** 20);
    await expect(loadModel(dir)).rejects.toThrow(/model\.json: 68,157,440 bytes, more than the 67,108,864 allowed \(MAX_MODEL_JSON_BYTES\)/);
  });

  test('weights declared larger than MAX_WEIGHT_BYTES decoded (a small packed b1 shard declaring 268M weights) are refused before any shard is read', async () => {
    const json = {
      format: 'layers-model',
      modelTopology: { class_name: 'Sequential', config: { name: 'big', layers: [{ class_name: 'QuantDense', config: { name: 'quant_dense', units: 2 ** 16, batch_input_shape: [null, 4096], kernel_quantizer: 'ste_sign', use_bias: false } }] } },
      weightsManifest: [{ paths: [SHARD], weights: [{ name: 'quant_dense/kernel', shape: [4096, 2 ** 16], dtype: 'float32', quantization: { dtype: 'b1', original_dtype: 'float32' } }] }],
    };
    let loaded = false;
    await expect(parseModel(json, async () => {
      loaded = true;
      return new ArrayBuffer(0);
    })).rejects.toThrow(new RegExp(`weightsManifest: the weights take 1,073,741,824 bytes decoded, more than the ${MAX_WEIGHT_BYTES.toLocaleString('en-US')} allowed`));
    expect(loaded).toBe(false);
  });

  test("an error in model.json's contents names the file, then the layer and key", async () => {
    const { dir, json } = await savedModel();
    json.modelTopology.config.layers[1].config.units = -3;
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    const name = json.modelTopology.config.layers[1].config.name;
    await expect(loadModel(dir)).rejects.toThrow(new RegExp(`^${join(dir, 'model.json')}: layer "${name}" \\(QuantDense\\), key "units": got -3`));
  });

  test('readFileBounded refuses devices and directories without reading them', async () => {
    await expect(readFileBounded('/dev/zero', { maxBytes: 100 })).rejects.toThrow(FileReadError);
    await expect(readFileBounded('/dev/zero', { maxBytes: 100 })).rejects.toThrow(/\/dev\/zero: is a character device, not a regular file/);
    await expect(readFileBounded(tmpdir(), { maxBytes: 100 })).rejects.toThrow(/is a directory, not a regular file/);
  });
});

describe('the error formatter is safe on any value', () => {
  const deep = (n: number) => JSON.parse('['.repeat(n) + ']'.repeat(n));
  test('show and clip stay short and finish on deep nesting, huge strings, cycles and throwing getters', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const hostile = new Proxy({}, { ownKeys: () => { throw new Error('no'); } });
    for (const v of [deep(100_000), 'x'.repeat(50_000_000), cyclic, hostile, [cyclic, cyclic], undefined, NaN, -Infinity, 10n, () => 1, Symbol('s')]) {
      expect(show(v).length).toBeLessThanOrEqual(60);
    }
    expect(show({ a: [1, 'b'] })).toBe('{"a":[1,"b"]}');
    expect(clip('y'.repeat(1_000_000))).toMatch(/^y+\.\.\.\[1,000,000 chars\]\.\.\.y+$/);
    expect(clip('y'.repeat(1_000_000)).length).toBeLessThan(220);
  });

  test('a model.json with values nested 100,000 deep or 50 MB strings in any key is a short ModelFormatError naming the key', async () => {
    const { json } = await savedModel();
    const nested = '['.repeat(100_000) + ']'.repeat(100_000);
    const huge = JSON.stringify('n'.repeat(50_000_000));
    const text = JSON.stringify(json);
    const firstLayer = json.modelTopology.config.layers[0].config.name;
    const cases: [string, string, RegExp][] = [
      ['units', text.replace(/"units":\d+/, `"units":${nested}`), /key "units"/],
      ['a layer name', text.replace(`"name":"${firstLayer}"`, `"name":${huge}`), /key "name": got "nnnn/],
      ["class_name", text.replace('"class_name":"QuantDense"', `"class_name":${huge}`), /unknown layer class "nnn/],
      ['a weight name', text.replace(/("weights":\[\{"name":)"[^"]+"/, `$1${huge}`), /weight "nnn.*\[50,000,0\d\d chars\]/],
      ['a weight shape', text.replace(/"shape":\[\d+,\d+\]/, `"shape":${nested}`), /shape/],
      ['the model format', text.replace('"format":"layers-model"', `"format":${nested}`), /format is \[\[\[/],
      ['a quantizer', text.replace(/"kernel_quantizer":/, `"kernel_quantizer":${nested},"kernel_quantizer_":`), /kernel_quantizer/],
    ];
    for (const [what, bad, message] of cases) {
      expect(bad, what).not.toBe(text);
      const parsed = JSON.parse(bad);
      if (what === 'a quantizer') {
        // the nested value in place of the quantizer, not beside it
        const l = parsed.modelTopology.config.layers.find((e: any) => 'kernel_quantizer_' in e.config).config;
        l.kernel_quantizer = JSON.parse(nested);
        delete l.kernel_quantizer_;
      }
      const err = await parseModel(parsed, [new ArrayBuffer(0)]).then(() => null, (e: unknown) => e);
      expect(err, what).toBeInstanceOf(ModelFormatError);
      expect((err as Error).message, what).toMatch(message);
      expect((err as Error).message.length, what).toBeLessThan(3000);
    }
  }, 60_000);
});

describe('preprocessing.json', () => {
  test.each([
    ['invalid JSON', '{"dataset": ', /preprocessing\.json: not valid JSON/],
    ['null', 'null', /preprocessing\.json: expected an object, got null/],
    ['empty', '', /preprocessing\.json: not valid JSON/],
    ['an unknown data set', '{"dataset": "imagenet"}', /key "dataset": expected "mnist" or "cifar10", got "imagenet"/],
    ['a mean that is not a number', '{"dataset": "cifar10", "normalization": {"scale": 0.0039, "mean": "x", "std": [1, 1, 1]}}', /key "normalization\.mean": expected a list of 1 or 3 numbers, got "x"/],
    ['a NaN-making std', '{"dataset": "cifar10", "normalization": {"scale": 0.0039, "mean": [0, 0, 0], "std": [1, 0, 1]}}', /key "normalization\.std\[1\]": expected a finite number > 0, got 0/],
    ['a nested value', `{"dataset": "cifar10", "normalization": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`, /key "normalization": expected \{scale, mean, std\}/],
  ])('%s is a DataFormatError naming the file and the key', async (_what, text, message) => {
    const dir = tempDir();
    writeFileSync(join(dir, 'preprocessing.json'), text);
    const err = await loadPreprocessing(dir, { shape: [32, 32, 3], modelName: 'm' }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(join(dir, 'preprocessing.json'));
  });
});

test('a preprocessing.json linked out of the model directory (to /dev/zero) or a FIFO is refused without reading', async () => {
  const dir = tempDir();
  symlinkSync('/dev/zero', join(dir, 'preprocessing.json'));
  await expect(loadPreprocessing(dir, { shape: [28, 28, 1], modelName: 'm' })).rejects.toThrow(DataFormatError);
  await expect(loadPreprocessing(dir, { shape: [28, 28, 1], modelName: 'm' })).rejects.toThrow(/preprocessing\.json: resolves to \/dev\/zero, outside the directory/);
  rmSync(join(dir, 'preprocessing.json'));
  await mkfifo(join(dir, 'preprocessing.json'));
  await expect(loadPreprocessing(dir, { shape: [28, 28, 1], modelName: 'm' })).rejects.toThrow(/preprocessing\.json: is a FIFO/);
});

describe('BatchNorm statistics', () => {
  test('a negative variance, or one epsilon does not lift above 0, is refused at load naming the layer and channel', async () => {
    const { dir, json } = await savedModel();
    const entries = json.weightsManifest[0].weights as { name: string; shape: number[] }[];
    const bytes = new Uint8Array(readFileSync(join(dir, SHARD)));
    let off = 0;
    for (const w of entries) {
      if (w.name.endsWith('moving_variance')) break;
      off += 4 * w.shape.reduce((a, b) => a * b, 1);
    }
    const bn = entries.find((w) => w.name.endsWith('moving_variance'))!.name.split('/')[0];
    const variance = new Float32Array(bytes.buffer, off, 2);
    variance[1] = -0.5;
    await expect(parseModel(json, [bytes.buffer])).rejects.toThrow(new RegExp(`layer "${bn}" \\(BatchNormalization\\), weight "moving_variance": channel 1 is -0.5`));
    variance[1] = 0;
    const layer = json.modelTopology.config.layers.find((l: any) => l.config.name === bn);
    layer.config.epsilon = 0;
    await expect(parseModel(json, [bytes.buffer])).rejects.toThrow(/channel 1 is 0 \(epsilon 0\): a variance must be >= 0 and variance \+ epsilon > 0/);
    layer.config.epsilon = 0.001;
    await expect(parseModel(json, [bytes.buffer])).resolves.toBeTruthy(); // 0 + epsilon is fine
  });

  test('a model built in code whose variance is set negative is refused at compile, naming the layer', () => {
    const m = mnistMlp({ hidden: [8], seed: 2 });
    const [key, v] = [...m.spec.weights].find(([k]) => k.endsWith('/moving_variance'))!;
    v.data[0] = -1;
    expect(() => lowerModel(m.spec)).toThrow(new RegExp(`foldBatchNorm \\(layer "${key.split('/')[0]}"\\): moving_variance\\[0\\] = -1 is negative`));
  });
});

describe('images and inputs', () => {
  test('a PNG declaring 20000x20000 pixels is refused from its header, before decoding', () => {
    const png = encodePng({ width: 1, height: 1, channels: 3, data: new Uint8Array(3) });
    const v = new DataView(png.buffer, png.byteOffset);
    v.setUint32(16, 20000);
    v.setUint32(20, 20000);
    expect(() => decodeImage(png, 'big.png')).toThrow(DataFormatError);
    expect(() => decodeImage(png, 'big.png')).toThrow(/big\.png: declares 20000x20000 pixels, more than the 67,108,864 allowed/);
  });

  const bnn = (...args: string[]) => promisify(execFile)(process.execPath, ['dist/src/cli/bnn.js', ...args], { encoding: 'utf8', timeout: 60_000 });

  test('bnn predict refuses --input /dev/zero at once, NaN inputs unless --allow-nan, and an --output that is a directory', { timeout: 120_000 }, async () => {
    const { dir } = await savedModel();
    await expect(bnn('predict', '--model', dir, '--input', '/dev/zero', '--output', join(dir, 'y.npy'))).rejects.toMatchObject({ stderr: expect.stringMatching(/\/dev\/zero: is a character device, not a regular file/) });
    const x = new Float32Array(784).fill(0.5);
    x[3] = NaN;
    writeFileSync(join(dir, 'x.npy'), writeNpy(x, [1, 28, 28, 1]));
    await expect(bnn('predict', '--model', dir, '--input', join(dir, 'x.npy'), '--output', join(dir, 'y.npy'))).rejects.toMatchObject({ stderr: expect.stringMatching(/x\.npy: value 3 \(sample 0\) is NaN.*--allow-nan/) });
    const out = join(dir, 'out-dir');
    mkdirSync(out);
    await expect(bnn('predict', '--model', dir, '--input', join(dir, 'x.npy'), '--output', out, '--allow-nan')).rejects.toMatchObject({ stderr: expect.stringMatching(/out-dir: is a directory; name a file to write/) });
    expect(readFileSync(join(dir, 'model.json')).length).toBeGreaterThan(0);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});
