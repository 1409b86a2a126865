// The low-bit kernels against their CPU references, from one table: ternary weights x binary
// activations (ternaryGemm, ternaryConv2d) and DoReFa's k-bit bit-serial products (bitSerialGemm,
// bitSerialConv2d). Integer and b1 outputs exact; the affine epilogue within 4U (|dot * scale| +
// |bias|) (f32(dot) exact below 2^24, then a multiply and an add, each rounding once). Inputs
// fresh random (seeded: helpers/random.ts), outputs poisoned first, zero weights always present.
import { describe, expect, test } from 'vitest';
import { packBitPlanes, packRows, packTernaryRows, unpackBitPlanes, unpackRows, unpackTernaryRows, wordsPerRow } from '../src/bitpack.js';
import type { Gpu } from '../src/gpu/context.js';
import { ShapeError } from '../src/gpu/errors.js';
import { conv2dGeometry, type Conv2dWindow } from '../src/ops/bconv2d.js';
import type { BinaryGemmEpilogue, BinaryGemmReferenceEpilogue } from '../src/ops/gemm-binary.js';
import { bitSerialConv2d, bitSerialConv2dReference, bitSerialGemm, bitSerialGemmReference, dorefaScale } from '../src/ops/gemm-bit-serial.js';
import type { GemmTuning } from '../src/ops/gemm-tiling.js';
import { ternaryConv2d, ternaryConv2dReference, ternaryGemm, ternaryGemmReference } from '../src/ops/gemm-ternary.js';
import type { HostArray, Tensor } from '../src/tensor.js';
import { expectClose, expectExact } from './helpers/check.js';
import { poisoned, useGpu } from './helpers/gpu.js';
import { rngFor, seedNote, type Random } from './helpers/random.js';

const gpu = useGpu();
const U = 2 ** -24;

type EpilogueKind = 'i32' | 'affine' | 'threshold';

/** Tunings: the adapter's default, direct reads of another block shape, workgroup tiles. */
const TUNINGS: Record<string, GemmTuning | undefined> = {
  default: undefined,
  'direct 8x2 k1': { wgX: 8, wgY: 2, tileK: 1, useWorkgroupTiles: false },
  'tiles 8x8 k2': { wgX: 8, wgY: 8, tileK: 2, useWorkgroupTiles: true },
};

/** Random ternary values with about a third zeros; row 0 all zero when there are several rows. */
function ternaryValues(rng: Random, rows: number, cols: number): Float32Array {
  const v = rng.floats(rows * cols);
  if (rows > 1) v.fill(0, 0, cols);
  return v; // packed with delta 1/3: |x| < 1/3 -> 0
}

function randomInts(rng: Random, count: number, bits: number): Int32Array {
  const v = Int32Array.from({ length: count }, () => rng.int(2 ** bits));
  if (count > 3) v[1] = 0; // zero weights and zero activations present
  return v;
}

/** The epilogue on the GPU and its host twin, for N columns whose dots lie in [-range, range]. */
function makeEpilogue(g: Gpu, rng: Random, kind: EpilogueKind, N: number, range: number, tensors: Tensor[]) {
  if (kind === 'i32') return { gpu: { kind } as BinaryGemmEpilogue, host: { kind } as BinaryGemmReferenceEpilogue };
  if (kind === 'affine') {
    const scale = rng.floats(N, -2, 2);
    const bias = rng.floats(N, -range, range);
    const s = g.upload(scale, [N], 'f32', 'scale');
    const b = g.upload(bias, [N], 'f32', 'bias');
    tensors.push(s, b);
    return { gpu: { kind, scale: s, bias: b } as BinaryGemmEpilogue, host: { kind, scale, bias } as BinaryGemmReferenceEpilogue };
  }
  const threshold = Int32Array.from({ length: N }, () => Math.round(rng.uniform(-range, range)));
  const flip = Uint32Array.from({ length: N }, () => rng.int(2));
  const t = g.upload(threshold, [N], 'i32', 'threshold');
  const f = g.upload(flip, [N], 'u32', 'flip');
  tensors.push(t, f);
  return { gpu: { kind, threshold: t, flip: f } as BinaryGemmEpilogue, host: { kind, threshold, flip } as BinaryGemmReferenceEpilogue };
}

