// Pooling (src/ops/pool.ts): max-pool of b1 and f32 NHWC tensors and average-pool of f32, each
// against its CPU reference over one table of shapes and windows (inputs seeded, outputs poisoned);
// TF's geometry by hand; b1 max-pool as pack(max-pool(unpack(x))); and the ShapeErrors.
import { describe, expect, test } from 'vitest';
import { packRows, padBitsAreZero, popcount, unpackRows, wordsPerRow } from '../src/bitpack.js';
import type { Gpu } from '../src/gpu/context.js';
import { ShapeError } from '../src/gpu/errors.js';
import { pack, unpack } from '../src/ops/bitpack.js';
import {
  avgPool2d,
  avgPool2dReference,
  maxPool2d,
  maxPool2dBinaryReference,
  maxPool2dReference,
  pool2dGeometry,
  type Pool2dWindow,
} from '../src/ops/pool.js';
import type { DType, HostArray, Tensor } from '../src/tensor.js';
import { expectClose, expectExact } from './helpers/check.js';
import { poisoned, useGpu } from './helpers/gpu.js';
import { rngFor, seedNote, type Random } from './helpers/random.js';

const gpu = useGpu();

const U = 2 ** -24; // unit roundoff of f32

type NHWC = [number, number, number, number];

interface PoolCase {
  name: string;
  shape: NHWC;
  window: Pool2dWindow;
  workgroupSize?: number;
  /** Workgroups the case must dispatch at least (the 2D fold past 65535). */
  minWorkgroups?: number;
}

const CASES: PoolCase[] = [
  { name: '2x2/2, even H and W, C 33, batch 2', shape: [2, 8, 6, 33], window: {} },
  { name: '2x2/2 valid, odd H and W, C 70', shape: [1, 7, 9, 70], window: {} },
  { name: '2x2/2 same, odd H and W, C 1', shape: [1, 7, 9, 1], window: { padding: 'same' } },
  { name: '3x3/2 same, C 32, batch 2', shape: [2, 9, 10, 32], window: { poolSize: 3, strides: 2, padding: 'same' } },
  { name: '3x3/2 valid, C 40', shape: [1, 10, 9, 40], window: { poolSize: 3, strides: 2 } },
  { name: '3x3/1 same, C 33', shape: [1, 6, 7, 33], window: { poolSize: 3, strides: 1, padding: 'same' } },
  { name: '2x2/1 valid, C 64, batch 3', shape: [3, 5, 4, 64], window: { strides: 1 } },
  { name: '1x1 input, 2x2 same, C 70', shape: [3, 1, 1, 70], window: { padding: 'same' } },
  { name: '1x1 input, 1x1 window, C 5', shape: [2, 1, 1, 5], window: { poolSize: 1 } },
  { name: 'non-square 3x2/(2,1) same, C 33', shape: [2, 7, 6, 33], window: { poolSize: [3, 2], strides: [2, 1], padding: 'same' } },
  { name: 'non-square 1x3/(1,3) valid, C 100', shape: [1, 4, 10, 100], window: { poolSize: [1, 3], strides: [1, 3] } },
  { name: 'stride 3 > window 2, valid, C 31', shape: [1, 8, 8, 31], window: { strides: 3 } },
  { name: 'window = whole input (global), C 33', shape: [2, 5, 7, 33], window: { poolSize: [5, 7] } },
  { name: 'window 4x4 > input 2x3, same', shape: [1, 2, 3, 32], window: { poolSize: 4, strides: 1, padding: 'same' } },
  { name: '3x3/2 same, C 70, wg 7', shape: [2, 9, 10, 70], window: { poolSize: 3, strides: 2, padding: 'same' }, workgroupSize: 7 },
  // Past 65535 workgroups in x: the grid folds into 2D. 67,600 outputs, one per workgroup.
  { name: '520x520 C 1, wg 1', shape: [1, 520, 520, 1], window: {}, workgroupSize: 1, minWorkgroups: 65536 },
];

