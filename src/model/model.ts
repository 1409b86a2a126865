// The model API, mirroring Keras/Larq: layers built with TF.js-style options (camelCase, or Larq's
// snake_case), composed with `sequential([...])` or functionally (`input()`, `layer.apply(x)`, a
// merge's `layer.apply([a, b])`, `model({inputs, outputs})`). A built model is the same thing as a
// loaded model.json: the layers go through the file reader's validation and shape inference, so
// both fail the same way.
import { Random } from '../random.js';
import { QUANTIZERS, type QuantizerIdentifier } from './quantizers.js';
import { ModelFormatError, type LayerClass, type LayerSpec } from './layer-config.js';
import { LAYER_KINDS } from '../layers/index.js';
import { expectedWeights, parseModel, parseTopology, serializeModel, type ModelSpec, type SerializeOptions, type ShardSource, type WeightTensor } from './tfjs-format.js';

/** Options a layer builder takes: Keras's config keys in camelCase (TF.js) or snake_case (Larq), plus inputShape. */
export type LayerArgs = Record<string, unknown> & { name?: string; inputShape?: number[]; batchInputShape?: (number | null)[] };

/** A layer not yet in a model: its Keras class and config. `apply` wires it for the functional API. */
export class LayerDef {
  /** The inbound tensors when applied (functional API): one, or several for a merge layer (Add, Concatenate). */
  inbound: SymbolicTensor[] = [];
  private output: SymbolicTensor | null = null;

  constructor(
    readonly className: string,
    readonly config: Record<string, unknown>,
  ) {}

  get name(): string | undefined {
    return this.config.name as string | undefined;
  }

  /** Functional API: this layer applied to `x` (a merge layer to a list `[a, b, ...]`). A layer can be applied once (no shared layers). */
  apply(x: SymbolicTensor | SymbolicTensor[]): SymbolicTensor {
    const xs = Array.isArray(x) ? x : [x];
    if (xs.length === 0 || !xs.every((t) => t instanceof SymbolicTensor)) throw new ModelFormatError(`${this.className}.apply: expected a tensor from input() or another layer's apply() (a list of them for a merge layer)`);
    if (this.output) throw new ModelFormatError(`${this.className}${this.name ? ` "${this.name}"` : ''}.apply: the layer is already applied; shared layers are not supported, create another layer`);
    this.inbound = xs;
    return (this.output = new SymbolicTensor(this));
  }
}

/** The output of a layer in the functional API (Keras's KerasTensor). */
export class SymbolicTensor {
  constructor(readonly producer: LayerDef) {}
}

const snake = (k: string) => (k.includes('_') ? k : k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));

function toConfig(args: LayerArgs): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined) continue;
    if (k === 'inputShape' || k === 'input_shape') out.batch_input_shape = [null, ...(v as number[])];
    else out[snake(k)] = v;
  }
  return out;
}

const builder = (className: string) => (args: LayerArgs = {}) => new LayerDef(className, toConfig(args));

/** A kind's builder name as TF.js names it: the class with its first letter lowered and 2D as 2d (QuantConv2D -> quantConv2d). */
type BuilderName<K extends string> = K extends `${infer P}2D` ? `${Uncapitalize<P>}2d` : Uncapitalize<K>;
const builderName = (k: string) => k[0].toLowerCase() + k.slice(1).replace(/2D$/, '2d');

/** A builder for every layer kind (src/layers/): a new kind gets its builder from its record. */
const kindBuilders = Object.fromEntries(
  Object.keys(LAYER_KINDS)
    .filter((k) => k !== 'Quantizer')
    .map((k) => [builderName(k), builder(k)]),
) as { [K in Exclude<LayerClass, 'Quantizer'> as BuilderName<K>]: (args?: LayerArgs) => LayerDef };

