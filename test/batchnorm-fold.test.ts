// BatchNormalization folding against direct evaluation: the affine fold within f32 rounding, and
// the sign fold exactly, for every integer dot of a K-long +-1 product, on edge-case channels.
import { describe, expect, test } from 'vitest';
import { ap2Signed } from '../src/ap2.js';
import { ShapeError } from '../src/gpu/errors.js';
import { decisionValue, foldBatchNormAffine, foldBatchNormSign, foldDecision, type BatchNormParams, type DecisionMap } from '../src/model/batchnorm-fold.js';
import { thresholdQuantizeReference } from '../src/ops/elementwise.js';
import { expectExact } from './helpers/check.js';
import { rngFor } from './helpers/random.js';

const K = 70; // dots range over -K..K in steps of 2

function bnAt(bn: BatchNormParams, c: number, y: number): number {
  const eps = bn.epsilon ?? 1e-3;
  return ((bn.gamma?.[c] ?? 1) * (y - bn.movingMean[c])) / Math.sqrt(bn.movingVariance[c] + eps) + (bn.beta?.[c] ?? 0);
}

describe('foldBatchNorm', () => {
  const rng = rngFor('batchnorm-fold');
  const edge: BatchNormParams = {
    // positive, negative, zero gamma (constant channel, negative and positive beta), tiny variance,
    // a mean on an exact dot (BN(y) = 0 there: sign(0) = +1, bit clear), a huge scale
    gamma: [1.5, -0.7, 0, 0, 2, 1, 1e6],
    beta: [0.1, 0.3, -0.2, 0.2, 0, 0, -1],
    movingMean: [3.2, -5.1, 1, 1, 0.5, 4, 7],
    movingVariance: [2, 0.5, 1, 1, 1e-9, 1, 3],
    epsilon: 1e-3,
  };
  const random: BatchNormParams = {
    gamma: Array.from({ length: 50 }, () => rng.uniform(-2, 2)),
    beta: Array.from({ length: 50 }, () => rng.uniform(-3, 3)),
    movingMean: Array.from({ length: 50 }, () => rng.uniform(-K, K)),
    movingVariance: Array.from({ length: 50 }, () => rng.uniform(0, 40)),
  };
  const layerBias = Array.from({ length: 50 }, () => rng.uniform(-2, 2));

  for (const [name, bn, bias] of [
    ['edge channels', edge, undefined],
    ['random channels', random, undefined],
    ['random channels with a layer bias', random, layerBias],
    ['scale=False, center=False', { movingMean: [0.5, -1], movingVariance: [1, 4] }, undefined],
  ] as const) {
    test(`${name}: sign fold equals sign(BN(dot + bias)) for every dot`, () => {
      const { threshold, flip } = foldBatchNormSign(bn, bias);
      for (let c = 0; c < bn.movingMean.length; c++) {
        for (let d = -K; d <= K; d += 2) {
          const want = bnAt(bn, c, d + (bias?.[c] ?? 0)) < 0;
          const got = flip[c] ? d > threshold[c] : d < threshold[c];
          if (got !== want) expect.fail(`channel ${c}, dot ${d}: bit ${got}, BN says ${want} (threshold ${threshold[c]}, flip ${flip[c]})`);
        }
      }
    });

    test(`${name}: affine fold equals BN within f32 rounding`, () => {
      const { scale, bias: b } = foldBatchNormAffine(bn, bias);
      for (let c = 0; c < bn.movingMean.length; c++) {
        for (let d = -K; d <= K; d += 2) {
          const want = bnAt(bn, c, d + (bias?.[c] ?? 0));
          const got = d * scale[c] + b[c];
          expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-6 * (Math.abs(d * scale[c]) + Math.abs(b[c]) + 1));
        }
      }
    });
  }

  test("shift-based: the fold's scale is AP2(gamma) AP2(1 / sigma), a power of two; the sign fold agrees", () => {
    const bn = { ...random, shift: true };
    const { scale, bias: b } = foldBatchNormAffine(bn);
    const { threshold, flip } = foldBatchNormSign(bn);
    for (let c = 0; c < bn.movingMean.length; c++) {
      const s = ap2Signed(bn.gamma![c]) * ap2Signed(1 / Math.sqrt(bn.movingVariance[c] + 1e-3));
      expect(scale[c]).toBe(Math.fround(s));
      expect(Number.isInteger(Math.log2(Math.abs(scale[c])))).toBe(true);
      for (let d = -K; d <= K; d += 2) {
        const want = s * (d - bn.movingMean[c]) + bn.beta![c] < 0;
        const got = flip[c] ? d > threshold[c] : d < threshold[c];
        if (got !== want) expect.fail(`channel ${c}, dot ${d}: bit ${got}, shift BN says ${want}`);
      }
      expect(Math.abs(b[c] - (bn.beta![c] - bn.movingMean[c] * s))).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(b[c])));
    }
  });

  test('a mean on an exact dot: BN = 0 there, sign(0) = +1, so the bit is clear', () => {
    const { threshold, flip } = foldBatchNormSign({ gamma: [1], beta: [0], movingMean: [4], movingVariance: [1] });
    expect(flip[0]).toBe(0);
    expect(threshold[0]).toBe(4); // bit set for dot < 4: dot = 4 gives BN = 0 -> +1
  });

  test('bad parameters are refused', () => {
    expect(() => foldBatchNormSign({ movingMean: [0, 1], movingVariance: [1] })).toThrow(ShapeError);
    expect(() => foldBatchNormSign({ movingMean: [0], movingVariance: [-1] })).toThrow(/moving_variance\[0\]/);
    expect(() => foldBatchNormSign({ movingMean: [0], movingVariance: [NaN] })).toThrow(/NaN/);
    expect(() => foldBatchNormSign({ movingMean: [0], movingVariance: [0], epsilon: 0 })).toThrow(/division by zero/);
    expect(() => foldBatchNormAffine({ gamma: [1, 2], movingMean: [0], movingVariance: [1] })).toThrow(/gamma has 2 channels/);
  });
});

