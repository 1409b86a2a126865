// Keras .h5 and .keras files read directly (src/io/keras-files.ts): every Keras fixture loads from
// its .h5 and .keras files to the same model as from the TF.js converter's model.json (layers and
// weights bit for bit) and computes Keras's recorded outputs; formats are told by extension and
// magic bytes; truncated, damaged and inconsistent files give ModelFormatErrors naming the file and
// what is wrong (a table, then seeded fuzzing).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { startStaticServer } from './helpers/browser.js';
import { loadModel } from '../src/io/model-files.js';
import { formatFromBytes, formatFromName, kerasToTfjs, readKerasModel } from '../src/io/keras-files.js';
import { crc32, readZipEntry, zipEntries } from '../src/io/zip.js';
import { readNpy } from '../src/io/npy.js';
import { ModelFormatError } from '../src/model/layer-config.js';
import { referenceForward } from '../src/model/reference.js';
import type { Model } from '../src/model/model.js';
import { Random } from '../src/random.js';

const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const KERAS = join(FIXTURES, 'keras');
/** Fixtures with Keras files: [name, its model.json directory, .h5 path, .keras path or undefined]. */
const CASES: [string, string, string, string | undefined][] = [
  ...readdirSync(KERAS)
    .filter((d) => existsSync(join(KERAS, d, 'model.h5')))
    .map((d): [string, string, string, string] => [d, join(KERAS, d), join(KERAS, d, 'model.h5'), join(KERAS, d, 'model.keras')]),
  // Keras 2 (tf-keras) .h5 files, laid out by scripts/fixtures/make_keras2_h5.py from the Keras 2 fixtures.
  ...['keras2-mlp', 'keras2-seed000'].map((d): [string, string, string, undefined] => [d, join(KERAS, d), join(FIXTURES, 'keras-files', `${d}.h5`), undefined]),
];
// A .keras without the `name` attributes older Keras 3 versions did not write (scripts/fixtures/make_keras_file_cases.py).
const UNNAMED = join(FIXTURES, 'keras-files', 'convnet-unnamed.keras');

const bytesOf = (path: string) => new Uint8Array(readFileSync(path));

async function attempt<T>(f: () => Promise<T>): Promise<T | Error> {
  try {
    return await f();
  } catch (e) {
    return e as Error;
  }
}

interface Expected {
  input: string;
  output: string;
  layers: { layer: string; file: string; kind: 'binary' | 'integer' | 'float' }[];
}

/** The model's reference outputs against Keras's: argmax exact, probabilities within 1e-5, binary and integer outputs exactly, other floats within 1e-5 of the layer's largest magnitude. */
function checkAgainstKeras(model: Model, dir: string): void {
  const exp: Expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
  const x = readNpy(readFileSync(join(dir, exp.input)));
  const got = referenceForward(model.spec, [Float32Array.from(x.data as ArrayLike<number>)], x.shape[0]);
  for (const l of exp.layers) {
    const want = Float64Array.from(readNpy(readFileSync(join(dir, l.file))).data as ArrayLike<number>);
    const ours = got.get(l.layer)?.data;
    expect(ours, `layer ${l.layer}`).toBeDefined();
    expect(ours!.length, `layer ${l.layer}`).toBe(want.length);
    if (l.kind !== 'float') {
      const bad = want.findIndex((v, i) => v !== ours![i]);
      expect(bad, `${l.layer} (${l.kind}): first mismatch at ${bad}: ${ours![bad]} vs Keras ${want[bad]}`).toBe(-1);
      continue;
    }
    const tol = l.layer === exp.output ? 1e-5 : 1e-5 * Math.max(1, ...want.map(Math.abs));
    const worst = want.reduce((m, v, i) => Math.max(m, Math.abs(v - ours![i])), 0);
    expect(worst, `${l.layer}: largest difference from Keras`).toBeLessThanOrEqual(tol);
  }
  const out = got.get(exp.output)!;
  const want = readNpy(readFileSync(join(dir, exp.layers.find((l) => l.layer === exp.output)!.file))).data as ArrayLike<number>;
  const classes = out.shape[out.shape.length - 1];
  const argmax = (a: ArrayLike<number>, r: number) => Array.from({ length: classes }, (_, c) => a[r * classes + c]).reduce((b, v, c, all) => (v > all[b] ? c : b), 0);
  for (let r = 0; r < out.shape[0]; r++) expect(argmax(out.data, r), `sample ${r}: argmax`).toBe(argmax(want, r));
}

