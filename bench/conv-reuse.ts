// The kernel-reuse benchmark: the reuse path (bconv2dReuse) against the packed implicit GEMM
// (bconv2d), i32 epilogue, on the 3x3 layers of the seeds' nets (VGG16 for CIFAR-10, BinaryNet),
// with weights whose input channels hold 100%, 42% (the BinaryNet paper's count) and 10% distinct
// patterns. Both results are compared, all outputs, before anything is timed; the two paths are
// timed in alternation so that load on a shared machine hits both alike.
import { packRows } from '../src/bitpack.js';
import { redundantWeights } from '../src/analysis/kernel-reuse.js';
import type { Gpu } from '../src/gpu/context.js';
import { describeAdapter, type AdapterSummary } from '../src/gpu/device.js';
import { bconv2d, type Conv2dWindow } from '../src/ops/bconv2d.js';
import { bconv2dReuse, prepareBConvReuse, REUSE_POSITIONS } from '../src/ops/bconv-reuse.js';
import { Random } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { median, timeGpu, type Timing } from '../src/gpu/timing.js';

export interface ConvReuseShape {
  name: string;
  /** Input channels, output channels, input height and width (batch from the options). */
  C: number;
  O: number;
  H: number;
  W: number;
}

const layer = (name: string, C: number, O: number, H: number): ConvReuseShape => ({ name, C, O, H, W: H });

/** The binary 3x3 layers of the seeds' nets at CIFAR-10 size ('same' padding, stride 1). */
export const DEFAULT_CONV_REUSE_SHAPES: readonly ConvReuseShape[] = [
  layer('VGG16 conv1_2', 64, 64, 32),
  layer('VGG16 conv2_2', 128, 128, 16),
  layer('VGG16 conv3_x', 256, 256, 8),
  layer('VGG16 conv4_x', 512, 512, 4),
  layer('VGG16 conv5_x', 512, 512, 2),
  layer('BinaryNet conv2', 128, 128, 32),
  layer('BinaryNet conv3', 128, 256, 16),
  layer('BinaryNet conv4', 256, 256, 16),
  layer('BinaryNet conv5', 256, 512, 8),
  layer('BinaryNet conv6', 512, 512, 8),
];

/** Distinct patterns per input channel, as a share of the output channels. */
export const DEFAULT_UNIQUE_RATIOS: readonly number[] = [1, 0.42, 0.1];

export interface ConvReuseBenchOptions {
  shapes?: readonly ConvReuseShape[];
  ratios?: readonly number[];
  batch?: number;
  /** Timed repetitions of each path (alternating; median reported). */
  reps?: number;
  warmup?: number;
  seed?: number;
  window?: Conv2dWindow;
  onProgress?: (line: string) => void;
}

/** Operations per output position, counted as the kernels do them. */
export interface ConvReuseOps {
  /** Packed: O * 9 * ceil(C/32) XNOR-popcount-accumulate steps on 32-channel words. */
  packedWordOps: number;
  /** Reuse, phase 0: C 9-bit windows gathered; phase 1: one 9-bit XOR-popcount per distinct (channel, pattern). */
  reuseWindows: number;
  reuseResponses: number;
  /** Reuse, phase 2: O * C adds of responses (done 16 positions at a time, in byte lanes). */
  reuseAdds: number;
}

export interface ConvReuseRow {
  name: string;
  batch: number;
  H: number;
  W: number;
  C: number;
  O: number;
  targetRatio: number;
  /** Distinct (channel, pattern) entries / (O * C), measured on the generated weights. */
  uniqueRatio: number;
  /** Distinct 32-channel weight words among the O output channels, per (tap, word): what word-level reuse could skip. */
  wordUniqueRatio: number;
  ops: ConvReuseOps;
  packed: Timing;
  reuse: Timing;
  /** packed / reuse medians: above 1, reuse is faster. */
  speedup: number;
  check: string;
}

export interface ConvReuseBenchReport {
  benchmark: 'conv-reuse';
  schema: 1;
  date: string;
  adapter: AdapterSummary;
  adapterName: string;
  engine: string;
  window: Conv2dWindow;
  rows: ConvReuseRow[];
}

