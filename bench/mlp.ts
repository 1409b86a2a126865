// The seed MLP's inference (Larq's BinaryNet MNIST MLP, 784-512-512-512-10): the compiled binary
// plan against the same model compiled to fp32 kernels, same device, same run; batch-1 latency and
// batch-300 throughput; beside them TensorFlow.js running the same model as a float simulation
// (bench/tfjs.ts). Before timing, every implementation's output is checked against the CPU
// reference (weights drawn so no sign is decided by rounding: bench/random-weights.ts).
import type { Gpu } from '../src/gpu/context.js';
import { describeAdapter, type AdapterSummary } from '../src/gpu/device.js';
import type { Timing } from '../src/gpu/timing.js';
import { timeRounds } from './rounds.js';
import { referenceForward } from '../src/model/reference.js';
import { InferencePlan } from '../src/plan/plan.js';
import { Random } from '../src/random.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';
import { randomInputs, randomizeWeights } from './random-weights.js';
import { loadTfjsWebgpu, timeTfjsModel, tfjsUnavailable } from './tfjs.js';

export interface MlpBenchOptions {
  batches?: number[];
  /** Repetitions per block (a round times a binary block, then an fp32 block). */
  reps?: number;
  rounds?: number;
  warmup?: number;
  seed?: number;
  /** Also run TensorFlow.js's float simulation of the model (default true). */
  tfjs?: boolean;
  onProgress?: (line: string) => void;
}

export interface MlpBenchRow {
  batch: number;
  rounds: { binaryMs: number; f32Ms: number; speedup: number }[];
  binary: Timing & { samplesPerSecond: number };
  f32: Timing & { samplesPerSecond: number };
  /** TF.js's WebGPU backend running the same model as f32 ops (sign, matMul, batchNorm, softmax). */
  tfjs?: Timing & { samplesPerSecond: number; check: string };
  speedup: number;
}

export interface MlpBenchReport {
  benchmark: 'mlp';
  schema: 1;
  date: string;
  adapter: AdapterSummary;
  adapterName: string;
  model: string;
  /** The binary plan, one line per step. */
  plan: string;
  check: string;
  rows: MlpBenchRow[];
  /** Why the TF.js column is absent, when it is. */
  tfjsAbsent?: string;
}