function sameModel(a: Model, b: Model): void {
  expect(b.spec.layers).toEqual(a.spec.layers);
  expect(b.spec.inputs).toEqual(a.spec.inputs);
  expect(b.spec.outputs).toEqual(a.spec.outputs);
  expect([...b.spec.weights.keys()].sort()).toEqual([...a.spec.weights.keys()].sort());
  for (const [k, w] of a.spec.weights) {
    const v = b.spec.weights.get(k)!;
    expect(v.shape, k).toEqual(w.shape);
    expect(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength).equals(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength)), `${k}: bit for bit`).toBe(true);
  }
}

describe('Keras files: every fixture from .h5 and .keras as from model.json', () => {
  it.each(CASES)('%s', async (_, dir, h5, keras) => {
    const fromJson = await attempt(() => loadModel(dir));
    for (const file of [h5, keras].filter((f): f is string => f !== undefined)) {
      const loaded = await attempt(() => loadModel(file));
      if (fromJson instanceof Error) throw fromJson;
      if (loaded instanceof Error) throw loaded;
      sameModel(fromJson, loaded);
      checkAgainstKeras(loaded, dir);
    }
  });

  it("weights saved under Larq's quantized_scope(True) (binary kernels already +-1) load as the latent ones do, with the same outputs", async () => {
    const dir = join(KERAS, 'keras2-seed000');
    const latent = await loadModel(dir);
    const quantized = await loadModel(join(FIXTURES, 'keras-files', 'keras2-seed000-quantized.h5'));
    for (const [k, w] of latent.spec.weights) {
      const q = quantized.weight(k).data;
      const binary = k.endsWith('/kernel');
      expect([...q].every((v, i) => v === (binary ? (w.data[i] < 0 ? -1 : 1) : w.data[i])), `${k}: ${binary ? 'sign(latent)' : 'as saved'}`).toBe(true);
    }
    checkAgainstKeras(quantized, dir);
  });

  it('a .keras whose vars groups do not name their layers: matched as Keras names the groups', async () => {
    const dir = join(KERAS, 'convnet');
    const m = await loadModel(UNNAMED);
    sameModel(await loadModel(dir), m);
    checkAgainstKeras(m, dir);
  });

  it('the same bytes load as an ArrayBuffer, a view and a named Blob; a JSON config inside is the converter form', async () => {
    const [, dir, h5, keras] = CASES.find((c) => c[0] === 'mlp')!;
    const json = await loadModel(dir);
    const k = bytesOf(keras!);
    sameModel(json, await loadModel(k.slice().buffer));
    sameModel(json, await loadModel(new Uint8Array([0, 0, ...k]).subarray(2)));
    sameModel(json, await loadModel(new Blob([bytesOf(h5)]), { name: 'upload.h5' }));
    const { modelJson } = await kerasToTfjs(bytesOf(h5), h5);
    expect(Object.keys(modelJson.modelTopology as object)).toEqual(['keras_version', 'backend', 'model_config']);
    expect((modelJson.weightsManifest as { weights: { name: string }[] }[])[0].weights.map((w) => w.name).sort()).toEqual([...json.spec.weights.keys()].sort());
  });
});

// ---- the command line (dist/, built by npm test) ----