/** What one op's row hands the checker: a launch into `out` and what `out` must hold. */
interface Prepared {
  out: { shape: number[]; dtype: DType };
  launch(g: Gpu, out: Tensor): Promise<Tensor>;
  want: HostArray;
  /** Per-element absolute bound; absent: exact. */
  tol?: ArrayLike<number>;
  inputs: Tensor[];
}

interface OpRow {
  tolerance: string;
  prepare(g: Gpu, rng: Random, c: PoolCase): Prepared;
}

const OPS = {
  'maxPool2d b1': {
    tolerance: 'exact, pad bits 0',
    prepare(g, rng, c) {
      const [n, h, w, ch] = c.shape;
      const bits = windowBits(rng, n * h * w, ch, c.window);
      const x = g.upload(bits, c.shape, 'b1', 'x');
      return {
        out: { shape: outShape(c), dtype: 'b1' },
        launch: (gg, out) => maxPool2d(gg, x, { ...c.window, out, workgroupSize: c.workgroupSize }),
        want: maxPool2dBinaryReference(bits, c.shape, c.window),
        inputs: [x],
      };
    },
  },
  'maxPool2d f32': {
    tolerance: 'exact (a max rounds nothing)',
    prepare(g, rng, c) {
      const values = rng.floats(c.shape.reduce((a, b) => a * b, 1));
      const x = g.upload(values, c.shape, 'f32', 'x');
      return {
        out: { shape: outShape(c), dtype: 'f32' },
        launch: (gg, out) => maxPool2d(gg, x, { ...c.window, out, workgroupSize: c.workgroupSize }),
        want: maxPool2dReference(values, c.shape, c.window),
        inputs: [x],
      };
    },
  },
  'avgPool2d f32': {
    // n <= k = poolH*poolW valid terms: the f32 sum errs by at most (n-1) U sum|x|, so by
    // (k-1) U mean|x| after the division; WGSL's division by up to 2.5 ulp (<= 5 U |mean|), the
    // reference's one rounding U |mean|: (k + 5) U mean|x| in all, doubled for headroom.
    tolerance: '|err| <= 2 (k + 5) U mean|x| over the window, k = poolH * poolW, U = 2^-24',
    prepare(g, rng, c) {
      const values = rng.floats(c.shape.reduce((a, b) => a * b, 1));
      const x = g.upload(values, c.shape, 'f32', 'x');
      const geo = pool2dGeometry(c.shape, c.window);
      const k = geo.poolH * geo.poolW;
      const meanAbs = avgPool2dReference(values.map(Math.abs), c.shape, c.window);
      return {
        out: { shape: outShape(c), dtype: 'f32' },
        launch: (gg, out) => avgPool2d(gg, x, { ...c.window, out, workgroupSize: c.workgroupSize }),
        want: avgPool2dReference(values, c.shape, c.window),
        tol: Float64Array.from(meanAbs, (m) => 2 * (k + 5) * U * m),
        inputs: [x],
      };
    },
  },
} satisfies Record<string, OpRow>;

type OpName = keyof typeof OPS;

describe.each((Object.keys(OPS) as OpName[]).map((op) => [op, OPS[op].tolerance]))('%s: %s', (op) => {
  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await checkCase(gpu(), op, c);
  });
});

