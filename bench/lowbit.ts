// The low-bit GEMM benchmark (issue 8): ternary weights x binary activations and DoReFa's k-bit
// bit-serial GEMM (2/2 bits and 1-bit weights x 3-bit activations), beside the binary XNOR GEMM
// and against our fp32 tiled GEMM on the same shapes, same device, same run. Every result is
// checked against its CPU reference (sampled) before it is timed. Node and browser alike.
import { packBitPlanes, packRows, packTernaryRows, unpackBitPlanes, unpackRows, unpackTernaryRows } from '../src/bitpack.js';
import type { Gpu } from '../src/gpu/context.js';
import type { AdapterSummary } from '../src/gpu/device.js';
import { timeGpu, type Timing } from '../src/gpu/timing.js';
import { binaryGemm } from '../src/ops/gemm-binary.js';
import { bitSerialGemm } from '../src/ops/gemm-bit-serial.js';
import { gemmF32 } from '../src/ops/gemm-f32.js';
import { ternaryGemm } from '../src/ops/gemm-ternary.js';
import { defaultGemmTuning, type GemmTuning } from '../src/ops/gemm-tiling.js';
import { Random } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { SOFTWARE_MAX_MACS, reportHeader, type GemmShape } from './gemm.js';

/**
 * 1024^3 (the issue's must-reach) and two layers of the seeds' MNIST CNN as GEMMs: the second
 * convolution (32 -> 64, 5x5, 14x14 'same', batch 8: M = 8*14*14, K = 25*32) and the dense layer
 * (7*7*64 -> 256, batch 300).
 */
export const DEFAULT_LOWBIT_SHAPES: readonly GemmShape[] = [
  [1024, 1024, 1024],
  [1568, 64, 800],
  [300, 256, 3136],
];

/** The schemes timed: name, activation bits, weight bits. */
export const LOWBIT_SCHEMES = ['ternary', 'dorefa a2w2', 'dorefa a3w1', 'xnor'] as const;
export type LowbitScheme = (typeof LOWBIT_SCHEMES)[number];

export interface LowbitBenchOptions {
  shapes?: readonly GemmShape[];
  large?: boolean;
  reps?: number;
  warmup?: number;
  seed?: number;
  onProgress?: (line: string) => void;
}

export interface LowbitBenchRow {
  M: number;
  N: number;
  K: number;
  scheme: LowbitScheme;
  /** The low-bit kernel, i32 epilogue; G-ops/s counts 2 M N K like the fp32 FLOP rate. */
  lowbit: Timing & { gops: number; tuning: GemmTuning; check: string };
  /** Our fp32 GEMM on the same shape (timed once per shape, repeated in each of its rows). */
  f32: Timing & { gflops: number; tuning: GemmTuning };
  /** fp32 time / low-bit time, from the medians. */
  speedup: number;
}

export interface LowbitBenchReport {
  benchmark: 'lowbit';
  schema: 1;
  date: string;
  adapter: AdapterSummary;
  adapterName: string;
  engine: string;
  rows: LowbitBenchRow[];
  skipped: { M: number; N: number; K: number; reason: string }[];
}

/** One scheme's operands on the GPU, its launch and the integer dot of output (m, n), for checks. */
interface Prepared {
  run: () => Promise<Tensor>;
  dot: (m: number, n: number) => number;
  tensors: Tensor[];
}

function prepare(gpu: Gpu, scheme: LowbitScheme, rng: Random, M: number, N: number, K: number, tuning: GemmTuning): Prepared {
  const dotOf = (x: ArrayLike<number>, w: ArrayLike<number>, wScale = 1, wShift = 0) => (m: number, n: number) => {
    let s = 0;
    for (let k = 0; k < K; k++) s += x[m * K + k] * (wScale * w[n * K + k] - wShift);
    return s;
  };
  if (scheme === 'xnor' || scheme === 'ternary') {
    const aPacked = packRows(rng.floats(M * K), M, K);
    const a = gpu.upload(aPacked, [M, K], 'b1', 'bench.a.b1');
    if (scheme === 'xnor') {
      const bPacked = packRows(rng.floats(N * K), N, K);
      const b = gpu.upload(bPacked, [N, K], 'b1', 'bench.b.b1');
      return { run: () => binaryGemm(gpu, a, b, { tuning }), dot: dotOf(unpackRows(aPacked, M, K), unpackRows(bPacked, N, K)), tensors: [a, b] };
    }
    // TWN's threshold 0.7 E|w| for uniform w in [-1, 1): about a third of the weights are 0.
    const { mask, sign } = packTernaryRows(rng.floats(N * K), N, K, 0.35);
    const w = gpu.upload(Uint32Array.from([...mask, ...sign]), [2, N, K], 'b1', 'bench.w.ternary');
    return { run: () => ternaryGemm(gpu, a, w, { tuning }), dot: dotOf(unpackRows(aPacked, M, K), unpackTernaryRows(mask, sign, N, K)), tensors: [a, w] };
  }
  const [ka, kw] = scheme === 'dorefa a2w2' ? [2, 2] : [3, 1];
  const ints = (count: number, bits: number) => Int32Array.from({ length: count }, () => rng.int(2 ** bits));
  const aPlanes = packBitPlanes(ints(M * K, ka), M, K, ka);
  const wPlanes = packBitPlanes(ints(N * K, kw), N, K, kw);
  const a = gpu.upload(aPlanes, [ka, M, K], 'b1', 'bench.a.planes');
  const w = gpu.upload(wPlanes, [kw, N, K], 'b1', 'bench.w.planes');
  return {
    run: () => bitSerialGemm(gpu, a, w, { tuning }),
    dot: dotOf(unpackBitPlanes(aPlanes, M, K, ka), unpackBitPlanes(wPlanes, N, K, kw), 2, 2 ** kw - 1),
    tensors: [a, w],
  };
}

