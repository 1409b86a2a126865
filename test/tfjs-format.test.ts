// TF.js Layers model files with Larq classes: parsing both topology forms, several inputs and
// outputs, quantizers (validated, and as layers), packed binary weights, round trips, a table of
// malformed files, and a seeded mutation fuzz (every failure must be a ModelFormatError).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseModel, serializeModel, expectedWeights, ModelFormatError, type ModelSpec } from '../src/model/tfjs-format.js';
import { QUANTIZER_LAYER_CLASSES, layerClass, readLayerConfig } from '../src/model/layer-config.js';
import { QUANTIZERS, getQuantizer } from '../src/model/quantizers.js';
import { sign } from '../src/bitpack.js';
import { Random } from '../src/random.js';

const ste = { class_name: 'SteSign', config: { clip_value: 1.0 } };
const clip = { class_name: 'WeightClip', config: { clip_value: 1.0 } };
const bn = (name: string) => ({ class_name: 'BatchNormalization', config: { name, trainable: true, dtype: 'float32', axis: -1, momentum: 0.999, epsilon: 1e-4, center: true, scale: false, beta_initializer: { class_name: 'Zeros', config: {} } } });
const qdense = (name: string, units: number, extra: Record<string, unknown> = {}) => ({
  class_name: 'QuantDense',
  config: { name, trainable: true, dtype: 'float32', units, activation: 'linear', use_bias: false, kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } }, bias_initializer: { class_name: 'Zeros', config: {} }, kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: structuredClone(clip), bias_constraint: null, input_quantizer: structuredClone(ste), kernel_quantizer: structuredClone(ste), ...extra },
});

/** Larq's BinaryNet MLP: Flatten, 784-512-10 QuantDense (the first without input quantizer), BN, softmax. */
function mlpLayers() {
  return [
    { class_name: 'Flatten', config: { name: 'flatten', trainable: true, dtype: 'float32', batch_input_shape: [null, 28, 28, 1], data_format: 'channels_last' } },
    qdense('quant_dense', 512, { input_quantizer: null }),
    bn('batch_normalization'),
    qdense('quant_dense_1', 10),
    bn('batch_normalization_1'),
    { class_name: 'Activation', config: { name: 'activation', trainable: true, dtype: 'float32', activation: 'softmax' } },
  ];
}
const MLP_WEIGHTS: [string, number[]][] = [
  ['quant_dense/kernel', [784, 512]],
  ['batch_normalization/beta', [512]], ['batch_normalization/moving_mean', [512]], ['batch_normalization/moving_variance', [512]],
  ['quant_dense_1/kernel', [512, 10]],
  ['batch_normalization_1/beta', [10]], ['batch_normalization_1/moving_mean', [10]], ['batch_normalization_1/moving_variance', [10]],
];

function manifest(weights: [string, number[]][], paths = ['group1-shard1of1.bin']) {
  return [{ paths, weights: weights.map(([name, shape]) => ({ name, shape: shape.slice(), dtype: 'float32' })) }];
}
function shardFor(weights: [string, number[]][], seed = 1): ArrayBuffer {
  const n = weights.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
  const data = new Random(seed).floats(n);
  // BatchNorm variances are never negative (the reader refuses them).
  let off = 0;
  for (const [name, shape] of weights) {
    const count = shape.reduce((x, y) => x * y, 1);
    if (name.endsWith('moving_variance')) for (let i = off; i < off + count; i++) data[i] = Math.abs(data[i]);
    off += count;
  }
  return data.buffer as ArrayBuffer;
}

/** The converter's form (model_config inside modelTopology). */
function mlpConverter() {
  return {
    format: 'layers-model', generatedBy: 'keras v2.10.0', convertedBy: 'TensorFlow.js Converter v4.0.0',
    modelTopology: { keras_version: '2.10.0', backend: 'tensorflow', model_config: { class_name: 'Sequential', config: { name: 'sequential', layers: mlpLayers() } }, training_config: {} },
    weightsManifest: manifest(MLP_WEIGHTS),
  };
}
/** tfjs-layers' form (class directly in modelTopology, layers as a bare list). */
function mlpLayersForm() {
  return { modelTopology: { class_name: 'Sequential', config: mlpLayers(), keras_version: 'tfjs-layers 4.0.0', backend: 'tensor_flow.js' }, weightsManifest: manifest(MLP_WEIGHTS) };
}

const conv = (name: string, filters: number, extra: Record<string, unknown> = {}) => ({
  class_name: 'QuantConv2D', name, inbound_nodes: [] as unknown[],
  config: { name, trainable: true, dtype: 'float32', filters, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'linear', use_bias: false, kernel_constraint: structuredClone(clip), input_quantizer: 'ste_sign', kernel_quantizer: 'ste_sign', pad_values: 1.0, ...extra },
});
const node = (src: string) => [[[src, 0, 0, {}]]];
function convModel() {
  const layers = [
    { class_name: 'InputLayer', name: 'input_1', inbound_nodes: [], config: { batch_input_shape: [null, 8, 8, 3], dtype: 'float32', sparse: false, ragged: false, name: 'input_1' } },
    { ...conv('quant_conv2d', 16, { input_quantizer: null, pad_values: 0, use_bias: true }), inbound_nodes: node('input_1') },
    { class_name: 'MaxPooling2D', name: 'max_pooling2d', inbound_nodes: node('quant_conv2d'), config: { name: 'max_pooling2d', trainable: true, dtype: 'float32', pool_size: [2, 2], padding: 'valid', strides: [2, 2], data_format: 'channels_last' } },
    { ...bn('batch_normalization'), name: 'batch_normalization', inbound_nodes: node('max_pooling2d') },
    { ...conv('quant_conv2d_1', 32), inbound_nodes: node('batch_normalization') },
    { class_name: 'Flatten', name: 'flatten', inbound_nodes: node('quant_conv2d_1'), config: { name: 'flatten', trainable: true, dtype: 'float32', data_format: 'channels_last' } },
    { class_name: 'Dense', name: 'dense', inbound_nodes: node('flatten'), config: { name: 'dense', trainable: true, dtype: 'float32', units: 10, activation: 'softmax', use_bias: true } },
  ];
  return {
    modelTopology: { keras_version: '2.10.0', backend: 'tensorflow', model_config: { class_name: 'Functional', config: { name: 'model', layers, input_layers: [['input_1', 0, 0]], output_layers: [['dense', 0, 0]] } } },
    weightsManifest: manifest(CONV_WEIGHTS),
  };
}
const CONV_WEIGHTS: [string, number[]][] = [
  ['quant_conv2d/kernel', [3, 3, 3, 16]], ['quant_conv2d/bias', [16]],
  ['batch_normalization/beta', [16]], ['batch_normalization/moving_mean', [16]], ['batch_normalization/moving_variance', [16]],
  ['quant_conv2d_1/kernel', [3, 3, 16, 32]], ['dense/kernel', [4 * 4 * 32, 10]], ['dense/bias', [10]],
];

