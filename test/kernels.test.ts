// Every kernel against its CPU reference, from one table: a case names the op, its shape and its
// launch variant (GEMM tuning or workgroup size); the op's row below states how its output is
// compared. Inputs are fresh random (seeded, see helpers/random.ts), outputs are poisoned first.
import { describe, expect, test } from 'vitest';
import { padBitsAreZero, packRows, unpackRows, wordsPerRow } from '../src/bitpack.js';
import type { Gpu } from '../src/gpu/context.js';
import { pack, unpack } from '../src/ops/bitpack.js';
import { binaryGemm, binaryGemmReference, thresholdsFromAffine } from '../src/ops/gemm-binary.js';
import { binaryFloatGemm, binaryFloatGemmReference } from '../src/ops/gemm-binary-float.js';
import { gemmF32, gemmF32Reference } from '../src/ops/gemm-f32.js';
import type { GemmTuning } from '../src/ops/gemm-tiling.js';
import type { DType, HostArray, Tensor } from '../src/tensor.js';
import { expectClose, expectExact } from './helpers/check.js';
import { poisoned, useGpu } from './helpers/gpu.js';
import { randomBits, rngFor, seedNote, type Random } from './helpers/random.js';

const gpu = useGpu();

type Dims = { M: number; N: number; K: number } | { shape: number[] };
interface Variant {
  name: string;
  tuning?: GemmTuning; // GEMMs; undefined: the adapter's default
  workgroupSize?: number; // pack / unpack; undefined: the op's default
}

/** What an op's prepare step hands the checker: a launch into `out`, and what `out` must hold. */
interface Prepared {
  out: { shape: number[]; dtype: DType };
  launch(gpu: Gpu, out: Tensor): Promise<Tensor>;
  want: HostArray;
  /** Per-element absolute bound for float outputs; absent: exact. */
  tol?: ArrayLike<number>;
  /** Further checks on the output, beyond equality with the reference. */
  extra?(got: HostArray, what: string): void;
  inputs: Tensor[];
}

interface OpRow {
  /** How the output is compared, and why that bound. */
  tolerance: string;
  prepare(gpu: Gpu, rng: Random, dims: Dims, variant: Variant): Prepared;
}

const U = 2 ** -24; // unit roundoff of f32

// ---------------------------------------------------------------------------------------------
// The ops: inputs, launch, reference and tolerance of each.
// ---------------------------------------------------------------------------------------------

