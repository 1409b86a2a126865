// The bit convention (src/bitpack.ts), on the CPU: layout, signs, pad bits, popcount and the
// +-1 dot product, each against the plainest statement of the rule.
import { describe, expect, test } from 'vitest';
import {
  binaryDot,
  bitValue,
  padBitsAreZero,
  packRows,
  popcount,
  sign,
  signBit,
  unpackRows,
  wordsPerRow,
} from '../src/bitpack.js';
import { expectExact } from './helpers/check.js';
import { rngFor, seedNote } from './helpers/random.js';

const f32 = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0];

describe('signs', () => {
  // [value, bit]: bit = x < 0, so +-0 and every NaN are +1; subnormals and infinities keep their sign.
  const cases: [string, number, 0 | 1][] = [
    ['+1', 1, 0],
    ['-1', -1, 1],
    ['+0', 0, 0],
    ['-0.0', -0, 0],
    ['NaN', NaN, 0],
    ['NaN with the sign bit', f32(0xffc00000), 0],
    ['+inf', Infinity, 0],
    ['-inf', -Infinity, 1],
    ['smallest subnormal', f32(0x00000001), 0],
    ['negative subnormal', f32(0x80000001), 1],
  ];
  test.each(cases)('%s', (_name, x, bit) => {
    expect(signBit(x)).toBe(bit);
    expect(sign(x)).toBe(bit ? -1 : 1);
    expect(bitValue(bit)).toBe(bit ? -1 : 1);
    expect(packRows([x], 1, 1)[0]).toBe(bit);
  });
});

describe('layout', () => {
  test('wordsPerRow is ceil(n / 32)', () => {
    const want: [number, number][] = [[0, 0], [1, 1], [31, 1], [32, 1], [33, 2], [64, 2], [65, 3], [1000, 32]];
    for (const [n, w] of want) expect(wordsPerRow(n), `wordsPerRow(${n})`).toBe(w);
  });

  test('value j of a row lands in word j >> 5, bit j & 31, rows padded to whole words', () => {
    const cols = 70; // 3 words per row
    for (const j of [0, 1, 31, 32, 33, 63, 64, 69]) {
      const values = new Float32Array(2 * cols).fill(1);
      values[cols + j] = -1; // row 1 only
      const want = new Uint32Array(6);
      want[3 + (j >> 5)] = (1 << (j & 31)) >>> 0;
      expectExact(packRows(values, 2, cols), want, `value ${j} of row 1`, { hex: true });
    }
  });

  test('packRows and unpackRows refuse wrong lengths', () => {
    expect(() => packRows(new Float32Array(5), 2, 3)).toThrow(RangeError);
    expect(() => unpackRows(new Uint32Array(1), 2, 3)).toThrow(RangeError);
  });
});

describe('round trip', () => {
  test.each([[1, 1], [3, 31], [4, 32], [5, 33], [7, 100], [2, 257]])('%i x %i', (rows, cols) => {
    const rng = rngFor(`round trip ${rows}x${cols}`);
    const what = `${rows}x${cols} [${seedNote()}]`;
    const pm1 = Float32Array.from({ length: rows * cols }, () => (rng.next() < 0.5 ? -1 : 1));
    const words = packRows(pm1, rows, cols);
    expect(words.length).toBe(rows * wordsPerRow(cols));
    expect(padBitsAreZero(words, rows, cols), `${what}: pad bits`).toBe(true);
    expectExact(unpackRows(words, rows, cols), pm1, `${what}: unpack(pack(+-1))`);
    // Any floats come back as their signs; any words come back unchanged, pad bits aside.
    const x = rng.floats(rows * cols, -3, 3);
    expectExact(unpackRows(packRows(x, rows, cols), rows, cols), Float32Array.from(x, sign), `${what}: unpack(pack(x)) = sign(x)`);
    expectExact(packRows(unpackRows(words, rows, cols), rows, cols), words, `${what}: pack(unpack(w))`, { hex: true });
  });
});

describe('pad bits', () => {
  test('padBitsAreZero finds a set pad bit in any row, and whole-word rows have none', () => {
    const words = packRows(new Float32Array(3 * 40).fill(-1), 3, 40); // 2 words per row, 24 pad bits
    expect(padBitsAreZero(words, 3, 40)).toBe(true);
    for (const row of [0, 2]) {
      const bad = words.slice();
      bad[row * 2 + 1] |= 1 << 8; // value 40: the first pad bit
      expect(padBitsAreZero(bad, 3, 40), `pad bit of row ${row}`).toBe(false);
      bad[row * 2 + 1] = words[row * 2 + 1] | 0x80000000; // the last pad bit
      expect(padBitsAreZero(bad, 3, 40), `last pad bit of row ${row}`).toBe(false);
    }
    expect(padBitsAreZero(new Uint32Array([0xffffffff, 0xffffffff]), 2, 32)).toBe(true);
  });
});

describe('popcount and binaryDot', () => {
  const naivePopcount = (x: number) => {
    let n = 0;
    for (let i = 0; i < 32; i++) n += (x >>> i) & 1;
    return n;
  };

  test('popcount counts the set bits of a u32', () => {
    const rng = rngFor('popcount');
    const xs = [0, 1, 0x80000000, 0xffffffff, 0x7fffffff, 0x55555555, 0xaaaaaaaa, -1, -2147483648];
    for (let i = 0; i < 2000; i++) xs.push((rng.next() * 2 ** 32) >>> 0);
    for (const x of xs) expect(popcount(x), `popcount(0x${(x >>> 0).toString(16)}) [${seedNote()}]`).toBe(naivePopcount(x >>> 0));
  });

  test.each([1, 5, 31, 32, 33, 64, 100, 257])('binaryDot equals the +-1 dot product, K = %i', (K) => {
    const rng = rngFor(`binaryDot K=${K}`);
    const [ra, rb] = [3, 4];
    const a = Float32Array.from({ length: ra * K }, () => (rng.next() < 0.5 ? -1 : 1));
    const b = Float32Array.from({ length: rb * K }, () => (rng.next() < 0.5 ? -1 : 1));
    const [pa, pb] = [packRows(a, ra, K), packRows(b, rb, K)];
    const got: number[] = [];
    const want: number[] = [];
    for (let i = 0; i < ra; i++) {
      for (let j = 0; j < rb; j++) {
        got.push(binaryDot(pa, i, pb, j, K));
        let d = 0;
        for (let k = 0; k < K; k++) d += a[i * K + k] * b[j * K + k];
        want.push(d);
      }
    }
    expectExact(got, want, `binaryDot K=${K} [${seedNote()}]`, { cols: rb });
  });
});
