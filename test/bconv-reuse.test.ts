// The kernel-reuse path (src/ops/bconv-reuse.ts) against bconv2d, bit for bit, and against
// bconv2dReference (exact; the affine epilogue within f32 rounding of the f64 reference): weights
// with 100%, 42% and 10% distinct patterns per input channel, odd channel counts, batches, both
// pad values, 'same'/'valid', strides, dilation, workgroup sizes, several rounds of tiles, each
// epilogue. Outputs are poisoned first. Also the tables, the refusals, chooseConvPath's cache.
import { describe, expect, test, vi } from 'vitest';
import { packRows, padBitsAreZero, unpackRows, wordsPerRow } from '../src/bitpack.js';
import { kernelPatterns, redundantWeights, uniquePerChannel, type KernelShape } from '../src/analysis/kernel-reuse.js';
import type { Gpu } from '../src/gpu/context.js';
import { ShapeError } from '../src/gpu/errors.js';
import { bconv2d, bconv2dReference, type Conv2dWindow } from '../src/ops/bconv2d.js';
import { bconv2dReuse, prepareBConvReuse, reuseTables } from '../src/ops/bconv-reuse.js';
import { chooseConvPath, clearConvPathChoices, convPathChoices } from '../src/ops/conv-path.js';
import { thresholdsFromAffine, type BinaryGemmEpilogue, type BinaryGemmReferenceEpilogue } from '../src/ops/gemm-binary.js';
import type { Tensor } from '../src/tensor.js';
import { expectClose, expectExact } from './helpers/check.js';
import { poisoned, useGpu } from './helpers/gpu.js';
import { rngFor, seedNote, type Random } from './helpers/random.js';

const gpu = useGpu();

interface Case {
  name: string;
  x: [number, number, number, number]; // N, H, W, C
  O: number;
  ratio: number;
  window: Conv2dWindow;
  epilogue?: 'i32' | 'affine' | 'threshold';
  workgroupSize?: number;
  scratchBytes?: number;
}

const CASES: Case[] = [
  { name: 'C33 O40 100% same pad0', x: [1, 7, 6, 33], O: 40, ratio: 1, window: { padding: 'same', padValues: 0 } },
  { name: 'C33 O40 42% same pad1', x: [1, 7, 6, 33], O: 40, ratio: 0.42, window: { padding: 'same', padValues: 1 } },
  { name: 'C33 O40 10% valid, batch 2', x: [2, 6, 5, 33], O: 40, ratio: 0.1, window: { padding: 'valid' } },
  { name: 'C33 O40 42% same pad0 stride 2, batch 2', x: [2, 9, 8, 33], O: 40, ratio: 0.42, window: { padding: 'same', padValues: 0, strides: 2 } },
  { name: 'C33 O40 10% same pad1 stride 2', x: [1, 8, 9, 33], O: 40, ratio: 0.1, window: { padding: 'same', padValues: 1, strides: 2 } },
  { name: 'C33 O40 42% valid stride [2,1]', x: [1, 9, 7, 33], O: 40, ratio: 0.42, window: { strides: [2, 1] } },
  { name: 'C33 O40 42% same pad0, workgroups of 7', x: [1, 5, 6, 33], O: 40, ratio: 0.42, window: { padding: 'same' }, workgroupSize: 7 },
  { name: 'C5 O1 100% same pad0', x: [1, 4, 4, 5], O: 1, ratio: 1, window: { padding: 'same' } },
  { name: 'C64 O64 42% same pad0, dilation 2', x: [1, 8, 8, 64], O: 64, ratio: 0.42, window: { padding: 'same', dilation: 2 } },
  { name: 'C300 O8 100%, a tile per round', x: [1, 8, 9, 300], O: 8, ratio: 1, window: { padding: 'same', padValues: 1 }, scratchBytes: 60_000 },
  { name: 'C45 O70 100% batch 2, 3 tiles per round', x: [2, 7, 7, 45], O: 70, ratio: 1, window: { padding: 'same' }, scratchBytes: 170_000 },
  { name: 'C33 O40 42% same pad0, affine', x: [2, 5, 5, 33], O: 40, ratio: 0.42, window: { padding: 'same' }, epilogue: 'affine' },
  { name: 'C33 O40 42% same pad1, threshold', x: [2, 5, 5, 33], O: 40, ratio: 0.42, window: { padding: 'same', padValues: 1 }, epilogue: 'threshold' },
  { name: 'C33 O70 10% valid, threshold, workgroups of 32', x: [1, 6, 6, 33], O: 70, ratio: 0.1, window: {}, epilogue: 'threshold', workgroupSize: 32 },
];