describe('bnn convert and predict with Keras files', () => {
  const bnn = (...args: string[]) => promisify(execFile)(process.execPath, ['dist/src/cli/bnn.js', ...args], { encoding: 'utf8' });
  const h5 = join(FIXTURES, 'keras-files', 'keras2-seed000.h5');
  const dir = join(KERAS, 'keras2-seed000');
  const temps: string[] = [];
  const tempDir = (prefix: string) => {
    temps.push(mkdtempSync(join(tmpdir(), prefix)));
    return temps[temps.length - 1];
  };
  afterAll(() => temps.forEach((t) => rmSync(t, { recursive: true, force: true })));

  it('convert writes TF.js files that load as the .h5 does; --pack stores the binary kernels as bits, same outputs', { timeout: 60_000 }, async () => {
    const out = tempDir('bnn-convert-');
    const source = await loadModel(h5);
    expect((await bnn('convert', h5, join(out, 'plain'))).stdout).toMatch(/12 layers, 17 weights, 13418 parameters\nwrote .*model\.json/);
    sameModel(source, await loadModel(join(out, 'plain')));
    expect((await bnn('convert', h5, join(out, 'packed'), '--pack')).stdout).toMatch(/1-bit kernels packed/);
    const packed = await loadModel(join(out, 'packed'));
    expect(readFileSync(join(out, 'packed', 'group1-shard1of1.bin')).length).toBeLessThan(readFileSync(join(out, 'plain', 'group1-shard1of1.bin')).length / 10);
    const kernel = packed.weight('first_hidden_layer/kernel').data;
    expect([...kernel].every((v, i) => v === (source.weight('first_hidden_layer/kernel').data[i] < 0 ? -1 : 1))).toBe(true);
    checkAgainstKeras(packed, dir);
    await expect(bnn('convert', h5)).rejects.toThrow(/convert needs IN OUT/);
    await expect(bnn('convert', h5, join(out, 'x'), '--packed')).rejects.toThrow(/unknown option --packed \(did you mean --pack\?\)/);
  });

  it.each([
    ['a Keras 2 .h5', h5, dir],
    ['a Keras 3 .keras (binary conv net)', join(KERAS, 'convnet', 'model.keras'), join(KERAS, 'convnet')],
  ])('predict --model with %s computes Keras\'s outputs on the GPU', { timeout: 120_000 }, async (_, model, fixture) => {
    const exp: Expected = JSON.parse(readFileSync(join(fixture, 'expected.json'), 'utf8'));
    const out = tempDir('bnn-predict-');
    await bnn('predict', '--model', model, '--input', join(fixture, exp.input), '--output', join(out, 'y.npy'));
    const y = readNpy(readFileSync(join(out, 'y.npy'))).data as Float32Array;
    const want = readNpy(readFileSync(join(fixture, exp.layers.find((l) => l.layer === exp.output)!.file))).data as Float32Array;
    expect(y.length).toBe(want.length);
    expect(y.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0)).toBeLessThanOrEqual(1e-5);
  });
});

// ---- formats: extension and magic bytes ----