/** Layer builders, named as TF.js names them (`tf.layers.dense`), with Larq's quantized layers and quantizer layers. */
export const layers = {
  ...kindBuilders,
  /** Keras's Add: apply it to a list, `layers.add().apply([a, b])`. */
  add: builder('Add'),
  /** Keras's Concatenate (`axis`, default -1: the channels): apply it to a list. */
  concatenate: builder('Concatenate'),
  /** `padding`: n, [h, w] or [[top, bottom], [left, right]]; default 1. */
  zeroPadding2d: builder('ZeroPadding2D'),
  /** `targetShape` without the batch dimension; one size may be -1. */
  reshape: builder('Reshape'),
  /** A Larq quantizer as a layer: `quantizer('ste_sign')`, `quantizer({class_name: 'SteSign', config: {clip_value: 2}})`. */
  quantizer(id: Exclude<QuantizerIdentifier, null | undefined>, args: { name?: string } = {}): LayerDef {
    const s = typeof id === 'string' ? { class_name: id, config: {} } : 'className' in id ? { class_name: id.className, config: { ...id.config } } : id;
    const def = QUANTIZERS[s.class_name];
    if (!def || !Object.hasOwn(QUANTIZERS, s.class_name)) throw new ModelFormatError(`layers.quantizer: unknown quantizer "${s.class_name}" (known: ${Object.keys(QUANTIZERS).join(', ')})`);
    return new LayerDef(def.className, { ...s.config, ...(args.name ? { name: args.name } : {}) });
  },
  steSign: (args: { clipValue?: number | null; name?: string } = {}) => new LayerDef('SteSign', toConfig(args)),
  approxSign: (args: { name?: string } = {}) => new LayerDef('ApproxSign', toConfig(args)),
  swishSign: (args: { beta?: number; name?: string } = {}) => new LayerDef('SwishSign', toConfig(args)),
  magnitudeAwareSign: (args: { clipValue?: number | null; name?: string } = {}) => new LayerDef('MagnitudeAwareSign', toConfig(args)),
  steHeaviside: (args: { clipValue?: number | null; name?: string } = {}) => new LayerDef('SteHeaviside', toConfig(args)),
  steTern: (args: { thresholdValue?: number; ternaryWeightNetworks?: boolean; clipValue?: number | null; name?: string } = {}) => new LayerDef('SteTern', toConfig(args)),
  dorefa: (args: { kBit?: number; mode?: 'activations' | 'weights'; name?: string } = {}) => new LayerDef('DoReFa', toConfig(args)),
  noOp: (args: { precision?: number; name?: string } = {}) => new LayerDef('NoOp', toConfig(args)),
};

/** Functional API: a model input (an InputLayer). `shape` excludes the batch dimension. */
export function input(args: { shape: number[]; name?: string }): SymbolicTensor {
  return new SymbolicTensor(new LayerDef('InputLayer', { batch_input_shape: [null, ...args.shape], ...(args.name ? { name: args.name } : {}) }));
}

