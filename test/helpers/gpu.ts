// The GPU fixture of a test file: one Gpu (Node; SwiftShader on machines without a GPU), made
// before the file's tests and destroyed after them. No adapter is a failure of every test that
// asks for the Gpu, with the reason, never a skip. And outputs poisoned before a kernel writes.
import { afterAll, beforeAll } from 'vitest';
import { Gpu } from '../../src/gpu/context.js';
import type { DType, Shape, Tensor } from '../../src/tensor.js';

/** Registers the file's Gpu; call the returned function inside a test to get it. */
export function useGpu(): () => Gpu {
  let gpu: Gpu | undefined;
  let failure: unknown;
  beforeAll(async () => {
    try {
      gpu = await Gpu.create({ log: null });
    } catch (err) {
      failure = err; // rethrown by every test that needs the GPU: they fail, with this reason
    }
  });
  afterAll(() => gpu?.destroy());
  return () => {
    if (!gpu) throw failure ?? new Error('the Gpu fixture was used outside a test');
    return gpu;
  };
}

/** A word no correct kernel writes by accident: a NaN as f32, a huge negative as i32, pad bits set as b1. */
export const POISON_F32_BITS = 0xffbadbad; // a NaN with a payload: fails every float comparison
export const POISON_WORD = 0xdeadbeef;

/** A new tensor whose storage is filled with poison, to pass as a kernel's `out`. */
export function poisoned(gpu: Gpu, shape: Shape, dtype: DType, label = 'poisoned'): Tensor {
  const t = gpu.tensor(shape, dtype, label);
  gpu.write(t, new Uint32Array(t.byteLength / 4).fill(dtype === 'f32' ? POISON_F32_BITS : POISON_WORD));
  return t;
}