export async function benchMlp(gpu: Gpu, options: MlpBenchOptions = {}): Promise<MlpBenchReport> {
  const soft = gpu.adapter.isSoftware;
  const reps = options.reps ?? (soft ? 5 : 20);
  const warmup = options.warmup ?? (soft ? 2 : 5);
  const batches = options.batches ?? [1, 300];
  const rounds = options.rounds ?? 3;
  const log = options.onProgress ?? (() => {});
  const rng = new Random(options.seed ?? 1);
  const model = mnistMlp();
  randomizeWeights(model, rng);
  const maxBatch = Math.max(...batches);
  const binary = await InferencePlan.compile(gpu, model, { maxBatch });
  const f32 = await InferencePlan.compile(gpu, model, { maxBatch, kernels: 'float' });
  try {
    log('mlp: checking both plans against the CPU reference');
    const checkBatch = Math.min(maxBatch, 16);
    const xs = randomInputs(model, rng, checkBatch);
    const want = referenceForward(model.spec, xs, checkBatch).get(model.outputs[0])!.data;
    for (const [name, plan] of [['binary', binary], ['fp32', f32]] as const) {
      const got = (await plan.run(xs)).get(model.outputs[0])!.data;
      got.forEach((v, i) => {
        if (!(Math.abs(v - want[i]) <= 1e-4 * (1 + Math.abs(want[i])))) throw new Error(`mlp: the ${name} plan differs from the CPU reference at ${i}: got ${v}, want ${want[i]}`);
      });
    }
    const tfjs = options.tfjs === false ? null : await loadTfjsWebgpu();
    const rows: MlpBenchRow[] = [];
    for (const batch of batches) {
      const x = randomInputs(model, rng, batch);
      // Rounds of a binary block then an fp32 block (each warmed up, then back-to-back passes:
      // steady-state throughput): bench/rounds.ts.
      const run = (plan: InferencePlan) => () => plan.run(x, { outputs: [] });
      const timed = await timeRounds(gpu, run(binary), run(f32), { warmup, reps, rounds, onRound: (r) => log(`mlp batch ${batch}: round ${r + 1}/${rounds}`) });
      const [tb, tf] = [timed.a, timed.b];
      let tfRow: MlpBenchRow['tfjs'];
      if (tfjs) {
        log(`mlp batch ${batch}: TensorFlow.js`);
        const t = await timeTfjsModel(tfjs, model.spec, { x: x[0], batch, check: { x: xs[0], batch: checkBatch, want } }, { warmup, reps });
        tfRow = { ...t, samplesPerSecond: (batch * 1000) / t.medianMs };
      }
      const row: MlpBenchRow = {
        batch,
        rounds: timed.rounds.map((r) => ({ binaryMs: r.aMs, f32Ms: r.bMs, speedup: r.speedup })),
        binary: { ...tb, samplesPerSecond: (batch * 1000) / tb.medianMs },
        f32: { ...tf, samplesPerSecond: (batch * 1000) / tf.medianMs },
        tfjs: tfRow,
        speedup: timed.speedup,
      };
      rows.push(row);
      log(`mlp batch ${batch}: binary ${tb.medianMs.toFixed(3)} ms, fp32 ${tf.medianMs.toFixed(3)} ms${tfRow ? `, TF.js ${tfRow.medianMs.toFixed(3)} ms` : ''}, ${row.speedup.toFixed(1)}x`);
    }
    return {
      benchmark: 'mlp',
      schema: 1,
      date: new Date().toISOString(),
      adapter: gpu.adapter,
      adapterName: describeAdapter(gpu.adapter),
      model: 'BinaryNet MLP 784-512-512-512-10 (Larq example), random weights',
      plan: binary.describe(),
      check: `both plans' softmax outputs = CPU reference within 1e-4 relative on ${checkBatch} samples${rows[0]?.tfjs ? '; ' + rows[0].tfjs.check : ''}`,
      rows,
      ...(options.tfjs !== false && !tfjs ? { tfjsAbsent: tfjsUnavailable() } : {}),
    };
  } finally {
    binary.destroy();
    f32.destroy();
  }
}


export function mlpMarkdown(r: MlpBenchReport): string {
  const tf = r.rows.some((x) => x.tfjs);
  return [
    `Device: ${r.adapterName}; ${r.date.slice(0, 10)}. ${r.model}; the whole forward pass (one command buffer per plan).`,
    '',
    'Rounds of a binary block then an fp32 block (warm-up, then back-to-back passes); ms = median of the rounds\' medians; speed-up = median of the rounds\' ratios (each round\'s in brackets).',
    '',
    `| batch | binary ms | fp32 ms |${tf ? ' TF.js ms |' : ''} binary samples/s | fp32 samples/s |${tf ? ' TF.js samples/s |' : ''} speed-up |${tf ? ' vs TF.js |' : ''} timing |`,
    `|---:|---:|---:|${tf ? '---:|' : ''}---:|---:|${tf ? '---:|' : ''}---:|${tf ? '---:|' : ''}---|`,
    ...r.rows.map(
      (x) =>
        `| ${x.batch} | ${x.binary.medianMs.toFixed(3)} | ${x.f32.medianMs.toFixed(3)} | ${tf ? `${x.tfjs?.medianMs.toFixed(3) ?? ''} | ` : ''}${Math.round(x.binary.samplesPerSecond)} | ` +
        `${Math.round(x.f32.samplesPerSecond)} | ${tf ? `${x.tfjs ? Math.round(x.tfjs.samplesPerSecond) : ''} | ` : ''}**${x.speedup.toFixed(1)}x** (${x.rounds.map((r) => r.speedup.toFixed(1)).join(', ')}) | ` +
        `${tf ? `${x.tfjs ? (x.tfjs.medianMs / x.binary.medianMs).toFixed(1) + 'x' : ''} | ` : ''}${x.rounds.length} rounds, ${x.binary.reps}/${x.f32.reps} passes, ${x.binary.source} |`,
    ),
    ...(r.tfjsAbsent ? ['', `TF.js column absent: ${r.tfjsAbsent}`] : []),
  ].join('\n');
}