/** Runs `launch` into a poisoned output and compares with `want` (exact, or the affine bound). */
async function check(
  g: Gpu,
  what: string,
  rows: number,
  cols: number,
  outShape: number[],
  kind: EpilogueKind,
  host: BinaryGemmReferenceEpilogue,
  launch: (out: Tensor) => Promise<Tensor>,
  want: HostArray,
): Promise<void> {
  const out = poisoned(g, outShape, kind === 'i32' ? 'i32' : kind === 'affine' ? 'f32' : 'b1', 'out');
  try {
    const got = await (await launch(out)).read();
    const label = `${what} (${seedNote()})`;
    if (kind === 'affine') {
      const { scale, bias } = host as { scale: Float32Array; bias: Float32Array };
      const tol = Float64Array.from(want, (w, i) => 4 * U * (Math.abs(w - bias[i % cols]) + Math.abs(bias[i % cols])) + 1e-30);
      expectClose(got, want, tol, label, { cols });
      expect(scale.length).toBe(cols);
    } else {
      expectExact(got, want, label, { cols: kind === 'threshold' ? wordsPerRow(cols) : cols, hex: kind === 'threshold' });
    }
    expect(got.length).toBe(kind === 'threshold' ? rows * wordsPerRow(cols) : rows * cols);
  } finally {
    out.release();
  }
}

// Pipelines compile slowly on SwiftShader (seconds each; the threshold epilogue's tens): a case
// list, not a cross product. Every scheme runs every shape with the i32 epilogue and the default
// tuning; the other epilogues and tunings run on one or two shapes each.
type Dims = [M: number, N: number, K: number];
interface GemmCase {
  dims: Dims;
  kind: EpilogueKind;
  tuning: string; // a key of TUNINGS
}
const GEMM_SHAPES: Dims[] = [
  [1, 1, 1],
  [3, 5, 33],
  [17, 130, 70],
  [64, 64, 128],
  [1, 300, 1000], // wide, and K steps of 8 x 128 bits
  [300, 1, 97], // tall
  [40, 33, 256],
];
const GEMM_CASES: GemmCase[] = [
  ...GEMM_SHAPES.map((dims) => ({ dims, kind: 'i32' as const, tuning: 'default' })),
  { dims: [17, 130, 70], kind: 'affine', tuning: 'default' },
  { dims: [1, 300, 1000], kind: 'affine', tuning: 'default' },
  { dims: [17, 130, 70], kind: 'threshold', tuning: 'default' },
  { dims: [17, 130, 70], kind: 'i32', tuning: 'tiles 8x8 k2' },
  { dims: [40, 33, 256], kind: 'threshold', tuning: 'tiles 8x8 k2' },
  { dims: [40, 33, 256], kind: 'i32', tuning: 'direct 8x2 k1' },
];
/** Bit widths beyond the two (3/1, 2/2): one shape each. */
const OTHER_CASES: GemmCase[] = [{ dims: [17, 130, 70], kind: 'i32', tuning: 'default' }];

function caseName(c: GemmCase): string {
  return `${c.dims.join('x')} ${c.kind} ${c.tuning}`;
}

describe('ternaryGemm = ternaryGemmReference', () => {
  for (const c of GEMM_CASES) {
    const name = `ternary ${caseName(c)}`;
    test(name, async () => {
      const g = gpu();
      const rng = rngFor(name);
      const [M, N, K] = c.dims;
      const aPacked = packRows(rng.floats(M * K), M, K);
      const { mask, sign } = packTernaryRows(ternaryValues(rng, N, K), N, K, 1 / 3);
      const tensors = [g.upload(aPacked, [M, K], 'b1', 'a'), g.upload(Uint32Array.from([...mask, ...sign]), [2, N, K], 'b1', 'w')];
      try {
        const e = makeEpilogue(g, rng, c.kind, N, K, tensors);
        const want = ternaryGemmReference(aPacked, mask, sign, M, N, K, e.host);
        await check(g, name, M, N, [M, N], c.kind, e.host, (out) => ternaryGemm(g, tensors[0], tensors[1], { epilogue: e.gpu, tuning: TUNINGS[c.tuning], out }), want);
      } finally {
        for (const t of tensors) t.release();
      }
    });
  }
});

