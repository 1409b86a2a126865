// CIFAR-10's readers on files the tests write themselves: binary batches (and each malformed one
// refused), image folders of PNG and JPEG files, the tar reader, the loader's sources in order
// (official batches, the decoded cache, the JPEG archive unpacked on first use), and the photo
// path (decode, centre square, area-average downscale, gray, PNG encoding).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { encode as encodePngRaw } from 'fast-png';
import { afterAll, describe, expect, test } from 'vitest';
import { CIFAR10_CLASSES, CIFAR10_RECORD, concatCifar, readCifarBatch, writeCifarBatch } from '../src/data/cifar10.js';
import { interleaveClasses, loadCifar10 } from '../src/data/cifar10-files.js';
import { DataFormatError } from '../src/data/idx.js';
import { readImageFolder } from '../src/data/image-folder.js';
import { centreSquare, decodeImage, encodePng, toGray } from '../src/data/images.js';
import { readTar } from '../src/data/tar.js';
import { Random } from '../src/random.js';
import { expectExact } from './helpers/check.js';
import { rejects } from './helpers/data-errors.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'bnn-cifar-'));
  dirs.push(d);
  return d;
};


/** `count` random NHWC images with labels 0..9 in turn. */
function samples(count: number, seed = 1) {
  const rng = new Random(seed);
  return { images: Uint8Array.from({ length: count * 3072 }, () => rng.int(256)), labels: Uint8Array.from({ length: count }, (_, i) => (i * 7) % 10), count };
}

describe('binary batches', () => {
  test('a record is a label then the red, green and blue planes; read as NHWC', () => {
    const record = new Uint8Array(CIFAR10_RECORD);
    record[0] = 6;
    // pixel (y=1, x=2): red 11, green 22, blue 33; pixel (31, 31): 200, 201, 202.
    const at = (plane: number, y: number, x: number) => 1 + plane * 1024 + y * 32 + x;
    [11, 22, 33].forEach((v, c) => (record[at(c, 1, 2)] = v));
    [200, 201, 202].forEach((v, c) => (record[at(c, 31, 31)] = v));
    const d = readCifarBatch(record, 'one.bin');
    expect([d.count, d.labels[0]]).toEqual([1, 6]);
    const px = (y: number, x: number) => Array.from(d.images.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3));
    expect(px(1, 2)).toEqual([11, 22, 33]);
    expect(px(31, 31)).toEqual([200, 201, 202]);
    expect(px(0, 0)).toEqual([0, 0, 0]);
    expectExact(writeCifarBatch(d), record, 'written back');
  });

  test('round trip of 25 samples; concat and limit', () => {
    const s = samples(25);
    const bytes = writeCifarBatch(s);
    expect(bytes.length).toBe(25 * 3073);
    const back = readCifarBatch(bytes);
    expectExact(back.images, s.images, 'images');
    expectExact(back.labels, s.labels, 'labels');
    const two = concatCifar([back, readCifarBatch(writeCifarBatch(samples(5, 2)))], 27);
    expect(two.count).toBe(27);
    expectExact(two.images.subarray(25 * 3072), samples(5, 2).images.subarray(0, 2 * 3072), 'second batch first 2');
    expect(() => concatCifar([back], 26)).toThrow(/limit must be an integer in 1..25/);
  });

  test('refuses malformed batches, naming the file, the fault and the fix', () => {
    const good = writeCifarBatch(samples(2));
    rejects(() => readCifarBatch(good.subarray(0, 3073 + 100), 'data_batch_1.bin'), 'data_batch_1.bin', '3173 bytes is not a multiple of the 3073-byte record', '1 whole records and 100 bytes left over', 'cifar.html');
    rejects(() => readCifarBatch(new Uint8Array(0), 'empty.bin'), '0 bytes is not a multiple');
    const badLabel = good.slice();
    badLabel[3073] = 10;
    rejects(() => readCifarBatch(badLabel, 'test_batch.bin'), 'test_batch.bin', 'label 10 of record 1 (byte 3073) is outside 0..9');
    rejects(() => readCifarBatch(Uint8Array.of(0x1f, 0x8b, 8, 0), 'cifar-10-binary.tar.gz'), 'gzip', 'tar xzf');
    expect(() => writeCifarBatch({ images: new Uint8Array(3072), labels: Uint8Array.of(12), count: 1 })).toThrow(/label 12/);
  });

  test('interleaving: sample k of class k mod 10 when the classes are balanced', () => {
    const labels = Uint8Array.from({ length: 30 }, (_, i) => Math.floor(i / 3) % 10);
    const images = Uint8Array.from({ length: 30 * 3072 }, (_, i) => Math.floor(i / 3072));
    const d = interleaveClasses({ images, labels, count: 30 });
    expect(Array.from(d.labels)).toEqual(Array.from({ length: 30 }, (_, k) => k % 10));
    expect(Array.from({ length: 30 }, (_, k) => d.images[k * 3072])).toEqual([0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29]);
  });
});

