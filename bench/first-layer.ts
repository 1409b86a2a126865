// The first-layer benchmark: 8-bit pixels x binary weights on the seeds' first layers, by the two
// methods of src/ops/first-layer.ts (numbered variants: sign-select; bit planes in both bit
// orders), with the fp32 convolution of the same +-1 weights as the baseline. Every variant's full
// output must equal the CPU reference exactly before it is timed (integer pixels: exact sums).
// Its table is docs/performance-first-layer.md; its winner is defaultFirstLayerMethod.
import { packRows } from '../src/bitpack.js';
import type { Gpu } from '../src/gpu/context.js';
import { describeAdapter, type AdapterSummary } from '../src/gpu/device.js';
import { conv2d } from '../src/ops/conv2d.js';
import { bitPlaneConv2d, firstLayerConv2dReference, signSelectConv2d, type FirstLayerWindow } from '../src/ops/first-layer.js';
import { Random } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { timeGpu, type Timing } from '../src/gpu/timing.js';

/** A first layer: square input of `size` pixels, `cin` -> `cout` channels, square kernel. */
export interface FirstLayer {
  name: string;
  size: number;
  cin: number;
  cout: number;
  kernel: number;
  padding: 'valid' | 'same';
}

/** The seeds' first layers: CIFAR-10 (VGG-style / BinaryNet, RGB 32x32) and MNIST (LeNet-style, 28x28). */
export const SEED_FIRST_LAYERS: readonly FirstLayer[] = [
  { name: "CIFAR-10 3->64 3x3 'same' @32", size: 32, cin: 3, cout: 64, kernel: 3, padding: 'same' },
  { name: "MNIST 1->32 5x5 'valid' @28", size: 28, cin: 1, cout: 32, kernel: 5, padding: 'valid' },
];

/** The variants: name, and the launch on (pixels f32, weights b1, weights as +-1 f32). */
type Launch = (gpu: Gpu, x: Tensor, wb: Tensor, wf: Tensor, window: FirstLayerWindow) => Promise<Tensor>;
export const FIRST_LAYER_VARIANTS: readonly { name: string; method: 'signSelect' | 'bitPlane' | 'fp32'; launch: Launch }[] = [
  { name: 'v1 sign-select', method: 'signSelect', launch: (g, x, wb, _wf, win) => signSelectConv2d(g, x, wb, win) },
  { name: 'v2 bit planes, tap order', method: 'bitPlane', launch: (g, x, wb, _wf, win) => bitPlaneConv2d(g, x, wb, { ...win, packing: 'tap' }) },
  { name: 'v3 bit planes, window order', method: 'bitPlane', launch: (g, x, wb, _wf, win) => bitPlaneConv2d(g, x, wb, { ...win, packing: 'window' }) },
  { name: 'fp32 conv2d (baseline)', method: 'fp32', launch: (g, x, _wb, wf, win) => conv2d(g, x, wf, win) },
];

export interface FirstLayerBenchOptions {
  layers?: readonly FirstLayer[];
  /** Default 8. */
  batch?: number;
  reps?: number;
  warmup?: number;
  seed?: number;
  onProgress?: (line: string) => void;
}

export interface FirstLayerBenchRow {
  layer: FirstLayer;
  batch: number;
  variant: string;
  method: 'signSelect' | 'bitPlane' | 'fp32';
  /** Multiply-adds of the convolution: N * OH * OW * O * KH * KW * C. */
  macs: number;
  timing: Timing & { gmacs: number };
  /** v1 (sign-select) median / this median. */
  vsSignSelect: number;
  check: string;
}

export interface FirstLayerBenchReport {
  benchmark: 'first-layer';
  schema: 1;
  date: string;
  adapter: AdapterSummary;
  adapterName: string;
  rows: FirstLayerBenchRow[];
  /** Per layer, the faster library method (sign-select or bit planes). */
  winners: { layer: string; variant: string; method: 'signSelect' | 'bitPlane' }[];
}

