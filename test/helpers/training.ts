// The trainer's gradients against the CPU training reference's, one comparison for every test that
// checks a training step: each parameter's gradient (kernels from Keras's layout, [K, N] or HWIO,
// to the trainer's units-first one) within tol(|want|, the largest |want| of that parameter).
import { expect } from 'vitest';
import type { Model } from '../../src/model/model.js';
import type { TrainingStepResult } from '../../src/model/reference-training.js';
import { transposeF32Reference } from '../../src/ops/transpose.js';
import type { Trainer } from '../../src/train/trainer.js';
import { expectClose } from './check.js';

export async function expectGradientsLikeReference(trainer: Trainer, m: Model, want: TrainingStepResult, tol: (v: number, scale: number) => number, note = ''): Promise<void> {
  for (const p of trainer.params) {
    const name = p.param.label;
    const g = want.grads.get(name);
    expect(g, `reference gradient for ${name}`).toBeDefined();
    const units = m.weight(name).shape.at(-1)!;
    const wantG = name.endsWith('/kernel') ? transposeF32Reference(Float32Array.from(g!), g!.length / units, units) : Float32Array.from(g!);
    const scale = wantG.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    expectClose((await p.grad.read()) as Float32Array, wantG, Float32Array.from(wantG, (v) => tol(Math.abs(v), scale)), `gradient ${name}${note ? ` ${note}` : ''}`);
  }
}