const OPS = {
  pack: {
    tolerance: 'exact, and pad bits 0',
    prepare(g, rng, dims, v) {
      const shape = shapeOf(dims);
      const { rows, cols } = rowsCols(shape);
      const values = withSpecials(rng, rng.floats(rows * cols));
      const x = g.upload(values, shape, 'f32', 'x');
      return {
        out: { shape, dtype: 'b1' },
        launch: (gg, out) => pack(gg, x, { out, workgroupSize: v.workgroupSize }),
        want: packRows(values, rows, cols),
        inputs: [x],
      };
    },
  },
  unpack: {
    tolerance: 'exact (+-1); pad bits of the input are ignored',
    prepare(g, rng, dims, v) {
      const shape = shapeOf(dims);
      const { rows, cols } = rowsCols(shape);
      // Any words, pad bits included: unpack must read only the first `cols` bits of each row.
      const words = Uint32Array.from({ length: rows * wordsPerRow(cols) }, () => (rng.next() * 2 ** 32) >>> 0);
      const x = g.upload(words, shape, 'b1', 'x');
      return {
        out: { shape, dtype: 'f32' },
        launch: (gg, out) => unpack(gg, x, { out, workgroupSize: v.workgroupSize }),
        want: unpackRows(words, rows, cols),
        inputs: [x],
      };
    },
  },
  'binaryGemm.i32': {
    tolerance: 'exact',
    prepare(g, rng, dims, v) {
      const { M, N, K } = gemmDims(dims);
      const [ha, hb] = [randomBits(rng, M, K), randomBits(rng, N, K)];
      const [a, b] = [g.upload(ha, [M, K], 'b1', 'a'), g.upload(hb, [N, K], 'b1', 'b')];
      return {
        out: { shape: [M, N], dtype: 'i32' },
        launch: (gg, out) => binaryGemm(gg, a, b, { out, tuning: v.tuning, epilogue: { kind: 'i32' } }),
        want: binaryGemmReference(ha, hb, M, N, K),
        inputs: [a, b],
      };
    },
  },
  'binaryGemm.affine': {
    // dot is an exact integer with |dot| <= K < 2^24, so f32(dot) is exact. The GPU rounds
    // dot*scale and the sum (or one fma), the reference rounds d*s+b once from f64: at most three
    // roundings, each within U of a magnitude <= |dot*scale| + |bias|.
    tolerance: '|err| <= 4U (|dot*scale| + |bias|), U = 2^-24',
    prepare(g, rng, dims, v) {
      const { M, N, K } = gemmDims(dims);
      const [ha, hb] = [randomBits(rng, M, K), randomBits(rng, N, K)];
      const { scale, bias } = channels(rng, N, K);
      const [a, b] = [g.upload(ha, [M, K], 'b1', 'a'), g.upload(hb, [N, K], 'b1', 'b')];
      const [s, c] = [g.upload(scale, [N], 'f32', 'scale'), g.upload(bias, [N], 'f32', 'bias')];
      const dots = binaryGemmReference(ha, hb, M, N, K);
      return {
        out: { shape: [M, N], dtype: 'f32' },
        launch: (gg, out) => binaryGemm(gg, a, b, { out, tuning: v.tuning, epilogue: { kind: 'affine', scale: s, bias: c } }),
        want: binaryGemmReference(ha, hb, M, N, K, { kind: 'affine', scale, bias }),
        tol: Float64Array.from(dots, (d, i) => 4 * U * (Math.abs(d * scale[i % N]) + Math.abs(bias[i % N]))),
        inputs: [a, b, s, c],
      };
    },
  },
  'binaryGemm.threshold': {
    tolerance: 'exact, pad bits 0, and equal to sign(affine) wherever the affine value is not within rounding of 0',
    prepare(g, rng, dims, v) {
      const { M, N, K } = gemmDims(dims);
      const [ha, hb] = [randomBits(rng, M, K), randomBits(rng, N, K)];
      const { scale, bias } = channels(rng, N, K);
      const { threshold, flip } = thresholdsFromAffine(scale, bias);
      const [a, b] = [g.upload(ha, [M, K], 'b1', 'a'), g.upload(hb, [N, K], 'b1', 'b')];
      const [t, f] = [g.upload(threshold, [N], 'i32', 'threshold'), g.upload(flip, [N], 'u32', 'flip')];
      const affine = binaryGemmReference(ha, hb, M, N, K, { kind: 'affine', scale, bias });
      const dots = binaryGemmReference(ha, hb, M, N, K);
      return {
        out: { shape: [M, N], dtype: 'b1' },
        launch: (gg, out) => binaryGemm(gg, a, b, { out, tuning: v.tuning, epilogue: { kind: 'threshold', threshold: t, flip: f } }),
        want: binaryGemmReference(ha, hb, M, N, K, { kind: 'threshold', threshold, flip }),
        extra(got, what) {
          // The point of the threshold epilogue: the bits of sign(dot*scale + bias), the affine
          // epilogue followed by pack. Compared where the rounded affine value has a clear sign
          // (same bound as the affine row); the rest (exact ties, values within rounding of 0) are
          // decided exactly by thresholdsFromAffine and checked against the reference above.
          const bits = unpackRows(got as Uint32Array, M, N);
          const signs = unpackRows(packRows(affine, M, N), M, N);
          const clear: number[] = [];
          for (let i = 0; i < M * N; i++) {
            const tol = 4 * U * (Math.abs(dots[i] * scale[i % N]) + Math.abs(bias[i % N]));
            if (Math.abs(affine[i]) > tol) clear.push(i);
          }
          expectExact(clear.map((i) => bits[i]), clear.map((i) => signs[i]), `${what}: threshold bits vs packed affine`);
          // Not vacuous: most outputs that are not exactly 0 (a zero-bias constant channel, a tie) count.
          const nonzero = Array.from(affine).filter((y) => y !== 0).length;
          if (nonzero >= 100) expect(clear.length, `${what}: too few outputs with a clear sign to compare`).toBeGreaterThan(0.5 * nonzero);
        },
        inputs: [a, b, t, f],
      };
    },
  },
  gemmF32: {
    // Any summation order of K products errs by at most gamma_K * sum|a*b| (gamma_K ~ K*U for
    // K*U << 1), and the reference (f64, rounded once) by U*|sum|: together (K+1)*U*sum|a*b|.
    // Doubled for headroom. A wrong index or a lost K-step errs by about |a||b| ~ 1, far above.
    tolerance: '|err| <= 2 (K+1) U sum_k |a_mk b_nk|, U = 2^-24',
    prepare(g, rng, dims, v) {
      const { M, N, K } = gemmDims(dims);
      const [ha, hb] = [rng.floats(M * K), rng.floats(N * K)];
      const [a, b] = [g.upload(ha, [M, K], 'f32', 'a'), g.upload(hb, [N, K], 'f32', 'b')];
      const absDots = gemmF32Reference(ha.map(Math.abs), hb.map(Math.abs), M, N, K);
      return {
        out: { shape: [M, N], dtype: 'f32' },
        launch: (gg, out) => gemmF32(gg, a, b, { out, tuning: v.tuning }),
        want: gemmF32Reference(ha, hb, M, N, K),
        tol: Float64Array.from(absDots, (s) => 2 * (K + 1) * U * s),
        inputs: [a, b],
      };
    },
  },
  binaryFloatGemm: {
    // Terms are +-a_mk exactly (a sign flip): only the K-term sum rounds, gamma_K * sum|a|, plus
    // the reference's one rounding; doubled for headroom, as for gemmF32.
    tolerance: '|err| <= 2 (K+1) U sum_k |a_mk|, U = 2^-24',
    prepare(g, rng, dims, v) {
      const { M, N, K } = gemmDims(dims);
      const [ha, hb] = [rng.floats(M * K), randomBits(rng, N, K)];
      const [a, b] = [g.upload(ha, [M, K], 'f32', 'a'), g.upload(hb, [N, K], 'b1', 'b')];
      const rowAbs = Float64Array.from({ length: M }, (_, m) => ha.subarray(m * K, (m + 1) * K).reduce((s, x) => s + Math.abs(x), 0));
      return {
        out: { shape: [M, N], dtype: 'f32' },
        launch: (gg, out) => binaryFloatGemm(gg, a, b, { out, tuning: v.tuning }),
        want: binaryFloatGemmReference(ha, hb, M, N, K),
        tol: Float64Array.from({ length: M * N }, (_, i) => 2 * (K + 1) * U * rowAbs[Math.floor(i / N)]),
        inputs: [a, b],
      };
    },
  },
} satisfies Record<string, OpRow>;