describe('Keras files: format by extension, checked by magic bytes', () => {
  const h5 = bytesOf(join(KERAS, 'mlp', 'model.h5'));
  const keras = bytesOf(join(KERAS, 'mlp', 'model.keras'));

  it('tells formats apart', () => {
    expect([formatFromName('a/model.h5'), formatFromName('m.HDF5'), formatFromName('https://x/m.keras?v=2'), formatFromName('model.json'), formatFromName('model.bin')]).toEqual(['h5', 'h5', 'keras', 'json', undefined]);
    expect([formatFromBytes(h5), formatFromBytes(keras), formatFromBytes(new TextEncoder().encode(' \n{"a":1}')), formatFromBytes(new Uint8Array(8))]).toEqual(['h5', 'keras', 'json', undefined]);
  });

  it.each([
    ['an HDF5 file named .keras', h5, 'model.keras', /model\.keras: named as a zip archive \(\.keras\), but its bytes are an HDF5 file \(\.h5\); rename it/],
    ['a zip named .h5', keras, 'model.h5', /model\.h5: named as an HDF5 file \(\.h5\), but its bytes are a zip archive \(\.keras\)/],
    ['JSON named .h5', new TextEncoder().encode('{"modelTopology": {}}'), 'model.h5', /model\.h5: named as an HDF5 file.*its bytes are JSON/],
    ['garbage named .keras', new Uint8Array(64).fill(7), 'model.keras', /model\.keras: neither an HDF5 file nor a zip archive nor JSON \(first bytes 07 07/],
    ['bytes of a model.json', new TextEncoder().encode('{"modelTopology": {}}'), 'x.json', /x\.json: a model\.json, which needs its weight shards/],
    ['empty bytes', new Uint8Array(0), 'upload.h5', /upload\.h5: neither/],
  ])('refuses %s', async (_, bytes, name, re) => {
    const e = await attempt(() => loadModel(bytes.slice().buffer, { name }));
    expect(e).toBeInstanceOf(ModelFormatError);
    expect((e as Error).message).toMatch(re);
  });

  it('a model.json path whose bytes are HDF5 says so; a missing file is named', async () => {
    const e = await attempt(() => loadModel(join(FIXTURES, 'keras-files', 'keras2-mlp.h5'), { format: 'keras' }));
    expect((e as Error).message).toMatch(/keras2-mlp\.h5: named as a zip archive/);
    expect(((await attempt(() => loadModel('/nonexistent/model.keras'))) as Error).message).toMatch(/\/nonexistent\/model\.keras: no such file/);
  });

  it('Node fetches a URL: the model, an HTTP error named, a Content-Length over the limit refused before the body is read', async () => {
    const server = await startStaticServer(FIXTURES);
    try {
      sameModel(await loadModel(join(KERAS, 'mlp')), await loadModel(`${server.url}keras/mlp/model.keras`));
      expect(((await attempt(() => loadModel(`${server.url}keras/mlp/missing.h5`))) as Error).message).toMatch(/http:.*\/keras\/mlp\/missing\.h5: HTTP 404/);
      const e = await attempt(() => loadModel(`${server.url}keras/mlp/model.h5`, { limits: { maxBytes: 1000 } }));
      expect((e as Error).message).toMatch(/model\.h5: 109968 bytes \(Content-Length\), more than the 1000 allowed/);
    } finally {
      await server.close();
    }
  });

  it('a file over the size limit is refused before it is read', async () => {
    const e = await attempt(() => loadModel(join(KERAS, 'mlp', 'model.h5'), { limits: { maxBytes: 50_000 } }));
    expect((e as Error).message).toMatch(/model\.h5: 109,968 bytes, more than the 50,000 allowed/);
  });
});

// ---- damaged and inconsistent files ----

/** A zip of stored (or deflated) entries, as Python's zipfile writes them. */
function writeZip(entries: { name: string; data: Uint8Array; deflate?: boolean }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let off = 0;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const body = e.deflate ? new Uint8Array(deflateRawSync(e.data)) : e.data;
    const head = (sig: number, size: number) => {
      const h = new DataView(new ArrayBuffer(size));
      h.setUint32(0, sig, true);
      return h;
    };
    const local = head(0x04034b50, 30);
    local.setUint16(4, 20, true);
    local.setUint16(8, e.deflate ? 8 : 0, true);
    local.setUint32(14, crc32(e.data), true);
    local.setUint32(18, body.length, true);
    local.setUint32(22, e.data.length, true);
    local.setUint16(26, name.length, true);
    const cd = head(0x02014b50, 46);
    cd.setUint16(4, 20, true);
    cd.setUint16(6, 20, true);
    cd.setUint16(10, e.deflate ? 8 : 0, true);
    cd.setUint32(16, crc32(e.data), true);
    cd.setUint32(20, body.length, true);
    cd.setUint32(24, e.data.length, true);
    cd.setUint16(28, name.length, true);
    cd.setUint32(42, off, true);
    parts.push(new Uint8Array(local.buffer), name, body);
    central.push(new Uint8Array(cd.buffer), name);
    off += 30 + name.length + body.length;
  }
  const cdSize = central.reduce((a, p) => a + p.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, cdSize, true);
  end.setUint32(16, off, true);
  const all = [...parts, ...central, new Uint8Array(end.buffer)];
  const out = new Uint8Array(all.reduce((a, p) => a + p.length, 0));
  let p = 0;
  for (const a of all) {
    out.set(a, p);
    p += a.length;
  }
  return out;
}

