// Whole-model inference throughput on the CIFAR-10 models of the zoo (the seeds' binarized VGG16,
// FINN's CNV), random weights: the compiled binary plan against the same model compiled to fp32
// kernels and against TensorFlow.js and ONNX Runtime Web running the float simulation, same device,
// same run; images/s.
// Before timing, every implementation's output on a small batch equals the CPU reference
// (weights drawn so no sign is decided by rounding: bench/random-weights.ts).
import type { Gpu } from '../src/gpu/context.js';
import { describeAdapter, type AdapterSummary } from '../src/gpu/device.js';
import type { Timing } from '../src/gpu/timing.js';
import type { Model } from '../src/model/model.js';
import { referenceForward } from '../src/model/reference.js';
import { summarize } from '../src/model/summary.js';
import { InferencePlan } from '../src/plan/plan.js';
import { Random } from '../src/random.js';
import { cifar10Vgg16 } from '../src/zoo/cifar10-vgg16.js';
import { finnCnv } from '../src/zoo/finn-cnv.js';
import { biRealNet } from '../src/zoo/bireal-net.js';
import { MNIST_CNN_SCHEMES, mnistCnn, type MnistCnnScheme } from '../src/zoo/mnist-cnn.js';
import { randomInputs, randomizeWeights } from './random-weights.js';
import { timeRounds } from './rounds.js';
import { loadTfjsWebgpu, timeTfjsModel, tfjsUnavailable, TfjsTranslationError } from './tfjs.js';
import { loadOrtWebgpu, ortUnavailable, timeOrtSpec } from './ort.js';

interface ZooEntry {
  description: string;
  make(): Model;
  /** Batch on software adapters (SwiftShader's time budget) and on GPUs. */
  batch: { software: number; gpu: number };
}

/** The models by name; the '-tiny' ones (narrow copies, same layers) are for tests of the harness. */
export const BENCH_MODELS = {
  vgg16: { description: 'binarized VGG16 for CIFAR-10 (13 convs 64..512, dense 1024, 10)', make: () => cifar10Vgg16(), batch: { software: 2, gpu: 64 } },
  cnv: { description: "FINN's CNV-W1A1 for CIFAR-10 (6 valid convs 64..256, dense 512-512-10)", make: () => finnCnv(), batch: { software: 4, gpu: 256 } },
  bireal: {
    description: 'a Bi-Real Net 18 style binary ResNet for CIFAR-10 (16 binary 3x3 convs 64..512 with Add shortcuts, GAP, dense 10)',
    make: () => biRealNet(),
    batch: { software: 2, gpu: 64 },
  },
  'bireal-tiny': { description: 'a narrow Bi-Real Net (8..33 filters), for tests', make: () => biRealNet({ filters: [8, 16, 33], blocks: [1, 1, 1] }), batch: { software: 2, gpu: 2 } },
  'vgg16-tiny': {
    description: 'a narrow VGG16 (8..40 filters), for tests',
    make: () => cifar10Vgg16({ blocks: [[8, 8], [16], [32], [40], [33]], dense: [20] }),
    batch: { software: 2, gpu: 2 },
  },
  // The seeds' MNIST CNN in issue 8's schemes: each on its own kernels (binary XNOR-popcount,
  // alpha folded for XNOR-Net, ternary planes, DoReFa bit-serial), each beside its fp32 plan.
  ...mnistCnnEntries(),
  'cnv-tiny': { description: 'a narrow CNV (8..40 filters), for tests', make: () => finnCnv({ convs: [8, 16, 16, 32, 40, 33], dense: [24, 20] }), batch: { software: 2, gpu: 2 } },
} satisfies Record<string, ZooEntry>;

export type BenchModelName = keyof typeof BENCH_MODELS;

function mnistCnnEntries(): Record<`mnist-cnn-${MnistCnnScheme}`, ZooEntry> {
  const what: Record<MnistCnnScheme, string> = {
    binary: 'BinaryNet: +-1 weights and activations',
    xnor: "XNOR-Net: alpha * sign(W), +-1 activations scaled by the paper's K",
    ternary: 'TWN: {-1, 0, +1} weights, +-1 activations',
    dorefa: 'DoReFa: 1-bit weights, 3-bit activations',
  };
  return Object.fromEntries(
    MNIST_CNN_SCHEMES.map((q) => [`mnist-cnn-${q}`, { description: `the seeds' MNIST CNN, ${what[q]}`, make: () => mnistCnn({ quant: q }), batch: { software: 16, gpu: 512 } }]),
  ) as Record<`mnist-cnn-${MnistCnnScheme}`, ZooEntry>;
}

export interface ModelsBenchOptions {
  models?: BenchModelName[];
  /** Images per pass for every model (default: each model's, by adapter kind). */
  batch?: number;
  reps?: number;
  rounds?: number;
  warmup?: number;
  seed?: number;
  /** Also run TensorFlow.js's float simulation (default true). */
  tfjs?: boolean;
  /** Also run ONNX Runtime Web's WebGPU EP on the float simulation as an ONNX graph (default true). */
  ort?: boolean;
  onProgress?: (line: string) => void;
}