type OpName = keyof typeof OPS;

// ---------------------------------------------------------------------------------------------
// The table.
// ---------------------------------------------------------------------------------------------

const GEMM_SHAPES: [string, number, number, number][] = [
  ['1x1x1', 1, 1, 1],
  ['off-tile M, N; K % 32 != 0', 37, 45, 100],
  ['whole tiles', 64, 64, 64],
  ['K = 33', 70, 130, 33],
  ['deep K, odd words', 23, 29, 520],
  ['tall-skinny', 2000, 3, 40],
  ['short-wide', 2, 1500, 300],
];

/** Tile-K defaults per kernel: 128-bit vectors (binary), vec4 (f32), words (binary x float). */
const TILE_K = { binary: 2, f32: 4, binaryFloat: 1 };

function gemmVariants(kind: keyof typeof TILE_K, threshold = false): Variant[] {
  // The threshold epilogue writes whole words per tile: 4*wgX must be a multiple of 32.
  const [x, y] = threshold ? [8, 2] : [4, 2];
  const out: Variant[] = [{ name: 'default tuning' }];
  for (const useWorkgroupTiles of [false, true]) {
    const how = useWorkgroupTiles ? 'workgroup tiles' : 'storage reads';
    out.push({ name: `8x8 ${how}`, tuning: { wgX: 8, wgY: 8, tileK: TILE_K[kind], useWorkgroupTiles } });
    out.push({ name: `${x}x${y} tileK 3 ${how}`, tuning: { wgX: x, wgY: y, tileK: 3, useWorkgroupTiles } });
  }
  return out;
}