export async function benchFirstLayer(gpu: Gpu, options: FirstLayerBenchOptions = {}): Promise<FirstLayerBenchReport> {
  const soft = gpu.adapter.isSoftware;
  const reps = options.reps ?? (soft ? 5 : 20);
  const warmup = options.warmup ?? (soft ? 1 : 3);
  const batch = options.batch ?? 8;
  const rng = new Random(options.seed ?? 1);
  const log = options.onProgress ?? (() => {});
  const rows: FirstLayerBenchRow[] = [];
  const winners: FirstLayerBenchReport['winners'] = [];
  for (const layer of options.layers ?? SEED_FIRST_LAYERS) {
    const { size: H, cin: C, cout: O, kernel: KS } = layer;
    const xShape = [batch, H, H, C];
    const wShape = [O, KS, KS, C];
    const pixels = Float32Array.from({ length: batch * H * H * C }, () => rng.int(256));
    const wf = rng.floats(O * KS * KS * C).map((v) => (v < 0 ? -1 : 1));
    const wp = packRows(wf, O * KS * KS, C);
    const window: FirstLayerWindow = { padding: layer.padding };
    const want = firstLayerConv2dReference(pixels, xShape, wp, wShape, window);
    const tensors = [gpu.upload(pixels, xShape, 'f32', 'bench.x'), gpu.upload(wp, wShape, 'b1', 'bench.w.b1'), gpu.upload(wf, wShape, 'f32', 'bench.w.f32')];
    const [x, wb, wt] = tensors;
    const macs = (want.length / O) * O * KS * KS * C;
    const layerRows: FirstLayerBenchRow[] = [];
    try {
      for (const v of FIRST_LAYER_VARIANTS) {
        const run = () => v.launch(gpu, x, wb, wt, window);
        log(`first-layer ${layer.name} batch ${batch}: ${v.name}: checking`);
        const y = await run();
        const got = await y.read();
        y.release();
        const bad = want.findIndex((w, i) => got[i] !== w);
        if (bad >= 0) throw new Error(`${v.name} on ${layer.name} is wrong at ${bad}: got ${got[bad]}, want ${want[bad]}`);
        const t = await timeGpu(gpu, run, { warmup, reps, release: (o) => o.release() });
        const row: FirstLayerBenchRow = {
          layer,
          batch,
          variant: v.name,
          method: v.method,
          macs,
          timing: { ...t, gmacs: macs / t.medianMs / 1e6 },
          vsSignSelect: 0,
          check: `= CPU reference exactly on all ${want.length} outputs`,
        };
        layerRows.push(row);
        log(`first-layer ${layer.name}: ${v.name}: ${t.medianMs.toFixed(2)} ms (${t.source}), ${row.timing.gmacs.toFixed(3)} G-MAC/s`);
      }
    } finally {
      for (const t of tensors) t.release();
    }
    const base = layerRows[0].timing.medianMs;
    for (const r of layerRows) r.vsSignSelect = base / r.timing.medianMs;
    const best = layerRows.filter((r) => r.method !== 'fp32').reduce((a, b) => (b.timing.medianMs < a.timing.medianMs ? b : a));
    winners.push({ layer: layer.name, variant: best.variant, method: best.method as 'signSelect' | 'bitPlane' });
    rows.push(...layerRows);
  }
  return { benchmark: 'first-layer', schema: 1, date: new Date().toISOString(), adapter: gpu.adapter, adapterName: describeAdapter(gpu.adapter), rows, winners };
}

export function firstLayerMarkdown(r: FirstLayerBenchReport): string {
  return [
    `Device: ${r.adapterName}; ${r.date.slice(0, 10)}. NHWC, integer pixels 0..255, +-1 weights; every output checked exactly before timing.`,
    '',
    '| layer | batch | variant | ms (median) | min | max | G-MAC/s | vs sign-select | timing |',
    '|---|---:|---|---:|---:|---:|---:|---:|---|',
    ...r.rows.map(
      (x) =>
        `| ${x.layer.name} | ${x.batch} | ${x.variant} | ${x.timing.medianMs.toFixed(2)} | ${x.timing.minMs.toFixed(2)} | ${x.timing.maxMs.toFixed(2)} | ` +
        `${x.timing.gmacs.toFixed(3)} | ${x.vsSignSelect.toFixed(2)}x | median of ${x.timing.reps}, ${x.timing.source} |`,
    ),
    '',
    ...r.winners.map((w) => `Faster on ${w.layer}: **${w.variant}** (${w.method}).`),
  ].join('\n');
}