/** Host epilogue data and its GPU tensors, for both paths and the reference. */
function epilogueOf(g: Gpu, rng: Random, kind: Case['epilogue'], O: number, K: number): { gpu: BinaryGemmEpilogue; host: BinaryGemmReferenceEpilogue; tensors: Tensor[] } {
  if (!kind || kind === 'i32') return { gpu: { kind: 'i32' }, host: { kind: 'i32' }, tensors: [] };
  const scale = Float32Array.from({ length: O }, (_, o) => (o % 5 === 0 ? 0 : rng.uniform(-2, 2)));
  const bias = Float32Array.from({ length: O }, () => rng.uniform(-Math.sqrt(K), Math.sqrt(K)));
  if (kind === 'affine') {
    const tensors = [g.upload(scale, [O], 'f32', 'scale'), g.upload(bias, [O], 'f32', 'bias')];
    return { gpu: { kind, scale: tensors[0], bias: tensors[1] }, host: { kind, scale, bias }, tensors };
  }
  const { threshold, flip } = thresholdsFromAffine(scale, bias);
  const tensors = [g.upload(threshold, [O], 'i32', 'threshold'), g.upload(flip, [O], 'u32', 'flip')];
  return { gpu: { kind, threshold: tensors[0], flip: tensors[1] }, host: { kind, threshold, flip }, tensors };
}

describe('bconv2dReuse equals bconv2d and the reference, bit for bit', () => {
  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const g = gpu();
    const what = `${c.name} [${seedNote()}]`;
    const rng = rngFor(c.name);
    const [N, H, W, C] = c.x;
    const kShape: KernelShape = [c.O, 3, 3, C];
    const xs = rng.floats(N * H * W * C);
    const ws = redundantWeights(rng, kShape, c.ratio);
    const xPacked = packRows(xs, N * H * W, C);
    const wPacked = packRows(ws, c.O * 9, C);
    const x = g.upload(xPacked, c.x, 'b1', 'x');
    const w = g.upload(wPacked, kShape, 'b1', 'w');
    const ep = epilogueOf(g, rng, c.epilogue, c.O, 9 * C);
    const prepared = await prepareBConvReuse(g, w, { packed: wPacked });
    const want = bconv2dReference(unpackRows(xPacked, N * H * W, C), c.x, unpackRows(wPacked, c.O * 9, C), kShape, c.window, ep.host);
    const dtype = ep.gpu.kind === 'i32' ? 'i32' : ep.gpu.kind === 'affine' ? 'f32' : 'b1';
    const packedOut = await bconv2d(g, x, w, { ...c.window, epilogue: ep.gpu });
    const outShape = packedOut.shape;
    const out = poisoned(g, outShape, dtype, 'out');
    try {
      expect(prepared.tables.uniqueRatio, `${what}: unique ratio`).toBeCloseTo(Math.max(1, Math.round(c.ratio * c.O)) / c.O, 6);
      const result = await bconv2dReuse(g, x, prepared, { ...c.window, epilogue: ep.gpu, out, workgroupSize: c.workgroupSize, scratchBytes: c.scratchBytes });
      expect(result === out, `${what}: writes into 'out'`).toBe(true);
      const got = await out.read();
      const cols = dtype === 'b1' ? wordsPerRow(c.O) : c.O;
      expectExact(got, await packedOut.read(), `${what}: reuse vs bconv2d`, { cols, hex: dtype === 'b1' });
      if (ep.host.kind === 'affine') {
        // The reference rounds dot*scale + bias once, in f64; f32 rounds up to twice (as in kernels.test.ts).
        const { scale, bias } = ep.host;
        const dots = bconv2dReference(unpackRows(xPacked, N * H * W, C), c.x, unpackRows(wPacked, c.O * 9, C), kShape, c.window);
        const tol = Float64Array.from(dots, (d, i) => 4 * 2 ** -24 * (Math.abs(d * scale[i % c.O]) + Math.abs(bias[i % c.O])));
        expectClose(got, want, tol, `${what}: reuse vs bconv2dReference`, { cols });
      } else {
        expectExact(got, want, `${what}: reuse vs bconv2dReference`, { cols, hex: dtype === 'b1' });
      }
      if (dtype === 'b1') expect(padBitsAreZero(got as Uint32Array, got.length / cols, c.O), `${what}: pad bits 0`).toBe(true);
    } finally {
      for (const t of [x, w, out, packedOut, ...ep.tensors]) t.release();
      prepared.release();
    }
  });
});