/** Keras's default layer name: the class in snake case (QuantDense -> quant_dense), then _1, _2, ... */
export function defaultName(className: string): string {
  // Keras's generic_utils.to_snake_case
  return className
    .replace(/(.)([A-Z][a-z0-9]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

function assignNames(defs: LayerDef[]): Map<LayerDef, string> {
  const names = new Map<LayerDef, string>();
  const used = new Set(defs.map((d) => d.name).filter((n): n is string => typeof n === 'string'));
  const counters = new Map<string, number>();
  for (const d of defs) {
    if (typeof d.name === 'string') {
      names.set(d, d.name);
      continue;
    }
    const base = defaultName(d.className);
    let i = counters.get(base) ?? 0;
    let name = i === 0 ? base : `${base}_${i}`;
    while (used.has(name)) name = `${base}_${++i}`;
    counters.set(base, i + 1);
    used.add(name);
    names.set(d, name);
  }
  return names;
}

export interface BuildOptions {
  name?: string;
  /** Seed of the weight initializers (Keras's: glorot_uniform kernels, zero biases, BN gamma 1, beta 0, mean 0, variance 1). Default 0. */
  seed?: number;
  /** Model input shape (without batch) for a Sequential whose first layer has no inputShape. */
  inputShape?: number[];
}

/** A Sequential model: the layers in order; the first needs inputShape (or options.inputShape). */
export function sequential(defs: LayerDef[], options: BuildOptions = {}): Model {
  if (!Array.isArray(defs) || defs.length === 0) throw new ModelFormatError('sequential: expected a non-empty list of layers');
  defs.forEach((d, i) => {
    if (!(d instanceof LayerDef)) throw new ModelFormatError(`sequential: layers[${i}] is not a layer (use the builders in \`layers\`)`);
  });
  const names = assignNames(defs);
  const entries = defs.map((d) => ({ class_name: d.className, config: { ...d.config, name: names.get(d) } as Record<string, unknown> }));
  if (options.inputShape && !entries[0].config.batch_input_shape) entries[0].config.batch_input_shape = [null, ...options.inputShape];
  const topology = { class_name: 'Sequential', config: { name: options.name ?? 'sequential', layers: entries } };
  return Model.initialize(topology, options.seed ?? 0);
}

/** A functional model from its input and output tensors (several of each allowed). */
export function model(args: { inputs: SymbolicTensor | SymbolicTensor[]; outputs: SymbolicTensor | SymbolicTensor[]; name?: string; seed?: number }): Model {
  const inputs = Array.isArray(args.inputs) ? args.inputs : [args.inputs];
  const outputs = Array.isArray(args.outputs) ? args.outputs : [args.outputs];
  // Every layer reachable backwards from the outputs, inputs first.
  const order: LayerDef[] = [];
  const seen = new Set<LayerDef>();
  const visit = (d: LayerDef) => {
    if (seen.has(d)) return;
    seen.add(d);
    for (const t of d.inbound) visit(t.producer);
    order.push(d);
  };
  for (const t of [...inputs, ...outputs]) {
    if (!(t instanceof SymbolicTensor)) throw new ModelFormatError('model: inputs and outputs must be tensors from input() or a layer\'s apply()');
    visit(t.producer);
  }
  const names = assignNames(order);
  const ref = (d: LayerDef) => [names.get(d)!, 0, 0];
  const entries = order.map((d) => ({
    class_name: d.className,
    name: names.get(d),
    config: { ...d.config, name: names.get(d) },
    inbound_nodes: d.inbound.length ? [d.inbound.map((t) => [...ref(t.producer), {}])] : [],
  }));
  const topology = {
    class_name: 'Functional',
    config: { name: args.name ?? 'model', layers: entries, input_layers: inputs.map((t) => ref(t.producer)), output_layers: outputs.map((t) => ref(t.producer)) },
  };
  return Model.initialize(topology, args.seed ?? 0);
}

/** Glorot-uniform kernels and Keras's other default initializers for every weight the layers imply. */
function initialWeights(spec: Omit<ModelSpec, 'weights'>, seed: number): Map<string, WeightTensor> {
  const rng = new Random(seed);
  const weights = new Map<string, WeightTensor>();
  for (const [name, shape] of expectedWeights(spec.layers, spec.inputs)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const param = name.slice(name.lastIndexOf('/') + 1);
    let data: Float32Array;
    if (param === 'kernel') {
      const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
      const limit = Math.sqrt(6 / (receptive * shape[shape.length - 2] + receptive * shape[shape.length - 1]));
      data = rng.floats(n, -limit, limit);
    } else if (param === 'gamma' || param === 'moving_variance') data = new Float32Array(n).fill(1);
    else data = new Float32Array(n);
    weights.set(name, { shape, data });
  }
  return weights;
}

/** A model: its validated graph (layers in topological order, with output shapes) and its weights. */
export class Model {
  constructor(readonly spec: ModelSpec) {}

  static initialize(topology: unknown, seed: number): Model {
    const topo = parseTopology(topology);
    return new Model({ ...topo, weights: initialWeights(topo, seed) });
  }

  /** Reads a TF.js Layers model: the parsed model.json and its shards (or a loader by path). */
  static async fromJSON(json: unknown, shards: ShardSource): Promise<Model> {
    return new Model(await parseModel(json, shards));
  }

  /** model.json and its one shard; `packBinaryWeights` stores binarized kernels as bits (inference only). */
  toJSON(options: SerializeOptions = {}): { modelJson: Record<string, unknown>; shards: ArrayBuffer[] } {
    return serializeModel(this.spec, options);
  }

  get name(): string {
    return this.spec.name;
  }

  get layers(): readonly LayerSpec[] {
    return this.spec.layers;
  }

  get inputs(): readonly { name: string; shape: number[] }[] {
    return this.spec.inputs;
  }

  get outputs(): readonly string[] {
    return this.spec.outputs;
  }

  layer(name: string): LayerSpec {
    const l = this.spec.layers.find((x) => x.name === name);
    if (!l) throw new ModelFormatError(`no layer "${name}" in model "${this.name}" (layers: ${this.spec.layers.map((x) => x.name).join(', ')})`);
    return l;
  }

  /** A weight by `layer/param` (e.g. `quant_dense/kernel`), in Keras's layout. */
  weight(name: string): WeightTensor {
    const w = this.spec.weights.get(name);
    if (!w) throw new ModelFormatError(`no weight "${name}" (weights: ${[...this.spec.weights.keys()].join(', ')})`);
    return w;
  }

  /** Replaces a weight's values (same shape). */
  setWeight(name: string, data: Float32Array): void {
    const w = this.weight(name);
    if (data.length !== w.data.length) throw new ModelFormatError(`setWeight "${name}": ${data.length} values for shape [${w.shape}] (${w.data.length})`);
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw new ModelFormatError(`setWeight "${name}": element ${i} is ${data[i]}; weights must be finite`);
    this.spec.weights.set(name, { shape: w.shape, data: Float32Array.from(data) });
  }
}