async function checkCase(g: Gpu, op: OpName, c: PoolCase): Promise<void> {
  const name = `${op} [${c.shape.join('x')}] ${c.name}`;
  const what = `${name} [${seedNote()}]`;
  const row: OpRow = OPS[op];
  const p = row.prepare(g, rngFor(name), c);
  const [, , , ch] = p.out.shape;
  const words = p.out.dtype === 'b1' ? (p.out.shape[0] * p.out.shape[1] * p.out.shape[2]) * wordsPerRow(ch) : p.out.shape.reduce((a, b) => a * b, 1);
  if (c.minWorkgroups) {
    expect(Math.ceil(words / (c.workgroupSize ?? 64)), `${what}: workgroups dispatched`).toBeGreaterThanOrEqual(c.minWorkgroups);
  }
  const out = poisoned(g, p.out.shape, p.out.dtype, 'out');
  try {
    const result = await p.launch(g, out);
    expect(result === out, `${what}: the op must write into the given 'out'`).toBe(true);
    const got = await out.read();
    if (p.out.dtype === 'b1') {
      const rows = words / wordsPerRow(ch);
      expectExact(got, p.want, what, { hex: true, cols: wordsPerRow(ch) });
      expect(padBitsAreZero(got as Uint32Array, rows, ch), `${what}: pad bits must be 0`).toBe(true);
      // Not vacuous: the inputs are biased so that a window's AND is about as often 1 as 0.
      const ones = Array.from(got as Uint32Array).reduce((s, x) => s + popcount(x), 0);
      if (rows * ch >= 256) expect(ones / (rows * ch), `${what}: fraction of -1 outputs`).toBeGreaterThan(0.1);
      if (rows * ch >= 256) expect(ones / (rows * ch), `${what}: fraction of -1 outputs`).toBeLessThan(0.9);
    } else if (p.tol) {
      expectClose(got, p.want, p.tol, what, { cols: ch });
    } else {
      expectExact(got, p.want, what, { cols: ch });
    }
  } finally {
    out.release();
    for (const t of p.inputs) t.release();
  }
}

function outShape(c: PoolCase): number[] {
  const geo = pool2dGeometry(c.shape, c.window);
  return [geo.batch, geo.outH, geo.outW, geo.channels];
}

/**
 * Packed +-1 values whose -1s are frequent enough that the AND over a full window is 1 about half
 * the time: P(-1) = 0.5^(1/k) for a k-element window. Uniform bits would AND to almost all 0.
 */
function windowBits(rng: Random, rows: number, cols: number, window: Pool2dWindow): Uint32Array {
  const geo = pool2dGeometry([1, 1000, 1000, 1], window); // only the window's size matters
  const p = 0.5 ** (1 / (geo.poolH * geo.poolW));
  return packRows(Float32Array.from({ length: rows * cols }, () => (rng.next() < p ? -1 : 1)), rows, cols);
}

