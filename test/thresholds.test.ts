// thresholdsFromAffine on the CPU: the integer thresholds it folds `dot * scale + bias < 0` into
// must decide exactly as that expression does (evaluated in f64, as written) for every dot a layer
// can produce, including ties, constant channels, negative scales, extremes and NaN.
import { describe, expect, test } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import { thresholdsFromAffine } from '../src/ops/gemm-binary.js';
import { rngFor, seedNote } from './helpers/random.js';

const K = 1000; // dots range over [-K, K]
const TINY = 2 ** -149; // the smallest f32 subnormal
const F32_MAX = 3.4028234663852886e38;

/**
 * Checks every channel: the threshold epilogue's rule (bit set where dot < t, or dot > t when
 * flipped) against the direct evaluation, for all dots in [-K, K] and around the threshold.
 */
function expectMatchesAffine(scale: ArrayLike<number>, bias: ArrayLike<number>, what: string): void {
  const { threshold, flip } = thresholdsFromAffine(scale, bias);
  expect(threshold).toBeInstanceOf(Int32Array);
  expect(flip).toBeInstanceOf(Uint32Array);
  expect(threshold.length).toBe(scale.length);
  const got: number[] = [];
  const want: number[] = [];
  const where: string[] = [];
  for (let n = 0; n < scale.length; n++) {
    expect([0, 1], `${what}: flip[${n}]`).toContain(flip[n]);
    const t = threshold[n];
    const dots = new Set<number>();
    for (let d = -K; d <= K; d++) dots.add(d);
    if (Math.abs(t) < 2 ** 24) for (let d = t - 2; d <= t + 2; d++) dots.add(d);
    for (const d of dots) {
      got.push(Number(flip[n] ? d > t : d < t));
      want.push(Number(d * scale[n] + bias[n] < 0));
      where.push(`channel ${n} (scale ${scale[n]}, bias ${bias[n]}; threshold ${t}, flip ${flip[n]}), dot ${d}`);
    }
  }
  // The flat index means little here: name the channel and the dot of each mismatch.
  const bad = got.flatMap((g, i) => (g === want[i] ? [] : [i]));
  const lines = bad.slice(0, 10).map((i) => `  ${where[i]}: bit ${got[i]}, but dot*scale+bias < 0 is ${Boolean(want[i])}`);
  expect(bad.length, `${what}: ${bad.length} wrong bits; the first ${lines.length}:\n${lines.join('\n')}`).toBe(0);
}

describe('thresholdsFromAffine', () => {
  // [name, scale, bias]
  const edges: [string, number, number][] = [
    ['constant channel, negative bias: always -1', 0, -1],
    ['constant channel, zero bias: always +1', 0, 0],
    ['constant channel, -0.0 bias: always +1', 0, -0],
    ['constant channel, positive bias: always +1', 0, 1],
    ['constant channel, subnormal negative bias', 0, -TINY],
    ['-0.0 scale', -0, -1],
    ['positive scale, tie on an integer', 0.5, -1],
    ['negative scale (flip), tie on an integer', -0.5, 1],
    ['scale 3, tie at 3', 3, -9],
    ['tie at -K', 1, K],
    ['tie at +K, flipped', -1, K],
    ['-bias/scale = 3 in reals, not in binary (0.1, -0.3)', 0.1, -0.3],
    ['flipped, not representable (-0.1, 0.3)', -0.1, 0.3],
    ['(0.7, -2.1)', 0.7, -2.1],
    ['f32 rounding of 1/3', Math.fround(1 / 3), -Math.fround(1)],
    ['huge scale', 1e30, 1],
    ['huge negative scale', -1e30, -1],
    ['f32 max scale and bias', F32_MAX, -F32_MAX],
    ['tiny scale, tiny bias', 1e-30, 1e-28],
    ['subnormal scale, zero bias', TINY, 0],
    ['f64 subnormal scale and bias', 5e-324, -5e-324],
    ['subnormal scale, bias -1: threshold past i32 (always -1)', TINY, -1],
    ['subnormal negative scale, bias -1 (always -1)', -TINY, -1],
    ['huge bias: always +1', 1, 1e30],
    ['huge negative bias: always -1', 1, -1e30],
    ['huge bias, flipped: always +1', -1, 1e30],
    ['infinite scale', Infinity, 0],
    ['negative infinite scale', -Infinity, 5],
    ['infinite scale and negative infinite bias', Infinity, -Infinity],
    ['infinite bias', 1, Infinity],
    ['negative infinite bias', 1, -Infinity],
    ['NaN scale: never -1', NaN, -1],
    ['NaN bias: never -1', 1, NaN],
  ];
  test.each(edges)('%s', (name, s, b) => {
    expectMatchesAffine([s], [b], name);
  });

  test('all edge cases at once, as f32 arrays', () => {
    const scale = Float32Array.from(edges, (e) => e[1]);
    const bias = Float32Array.from(edges, (e) => e[2]);
    expectMatchesAffine(scale, bias, 'edge cases as f32');
  });

  test('random channels across magnitudes and signs', () => {
    const rng = rngFor('thresholdsFromAffine random');
    const n = 400;
    const scale = new Float32Array(n);
    const bias = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      scale[i] = (rng.next() < 0.5 ? -1 : 1) * 10 ** rng.uniform(-6, 6);
      // Thresholds mostly inside [-K, K], some just outside; a quarter land exactly on an integer.
      const t = rng.uniform(-1.2 * K, 1.2 * K);
      bias[i] = -scale[i] * (rng.next() < 0.25 ? Math.round(t) : t);
    }
    expectMatchesAffine(scale, bias, `random channels [${seedNote()}]`);
  });

  test('refuses scale and bias of different lengths', () => {
    expect(() => thresholdsFromAffine([1, 2], [0])).toThrow(ShapeError);
  });
});