describe('foldDecision: a sign or heaviside after a layer as f32 thresholds on its raw output', () => {
  test('decides every f32 on and next to each decision point as the reference arithmetic does', () => {
    const rng = rngFor('foldDecision');
    const C = 40;
    for (let trial = 0; trial < 30; trial++) {
      // Integer means (BN = 0 exactly at y = mean), fresh ones, shift-based ones, zero and negative gammas, a layer scale and bias.
      const bn = {
        gamma: Float32Array.from({ length: C }, (_, c) => (c % 9 === 4 ? 0 : [1, -1, 0.5, -3, Math.fround(rng.uniform(-2, 2))][rng.int(5)])),
        beta: Float32Array.from({ length: C }, () => (rng.int(2) ? 0 : Math.fround(rng.uniform(-1, 1)))),
        movingMean: Float32Array.from({ length: C }, () => (rng.int(2) ? rng.int(9) - 4 : Math.fround(rng.uniform(-5, 5)))),
        movingVariance: Float32Array.from({ length: C }, () => [1, 2, 0.25, Math.fround(rng.uniform(0.1, 4))][rng.int(4)]),
        epsilon: [1e-3, 0, 1e-5][rng.int(3)],
        shift: trial % 5 === 0,
      };
      const map: DecisionMap = {
        bn: trial % 7 === 3 ? undefined : bn,
        layerScale: trial % 2 ? Float32Array.from({ length: C }, () => [0.5, 0.25, Math.fround(rng.uniform(0.01, 2))][rng.int(3)]) : undefined,
        layerBias: trial % 3 ? Float32Array.from({ length: C }, () => rng.int(5) - 2 + (rng.int(2) ? 0.5 : 0)) : undefined,
        offset: trial % 4 === 1 ? 17 : 0,
      };
      const value = decisionValue(map);
      for (const kind of ['sign', 'heaviside'] as const) {
        const { threshold, flip } = foldDecision(map, kind, C);
        // Small integers (dot products) and their f32 neighbours, per channel.
        const xs = Float32Array.from({ length: C * 60 }, (_, i) => {
          const d = rng.int(61) - 30;
          return [d, Math.fround(d * (1 + 2 ** -23)), Math.fround(d * (1 - 2 ** -23)), Math.fround(rng.uniform(-40, 40))][rng.int(4)];
        });
        const got = thresholdQuantizeReference(xs, kind, threshold, flip);
        const want = Float32Array.from(xs, (r, i) => {
          const v = value(r, i % C);
          return kind === 'sign' ? (v < 0 ? -1 : 1) : v > 0 ? 1 : 0;
        });
        expectExact(got, want, `trial ${trial}, ${kind}`);
      }
    }
  });
});
