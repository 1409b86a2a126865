// The seed MLP's inference (Larq's BinaryNet MNIST MLP, 784-512-512-512-10): the compiled binary
// plan against the same model compiled to fp32 kernels, same device, same run; batch-1 latency and
// batch-300 throughput; beside them TensorFlow.js running the same model as a float simulation
// (bench/tfjs.ts) and ONNX Runtime Web (bench/ort.ts). And the same network as Larq's example writes it (functional, standalone SteSign
// layers, biases: mnistMlpFunctional) against mnistMlp(), both on +-1 pixels: the compiler must
// take both to the same kernels. Before timing, every implementation's output is checked against
// the CPU reference (weights drawn so no sign is decided by rounding: bench/random-weights.ts).
import type { Gpu } from '../src/gpu/context.js';
import { describeAdapter, type AdapterSummary } from '../src/gpu/device.js';
import type { Timing } from '../src/gpu/timing.js';
import { timeRounds } from './rounds.js';
import { referenceForward } from '../src/model/reference.js';
import { InferencePlan } from '../src/plan/plan.js';
import { lowerModel } from '../src/plan/lower.js';
import { Random } from '../src/random.js';
import { mnistMlp, mnistMlpFunctional } from '../src/zoo/mnist-mlp.js';
import { randomInputs, randomizeWeights } from './random-weights.js';
import { loadTfjsWebgpu, timeTfjsModel, tfjsUnavailable } from './tfjs.js';
import { loadOrtWebgpu, ortUnavailable, timeOrtSpec } from './ort.js';

export interface MlpBenchOptions {
  batches?: number[];
  /** Repetitions per block (a round times a binary block, then an fp32 block). */
  reps?: number;
  rounds?: number;
  warmup?: number;
  seed?: number;
  /** Also run TensorFlow.js's float simulation of the model (default true). */
  tfjs?: boolean;
  /** Also run ONNX Runtime Web's WebGPU EP on the same float simulation as an ONNX graph (default true). */
  ort?: boolean;
  /** Also time Larq's functional form of the model against mnistMlp() (default true). */
  functional?: boolean;
  onProgress?: (line: string) => void;
}