const input = (name: string, batchInputShape: (number | null)[]) => ({ class_name: 'InputLayer', name, inbound_nodes: [], config: { batch_input_shape: batchInputShape, dtype: 'float32', sparse: false, ragged: false, name } });
const dense = (name: string, src: string, units: number) => ({ class_name: 'Dense', name, inbound_nodes: node(src), config: { name, trainable: true, dtype: 'float32', units, activation: 'linear', use_bias: true } });
/** Two inputs; the image branch forks into two heads after a SteSign layer; four outputs, one of them intermediate. */
function multiModel() {
  const layers = [
    input('image', [null, 8, 8, 3]),
    { ...conv('quant_conv2d', 8, { input_quantizer: null, pad_values: 0 }), inbound_nodes: node('image') },
    { class_name: 'SteSign', name: 'ste_sign', inbound_nodes: node('quant_conv2d'), config: { name: 'ste_sign', trainable: true, dtype: 'float32', clip_value: 1.0 } },
    { class_name: 'Flatten', name: 'flatten', inbound_nodes: node('ste_sign'), config: { name: 'flatten', trainable: true, dtype: 'float32' } },
    dense('head_a', 'flatten', 10),
    dense('head_b', 'flatten', 2),
    input('features', [null, 16]),
    { ...qdense('quant_dense', 4), name: 'quant_dense', inbound_nodes: node('features') },
  ];
  return {
    modelTopology: { keras_version: '2.10.0', backend: 'tensorflow', model_config: { class_name: 'Functional', config: { name: 'two_heads', layers, input_layers: [['image', 0, 0], ['features', 0, 0]], output_layers: [['head_a', 0, 0], ['quant_dense', 0, 0], ['head_b', 0, 0], ['ste_sign', 0, 0]] } } },
    weightsManifest: manifest(MULTI_WEIGHTS),
  };
}
const MULTI_WEIGHTS: [string, number[]][] = [
  ['quant_conv2d/kernel', [3, 3, 3, 8]], ['head_a/kernel', [512, 10]], ['head_a/bias', [10]],
  ['head_b/kernel', [512, 2]], ['head_b/bias', [2]], ['quant_dense/kernel', [16, 4]],
];

function expectSameSpec(a: ModelSpec, b: ModelSpec) {
  expect(b.format).toBe(a.format);
  expect(b.inputs).toEqual(a.inputs);
  expect(b.outputs).toEqual(a.outputs);
  expect(b.layers).toEqual(a.layers);
  expect([...b.weights.keys()].sort()).toEqual([...a.weights.keys()].sort());
  for (const [k, t] of a.weights) expect(b.weights.get(k)).toEqual(t);
}

describe('tfjs Layers format: valid models', () => {
  it('parses the BinaryNet MLP in the converter form and in the tfjs-layers form, to the same spec', async () => {
    const a = await parseModel(mlpConverter(), [shardFor(MLP_WEIGHTS)]);
    const b = await parseModel(mlpLayersForm(), async () => shardFor(MLP_WEIGHTS));
    expect(a.format).toBe('sequential');
    expect(a.inputs).toEqual([{ name: 'flatten', shape: [28, 28, 1] }]);
    expect(a.outputs).toEqual(['activation']);
    expect(a.layers.map((l) => l.class)).toEqual(['Flatten', 'QuantDense', 'BatchNormalization', 'QuantDense', 'BatchNormalization', 'Activation']);
    expect(a.layers.map((l) => l.outputShape)).toEqual([[784], [512], [512], [10], [10], [10]]);
    const qd = a.layers[3];
    expect(qd.class === 'QuantDense' && qd.config.kernel_quantizer).toEqual(ste);
    expect(qd.class === 'QuantDense' && qd.config.kernel_constraint).toEqual(clip);
    expect(a.layers[1].class === 'QuantDense' && a.layers[1].config.input_quantizer).toBe(null);
    expect(a.weights.get('quant_dense/kernel')!.data).toEqual(new Random(1).floats(784 * 512));
    expect(a.layers).toEqual(b.layers);
  });

  it('parses a Functional conv model, with its shards split over two files', async () => {
    const m = convModel();
    const bytes = new Uint8Array(shardFor(CONV_WEIGHTS));
    m.weightsManifest[0].paths = ['a.bin', 'b.bin'];
    const files: Record<string, ArrayBuffer> = { 'a.bin': bytes.slice(0, 1001).buffer, 'b.bin': bytes.slice(1001).buffer };
    const s = await parseModel(m, async (p) => files[p]);
    expect(s.format).toBe('functional');
    expect(s.layers.map((l) => l.outputShape)).toEqual([[8, 8, 3], [8, 8, 16], [4, 4, 16], [4, 4, 16], [4, 4, 32], [512], [10]]);
    const c1 = s.layers[4];
    expect(c1.class === 'QuantConv2D' && c1.config.pad_values).toBe(1);
    expect(c1.inbound).toEqual(['batch_normalization']);
    expect(s.inputs).toEqual([{ name: 'input_1', shape: [8, 8, 3] }]);
    expect(s.outputs).toEqual(['dense']);
  });

  it('parses a Functional model with two inputs and four outputs (a fork, an intermediate output, a SteSign layer)', async () => {
    const s = await parseModel(multiModel(), [shardFor(MULTI_WEIGHTS)]);
    expect(s.inputs).toEqual([{ name: 'image', shape: [8, 8, 3] }, { name: 'features', shape: [16] }]);
    expect(s.outputs).toEqual(['head_a', 'quant_dense', 'head_b', 'ste_sign']);
    expect(s.layers.map((l) => [l.name, l.class, l.outputShape])).toEqual([
      ['image', 'InputLayer', [8, 8, 3]], ['quant_conv2d', 'QuantConv2D', [8, 8, 8]], ['ste_sign', 'Quantizer', [8, 8, 8]], ['flatten', 'Flatten', [512]],
      ['head_a', 'Dense', [10]], ['head_b', 'Dense', [2]], ['features', 'InputLayer', [16]], ['quant_dense', 'QuantDense', [4]],
    ]);
    expect(s.layers.find((l) => l.name === 'head_b')!.inbound).toEqual(['flatten']);
    const { modelJson } = serializeModel(s);
    const config = (modelJson.modelTopology as any).config;
    expect(config.input_layers).toEqual([['image', 0, 0], ['features', 0, 0]]);
    expect(config.output_layers).toEqual([['head_a', 0, 0], ['quant_dense', 0, 0], ['head_b', 0, 0], ['ste_sign', 0, 0]]);
  });

  it('reads a Sequential model whose first layer has weights, its input shape from build_input_shape', async () => {
    const m: any = mlpLayersForm();
    const layers = mlpLayers().slice(1);
    m.modelTopology.config = { name: 'seq', layers, build_input_shape: [null, 784] };
    const s = await parseModel(m, [shardFor(MLP_WEIGHTS)]);
    expect(s.inputs).toEqual([{ name: 'quant_dense', shape: [784] }]);
    expect(s.layers[0].config.batch_input_shape).toEqual([null, 784]);
    expect([...expectedWeights(s.layers)]).toEqual(MLP_WEIGHTS);
    expect([...expectedWeights(s.layers, s.inputs)]).toEqual(MLP_WEIGHTS);
  });

  it('reads uint8, uint16 and float16 quantized weights', async () => {
    const m = mlpLayersForm();
    const ws = m.weightsManifest[0].weights as Record<string, unknown>[];
    ws[5].quantization = { dtype: 'uint8', scale: 0.5, min: -1 };
    ws[6].quantization = { dtype: 'uint16', scale: 2, min: 3 };
    ws[7].quantization = { dtype: 'float16' };
    const head = new Uint8Array(shardFor(MLP_WEIGHTS.slice(0, 5)));
    const q8 = Uint8Array.from({ length: 10 }, (_, i) => i);
    const q16 = new Uint16Array(10).fill(7);
    const h16 = new Uint16Array(10).fill(0x3c00).map((v, i) => (i === 1 ? 0x4000 : v)); // 1.0, 2.0 (a variance: not negative)
    const all = new Uint8Array([...head, ...q8, ...new Uint8Array(q16.buffer), ...new Uint8Array(h16.buffer)]);
    const s = await parseModel(m, [all.buffer]);
    expect([...s.weights.get('batch_normalization_1/beta')!.data]).toEqual([...q8].map((q) => q * 0.5 - 1));
    expect([...s.weights.get('batch_normalization_1/moving_mean')!.data]).toEqual(new Array(10).fill(17));
    expect(s.weights.get('batch_normalization_1/moving_variance')!.data[1]).toBe(2);
  });

  it('round-trips: serialize -> parse gives the same spec (Sequential and Functional)', async () => {
    for (const [m, w] of [[mlpConverter(), MLP_WEIGHTS], [convModel(), CONV_WEIGHTS], [multiModel(), MULTI_WEIGHTS]] as const) {
      const a = await parseModel(m, [shardFor(w)]);
      const { modelJson, shards } = serializeModel(a);
      expect(shards.length).toBe(1);
      const b = await parseModel(JSON.parse(JSON.stringify(modelJson)), shards);
      expectSameSpec(a, b);
      const c = serializeModel(b);
      expect(c.modelJson).toEqual(modelJson);
    }
  });
});