export async function benchConvReuse(gpu: Gpu, options: ConvReuseBenchOptions = {}): Promise<ConvReuseBenchReport> {
  const soft = gpu.adapter.isSoftware;
  const shapes = options.shapes ?? DEFAULT_CONV_REUSE_SHAPES;
  const ratios = options.ratios ?? DEFAULT_UNIQUE_RATIOS;
  const batch = options.batch ?? 1;
  const reps = options.reps ?? (soft ? 7 : 10);
  const warmup = options.warmup ?? 1;
  const window = options.window ?? { padding: 'same', padValues: 0 };
  const rng = new Random(options.seed ?? 1);
  const log = options.onProgress ?? (() => {});
  const rows: ConvReuseRow[] = [];
  for (const s of shapes) {
    const xShape = [batch, s.H, s.W, s.C];
    const x = gpu.upload(packRows(rng.floats(batch * s.H * s.W * s.C), batch * s.H * s.W, s.C), xShape, 'b1', 'bench.x');
    try {
      for (const ratio of ratios) {
        const kShape = [s.O, 3, 3, s.C] as const;
        const packed = packRows(redundantWeights(rng, kShape, ratio), s.O * 9, s.C);
        const w = gpu.upload(packed, kShape, 'b1', 'bench.w');
        const prepared = await prepareBConvReuse(gpu, w, { packed });
        const what = `${s.name} ${s.C}->${s.O} ${s.H}x${s.W} @${ratio}`;
        try {
          const runPacked = () => bconv2d(gpu, x, w, window);
          const runReuse = () => bconv2dReuse(gpu, x, prepared, window);
          const check = await checkEqual(runPacked, runReuse, what);
          for (let i = 0; i < warmup; i++) for (const run of [runPacked, runReuse]) (await run()).release();
          await gpu.sync();
          // Alternate single timed runs so that a burst of load on the machine hits both paths.
          const tp: Timing[] = [];
          const tr: Timing[] = [];
          const release = (t: Tensor) => t.release();
          for (let r = 0; r < reps; r++) {
            tp.push(await timeGpu(gpu, runPacked, { warmup: 0, reps: 1, release }));
            tr.push(await timeGpu(gpu, runReuse, { warmup: 0, reps: 1, release }));
          }
          const row: ConvReuseRow = {
            name: s.name,
            batch,
            H: s.H,
            W: s.W,
            C: s.C,
            O: s.O,
            targetRatio: ratio,
            uniqueRatio: prepared.tables.uniqueRatio,
            wordUniqueRatio: wordUniqueRatio(packed, s.O, s.C),
            ops: {
              packedWordOps: s.O * 9 * Math.ceil(s.C / 32),
              reuseWindows: s.C,
              reuseResponses: prepared.tables.entries.length,
              reuseAdds: s.O * s.C,
            },
            packed: combine(tp),
            reuse: combine(tr),
            speedup: 0,
            check,
          };
          row.speedup = row.packed.medianMs / row.reuse.medianMs;
          rows.push(row);
          log(`conv-reuse ${what}: packed ${row.packed.medianMs.toFixed(1)} ms, reuse ${row.reuse.medianMs.toFixed(1)} ms (${row.speedup.toFixed(2)}x)`);
        } finally {
          prepared.release();
          w.release();
        }
      }
    } finally {
      x.release();
    }
  }
  return {
    benchmark: 'conv-reuse',
    schema: 1,
    date: new Date().toISOString(),
    adapter: gpu.adapter,
    adapterName: describeAdapter(gpu.adapter),
    engine: engineName(),
    window,
    rows,
  };
}

async function checkEqual(a: () => Promise<Tensor>, b: () => Promise<Tensor>, what: string): Promise<string> {
  const [ta, tb] = [await a(), await b()];
  const [ga, gb] = [await ta.read(), await tb.read()];
  ta.release();
  tb.release();
  const bad = ga.findIndex((v, i) => v !== gb[i]);
  if (ga.length !== gb.length || bad >= 0) throw new Error(`conv-reuse ${what}: the reuse path differs from bconv2d at output ${bad} (${gb[bad]} vs ${ga[bad]})`);
  return `equal to bconv2d, all ${ga.length} outputs`;
}

/** One Timing from single-run timings: the median of their medians. */
function combine(ts: Timing[]): Timing {
  const ms = ts.map((t) => t.medianMs);
  return {
    medianMs: median(ms),
    minMs: Math.min(...ms),
    maxMs: Math.max(...ms),
    reps: ts.length,
    source: ts[0].source,
    wallMedianMs: median(ts.map((t) => t.wallMedianMs)),
  };
}

/** Share of distinct weight words among the O output channels, over every (tap, 32-channel word). */
function wordUniqueRatio(packed: Uint32Array, O: number, C: number): number {
  const words = Math.ceil(C / 32);
  let distinct = 0;
  for (let k = 0; k < 9 * words; k++) {
    const seen = new Set<number>();
    for (let o = 0; o < O; o++) seen.add(packed[o * 9 * words + k]);
    distinct += seen.size;
  }
  return distinct / (9 * words * O);
}

function engineName(): string {
  const g = globalThis as { navigator?: { userAgent?: string }; process?: { versions?: Record<string, string> } };
  if (g.process?.versions?.node) return `Node ${g.process.versions.node}, Dawn (webgpu npm package)`;
  return g.navigator?.userAgent ?? 'unknown';
}

/** The report as a Markdown table. */
export function convReuseMarkdown(r: ConvReuseBenchReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const w = r.window;
  const lines = [
    `Device: ${r.adapterName}; ${r.engine}; ${r.date.slice(0, 10)}. Batch ${r.rows[0]?.batch ?? 1}, 3x3, ` +
      `stride 1, padding '${w.padding ?? 'valid'}', pad_values ${w.padValues ?? 0}; i32 outputs; ` +
      `${r.rows[0]?.packed.source ?? ''}, median of ${r.rows[0]?.packed.reps ?? 0} alternating runs per path.`,
    '',
    '| layer | C -> O | H x W | unique (words) | ops/position: packed words / reuse responses + adds | packed ms | reuse ms | packed / reuse |',
    '|---|---|---|---:|---:|---:|---:|---:|',
    ...r.rows.map(
      (x) =>
        `| ${x.name} | ${x.C} -> ${x.O} | ${x.H} x ${x.W} | ${pct(x.uniqueRatio)} (${pct(x.wordUniqueRatio)}) | ` +
        `${x.ops.packedWordOps} / ${x.ops.reuseResponses} + ${x.ops.reuseAdds} | ${x.packed.medianMs.toFixed(1)} | ${x.reuse.medianMs.toFixed(1)} | ` +
        `${x.speedup >= 1 ? `**${x.speedup.toFixed(2)}x**` : `${x.speedup.toFixed(2)}x`} |`,
    ),
    '',
    `Every row: ${r.rows.every((x) => x.check.startsWith('equal')) ? 'reuse output equal to bconv2d, all outputs' : 'see check'}. ` +
      `Tiles of ${REUSE_POSITIONS} positions: layers with fewer positions waste lanes.`,
  ];
  return lines.join('\n');
}
