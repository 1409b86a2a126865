// Kernel reuse analysis (src/analysis/kernel-reuse.ts): patterns by the bit convention from float
// and packed weights, the unique ratios and cost model on examples worked by hand, and the
// generator of weights with a chosen unique ratio measured back by the analysis.
import { describe, expect, test } from 'vitest';
import { packRows } from '../src/bitpack.js';
import {
  analyzeKernelReuse,
  formatKernelReuseReport,
  hwioToOhwi,
  kernelLayerFromNpy,
  kernelPatterns,
  redundantWeights,
  uniquePerChannel,
  type KernelShape,
} from '../src/analysis/kernel-reuse.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { ShapeError } from '../src/gpu/errors.js';
import { expectExact } from './helpers/check.js';
import { rngFor, seedNote } from './helpers/random.js';

// OHWI weights from a function of (o, kh, kw, i).
function weightsOf(shape: KernelShape, f: (o: number, kh: number, kw: number, i: number) => number): Float32Array {
  const [O, KH, KW, I] = shape;
  const w = new Float32Array(O * KH * KW * I);
  for (let o = 0; o < O; o++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) for (let i = 0; i < I; i++) w[((o * KH + kh) * KW + kw) * I + i] = f(o, kh, kw, i);
  return w;
}

// The plainest statement of a pattern: bit kh*KW + kw set where w[o, kh, kw, i] < 0.
function patternOf(w: Float32Array, shape: KernelShape, o: number, i: number): number {
  const [, KH, KW, I] = shape;
  let p = 0;
  for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) if (w[((o * KH + kh) * KW + kw) * I + i] < 0) p |= 1 << (kh * KW + kw);
  return p;
}

describe('kernelPatterns', () => {
  test('bit kh*KW + kw is set where the weight is negative; 0 and -0 are +1', () => {
    const shape: KernelShape = [2, 3, 3, 2];
    // o=0, i=0: only the centre (t=4) negative; o=0, i=1: the corner kh=2,kw=2 (t=8) and -0 (stays +1).
    const w = weightsOf(shape, (o, kh, kw, i) => {
      if (o === 0 && i === 0) return kh === 1 && kw === 1 ? -0.3 : 0;
      if (o === 0 && i === 1) return kh === 2 && kw === 2 ? -2 : -0;
      return o === 1 && i === 0 && kh === 0 ? -1 : 1; // o=1, i=0: top row t=0,1,2
    });
    const p = kernelPatterns(w, shape); // laid out [I, O]
    expect(Array.from(p)).toEqual([1 << 4, 0b111, 1 << 8, 0]);
  });

  test('float and packed weights give the same patterns (I not a multiple of 32)', () => {
    const rng = rngFor('float vs packed');
    for (const shape of [[5, 3, 3, 40], [3, 1, 1, 33], [4, 4, 4, 64], [2, 3, 5, 7]] as KernelShape[]) {
      const [O, KH, KW, I] = shape;
      const w = rng.floats(O * KH * KW * I);
      const fromFloat = kernelPatterns(w, shape);
      const fromPacked = kernelPatterns({ packed: packRows(w, O * KH * KW, I) }, shape);
      expectExact(fromPacked, fromFloat, `patterns of [${shape}] (${seedNote()})`);
      const plain = new Uint16Array(I * O);
      for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) plain[i * O + o] = patternOf(w, shape, o, i);
      expectExact(fromFloat, plain, `patterns of [${shape}] against the definition (${seedNote()})`);
    }
  });

  test('refuses more than 16 taps, wrong lengths, and packed rows with pad bits set', () => {
    expect(() => kernelPatterns(new Float32Array(25), [1, 5, 5, 1])).toThrow(/25 taps.*at most 16/);
    expect(kernelPatterns(new Float32Array(16).fill(-1), [1, 4, 4, 1])[0]).toBe(0xffff);
    expect(() => kernelPatterns(new Float32Array(17), [1, 3, 3, 2])).toThrow(/has 18 weights, got 17/);
    expect(() => kernelPatterns({ packed: new Uint32Array(9) }, [1, 3, 3, 33])).toThrow(/take 18 words/);
    const packed = new Uint32Array(9);
    packed[4] = 1 << 5; // bit 5 of a row of I = 5 values is a pad bit
    expect(() => kernelPatterns({ packed }, [1, 3, 3, 5])).toThrow(ShapeError);
    expect(() => kernelPatterns(new Float32Array(0), [0, 3, 3, 1] as unknown as KernelShape)).toThrow(/positive integers/);
  });
});