describe('tfjs Layers format: shift-based BatchNorm', () => {
  it("shift_based is written only where set (Keras and TF.js load the others), read back, and checked", async () => {
    const { sequential, layers } = await import('../src/model/model.js');
    const m = sequential([layers.dense({ units: 3, inputShape: [4] }), layers.batchNormalization({ shiftBased: true }), layers.batchNormalization()]);
    const { modelJson, shards } = serializeModel(m.spec);
    const written = (modelJson.modelTopology as any).config.layers.filter((l: any) => l.class_name === 'BatchNormalization');
    expect(written[0].config.shift_based).toBe(true);
    expect('shift_based' in JSON.parse(JSON.stringify(written[1])).config).toBe(false);
    const back = await parseModel(JSON.parse(JSON.stringify(modelJson)), shards);
    expect((back.layers[1].config as any).shift_based).toBe(true);
    expect((back.layers[2].config as any).shift_based).toBeUndefined();
    const bad = JSON.parse(JSON.stringify(modelJson));
    (bad.modelTopology as any).config.layers.find((l: any) => l.class_name === 'BatchNormalization').config.shift_based = 'yes';
    await expect(parseModel(bad, shards)).rejects.toThrow(/shift_based.*expected true or false/);
  });
});

describe("tfjs Layers format: XNOR-Net's input scaling", () => {
  it('xnor_input_scale is written only where set, read back, and checked', async () => {
    const { sequential, layers } = await import('../src/model/model.js');
    const q = { inputQuantizer: 'ste_sign', kernelQuantizer: 'magnitude_aware_sign' };
    const m = sequential([layers.quantConv2d({ filters: 2, kernelSize: 3, ...q, xnorInputScale: true, inputShape: [5, 5, 1] }), layers.flatten(), layers.quantDense({ units: 3, ...q, xnorInputScale: false })]);
    const { modelJson, shards } = serializeModel(m.spec);
    const written = (modelJson.modelTopology as any).config.layers.filter((l: any) => l.class_name.startsWith('Quant'));
    expect(written[0].config.xnor_input_scale).toBe(true);
    expect('xnor_input_scale' in JSON.parse(JSON.stringify(written[1])).config).toBe(false);
    const back = await parseModel(JSON.parse(JSON.stringify(modelJson)), shards);
    expect((back.layers[0].config as any).xnor_input_scale).toBe(true);
    const bad = JSON.parse(JSON.stringify(modelJson));
    (bad.modelTopology as any).config.layers.find((l: any) => l.class_name === 'QuantConv2D').config.xnor_input_scale = 1;
    await expect(parseModel(bad, shards)).rejects.toThrow(/xnor_input_scale.*expected true or false/);
  });
});

describe('tfjs Layers format: quantizers and constraints', () => {
  it('normalizes quantizer objects to Larq\'s class name and arguments, keeps names as written', async () => {
    const m = mlpConverter();
    const l = m.modelTopology.model_config.config.layers as any[];
    l[1].config.kernel_quantizer = { class_name: 'DoReFaQuantizer', config: { name: 'dorefa', trainable: false, dtype: 'float32', k_bit: 3 }, module: 'larq.quantizers', registered_name: 'larq>DoReFa' };
    l[1].config.kernel_constraint = null;
    l[3].config.input_quantizer = 'approx_sign';
    l[3].config.kernel_quantizer = { class_name: 'SteSign', config: { name: 'ste_sign', trainable: true, dtype: { class_name: 'Policy', config: { name: 'float32' } }, clip_value: null, metrics: [] } };
    l[3].config.kernel_constraint = 'weight_clip';
    const s = await parseModel(m, [shardFor(MLP_WEIGHTS)]);
    const cfg = (i: number) => s.layers[i].config as any;
    expect(cfg(1).kernel_quantizer).toEqual({ class_name: 'DoReFa', config: { k_bit: 3, mode: 'activations' } });
    expect(cfg(3).input_quantizer).toBe('approx_sign');
    expect(cfg(3).kernel_quantizer).toEqual({ class_name: 'SteSign', config: { clip_value: null } });
    expect(cfg(3).kernel_constraint).toEqual({ class_name: 'WeightClip', config: { clip_value: 1 } });
    expect(getQuantizer(cfg(1).kernel_quantizer)!.precision).toBe(3);
    // Written back as Larq writes a quantizer inside a layer: Keras layer keys, then its arguments.
    const written = (serializeModel(s).modelJson.modelTopology as any).config.layers;
    expect(written[1].config.kernel_quantizer).toEqual({ class_name: 'DoReFa', config: { name: 'do_re_fa', trainable: true, dtype: 'float32', k_bit: 3, mode: 'activations' } });
    expect(written[3].config.input_quantizer).toBe('approx_sign');
  });

  it('accepts every Larq quantizer class (current and old names) as a layer, written back as Larq writes it', async () => {
    expect([...QUANTIZER_LAYER_CLASSES].sort()).toEqual(Object.keys(QUANTIZERS).filter((k) => /^[A-Z]/.test(k)).sort());
    expect(QUANTIZER_LAYER_CLASSES).toContain('DoReFaQuantizer');
    for (const cls of QUANTIZER_LAYER_CLASSES) {
      const args = cls.startsWith('NoOp') ? { precision: 2 } : {};
      const json = { modelTopology: { class_name: 'Sequential', config: [{ class_name: cls, config: { name: 'q', trainable: true, dtype: 'float32', batch_input_shape: [null, 4, 4, 2], ...args } }] }, weightsManifest: [] };
      const s = await parseModel(json, []);
      const l = s.layers[0];
      const q = getQuantizer(cls === 'NoOp' || cls === 'NoOpQuantizer' ? { class_name: cls, config: args } : cls)!;
      expect(l.class).toBe('Quantizer');
      expect(l.outputShape).toEqual([4, 4, 2]);
      expect(l.config).toEqual({ name: 'q', trainable: true, batch_input_shape: [null, 4, 4, 2], quantizer: { class_name: q.className, config: { ...q.config } } });
      const entry = (serializeModel(s).modelJson.modelTopology as any).config.layers[0];
      expect(entry).toEqual({ class_name: q.className, config: { name: 'q', trainable: true, batch_input_shape: [null, 4, 4, 2], dtype: 'float32', ...q.config } });
    }
    const s = await parseModel(multiModel(), [shardFor(MULTI_WEIGHTS)]);
    const entry = (serializeModel(s).modelJson.modelTopology as any).config.layers[2];
    expect(entry).toEqual({ class_name: 'SteSign', name: 'ste_sign', inbound_nodes: [[['quant_conv2d', 0, 0, {}]]], config: { name: 'ste_sign', trainable: true, dtype: 'float32', clip_value: 1 } });
    expect(JSON.stringify(entry.config)).toBe('{"name":"ste_sign","trainable":true,"dtype":"float32","clip_value":1}');
  });
});

