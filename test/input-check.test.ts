// Inputs checked against a model's preprocessing (data/input-check.ts), digits prepared as MNIST's
// were (data/digit.ts), and both through `bnn predict` on a saved model with its preprocessing.json.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { preprocessor, savePreprocessing, type Preprocessing } from '../src/data/datasets.js';
import { prepareDigit } from '../src/data/digit.js';
import { encodePng, type Pixels } from '../src/data/images.js';
import { InputError, describePreprocessing, modelInputFrom, preprocessedRange } from '../src/data/input-check.js';
import { preprocessMnist } from '../src/data/mnist.js';
import { writeNpy, type NpyArray } from '../src/io/npy.js';
import { saveModel } from '../src/io/model-files.js';
import { SYMMETRIC_NORMALIZATION, CIFAR10_NORMALIZATION } from '../src/ops/augment.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';

const MNIST: Preprocessing = { dataset: 'mnist' };
const CIFAR: Preprocessing = { dataset: 'cifar10', normalization: CIFAR10_NORMALIZATION };
const CNV: Preprocessing = { dataset: 'cifar10', normalization: SYMMETRIC_NORMALIZATION };

const pixels = Uint8Array.from({ length: 784 }, (_, i) => (i * 37) % 256);
const npy = (data: NpyArray['data'], dtype: NpyArray['dtype']): NpyArray => ({ dtype, shape: [data.length], data });

describe('modelInputFrom', () => {
  test('formulas and ranges of the preprocessings', () => {
    expect(describePreprocessing(MNIST)).toBe('pixel/127.5 - 1');
    expect(describePreprocessing(CNV)).toBe('2*pixel/255 - 1');
    expect(describePreprocessing(CIFAR)).toMatch(/^\(pixel\*1\/255 - \[0.4914, 0.4822, 0.4465\]\) \/ \[0.247, 0.2435, 0.2616\]$/);
    expect(preprocessedRange(MNIST)).toEqual([-1, 1]);
    const [lo, hi] = preprocessedRange(CIFAR);
    expect(lo).toBeCloseTo(-0.4914 / 0.247, 4);
    expect(hi).toBeCloseTo((1 - 0.4822) / 0.2435, 4); // the largest over the channels
  });

  test('preprocessed float32 inputs pass unchanged; --preprocess makes them from pixels of any integer dtype', () => {
    const good = preprocessMnist(pixels);
    expect(modelInputFrom('x.npy', npy(good, '<f4'), MNIST, { preprocess: false })).toBe(good);
    for (const [data, dtype] of [[pixels, '|u1'], [Float32Array.from(pixels), '<f4'], [Int32Array.from(pixels), '<i4']] as const) {
      expect(Array.from(modelInputFrom('x.npy', npy(data, dtype), MNIST, { preprocess: true }))).toEqual(Array.from(good));
    }
    const c = Uint8Array.from({ length: 3 * 64 }, (_, i) => (i * 11) % 256);
    expect(Array.from(modelInputFrom('x.npy', npy(c, '|u1'), CIFAR, { preprocess: true }))).toEqual(Array.from(preprocessor(CIFAR)(c, new Float32Array(c.length))));
  });

  test.each([
    ['uint8 pixels', npy(pixels, '|u1'), MNIST, false, /x\.npy: uint8 values in \[0, 255\] look like raw pixels; this model expects float32 inputs made by pixel\/127\.5 - 1: pass --preprocess/],
    ['float pixels', npy(Float32Array.from(pixels), '<f4'), MNIST, false, /these look like raw pixels .*pass --preprocess/],
    ['[0, 1] images', npy(Float32Array.from(pixels, (v) => v / 255), '<f4'), MNIST, false, /these look like \[0, 1\] images .*this model expects pixel\/127\.5 - 1, in \[-1, 1\]: pass --preprocess with pixels 0\.\.255, or scale them \(x\*2 - 1\)/],
    ['[0, 1] images, CIFAR-10 statistics', npy(Float32Array.from({ length: 300 }, (_, i) => (i % 100) / 99), '<f4'), CIFAR, false, /these look like \[0, 1\] images/],
    ['values past the range', npy(Float32Array.of(-3, 0.5, 2), '<f4'), MNIST, false, /values in \[-3, 2\] fall outside \[-1, 1\]/],
    ['NaN', npy(Float32Array.of(NaN, 0), '<f4'), MNIST, false, /NaN/],
    ['--preprocess on [0, 1] images', npy(Float32Array.of(0, 0.5, 1), '<f4'), MNIST, true, /--preprocess takes raw pixels \(integers 0\.\.255\), but the values are in \[0, 1\], not integers/],
    ['--preprocess on values past 255', npy(Int32Array.of(0, 300), '<i4'), MNIST, true, /--preprocess takes raw pixels/],
  ])('refused with the fix: %s', (_name, arr, p, preprocess, message) => {
    expect(() => modelInputFrom('x.npy', arr, p, { preprocess })).toThrow(InputError);
    expect(() => modelInputFrom('x.npy', arr, p, { preprocess })).toThrow(message);
  });
});