/** [ka, kw, cases]: the seeds' MNIST CNN (1-bit weights, 3-bit activations), 2/2, the extremes. */
const BIT_PAIRS: [number, number, GemmCase[]][] = [
  [3, 1, GEMM_CASES],
  [2, 2, GEMM_CASES],
  [1, 1, OTHER_CASES],
  [4, 3, OTHER_CASES],
  [1, 8, OTHER_CASES],
  [8, 8, OTHER_CASES],
];

describe('bitSerialGemm = bitSerialGemmReference', () => {
  for (const [ka, kw, cases] of BIT_PAIRS) {
    for (const c of cases) {
      const name = `bit-serial a${ka} w${kw} ${caseName(c)}`;
      test(name, async () => {
        const g = gpu();
        const rng = rngFor(name);
        const [M, N, K] = c.dims;
        const aPlanes = packBitPlanes(randomInts(rng, M * K, ka), M, K, ka);
        const wPlanes = packBitPlanes(randomInts(rng, N * K, kw), N, K, kw);
        const tensors = [g.upload(aPlanes, [ka, M, K], 'b1', 'a'), g.upload(wPlanes, [kw, N, K], 'b1', 'w')];
        try {
          const range = K * (2 ** ka - 1) * (2 ** kw - 1);
          const e = makeEpilogue(g, rng, c.kind, N, range / 4, tensors);
          const want = bitSerialGemmReference(aPlanes, wPlanes, M, N, K, ka, kw, e.host);
          await check(g, name, M, N, [M, N], c.kind, e.host, (out) => bitSerialGemm(g, tensors[0], tensors[1], { epilogue: e.gpu, tuning: TUNINGS[c.tuning], out }), want);
        } finally {
          for (const t of tensors) t.release();
        }
      });
    }
  }

  // The float meaning: with scale dorefaScale(ka, kw) the affine output is sum_k a_k w_k of the
  // DoReFa values a = n / (2^ka - 1), w = 2m / (2^kw - 1) - 1 (f64 sum; f32 rounding bound).
  for (const [ka, kw] of [[3, 1], [2, 2]] as const) {
    const name = `bit-serial a${ka} w${kw} as DoReFa floats`;
    test(name, async () => {
      const g = gpu();
      const rng = rngFor(name);
      const [M, N, K] = [17, 130, 70]; // the affine case's pipeline
      const n = randomInts(rng, M * K, ka);
      const m = randomInts(rng, N * K, kw);
      const scale = new Float32Array(N).fill(dorefaScale(ka, kw));
      const tensors = [
        g.upload(packBitPlanes(n, M, K, ka), [ka, M, K], 'b1', 'a'),
        g.upload(packBitPlanes(m, N, K, kw), [kw, N, K], 'b1', 'w'),
        g.upload(scale, [N], 'f32', 'scale'),
        g.upload(new Float32Array(N), [N], 'f32', 'bias'),
      ];
      try {
        const out = await bitSerialGemm(g, tensors[0], tensors[1], { epilogue: { kind: 'affine', scale: tensors[2], bias: tensors[3] } });
        const got = await out.read();
        out.release();
        const want = new Float64Array(M * N);
        for (let r = 0; r < M; r++) {
          for (let c = 0; c < N; c++) {
            for (let k = 0; k < K; k++) want[r * N + c] += (n[r * K + k] / (2 ** ka - 1)) * ((2 * m[c * K + k]) / (2 ** kw - 1) - 1);
          }
        }
        expectClose(got, want, 1e-5 * K, `${name} (${seedNote()})`, { cols: N });
      } finally {
        for (const t of tensors) t.release();
      }
    });
  }
});

interface ConvCase {
  name: string;
  x: [number, number, number, number]; // N, H, W, C
  kernel: [number, number, number]; // O, KH, KW
  window: Conv2dWindow;
  /** Epilogue and tuning pairs run on this layer (each a pipeline). */
  runs: [EpilogueKind, string][];
}