/** Outputs checked: all of them for small results, a random sample of 2048 for large ones. */
function check(scheme: string, got: Int32Array, dot: (m: number, n: number) => number, M: number, N: number, K: number, rng: Random): string {
  const all = M * N <= 1 << 16;
  const idx = all ? Array.from({ length: M * N }, (_, i) => i) : Array.from({ length: 2048 }, () => rng.int(M * N));
  for (const i of idx) {
    const want = dot(Math.floor(i / N), i % N);
    if (got[i] !== want) throw new Error(`${scheme} GEMM ${M}x${N}x${K} is wrong at (${Math.floor(i / N)}, ${i % N}): got ${got[i]}, want ${want}`);
  }
  return all ? 'exact, all outputs' : `exact, ${idx.length} sampled outputs`;
}

/** Runs the benchmark; every figure names the device in `adapterName`. */
export async function benchLowbit(gpu: Gpu, options: LowbitBenchOptions = {}): Promise<LowbitBenchReport> {
  const soft = gpu.adapter.isSoftware;
  const reps = options.reps ?? (soft ? 3 : 10);
  const warmup = options.warmup ?? (soft ? 1 : 3);
  const rng = new Random(options.seed ?? 1);
  const log = options.onProgress ?? (() => {});
  const tuning = defaultGemmTuning(gpu, 'binary', 'i32');
  const f32Tuning = defaultGemmTuning(gpu, 'f32');
  const rows: LowbitBenchRow[] = [];
  const skipped: LowbitBenchReport['skipped'] = [];
  for (const [M, N, K] of options.shapes ?? DEFAULT_LOWBIT_SHAPES) {
    if (soft && !options.large && M * N * K > SOFTWARE_MAX_MACS) {
      skipped.push({ M, N, K, reason: 'software adapter: pass --large (or large: true) to run it' });
      continue;
    }
    const ops = 2 * M * N * K;
    log(`lowbit ${M}x${N}x${K}: fp32`);
    const af = gpu.upload(rng.floats(M * K), [M, K], 'f32', 'bench.a.f32');
    const bf = gpu.upload(rng.floats(N * K), [N, K], 'f32', 'bench.b.f32');
    let fT: Timing;
    try {
      fT = await timeGpu(gpu, () => gemmF32(gpu, af, bf, { tuning: f32Tuning }), { warmup, reps, release: (t) => t.release() });
    } finally {
      af.release();
      bf.release();
    }
    for (const scheme of LOWBIT_SCHEMES) {
      log(`lowbit ${M}x${N}x${K}: ${scheme}`);
      const p = prepare(gpu, scheme, rng, M, N, K, tuning);
      try {
        const out = await p.run();
        const checked = check(scheme, (await out.read()) as Int32Array, p.dot, M, N, K, rng);
        out.release();
        const t = await timeGpu(gpu, p.run, { warmup, reps, release: (x) => x.release() });
        const row: LowbitBenchRow = {
          M,
          N,
          K,
          scheme,
          lowbit: { ...t, gops: ops / t.medianMs / 1e6, tuning, check: checked },
          f32: { ...fT, gflops: ops / fT.medianMs / 1e6, tuning: f32Tuning },
          speedup: fT.medianMs / t.medianMs,
        };
        rows.push(row);
        log(`lowbit ${M}x${N}x${K}: ${scheme} ${t.medianMs.toFixed(1)} ms, fp32 ${fT.medianMs.toFixed(1)} ms, speed-up ${row.speedup.toFixed(1)}x`);
      } finally {
        for (const x of p.tensors) x.release();
      }
    }
  }
  return { benchmark: 'lowbit', schema: 1, ...reportHeader(gpu), rows, skipped };
}

/** The report as a Markdown table. */
export function lowbitMarkdown(r: LowbitBenchReport): string {
  return [
    `Device: ${r.adapterName}; ${r.engine}; ${r.date.slice(0, 10)}.`,
    '',
    '| M x N x K | scheme | low-bit ms | fp32 ms | speed-up vs fp32 | low-bit G-ops/s | fp32 GFLOP/s | timing |',
    '|---|---|---:|---:|---:|---:|---:|---|',
    ...r.rows.map(
      (x) =>
        `| ${x.M} x ${x.N} x ${x.K} | ${x.scheme} | ${x.lowbit.medianMs.toFixed(1)} | ${x.f32.medianMs.toFixed(1)} | **${x.speedup.toFixed(1)}x** | ` +
        `${x.lowbit.gops.toFixed(2)} | ${x.f32.gflops.toFixed(3)} | median of ${x.lowbit.reps}/${x.f32.reps}, ${x.lowbit.source} |`,
    ),
    ...r.skipped.map((s) => `| ${s.M} x ${s.N} x ${s.K} | skipped | | | | | | ${s.reason} |`),
  ].join('\n');
}