describe('geometry (TensorFlow: valid = floor((in - k) / s) + 1; same = ceil(in / s), pad before = floor(total / 2))', () => {
  // [input H, W], window, [out H, W], [pad top, left]
  const cases: [string, [number, number], Pool2dWindow, [number, number], [number, number]][] = [
    ['2x2/2 valid, even', [4, 6], {}, [2, 3], [0, 0]],
    ['2x2/2 valid, odd: the last row and column are dropped', [5, 7], {}, [2, 3], [0, 0]],
    ['2x2/2 same, odd: total 1, padded after', [5, 7], { padding: 'same' }, [3, 4], [0, 0]],
    ['2x2/2 same, even: no padding', [4, 6], { padding: 'same' }, [2, 3], [0, 0]],
    ['3x3/2 same: total 2, one before', [5, 5], { poolSize: 3, strides: 2, padding: 'same' }, [3, 3], [1, 1]],
    ['3x3/2 valid', [7, 9], { poolSize: 3, strides: 2 }, [3, 4], [0, 0]],
    ['4x4/1 same: total 3, one before, two after', [6, 6], { poolSize: 4, strides: 1, padding: 'same' }, [6, 6], [1, 1]],
    ['stride 3 > window 2, valid', [8, 8], { strides: 3 }, [3, 3], [0, 0]],
    ['stride 3 > window 1, same: no padding', [5, 5], { poolSize: 1, strides: 3, padding: 'same' }, [2, 2], [0, 0]],
    ['1x1 input, 2x2 same', [1, 1], { padding: 'same' }, [1, 1], [0, 0]],
    ['non-square 3x2/(2,1) same', [7, 6], { poolSize: [3, 2], strides: [2, 1], padding: 'same' }, [4, 6], [1, 0]],
  ];
  test.each(cases)('%s', (_name, [h, w], window, [oh, ow], [pt, pl]) => {
    const g = pool2dGeometry([2, h, w, 3], window);
    expect([g.outH, g.outW, g.padTop, g.padLeft]).toEqual([oh, ow, pt, pl]);
  });

  test('same: averages over the valid elements only, max ignores the padding (by hand, on the GPU too)', async () => {
    // 3x3 input, 2x2/2 same: pad total 1, after. Windows: rows {0,1} | {2}, cols {0,1} | {2}.
    const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9].map((v) => -v));
    const window: Pool2dWindow = { padding: 'same' };
    const wantMax = [-1, -3, -7, -9]; // all negative: a padded 0 entering the max would show
    const wantAvg = [-3, -4.5, -7.5, -9]; // (1+2+4+5)/4, (3+6)/2, (7+8)/2, 9: divided by valid counts
    expectExact(maxPool2dReference(x, [1, 3, 3, 1], window), wantMax, 'maxPool2dReference');
    expectExact(avgPool2dReference(x, [1, 3, 3, 1], window), wantAvg, 'avgPool2dReference');
    const t = gpu().upload(x, [1, 3, 3, 1], 'f32', 'x');
    const [m, a] = [await maxPool2d(gpu(), t, window), await avgPool2d(gpu(), t, window)];
    expect(m.shape).toEqual([1, 2, 2, 1]);
    expectExact(await m.read(), wantMax, 'maxPool2d');
    expectExact(await a.read(), wantAvg, 'avgPool2d');
    for (const u of [t, m, a]) u.release();
  });
});

describe('b1 max-pool is pack(max-pool(unpack(x)))', () => {
  const picked = CASES.filter((c) => !c.minWorkgroups);
  test.each(picked.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const g = gpu();
    const what = `pack(maxPool2d(unpack)) ${c.name} [${seedNote()}]`;
    const [n, h, w, ch] = c.shape;
    const bits = windowBits(rngFor(what), n * h * w, ch, c.window);
    // On the CPU: the words-only reference agrees with the float reference through the convention.
    const rows = outShape(c).slice(0, 3).reduce((a, b) => a * b, 1);
    const viaFloat = packRows(maxPool2dReference(unpackRows(bits, n * h * w, ch), c.shape, c.window), rows, ch);
    expectExact(maxPool2dBinaryReference(bits, c.shape, c.window), viaFloat, `${what}: CPU`, { hex: true });
    // On the GPU: the packed kernel against the float kernel between GPU unpack and pack.
    const x = g.upload(bits, c.shape, 'b1', 'x');
    const direct = await maxPool2d(g, x, c.window);
    const xf = await unpack(g, x);
    const pooled = await maxPool2d(g, xf, c.window);
    const repacked = await pack(g, pooled);
    expect(direct.shape).toEqual(outShape(c));
    expect(direct.dtype).toBe('b1');
    expectExact(await direct.read(), await repacked.read(), `${what}: GPU`, { hex: true });
    expectExact(await direct.read(), viaFloat, `${what}: GPU vs CPU`, { hex: true });
    for (const t of [x, direct, xf, pooled, repacked]) t.release();
  });
});

