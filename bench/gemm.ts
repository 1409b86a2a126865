// The GEMM benchmark: binary (XNOR-popcount) GEMM against the fp32 GEMM on the same shapes, same
// device, same run; each result checked against the CPU reference before it is timed. The same
// code runs in Node (Dawn) and in a browser page (bench/browser.ts).
import { binaryDot, packRows } from '../src/bitpack.js';
import type { Gpu } from '../src/gpu/context.js';
import { describeAdapter, type AdapterSummary } from '../src/gpu/device.js';
import { binaryGemm } from '../src/ops/gemm-binary.js';
import { gemmF32 } from '../src/ops/gemm-f32.js';
import { defaultGemmTuning, type GemmTuning } from '../src/ops/gemm-tiling.js';
import { Random } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { timeGpu, type Timing } from '../src/gpu/timing.js';
import { loadTfjsWebgpu, timeTfjsMatmul } from './tfjs.js';

export type GemmShape = readonly [M: number, N: number, K: number];

/** The shapes: an MLP layer (batch 300, 784 -> 512), a hidden layer, and two squares. */
export const DEFAULT_GEMM_SHAPES: readonly GemmShape[] = [
  [300, 512, 784],
  [300, 512, 512],
  [1024, 1024, 1024],
  [4096, 4096, 4096],
];

/** Shapes over this many multiply-adds are skipped on software adapters unless asked for. */
export const SOFTWARE_MAX_MACS = 2 ** 31;

export interface GemmBenchOptions {
  shapes?: readonly GemmShape[];
  /** Run shapes that would take minutes on a software adapter. */
  large?: boolean;
  reps?: number;
  warmup?: number;
  seed?: number;
  tuning?: { binary?: GemmTuning; f32?: GemmTuning };
  /** Also time TensorFlow.js's WebGPU matMul (Node or page, when its packages are installed). Default true. */
  tfjs?: boolean;
  onProgress?: (line: string) => void;
}

export interface GemmBenchRow {
  M: number;
  N: number;
  K: number;
  binary: Timing & { gops: number; tuning: GemmTuning; check: string };
  f32: Timing & { gflops: number; tuning: GemmTuning; check: string };
  /** TensorFlow.js 4.22's WebGPU matMul on the same shape (its own kernel timestamps), when run. */
  tfjs?: Timing & { gflops: number };
  /** fp32 time / binary time, from the medians. */
  speedup: number;
}

export interface GemmBenchReport {
  benchmark: 'gemm';
  schema: 1;
  date: string;
  adapter: AdapterSummary;
  adapterName: string;
  engine: string;
  rows: GemmBenchRow[];
  skipped: { M: number; N: number; K: number; reason: string }[];
}

/** Runs the benchmark; every figure names the device in `adapterName`. */
export async function benchGemm(gpu: Gpu, options: GemmBenchOptions = {}): Promise<GemmBenchReport> {
  const soft = gpu.adapter.isSoftware;
  const shapes = options.shapes ?? DEFAULT_GEMM_SHAPES;
  const reps = options.reps ?? (soft ? 3 : 10);
  const warmup = options.warmup ?? (soft ? 1 : 3);
  const rng = new Random(options.seed ?? 1);
  const log = options.onProgress ?? (() => {});
  const binaryTuning = options.tuning?.binary ?? defaultGemmTuning(gpu, 'binary');
  const f32Tuning = options.tuning?.f32 ?? defaultGemmTuning(gpu, 'f32');
  const rows: GemmBenchRow[] = [];
  const skipped: GemmBenchReport['skipped'] = [];

  for (const [M, N, K] of shapes) {
    if (soft && !options.large && M * N * K > SOFTWARE_MAX_MACS) {
      skipped.push({ M, N, K, reason: 'software adapter: pass --large (or large: true) to run it' });
      log(`gemm ${M}x${N}x${K}: skipped on a software adapter (ask with --large)`);
      continue;
    }
    const a = rng.floats(M * K);
    const b = rng.floats(N * K);
    const aPacked = packRows(a, M, K);
    const bPacked = packRows(b, N, K);
    const tensors: Tensor[] = [
      gpu.upload(aPacked, [M, K], 'b1', 'bench.a.b1'),
      gpu.upload(bPacked, [N, K], 'b1', 'bench.b.b1'),
      gpu.upload(a, [M, K], 'f32', 'bench.a.f32'),
      gpu.upload(b, [N, K], 'f32', 'bench.b.f32'),
    ];
    const [ab, bb, af, bf] = tensors;
    try {
      log(`gemm ${M}x${N}x${K}: binary`);
      const binOut = await binaryGemm(gpu, ab, bb, { tuning: binaryTuning });
      const binCheck = checkBinary((await binOut.read()) as Int32Array, aPacked, bPacked, M, N, K, rng);
      binOut.release();
      const binT = await timeGpu(gpu, () => binaryGemm(gpu, ab, bb, { tuning: binaryTuning }), { warmup, reps, release: (t) => t.release() });

      log(`gemm ${M}x${N}x${K}: fp32`);
      const fOut = await gemmF32(gpu, af, bf, { tuning: f32Tuning });
      const fCheck = checkF32((await fOut.read()) as Float32Array, a, b, M, N, K, rng);
      fOut.release();
      const fT = await timeGpu(gpu, () => gemmF32(gpu, af, bf, { tuning: f32Tuning }), { warmup, reps, release: (t) => t.release() });

      const ops = 2 * M * N * K;
      const tf = options.tfjs === false ? null : await loadTfjsWebgpu();
      let tfjs: GemmBenchRow['tfjs'];
      if (tf) {
        log(`gemm ${M}x${N}x${K}: TensorFlow.js`);
        const t = await timeTfjsMatmul(tf, M, N, K, { warmup, reps });
        tfjs = { ...t, gflops: ops / t.medianMs / 1e6 };
      }
      const row: GemmBenchRow = {
        M,
        N,
        K,
        binary: { ...binT, gops: ops / binT.medianMs / 1e6, tuning: binaryTuning, check: binCheck },
        f32: { ...fT, gflops: ops / fT.medianMs / 1e6, tuning: f32Tuning, check: fCheck },
        tfjs,
        speedup: fT.medianMs / binT.medianMs,
      };
      rows.push(row);
      log(
        `gemm ${M}x${N}x${K}: binary ${row.binary.gops.toFixed(2)} G-ops/s, fp32 ${row.f32.gflops.toFixed(3)} GFLOP/s, ` +
          `speed-up ${row.speedup.toFixed(1)}x`,
      );
    } finally {
      for (const t of tensors) t.release();
    }
  }
  return { benchmark: 'gemm', schema: 1, ...reportHeader(gpu), rows, skipped };
}

