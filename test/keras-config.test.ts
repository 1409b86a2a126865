// The reader's edge (src/model/keras-config.ts) on small configs of each Keras generation: both
// become the one canonical form, and keys we do not model are accepted or refused by the policy.
import { describe, expect, it } from 'vitest';
import { canonicalLayerConfig, canonicalTopology, UNMODELED } from '../src/model/keras-config.js';
import { ModelFormatError, readLayerConfig } from '../src/model/layer-config.js';
import { parseTopology } from '../src/model/tfjs-format.js';

const policy = (name: string) => ({ module: 'keras', class_name: 'DTypePolicy', config: { name }, registered_name: null });
const tensor = (layer: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 4], dtype: 'float32', keras_history: [layer, 0, 0] } });
const steSign3 = { module: null, class_name: 'SteSign', config: { name: 'ste_sign', trainable: true, dtype: policy('float32'), clip_value: 1.0 }, registered_name: 'SteSign', build_config: { input_shape: [4, 3] } };
const steSign2 = { class_name: 'SteSign', config: { name: 'ste_sign', trainable: true, dtype: 'float32', clip_value: 1.0 } };

/** A two-input functional model as Keras 3 writes it: one Add of the two, then a QuantDense. */
function keras3Functional() {
  return {
    keras_version: '3.15.1',
    backend: 'tensorflow',
    model_config: {
      class_name: 'Functional',
      config: {
        name: 'functional',
        trainable: true,
        layers: [
          { class_name: 'InputLayer', config: { batch_shape: [null, 4], dtype: 'float32', sparse: false, ragged: false, name: 'a', optional: false }, name: 'a', inbound_nodes: [] },
          { class_name: 'InputLayer', config: { batch_shape: [null, 4], dtype: 'float32', sparse: false, ragged: false, name: 'b', optional: false }, name: 'b', inbound_nodes: [] },
          { class_name: 'Add', config: { name: 'add', trainable: true, dtype: policy('float32') }, name: 'add', inbound_nodes: [{ args: [[tensor('a'), tensor('b')]], kwargs: {} }] },
          {
            module: null, class_name: 'QuantDense', registered_name: 'QuantDense', build_config: { input_shape: [null, 4] },
            config: { name: 'qd', trainable: true, dtype: policy('float32'), units: 3, activation: 'linear', use_bias: false, quantization_config: null, kernel_quantizer: steSign3, input_quantizer: null },
            name: 'qd',
            inbound_nodes: [{ args: [tensor('add')], kwargs: { mask: null } }],
          },
        ],
        input_layers: [['a', 0, 0], ['b', 0, 0]],
        output_layers: ['qd', 0, 0],
      },
    },
  };
}

/** The same model in the Keras 2 / tf-keras schema: the canonical form. */
function keras2Functional() {
  return {
    keras_version: '3.15.1',
    backend: 'tensorflow',
    model_config: {
      class_name: 'Functional',
      config: {
        name: 'functional',
        trainable: true,
        layers: [
          { class_name: 'InputLayer', config: { batch_input_shape: [null, 4], dtype: 'float32', name: 'a' }, name: 'a', inbound_nodes: [] },
          { class_name: 'InputLayer', config: { batch_input_shape: [null, 4], dtype: 'float32', name: 'b' }, name: 'b', inbound_nodes: [] },
          { class_name: 'Add', config: { name: 'add', trainable: true, dtype: 'float32' }, name: 'add', inbound_nodes: [[['a', 0, 0, {}], ['b', 0, 0, {}]]] },
          {
            class_name: 'QuantDense',
            config: { name: 'qd', trainable: true, dtype: 'float32', units: 3, activation: 'linear', use_bias: false, kernel_quantizer: steSign2, input_quantizer: null },
            name: 'qd',
            inbound_nodes: [[['add', 0, 0, {}]]],
          },
        ],
        input_layers: [['a', 0, 0], ['b', 0, 0]],
        output_layers: [['qd', 0, 0]],
      },
    },
  };
}

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelFormatError);
    return (e as Error).message;
  }
  throw new Error('expected a ModelFormatError, nothing was thrown');
}