/** The MLP written with packed binary kernels: its model.json and shard. */
async function packedMlp() {
  const s = await parseModel(mlpConverter(), [shardFor(MLP_WEIGHTS)]);
  const { modelJson, shards } = serializeModel(s, { packBinaryWeights: true });
  return { spec: s, modelJson: JSON.parse(JSON.stringify(modelJson)), shard: shards[0] };
}

describe('tfjs Layers format: packed binary weights (b1, our extension)', () => {
  it('stores binary kernels as sign bits, 32x smaller, and reads them back as +-1', async () => {
    const { spec, modelJson, shard } = await packedMlp();
    const ws = modelJson.weightsManifest[0].weights;
    expect(ws[0]).toEqual({ name: 'quant_dense/kernel', shape: [784, 512], dtype: 'float32', quantization: { dtype: 'b1', original_dtype: 'float32' } });
    expect(ws[4].quantization).toEqual({ dtype: 'b1', original_dtype: 'float32' });
    expect(ws.filter((w: any) => w.quantization).length).toBe(2);
    const floats = (512 * 3 + 10 * 3) * 4;
    expect(shard.byteLength).toBe(50176 + 640 + floats); // 784*512/32*4; 512*10 bits -> 160 words
    expect(serializeModel(spec).shards[0].byteLength).toBe((784 * 512 + 512 * 10) * 4 + floats);
    const back = await parseModel(modelJson, [shard]);
    for (const k of ['quant_dense/kernel', 'quant_dense_1/kernel']) {
      expect(back.weights.get(k)!.data).toEqual(Float32Array.from(spec.weights.get(k)!.data, sign));
    }
    expect(back.weights.get('batch_normalization/beta')).toEqual(spec.weights.get('batch_normalization/beta'));
    expect(back.layers).toEqual(spec.layers);
    // Packing +-1 kernels again gives the same bytes.
    const again = serializeModel(back, { packBinaryWeights: true });
    expect(new Uint8Array(again.shards[0])).toEqual(new Uint8Array(shard));
  });

  it('uses the bitpack convention: row-major Keras order, bit = value < 0, 32 per little-endian u32, zero pad bits', async () => {
    const { spec } = await packedMlp();
    const k = new Float32Array(512 * 10).fill(1);
    k[0] = -1; // (0, 0)
    k[3 * 10 + 1] = -0.5; // (3, 1): element 31
    k[32] = -0; // sign(-0) = +1
    k[33] = -2;
    spec.weights.set('quant_dense_1/kernel', { shape: [512, 10], data: k });
    const { shards } = serializeModel(spec, { packBinaryWeights: true });
    const at = 784 * 512 / 8 + 512 * 3 * 4; // after quant_dense/kernel's bits and batch_normalization's beta, mean, variance
    const words = new Uint32Array(shards[0].slice(at, at + 160 * 4));
    expect(words[0]).toBe(0x80000001);
    expect(words[1]).toBe(0b10);
    expect(words.slice(2).every((x) => x === 0)).toBe(true);
    const bytes = new Uint8Array(shards[0], at, 4);
    expect([...bytes]).toEqual([0x01, 0, 0, 0x80]); // little-endian
  });

  it('refuses to pack a kernel whose quantizer is not binary, and packs nothing by default', async () => {
    const m = mlpConverter();
    (m.modelTopology.model_config.config.layers as any[])[3].config.kernel_quantizer = 'magnitude_aware_sign';
    const s = await parseModel(m, [shardFor(MLP_WEIGHTS)]);
    expect(() => serializeModel(s, { packBinaryWeights: true })).toThrow(ModelFormatError);
    expect(() => serializeModel(s, { packBinaryWeights: true })).toThrow(/layer "quant_dense_1" \(QuantDense\), key "kernel_quantizer": MagnitudeAwareSign is not binary.*lose information/);
    expect(JSON.stringify(serializeModel(s).modelJson)).not.toContain('b1');
    // A float kernel (no kernel quantizer) stays float32 when packing.
    const c = await parseModel(convModel(), [shardFor(CONV_WEIGHTS)]);
    const ws = (serializeModel(c, { packBinaryWeights: true }).modelJson.weightsManifest as any)[0].weights;
    expect(ws.filter((w: any) => w.quantization).map((w: any) => w.name)).toEqual(['quant_conv2d/kernel', 'quant_conv2d_1/kernel']);
  });
});

describe('tfjs Layers format: merges and reshaping layers', () => {
  it("reads Keras's keys and defaults: Add, Concatenate (axis), GlobalAveragePooling2D (keepdims), ZeroPadding2D (padding in three forms), Reshape", () => {
    expect(readLayerConfig('Add', { name: 'a', dtype: 'float32' }, 'test')).toEqual({ name: 'a', trainable: true });
    expect(readLayerConfig('Concatenate', { name: 'c' }, 'test')).toEqual({ name: 'c', trainable: true, axis: -1 });
    expect(readLayerConfig('GlobalAveragePooling2D', { name: 'g', data_format: 'channels_last' }, 'test')).toEqual({ name: 'g', trainable: true, keepdims: false });
    expect(readLayerConfig('GlobalMaxPooling2D', { name: 'm', keepdims: true }, 'test')).toEqual({ name: 'm', trainable: true, keepdims: true });
    expect(layerClass('GlobalMaxPool2D', 'test')).toBe('GlobalMaxPooling2D');
    expect(readLayerConfig('ZeroPadding2D', { name: 'z' }, 'test').padding).toEqual([[1, 1], [1, 1]]);
    expect(readLayerConfig('ZeroPadding2D', { name: 'z', padding: 2 }, 'test').padding).toEqual([[2, 2], [2, 2]]);
    expect(readLayerConfig('ZeroPadding2D', { name: 'z', padding: [1, 3] }, 'test').padding).toEqual([[1, 1], [3, 3]]);
    expect(readLayerConfig('ZeroPadding2D', { name: 'z', padding: [[0, 1], [2, 0]] }, 'test').padding).toEqual([[0, 1], [2, 0]]);
    expect(readLayerConfig('Reshape', { name: 'r', target_shape: [4, -1] }, 'test')).toEqual({ name: 'r', trainable: true, target_shape: [4, -1] });
  });

  it('a functional graph with a shortcut, a concatenation, padding, reshapes and global pooling: shapes, and a round trip through model.json', async () => {
    const layers = [
      input('image', [null, 5, 6, 4]),
      { class_name: 'ZeroPadding2D', name: 'pad', inbound_nodes: node('image'), config: { name: 'pad', padding: [[1, 0], [0, 2]] } },
      { class_name: 'Conv2D', name: 'conv', inbound_nodes: node('pad'), config: { name: 'conv', filters: 4, kernel_size: [2, 3], use_bias: false } },
      { class_name: 'Add', name: 'add', inbound_nodes: [[['conv', 0, 0, {}], ['image', 0, 0, {}], ['conv', 0, 0, {}]]], config: { name: 'add' } },
      { class_name: 'Concatenate', name: 'cat', inbound_nodes: [[['add', 0, 0, {}], ['image', 0, 0, {}]]], config: { name: 'cat', axis: 3 } },
      { class_name: 'Reshape', name: 'rows', inbound_nodes: node('cat'), config: { name: 'rows', target_shape: [-1, 16] } },
      { class_name: 'GlobalAvgPool2D', name: 'gap', inbound_nodes: node('cat'), config: { name: 'gap', keepdims: true } },
    ];
    const json = { modelTopology: { model_config: { class_name: 'Functional', config: { name: 'm', layers, input_layers: [['image', 0, 0]], output_layers: [['rows', 0, 0], ['gap', 0, 0]] } } }, weightsManifest: manifest([['conv/kernel', [2, 3, 4, 4]]]) };
    const spec = await parseModel(json, [shardFor([['conv/kernel', [2, 3, 4, 4]]])]);
    expect(spec.layers.map((l) => [l.name, l.class, l.inbound, l.outputShape])).toEqual([
      ['image', 'InputLayer', [], [5, 6, 4]],
      ['pad', 'ZeroPadding2D', ['image'], [6, 8, 4]],
      ['conv', 'Conv2D', ['pad'], [5, 6, 4]],
      ['add', 'Add', ['conv', 'image', 'conv'], [5, 6, 4]],
      ['cat', 'Concatenate', ['add', 'image'], [5, 6, 8]],
      ['rows', 'Reshape', ['cat'], [15, 16]],
      ['gap', 'GlobalAveragePooling2D', ['cat'], [1, 1, 8]],
    ]);
    const { modelJson, shards } = serializeModel(spec);
    expectSameSpec(await parseModel(modelJson, shards), spec);
  });
});

