// Keras .h5 and .keras files loaded in a page in headless Chromium: a small page bundled by Vite
// from the library's source loads each fixture by URL (the .h5) and as a File (the .keras), runs
// the CPU reference and the compiled plan on the page's WebGPU, and refuses a truncated file with
// a ModelFormatError. Node computes the same: the reference outputs must be equal bit for bit,
// the GPU's equal Keras's (argmax, probabilities within 1e-5).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libraryPage, type LibraryPage } from './helpers/library-page.js';
import { loadModel } from '../src/io/model-files.js';
import { readNpy } from '../src/io/npy.js';
import { referenceForward } from '../src/model/reference.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = ['mlp', 'convnet', 'seed000'];

interface PageResult {
  adapter?: string;
  error?: string;
  models?: Record<string, { h5: number[]; keras: number[]; gpu: number[]; output: string }>;
  truncated?: { name: string; message: string };
}

const PAGE = `
import { InferencePlan, Gpu, loadModel, readNpy, referenceForward } from 'webgpu-bnn';
async function main() {
  const gpu = await Gpu.create();
  const result = { adapter: gpu.describe(), models: {} };
  try {
    for (const name of ${JSON.stringify(FIXTURES)}) {
      const base = 'fixtures/keras/' + name + '/';
      const x = readNpy(await (await fetch(base + 'input.npy')).arrayBuffer());
      const input = Float32Array.from(x.data);
      const n = x.shape[0];
      const fromUrl = await loadModel(base + 'model.h5');
      const blob = await (await fetch(base + 'model.keras')).blob();
      const fromFile = await loadModel(new File([blob], 'model.keras'));
      const output = fromUrl.outputs[0];
      const plan = await InferencePlan.compile(gpu, fromFile, { maxBatch: n });
      const gpuOut = (await plan.run(input)).get(output).data;
      plan.destroy();
      result.models[name] = {
        output,
        h5: Array.from(referenceForward(fromUrl.spec, [input], n).get(output).data),
        keras: Array.from(referenceForward(fromFile.spec, [input], n).get(output).data),
        gpu: Array.from(gpuOut),
      };
    }
    const h5 = new Uint8Array(await (await fetch('fixtures/keras/mlp/model.h5')).arrayBuffer());
    try {
      await loadModel(new File([h5.subarray(0, 50000)], 'cut.h5'));
    } catch (e) {
      result.truncated = { name: e.name, message: e.message };
    }
  } finally {
    gpu.destroy();
  }
  return result;
}
`;

describe('Keras files in headless Chromium', () => {
  let page: LibraryPage | undefined;

  beforeAll(async () => {
    page = await libraryPage(PAGE, { title: 'keras files', mounts: { '/fixtures/': join(REPO, 'test/fixtures') } });
  }, 180_000);

  afterAll(async () => {
    await page?.close();
  });

  it('loads .h5 by URL and .keras as a File, with Node\'s outputs and Keras\'s; a truncated file is a ModelFormatError', { timeout: 180_000 }, async () => {
    const result = await page!.result<PageResult>();
    expect(result.error, `the page threw; log:\n${page!.log.join('\n')}`).toBeUndefined();
    expect(result.adapter).toBeTruthy();
    for (const name of FIXTURES) {
      const got = result.models![name];
      const dir = join(REPO, 'test/fixtures/keras', name);
      const x = readNpy(readFileSync(join(dir, 'input.npy')));
      const model = await loadModel(join(dir, 'model.h5'));
      const node = Array.from(referenceForward(model.spec, [Float32Array.from(x.data as ArrayLike<number>)], x.shape[0]).get(got.output)!.data);
      expect(got.h5, `${name}: the page's reference from the .h5 equals Node's`).toEqual(node);
      expect(got.keras, `${name}: the page's reference from the .keras equals Node's`).toEqual(node);
      const exp = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
      const keras = readNpy(readFileSync(join(dir, exp.layers.find((l: { layer: string }) => l.layer === exp.output).file))).data as Float32Array;
      expect(got.gpu.length).toBe(keras.length);
      const worst = got.gpu.reduce((m, v, i) => Math.max(m, Math.abs(v - keras[i])), 0);
      expect(worst, `${name}: the page's GPU output against Keras's`).toBeLessThanOrEqual(1e-5);
      const classes = keras.length / x.shape[0];
      const argmax = (a: ArrayLike<number>, r: number) => Array.from({ length: classes }, (_, c) => a[r * classes + c]).reduce((b, v, c, all) => (v > all[b] ? c : b), 0);
      for (let r = 0; r < x.shape[0]; r++) expect(argmax(got.gpu, r), `${name}, sample ${r}`).toBe(argmax(keras, r));
    }
    expect(result.truncated?.name).toBe('ModelFormatError');
    expect(result.truncated?.message).toMatch(/^cut\.h5: its HDF5 superblock says the file is 109968 bytes, but it has 50000; the file is truncated/);
  });
});