describe('keras-config: both generations to one canonical form', () => {
  it('Keras 3 (batch_shape, DTypePolicy, module / registered_name / build_config, {args, kwargs} with a merge list, a bare endpoint) becomes Keras 2', () => {
    expect(canonicalTopology(keras3Functional())).toEqual(keras2Functional());
  });

  it('a Keras 2 config is already canonical, and canonical configs are fixed points', () => {
    expect(canonicalTopology(keras2Functional())).toEqual(keras2Functional());
    const once = canonicalTopology(keras3Functional());
    expect(canonicalTopology(once)).toEqual(once);
  });

  it('does not modify its input', () => {
    const m = keras3Functional();
    const copy = JSON.parse(JSON.stringify(m));
    canonicalTopology(m);
    expect(m).toEqual(copy);
  });

  it('Keras 3 Sequential: the model dtype checked and left out, build_input_shape kept; tfjs-layers form too', () => {
    const layers = [{ module: 'keras.layers', class_name: 'Dense', config: { name: 'd', dtype: policy('float32'), units: 2 }, registered_name: null, build_config: { input_shape: [null, 3] } }];
    const t = { class_name: 'Sequential', config: { name: 's', trainable: true, dtype: policy('float32'), layers, build_input_shape: [null, 3] }, keras_version: '3.15.1' };
    expect(canonicalTopology(t)).toEqual({ class_name: 'Sequential', config: { name: 's', trainable: true, layers: [{ class_name: 'Dense', config: { name: 'd', dtype: 'float32', units: 2 } }], build_input_shape: [null, 3] }, keras_version: '3.15.1' });
    expect(parseTopology(t).inputs).toEqual([{ name: 'd', shape: [3] }]);
    const mixed = { ...t, config: { ...t.config, dtype: policy('mixed_bfloat16') } };
    expect(refusal(() => canonicalTopology(mixed))).toMatch(/^Sequential config, key "dtype": dtype policy "mixed_bfloat16" computes in bfloat16/);
  });

  it('Keras 2 call kwargs: training=False and nulls are dropped, training=True refused', () => {
    const m = keras2Functional();
    m.model_config.config.layers[3].inbound_nodes = [[['add', 0, 0, { training: false, mask: null }]]] as never;
    expect(canonicalTopology(m)).toEqual(keras2Functional());
    m.model_config.config.layers[3].inbound_nodes = [[['add', 0, 0, { training: true }]]] as never;
    expect(refusal(() => canonicalTopology(m))).toMatch(/^layer "qd" \(QuantDense\), inbound_nodes\[0\]\[0\], kwarg "training": got true: the layer is called in training mode/);
  });
});