describe('tfjs Layers format: writing specs that are not from a file', () => {
  it('reads a hand-built Quantizer layer config, a name expanded to {class_name, config}', () => {
    expect(readLayerConfig('Quantizer', { name: 'q', quantizer: 'swish_sign' }, 'test')).toEqual({ name: 'q', trainable: true, quantizer: { class_name: 'SwishSign', config: { beta: 5 } } });
    expect(readLayerConfig('Quantizer', { name: 'q', quantizer: { class_name: 'SteTern', config: { ternary_weight_networks: true } } }, 'test').quantizer).toEqual({ class_name: 'SteTern', config: { threshold_value: 0.05, ternary_weight_networks: true, clip_value: 1 } });
    expect(() => readLayerConfig('Quantizer', { name: 'q', quantizer: null }, 'test')).toThrow(/layer "q" \(Quantizer\), key "quantizer"/);
  });


  it('refuses inconsistent specs with a ModelFormatError', async () => {
    const s = await parseModel(mlpConverter(), [shardFor(MLP_WEIGHTS)]);
    expect(() => serializeModel({ ...s, outputs: ['quant_dense'] })).toThrow(/Sequential model has one output/);
    expect(() => serializeModel({ ...s, inputs: [] })).toThrow(/Sequential model has one input/);
    const w = new Map(s.weights);
    w.set('quant_dense/kernel', { shape: [512, 784], data: w.get('quant_dense/kernel')!.data });
    expect(() => serializeModel({ ...s, weights: w })).toThrow(/weight "quant_dense\/kernel" has shape \[512,784\]/);
    const extra = new Map(s.weights).set('flatten/kernel', { shape: [1], data: new Float32Array(1) });
    expect(() => serializeModel({ ...s, weights: extra })).toThrow(/"flatten\/kernel", which no layer/);
  });
});

type Edit = (m: any) => void;
const seqLayers = (m: any) => m.modelTopology.model_config.config.layers;
const funLayers = (m: any) => m.modelTopology.model_config.config.layers;

type Which = 'mlp' | 'conv' | 'multi' | 'packed-mlp' | 'packed-conv' | 'keras3';

/** Seed 000's model as Keras 3.15 and the TF.js converter wrote it (test/fixtures/keras/). */
const KERAS3_DIR = new URL('./fixtures/keras/seed000/', import.meta.url);
const k3Layers = (m: any) => m.modelTopology.model_config.config.layers;

/** A valid model.json (to be edited) and its shard bytes. */
async function fixture(which: Which): Promise<{ m: any; bytes: ArrayBuffer }> {
  if (which === 'mlp') return { m: mlpConverter(), bytes: shardFor(MLP_WEIGHTS) };
  if (which === 'conv') return { m: convModel(), bytes: shardFor(CONV_WEIGHTS) };
  if (which === 'multi') return { m: multiModel(), bytes: shardFor(MULTI_WEIGHTS) };
  if (which === 'keras3') {
    const bin = readFileSync(new URL('group1-shard1of1.bin', KERAS3_DIR));
    return { m: JSON.parse(readFileSync(new URL('model.json', KERAS3_DIR), 'utf8')), bytes: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) };
  }
  const [m, w] = which === 'packed-mlp' ? [mlpConverter(), MLP_WEIGHTS] : [convModel(), CONV_WEIGHTS];
  const { modelJson, shards } = serializeModel(await parseModel(m, [shardFor(w)]), { packBinaryWeights: true });
  return { m: JSON.parse(JSON.stringify(modelJson)), bytes: shards[0] };
}
const topLayers = (m: any) => m.modelTopology.config.layers; // the form serializeModel writes
const funConfig = (m: any) => m.modelTopology.model_config.config;

