// ONNX Runtime Web as the benchmarks' second peer: the ONNX graphs bench/onnx-model.ts writes run in
// ORT's WebGPU EP and equal the CPU reference (the check the suites make before timing), and the
// ORT column appears in small runs of the mlp, models and conv suites.
import { describe, expect, test } from 'vitest';
import { onnxConv, onnxModel } from '../bench/onnx-model.js';
import { loadOrtWebgpu, ortUnavailable, timeOrtModel, timeOrtSpec, type Ort } from '../bench/ort.js';
import { randomInputs, randomizeWeights } from '../bench/random-weights.js';
import { SUITES } from '../bench/suites.js';
import type { Model } from '../src/model/model.js';
import { referenceForward } from '../src/model/reference.js';
import { conv2dReference } from '../src/ops/conv2d.js';
import { Random } from '../src/random.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';
import { biRealNet } from '../src/zoo/bireal-net.js';
import { useGpu } from './helpers/gpu.js';

const gpu = useGpu();

async function ort(): Promise<Ort> {
  const o = await loadOrtWebgpu();
  if (!o) throw new Error(`onnxruntime-web is a dev dependency and must load here: ${ortUnavailable()}`);
  return o;
}

/** `model` with random weights through ORT's WebGPU EP, checked against the CPU reference on `batch` inputs. */
async function checkModel(model: Model, batch: number, floatSafe = false): Promise<string> {
  const rng = new Random(3);
  randomizeWeights(model, rng, { floatSafe });
  const [x] = randomInputs(model, rng, batch);
  const want = referenceForward(model.spec, [x], batch).get(model.outputs[0])!.data;
  const t = await timeOrtSpec(await ort(), model.spec, { x, batch, check: { x, batch, want } }, { warmup: 0, reps: 1 });
  if ('skipped' in t) throw new Error(t.skipped);
  // The inputs hold exact zeros: ste_sign(0) must be +1 (Larq), which ONNX's Sign would make 0.
  expect(x.some((v) => v === 0)).toBe(true);
  return t.check;
}

describe('ONNX translation in ONNX Runtime Web (WebGPU EP)', () => {
  test('a small seed MLP (784-24-20-10, ste_sign, BatchNorm, softmax) equals the CPU reference', async () => {
    expect(await checkModel(mnistMlp({ hidden: [24, 20] }), 3)).toMatch(/ORT output = the CPU reference within 1e-4 relative on 3 samples/);
  }, 120_000);

  test("a narrow Bi-Real Net (same convs, Add shortcuts, global average pooling) equals the CPU reference", async () => {
    expect(await checkModel(biRealNet({ filters: [8, 16, 16], blocks: [1, 1, 1], inputShape: [12, 12, 3] }), 1, true)).toMatch(/ORT output = the CPU reference/);
  }, 120_000);

  test('one same convolution equals the CPU reference exactly', async () => {
    const rng = new Random(5);
    const [N, H, C, O] = [2, 5, 7, 3];
    const sign = (v: number) => (v < 0 ? -1 : 1);
    const x = rng.floats(N * H * H * C).map(sign);
    const w = rng.floats(O * 9 * C).map(sign);
    const want = conv2dReference(x, [N, H, H, C], w, [O, 3, 3, C], { padding: 'same' });
    const t = await timeOrtModel(await ort(), onnxConv(w, [O, 3, 3, C], [H, H]), { x, shape: [N, H, H, C], check: { x, shape: [N, H, H, C], want, tolerance: 0, what: 'the CPU reference' } }, { warmup: 0, reps: 1 });
    expect(t.check).toBe(`ORT output = the CPU reference on all ${N * H * H * O} outputs`);
  }, 60_000);

  test('the graph is a valid ONNX model for other runtimes too (the wasm EP gives the same output)', async () => {
    const o = await ort();
    const model = mnistMlp({ hidden: [16] });
    const rng = new Random(4);
    randomizeWeights(model, rng);
    const [x] = randomInputs(model, rng, 2);
    const want = referenceForward(model.spec, [x], 2).get(model.outputs[0])!.data;
    const session = await o.InferenceSession.create(onnxModel(model.spec), { executionProviders: ['wasm'] });
    try {
      const out = await session.run({ x: new o.Tensor('float32', x, [2, 28, 28, 1]) });
      const got = out[session.outputNames[0]].data as Float32Array;
      got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(want[i]))));
    } finally {
      await session.release();
    }
  }, 60_000);
});

describe('the ORT column in the suites (tiny shapes)', () => {
  test('mlp: ORT timed beside binary and fp32, checked first', async () => {
    const r = await SUITES.mlp.run(gpu(), { batches: [2], reps: 1, warmup: 0, rounds: 1, tfjs: false, functional: false });
    const row = (r as { rows: { ort?: { medianMs: number; check: string } }[] }).rows[0];
    expect(row.ort?.check).toMatch(/ORT output = the CPU reference within 1e-4 relative/);
    expect(row.ort!.medianMs).toBeGreaterThan(0);
    expect(SUITES.mlp.markdown(r)).toMatch(/\| ORT ms \|.*\| ORT samples\/s \|.*\| vs ORT \|/);
  }, 180_000);

  // cnv-tiny: valid convolutions, max pooling, dense layers, each checked against the CPU reference before timing.
  test('models: cnv-tiny gets an ORT column', async () => {
    const r = await SUITES.models.run(gpu(), { models: ['cnv-tiny'], reps: 1, warmup: 0, rounds: 1, tfjs: false });
    const row = (r as { rows: { ort?: { imagesPerSecond: number }; ortSkipped?: string }[] }).rows[0];
    expect(row.ortSkipped).toBeUndefined();
    expect(row.ort!.imagesPerSecond).toBeGreaterThan(0);
    expect(SUITES.models.markdown(r)).toContain('ORT images/s');
  }, 180_000);

  test('ort: false leaves the column out without a reason to give', async () => {
    const r = await SUITES.mlp.run(gpu(), { batches: [1], reps: 1, warmup: 0, rounds: 1, tfjs: false, ort: false, functional: false });
    expect((r as { rows: { ort?: unknown }[] }).rows[0].ort).toBeUndefined();
    expect((r as { ortAbsent?: string }).ortAbsent).toBeUndefined();
    expect(SUITES.mlp.markdown(r)).not.toContain('ORT');
  }, 120_000);
});