describe('analyzeKernelReuse', () => {
  test('all output channels identical: ratio 1/O; cost model worked by hand', () => {
    const shape: KernelShape = [8, 3, 3, 4];
    const w = weightsOf(shape, (_o, kh, kw, i) => ((kh * 3 + kw + i) % 3 === 0 ? -1 : 1));
    const [layer] = analyzeKernelReuse([{ name: 'same', weights: w, shape }]).layers;
    expect(layer.uniqueRatio).toBe(1 / 8);
    expect(layer.perInputChannel.map((c) => c.unique)).toEqual([1, 1, 1, 1]);
    expect(layer.macsWithout).toBe(9 * 8 * 4); // 288
    expect(layer.opsWithReuse).toBe(4 * (9 * 1 + 8)); // 68
    expect(layer.savedFraction).toBeCloseTo(1 - 68 / 288, 12);
    expect(layer.popcountWorkSaved).toBe(1 - 1 / 8);
  });

  test('all distinct: ratio 1, and reuse costs 1/T more than it saves', () => {
    const shape: KernelShape = [16, 3, 3, 3];
    const w = weightsOf(shape, (o, kh, kw, i) => (((o * 7 + i) >> (kh * 3 + kw)) & 1 ? -1 : 1)); // pattern 7o + i: distinct over o
    const [layer] = analyzeKernelReuse([{ name: 'distinct', weights: w, shape }]).layers;
    expect(layer.uniqueRatio).toBe(1);
    expect(layer.perInputChannel.every((c) => c.unique === 16 && c.ratio === 1)).toBe(true);
    expect(layer.opsWithReuse).toBe(10 * 16 * 3);
    expect(layer.savedFraction).toBeCloseTo(-1 / 9, 12);
    expect(layer.popcountWorkSaved).toBe(0);
  });

  test('a pattern and its negation count once in uniqueRatioUpToSign', () => {
    const shape: KernelShape = [4, 3, 3, 1];
    const pats = [0b000000101, 0b111111010, 0b000000101, 0]; // p, ~p, p, 0
    const w = weightsOf(shape, (o, kh, kw) => ((pats[o] >> (kh * 3 + kw)) & 1 ? -1 : 1));
    const [layer] = analyzeKernelReuse([{ name: 'neg', weights: w, shape }]).layers;
    expect(layer.perInputChannel[0].unique).toBe(3);
    expect(layer.uniqueRatio).toBe(3 / 4);
    expect(layer.uniqueRatioUpToSign).toBe(2 / 4);
  });

  test('totals weight each layer by its output positions', () => {
    const a: KernelShape = [4, 3, 3, 2];
    const b: KernelShape = [2, 1, 1, 8];
    const report = analyzeKernelReuse([
      { name: 'a', weights: new Float32Array(72).fill(1), shape: a, positions: 10 },
      { name: 'b', weights: new Float32Array(16).fill(-1), shape: b, positions: 3 },
    ]);
    expect(report.totals.macsWithout).toBe(10 * 72 + 3 * 16);
    expect(report.totals.opsWithReuse).toBe(10 * 2 * (9 + 4) + 3 * 8 * (1 + 2));
    // popcount view: 10 * 9 * (1+1) + 3 * 1 * 8 unique-pattern taps over all the MACs
    expect(report.totals.uniqueRatio).toBeCloseTo((10 * 9 * 2 + 3 * 8) / (10 * 72 + 3 * 16), 12);
    expect(report.totals.popcountWorkSaved).toBeCloseTo(1 - report.totals.uniqueRatio, 12);
  });

  test('uniquePerChannel on a hand-made [I, O] table', () => {
    expect(Array.from(uniquePerChannel(new Uint16Array([1, 2, 1, 65535, 65535, 65535, 0, 1, 2]), 3, 3))).toEqual([2, 1, 3]);
  });
});

