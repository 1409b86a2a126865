// The convolution benchmark: binary convolution (bconv2d) against the fp32 implicit-GEMM
// convolution (conv2d) on the seeds' layer shapes, same device, same run. Before timing, the fp32
// result of the first image is checked against the CPU reference, and the binary result must
// equal the fp32 one exactly everywhere (both see the same +-1 values; their sums are integers
// below 2^24, exact in f32; zero padding on both sides, Larq's pad_values = 0). Beside them,
// TensorFlow.js's WebGPU tf.conv2d (NHWC, 'same') on the same f32 tensors, checked equal to our
// fp32 result on every output first (bench/tfjs.ts).
import { packRows } from '../src/bitpack.js';
import type { Gpu } from '../src/gpu/context.js';
import { describeAdapter, type AdapterSummary } from '../src/gpu/device.js';
import { bconv2d } from '../src/ops/bconv2d.js';
import { conv2d, conv2dReference } from '../src/ops/conv2d.js';
import { Random } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { timeGpu, type Timing } from '../src/gpu/timing.js';
import { loadTfjsWebgpu, timeTfjsConv, tfjsUnavailable } from './tfjs.js';
import { loadOrtWebgpu, ortUnavailable, OrtUnavailableError, timeOrtModel } from './ort.js';
import { onnxConv } from './onnx-model.js';

/** A 3x3 'same' convolution layer: input size (square), channels in and out. */
export interface ConvLayer {
  name: string;
  size: number;
  cin: number;
  cout: number;
  /** Batch for this layer; default the run's batch. */
  batch?: number;
}

/** The seeds' binary conv layers: VGG16 for CIFAR-10 (Liu & Deng; first layer excluded) and BinaryNet's 128..512 net's 128->128 at 32x32. */
export const SEED_CONV_LAYERS: readonly ConvLayer[] = [
  { name: 'binarynet conv2 128->128 @32', size: 32, cin: 128, cout: 128, batch: 8 },
  { name: 'vgg16 conv1_2 64->64 @32', size: 32, cin: 64, cout: 64 },
  { name: 'vgg16 conv2_2 128->128 @16', size: 16, cin: 128, cout: 128 },
  { name: 'vgg16 conv3_2 256->256 @8', size: 8, cin: 256, cout: 256 },
  { name: 'vgg16 conv4_2 512->512 @4', size: 4, cin: 512, cout: 512 },
  { name: 'vgg16 conv5_2 512->512 @2', size: 2, cin: 512, cout: 512 },
];

export interface ConvBenchOptions {
  layers?: readonly ConvLayer[];
  /** Batch of layers that name none: 8 on GPUs, 2 on software adapters. */
  batch?: number;
  reps?: number;
  warmup?: number;
  seed?: number;
  /** Also time TensorFlow.js's tf.conv2d on the same shapes (default true). */
  tfjs?: boolean;
  /** Also time ONNX Runtime Web's WebGPU EP on the same convolution as a one-Conv ONNX graph (default true). */
  ort?: boolean;
  onProgress?: (line: string) => void;
}

export interface ConvBenchRow {
  layer: ConvLayer;
  batch: number;
  /** 2 * N * H * W * Cout * 9 * Cin */
  ops: number;
  binary: Timing & { gops: number };
  f32: Timing & { gflops: number };
  /** TF.js's WebGPU backend: tf.conv2d on the same f32 tensors (NHWC, 'same'). */
  tfjs?: Timing & { gflops: number; check: string };
  /** ONNX Runtime Web's WebGPU EP: an ONNX Conv (NHWC in and out, Transposes around it), wall clock around session.run. */
  ort?: Timing & { gflops: number; check: string };
  /** Why the ORT column is absent for this layer (its WebGPU EP could not run it). */
  ortSkipped?: string;
  speedup: number;
  check: string;
}

export interface ConvBenchReport {
  benchmark: 'conv';
  schema: 1;
  date: string;
  adapter: AdapterSummary;
  adapterName: string;
  rows: ConvBenchRow[];
  /** Why the TF.js column is absent, when it is. */
  tfjsAbsent?: string;
  /** Why the ORT column is absent, when it is. */
  ortAbsent?: string;
}