/** What every GEMM-style report opens with: when, on which device, in which engine. */
export function reportHeader(gpu: Gpu): { date: string; adapter: AdapterSummary; adapterName: string; engine: string } {
  return { date: new Date().toISOString(), adapter: gpu.adapter, adapterName: describeAdapter(gpu.adapter), engine: engineName() };
}

/** Outputs checked: all of them for small results, a random sample of 4096 for large ones. */
function sampleIndices(M: number, N: number, rng: Random): number[] {
  const total = M * N;
  if (total <= 1 << 18) return Array.from({ length: total }, (_, i) => i);
  return Array.from({ length: 4096 }, () => rng.int(total));
}

function checkBinary(got: Int32Array, a: Uint32Array, b: Uint32Array, M: number, N: number, K: number, rng: Random): string {
  const idx = sampleIndices(M, N, rng);
  for (const i of idx) {
    const want = binaryDot(a, Math.floor(i / N), b, i % N, K);
    if (got[i] !== want) throw new Error(`binary GEMM ${M}x${N}x${K} is wrong at (${Math.floor(i / N)}, ${i % N}): got ${got[i]}, want ${want}`);
  }
  return idx.length === M * N ? 'exact, all outputs' : `exact, ${idx.length} sampled outputs`;
}

function checkF32(got: Float32Array, a: Float32Array, b: Float32Array, M: number, N: number, K: number, rng: Random): string {
  const idx = sampleIndices(M, N, rng);
  // |a|,|b| <= 1: an f32 sum of K products is within about K * 2^-24 * K of the exact sum.
  const tol = 1e-6 * K;
  let worst = 0;
  for (const i of idx) {
    const m = Math.floor(i / N);
    const n = i % N;
    let want = 0;
    for (let k = 0; k < K; k++) want += a[m * K + k] * b[n * K + k];
    const err = Math.abs(got[i] - want);
    worst = Math.max(worst, err);
    if (!(err <= tol)) throw new Error(`fp32 GEMM ${M}x${N}x${K} is wrong at (${m}, ${n}): got ${got[i]}, want ${want}`);
  }
  return `max |error| ${worst.toExponential(1)} (tolerance ${tol.toExponential(1)}), ${idx.length === M * N ? 'all' : idx.length + ' sampled'} outputs`;
}

function engineName(): string {
  const g = globalThis as { navigator?: { userAgent?: string }; process?: { versions?: Record<string, string> } };
  if (g.process?.versions?.node) return `Node ${g.process.versions.node}, Dawn (webgpu npm package)`;
  return g.navigator?.userAgent ?? 'unknown';
}

/** The report as a Markdown table (the README's benchmark section is made from this). */
export function gemmMarkdown(r: GemmBenchReport): string {
  const tf = r.rows.some((x) => x.tfjs);
  const lines = [
    `Device: ${r.adapterName}; ${r.engine}; ${r.date.slice(0, 10)}.`,
    '',
    `| M x N x K | binary G-ops/s | fp32 GFLOP/s |${tf ? ' TF.js fp32 GFLOP/s |' : ''} binary ms | fp32 ms | speed-up | timing |`,
    `|---|---:|---:|${tf ? '---:|' : ''}---:|---:|---:|---|`,
    ...r.rows.map(
      (x) =>
        `| ${x.M} x ${x.N} x ${x.K} | ${x.binary.gops.toFixed(2)} | ${x.f32.gflops.toFixed(3)} | ` +
        (tf ? `${x.tfjs ? x.tfjs.gflops.toFixed(3) : ''} | ` : '') +
        `${x.binary.medianMs.toFixed(1)} | ${x.f32.medianMs.toFixed(1)} | **${x.speedup.toFixed(1)}x** | ` +
        `median of ${x.binary.reps}/${x.f32.reps}, ${x.binary.source} |`,
    ),
    ...r.skipped.map((s) => `| ${s.M} x ${s.N} x ${s.K} | skipped | |${tf ? ' |' : ''} | | | ${s.reason} |`),
  ];
  return lines.join('\n');
}