describe('errors: ShapeError naming the op', () => {
  async function refused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err, `expected a ShapeError matching ${pattern}`).toBeInstanceOf(ShapeError);
    expect((err as Error).message).toMatch(pattern);
  }

  test('inputs: rank, dtype, not a tensor', async () => {
    const g = gpu();
    const rank3 = g.tensor([4, 4, 3], 'f32', 'rank3');
    const ints = g.tensor([1, 4, 4, 3], 'i32', 'ints');
    const bits = g.tensor([1, 4, 4, 3], 'b1', 'bits');
    await refused(maxPool2d(g, rank3), /^maxPool2d: 'x' must have rank 4/);
    await refused(avgPool2d(g, rank3), /^avgPool2d: 'x' must have rank 4/);
    await refused(maxPool2d(g, ints), /^maxPool2d: 'x' must be f32 or b1, got i32/);
    await refused(avgPool2d(g, ints), /^avgPool2d: 'x' must be f32/);
    await refused(avgPool2d(g, bits), /^avgPool2d: 'x' must be f32, got b1/);
    await refused(maxPool2d(g, {} as Tensor), /^maxPool2d: 'x' must be a Tensor/);
    for (const t of [rank3, ints, bits]) t.release();
  });

  test('window options: sizes, strides, padding, a window that does not fit with valid', async () => {
    const g = gpu();
    const x = g.tensor([1, 3, 5, 2], 'b1', 'x');
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ poolSize: 0 }, /^maxPool2d: 'poolSize' must be a positive integer/],
      [{ poolSize: -2 }, /'poolSize'/],
      [{ poolSize: 1.5 }, /'poolSize'/],
      [{ poolSize: [2] }, /'poolSize'/],
      [{ poolSize: [2, 2, 2] }, /'poolSize'/],
      [{ poolSize: '2' }, /'poolSize'/],
      [{ strides: 0 }, /^maxPool2d: 'strides' must be a positive integer/],
      [{ strides: [1, 0] }, /'strides'/],
      [{ padding: 'full' }, /^maxPool2d: padding must be 'valid' or 'same', got "full"/],
      [{ padding: 'SAME' }, /padding/],
      [{ poolSize: [4, 2] }, /^maxPool2d: a 4x2 window does not fit a 3x5 input with padding 'valid'/],
      [{ poolSize: [1, 6], padding: 'valid' }, /does not fit/],
      [{ workgroupSize: 0 }, /^maxPool2d: workgroupSize/],
      [{ workgroupSize: 100000 }, /workgroupSize/],
    ];
    for (const [options, pattern] of bad) await refused(maxPool2d(g, x, options as Pool2dWindow), pattern);
    // The same window with 'same' is fine: out = ceil(in / stride), strides defaulting to [4, 2].
    const y = await maxPool2d(g, x, { poolSize: [4, 2], padding: 'same' });
    expect(y.shape).toEqual([1, 1, 3, 2]);
    for (const t of [x, y]) t.release();
  });

  test("'out' of the wrong shape or dtype", async () => {
    const g = gpu();
    const x = g.tensor([2, 4, 4, 33], 'b1', 'x');
    const xf = g.tensor([2, 4, 4, 33], 'f32', 'xf');
    const wrongShape = g.tensor([2, 2, 2, 32], 'b1', 'wrongShape');
    const wrongDtype = g.tensor([2, 2, 2, 33], 'f32', 'wrongDtype');
    const wrongDtype2 = g.tensor([2, 2, 2, 33], 'b1', 'wrongDtype2');
    await refused(maxPool2d(g, x, { out: wrongShape }), /^maxPool2d: 'out' must be b1\[2, 2, 2, 33\]/);
    await refused(maxPool2d(g, x, { out: wrongDtype }), /^maxPool2d: 'out' must be b1/);
    await refused(avgPool2d(g, xf, { out: wrongDtype2 }), /^avgPool2d: 'out' must be f32/);
    for (const t of [x, xf, wrongShape, wrongDtype, wrongDtype2]) t.release();
  });

  test('the references refuse what the launchers refuse', () => {
    expect(() => maxPool2dReference(new Float32Array(4), [1, 2, 2], {})).toThrow(ShapeError);
    expect(() => avgPool2dReference(new Float32Array(4), [1, 2, 2, 1], { poolSize: 3 })).toThrow(/does not fit/);
    expect(() => maxPool2dBinaryReference(new Uint32Array(4), [1, 2, 2, 1], { strides: 0 })).toThrow(/'strides'/);
  });
});