const CONV_CASES: ConvCase[] = [
  { name: '3x3 same C=70', x: [2, 7, 6, 70], kernel: [33, 3, 3], window: { padding: 'same' }, runs: [['i32', 'default'], ['affine', 'default'], ['threshold', 'default']] },
  { name: '5x5 same C=1 (taps per step)', x: [2, 9, 8, 1], kernel: [32, 5, 5], window: { padding: 'same' }, runs: [['i32', 'default']] },
  { name: '3x3 stride 2 dilation 2 C=40', x: [1, 11, 10, 40], kernel: [9, 3, 3], window: { padding: 'same', strides: 2, dilation: 2 }, runs: [['i32', 'default']] },
  { name: '3x3 same C=128', x: [1, 5, 5, 128], kernel: [16, 3, 3], window: { padding: 'same' }, runs: [['i32', 'default']] },
  { name: '1x1 valid C=33', x: [3, 4, 3, 33], kernel: [5, 1, 1], window: {}, runs: [['i32', 'default']] },
  { name: '2x3 same C=200', x: [1, 4, 6, 200], kernel: [7, 2, 3], window: { padding: 'same', strides: [1, 2] }, runs: [['i32', 'tiles 8x8 k2'], ['threshold', 'tiles 8x8 k2']] },
];

/** A layer's sizes: kernel, pixels in, output shape and rows (output pixels). */
function convDims(c: ConvCase) {
  const [O, KH, KW] = c.kernel;
  const C = c.x[3];
  const kShape = [O, KH, KW, C];
  const g = conv2dGeometry(c.x, kShape, c.window);
  const outShape = [g.batch, g.outH, g.outW, g.outChannels];
  return { O, KH, KW, C, kShape, pixels: c.x[0] * c.x[1] * c.x[2], outShape, rows: g.batch * g.outH * g.outW };
}

describe('ternaryConv2d = ternaryConv2dReference', () => {
  for (const c of CONV_CASES) {
    for (const [kind, tname] of c.runs) {
      for (const padValues of [0, 1] as const) {
        const name = `ternary conv ${c.name} pad_values ${padValues} ${kind} ${tname}`;
        test(name, async () => {
          const g = gpu();
          const rng = rngFor(name);
          const { O, KH, KW, C, kShape, pixels, outShape, rows } = convDims(c);
          const xPacked = packRows(rng.floats(pixels * C), pixels, C);
          const { mask, sign } = packTernaryRows(ternaryValues(rng, O * KH * KW, C), O * KH * KW, C, 1 / 3);
          const tensors = [g.upload(xPacked, c.x, 'b1', 'x'), g.upload(Uint32Array.from([...mask, ...sign]), [2, ...kShape], 'b1', 'w')];
          try {
            const window = { ...c.window, padValues };
            const e = makeEpilogue(g, rng, kind, O, KH * KW * C, tensors);
            const want = ternaryConv2dReference(unpackRows(xPacked, pixels, C), c.x, unpackTernaryRows(mask, sign, O * KH * KW, C), kShape, window, e.host);
            await check(g, name, rows, O, outShape, kind, e.host, (out) => ternaryConv2d(g, tensors[0], tensors[1], { ...window, epilogue: e.gpu, tuning: TUNINGS[tname], out }), want);
          } finally {
            for (const t of tensors) t.release();
          }
        });
      }
    }
  }
});

describe('bitSerialConv2d = bitSerialConv2dReference', () => {
  // 3/1 on every layer and run; 2/2 and 1/4 on the i32 runs of the first two.
  const pairs: [number, number, ConvCase[]][] = [
    [3, 1, CONV_CASES],
    [2, 2, CONV_CASES.slice(0, 2).map((c) => ({ ...c, runs: [['i32', 'default']] }))],
    [1, 4, CONV_CASES.slice(4, 5)],
  ];
  for (const [ka, kw, cases] of pairs) {
    for (const c of cases) {
      for (const [kind, tname] of c.runs) {
        const name = `bit-serial conv a${ka} w${kw} ${c.name} ${kind} ${tname}`;
        test(name, async () => {
          const g = gpu();
          const rng = rngFor(name);
          const { O, KH, KW, C, kShape, pixels, outShape, rows } = convDims(c);
          const n = randomInts(rng, pixels * C, ka);
          const m = randomInts(rng, O * KH * KW * C, kw);
          const tensors = [g.upload(packBitPlanes(n, pixels, C, ka), [ka, ...c.x], 'b1', 'x'), g.upload(packBitPlanes(m, O * KH * KW, C, kw), [kw, ...kShape], 'b1', 'w')];
          try {
            const e = makeEpilogue(g, rng, kind, O, (KH * KW * C * (2 ** ka - 1) * (2 ** kw - 1)) / 4, tensors);
            const want = bitSerialConv2dReference(n, c.x, m, kShape, kw, c.window, e.host);
            await check(g, name, rows, O, outShape, kind, e.host, (out) => bitSerialConv2d(g, tensors[0], tensors[1], { ...c.window, epilogue: e.gpu, tuning: TUNINGS[tname], out }), want);
          } finally {
            for (const t of tensors) t.release();
          }
        });
      }
    }
  }
});