const BITPACK_SHAPES = [[1], [31], [32], [33], [3, 4, 65], [257, 100], [1000, 37]];
const WORKGROUP_SIZES = [undefined, 1, 7, 256];

interface Case {
  op: OpName;
  dims: Dims;
  variant: Variant;
  label?: string;
  /** Workgroups the case must dispatch at least (the 2D fold past 65535). */
  minWorkgroups?: number;
}

const CASES: Case[] = [
  ...(['pack', 'unpack'] as const).flatMap((op) =>
    BITPACK_SHAPES.flatMap((shape) => WORKGROUP_SIZES.map((wg) => ({ op, dims: { shape }, variant: { name: `wg ${wg ?? 'default'}`, workgroupSize: wg } }))),
  ),
  // Past 65535 workgroups in x: the grid folds into 2D. Sized for ~1e9 simple ops/s (SwiftShader).
  { op: 'unpack', dims: { shape: [1250, 4000] }, variant: { name: 'wg 64', workgroupSize: 64 }, label: '5M values', minWorkgroups: 65536 },
  { op: 'pack', dims: { shape: [70000, 33] }, variant: { name: 'wg 1', workgroupSize: 1 }, label: '140k words', minWorkgroups: 65536 },
  ...(['binaryGemm.i32', 'binaryGemm.affine', 'binaryGemm.threshold', 'gemmF32', 'binaryFloatGemm'] as const).flatMap((op) => {
    const kind = op === 'gemmF32' ? 'f32' : op === 'binaryFloatGemm' ? 'binaryFloat' : 'binary';
    return GEMM_SHAPES.flatMap(([label, M, N, K]) =>
      gemmVariants(kind, op === 'binaryGemm.threshold').map((variant) => ({ op, dims: { M, N, K }, variant, label })),
    );
  }),
];

describe.each((Object.keys(OPS) as OpName[]).map((op) => [op, OPS[op].tolerance]))('%s: %s', (op) => {
  const cases = CASES.filter((c) => c.op === op);
  test.each(cases.map((c) => [caseName(c), c] as const))('%s', async (_name, c) => {
    await checkCase(gpu(), c);
  });
});

// ---------------------------------------------------------------------------------------------
// The one checker.
// ---------------------------------------------------------------------------------------------

async function checkCase(g: Gpu, c: Case): Promise<void> {
  const name = caseName(c);
  const what = `${name} [${seedNote()}]`;
  const row: OpRow = OPS[c.op];
  const p = row.prepare(g, rngFor(name), c.dims, c.variant);
  if (c.minWorkgroups) {
    const size = p.out.shape.reduce((x, y) => x * y, 1);
    const work = c.op === 'pack' ? storageCount(p.out.shape) : size;
    expect(Math.ceil(work / (c.variant.workgroupSize ?? 64)), `${what}: workgroups dispatched`).toBeGreaterThanOrEqual(c.minWorkgroups);
  }
  const out = poisoned(g, p.out.shape, p.out.dtype, 'out');
  try {
    const result = await p.launch(g, out);
    expect(result === out, `${what}: the op must write into the given 'out'`).toBe(true);
    const got = await out.read();
    const cols = p.out.shape[p.out.shape.length - 1];
    if (p.out.dtype === 'b1') {
      const rows = storageCount(p.out.shape) / wordsPerRow(cols);
      expectExact(got, p.want, what, { hex: true, cols: wordsPerRow(cols) });
      expect(padBitsAreZero(got as Uint32Array, rows, cols), `${what}: pad bits must be 0`).toBe(true);
    } else if (p.tol) {
      expectClose(got, p.want, p.tol, what, { cols });
    } else {
      expectExact(got, p.want, what, { cols });
    }
    p.extra?.(got, what);
  } finally {
    out.release();
    for (const t of p.inputs) t.release();
  }
}