export interface MlpBenchRow {
  batch: number;
  rounds: { binaryMs: number; f32Ms: number; speedup: number }[];
  binary: Timing & { samplesPerSecond: number };
  f32: Timing & { samplesPerSecond: number };
  /** TF.js's WebGPU backend running the same model as f32 ops (sign, matMul, batchNorm, softmax). */
  tfjs?: Timing & { samplesPerSecond: number; check: string };
  /** ONNX Runtime Web's WebGPU EP on the same ops as an ONNX graph (wall clock around session.run). */
  ort?: Timing & { samplesPerSecond: number; check: string };
  /** Why the ORT column is absent for this row (its WebGPU EP could not run the model). */
  ortSkipped?: string;
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
  /** Why the ORT column is absent, when it is. */
  ortAbsent?: string;
  /** Larq's functional form (mnistMlpFunctional) against mnistMlp(), same +-1 pixels: time ratio functional / zoo. */
  functional?: { plan: string; rows: { batch: number; functionalMs: number; zooMs: number; ratio: number; rounds: number[] }[] };
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
    const ort = options.ort === false ? null : await loadOrtWebgpu();
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
      let ortRow: MlpBenchRow['ort'];
      let ortSkipped: string | undefined;
      if (ort) {
        log(`mlp batch ${batch}: ONNX Runtime Web`);
        const t = await timeOrtSpec(ort, model.spec, { x: x[0], batch, check: { x: xs[0], batch: checkBatch, want } }, { warmup, reps });
        if ('skipped' in t) ortSkipped = t.skipped;
        else ortRow = { ...t, samplesPerSecond: (batch * 1000) / t.medianMs };
      }
      const row: MlpBenchRow = {
        batch,
        rounds: timed.rounds.map((r) => ({ binaryMs: r.aMs, f32Ms: r.bMs, speedup: r.speedup })),
        binary: { ...tb, samplesPerSecond: (batch * 1000) / tb.medianMs },
        f32: { ...tf, samplesPerSecond: (batch * 1000) / tf.medianMs },
        tfjs: tfRow,
        ort: ortRow,
        ...(ortSkipped && { ortSkipped }),
        speedup: timed.speedup,
      };
      rows.push(row);
      log(`mlp batch ${batch}: binary ${tb.medianMs.toFixed(3)} ms, fp32 ${tf.medianMs.toFixed(3)} ms${tfRow ? `, TF.js ${tfRow.medianMs.toFixed(3)} ms` : ''}${ortRow ? `, ORT ${ortRow.medianMs.toFixed(3)} ms` : ''}, ${row.speedup.toFixed(1)}x`);
    }
    const functional = options.functional === false ? undefined : await benchFunctional(gpu, binary, batches, rng, { warmup, reps, rounds, log });
    return {
      benchmark: 'mlp',
      schema: 1,
      date: new Date().toISOString(),
      adapter: gpu.adapter,
      adapterName: describeAdapter(gpu.adapter),
      model: 'BinaryNet MLP 784-512-512-512-10 (Larq example), random weights',
      plan: binary.describe(),
      check: `both plans' softmax outputs = CPU reference within 1e-4 relative on ${checkBatch} samples${rows[0]?.tfjs ? '; ' + rows[0].tfjs.check : ''}${rows[0]?.ort ? '; ' + rows[0].ort.check : ''}`,
      rows,
      ...(options.tfjs !== false && !tfjs ? { tfjsAbsent: tfjsUnavailable() } : {}),
      ...(options.ort !== false && !ort ? { ortAbsent: ortUnavailable() } : {}),
      ...(functional && { functional }),
    };
  } finally {
    binary.destroy();
    f32.destroy();
  }
}

/** Larq's functional form against the zoo's plan (`zoo`), on the same +-1 pixels, checked against the reference first. */
async function benchFunctional(gpu: Gpu, zoo: InferencePlan, batches: number[], rng: Random, o: { warmup: number; reps: number; rounds: number; log: (line: string) => void }): Promise<NonNullable<MlpBenchReport['functional']>> {
  const model = mnistMlpFunctional();
  randomizeWeights(model, rng);
  const plan = await InferencePlan.compile(gpu, model, { maxBatch: Math.max(...batches) });
  const signs = (batch: number) => randomInputs(model, rng, batch).map((x) => Float32Array.from(x, (v) => (v < 0 ? -1 : 1)));
  try {
    const checkBatch = Math.min(8, Math.max(...batches));
    const xs = signs(checkBatch);
    const want = referenceForward(model.spec, xs, checkBatch).get(model.outputs[0])!.data;
    const got = (await plan.run(xs)).get(model.outputs[0])!.data;
    got.forEach((v, i) => {
      if (!(Math.abs(v - want[i]) <= 1e-4 * (1 + Math.abs(want[i])))) throw new Error(`mlp: the functional model's plan differs from the CPU reference at ${i}: got ${v}, want ${want[i]}`);
    });
    const rows = [];
    for (const batch of batches) {
      const x = signs(batch);
      const run = (p: InferencePlan) => () => p.run(x, { outputs: [] });
      const t = await timeRounds(gpu, run(plan), run(zoo), { ...o, onRound: (r) => o.log(`mlp functional batch ${batch}: round ${r + 1}/${o.rounds}`) });
      rows.push({ batch, functionalMs: t.a.medianMs, zooMs: t.b.medianMs, ratio: 1 / t.speedup, rounds: t.rounds.map((r) => 1 / r.speedup) });
      o.log(`mlp functional batch ${batch}: ${t.a.medianMs.toFixed(3)} ms vs mnistMlp() ${t.b.medianMs.toFixed(3)} ms (${(1 / t.speedup).toFixed(2)}x its time)`);
    }
    // The plan a +-1 input takes (the variant run() picks after looking at the values).
    return { plan: plan.describe(lowerModel(model.spec, { signInputs: [true] })), rows };
  } finally {
    plan.destroy();
  }
}

