// Numbered tuning variants of the GEMM kernels, each checked against the CPU reference and then
// timed on the current device: how the defaults in src/ops/gemm-tiling.ts were chosen. The
// winners per kind of adapter become defaultGemmTuning; run `bnn bench gemm-variants` to re-check.
// The autotuner's library set (src/tune/variants.ts) keeps only tilings that won somewhere; the
// ones it tried and dropped (never a winner on SwiftShader) are here: v1, v6, v7, v10.
import { packRows } from '../src/bitpack.js';
import type { Gpu } from '../src/gpu/context.js';
import { describeAdapter } from '../src/gpu/device.js';
import { binaryGemm, binaryGemmReference } from '../src/ops/gemm-binary.js';
import { gemmF32, gemmF32Reference } from '../src/ops/gemm-f32.js';
import { binaryFloatGemm, binaryFloatGemmReference } from '../src/ops/gemm-binary-float.js';
import type { GemmTuning } from '../src/ops/gemm-tiling.js';
import { GpuKernelError } from '../src/gpu/errors.js';
import { Random } from '../src/random.js';
import type { GemmShape } from './gemm.js';
import { timeGpu } from '../src/gpu/timing.js';

/** [name, wgX, wgY, tileK, useWorkgroupTiles]; tileK counts 128-bit vectors (binary) or vec4 (fp32). */
export const GEMM_VARIANTS: readonly [string, number, number, number, boolean][] = [
  ['v1 direct 8x8 k2', 8, 8, 2, false],
  ['v2 direct 16x16 k2', 16, 16, 2, false],
  ['v3 direct 64x1 k2', 64, 1, 2, false],
  ['v4 direct 16x4 k4', 16, 4, 4, false],
  ['v5 direct 16x4 k8', 16, 4, 8, false],
  ['v6 direct 32x2 k8', 32, 2, 8, false],
  ['v7 tiled 8x8 k4', 8, 8, 4, true],
  ['v8 tiled 16x16 k4', 16, 16, 4, true],
  ['v9 tiled 16x16 k8', 16, 16, 8, true],
  // From the autotuner's set for the sign-select / sign-table GEMMs (tileK in words there).
  ['v10 direct 4x4 k1', 4, 4, 1, false],
];

type VariantKind = 'binary' | 'f32' | 'binaryFloat';

export interface VariantRow {
  variant: string;
  kind: VariantKind;
  tuning: GemmTuning;
  medianMs: number;
  rate: number;
}

export async function benchGemmVariants(
  gpu: Gpu,
  shape: GemmShape,
  opts: { reps?: number; kinds?: VariantKind[]; onProgress?: (line: string) => void } = {},
): Promise<{ adapterName: string; shape: GemmShape; rows: VariantRow[] }> {
  const [M, N, K] = shape;
  const rng = new Random(7);
  const a = rng.floats(M * K);
  const b = rng.floats(N * K);
  const ap = packRows(a, M, K);
  const bp = packRows(b, N, K);
  const tensors = [gpu.upload(ap, [M, K], 'b1'), gpu.upload(bp, [N, K], 'b1'), gpu.upload(a, [M, K], 'f32'), gpu.upload(b, [N, K], 'f32')];
  const [ab, bb, af, bf] = tensors;
  const wantBinary = binaryGemmReference(ap, bp, M, N, K) as Int32Array;
  const wantF32 = gemmF32Reference(a, b, M, N, K);
  const wantSelect = binaryFloatGemmReference(a, bp, M, N, K);
  const rows: VariantRow[] = [];
  try {
    for (const kind of opts.kinds ?? (['binary', 'f32', 'binaryFloat'] as const)) {
      for (const [variant, wgX, wgY, tileK, useWorkgroupTiles] of GEMM_VARIANTS) {
        const tuning: GemmTuning = { wgX, wgY, tileK, useWorkgroupTiles };
        const run = () => (kind === 'binary' ? binaryGemm(gpu, ab, bb, { tuning }) : kind === 'f32' ? gemmF32(gpu, af, bf, { tuning }) : binaryFloatGemm(gpu, af, bb, { tuning }));
        let out: Awaited<ReturnType<typeof run>>;
        try {
          out = await run();
        } catch (err) {
          // A tiling over this device's limits (the sign-select GEMM stages 32 floats per K word:
          // 16x16 tiles of 4 words exceed 32 KB of workgroup memory) is no result, not a failure.
          if (!(err instanceof GpuKernelError)) throw err;
          opts.onProgress?.(`${kind} ${variant}: does not run on this device (${err.message.split('\n')[0].slice(0, 160)})`);
          continue;
        }
        const got = await out.read();
        out.release();
        const want = kind === 'f32' ? wantF32 : wantSelect;
        const ok = kind === 'binary' ? got.every((v, i) => v === wantBinary[i]) : got.every((v, i) => Math.abs(v - want[i]) <= 1e-6 * K);
        if (!ok) throw new Error(`${kind} ${variant} gives wrong results at ${M}x${N}x${K}`);
        const t = await timeGpu(gpu, run, { warmup: 1, reps: opts.reps ?? 3, release: (x) => x.release() });
        const rate = (2 * M * N * K) / t.medianMs / 1e6;
        rows.push({ variant, kind, tuning, medianMs: t.medianMs, rate });
        opts.onProgress?.(`${kind} ${variant}: ${t.medianMs.toFixed(1)} ms, ${rate.toFixed(3)} G-ops/s`);
      }
    }
  } finally {
    for (const t of tensors) t.release();
  }
  return { adapterName: describeAdapter(gpu.adapter), shape, rows };
}
