// One training step of the seed MLP (Larq's BinaryNet MNIST example, 784-512-512-512-10, Adam,
// batch 300) on the engine's binary kernels against a float simulation of the same model through
// our fp32 kernels (Trainer's kernels: 'float', what Larq or Brevitas run), same device, same run:
// samples/s and training memory per sample. Before timing, one step of each from the same
// weights must give the same loss (the forward values are integers or BatchNorm of integers).
// Beside them, TensorFlow.js's WebGPU backend running the same step as a float simulation
// (bench/tfjs.ts, tfjsTrainer: tf.customGrad STE sign, batch-statistics BatchNorm, softmax
// cross-entropy, tf.train.adam), its first loss checked equal to our trainer's first.
import type { Gpu } from '../src/gpu/context.js';
import { describeAdapter, type AdapterSummary } from '../src/gpu/device.js';
import type { Timing } from '../src/gpu/timing.js';
import { timeRounds } from './rounds.js';
import { Random } from '../src/random.js';
import { Trainer, type TrainingMemory } from '../src/train/trainer.js';
import type { BinaryFloatMethod } from '../src/ops/gemm-binary-float.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';
import { loadTfjsWebgpu, timeTfjsTrainStep, tfjsUnavailable } from './tfjs.js';

export interface TrainBenchOptions {
  batch?: number;
  /** Steps per block (a round times a binary block, then a float block). */
  reps?: number;
  rounds?: number;
  warmup?: number;
  seed?: number;
  /** The binary backward GEMMs' method (default: the trainer's). */
  backwardMethod?: BinaryFloatMethod;
  /** Also time every kernel of one step of each (op by op, GPU timestamps). */
  profile?: boolean;
  /** Also time TensorFlow.js's float simulation of the step (default true). */
  tfjs?: boolean;
  onProgress?: (line: string) => void;
}

export interface TrainBenchSide extends Timing {
  samplesPerSecond: number;
  memory: TrainingMemory;
  /** With `profile`: ms per kernel of one step, slowest first. */
  profile?: { label: string; ms: number }[];
}

export interface TrainBenchReport {
  benchmark: 'train';
  schema: 1;
  date: string;
  adapter: AdapterSummary;
  adapterName: string;
  model: string;
  batch: number;
  backwardMethod: BinaryFloatMethod;
  check: string;
  rounds: { binaryMs: number; floatMs: number; speedup: number }[];
  binary: TrainBenchSide;
  float: TrainBenchSide;
  /** Median over rounds of float ms / binary ms. */
  speedup: number;
  /** TF.js's WebGPU backend running the same step as a float simulation (same weights, batch, Adam). */
  tfjs?: Timing & { samplesPerSecond: number; check: string; losses: number[] };
  /** TF.js median / binary median. */
  speedupVsTfjs?: number;
  /** Why the TF.js column is absent, when it is. */
  tfjsAbsent?: string;
}

export async function benchTrain(gpu: Gpu, options: TrainBenchOptions = {}): Promise<TrainBenchReport> {
  const soft = gpu.adapter.isSoftware;
  const batch = options.batch ?? 300;
  const reps = options.reps ?? (soft ? 3 : 20);
  const warmup = options.warmup ?? (soft ? 1 : 5);
  const rounds = options.rounds ?? 3;
  const log = options.onProgress ?? (() => {});
  const rng = new Random(options.seed ?? 1);
  const model = mnistMlp({ outputBatchNorm: true });
  // MNIST-like inputs: pixel / 127.5 - 1 of random pixels; random labels.
  const inputs = Float32Array.from({ length: batch * 784 }, () => rng.int(256) / 127.5 - 1);
  const labels = Uint32Array.from({ length: batch }, () => rng.int(10));
  const make = (kernels: 'binary' | 'float') =>
    Trainer.create(gpu, model, { kernels, maxBatch: batch, backwardMethod: options.backwardMethod, optimizer: { kind: 'adam', learningRate: 0.001 } });
  // The spec's initial weights, before any trainer steps (TF.js starts from the same ones).
  const tfjs = options.tfjs === false ? null : await loadTfjsWebgpu();
  const binary = await make('binary');
  const float = await make('float');
  try {
    log(`train: checking the binary and the float step agree (batch ${batch})`);
    await binary.step(inputs, labels);
    await float.step(inputs, labels);
    const [lb, lf] = [await binary.readMetrics(), await float.readMetrics()];
    if (!(Math.abs(lb.loss - lf.loss) <= 1e-4 * (1 + Math.abs(lf.loss)))) throw new Error(`train: the binary step's loss ${lb.loss} differs from the float simulation's ${lf.loss}`);
    const timed = await timeRounds(gpu, () => binary.step(inputs, labels), () => float.step(inputs, labels), {
      warmup,
      reps,
      rounds,
      onRound: (r) => log(`train batch ${batch}: round ${r + 1}/${rounds}`),
    });
    log(`  binary ${timed.a.medianMs.toFixed(0)} ms, float ${timed.b.medianMs.toFixed(0)} ms a step`);
    let tfRow: TrainBenchReport['tfjs'];
    if (tfjs) {
      log(`train batch ${batch}: TensorFlow.js (checking its loss, then timing)`);
      const t = await timeTfjsTrainStep(tfjs, model.spec, { inputs, labels, size: batch, classes: 10, learningRate: 0.001, wantLoss: lb.loss }, { warmup, reps });
      tfRow = { ...t, samplesPerSecond: (batch * 1000) / t.medianMs };
      log(`  TF.js ${t.medianMs.toFixed(0)} ms a step (${t.source})`);
    }
    const side = async (t: Trainer, m: Timing): Promise<TrainBenchSide> => {
      const s: TrainBenchSide = { ...m, samplesPerSecond: (batch * 1000) / m.medianMs, memory: await t.memory(batch) };
      if (options.profile) s.profile = await profile(gpu, t, inputs, labels);
      return s;
    };
    return {
      benchmark: 'train',
      schema: 1,
      date: new Date().toISOString(),
      adapter: gpu.adapter,
      adapterName: describeAdapter(gpu.adapter),
      model: 'BinaryNet MLP 784-512-512-512-10 + BatchNorm (Larq example), Adam, random MNIST-like batch',
      batch,
      backwardMethod: binary.backwardMethod,
      check: `one step from the same weights: equal losses (${lb.loss.toFixed(6)}, ${lf.loss.toFixed(6)})${tfRow ? '; ' + tfRow.check : ''}`,
      rounds: timed.rounds.map((r) => ({ binaryMs: r.aMs, floatMs: r.bMs, speedup: r.speedup })),
      binary: await side(binary, timed.a),
      float: await side(float, timed.b),
      speedup: timed.speedup,
      ...(tfRow ? { tfjs: tfRow, speedupVsTfjs: tfRow.medianMs / timed.a.medianMs } : {}),
      ...(options.tfjs !== false && !tfjs ? { tfjsAbsent: tfjsUnavailable() } : {}),
    };
  } finally {
    binary.destroy();
    float.destroy();
  }
}

