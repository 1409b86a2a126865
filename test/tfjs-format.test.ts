// TF.js Layers model files with Larq classes: parsing both topology forms, round trips, a table of
// malformed files, and a seeded mutation fuzz (every failure must be a ModelFormatError).
import { describe, expect, it } from 'vitest';
import { parseModel, serializeModel, ModelFormatError, type ModelSpec } from '../src/model/tfjs-format.js';
import { Random } from '../src/random.js';

const ste = { class_name: 'SteSign', config: { clip_value: 1.0 } };
const clip = { class_name: 'WeightClip', config: { clip_value: 1.0 } };
const bn = (name: string) => ({ class_name: 'BatchNormalization', config: { name, trainable: true, dtype: 'float32', axis: -1, momentum: 0.999, epsilon: 1e-4, center: true, scale: false, beta_initializer: { class_name: 'Zeros', config: {} } } });
const qdense = (name: string, units: number, extra: Record<string, unknown> = {}) => ({
  class_name: 'QuantDense',
  config: { name, trainable: true, dtype: 'float32', units, activation: 'linear', use_bias: false, kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } }, bias_initializer: { class_name: 'Zeros', config: {} }, kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: clip, bias_constraint: null, input_quantizer: ste, kernel_quantizer: ste, ...extra },
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
  return [{ paths, weights: weights.map(([name, shape]) => ({ name, shape, dtype: 'float32' })) }];
}
function shardFor(weights: [string, number[]][], seed = 1): ArrayBuffer {
  const n = weights.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
  return new Random(seed).floats(n).buffer as ArrayBuffer;
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
  config: { name, trainable: true, dtype: 'float32', filters, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'linear', use_bias: false, kernel_constraint: clip, input_quantizer: 'ste_sign', kernel_quantizer: 'ste_sign', pad_values: 1.0, ...extra },
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

function expectSameSpec(a: ModelSpec, b: ModelSpec) {
  expect(b.format).toBe(a.format);
  expect(b.inputShape).toEqual(a.inputShape);
  expect(b.output).toBe(a.output);
  expect(b.layers).toEqual(a.layers);
  expect([...b.weights.keys()].sort()).toEqual([...a.weights.keys()].sort());
  for (const [k, t] of a.weights) expect(b.weights.get(k)).toEqual(t);
}

describe('tfjs Layers format: valid models', () => {
  it('parses the BinaryNet MLP in the converter form and in the tfjs-layers form, to the same spec', async () => {
    const a = await parseModel(mlpConverter(), [shardFor(MLP_WEIGHTS)]);
    const b = await parseModel(mlpLayersForm(), async () => shardFor(MLP_WEIGHTS));
    expect(a.format).toBe('sequential');
    expect(a.inputShape).toEqual([28, 28, 1]);
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
    const h16 = new Uint16Array(10).fill(0x3c00).map((v, i) => (i === 1 ? 0xc000 : v)); // 1.0, -2.0
    const all = new Uint8Array([...head, ...q8, ...new Uint8Array(q16.buffer), ...new Uint8Array(h16.buffer)]);
    const s = await parseModel(m, [all.buffer]);
    expect([...s.weights.get('batch_normalization_1/beta')!.data]).toEqual([...q8].map((q) => q * 0.5 - 1));
    expect([...s.weights.get('batch_normalization_1/moving_mean')!.data]).toEqual(new Array(10).fill(17));
    expect(s.weights.get('batch_normalization_1/moving_variance')!.data[1]).toBe(-2);
  });

  it('round-trips: serialize -> parse gives the same spec (Sequential and Functional)', async () => {
    for (const [m, w] of [[mlpConverter(), MLP_WEIGHTS], [convModel(), CONV_WEIGHTS]] as const) {
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

type Edit = (m: any) => void;
const seqLayers = (m: any) => m.modelTopology.model_config.config.layers;
const funLayers = (m: any) => m.modelTopology.model_config.config.layers;

/** [description, which model, edit, expected message fragment, optional shard edit]. */
const MALFORMED: [string, 'mlp' | 'conv', Edit, RegExp, ((b: Uint8Array) => ArrayBuffer)?][] = [
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
  ['Keras 3 inbound form', 'conv', (m) => { funLayers(m)[2].inbound_nodes = [{ args: [], kwargs: {} }]; }, /max_pooling2d.*Keras 3/],
  ['window larger than input', 'conv', (m) => { funLayers(m)[2].config.pool_size = [9, 9]; funLayers(m)[2].config.strides = null; }, /max_pooling2d.*does not fit/],
  ['output layer unknown', 'conv', (m) => { m.modelTopology.model_config.config.output_layers = [['dense_9', 0, 0]]; }, /output_layers.*dense_9/],
  ['two inputs', 'conv', (m) => { m.modelTopology.model_config.config.input_layers.push(['dense', 0, 0]); }, /input_layers.*several inputs/],
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
    const m = which === 'mlp' ? mlpConverter() : convModel();
    const w = which === 'mlp' ? MLP_WEIGHTS : CONV_WEIGHTS;
    edit(m);
    const bytes = shardFor(w);
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

  it('fuzz: a few hundred seeded mutations of valid files parse or throw ModelFormatError, never anything else', async () => {
    const rng = new Random(20240607);
    const garbage = () => [null, 0, -1, 1.5, NaN, 1e12, '', 'same', 'x/y', [], [1], [[]], {}, { class_name: 'X' }, true, [null, 3]][rng.int(16)];
    let rejected = 0;
    for (let trial = 0; trial < 400; trial++) {
      const which = rng.int(2);
      const m: any = which ? convModel() : mlpConverter();
      const w = which ? CONV_WEIGHTS : MLP_WEIGHTS;
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
      const e = await tryParse(m, [shardFor(w)]);
      if (e !== undefined && !(e instanceof ModelFormatError)) throw new Error(`trial ${trial}: ${(e as Error).stack ?? String(e)}\n${JSON.stringify(m).slice(0, 400)}`);
      if (e) rejected++;
    }
    expect(rejected).toBeGreaterThan(200);
  });
});
