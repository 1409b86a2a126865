// Several Gpus in one process: a regression test for a crash. acquireDevice dropped its Dawn
// instance whenever it made a new one, and Dawn crashed (SIGSEGV/SIGABRT) or hung once the dropped
// instance, whose device was still in use, was garbage-collected. The crash takes the test worker
// down with it, so this lives in its own file.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, test } from 'vitest';
import { Gpu } from '../src/gpu/context.js';
import { pack } from '../src/ops/bitpack.js';
import { useGpu } from './helpers/gpu.js';

const gpu = useGpu();

test('a Gpu keeps working after other Gpus are created, destroyed and garbage-collected', async () => {
  const first = gpu();
  const others = [await Gpu.create({ log: null }), await Gpu.create({ log: null })];
  others[1].destroy();
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  for (const g of [first, others[0]]) {
    const x = g.upload(new Float32Array([1, -1, -0, -3]), [4], 'f32', 'x');
    const p = await pack(g, x);
    expect(Array.from(await p.read())).toEqual([0b1010]);
  }
  others[0].destroy();
});
