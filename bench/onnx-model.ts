// A model's float simulation as an ONNX graph, for ONNX Runtime Web (bench/ort.ts): the TF.js
// translation (bench/tfjs.ts inferenceForward, the layer kinds' tfjs hooks) run on a tracer that
// implements the TF.js ops by recording ONNX nodes, so both peers compute the same ops in the same
// order. Layout NHWC as in TF.js; Conv and pooling are wrapped in Transposes to and from NCHW, which
// ORT's layout optimizer cancels on its NHWC-preferring WebGPU EP.
import type { ModelSpec } from '../src/model/tfjs-format.js';
import type { TfOps, TfTensor } from '../src/layers/tfjs-ops.js';
import { encodeOnnxModel, type OnnxAttr, type OnnxGraph } from './onnx-proto.js';
import { inferenceForward } from './tfjs.js';

/** What the tracer cannot express in ONNX (an op it was asked for in a form it does not record). */
export class OnnxTranslationError extends Error {
  override name = 'OnnxTranslationError';
}

/** The batch dimension: symbolic (the graph input's dim_param 'N'), -1 in traced shapes and Reshapes. */
const BATCH = -1;

/** A traced value: its name in the graph and its shape (BATCH for the batch). */
class Sym implements TfTensor {
  constructor(
    readonly name: string,
    readonly shape: number[],
  ) {}
  data(): Promise<unknown> {
    throw new OnnxTranslationError(`${this.name} is a traced ONNX value: it has no data (run the model in ONNX Runtime)`);
  }
  dispose(): void {}
}

/** Output size of a window over `n` (TF's 'same' and 'valid'), and the padding before it for 'same'. */
function windowed(n: number, k: number, stride: number, dilation: number, pad: 'same' | 'valid'): { out: number; before: number; after: number } {
  const span = (k - 1) * dilation + 1;
  if (pad === 'valid') return { out: Math.floor((n - span) / stride) + 1, before: 0, after: 0 };
  const out = Math.ceil(n / stride);
  const total = Math.max(0, (out - 1) * stride + span - n);
  return { out, before: Math.floor(total / 2), after: total - Math.floor(total / 2) }; // TF puts the odd pixel after
}

const broadcast = (a: number[], b: number[]): number[] => {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const [x, y] = [a[a.length - n + i] ?? 1, b[b.length - n + i] ?? 1];
    return x === 1 ? y : x;
  });
};

/** Records the TF.js ops the translations call as ONNX nodes (TfOps, structurally). */
class OnnxTracer implements TfOps {
  private readonly graph: OnnxGraph;
  private count = 0;
  /** Constant values by name, so a conv kernel is transposed once here rather than on every run. */
  private consts = new Map<string, { data: Float32Array; shape: number[] }>();

  constructor(name: string) {
    this.graph = { name, nodes: [], initializers: [], inputs: [], outputs: [] };
  }

  private fresh(prefix: string): string {
    return `${prefix}${this.count++}`;
  }

  private node(op: string, inputs: (TfTensor | string)[], shape: number[], attrs?: Record<string, OnnxAttr>): Sym {
    const y = new Sym(this.fresh('v'), shape);
    this.graph.nodes.push({ op, inputs: inputs.map((x) => (typeof x === 'string' ? x : (x as Sym).name)), outputs: [y.name], attrs });
    return y;
  }

  private ints(values: number[]): string {
    const name = this.fresh('i');
    this.graph.initializers.push({ name, dims: [values.length], data: BigInt64Array.from(values, BigInt) });
    return name;
  }

  input(shape: number[]): Sym {
    const x = new Sym('x', [BATCH, ...shape]);
    this.graph.inputs.push({ name: x.name, dims: ['N', ...shape] });
    return x;
  }

  /** Marks `y` the graph's output and returns the graph, without the constants no node reads (a conv's HWIO kernel, replaced by its OIHW copy). */
  output(y: TfTensor): OnnxGraph {
    this.graph.outputs.push({ name: (y as Sym).name, dims: (y.shape as number[]).map((d) => (d === BATCH ? 'N' : d)) });
    const read = new Set(this.graph.nodes.flatMap((n) => n.inputs));
    return { ...this.graph, initializers: this.graph.initializers.filter((t) => read.has(t.name)) };
  }

  tensor(data: Float32Array | Int32Array, shape: number[], dtype: 'float32' | 'int32'): TfTensor {
    if (dtype !== 'float32') throw new OnnxTranslationError(`the ONNX translation records f32 constants only (got ${dtype})`);
    const y = new Sym(this.fresh('c'), shape);
    const f = Float32Array.from(data);
    this.graph.initializers.push({ name: y.name, dims: shape, data: f });
    this.consts.set(y.name, { data: f, shape });
    return y;
  }