/** The mlp fixture's .keras entries, to be edited and zipped again. */
async function kerasEntries(): Promise<{ name: string; data: Uint8Array }[]> {
  const bytes = bytesOf(join(KERAS, 'mlp', 'model.keras'));
  return Promise.all([...zipEntries(bytes, 'model.keras').values()].map(async (e) => ({ name: e.name, data: await readZipEntry(bytes, e, 'model.keras', 1 << 30) })));
}

const editConfig = (entries: { name: string; data: Uint8Array }[], edit: (c: any) => void) =>
  entries.map((e) => {
    if (e.name !== 'config.json') return e;
    const c = JSON.parse(new TextDecoder().decode(e.data));
    edit(c);
    return { name: e.name, data: new TextEncoder().encode(JSON.stringify(c)) };
  });

/** `z` with the central directory entry of `name` edited by `edit(view, offset of the entry)`. */
function patchCentral(z: Uint8Array, name: string, edit: (v: DataView, p: number) => void): Uint8Array {
  const v = new DataView(z.buffer, z.byteOffset, z.byteLength);
  const want = new TextEncoder().encode(name);
  for (let p = z.length - 22; p >= 0; p--) {
    if (v.getUint32(p, true) === 0x02014b50 && v.getUint16(p + 28, true) === want.length && want.every((b, i) => z[p + 46 + i] === b)) {
      edit(v, p);
      return z;
    }
  }
  throw new Error(`no central directory entry "${name}"`);
}

/** Replaces one same-length byte string in a file (a config value inside an HDF5 attribute). */
function replaceBytes(bytes: Uint8Array, from: string, to: string): Uint8Array {
  expect(to.length).toBe(from.length);
  const text = Buffer.from(bytes).toString('latin1');
  const at = text.indexOf(from);
  expect(at, `"${from}" in the file`).toBeGreaterThanOrEqual(0);
  const out = bytes.slice();
  out.set(Buffer.from(to, 'latin1'), at);
  return out;
}

const mlpH5 = () => bytesOf(join(KERAS, 'mlp', 'model.h5'));
const mlpKeras = () => bytesOf(join(KERAS, 'mlp', 'model.keras'));
const cut = (b: Uint8Array, n: number) => b.slice(0, n);
const flip = (b: Uint8Array, at: number) => {
  const c = b.slice();
  c[at < 0 ? c.length + at : at] ^= 0xff;
  return c;
};