describe('reuse tables', () => {
  test('each (o, i) points at an entry of channel i holding its pattern; entries per channel = distinct patterns', () => {
    const rng = rngFor('tables');
    const shape: KernelShape = [50, 3, 3, 37];
    const wPacked = packRows(redundantWeights(rng, shape, 0.3), 50 * 9, 37);
    const t = reuseTables(wPacked, shape);
    const patterns = kernelPatterns({ packed: wPacked }, shape);
    const unique = uniquePerChannel(patterns, 50, 37);
    for (let i = 0; i < 37; i++) {
      expect(t.offsets[i + 1] - t.offsets[i]).toBe(unique[i]);
      for (let o = 0; o < 50; o++) {
        const e = t.entryIndex[o * 37 + i];
        expect(e >= t.offsets[i] && e < t.offsets[i + 1]).toBe(true);
        expect(t.entries[e]).toBe(patterns[i * 50 + o] | (i << 16));
      }
    }
    expect(t.uniqueRatio).toBeCloseTo(15 / 50, 9);
  });

});

describe('refusals', () => {
  test('kernels other than 3x3, mismatched channels, bad workgroup sizes, unprepared weights', async () => {
    const g = gpu();
    for (const [kh, kw] of [[5, 5], [1, 1], [3, 1]]) {
      const w = g.tensor([4, kh, kw, 8], 'b1', 'w');
      await expect(prepareBConvReuse(g, w)).rejects.toThrow(/3x3 kernels/);
      expect(() => reuseTables(new Uint32Array(4 * kh * kw), [4, kh, kw, 8])).toThrow(ShapeError);
      w.release();
    }
    const wPacked = new Uint32Array(4 * 9);
    const w = g.upload(wPacked, [4, 3, 3, 8], 'b1', 'w');
    const prepared = await prepareBConvReuse(g, w, { packed: wPacked });
    const x = g.tensor([1, 5, 5, 9], 'b1', 'x');
    const x8 = g.tensor([1, 5, 5, 8], 'b1', 'x8');
    try {
      await expect(bconv2dReuse(g, x, prepared)).rejects.toThrow(/9 channels but the kernel/);
      await expect(bconv2dReuse(g, x8, prepared, { workgroupSize: 0 })).rejects.toThrow(/workgroupSize/);
      await expect(bconv2dReuse(g, x8, prepared, { scratchBytes: 100 })).rejects.toThrow(/scratch/);
      await expect(bconv2dReuse(g, x8, w as never)).rejects.toThrow(/prepareBConvReuse/);
      await expect(bconv2dReuse(g, x8, prepared, { padValues: 2 as never })).rejects.toThrow(ShapeError);
      await expect(bconv2dReuse(g, x8, prepared, { out: g.tensor([1, 3, 3, 4], 'f32', 'o') })).rejects.toThrow(/'out' must be i32/);
    } finally {
      for (const t of [x, x8, w]) t.release();
      prepared.release();
    }
  });
});

describe('chooseConvPath', () => {
  test('times both paths once per device, shape and weights, then answers from its cache', async () => {
    const g = gpu();
    clearConvPathChoices();
    const rng = rngFor('choose');
    const shape: KernelShape = [8, 3, 3, 16];
    const wPacked = packRows(redundantWeights(rng, shape, 0.5), 8 * 9, 16);
    const w = g.upload(wPacked, shape, 'b1', 'w');
    const prepared = await prepareBConvReuse(g, w, { packed: wPacked });
    const run = vi.spyOn(g, 'run');
    try {
      const first = await chooseConvPath(g, [1, 6, 6, 16], prepared, { padding: 'same' });
      expect(['packed', 'reuse']).toContain(first);
      const runs = run.mock.calls.length;
      expect(runs).toBeGreaterThanOrEqual(8); // 2 checks + 3 timed runs of each path
      const [[key, choice]] = [...convPathChoices()];
      expect(key).toContain(g.describe());
      expect(key).toContain('x 1x6x6x16');
      expect(choice.path).toBe(first);
      expect(choice.packedMs).toBeGreaterThan(0);
      expect(choice.reuseMs).toBeGreaterThan(0);

      expect(await chooseConvPath(g, [1, 6, 6, 16], prepared, { padding: 'same' })).toBe(first);
      expect(run.mock.calls.length, 'a cached choice runs nothing').toBe(runs);
      expect(convPathChoices().size).toBe(1);

      await chooseConvPath(g, [1, 5, 6, 16], prepared, { padding: 'same' }); // another shape: measured
      expect(run.mock.calls.length).toBeGreaterThan(runs);
      expect(convPathChoices().size).toBe(2);

      const w5 = g.tensor([8, 5, 5, 16], 'b1', 'w5');
      expect(await chooseConvPath(g, [1, 6, 6, 16], w5)).toBe('packed'); // not 3x3: no timing
      expect(convPathChoices().size).toBe(2);
      w5.release();
    } finally {
      run.mockRestore();
      w.release();
      prepared.release();
      clearConvPathChoices();
    }
  });
});