  private operand(b: TfTensor | number): TfTensor {
    return typeof b === 'number' ? this.tensor(Float32Array.of(b), [], 'float32') : b;
  }

  private binary(op: string, a: TfTensor, b: TfTensor | number): TfTensor {
    const t = this.operand(b);
    return this.node(op, [a, t], broadcast(a.shape, t.shape));
  }

  add = (a: TfTensor, b: TfTensor | number) => this.binary('Add', a, b);
  sub = (a: TfTensor, b: TfTensor) => this.binary('Sub', a, b);
  mul = (a: TfTensor, b: TfTensor) => this.binary('Mul', a, b);
  abs = (x: TfTensor) => this.node('Abs', [x], x.shape);
  sign = (x: TfTensor) => this.node('Sign', [x], x.shape);
  relu = (x: TfTensor) => this.node('Relu', [x], x.shape);
  rsqrt = (x: TfTensor) => this.node('Reciprocal', [this.node('Sqrt', [x], x.shape)], x.shape);
  softmax = (x: TfTensor) => this.node('Softmax', [x], x.shape, { axis: -1 });

  /**
   * Larq's ste_sign (x < 0 ? -1 : +1, so sign(0) = +1) as Where(Less(x, 0), -1, +1): ORT Web 1.31's
   * WebGPU EP has no Sign kernel (Sign runs on the CPU, a round trip per layer), it has Less and Where.
   */
  steSign(x: TfTensor): TfTensor {
    const [zero, minus, plus] = [0, -1, 1].map((v) => (this.operand(v) as Sym).name);
    const negative = this.node('Less', [x, zero], x.shape);
    return this.node('Where', [negative, minus, plus], x.shape);
  }

  reshape(x: TfTensor, shape: number[]): TfTensor {
    return this.node('Reshape', [x, this.ints(shape)], shape);
  }

  private transpose(x: TfTensor, perm: number[]): TfTensor {
    return this.node('Transpose', [x], perm.map((p) => x.shape[p]), { perm });
  }

  matMul(a: TfTensor, b: TfTensor, transposeA = false, transposeB = false): TfTensor {
    const swap = (t: TfTensor) => this.transpose(t, [...t.shape.keys()].map((i, _, all) => (i < all.length - 2 ? i : 2 * all.length - 3 - i)));
    const [x, w] = [transposeA ? swap(a) : a, transposeB ? swap(b) : b];
    return this.node('MatMul', [x, w], [...x.shape.slice(0, -1), w.shape[w.shape.length - 1]]);
  }

  /** A 2-D window op over NHWC `x`: Transpose to NCHW, the op, Transpose back. */
  private spatial(op: string, x: TfTensor, inputs: string[], o: { kernel: [number, number]; channels: number; strides: [number, number]; dilations: [number, number]; pad: 'same' | 'valid' }, attrs: Record<string, OnnxAttr>): TfTensor {
    const [N, H, W] = x.shape;
    const [h, w] = [0, 1].map((i) => windowed([H, W][i], o.kernel[i], o.strides[i], o.dilations[i], o.pad));
    const nchw = this.transpose(x, [0, 3, 1, 2]);
    const y = this.node(op, [nchw, ...inputs], [N, o.channels, h.out, w.out], { ...attrs, kernel_shape: o.kernel, strides: o.strides, pads: [h.before, w.before, h.after, w.after] });
    return this.transpose(y, [0, 2, 3, 1]);
  }

