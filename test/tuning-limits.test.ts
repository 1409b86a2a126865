// The GEMM tunings against the device's workgroup memory (found running the low-bit GEMMs with the
// GPU and the CPU defaults): storage reads declare no tiles, and a default whose tiles exceed the
// limit is shrunk, and said so, instead of failing. Under Gpu.create({ tuning: 'gpu' }) explicitly.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { packBitPlanes } from '../src/bitpack.js';
import { Gpu } from '../src/gpu/context.js';
import { ShapeError } from '../src/gpu/errors.js';
import { bitGemmTuning } from '../src/ops/gemm-binary.js';
import { bitSerialGemm, bitSerialGemmReference } from '../src/ops/gemm-bit-serial.js';
import type { GemmTuning } from '../src/ops/gemm-tiling.js';
import { expectExact } from './helpers/check.js';
import { rngFor } from './helpers/random.js';

let tuned: Gpu;
beforeAll(async () => {
  tuned = await Gpu.create({ log: null, tuning: 'gpu' });
});
afterAll(() => tuned?.destroy());

/** A view of `g` that reports `bytes` of workgroup memory (the device still has its own). */
function withWorkgroupMemory(g: Gpu, bytes: number): Gpu {
  const limits = new Proxy(g.limits, { get: (t, k) => (k === 'maxComputeWorkgroupStorageSize' ? bytes : Reflect.get(t, k)) });
  const view = Object.create(g) as Gpu;
  Object.defineProperty(view, 'limits', { value: limits });
  return view;
}

/** bitSerialGemm of random 8-bit a and w on `g` against the reference, exactly. */
async function checkA8W8(g: Gpu, name: string, [M, N, K]: [number, number, number], tuning?: GemmTuning) {
  const rng = rngFor(name);
  const a = packBitPlanes(Int32Array.from({ length: M * K }, () => rng.int(256)), M, K, 8);
  const w = packBitPlanes(Int32Array.from({ length: N * K }, () => rng.int(256)), N, K, 8);
  const ta = g.upload(a, [8, M, K], 'b1', 'a');
  const tw = g.upload(w, [8, N, K], 'b1', 'w');
  const out = await bitSerialGemm(g, ta, tw, { tuning });
  try {
    expectExact(await out.read(), bitSerialGemmReference(a, w, M, N, K, 8, 8), name, { cols: N });
  } finally {
    for (const t of [ta, tw, out]) t.release();
  }
}

test('storage reads declare no workgroup tiles: 8 + 8 bit planes, 8 K steps of 128 bits (Dawn refused 80 KB of unused tiles)', async () => {
  const name = 'a8w8 storage reads tileK 8';
  await checkA8W8(tuned, name, [17, 70, 1024], { wgX: 16, wgY: 4, tileK: 8, useWorkgroupTiles: false });
});

test('a default tiling over the workgroup memory limit is shrunk and said so; a given one is refused, naming the limit', async () => {
  const small = withWorkgroupMemory(tuned, 16384); // WebGPU's minimum
  const planes = { scheme: 'bitSerial', planesA: 8, planesB: 8 } as const;
  // 64 x 64 tiles of 8 + 8 planes take 16 KB a K step, plus the threshold bits: wgY halves once.
  expect(bitGemmTuning(tuned, 'test', undefined, 'i32', planes)).toEqual({ wgX: 16, wgY: 16, tileK: 1, useWorkgroupTiles: true });
  expect(bitGemmTuning(small, 'test', undefined, 'i32', planes)).toEqual({ wgX: 16, wgY: 8, tileK: 1, useWorkgroupTiles: true });
  expect(tuned.notes.some((n) => /test: the default tuning \(16x16 workgroup tiles\) does not fit 8 \+ 8 bit planes in this device's 16384 bytes of workgroup memory; using 16x8 workgroup tiles/.test(n))).toBe(true);
  // Even 1-row tiles too big: storage reads.
  expect(bitGemmTuning(withWorkgroupMemory(tuned, 2048), 'test', undefined, 'threshold', planes)).toMatchObject({ wgX: 16, wgY: 16, useWorkgroupTiles: false });
  // The shrunk default computes the same.
  await checkA8W8(small, 'a8w8 default tuning, 16 KB of workgroup memory', [70, 33, 300]);
  expect(() => bitGemmTuning(small, 'bitSerialGemm', { wgX: 16, wgY: 16, tileK: 2, useWorkgroupTiles: true }, 'i32', planes)).toThrow(ShapeError);
  expect(() => bitGemmTuning(small, 'bitSerialGemm', { wgX: 16, wgY: 16, tileK: 2, useWorkgroupTiles: true }, 'i32', planes)).toThrow(
    /8 \+ 8 bit planes of 64 x 64 tiles do not fit this device's workgroup memory \(maxComputeWorkgroupStorageSize 16384\); use a smaller tuning/,
  );
});