/** [description, file name, bytes (made lazily), expected message]. */
const MALFORMED: [string, string, () => Uint8Array | Promise<Uint8Array>, RegExp][] = [
  ['.h5 cut after the signature', 'model.h5', () => cut(mlpH5(), 12), /^model\.h5: 12 bytes, shorter than an HDF5 superblock; the file is truncated/],
  ['.h5 cut at 1 KB', 'model.h5', () => cut(mlpH5(), 1024), /^model\.h5: its HDF5 superblock says the file is 109968 bytes, but it has 1024; the file is truncated/],
  ['.h5 cut at half', 'model.h5', () => cut(mlpH5(), 55_000), /^model\.h5: .* but it has 55000; the file is truncated/],
  ['.h5 cut 1 byte short', 'model.h5', () => cut(mlpH5(), 109_967), /^model\.h5: .* but it has 109967; the file is truncated/],
  ['.h5 signature damaged', 'model.h5', () => flip(mlpH5(), 1), /^model\.h5: neither an HDF5 file/],
  ['.h5 superblock version damaged', 'model.h5', () => flip(mlpH5(), 8), /^model\.h5: HDF5 superblock version 255 is not read/],
  ['.h5 root group address damaged', 'model.h5', () => flip(mlpH5(), 64), /^model\.h5: the HDF5 data cannot be read \(.*\); the file is truncated or damaged/],
  ['.h5 config names 33 units where the kernel has 32', 'model.h5', () => replaceBytes(mlpH5(), '"units": 32', '"units": 33'), /^model\.h5, model_weights\/quant_dense\/mlp\/quant_dense\/kernel: shape \[100,32\], the layer config implies \[100,33\]/],
  ['.h5 config with a bias the file lacks', 'model.h5', () => replaceBytes(mlpH5(), '"use_bias": false,', '"use_bias": true, '), /^model\.h5, model_weights\/quant_dense: holds 1 weights \(mlp\/quant_dense\/kernel\), but the config implies 2 \(kernel, bias\)/],
  ['.h5 weight renamed', 'model.h5', () => replaceBytes(mlpH5(), 'mlp/quant_dense_1/kernel', 'mlp/quant_dense_1/kernal'), /^model\.h5, model_weights\/quant_dense_1\/mlp\/quant_dense_1\/kernal: "kernal" is not a weight of layer "quant_dense_1", whose config implies kernel/],
  ['.h5 config not JSON', 'model.h5', () => replaceBytes(mlpH5(), '{"class_name": "Sequential"', '{"class_name"= "Sequential"'), /^model\.h5, attribute model_config: not valid JSON/],
  ['.keras cut in its central directory', 'model.keras', () => cut(mlpKeras(), 108_300), /^model\.keras: no zip end-of-central-directory record/],
  ['.keras cut at half', 'model.keras', () => cut(mlpKeras(), 54_000), /^model\.keras: no zip end-of-central-directory record/],
  ['.keras zip end record damaged', 'model.keras', () => flip(mlpKeras(), -6), /^model\.keras: (the central directory|no zip end|central directory entry)/],
  ['.keras weights damaged (CRC)', 'model.keras', () => flip(mlpKeras(), 60_000), /^model\.keras: zip entry "model\.weights\.h5": CRC-32 mismatch/],
  ['.keras local header damaged', 'model.keras', () => flip(mlpKeras(), 0), /^model\.keras: (neither|zip entry "metadata\.json": its local header)/],
  ['.keras without model.weights.h5', 'model.keras', async () => writeZip((await kerasEntries()).filter((e) => e.name !== 'model.weights.h5')), /^model\.keras: zip entry "model\.weights\.h5" is missing \(entries: metadata\.json, config\.json\)/],
  ['.keras without config.json', 'model.keras', async () => writeZip((await kerasEntries()).filter((e) => e.name !== 'config.json')), /^model\.keras: zip entry "config\.json" is missing/],
  ['.keras config implies another kernel shape', 'model.keras', async () => writeZip(editConfig(await kerasEntries(), (c) => (c.config.layers[2].config.units = 31))), /^model\.keras: model\.weights\.h5, layers\/quant_dense\/vars\/0 \(layer "quant_dense", kernel\): shape \[100,32\], the layer config implies \[100,31\]/],
  ['.keras config implies a bias (weight count)', 'model.keras', async () => writeZip(editConfig(await kerasEntries(), (c) => (c.config.layers[2].config.use_bias = true))), /^model\.keras: model\.weights\.h5, layers\/quant_dense\/vars: holds 1 variables \(0\) for layer "quant_dense", whose config implies 2 \(kernel, bias\)/],
  ['.keras config with a layer the weights lack', 'model.keras', async () => writeZip(editConfig(await kerasEntries(), (c) => (c.config.layers[2].config.name = 'renamed'))), /^model\.keras: model\.weights\.h5: has no variables for layer "renamed"/],
  ['.keras model.weights.h5 not HDF5', 'model.keras', async () => writeZip((await kerasEntries()).map((e) => (e.name === 'model.weights.h5' ? { ...e, data: new Uint8Array(100) } : e))), /^model\.keras: model\.weights\.h5: not an HDF5 file/],
  ['.keras entry inflating past its size', 'model.keras', async () => patchCentral(writeZip((await kerasEntries()).map((e) => ({ ...e, deflate: true }))), 'config.json', (v, p) => v.setUint32(p + 24, 100, true)), /^model\.keras: zip entry "config\.json" inflates to more than its declared 100 bytes/],
  ['.keras entry declaring more than the limit', 'model.keras', async () => patchCentral(writeZip((await kerasEntries()).map((e) => ({ ...e, deflate: true }))), 'model.weights.h5', (v, p) => v.setUint32(p + 24, 2 ** 31, true)), /^model\.keras: zip entry "model\.weights\.h5" declares 2147483648 bytes, more than the limit of 1073741824/],
  ['.keras entry running past the archive', 'model.keras', () => patchCentral(mlpKeras(), 'model.weights.h5', (v, p) => (v.setUint32(p + 20, 2 ** 31, true), v.setUint32(p + 24, 2 ** 31, true))), /^model\.keras: zip entry "model\.weights\.h5": 2147483648 bytes at \d+ run into the central directory/],
  ['.keras entry with ZIP64 sizes', 'model.keras', () => patchCentral(mlpKeras(), 'config.json', (v, p) => v.setUint32(p + 24, 0xffffffff, true)), /^model\.keras: zip entry "config\.json" has ZIP64 sizes/],
  // Made by scripts/fixtures/make_keras_file_cases.py: variables the reader has no place for.
  ['.keras with variables of the model itself', 'model.keras', () => bytesOf(join(FIXTURES, 'keras-files', 'model-vars.keras')), /^model\.keras: model\.weights\.h5, vars: holds variables of the model itself/],
  ['.keras with variables of a sub-layer', 'model.keras', () => bytesOf(join(FIXTURES, 'keras-files', 'nested-vars.keras')), /^model\.keras: model\.weights\.h5, layers\/quant_conv2d\/kernel_quantizer: holds variables of a nested layer/],
  ['.h5 with variables of the model itself', 'model.h5', () => bytesOf(join(FIXTURES, 'keras-files', 'model-vars.h5')), /^model\.h5, model_weights\/top_level_model_weights: holds variables of the model itself/],
];