  conv2d(x: TfTensor, w: TfTensor, strides: [number, number], pad: 'same' | 'valid', _format: 'NHWC', dilations: [number, number] = [1, 1]): TfTensor {
    const [KH, KW, C, O] = w.shape;
    const k = this.consts.get((w as Sym).name);
    // TF.js's HWIO kernel as ONNX's OIHW: transposed here when constant, by a node otherwise.
    let oihw: TfTensor;
    if (k) {
      const t = new Float32Array(k.data.length);
      for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) for (let c = 0; c < C; c++) for (let o = 0; o < O; o++) t[((o * C + c) * KH + kh) * KW + kw] = k.data[((kh * KW + kw) * C + c) * O + o];
      oihw = this.tensor(t, [O, C, KH, KW], 'float32');
    } else oihw = this.transpose(w, [3, 2, 0, 1]);
    return this.spatial('Conv', x, [(oihw as Sym).name], { kernel: [KH, KW], channels: O, strides, dilations, pad }, { dilations });
  }

  maxPool(x: TfTensor, size: [number, number], strides: [number, number], pad: 'same' | 'valid'): TfTensor {
    return this.spatial('MaxPool', x, [], { kernel: size, channels: x.shape[3], strides, dilations: [1, 1], pad }, {});
  }

  avgPool(x: TfTensor, size: [number, number], strides: [number, number], pad: 'same' | 'valid'): TfTensor {
    // TF averages over the window's pixels inside the image only.
    return this.spatial('AveragePool', x, [], { kernel: size, channels: x.shape[3], strides, dilations: [1, 1], pad }, { count_include_pad: 0 });
  }

  batchNorm(x: TfTensor, mean: TfTensor, variance: TfTensor, offset?: TfTensor, scale?: TfTensor, eps = 0.001): TfTensor {
    // In TF.js's order: (x - mean) * scale * rsqrt(variance + eps) + offset.
    let y = this.sub(x, mean);
    if (scale) y = this.mul(y, scale);
    y = this.mul(y, this.rsqrt(this.add(variance, eps)));
    return offset ? this.add(y, offset) : y;
  }

  mean(x: TfTensor, axes?: number[], keepDims = false): TfTensor {
    const ax = (axes ?? [...x.shape.keys()]).map((a) => (a < 0 ? a + x.shape.length : a));
    const shape = x.shape.flatMap((d, i) => (ax.includes(i) ? (keepDims ? [1] : []) : [d]));
    return this.node('ReduceMean', [x], shape, { axes: ax, keepdims: keepDims ? 1 : 0 });
  }

  moments(x: TfTensor, axes: number[], keepDims = false): { mean: TfTensor; variance: TfTensor } {
    const d = this.sub(x, this.mean(x, axes, true));
    return { mean: this.mean(x, axes, keepDims), variance: this.mean(this.mul(d, d), axes, keepDims) };
  }

  pad(x: TfTensor, paddings: [number, number][], constantValue = 0): TfTensor {
    const value = this.operand(constantValue) as Sym;
    const shape = x.shape.map((d, i) => (d === BATCH ? d : d + paddings[i][0] + paddings[i][1]));
    return this.node('Pad', [x, this.ints([...paddings.map((p) => p[0]), ...paddings.map((p) => p[1])]), value.name], shape, { mode: 'constant' });
  }

  concat(xs: TfTensor[], axis = 0): TfTensor {
    const a = axis < 0 ? axis + xs[0].shape.length : axis;
    const shape = xs[0].shape.map((d, i) => (i === a ? xs.reduce((n, x) => n + x.shape[i], 0) : d));
    return this.node('Concat', xs, shape, { axis: a });
  }
}

/**
 * `spec`'s inference as an ONNX model (bytes for InferenceSession.create): the float simulation of
 * bench/tfjs.ts, but ste_sign as Where(Less(x, 0), -1, +1) (OnnxTracer.steSign; ONNX's own Sign(0)
 * is 0 where Larq's is +1, and has no WebGPU kernel in ORT Web), batch symbolic. Throws
 * TfjsTranslationError for a layer or quantizer TF.js's translation lacks.
 */
export function onnxModel(spec: ModelSpec): Uint8Array {
  if (spec.inputs.length !== 1) throw new OnnxTranslationError(`${spec.name}: the ONNX translation takes models with one input (this one has ${spec.inputs.length})`);
  const t = new OnnxTracer(spec.name);
  const forward = inferenceForward(t, spec, (data, shape) => t.tensor(Float32Array.from(data), shape, 'float32'), { steSign: (x) => t.steSign(x) });
  return encodeOnnxModel(t.output(forward(t.input(spec.inputs[0].shape))));
}

/**
 * One 'same' convolution as ONNX (stride 1, no bias): NHWC x [N,H,W,C] (batch symbolic) and our
 * kernel layout w [O,KH,KW,C], what bench/conv.ts times; the same graph onnxModel makes of a Conv2D.
 */
export function onnxConv(w: Float32Array, wShape: number[], spatial: [number, number]): Uint8Array {
  const [O, KH, KW, C] = wShape;
  const hwio = new Float32Array(w.length);
  for (let o = 0; o < O; o++) for (let k = 0; k < KH * KW; k++) for (let c = 0; c < C; c++) hwio[(k * C + c) * O + o] = w[(o * KH * KW + k) * C + c];
  const t = new OnnxTracer('conv');
  return encodeOnnxModel(t.output(t.conv2d(t.input([...spatial, C]), t.tensor(hwio, [KH, KW, C, O], 'float32'), [1, 1], 'same', 'NHWC')));
}