/** A W x H gray image: background `bg`, a filled rectangle of `ink` at [x0, x1) x [y0, y1). */
function rect(W: number, H: number, bg: number, ink: number, [x0, y0, x1, y1]: number[]): Pixels {
  const data = new Uint8Array(W * H).fill(bg);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data[y * W + x] = ink;
  return { width: W, height: H, channels: 1, data };
}

/** Bounding box [x0, y0, x1, y1) of pixels > 0 and the centre of mass of a 28x28 output. */
function inkStats(p: Pixels) {
  let [x0, y0, x1, y1, m, mx, my] = [p.width, p.height, 0, 0, 0, 0, 0];
  for (let y = 0; y < p.height; y++) {
    for (let x = 0; x < p.width; x++) {
      const v = p.data[y * p.width + x];
      if (v === 0) continue;
      [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x + 1), Math.max(y1, y + 1)];
      [m, mx, my] = [m + v, mx + v * (x + 0.5), my + v * (y + 0.5)];
    }
  }
  return { box: [x0, y0, x1, y1], cx: mx / m, cy: my / m };
}

describe('prepareDigit', () => {
  test('a dark stroke on light paper, off centre, is inverted, boxed into 20 pixels and centred by mass', () => {
    // A tall bar (a "1") in the top-left corner of a 300x200 photo of gray-white paper.
    const photo = rect(300, 200, 230, 40, [20, 10, 50, 130]);
    const d = prepareDigit(photo);
    expect(d.inverted).toBe(true);
    expect(d.empty).toBe(false);
    const { box, cx, cy } = inkStats(d.pixels);
    expect(box[3] - box[1]).toBe(20); // the longer side: 120 source rows -> 20
    expect(box[2] - box[0]).toBe(5); // 30 columns, aspect kept
    expect(Math.abs(cx - 14)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(cy - 14)).toBeLessThanOrEqual(0.5);
    expect(Math.max(...d.pixels.data)).toBe(255); // ink stretched to full scale, paper black
    expect(d.pixels.data[0]).toBe(0);
  });

  test('light ink on black (a drawing) is not inverted and gives the same digit; a blank picture is empty', () => {
    const dark = prepareDigit(rect(300, 200, 230, 40, [20, 10, 50, 130]));
    const light = prepareDigit(rect(300, 200, 0, 190, [20, 10, 50, 130]));
    expect(light.inverted).toBe(false);
    expect(Array.from(light.pixels.data)).toEqual(Array.from(dark.pixels.data));
    expect(prepareDigit(rect(50, 50, 255, 255, [0, 0, 0, 0])).empty).toBe(true);
  });
});

describe('bnn predict on a model saved with its preprocessing', () => {
  const run = promisify(execFile);
  const bnn = (...args: string[]) => run(process.execPath, ['dist/src/cli/bnn.js', ...args], { encoding: 'utf8' });
  const dir = mkdtempSync(join(tmpdir(), 'bnn-inputs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('refuses [0, 1] images and uint8 pixels with the fix; --preprocess gives what preprocessed inputs give; --image inverts and centres a photo of a digit', { timeout: 120_000 }, async () => {
    const model = join(dir, 'model');
    await saveModel(mnistMlp({ hidden: [16], seed: 2 }), model);
    await savePreprocessing(model, MNIST);
    const raw = Uint8Array.from({ length: 3 * 784 }, (_, i) => (i * 13) % 256);
    writeFileSync(join(dir, 'raw.npy'), writeNpy(raw, [3, 28, 28, 1]));
    writeFileSync(join(dir, 'unit.npy'), writeNpy(Float32Array.from(raw, (v) => v / 255), [3, 28, 28, 1]));
    writeFileSync(join(dir, 'good.npy'), writeNpy(preprocessMnist(raw), [3, 28, 28, 1]));
    await expect(bnn('predict', '--model', model, '--input', join(dir, 'unit.npy'), '--output', join(dir, 'y.npy'))).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/^bnn: .*unit\.npy: these look like \[0, 1\] images .*pass --preprocess/) });
    await expect(bnn('export', '--model', model, '--out', join(dir, 'e'), '--activations', join(dir, 'raw.npy'))).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/uint8 values .* pass --preprocess/) });
    await bnn('predict', '--model', model, '--input', join(dir, 'raw.npy'), '--output', join(dir, 'a.npy'), '--preprocess');
    await bnn('predict', '--model', model, '--input', join(dir, 'good.npy'), '--output', join(dir, 'b.npy'));
    const { readFileSync } = await import('node:fs');
    expect(Buffer.compare(readFileSync(join(dir, 'a.npy')), readFileSync(join(dir, 'b.npy')))).toBe(0);
    const photo = rect(120, 90, 220, 30, [70, 10, 85, 70]);
    writeFileSync(join(dir, 'one.png'), encodePng(photo));
    const out = await bnn('predict', '--model', model, '--image', join(dir, 'one.png'));
    expect(out.stdout).toMatch(/120x90, the digit boxed into 20x20, centred by mass in 28x28, light background inverted; mnist_mlp/);
  });
});