describe('Keras files: malformed files', () => {
  it.each(MALFORMED.map((c) => [c[0], c] as const))('rejects: %s', async (_, [, name, make, re]) => {
    const e = await attempt(async () => readKerasModel(await make(), name));
    expect(e).toBeInstanceOf(ModelFormatError);
    expect((e as Error).message).toMatch(re);
  });

  it('a deflated archive (re-zipped by another tool) reads as the stored one', async () => {
    const stored = await readKerasModel(mlpKeras(), 'model.keras');
    sameModel(stored, await readKerasModel(writeZip((await kerasEntries()).map((e) => ({ ...e, deflate: true }))), 'deflated.keras'));
  });

  it('fuzz: seeded truncations and byte flips of .h5 and .keras files load or throw ModelFormatError, never anything else', async () => {
    const rng = new Random(17);
    const files = [mlpH5(), mlpKeras(), bytesOf(join(KERAS, 'convnet', 'model.h5')), bytesOf(join(FIXTURES, 'keras-files', 'keras2-mlp.h5'))];
    let rejected = 0;
    for (let trial = 0; trial < 120; trial++) {
      const i = rng.int(files.length);
      let b = files[i].slice();
      if (rng.int(3) === 0) b = b.slice(0, rng.int(b.length));
      else for (let k = 1 + rng.int(4); k > 0; k--) b[rng.int(Math.min(b.length, 8192))] ^= 1 << rng.int(8); // the structure sits in the first pages
      const e = await attempt(() => readKerasModel(b, `fuzz-${trial}${i === 1 ? '.keras' : '.h5'}`));
      if (e instanceof Error && !(e instanceof ModelFormatError)) throw new Error(`trial ${trial} (file ${i}): ${e.stack}`);
      if (e instanceof ModelFormatError) {
        expect(e.message.startsWith(`fuzz-${trial}`), e.message).toBe(true);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(40);
  });
});