describe('low-bit packing (src/bitpack.ts)', () => {
  test('packTernaryRows: Larq ste_tern boundaries, pad bits 0, round trip', () => {
    const { mask, sign } = packTernaryRows([0.5, -0.5, 0.2, -0.2, 0, -0, 0.3, -0.3, 1], 1, 9, 0.3);
    expect(Array.from(unpackTernaryRows(mask, sign, 1, 9))).toEqual([1, -1, 0, 0, 0, 0, 1, -1, 1]);
    expect(mask[0] >>> 9).toBe(0);
    const zeroDelta = packTernaryRows([0, 1e-30, -1e-30], 1, 3);
    expect(Array.from(unpackTernaryRows(zeroDelta.mask, zeroDelta.sign, 1, 3))).toEqual([0, 1, -1]);
  });

  test('packBitPlanes: plane i = bit i, planes one after another; refuses non-integers and overflow', () => {
    const rng = rngFor('packBitPlanes');
    const v = randomInts(rng, 5 * 40, 3);
    const planes = packBitPlanes(v, 5, 40, 3);
    expect(planes.length).toBe(3 * 5 * 2);
    expect(Array.from(unpackBitPlanes(planes, 5, 40, 3))).toEqual(Array.from(v));
    expect(planes[2 * 10 + 1] & 1).toBe((v[32] >>> 2) & 1); // plane 2, row 0, word 1, value 32
    expect(() => packBitPlanes([8], 1, 1, 3)).toThrow(/0\.\.7/);
    expect(() => packBitPlanes([0.5], 1, 1, 3)).toThrow(/integer/);
    expect(() => packBitPlanes([0], 1, 1, 9)).toThrow(/1\.\.8/);
  });
});

describe('low-bit launchers refuse bad arguments early', () => {
  test('shapes, planes, bit widths, range, padding', async () => {
    const g = gpu();
    const t = (shape: number[]) => g.tensor(shape, 'b1', 'arg');
    const a = t([4, 64]);
    const w3 = t([3, 8, 64]);
    const w2 = t([2, 8, 64]);
    const w2k = t([2, 8, 65]);
    const a9 = t([9, 4, 64]);
    const aBig = t([8, 2, 40000]);
    const wBig = t([8, 2, 40000]);
    const x5 = t([2, 1, 5, 5, 32]);
    const k5 = t([1, 4, 3, 3, 32]);
    try {
      await expect(ternaryGemm(g, a, w3)).rejects.toThrow(ShapeError);
      await expect(ternaryGemm(g, a, w3)).rejects.toThrow(/\[2, N, K\]: the mask plane then the sign plane/);
      await expect(ternaryGemm(g, a, w2k)).rejects.toThrow(/same K/);
      await expect(ternaryGemm(g, a, a)).rejects.toThrow(/rank 3/);
      await expect(bitSerialGemm(g, a9, w3)).rejects.toThrow(/bits 1\.\.8/);
      await expect(bitSerialGemm(g, aBig, wBig)).rejects.toThrow(/past i32/);
      await expect(bitSerialGemm(g, w2, w2k)).rejects.toThrow(/same K/);
      await expect(bitSerialConv2d(g, x5, k5, { padValues: 1 })).rejects.toThrow(/padValues must be 0/);
      await expect(bitSerialConv2d(g, x5, w3)).rejects.toThrow(/rank 5/);
      await expect(ternaryConv2d(g, t([1, 5, 5, 16]), t([2, 4, 3, 3, 32]))).rejects.toThrow(/16 channels/);
    } finally {
      for (const x of [a, w3, w2, w2k, a9, aBig, wBig, x5, k5]) x.release();
    }
  });
});