export async function benchConv(gpu: Gpu, options: ConvBenchOptions = {}): Promise<ConvBenchReport> {
  const soft = gpu.adapter.isSoftware;
  const reps = options.reps ?? (soft ? 3 : 10);
  const warmup = options.warmup ?? (soft ? 1 : 3);
  const rng = new Random(options.seed ?? 1);
  const log = options.onProgress ?? (() => {});
  const tfjs = options.tfjs === false ? null : await loadTfjsWebgpu();
  const ort = options.ort === false ? null : await loadOrtWebgpu();
  const rows: ConvBenchRow[] = [];
  for (const layer of options.layers ?? SEED_CONV_LAYERS) {
    const batch = layer.batch ?? options.batch ?? (soft ? 2 : 8);
    const { size: H, cin: C, cout: O } = layer;
    const xShape = [batch, H, H, C];
    const wShape = [O, 3, 3, C];
    const sign = (v: number) => (v < 0 ? -1 : 1);
    const x = rng.floats(batch * H * H * C).map(sign);
    const w = rng.floats(O * 9 * C).map(sign);
    const tensors: Tensor[] = [
      gpu.upload(packRows(x, batch * H * H, C), xShape, 'b1', 'bench.x.b1'),
      gpu.upload(packRows(w, O * 9, C), wShape, 'b1', 'bench.w.b1'),
      gpu.upload(x, xShape, 'f32', 'bench.x.f32'),
      gpu.upload(w, wShape, 'f32', 'bench.w.f32'),
    ];
    const [xb, wb, xf, wf] = tensors;
    const window = { padding: 'same' as const }; // fp32: zero padding
    const binaryWindow = { ...window, padValues: 0 as const }; // Larq's pad_values = 0: the same
    try {
      log(`conv ${layer.name} batch ${batch}: checking`);
      const yb = await bconv2d(gpu, xb, wb, binaryWindow);
      const yf = await conv2d(gpu, xf, wf, window);
      const gotB = (await yb.read()) as Int32Array;
      const gotF = (await yf.read()) as Float32Array;
      yb.release();
      yf.release();
      const first = conv2dReference(x.subarray(0, H * H * C), [1, H, H, C], w, wShape, window);
      first.forEach((v, i) => {
        if (gotF[i] !== v) throw new Error(`fp32 conv ${layer.name} is wrong at ${i}: got ${gotF[i]}, want ${v}`);
      });
      gotB.forEach((v, i) => {
        if (v !== gotF[i]) throw new Error(`binary conv ${layer.name} differs from fp32 at ${i}: got ${v}, want ${gotF[i]}`);
      });
      log(`conv ${layer.name}: binary`);
      const tb = await timeGpu(gpu, () => bconv2d(gpu, xb, wb, binaryWindow), { warmup, reps, release: (t) => t.release() });
      log(`conv ${layer.name}: fp32`);
      const tf = await timeGpu(gpu, () => conv2d(gpu, xf, wf, window), { warmup, reps, release: (t) => t.release() });
      const ops = 2 * batch * H * H * O * 9 * C;
      let tfRow: ConvBenchRow['tfjs'];
      if (tfjs) {
        log(`conv ${layer.name}: TensorFlow.js`);
        const t = await timeTfjsConv(tfjs, x, xShape, w, wShape, gotF, { warmup, reps });
        tfRow = { ...t, gflops: ops / t.medianMs / 1e6 };
      }
      let ortRow: ConvBenchRow['ort'];
      let ortSkipped: string | undefined;
      if (ort) {
        log(`conv ${layer.name}: ONNX Runtime Web`);
        try {
          // Exact, as for TF.js: +-1 inputs, integer sums below 2^24.
          const t = await timeOrtModel(ort, onnxConv(w, wShape, [H, H]), { x, shape: xShape, check: { x, shape: xShape, want: gotF, tolerance: 0, what: 'our fp32 conv' } }, { warmup, reps });
          ortRow = { ...t, gflops: ops / t.medianMs / 1e6 };
        } catch (err) {
          if (!(err instanceof OrtUnavailableError)) throw err;
          ortSkipped = err.message;
        }
      }
      const row: ConvBenchRow = {
        layer,
        batch,
        ops,
        binary: { ...tb, gops: ops / tb.medianMs / 1e6 },
        f32: { ...tf, gflops: ops / tf.medianMs / 1e6 },
        tfjs: tfRow,
        ort: ortRow,
        ...(ortSkipped && { ortSkipped }),
        speedup: tf.medianMs / tb.medianMs,
        check: `fp32 = CPU reference on image 0 (${first.length} outputs); binary = fp32 on all ${gotB.length} outputs${tfRow ? '; ' + tfRow.check : ''}${ortRow ? '; ' + ortRow.check : ''}`,
      };
      rows.push(row);
      log(`conv ${layer.name}: binary ${row.binary.gops.toFixed(2)} G-ops/s, fp32 ${row.f32.gflops.toFixed(3)} GFLOP/s${tfRow ? `, TF.js ${tfRow.gflops.toFixed(3)} GFLOP/s` : ''}${ortRow ? `, ORT ${ortRow.gflops.toFixed(3)} GFLOP/s` : ''}, ${row.speedup.toFixed(1)}x`);
    } finally {
      for (const t of tensors) t.release();
    }
  }
  return {
    benchmark: 'conv',
    schema: 1,
    date: new Date().toISOString(),
    adapter: gpu.adapter,
    adapterName: describeAdapter(gpu.adapter),
    rows,
    ...(options.tfjs !== false && !tfjs ? { tfjsAbsent: tfjsUnavailable() } : {}),
    ...(options.ort !== false && !ort ? { ortAbsent: ortUnavailable() } : {}),
  };
}