export interface ModelsBenchRow {
  model: BenchModelName;
  description: string;
  batch: number;
  params: number;
  binaryMacsPerImage: number;
  otherMacsPerImage: number;
  binary: Timing & { imagesPerSecond: number };
  f32: Timing & { imagesPerSecond: number };
  tfjs?: Timing & { imagesPerSecond: number; check: string };
  /** Why the TF.js column is absent for this model (a layer or quantizer its translation lacks). */
  tfjsSkipped?: string;
  /** ONNX Runtime Web's WebGPU EP on the same ops as an ONNX graph (wall clock around session.run). */
  ort?: Timing & { imagesPerSecond: number; check: string };
  /** Why the ORT column is absent for this model (no ONNX translation, or the EP could not run it). */
  ortSkipped?: string;
  rounds: { binaryMs: number; f32Ms: number; speedup: number }[];
  /** Median over rounds of fp32 ms / binary ms. */
  speedup: number;
  check: string;
}

export interface ModelsBenchReport {
  benchmark: 'models';
  schema: 1;
  date: string;
  adapter: AdapterSummary;
  adapterName: string;
  rows: ModelsBenchRow[];
  /** Why the TF.js column is absent, when it is. */
  tfjsAbsent?: string;
  /** Why the ORT column is absent, when it is. */
  ortAbsent?: string;
}

export async function benchModels(gpu: Gpu, options: ModelsBenchOptions = {}): Promise<ModelsBenchReport> {
  const soft = gpu.adapter.isSoftware;
  // SwiftShader runs a VGG16 pass in fp32 in seconds (TF.js: tens of seconds): few repetitions there.
  const reps = options.reps ?? (soft ? 2 : 20);
  const warmup = options.warmup ?? (soft ? 1 : 5);
  const rounds = options.rounds ?? (soft ? 1 : 3);
  const log = options.onProgress ?? (() => {});
  const rng = new Random(options.seed ?? 1);
  const tf = options.tfjs === false ? null : await loadTfjsWebgpu();
  const ortRt = options.ort === false ? null : await loadOrtWebgpu();
  const rows: ModelsBenchRow[] = [];
  for (const name of options.models ?? (['vgg16', 'cnv'] as const)) {
    const entry: ZooEntry = BENCH_MODELS[name];
    if (!entry) throw new Error(`no benchmark model '${name}' (there are: ${Object.keys(BENCH_MODELS).join(', ')})`);
    const batch = options.batch ?? (soft ? entry.batch.software : entry.batch.gpu);
    const model = entry.make();
    randomizeWeights(model, rng, { floatSafe: true });
    const summary = summarize(model.spec);
    const out = model.outputs[0];
    log(`models ${name}: compiling the binary and the fp32 plan (batch ${batch})`);
    const binary = await InferencePlan.compile(gpu, model, { maxBatch: batch });
    const f32 = await InferencePlan.compile(gpu, model, { maxBatch: batch, kernels: 'float' });
    try {
      const checkBatch = 1;
      const cx = randomInputs(model, rng, checkBatch);
      log(`models ${name}: checking both plans against the CPU reference (${checkBatch} image)`);
      const want = referenceForward(model.spec, cx, checkBatch).get(out)!.data;
      for (const [kind, plan] of [['binary', binary], ['fp32', f32]] as const) {
        const got = (await plan.run(cx)).get(out)!.data;
        got.forEach((v, i) => {
          if (!(Math.abs(v - want[i]) <= 1e-4 * (1 + Math.abs(want[i])))) throw new Error(`models ${name}: the ${kind} plan differs from the CPU reference at ${i}: got ${v}, want ${want[i]}`);
        });
      }
      const x = randomInputs(model, rng, batch);
      const r = await timeRounds(gpu, () => binary.run(x, { outputs: [] }), () => f32.run(x, { outputs: [] }), {
        warmup,
        reps,
        rounds,
        onRound: (i) => log(`models ${name} batch ${batch}: binary then fp32, round ${i + 1}/${rounds}`),
      });
      const ips = (t: Timing) => (batch * 1000) / t.medianMs;
      let tfjs: ModelsBenchRow['tfjs'];
      let tfjsSkipped: string | undefined;
      if (tf) {
        log(`models ${name}: TensorFlow.js`);
        try {
          const t = await timeTfjsModel(tf, model.spec, { x: x[0], batch, check: { x: cx[0], batch: checkBatch, want } }, { warmup, reps });
          tfjs = { ...t, imagesPerSecond: ips(t) };
        } catch (err) {
          if (!(err instanceof TfjsTranslationError)) throw err;
          tfjsSkipped = err.message;
          log(`models ${name}: no TF.js column (${err.message})`);
        }
      }
      let ort: ModelsBenchRow['ort'];
      let ortSkipped: string | undefined;
      if (ortRt) {
        log(`models ${name}: ONNX Runtime Web`);
        const t = await timeOrtSpec(ortRt, model.spec, { x: x[0], batch, check: { x: cx[0], batch: checkBatch, want } }, { warmup, reps });
        if ('skipped' in t) {
          ortSkipped = t.skipped;
          log(`models ${name}: no ORT column (${t.skipped})`);
        } else ort = { ...t, imagesPerSecond: ips(t) };
      }
      const row: ModelsBenchRow = {
        model: name,
        description: entry.description,
        batch,
        params: summary.totalParams,
        binaryMacsPerImage: summary.binaryMacs,
        otherMacsPerImage: summary.otherMacs,
        binary: { ...r.a, imagesPerSecond: ips(r.a) },
        f32: { ...r.b, imagesPerSecond: ips(r.b) },
        tfjs,
        ...(tfjsSkipped && { tfjsSkipped }),
        ort,
        ...(ortSkipped && { ortSkipped }),
        rounds: r.rounds.map((x) => ({ binaryMs: x.aMs, f32Ms: x.bMs, speedup: x.speedup })),
        speedup: r.speedup,
        check: `both plans' softmax outputs = CPU reference within 1e-4 relative on ${checkBatch} image${tfjs ? '; ' + tfjs.check : ''}${ort ? '; ' + ort.check : ''}`,
      };
      rows.push(row);
      log(
        `models ${name} batch ${batch}: binary ${row.binary.imagesPerSecond.toFixed(1)} images/s, fp32 ${row.f32.imagesPerSecond.toFixed(1)}` +
          `${tfjs ? `, TF.js ${tfjs.imagesPerSecond.toFixed(1)}` : ''}${ort ? `, ORT ${ort.imagesPerSecond.toFixed(1)}` : ''}; ${row.speedup.toFixed(1)}x`,
      );
    } finally {
      binary.destroy();
      f32.destroy();
    }
  }
  return {
    benchmark: 'models',
    schema: 1,
    date: new Date().toISOString(),
    adapter: gpu.adapter,
    adapterName: describeAdapter(gpu.adapter),
    rows,
    ...(options.tfjs !== false && !tf ? { tfjsAbsent: tfjsUnavailable() } : {}),
    ...(options.ort !== false && !ortRt ? { ortAbsent: ortUnavailable() } : {}),
  };
}