describe('keras-config: the policy for keys we do not model', () => {
  const bn = (extra: Record<string, unknown>) => ({ name: 'bn', axis: -1, ...extra });
  const accept: [string, string, Record<string, unknown>][] = [
    ['BatchNormalization', 'Keras 3 defaults', { synchronized: false, renorm: false, renorm_clipping: null, renorm_momentum: 0.99 }],
    ['BatchNormalization', 'synchronized: true (one device computes the same)', { synchronized: true }],
    ['BatchNormalization', 'renorm settings without renorm', { renorm: false, renorm_clipping: { rmax: 3 }, renorm_momentum: 0.9 }],
    ['BatchNormalization', 'tf-keras virtual_batch_size null', { virtual_batch_size: null }],
    ['Dense', 'quantization_config null', { quantization_config: null }],
    ['Dense', 'lora_rank null', { lora_rank: null, lora_alpha: 4 }],
    ['QuantConv2D', 'groups 1', { groups: 1 }],
    ['InputLayer', 'optional, sparse, ragged', { optional: true, sparse: false, ragged: null }],
  ];
  it.each(accept)('%s accepts %s, and leaves the keys out', (cls, _, extra) => {
    const out = canonicalLayerConfig(cls, bn(extra), `layer "bn" (${cls})`) as Record<string, unknown>;
    for (const k of Object.keys(extra)) expect(Object.keys(out)).not.toContain(k);
  });

  const refuse: [string, Record<string, unknown>, RegExp][] = [
    ['BatchNormalization', { renorm: true }, /key "renorm": got true: batch renormalization.*; retrain with renorm=False/],
    ['BatchNormalization', { virtual_batch_size: 32 }, /key "virtual_batch_size": got 32: ghost batch normalization/],
    ['BatchNormalization', { synchronized: 'yes' }, /key "synchronized": got "yes": expected true or false/],
    ['QuantConv2D', { groups: 2 }, /key "groups": got 2: a grouped convolution.*; use groups=1/],
    ['Dense', { quantization_config: { class_name: 'Int8QuantizationConfig', config: {} } }, /key "quantization_config": got .*Int8.*Keras's own quantization/],
    ['Dense', { lora_rank: 4 }, /key "lora_rank": got 4: a LoRA adapter.*; merge the adapter/],
    ['InputLayer', { sparse: true }, /key "sparse": got true: sparse inputs are not supported/],
    ['Dense', { dtype: policy('mixed_float16') }, /key "dtype": dtype policy "mixed_float16" computes in float16.*; save the model with the float32 policy/],
    ['Dense', { dtype: { class_name: 'Policy', config: { name: 'mixed_float16' } } }, /key "dtype": dtype policy "mixed_float16" computes in float16/],
    ['Dense', { dtype: { module: 'keras', class_name: 'QuantizedDTypePolicy', config: { name: 'int8_from_float32' } } }, /key "dtype": dtype policy .*QuantizedDTypePolicy.*Keras's own quantization/],
    ['QuantDense', { kernel_quantizer: { ...steSign3, config: { ...steSign3.config, dtype: policy('float16') } } }, /key "kernel_quantizer.config.dtype": dtype policy "float16"/],
    ['InputLayer', { batch_shape: [null, 2], batch_input_shape: [null, 2] }, /has both batch_shape \(Keras 3\) and batch_input_shape/],
  ];
  it.each(refuse)('%s refuses %j, naming the layer and the key', (cls, extra, re) => {
    const msg = refusal(() => canonicalLayerConfig(cls, bn(extra), `layer "bn" (${cls})`));
    expect(msg).toMatch(/^layer "bn" \(/);
    expect(msg).toMatch(re);
  });

  /** The canonical config, then the layer table's strict check, as parseTopology does. */
  const read = (config: Record<string, unknown>) => readLayerConfig('QuantDense', canonicalLayerConfig('QuantDense', config, 'layer "qd" (QuantDense)'), 'layers[3]');
  const qd3 = keras3Functional().model_config.config.layers[3].config;

  it("the Keras 3 QuantDense reads, Larq's quantizer normalized", () => {
    expect(read(qd3)).toMatchObject({ name: 'qd', units: 3, kernel_quantizer: { class_name: 'SteSign', config: { clip_value: 1 } } });
  });

  it('a key only applies to its layers: groups on a Dense is left to the strict check, which refuses it as unknown', () => {
    expect(refusal(() => read({ ...qd3, groups: 1 }))).toMatch(/layer "qd" \(QuantDense\): unknown config key "groups"/);
  });

  it('a truly unknown key with any value is still refused by the strict check', () => {
    expect(refusal(() => read({ ...qd3, new_keras_key: null }))).toMatch(/layer "qd" \(QuantDense\): unknown config key "new_keras_key"/);
  });

  it('every rule of the table is written in docs/executor.md', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../docs/executor.md', import.meta.url), 'utf8');
    for (const k of Object.keys(UNMODELED)) expect(doc, k).toContain(`\`${k}\``);
  });
});

describe('keras-config: values no Keras writes', () => {
  const deep = (n: number) => {
    let v: unknown = 0;
    for (let i = 0; i < n; i++) v = [v];
    return v;
  };
  it('a value nested 100,000 deep, or a cycle in a hand-built topology, is a ModelFormatError naming the layer and key, not a stack overflow', () => {
    expect(refusal(() => canonicalLayerConfig('Dense', { name: 'd', kernel_initializer: deep(100_000) }, 'layer "d" (Dense)'))).toMatch(/^layer "d" \(Dense\), key "kernel_initializer": nests deeper than 32 levels/);
    expect(refusal(() => canonicalLayerConfig('Dense', { name: 'd', dtype: deep(100_000) }, 'layer "d" (Dense)'))).toMatch(/^layer "d" \(Dense\), key "dtype": dtype \[\[\[\[.{0,80}\.\.\.: only float32 layers are supported/); // show() clips the value
    const cyclic: Record<string, unknown> = { class_name: 'GlorotUniform', config: {} };
    (cyclic.config as Record<string, unknown>).self = cyclic;
    expect(refusal(() => canonicalLayerConfig('Dense', { name: 'd', kernel_initializer: cyclic }, 'layer "d" (Dense)'))).toMatch(/key "kernel_initializer": nests deeper/);
  });
});

describe('keras-config: keys that are JavaScript names', () => {
  it('a "__proto__" key from JSON stays a key, refused by the strict check (never a prototype that hides it)', () => {
    const t = JSON.parse(JSON.stringify(keras2Functional()).replace('"units":3', '"units":3,"__proto__":{"use_bias":true}'));
    const out = canonicalTopology(t) as any;
    const cfg = out.model_config.config.layers[3].config;
    expect(Object.keys(cfg)).toContain('__proto__');
    expect(Object.getPrototypeOf(cfg)).toBe(Object.prototype);
    expect(() => readLayerConfig('QuantDense', cfg, 'layers[3]')).toThrow(/unknown config key "__proto__"/);
  });
});