export function convMarkdown(r: ConvBenchReport): string {
  const tf = r.rows.some((x) => x.tfjs);
  const ort = r.rows.some((x) => x.ort);
  const peer = (on: boolean, f: () => string) => (on ? ` ${f()} |` : '');
  const ratio = (t: Timing | undefined, x: ConvBenchRow) => (t ? (t.medianMs / x.binary.medianMs).toFixed(1) + 'x' : '');
  const source = (x: ConvBenchRow) =>
    [['TF.js', x.tfjs], ['ORT', x.ort]]
      .filter(([, t]) => t && (t as Timing).source !== x.binary.source)
      .map(([n, t]) => ` (${n} ${(t as Timing).source})`)
      .join('');
  return [
    `Device: ${r.adapterName}; ${r.date.slice(0, 10)}. 3x3 'same' convolutions, NHWC.` + (ort ? ' ORT: wall clock around session.run (input upload and output readback included).' : ''),
    '',
    `| layer | batch | binary G-ops/s | fp32 GFLOP/s |${peer(tf, () => 'TF.js GFLOP/s')}${peer(ort, () => 'ORT GFLOP/s')} binary ms | fp32 ms |${peer(tf, () => 'TF.js ms')}${peer(ort, () => 'ORT ms')} speed-up |${peer(tf, () => 'vs TF.js')}${peer(ort, () => 'vs ORT')} timing |`,
    `|---|---:|---:|---:|${tf ? '---:|' : ''}${ort ? '---:|' : ''}---:|---:|${tf ? '---:|' : ''}${ort ? '---:|' : ''}---:|${tf ? '---:|' : ''}${ort ? '---:|' : ''}---|`,
    ...r.rows.map(
      (x) =>
        `| ${x.layer.name} | ${x.batch} | ${x.binary.gops.toFixed(2)} | ${x.f32.gflops.toFixed(3)} |${peer(tf, () => x.tfjs?.gflops.toFixed(3) ?? '')}${peer(ort, () => x.ort?.gflops.toFixed(3) ?? '')} ${x.binary.medianMs.toFixed(1)} | ` +
        `${x.f32.medianMs.toFixed(1)} |${peer(tf, () => x.tfjs?.medianMs.toFixed(1) ?? '')}${peer(ort, () => x.ort?.medianMs.toFixed(1) ?? '')} **${x.speedup.toFixed(1)}x** |` +
        `${peer(tf, () => ratio(x.tfjs, x))}${peer(ort, () => ratio(x.ort, x))} median of ${x.binary.reps}/${x.f32.reps}${x.tfjs ? '/' + x.tfjs.reps : ''}${x.ort ? '/' + x.ort.reps : ''}, ${x.binary.source}${source(x)} |`,
    ),
    ...(r.tfjsAbsent ? ['', `TF.js column absent: ${r.tfjsAbsent}`] : []),
    ...(r.ortAbsent ? ['', `ORT column absent: ${r.ortAbsent}`] : []),
    ...r.rows.filter((x) => x.ortSkipped).map((x) => `ORT absent for ${x.layer.name}: ${x.ortSkipped}`),
  ].join('\n');
}