/** A w x h RGB image whose pixels are a function of (x, y, c). */
function image(w: number, h: number, f: (x: number, y: number, c: number) => number) {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = f(x, y, c);
  return { width: w, height: h, channels: 3 as const, data };
}
const jpegOf = (p: ReturnType<typeof image>) => {
  const rgba = new Uint8Array(p.width * p.height * 4);
  for (let i = 0; i < p.width * p.height; i++) rgba.set([...p.data.subarray(3 * i, 3 * i + 3), 255], 4 * i);
  return new Uint8Array(jpeg.encode({ width: p.width, height: p.height, data: rgba }, 95).data);
};

/** <root>/<split>/<class>/ with `perClass` images each, PNG and JPEG alternating; pixel value = the class's index * 20 + the image's. */
function writeFolder(root: string, split: string, classes: readonly string[], perClass: number, size = 32) {
  for (const [k, name] of classes.entries()) {
    mkdirSync(join(root, split, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const p = image(size, size, () => k * 20 + i);
      writeFileSync(join(root, split, name, `${String(i).padStart(4, '0')}.${i % 2 ? 'jpg' : 'png'}`), i % 2 ? jpegOf(p) : encodePng(p));
    }
  }
  writeFileSync(join(root, split, classes[0], 'notes.txt'), 'not an image');
}

describe('images', () => {
  test('PNG round trip (RGB, gray, 16-bit, RGBA); JPEG decodes close to its source; other files refused', () => {
    const p = image(5, 3, (x, y, c) => x * 40 + y * 7 + c);
    expect(decodeImage(encodePng(p))).toEqual(p);
    const gray = encodePngRaw({ width: 2, height: 1, data: Uint8Array.of(9, 250), channels: 1, depth: 8 });
    expect(Array.from(decodeImage(gray).data)).toEqual([9, 9, 9, 250, 250, 250]);
    const deep = encodePngRaw({ width: 1, height: 1, data: Uint16Array.of(0x1234, 0xff00, 0x00ff), channels: 3, depth: 16 });
    expect(Array.from(decodeImage(deep).data)).toEqual([0x12, 0xff, 0x00]);
    const rgba = encodePngRaw({ width: 1, height: 1, data: Uint8Array.of(1, 2, 3, 4), channels: 4, depth: 8 });
    expect(Array.from(decodeImage(rgba).data)).toEqual([1, 2, 3]);
    const flat = image(16, 16, (_x, _y, c) => 60 + 50 * c);
    const j = decodeImage(jpegOf(flat), 'flat.jpg');
    expect([j.width, j.height]).toEqual([16, 16]);
    expect(Math.max(...Array.from(j.data, (v, i) => Math.abs(v - flat.data[i])))).toBeLessThanOrEqual(3);
    rejects(() => decodeImage(new TextEncoder().encode('GIF89a...'), 'x.gif'), 'x.gif', 'neither JPEG nor PNG', '47 49 46 38');
    rejects(() => decodeImage(Uint8Array.of(0xff, 0xd8, 0xff, 0, 1), 'broken.jpg'), 'broken.jpg', 'not a readable JPEG');
  });

  test('centre square, area-average downscale, gray', () => {
    // 4x2: the centre square is columns 1..2; one output pixel is their mean.
    const p = image(4, 2, (x, y) => [0, 10, 30, 0][x] + 100 * y);
    expect(Array.from(centreSquare(p, 1).data)).toEqual([70, 70, 70]); // (10 + 30 + 110 + 130) / 4
    // 6 -> 4: each output covers 1.5 source pixels per axis; a ramp stays a ramp, a constant stays constant, the mean is kept.
    const ramp = image(6, 6, (x) => x * 10);
    const r = centreSquare(ramp, 4);
    expect(Array.from({ length: 4 }, (_, x) => r.data[x * 3])).toEqual([3, 17, 33, 47]); // (0 + 10/2)/1.5 = 3.33, (10/2 + 20)/1.5 = 16.67, (30 + 40/2)/1.5, (40/2 + 50)/1.5, rounded
    expect(r.data.every((v, i) => v === r.data[(i % 12)])).toBe(true); // rows equal
    expect(Array.from(new Set(centreSquare(image(97, 61, () => 77), 32).data))).toEqual([77]);
    const up = centreSquare(image(2, 2, (x, y) => 100 * x + 10 * y), 4); // upscaling: nearest source cell
    expect(Array.from({ length: 4 }, (_, x) => up.data[x * 3])).toEqual([0, 0, 100, 100]);
    const g = toGray(image(1, 1, (_x, _y, c) => [255, 0, 0][c]));
    expect(Array.from(g.data)).toEqual([76]); // 0.299 * 255
  });
});

describe('image folders', () => {
  test('classes sorted by name are the labels, class by class; PNG and JPEG; other files ignored', async () => {
    const root = tempDir();
    writeFolder(root, 'train', ['zebra', 'ant', 'moose'], 3, 8);
    const d = await readImageFolder(join(root, 'train'), { height: 8, width: 8 });
    expect(d.classes).toEqual(['ant', 'moose', 'zebra']);
    expect(Array.from(d.labels)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
    expect(d.files.map((f) => f.split('/').slice(-2).join('/'))).toEqual(['ant/0000.png', 'ant/0001.jpg', 'ant/0002.png', 'moose/0000.png', 'moose/0001.jpg', 'moose/0002.png', 'zebra/0000.png', 'zebra/0001.jpg', 'zebra/0002.png']);
    // Values written: ant (k=1 in write order) 20 + i, moose 40 + i, zebra 0 + i; the JPEGs within 2.
    const first = Array.from({ length: 9 }, (_, i) => d.images[i * 192]);
    const want = [20, 21, 22, 40, 41, 42, 0, 1, 2];
    first.forEach((v, i) => expect(Math.abs(v - want[i]), `image ${i}`).toBeLessThanOrEqual(i % 3 === 1 ? 2 : 0));
  });

  test('refuses other sizes, wrong classes, empty folders', async () => {
    const root = tempDir();
    writeFolder(root, 'a', ['cat', 'dog'], 1, 8);
    await expect(readImageFolder(join(root, 'a'), { height: 32, width: 32 })).rejects.toThrow(/0000\.png: is 8x8, the model takes 32x32\. Resize the images to 32x32/);
    await expect(readImageFolder(join(root, 'a'), { height: 8, width: 8, classes: ['cat', 'dog', 'frog'] })).rejects.toThrow(/missing: frog/);
    await expect(readImageFolder(join(root, 'a'), { height: 8, width: 8, classes: ['cat'] })).rejects.toThrow(/unexpected: dog/);
    await expect(readImageFolder(join(root, 'nope'), { height: 8, width: 8 })).rejects.toThrow(/nope: cannot be read/);
    mkdirSync(join(root, 'b', 'cls'), { recursive: true });
    await expect(readImageFolder(join(root, 'b'), { height: 8, width: 8 })).rejects.toThrow(/holds no \.jpg or \.png image/);
  });
});

describe('the loader', () => {
  const canTar = (() => {
    try {
      execFileSync('tar', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  test('the tar reader: files and directories of a ustar archive written by tar', { skip: !canTar }, () => {
    const root = tempDir();
    mkdirSync(join(root, 'src', 'train', 'a-very-long-directory-name-'.repeat(4)), { recursive: true });
    writeFileSync(join(root, 'src', 'train', 'x.bin'), Uint8Array.of(1, 2, 3));
    writeFileSync(join(root, 'src', 'train', 'a-very-long-directory-name-'.repeat(4), 'y.bin'), new Uint8Array(600).fill(7));
    execFileSync('tar', ['cf', join(root, 'a.tar'), '-C', join(root, 'src'), 'train']);
    const bytes = new Uint8Array(execFileSync('cat', [join(root, 'a.tar')], { maxBuffer: 1 << 20 }));
    const entries = [...readTar(bytes)];
    const files = entries.filter((e) => e.type === 'file').map((e) => [e.path, e.data.length]);
    expect(files).toContainEqual(['train/x.bin', 3]);
    expect(files).toContainEqual([`train/${'a-very-long-directory-name-'.repeat(4)}/y.bin`, 600]);
    expect(entries.some((e) => e.type === 'directory' && e.path === 'train')).toBe(true);
    expect(() => [...readTar(bytes.subarray(0, 1000))]).toThrow(/truncated/);
  });

  test('first use: unpacks the JPEG archive, decodes a split, caches it; later uses read the cache; official batches come first', { skip: !canTar, timeout: 60_000 }, async () => {
    const root = tempDir();
    writeFolder(join(root, 'src'), 'train', CIFAR10_CLASSES, 2);
    writeFolder(join(root, 'src'), 'test', CIFAR10_CLASSES, 1);
    const archive = join(root, 'cifar10-jpeg.tar.gz');
    execFileSync('tar', ['czf', archive, '-C', join(root, 'src'), 'train', 'test']);
    const dataDir = join(root, 'data');
    // What an unpacking killed half way leaves (its process gone: pid 2^31 - 2 runs nowhere) is removed.
    const abandoned = join(dataDir, 'cifar10', 'cifar10-jpeg.tmp-2147483646');
    mkdirSync(join(abandoned, 'train'), { recursive: true });
    writeFileSync(join(abandoned, 'train', 'half.jpg'), 'x');
    const lines: string[] = [];
    const train = await loadCifar10({ split: 'train', dataDir, archive, log: (l) => lines.push(l) });
    expect(existsSync(abandoned)).toBe(false);
    expect(train.count).toBe(20);
    expect(Array.from(train.labels)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // interleaved
    const want = [0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 1, 21, 41, 61, 81, 101, 121, 141, 161, 181]; // PNGs exact, then JPEGs
    want.forEach((v, k) => expect(Math.abs(train.images[k * 3072] - v), `sample ${k}`).toBeLessThanOrEqual(k < 10 ? 0 : 2));
    expect(lines.join('\n')).toMatch(/unpacked 32 files of .*cifar10-jpeg\.tar\.gz/); // 30 images + 2 notes.txt
    expect(lines.join('\n')).toMatch(/decoded 20 JPEGs \(train\)/);
    expect(existsSync(join(dataDir, 'cifar10', 'cifar10-jpeg-train.bin'))).toBe(true);
    expect(readdirSync(join(dataDir, 'cifar10', 'cifar10-jpeg', 'test'))).toHaveLength(10);

    lines.length = 0;
    const again = await loadCifar10({ split: 'train', dataDir, archive: join(root, 'gone.tar.gz'), limit: 12, log: (l) => lines.push(l) });
    expect(again.count).toBe(12);
    expectExact(again.images, train.images.subarray(0, 12 * 3072), 'cached images');
    expect(lines.join('\n')).toMatch(/20 images from .*cifar10-jpeg-train\.bin/);

    const official = join(dataDir, 'cifar10', 'cifar-10-batches-bin');
    mkdirSync(official);
    writeFileSync(join(official, 'test_batch.bin'), writeCifarBatch(samples(4)));
    const test = await loadCifar10({ split: 'test', dataDir });
    expect([test.count, test.source]).toEqual([4, official]);
    expectExact(test.images, samples(4).images, 'official test batch');
  });

  test('no data anywhere: says what to download and where to put it', async () => {
    const root = tempDir();
    const err = await loadCifar10({ split: 'test', dataDir: join(root, 'data'), archive: join(root, 'missing.tar.gz') }).catch((e) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toMatch(/not found: no official batches in .*cifar-10-batches-bin, no decoded cache .*cifar10-jpeg-test\.bin, no cifar10-jpeg\.tar\.gz at .*missing\.tar\.gz/);
    expect(err.message).toMatch(/cifar-10-binary\.tar\.gz.*https:\/\/www\.cs\.toronto\.edu\/~kriz\/cifar\.html.*tar xzf cifar-10-binary\.tar\.gz -C /);
  });
});