/** [description, which model, edit, expected message fragment, optional shard edit]. */
const MALFORMED: [string, Which, Edit, RegExp, ((b: Uint8Array) => ArrayBuffer)?][] = [
  ['not an object', 'mlp', (m) => { m.modelTopology = 5; }, /modelTopology: not an object/],
  ['missing modelTopology', 'mlp', (m) => { delete m.modelTopology; }, /missing "modelTopology"/],
  ['missing weightsManifest', 'mlp', (m) => { delete m.weightsManifest; }, /missing "weightsManifest"/],
  ['graph model', 'mlp', (m) => { m.format = 'graph-model'; }, /tfjs_layers_model/],
  ['unknown model class', 'mlp', (m) => { m.modelTopology.model_config.class_name = 'Subclassed'; }, /Subclassed/],
  ['unknown layer class', 'mlp', (m) => { seqLayers(m)[2].class_name = 'QuantSeparableConv2D'; }, /unknown layer class "QuantSeparableConv2D"/],
  ['unknown config key', 'mlp', (m) => { seqLayers(m)[1].config.kernel_quantiser = 'ste_sign'; }, /layer "quant_dense" \(QuantDense\): unknown config key "kernel_quantiser"/],
  ['missing units', 'mlp', (m) => { delete seqLayers(m)[1].config.units; }, /layer "quant_dense".*missing config key "units"/],
  ['bad activation', 'mlp', (m) => { seqLayers(m)[5].config.activation = 'swish'; }, /layer "activation".*key "activation".*swish/],
  ['bad quantizer', 'mlp', (m) => { seqLayers(m)[3].config.kernel_quantizer = 7; }, /layer "quant_dense_1".*key "kernel_quantizer"/],
  ['unsupported constraint', 'mlp', (m) => { seqLayers(m)[3].config.kernel_constraint = { class_name: 'MaxNorm', config: {} }; }, /quant_dense_1.*kernel_constraint.*MaxNorm/],
  ['no input shape', 'mlp', (m) => { delete seqLayers(m)[0].config.batch_input_shape; }, /layer "flatten".*batch_input_shape/],
  ['variable input size', 'mlp', (m) => { seqLayers(m)[0].config.batch_input_shape = [null, null, 28, 1]; }, /flatten.*batch_input_shape.*null/],
  ['duplicate names', 'mlp', (m) => { seqLayers(m)[4].config.name = 'batch_normalization'; }, /layer "batch_normalization".*duplicate/],
  ['BN axis not channels', 'mlp', (m) => { seqLayers(m)[0].class_name = 'Activation'; seqLayers(m)[0].config = { name: 'flatten', batch_input_shape: [null, 8, 784], activation: 'linear' }; seqLayers(m)[2].config.axis = 1; }, /layer "batch_normalization".*"axis"/],
  ['manifest shape mismatch', 'mlp', (m) => { m.weightsManifest[0].weights[0].shape = [512, 784]; }, /weight "quant_dense\/kernel".*\[512,784\].*\[784,512\]/],
  ['missing weight (use_bias)', 'mlp', (m) => { seqLayers(m)[3].config.use_bias = true; }, /missing weight "quant_dense_1\/bias"/],
  ['weight of no layer', 'mlp', (m) => { m.weightsManifest[0].weights.push({ name: 'flip_ratio/x', shape: [1], dtype: 'float32' }); }, /weight "flip_ratio\/x".*no layer/],
  ['unsupported dtype', 'mlp', (m) => { m.weightsManifest[0].weights[0].dtype = 'complex64'; }, /quant_dense\/kernel.*complex64/],
  ['unsupported quantization', 'mlp', (m) => { m.weightsManifest[0].weights[0].quantization = { dtype: 'int8', scale: 1, min: 0 }; }, /quant_dense\/kernel.*quantization.*int8/],
  ['truncated shard', 'mlp', () => {}, /truncated/, (b) => b.slice(0, b.length - 4).buffer],
  ['too long shard', 'mlp', () => {}, /extra bytes/, (b) => new Uint8Array([...b, 0, 0, 0, 0]).buffer],
  ['missing shard path', 'mlp', (m) => { m.weightsManifest[0].paths = []; }, /paths.*missing/],
  ['NaN weight', 'mlp', () => {}, /weight "quant_dense_1\/kernel": element 3 is NaN/, (b) => { const f = new Float32Array(b.slice().buffer); f[784 * 512 + 3 * 512 + 3] = NaN; return f.buffer; }],
  ['Inf weight', 'mlp', () => {}, /weight "quant_dense\/kernel": element 0 is Infinity/, (b) => { const f = new Float32Array(b.slice().buffer); f[0] = Infinity; return f.buffer; }],
  ['bad padding', 'conv', (m) => { funLayers(m)[4].config.padding = 'full'; }, /layer "quant_conv2d_1".*key "padding".*"full"/],
  ['kernel_size not a pair', 'conv', (m) => { funLayers(m)[1].config.kernel_size = [3, 3, 3]; }, /layer "quant_conv2d".*key "kernel_size".*pair/],
  ['channels_first', 'conv', (m) => { funLayers(m)[4].config.data_format = 'channels_first'; }, /quant_conv2d_1.*data_format.*channels_first/],
  ['groups != 1', 'conv', (m) => { funLayers(m)[4].config.groups = 2; }, /quant_conv2d_1.*"groups"/],
  ['pad_values 0.5', 'conv', (m) => { funLayers(m)[4].config.pad_values = 0.5; }, /quant_conv2d_1.*pad_values/],
  ['dangling inbound', 'conv', (m) => { funLayers(m)[2].inbound_nodes = node('nope'); }, /layer "max_pooling2d".*"nope".*dangling/],
  ['cycle', 'conv', (m) => { funLayers(m)[2].inbound_nodes = node('quant_conv2d_1'); }, /cycle/],
  ['Keras 3 inbound form', 'conv', (m) => { funLayers(m)[2].inbound_nodes = [{ args: [], kwargs: {} }]; }, /layer "max_pooling2d" \(MaxPooling2D\), inbound_nodes\[0\]\.args: a call with no input tensors/],
  ['window larger than input', 'conv', (m) => { funLayers(m)[2].config.pool_size = [9, 9]; funLayers(m)[2].config.strides = null; }, /max_pooling2d.*does not fit/],
  ['output layer unknown', 'conv', (m) => { m.modelTopology.model_config.config.output_layers = [['dense_9', 0, 0]]; }, /output_layers.*dense_9/],
  ['input not an InputLayer', 'conv', (m) => { funConfig(m).input_layers.push(['dense', 0, 0]); }, /layer "dense" \(Dense\): a model input must be an InputLayer/],
  // several inputs and outputs
  ['input listed twice', 'multi', (m) => { funConfig(m).input_layers.push(['image', 0, 0]); }, /input_layers": "image" is listed twice/],
  ['output listed twice', 'multi', (m) => { funConfig(m).output_layers.push(['head_a', 0, 0]); }, /output_layers": "head_a" is listed twice/],
  ['InputLayer not in input_layers', 'multi', (m) => { funConfig(m).input_layers.pop(); }, /layer "features" \(InputLayer\): has no inbound node and is not a model input/],
  ['no outputs', 'multi', (m) => { funConfig(m).output_layers = []; }, /output_layers.*non-empty list/],
  ['inputs as a dict', 'multi', (m) => { funConfig(m).input_layers = { image: ['image', 0, 0] }; }, /input_layers": a dict of named inputs/],
  ['output of a shared layer', 'multi', (m) => { funConfig(m).output_layers[1] = ['quant_dense', 1, 0]; }, /output_layers"\[1\]: node index 1.*shared layers/],
  ['second output tensor', 'multi', (m) => { funConfig(m).output_layers[0] = ['head_a', 0, 1]; }, /output_layers"\[0\]: tensor index 1.*several output tensors/],
  ['second output unknown', 'multi', (m) => { funConfig(m).output_layers[3] = ['nope', 0, 0]; }, /output_layers.*"nope", which is not a layer/],
  // merges and reshaping layers
  ['merge layer other than Add and Concatenate', 'multi', (m) => { funLayers(m)[5].class_name = 'Multiply'; }, /merge layer Multiply is not supported; the merge layers supported are Add and Concatenate/],
  ['two inbound tensors on a layer that is no merge', 'multi', (m) => { funLayers(m)[5].inbound_nodes = [[['flatten', 0, 0, {}], ['quant_dense', 0, 0, {}]]]; }, /layer "head_b" \(Dense\): reads 2 tensors: only merge layers \(Add, Concatenate\) read several/],
  ['Add of one tensor', 'multi', (m) => { Object.assign(funLayers(m)[5], { class_name: 'Add', config: { name: 'head_b' } }); }, /layer "head_b" \(Add\): reads 1 tensor, a merge layer needs at least 2/],
  ['Add of two shapes', 'multi', (m) => { Object.assign(funLayers(m)[5], { class_name: 'Add', config: { name: 'head_b' }, inbound_nodes: [[['flatten', 0, 0, {}], ['quant_dense', 0, 0, {}]]] }); }, /layer "head_b" \(Add\): adds tensors of different shapes \[512\] and \[4\].*no broadcasting/],
  ['Concatenate off the channel axis', 'multi', (m) => { Object.assign(funLayers(m)[5], { class_name: 'Concatenate', config: { name: 'head_b', axis: 1 }, inbound_nodes: [[['ste_sign', 0, 0, {}], ['quant_conv2d', 0, 0, {}]]] }); }, /layer "head_b" \(Concatenate\), key "axis": axis 1 is not the channel \(last\) axis of \[8,8,8\]; only concatenation along the last axis/],
  ['Concatenate of other shapes', 'multi', (m) => { Object.assign(funLayers(m)[5], { class_name: 'Concatenate', config: { name: 'head_b' }, inbound_nodes: [[['ste_sign', 0, 0, {}], ['flatten', 0, 0, {}]]] }); }, /layer "head_b" \(Concatenate\): concatenates tensors whose shapes differ outside the last axis: \[8,8,8\] and \[512\]/],
  ['Concatenate axis not an integer', 'multi', (m) => { Object.assign(funLayers(m)[5], { class_name: 'Concatenate', config: { name: 'head_b', axis: 'last' } }); }, /layer "head_b" \(Concatenate\), key "axis": got "last", expected an axis/],
  ['merge layer in a Sequential model', 'mlp', (m) => { Object.assign(seqLayers(m)[2], { class_name: 'Add', config: { name: 'add' } }); }, /layer "add" \(Add\): a merge layer reads several tensors, so it cannot be in a Sequential model/],
  ['Reshape with two -1', 'multi', (m) => { Object.assign(funLayers(m)[3], { class_name: 'Reshape', config: { name: 'flatten', target_shape: [-1, 8, -1] } }); }, /layer "flatten" \(Reshape\), key "target_shape": got \[-1,8,-1\]: at most one size may be -1/],
  ['Reshape to another size', 'multi', (m) => { Object.assign(funLayers(m)[3], { class_name: 'Reshape', config: { name: 'flatten', target_shape: [500] } }); }, /layer "flatten" \(Reshape\), key "target_shape": \[500\] does not hold the 512 elements of the input \[8,8,8\]/],
  ['Reshape without target_shape', 'multi', (m) => { Object.assign(funLayers(m)[3], { class_name: 'Reshape', config: { name: 'flatten' } }); }, /layer "flatten" \(Reshape\): missing config key "target_shape"/],
  ['ZeroPadding2D negative', 'multi', (m) => { Object.assign(funLayers(m)[3], { class_name: 'ZeroPadding2D', config: { name: 'flatten', padding: [[1, -1], [0, 0]] } }); }, /layer "flatten" \(ZeroPadding2D\), key "padding"\[0\]\[1\]: got -1, expected an integer in \[0, 65535\]/],
  ['ZeroPadding2D of three', 'multi', (m) => { Object.assign(funLayers(m)[3], { class_name: 'ZeroPadding2D', config: { name: 'flatten', padding: [1, 2, 3] } }); }, /layer "flatten" \(ZeroPadding2D\), key "padding": got \[1,2,3\], expected an integer, a pair \[h, w\] or a pair of pairs/],
  ['GlobalAveragePooling2D channels_first', 'multi', (m) => { Object.assign(funLayers(m)[3], { class_name: 'GlobalAveragePooling2D', config: { name: 'flatten', data_format: 'channels_first' } }); }, /layer "flatten" \(GlobalAveragePooling2D\), key "data_format": got "channels_first"/],
  ['GlobalAveragePooling2D of a vector', 'multi', (m) => { Object.assign(funLayers(m)[4], { class_name: 'GlobalAveragePooling2D', config: { name: 'head_a' } }); }, /layer "head_a" \(GlobalAveragePooling2D\): input shape \[512\] is not \[height, width, channels\]/],
  // quantizers and constraints, through getQuantizer / getConstraint
  ['unknown quantizer name', 'mlp', (m) => { seqLayers(m)[3].config.kernel_quantizer = 'ste_sgn'; }, /^layer "quant_dense_1" \(QuantDense\), key "kernel_quantizer": unknown quantizer 'ste_sgn' \(known: .*ste_sign/],
  ['unknown quantizer class', 'mlp', (m) => { seqLayers(m)[3].config.input_quantizer = { class_name: 'SteSing', config: {} }; }, /quant_dense_1.*key "input_quantizer": unknown quantizer 'SteSing'/],
  ['bad quantizer argument', 'mlp', (m) => { seqLayers(m)[3].config.kernel_quantizer.config.clip_value = 'one'; }, /quant_dense_1.*"kernel_quantizer": SteSign: config key 'clip_value' must be a number or null/],
  ['unknown quantizer argument', 'conv', (m) => { funLayers(m)[4].config.kernel_quantizer = { class_name: 'SwishSign', config: { beta: 5, clip_value: 1 } }; }, /quant_conv2d_1.*"kernel_quantizer": SwishSign: unknown config key 'clip_value'/],
  ['inherited key as quantizer argument', 'conv', (m) => { funLayers(m)[4].config.kernel_quantizer = { class_name: 'SteSign', config: { toString: 1 } }; }, /quant_conv2d_1.*"kernel_quantizer": SteSign: unknown config key 'toString'/],
  ['missing required quantizer argument', 'mlp', (m) => { seqLayers(m)[3].config.input_quantizer = { class_name: 'NoOp', config: {} }; }, /quant_dense_1.*"input_quantizer": NoOp: missing required config key 'precision'/],
  ['float16 quantizer', 'mlp', (m) => { seqLayers(m)[3].config.kernel_quantizer.config.dtype = 'float16'; }, /layer "quant_dense_1" \(QuantDense\), key "kernel_quantizer.config.dtype": dtype policy "float16" computes in float16/],
  ['unknown quantizer entry key', 'mlp', (m) => { seqLayers(m)[3].config.kernel_quantizer.extra = 1; }, /quant_dense_1.*kernel_quantizer.*unknown quantizer key "extra"/],
  ['unknown constraint name', 'mlp', (m) => { seqLayers(m)[3].config.kernel_constraint = 'max_norm'; }, /quant_dense_1.*"kernel_constraint": unknown constraint 'max_norm'/],
  ['unknown constraint argument', 'mlp', (m) => { seqLayers(m)[3].config.kernel_constraint = { class_name: 'WeightClip', config: { clip_value: 1, axis: 0 } }; }, /quant_dense_1.*"kernel_constraint": WeightClip: unknown config key 'axis'/],
  ['non-positive clip', 'mlp', (m) => { seqLayers(m)[3].config.kernel_constraint = { class_name: 'WeightClip', config: { clip_value: -1 } }; }, /quant_dense_1.*kernel_constraint"\.config\.clip_value: got -1, expected a positive/],
  // quantizers as layers
  ['quantizer layer argument', 'multi', (m) => { funLayers(m)[2].config.threshold_value = 0.1; }, /layer "ste_sign" \(SteSign\): SteSign: unknown config key 'threshold_value'/],
  ['quantizer layer bad argument', 'multi', (m) => { funLayers(m)[2].class_name = 'DoReFa'; funLayers(m)[2].config = { name: 'ste_sign', k_bit: 0 }; }, /layer "ste_sign" \(DoReFa\): DoReFa: config key 'k_bit' must be an integer in 1..32/],
  ['NoOp layer without precision', 'multi', (m) => { funLayers(m)[2].class_name = 'NoOpQuantizer'; funLayers(m)[2].config = { name: 'ste_sign' }; }, /layer "ste_sign" \(NoOpQuantizer\).*missing required config key 'precision'/],
  ['quantizer layer dtype', 'multi', (m) => { funLayers(m)[2].config.dtype = 'int8'; }, /layer "ste_sign" \(SteSign\), key "dtype".*int8/],
  ['class "Quantizer" in a file', 'multi', (m) => { funLayers(m)[2].class_name = 'Quantizer'; funLayers(m)[2].config = { name: 'ste_sign', quantizer: 'ste_sign' }; }, /"Quantizer" is not written in files.*SteSign/],
  // Keras 3 configs (seed 000's, as the converter wrote it)
  ['Keras 3: keras_history not a triple', 'keras3', (m) => { k3Layers(m)[2].inbound_nodes[0].args[0].config.keras_history = ['flatten', 0]; }, /^layer "first_hidden_layer" \(QuantDense\), inbound_nodes\[0\]\.args\[0\], keras_history: got \["flatten",0\], expected \[layer name, node index, tensor index\]/],
  ['Keras 3: keras_history index not an integer', 'keras3', (m) => { k3Layers(m)[2].inbound_nodes[0].args[0].config.keras_history = ['flatten', '0', 0]; }, /first_hidden_layer.*keras_history: got \["flatten","0",0\]/],
  ['Keras 3: keras_history names no layer', 'keras3', (m) => { k3Layers(m)[2].inbound_nodes[0].args[0].config.keras_history = ['flaten', 0, 0]; }, /layer "first_hidden_layer" \(QuantDense\): inbound node "flaten" is not a layer of the model \(dangling\)/],
  ['Keras 3: keras_history of a second call', 'keras3', (m) => { k3Layers(m)[2].inbound_nodes[0].args[0].config.keras_history = ['flatten', 1, 0]; }, /layer "first_hidden_layer".*inbound tensor \["flatten",1,0,\{\}\]/],
  ['Keras 3: an argument that is not a tensor', 'keras3', (m) => { k3Layers(m)[2].inbound_nodes[0].args = [5]; }, /first_hidden_layer.*inbound_nodes\[0\]\.args\[0\]: got 5, expected a tensor/],
  ['Keras 3: unknown inbound node key', 'keras3', (m) => { k3Layers(m)[2].inbound_nodes[0].call = 1; }, /first_hidden_layer.*inbound_nodes\[0\]: unknown key "call"/],
  ['Keras 3: called with training=True', 'keras3', (m) => { k3Layers(m)[3].inbound_nodes[0].kwargs.training = true; }, /layer "batch_normalization" \(BatchNormalization\), inbound_nodes\[0\]\.kwargs, kwarg "training": got true/],
  ['Keras 3: renorm on', 'keras3', (m) => { k3Layers(m)[3].config.renorm = true; }, /^layer "batch_normalization" \(BatchNormalization\), key "renorm": got true: batch renormalization.*; retrain with renorm=False/],
  ['Keras 3: a mixed_float16 layer', 'keras3', (m) => { k3Layers(m)[2].config.dtype.config.name = 'mixed_float16'; }, /^layer "first_hidden_layer" \(QuantDense\), key "dtype": dtype policy "mixed_float16" computes in float16.*float32 policy/],
  ['Keras 3: quantization_config set', 'keras3', (m) => { k3Layers(m)[2].config.quantization_config = { class_name: 'Int8QuantizationConfig', config: {} }; }, /^layer "first_hidden_layer" \(QuantDense\), key "quantization_config"/],
  ['Keras 3: unknown key', 'keras3', (m) => { k3Layers(m)[2].config.kernel_quantiser = null; }, /layer "first_hidden_layer" \(QuantDense\): unknown config key "kernel_quantiser"/],
  ['Keras 3: bare output endpoint names no layer', 'keras3', (m) => { m.modelTopology.model_config.config.output_layers = ['outputlayer', 0, 0]; }, /output_layers.*"outputlayer", which is not a layer/],
  ['Keras 3: batch_shape and batch_input_shape', 'keras3', (m) => { k3Layers(m)[0].config.batch_input_shape = [null, 28, 28, 1]; }, /layer "input_layer" \(InputLayer\): has both batch_shape/],
  // packed binary weights (b1)
  ['b1 weight of a float layer', 'packed-conv', (m) => { const w = m.weightsManifest[0].weights; w[w.length - 1].quantization = w[0].quantization; }, /weight "dense\/bias": stored as b1.*layer "dense" \(Dense\) has no binary kernel_quantizer/, (b) => b.slice(0, b.length - 40 + 4).buffer],
  ['b1 kernel of a non-binary quantizer', 'packed-mlp', (m) => { topLayers(m)[3].config.kernel_quantizer = 'ste_tern'; }, /quant_dense_1\/kernel": stored as b1.*no binary kernel_quantizer/],
  ['b1 of int32', 'packed-mlp', (m) => { m.weightsManifest[0].weights[0].dtype = 'int32'; }, /quant_dense\/kernel.*quantization: b1 \(sign bits\) decodes to float32 only/],
  ['b1 from float16', 'packed-mlp', (m) => { m.weightsManifest[0].weights[0].quantization.original_dtype = 'float16'; }, /quant_dense\/kernel.*b1 \(sign bits\) decodes to float32 only/],
  ['b1 shard truncated', 'packed-mlp', () => {}, /truncated/, (b) => b.slice(0, b.length - 4).buffer],
  ['b1 pad bits set', 'packed-conv', () => {}, /weight "quant_conv2d\/kernel": b1 pad bits past element 431 are set/, (b) => { const c = b.slice(); c[13 * 4 + 3] |= 0x80; return c.buffer; }],
];

async function tryParse(m: unknown, shards: ArrayBuffer[]): Promise<unknown> {
  try {
    await parseModel(m, shards);
    return undefined;
  } catch (e) {
    return e;
  }
}

describe('tfjs Layers format: malformed files', () => {
  it.each(MALFORMED.map((c) => [c[0], c] as const))('rejects: %s', async (_, [, which, edit, re, shardEdit]) => {
    const { m, bytes } = await fixture(which);
    edit(m);
    const e = await tryParse(m, [shardEdit ? shardEdit(new Uint8Array(bytes)) : bytes]);
    expect(e).toBeInstanceOf(ModelFormatError);
    expect((e as Error).message).toMatch(re);
  });

  it('rejects garbage at the top level', async () => {
    for (const g of [null, 3, 'x', [], { modelTopology: null, weightsManifest: [] }]) {
      expect(await tryParse(g, [])).toBeInstanceOf(ModelFormatError);
    }
    expect(await parseModel(mlpConverter(), async () => { throw new Error('404'); }).catch((e) => e.message)).toMatch(/shard "group1-shard1of1.bin".*404/);
  });

  it('fuzz: a few hundred seeded mutations of valid files (five kinds, Keras 3 among them) parse or throw ModelFormatError, never anything else', async () => {
    const rng = new Random(20240607);
    const garbage = () => [null, 0, -1, 1.5, NaN, 1e12, '', 'same', 'x/y', [], [1], [[]], {}, { class_name: 'X' }, true, [null, 3]][rng.int(16)];
    let rejected = 0;
    const kinds: Which[] = ['mlp', 'conv', 'multi', 'packed-conv', 'keras3'];
    for (let trial = 0; trial < 400; trial++) {
      const { m, bytes } = await fixture(kinds[rng.int(kinds.length)]);
      for (let k = 1 + rng.int(2); k > 0; k--) {
        // Walk to a random container, then replace, delete or add one of its entries.
        let o: any = m;
        for (let depth = rng.int(8); depth > 0; depth--) {
          const keys = o && typeof o === 'object' ? Object.keys(o) : [];
          const next = keys.length ? o[keys[rng.int(keys.length)]] : undefined;
          if (!next || typeof next !== 'object') break;
          o = next;
        }
        const keys = Object.keys(o);
        const key = keys.length ? keys[rng.int(keys.length)] : '0';
        const r = rng.int(3);
        if (r === 0) delete o[key];
        else if (r === 1) o[key] = garbage();
        else o[Array.isArray(o) ? o.length : `extra_${trial}`] = garbage();
      }
      const e = await tryParse(m, [bytes]);
      if (e !== undefined && !(e instanceof ModelFormatError)) throw new Error(`trial ${trial}: ${(e as Error).stack ?? String(e)}\n${JSON.stringify(m).slice(0, 400)}`);
      if (e) rejected++;
    }
    expect(rejected).toBeGreaterThan(200);
  });
});