/** Each kernel of one step, run op by op with GPU timestamps; per label, slowest first. */
async function profile(gpu: Gpu, t: Trainer, inputs: Float32Array, labels: Uint32Array): Promise<{ label: string; ms: number }[]> {
  const timer = gpu.startTimer();
  if (!timer) return [];
  try {
    await t.profileStep(inputs, labels);
    await gpu.sync();
    const runs = await timer.read();
    const by = new Map<string, number>();
    for (const r of runs) by.set(r.label, (by.get(r.label) ?? 0) + r.ms);
    return [...by].map(([label, ms]) => ({ label, ms })).sort((a, b) => b.ms - a.ms);
  } finally {
    gpu.stopTimer();
  }
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

export function trainMarkdown(r: TrainBenchReport): string {
  const row = (name: string, s: TrainBenchSide) =>
    `| ${name} | ${s.medianMs.toFixed(0)} | ${Math.round(s.samplesPerSecond)} | ${kb(s.memory.keptBytesPerSample)} | ${kb(s.memory.peakBytesPerSample)} | ${(s.memory.parameterBytes / 2 ** 20).toFixed(1)} MiB |`;
  const lines = [
    `Device: ${r.adapterName}; ${r.date.slice(0, 10)}. ${r.model}, batch ${r.batch}; one recorded step (forward, loss, backward, Adam) per command buffer; binary backward GEMMs by ${r.backwardMethod === 'table' ? 'sign tables' : 'sign-select'}.`,
    '',
    `Rounds of a binary block then a float block; ms = median of the rounds' medians; speed-up = median of the rounds' ratios: **${r.speedup.toFixed(2)}x** (${r.rounds.map((x) => x.speedup.toFixed(2)).join(', ')}).`,
    '',
    '| kernels | ms a step | samples/s | kept for backward, per sample | peak step memory, per sample | parameters + grads + optimizer |',
    '|---|---:|---:|---:|---:|---:|',
    row('binary (this engine)', r.binary),
    row('float simulation (fp32 kernels)', r.float),
    ...(r.tfjs
      ? [`| TF.js WebGPU (float simulation, tf.train.adam) | ${r.tfjs.medianMs.toFixed(0)} | ${Math.round(r.tfjs.samplesPerSecond)} | | | |`]
      : []),
    ...(r.tfjs ? ['', `Speed-up of the binary step vs TF.js: **${r.speedupVsTfjs!.toFixed(2)}x** (TF.js: median of ${r.tfjs.reps} steps after warm-up, ${r.tfjs.source}). ${r.tfjs.check}.`] : []),
    ...(r.tfjsAbsent ? ['', `TF.js column absent: ${r.tfjsAbsent}`] : []),
  ];
  for (const [name, s] of [['binary', r.binary], ['float', r.float]] as const) {
    if (!s.profile?.length) continue;
    const total = s.profile.reduce((a, p) => a + p.ms, 0);
    lines.push('', `Kernels of one ${name} step (op by op, GPU timestamps; ${total.toFixed(0)} ms in all), slowest first:`, '');
    lines.push(s.profile.slice(0, 12).map((p) => `${p.label} ${p.ms.toFixed(1)} ms`).join('; '));
  }
  return lines.join('\n');
}
