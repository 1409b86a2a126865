// The benchmark suites run end to end on tiny shapes: each checks its results before timing, so
// a broken kernel, a broken check or a broken option shows up here, not only in `bnn bench`.
import { describe, expect, test } from 'vitest';
import { SUITES } from '../bench/suites.js';
import { useGpu } from './helpers/gpu.js';

const gpu = useGpu();

describe('benchmark suites (tiny shapes)', () => {
  test('gemm: binary and fp32 checked, timed, speed-up reported', async () => {
    const r = await SUITES.gemm.run(gpu(), { shapes: [[33, 17, 70]], reps: 1, warmup: 0, tfjs: false });
    expect(r.benchmark).toBe('gemm');
    const row = (r as { rows: { speedup: number; binary: { check: string } }[] }).rows[0];
    expect(row.speedup).toBeGreaterThan(0);
    expect(row.binary.check).toMatch(/^exact/);
    expect(SUITES.gemm.markdown(r)).toContain('33 x 17 x 70');
  });

  test('conv: binary equals fp32, timed', async () => {
    const r = await SUITES.conv.run(gpu(), { layers: [{ name: 'tiny 33->5 @6', size: 6, cin: 33, cout: 5 }], batch: 2, reps: 1, warmup: 0 });
    expect(r.benchmark).toBe('conv');
    expect(SUITES.conv.markdown(r)).toContain('tiny 33->5 @6');
    // TF.js's tf.conv2d beside them (a dev dependency: present here), checked equal to our fp32 first.
    const row = (r as { rows: { tfjs?: { medianMs: number; check: string } }[] }).rows[0];
    expect(row.tfjs?.check).toMatch(/TF.js conv2d = our fp32 conv on all 360 outputs/);
    expect(SUITES.conv.markdown(r)).toContain('TF.js GFLOP/s');
    // ONNX Runtime Web's WebGPU EP too (test/onnx-peer.test.ts checks its models), equal exactly.
    const ort = (r as { rows: { ort?: { medianMs: number; check: string } }[] }).rows[0].ort;
    expect(ort?.check).toBe('ORT output = our fp32 conv on all 360 outputs');
    expect(SUITES.conv.markdown(r)).toContain('ORT GFLOP/s');
  }, 60_000);

  test('train: TF.js float simulation of the step gives our trainer\'s first loss, timed', async () => {
    const r = await SUITES.train.run(gpu(), { batch: 8, reps: 1, warmup: 0, rounds: 1 });
    const t = r as { tfjs?: { medianMs: number; losses: number[]; check: string }; speedupVsTfjs?: number };
    expect(t.tfjs?.check).toMatch(/first-step loss = our trainer's/);
    expect(t.tfjs!.losses[2]).toBeLessThan(t.tfjs!.losses[0]);
    expect(t.speedupVsTfjs).toBeGreaterThan(0);
    expect(SUITES.train.markdown(r)).toMatch(/TF.js WebGPU .* \| \d+ \| \d+ \|/);
  }, 120_000);
});