function caseName(c: Case): string {
  const dims = 'shape' in c.dims ? `[${c.dims.shape.join('x')}]` : `M${c.dims.M} N${c.dims.N} K${c.dims.K}`;
  return `${c.op} ${dims}${c.label ? ` (${c.label})` : ''}, ${c.variant.name}`;
}

// ---------------------------------------------------------------------------------------------
// Inputs.
// ---------------------------------------------------------------------------------------------

/**
 * Values that test the sign convention, sprinkled over random data: +-0 and NaNs (with and
 * without the sign bit) are +1; infinities and subnormals keep their sign.
 */
const SPECIAL_BITS = [
  0x00000000, 0x80000000, // +0, -0.0
  0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, // NaNs, incl. sign bit set
  0x7f800000, 0xff800000, // +-inf
  0x00000001, 0x80000001, 0x807fffff, // subnormals
  0x00800000, 0x80800000, 0x7f7fffff, 0xff7fffff, // smallest normal, largest finite
];

function withSpecials(rng: Random, values: Float32Array): Float32Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) if (rng.next() < 0.1) bits[i] = SPECIAL_BITS[rng.int(SPECIAL_BITS.length)];
  // Each special at least once where there is room (a word of 32 values holds them all).
  SPECIAL_BITS.slice(0, values.length).forEach((x, i) => (bits[i] = x));
  return values;
}

/**
 * Per-channel scale and bias for the affine and threshold epilogues, mixing: constant channels
 * (scale 0, bias of either sign or 0), exact ties (a power-of-two scale whose zero falls on a
 * reachable dot: dot = K mod 2 + 2j), negative scales (flip), and thresholds spread over the dots'
 * range (about +-2 sqrt(K)).
 */
function channels(rng: Random, N: number, K: number): { scale: Float32Array; bias: Float32Array } {
  const scale = new Float32Array(N);
  const bias = new Float32Array(N);
  const spread = 2 * Math.sqrt(K) + 1;
  for (let n = 0; n < N; n++) {
    const sign = rng.next() < 0.4 ? -1 : 1;
    switch (rng.int(6)) {
      case 0:
        scale[n] = 0;
        bias[n] = [-1.5, 0, 0.25][rng.int(3)];
        break;
      case 1: {
        const tie = (K % 2) + 2 * Math.round(rng.uniform(-spread, spread) / 2);
        scale[n] = sign * 2 ** (rng.int(5) - 2);
        bias[n] = -scale[n] * tie;
        break;
      }
      default:
        scale[n] = sign * rng.uniform(0.01, 2);
        bias[n] = -scale[n] * rng.uniform(-spread, spread);
    }
  }
  return { scale, bias };
}

function shapeOf(dims: Dims): number[] {
  if (!('shape' in dims)) throw new Error('expected a shape');
  return dims.shape;
}

function gemmDims(dims: Dims): { M: number; N: number; K: number } {
  if ('shape' in dims) throw new Error('expected M, N, K');
  return dims;
}

function rowsCols(shape: number[]): { rows: number; cols: number } {
  const cols = shape[shape.length - 1];
  return { rows: shape.reduce((x, y) => x * y, 1) / cols, cols };
}

/** u32 words of a b1 tensor of this shape. */
function storageCount(shape: number[]): number {
  const { rows, cols } = rowsCols(shape);
  return rows * wordsPerRow(cols);
}