describe('redundantWeights', () => {
  const cases: [KernelShape, number, number][] = [
    // shape, requested ratio, distinct patterns per input channel the analysis must find
    [[128, 3, 3, 24], 1, 128],
    [[128, 3, 3, 24], 0.42, 54], // round(53.76)
    [[128, 3, 3, 24], 0.1, 13], // round(12.8)
    [[100, 3, 3, 5], 0.005, 1], // at least one
    [[1024, 3, 3, 4], 1, 512], // 3x3 has only 512 patterns
    [[6, 2, 2, 3], 0.5, 3],
  ];
  test.each(cases)('[%s] at %s: the analysis measures back %s per channel', (shape, ratio, want) => {
    const w = redundantWeights(rngFor(`redundant ${shape} ${ratio}`), shape, ratio);
    expect(w.every((x) => x === 1 || x === -1)).toBe(true);
    const [layer] = analyzeKernelReuse([{ name: 'gen', weights: w, shape }]).layers;
    for (const c of layer.perInputChannel) expect(c.unique, `channel ${c.channel} (${seedNote()})`).toBe(want);
    expect(layer.uniqueRatio).toBeCloseTo(want / shape[0], 12);
  });

  test('refuses a ratio outside (0, 1]', () => {
    expect(() => redundantWeights(rngFor('bad'), [4, 3, 3, 1], 0)).toThrow(/\(0, 1\]/);
    expect(() => redundantWeights(rngFor('bad'), [4, 3, 3, 1], 1.5)).toThrow(/\(0, 1\]/);
  });
});

describe('kernels from .npy files', () => {
  test('HWIO (Keras/Larq) and OHWI files give the same layer', () => {
    const shape: KernelShape = [6, 3, 3, 5];
    const ohwi = redundantWeights(rngFor('npy layouts'), shape, 0.5);
    const [O, KH, KW, I] = shape;
    const hwio = new Float32Array(ohwi.length);
    for (let o = 0; o < O; o++) for (let t = 0; t < KH * KW; t++) for (let i = 0; i < I; i++) hwio[(t * I + i) * O + o] = ohwi[(o * KH * KW + t) * I + i];
    expectExact(hwioToOhwi(hwio, [KH, KW, I, O]), ohwi, 'hwioToOhwi');

    const fromHwio = kernelLayerFromNpy(readNpy(writeNpy(hwio, [KH, KW, I, O])), 'k', 'hwio');
    expect(fromHwio.shape).toEqual(shape);
    expectExact(fromHwio.weights, ohwi, 'hwio file');
    const asInt8 = kernelLayerFromNpy(readNpy(writeNpy(Int8Array.from(ohwi), [...shape])), 'k', 'ohwi');
    expectExact(asInt8.weights, ohwi, 'int8 ohwi file');
  });

  test('refuses arrays that are not 4-d, unsigned ones, and a layout that makes no sense of the shape', () => {
    expect(() => kernelLayerFromNpy(readNpy(writeNpy(new Float32Array(9), [3, 3])), 'flat')).toThrow(/flat: a conv kernel is 4-d/);
    expect(() => kernelLayerFromNpy(readNpy(writeNpy(new Uint8Array(9), [1, 3, 3, 1])), 'u8')).toThrow(/unsigned/);
    const ohwiFile = readNpy(writeNpy(new Float32Array(64 * 9 * 32), [64, 3, 3, 32]));
    expect(() => kernelLayerFromNpy(ohwiFile, 'k', 'hwio')).toThrow(/a 64x3 kernel has 192 taps.*read as hwio from shape \(64, 3, 3, 32\): is that the file's layout\?/);
    expect(kernelLayerFromNpy(ohwiFile, 'k', 'ohwi').shape).toEqual([64, 3, 3, 32]);
  });
});

test('formatKernelReuseReport: one line per layer, the cost model, per-channel lists with verbose', () => {
  const shape: KernelShape = [32, 3, 3, 8];
  const report = analyzeKernelReuse([
    { name: 'conv1', weights: redundantWeights(rngFor('fmt'), shape, 0.25), shape },
    { name: 'pointwise', weights: new Float32Array(16).fill(1), shape: [4, 1, 1, 4] },
  ]);
  const text = formatKernelReuseReport(report);
  expect(text).toMatch(/cost model, per output position/);
  expect(text).toMatch(/without reuse  T\*O\*I binary MACs/);
  expect(text).toMatch(/^conv1 +\[32,3,3,8\] +25\.0% +25\.0% \/ 25\.0% \/ 25\.0%/m);
  expect(text).toMatch(/^pointwise \(1 taps\)/m);
  expect(text).toMatch(/^total/m);
  expect(text).not.toMatch(/distinct patterns per input channel \(of/);
  const verbose = formatKernelReuseReport(report, { verbose: true });
  expect(verbose).toMatch(/conv1: distinct patterns per input channel \(of 32 output channels\)/);
  expect(verbose).toMatch(/ 7:   8  25\.0%/);
});