export function modelsMarkdown(r: ModelsBenchReport): string {
  const tf = r.rows.some((x) => x.tfjs);
  const ort = r.rows.some((x) => x.ort);
  const peer = (on: boolean, f: () => string) => (on ? ` ${f()} |` : '');
  const ratio = (t: Timing | undefined, x: ModelsBenchRow) => (t ? (t.medianMs / x.binary.medianMs).toFixed(1) + 'x' : '');
  return [
    `Device: ${r.adapterName}; ${r.date.slice(0, 10)}. Whole forward passes (one command buffer per plan), random weights; images/s = batch / median pass time.` +
      (ort ? ' ORT: wall clock around session.run (input upload and output readback included).' : ''),
    '',
    `| model | batch | binary images/s | fp32 images/s |${peer(tf, () => 'TF.js images/s')}${peer(ort, () => 'ORT images/s')} binary ms | fp32 ms | speed-up vs fp32 |${peer(tf, () => 'vs TF.js')}${peer(ort, () => 'vs ORT')} timing |`,
    `|---|---:|---:|---:|${tf ? '---:|' : ''}${ort ? '---:|' : ''}---:|---:|---:|${tf ? '---:|' : ''}${ort ? '---:|' : ''}---|`,
    ...r.rows.map(
      (x) =>
        `| ${x.model} | ${x.batch} | ${x.binary.imagesPerSecond.toFixed(1)} | ${x.f32.imagesPerSecond.toFixed(1)} |` +
        peer(tf, () => x.tfjs?.imagesPerSecond.toFixed(1) ?? '') +
        peer(ort, () => x.ort?.imagesPerSecond.toFixed(1) ?? '') +
        ` ${x.binary.medianMs.toFixed(1)} | ${x.f32.medianMs.toFixed(1)} | **${x.speedup.toFixed(1)}x** |` +
        peer(tf, () => ratio(x.tfjs, x)) +
        peer(ort, () => ratio(x.ort, x)) +
        ` ${x.rounds.length} round(s), ${x.binary.reps}/${x.f32.reps} passes, ${x.binary.source} |`,
    ),
    ...(r.tfjsAbsent ? ['', `TF.js column absent: ${r.tfjsAbsent}`] : []),
    ...(r.ortAbsent ? ['', `ORT column absent: ${r.ortAbsent}`] : []),
    ...r.rows.filter((x) => x.ortSkipped).map((x) => `ORT absent for ${x.model}: ${x.ortSkipped}`),
  ].join('\n');
}