export function mlpMarkdown(r: MlpBenchReport): string {
  const tf = r.rows.some((x) => x.tfjs);
  const ort = r.rows.some((x) => x.ort);
  const peer = (on: boolean, f: () => string) => (on ? ` ${f()} |` : '');
  return [
    `Device: ${r.adapterName}; ${r.date.slice(0, 10)}. ${r.model}; the whole forward pass (one command buffer per plan).`,
    '',
    'Rounds of a binary block then an fp32 block (warm-up, then back-to-back passes); ms = median of the rounds\' medians; speed-up = median of the rounds\' ratios (each round\'s in brackets).' +
      (ort ? ' ORT: wall clock around session.run (input upload and output readback included).' : ''),
    '',
    `| batch | binary ms | fp32 ms |${peer(tf, () => 'TF.js ms')}${peer(ort, () => 'ORT ms')} binary samples/s | fp32 samples/s |${peer(tf, () => 'TF.js samples/s')}${peer(ort, () => 'ORT samples/s')} speed-up |${peer(tf, () => 'vs TF.js')}${peer(ort, () => 'vs ORT')} timing |`,
    `|---:|---:|---:|${tf ? '---:|' : ''}${ort ? '---:|' : ''}---:|---:|${tf ? '---:|' : ''}${ort ? '---:|' : ''}---:|${tf ? '---:|' : ''}${ort ? '---:|' : ''}---|`,
    ...r.rows.map(
      (x) =>
        `| ${x.batch} | ${x.binary.medianMs.toFixed(3)} | ${x.f32.medianMs.toFixed(3)} |${peer(tf, () => x.tfjs?.medianMs.toFixed(3) ?? '')}${peer(ort, () => x.ort?.medianMs.toFixed(3) ?? '')} ${Math.round(x.binary.samplesPerSecond)} | ` +
        `${Math.round(x.f32.samplesPerSecond)} |${peer(tf, () => (x.tfjs ? String(Math.round(x.tfjs.samplesPerSecond)) : ''))}${peer(ort, () => (x.ort ? String(Math.round(x.ort.samplesPerSecond)) : ''))} **${x.speedup.toFixed(1)}x** (${x.rounds.map((r) => r.speedup.toFixed(1)).join(', ')}) |` +
        `${peer(tf, () => (x.tfjs ? (x.tfjs.medianMs / x.binary.medianMs).toFixed(1) + 'x' : ''))}${peer(ort, () => (x.ort ? (x.ort.medianMs / x.binary.medianMs).toFixed(1) + 'x' : ''))} ${x.rounds.length} rounds, ${x.binary.reps}/${x.f32.reps} passes, ${x.binary.source} |`,
    ),
    ...(r.tfjsAbsent ? ['', `TF.js column absent: ${r.tfjsAbsent}`] : []),
    ...(r.ortAbsent ? ['', `ORT column absent: ${r.ortAbsent}`] : []),
    ...r.rows.filter((x) => x.ortSkipped).map((x) => `ORT absent at batch ${x.batch}: ${x.ortSkipped}`),
    ...(r.functional
      ? [
          '',
          "The same network as Larq's example writes it (functional, standalone SteSign layers, biases; +-1 pixels) against mnistMlp(), same rounds:",
          '',
          '| batch | functional ms | mnistMlp() ms | time ratio |',
          '|---:|---:|---:|---:|',
          ...r.functional.rows.map((x) => `| ${x.batch} | ${x.functionalMs.toFixed(3)} | ${x.zooMs.toFixed(3)} | **${x.ratio.toFixed(2)}x** (${x.rounds.map((v) => v.toFixed(2)).join(', ')}) |`),
        ]
      : []),
  ].join('\n');
}
