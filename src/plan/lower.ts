// The inference compiler's first half: a model's layers lowered to a list of kernel steps over
// values, on the CPU, with no GPU. Decides where a value can travel as bits (b1) and what fuses:
//   binary layer [+ bias] [+ BatchNormalization] whose result is only ever signed -> the threshold
//   epilogue (b1 out, no float round trip), or else the affine epilogue (f32 out);
//   max-pooling, flatten, reshape, dropout and sign-preserving activations stay on bits, and so
//   does a concatenation of bits whose leading inputs fill whole words;
//   the other merges (Add), global average pooling and zero padding run on floats;
//   a binary layer's input is packed once, where it is still float.
// A value "only signed" is one no one reads in full: not a model output, not requested, and every
// consumer is a binary-input layer, a binary quantizer, or one of the bit-preserving layers above
// whose own result is only signed. The GPU half (plan.ts) records these steps.
import { packBitPlanes, packRows, packTernaryRows } from '../bitpack.js';
import { dorefaScale } from '../ops/gemm-bit-serial.js';
import { hwioToOhwi } from '../analysis/kernel-reuse.js';
import { foldBatchNormAffine, foldBatchNormSign, foldDecision, type DecisionMap } from '../model/batchnorm-fold.js';
import { getQuantizer, type Quantizer } from '../model/quantizers.js';
import { transposeF32Reference } from '../ops/transpose.js';
import { CHANNEL_ACTIVATIONS, quantizeMode, type ChannelActivation, type QuantizeMode } from '../ops/elementwise.js';
import type { Activation, Conv2DConfig, LayerSpec, Padding } from '../model/layer-config.js';
import type { ModelSpec } from '../model/tfjs-format.js';
import { kindOf } from '../layers/index.js';
import { runPasses } from './passes/pipeline.js';
import type { KernelPath } from './kernel-path.js';
import { SIGN_PRESERVING } from '../layers/activations.js';
import { sameShape } from '../layers/shapes.js';
import { isQuantized } from '../layers/traits.js';

/** The model cannot be compiled as asked (an unsupported combination, an unknown name). Names the layer and the way out. */
export class CompileError extends Error {
  override name = 'CompileError';
}

export type Rep = 'f32' | 'b1';

export interface PlanValue {
  id: number;
  /** Without the batch dimension. */
  shape: number[];
  rep: Rep;
  /** f32, or bits that are the exact +-1 value of what produced them (not only the sign of a fused-away output). */
  full: boolean;
  /**
   * The names whose full value this holds: layer outputs, and `layer:input` for a quantized
   * layer's quantized input. Empty for a b1 value holding only the sign of a fused-away output.
   */
  names: string[];
  /** b1 rows stored longer than the last axis (padded with +1 to whole 128-bit vectors). */
  storedCols?: number;
  /** This value is another one's storage seen with another shape (Flatten, Dropout, ...). */
  aliasOf?: number;
  /** Index of the model input it is. */
  input?: number;
}

export type Epilogue =
  | { kind: 'threshold'; threshold: Int32Array; flip: Uint32Array }
  | { kind: 'affine'; scale: Float32Array; bias: Float32Array };

export interface ConvWindow {
  strides: [number, number];
  padding: Padding;
  dilation: [number, number];
  padValues: 0 | 1;
}


/** One kernel launch of the plan. `layers` names what it implements (several when fused). */
export type Step = { layers: string[]; x: number; y: number } & (
  /** sign(x) as bits; `columns` pads the rows with +1 to that length. */
  | { op: 'pack'; columns?: number }
  | { op: 'unpack' }
  /**
   * b1 x [rows, K] . b1 w [N, K], fused epilogue. `ternary`: w is {-1, 0, +1} as two planes
   * [2, N, K] (mask, sign; packTernaryRows) and runs on ternaryGemm.
   */
  | { op: 'binaryDense'; N: number; K: number; weights: Uint32Array; epilogue: Epilogue; ternary?: boolean }
  /** b1 NHWC x, b1 OHWI w (or ternary planes [2, O, KH, KW, I]), fused epilogue. */
  | { op: 'binaryConv'; kernel: [number, number, number, number]; weights: Uint32Array; window: ConvWindow; epilogue: Epilogue; ternary?: boolean }
  /** f32 x . b1 w by sign-select (a binary kernel on a real-valued input). */
  | { op: 'binaryFloatDense'; N: number; K: number; weights: Uint32Array }
  | { op: 'binaryFloatConv'; kernel: [number, number, number, number]; weights: Uint32Array; window: ConvWindow }
  /** DoReFa's activation levels of f32 x as `bits` bit planes: b1 [bits, rows, ...] (the batch after the planes). */
  | { op: 'dorefaPlanes'; bits: number }
  /**
   * DoReFa by bit-serial popcount: x the planes of a dorefaPlanes step, weights [kw, N, K] (conv:
   * [kw, O, KH, KW, I]) planes of the weights' levels; the epilogue's scale holds dorefaScale.
   */
  | { op: 'bitSerialDense'; N: number; K: number; bits: [number, number]; weights: Uint32Array; epilogue: Epilogue }
  | { op: 'bitSerialConv'; kernel: [number, number, number, number]; bits: [number, number]; weights: Uint32Array; window: ConvWindow; epilogue: Epilogue }
  | { op: 'floatDense'; N: number; K: number; weights: Float32Array }
  | { op: 'floatConv'; kernel: [number, number, number, number]; weights: Float32Array; window: ConvWindow }
  /** y = act(x * scale[c] + bias[c]) over the last axis; `halves`: x's last axis is 2C, its halves summed first. */
  | { op: 'affine'; scale?: Float32Array; bias?: Float32Array; activation: ChannelActivation; halves?: boolean }
  | { op: 'quantize'; quantizer: QuantizeMode }
  /** A sign or heaviside of an affine map of x, decided on x by f32 thresholds (foldDecision): exact on the decision point. */
  | { op: 'thresholdQuantize'; kind: 'sign' | 'heaviside'; threshold: Float32Array; flip: Uint32Array }
  | { op: 'softmax' }
  | { op: 'maxPool' | 'avgPool'; poolSize: [number, number]; strides: [number, number]; padding: Padding }
  /** f32 NHWC padded with `fill` (Larq's pad_values where no binary kernel does it). */
  | { op: 'pad'; top: number; bottom: number; left: number; right: number; fill: number }
  /**
   * XNOR-Net's input scaling K of f32 x (src/ops/xnor-scale.ts): one value per output position of
   * the layer (dense: per row; conv: over `conv`'s window), y [OH, OW, 1] or [..., 1].
   */
  | { op: 'xnorScale'; conv?: { kernelSize: [number, number]; window: Omit<ConvWindow, 'padValues'> } }
  /** y = x * K per row (position), K the value `scale` (an xnorScale step's). */
  | { op: 'scaleRows'; scale: number }
  /** y = x + x2 (f32, one shape): Keras's Add of two tensors, a chain of these for more. */
  | { op: 'add'; x2: number }
  /** y = the rows of x then those of x2 along the last axis (f32): Keras's Concatenate. */
  | { op: 'concat'; x2: number }
  /** The same on bits, word by word (x's last axis a multiple of 32). */
  | { op: 'concatBits'; x2: number }
);

/** The values a step reads: x, a scaleRows step's K, a merge's second input. */
export function stepInputs(s: Step): number[] {
  if (s.op === 'scaleRows') return [s.x, s.scale];
  if (s.op === 'add' || s.op === 'concat' || s.op === 'concatBits') return [s.x, s.x2];
  return [s.x];
}

export interface LoweredPlan {
  values: PlanValue[];
  steps: Step[];
  /** Value id of each model input, in the model's order. */
  inputs: number[];
  /** Every name that can be read, with its value id. */
  named: Map<string, number>;
  /** Each linear layer's kernel path (kernel-path.ts), by layer name. */
  paths: Map<string, KernelPath>;
}

export interface LowerOptions {
  /** 'binary' (default): bit kernels wherever the model is binary. 'float': every layer through fp32 kernels on +-1 floats (the comparison model). */
  kernels?: 'binary' | 'float';
  /** Names read besides the model outputs: layer names, or `layer:input`. */
  keep?: string[];
  /** Pad the rows a dense layer packs to whole 128-bit vectors (faster GEMM; thresholds then count the padding). Default true. */
  padRows?: boolean;
  /**
   * Per model input: it holds only +-1 (inputs binarized before the model, as Larq's MNIST example
   * does; InferencePlan.run checks the values and picks the variant). A value fact: a first layer
   * without an input quantizer then runs on the XNOR kernels instead of by sign-select.
   */
  signInputs?: boolean[];
}

/**
 * What a layer kind's `lower` hook (src/layers/) works with: the values so far, the steps, and the
 * compiler's conversions between representations (bits and floats, exact decisions).
 */
export interface LowerContext {
  /** The 'float' kernels: every layer on the fp32 kernels (a benchmark baseline). */
  readonly float: boolean;
  readonly spec: ModelSpec;
  /** A new value (an intermediate the plan allocates). */
  newValue(shape: number[], rep: Rep, names: string[], extra?: Partial<PlanValue>): PlanValue;
  emit(step: Step): void;
  /** `v`'s storage seen with another shape. */
  alias(v: PlanValue, shape: number[]): PlanValue;
  /** `u` as floats (unpacked if bits). */
  asFloat(u: PlanValue, layers: string[]): PlanValue;
  /** `u` as bits (packed if floats; the sign decided exactly where u's producer says how). */
  asBits(u: PlanValue, layers: string[], names: string[], storedCols?: number): PlanValue;
  /** An activation quantizer applied to f32 x (sign and heaviside decided exactly where they can be). */
  quantized(x: PlanValue, q: Quantizer, layers: string[], names: string[], at: string, what: string): PlanValue;
  /** Records how a sign of `v` is decided exactly (its producer's affine map). */
  decideOn(v: PlanValue, d: Decision): void;
  /** The value of a layer's output (or a model input's) by name. */
  valueOf(name: string): PlanValue;
  /** Names `name`'s value `v` (without taking the name into v.names). */
  define(name: string, v: PlanValue): void;
  /** The layer's output is `v` (named after it where v holds the full value). */
  produce(l: { name: string }, v: PlanValue): void;
  /** Dense / QuantDense / Conv2D / QuantConv2D: the kernel path and its fused epilogue. */
  lowerWeightLayer(l: WeightLayer, u: PlanValue, at: string): void;
  /** A BatchNormalization's parameters as the folds take them. */
  bnParams(l: LayerSpec & { class: 'BatchNormalization' }): ReturnType<typeof bnParams>;
  /** A layer activation as the element-wise kernel's, or a CompileError. */
  elementwiseActivation(a: Activation, at: string): ChannelActivation;
}

type Quant = LayerSpec & { class: 'QuantDense' | 'QuantConv2D' };
export type WeightLayer = LayerSpec & { class: 'Dense' | 'QuantDense' | 'Conv2D' | 'QuantConv2D' };

const isQuant = (l: LayerSpec): l is Quant => isQuantized(l);

function quantizerOf(l: LayerSpec, key: 'input_quantizer' | 'kernel_quantizer'): Quantizer | null {
  return isQuant(l) ? getQuantizer(l.config[key]) : null;
}

/** XNOR-Net's K reads the layer's real-valued input: what feeds it cannot be only a sign. */
const xnorScaled = (l: LayerSpec) => isQuant(l) && l.config.xnor_input_scale === true;

/** Lowers a model to steps. Pure: no GPU, so plans can be checked (and are tested) anywhere. */
export function lowerModel(model: ModelSpec, options: LowerOptions = {}): LoweredPlan {
  const float = options.kernels === 'float';
  const allByName = new Map(model.layers.map((l) => [l.name, l]));
  for (const name of options.keep ?? []) {
    const [layer, suffix] = name.split(':');
    const l = allByName.get(layer);
    if (!l || (suffix !== undefined && suffix !== 'input')) throw new CompileError(`"${name}" is not a layer of model "${model.name}" (names are layer names, or "layer:input" for a quantized layer's quantized input)`);
    if (suffix === 'input' && !quantizerOf(l, 'input_quantizer')) throw new CompileError(`"${name}": layer "${layer}" (${l.class}) has no input quantizer, so no quantized input; ask for "${l.inbound[0] ?? layer}" instead`);
  }
  // The passes (src/plan/passes/: canonicalization, padding folded into convolutions, value facts,
  // fusions, kernel paths), then lowering to steps.
  const { graph, source, facts, fusion, paths } = runPasses(model, options);
  const { spec, keep } = graph;
  const signOnly = (name: string) => facts.signOnly.has(name);

  const values: PlanValue[] = [];
  const steps: Step[] = [];
  const valueOf = new Map<string, PlanValue>(); // layer output -> value (full or sign-only)
  const fused = fusion.fused;
  const newValue = (shape: number[], rep: Rep, names: string[], extra: Partial<PlanValue> = {}): PlanValue => {
    const v: PlanValue = { id: values.length, shape, rep, full: true, names, ...extra };
    values.push(v);
    return v;
  };
  const emit = (s: Step) => steps.push(s);
  const root = (v: PlanValue) => (v.aliasOf === undefined ? v : values[v.aliasOf]);
  const alias = (v: PlanValue, shape: number[]) => newValue(shape, v.rep, [], { aliasOf: root(v).id, full: v.full });

  // How a sign or heaviside of an f32 value is decided exactly, by the root of its storage: see Decision.
  const decisions = new Map<number, Decision>();
  const decideOn = (v: PlanValue, d: Decision) => decisions.set(root(v).id, d);
  /** q(u) of f32 u as f32 (+-1 or {0, 1}), decided exactly where u's producer says how (else null). */
  const decide = (u: PlanValue, kind: 'sign' | 'heaviside', layers: string[], names: string[] = []): PlanValue | null => {
    const d = decisions.get(root(u).id);
    if (!d) return null;
    const r0 = d.raw();
    // The thresholds are per channel of r0's last axis, and element i is channel i % C in any
    // row-major view (Flatten, Reshape): seen as rows of C where u's last axis is not a multiple.
    const C = r0.shape.at(-1)!;
    const r = sameShape(r0.shape, u.shape) ? r0 : alias(r0, u.shape.at(-1)! % C === 0 ? u.shape : [u.shape.reduce((a, b) => a * b, 1) / C, C]);
    const y = newValue(u.shape, 'f32', names);
    emit({ op: 'thresholdQuantize', layers, x: r.id, y: y.id, kind, ...foldDecision(d.map, kind, r0.shape.at(-1)!) });
    return y;
  };

  /** `u` as bits: packed here (sign, decided exactly where u's producer says how) if it is float. */
  const asBits = (u: PlanValue, layers: string[], names: string[], storedCols?: number): PlanValue => {
    if (u.rep === 'b1') {
      u.names.push(...names);
      return u;
    }
    const bits = storedCols ? undefined : decisions.get(root(u).id)?.bits?.();
    if (bits && sameShape(bits.shape, u.shape)) {
      bits.names.push(...names);
      return bits;
    }
    const x = decide(u, 'sign', layers) ?? u;
    const y = newValue(u.shape, 'b1', names, storedCols ? { storedCols } : {});
    emit({ op: 'pack', layers, x: x.id, y: y.id, ...(storedCols ? { columns: storedCols } : {}) });
    return y;
  };
  /** An activation quantizer applied to f32 x; sign and heaviside decided exactly where x's producer says how. */
  const quantized = (x: PlanValue, q: Quantizer, layers: string[], names: string[], at: string, what: string): PlanValue => {
    const mode = activationQuantizer(q, at, what);
    const exact = mode.kind === 'sign' || mode.kind === 'heaviside' ? decide(x, mode.kind, layers, names) : null;
    if (exact) return exact;
    const y = newValue(x.shape, 'f32', names);
    emit({ op: 'quantize', layers, x: x.id, y: y.id, quantizer: mode });
    return y;
  };
  /** `u` as floats: unpacked here if it is bits (which then hold the full value, or the consumer only needs the sign). */
  const asFloat = (u: PlanValue, layers: string[]): PlanValue => {
    if (u.rep === 'f32') return u;
    const y = newValue(u.shape, 'f32', []);
    emit({ op: 'unpack', layers, x: u.id, y: y.id });
    return y;
  };
  const inputs = spec.inputs.map((inp, i) => newValue(inp.shape, 'f32', [], { input: i }));

  const ctx: LowerContext = {
    float,
    spec,
    newValue,
    emit,
    alias,
    asFloat,
    asBits,
    quantized,
    decideOn,
    valueOf: (name) => valueOf.get(name)!,
    define: (name, v) => void valueOf.set(name, v),
    produce: (l, v) => {
      if (v.full) v.names.push(l.name);
      valueOf.set(l.name, v);
    },
    lowerWeightLayer: (l, u, at) => lowerWeightLayer(l, u, at),
    bnParams: (l) => bnParams(spec, l),
    elementwiseActivation,
  };
  for (const l of spec.layers) {
    if (fused.has(l.name)) continue;
    const u = l.inbound.length === 0 ? inputs[spec.inputs.findIndex((inp) => inp.name === l.name)] : valueOf.get(l.inbound[0])!;
    kindOf(l).lower(ctx, l, u, `layer "${l.name}" (${l.class})`);
  }

  function lowerWeightLayer(l: WeightLayer, u: PlanValue, at: string): void {
    const dense = kindOf(l).product === 'dense';
    const iq = quantizerOf(l, 'input_quantizer');
    const kq = quantizerOf(l, 'kernel_quantizer');
    const w = spec.weights.get(`${l.name}/kernel`)!;
    const bias = l.config.use_bias ? (spec.weights.get(`${l.name}/bias`)!.data as Float32Array) : undefined;
    const act = l.config.activation;
    // A BatchNormalization right after, read by nothing else, folds into this layer's epilogue.
    const bn = fusion.foldedInto.get(l.name) ?? null;
    const resultName = bn ? bn.name : l.name;
    const layers = bn ? [l.name, bn.name] : [l.name];
    const outShape = l.outputShape;
    const K = w.shape[w.shape.length - 2] * (dense ? 1 : w.shape[0] * w.shape[1]);
    const N = w.shape[w.shape.length - 1];
    const kernel: [number, number, number, number] = dense ? [N, 1, 1, K] : [N, w.shape[0], w.shape[1], w.shape[2]];
    const conv = l.config as Conv2DConfig & { pad_values?: number };
    const window: ConvWindow | undefined = dense ? undefined : { strides: conv.strides, padding: conv.padding, dilation: conv.dilation_rate, padValues: (conv.pad_values ?? 0) as 0 | 1 };
    const inputName = iq ? [`${l.name}:input`] : [];
    // Packed rows of bits: [N, K] for dense, OHWI packed along I for conv.
    const packedRows = dense ? N : N * kernel[1] * kernel[2];
    const packedCols = dense ? K : kernel[3];
    // The kernel in our layout ([N, K] for dense, OHWI for conv), quantized as the layer does.
    const kernelValues = (quantize: boolean): Float32Array => {
      const q = quantize && kq ? kq.forward(w.data as Float32Array, w.shape) : (w.data as Float32Array);
      return dense ? transposeF32Reference(q, K, N) : hwioToOhwi(q, w.shape as [number, number, number, number]);
    };
    /** BN and bias (and a per-channel weight scale) as one affine map per channel. */
    const folded = (scale?: ArrayLike<number>) =>
      bn ? foldBatchNormAffine(bnParams(spec, bn), bias, scale) : { scale: scale ? Float32Array.from(scale) : new Float32Array(N).fill(1), bias: bias ? Float32Array.from(bias) : new Float32Array(N) };
    /** After an epilogue with BN / bias fused (f32 out): the activation (and softmax). */
    const finishActivation = (y: PlanValue) => {
      let z = y;
      if (act !== 'linear' && act !== 'softmax') {
        z = newValue(outShape, 'f32', []);
        emit({ op: 'affine', layers, x: y.id, y: z.id, activation: elementwiseActivation(act, at) });
      } else if (act === 'softmax') {
        z = newValue(outShape, 'f32', []);
        emit({ op: 'softmax', layers, x: y.id, y: z.id });
      }
      z.names.push(resultName);
      valueOf.set(resultName, z);
    };
    /** After a float-output kernel: the fused BN / bias and the activation (`halves`: y0's two halves of channels summed first). */
    const finishFloat = (y0: PlanValue, scale?: ArrayLike<number>, halves = false) => {
      if (halves && bn) {
        // The halves summed with the bias first, the BatchNorm after: its signs are then decided on
        // the layer's own output (one affine map of the halves has no single value to decide on).
        const y1 = newValue(outShape, 'f32', []);
        emit({ op: 'affine', layers, x: y0.id, y: y1.id, scale: Float32Array.from(scale!), bias: bias ? Float32Array.from(bias) : new Float32Array(N), activation: 'linear', halves });
        const params = bnParams(spec, bn);
        const y = newValue(outShape, 'f32', [resultName]);
        emit({ op: 'affine', layers, x: y1.id, y: y.id, ...foldBatchNormAffine(params), activation: 'linear' });
        decideOn(y, { map: { bn: params }, raw: () => y1 });
        valueOf.set(resultName, y);
        return;
      }
      const f = folded(scale);
      const trivial = !bn && !bias && !scale;
      let y = y0;
      if (!trivial || (act !== 'linear' && act !== 'softmax')) {
        y = newValue(outShape, 'f32', []);
        emit({ op: 'affine', layers, x: y0.id, y: y.id, scale: trivial ? undefined : f.scale, bias: trivial ? undefined : f.bias, activation: act === 'softmax' ? 'linear' : elementwiseActivation(act, at), ...(halves && { halves }) });
        if (act === 'linear' && !halves) {
          decideOn(y, { map: { bn: bn ? bnParams(spec, bn) : undefined, layerBias: bias, layerScale: scale }, raw: () => y0 });
        }
      }
      if (act === 'softmax') {
        const s = newValue(outShape, 'f32', []);
        emit({ op: 'softmax', layers, x: y.id, y: s.id });
        y = s;
      }
      y.names.push(resultName);
      valueOf.set(resultName, y);
    };

    // Which kernels: the kernel-paths pass's decision (the trainer maps the same one), taken from the
    // value facts: a layer whose input is +-1 already runs on XNOR without an input quantizer.
    const path = paths.get(l.name)!;
    // XNOR-Net's kernels (magnitude_aware_sign: alpha * sign(W), alpha = mean |W| per output
    // channel) run as binary kernels too, alpha folded into the epilogue's per-channel scale.
    const alpha = kq?.levels === 'scaledPm1' ? channelMagnitudes(kq.forward(w.data as Float32Array, w.shape), N) : undefined;
    // Larq's ste_tern kernels ({-1, 0, +1}, TWN's threshold or a fixed one) on binary inputs: the
    // ternary kernels (mask and sign planes, zero weights skipped).
    const ternary = kq?.levels === 'ternary';
    // XNOR-Net's K (the layer's xnor_input_scale): from the real-valued input, before it is packed.
    const xnorK = xnorScaled(l);
    const scaleOf = (x: PlanValue): PlanValue => {
      const k = newValue(dense ? [...x.shape.slice(0, -1), 1] : [outShape[0], outShape[1], 1], 'f32', []);
      emit({ op: 'xnorScale', layers, x: x.id, y: k.id, ...(window && { conv: { kernelSize: [kernel[1], kernel[2]], window: { strides: window.strides, padding: window.padding, dilation: window.dilation } } }) });
      return k;
    };
    /** y0 * K per position, then the fused BN / bias and the activation. */
    const finishScaled = (y0: PlanValue, k: PlanValue) => {
      const y = newValue(outShape, 'f32', []);
      emit({ op: 'scaleRows', layers, x: y0.id, y: y.id, scale: k.id });
      finishFloat(y);
    };
    if (path.kind === 'xnor' || path.kind === 'ternary') {
      // XNOR-Net's K from the real-valued input (unpacked if it arrives as bits, which then go to
      // the kernel as they are). It varies per position, so nothing folds into integer thresholds:
      // the dot products (times alpha) come out as f32, K scales them, BN / bias / activation follow.
      const k = xnorK ? scaleOf(asFloat(u, layers)) : null;
      const thresholds = !k && signOnly(resultName) && SIGN_PRESERVING.includes(act);
      // A dense layer packing its own input pads the rows with +1 to whole 128-bit vectors (on
      // both operands), so the GEMM reads each K step as one vec4 (1.46x on SwiftShader): each
      // padded column adds one agreement to the dot, taken back through the integer thresholds
      // exactly (never through an f32 bias: dot * scale + bias - padK * scale rounds, and a value
      // on a later quantizer's decision point, BN = 0, would fall to either side).
      const padK = thresholds && options.padRows !== false && !ternary && dense && u.rep === 'f32' && u.shape.length === 1 && K % 128 !== 0 ? Math.ceil(K / 128) * 128 - K : 0;
      const x = asBits(u, layers, inputName, padK ? K + padK : undefined);
      const kernelBits = padK ? padColumns(kernelValues(false), N, K, K + padK) : kernelValues(false);
      const packed = ternary ? ternaryPlanes(kernelValues(true), packedRows, packedCols) : packRows(kernelBits, packedRows, packedCols + padK); // sign(w) is every binary quantizer's forward
      const identity = { movingMean: new Float32Array(N), movingVariance: new Float32Array(N).fill(1), epsilon: 0 };
      const bnOrIdentity = bn ? bnParams(spec, bn) : identity;
      /** The binary kernel over x with an epilogue, into a new value. */
      const product = (epilogue: Epilogue, rep: Rep, extra: Partial<PlanValue> = {}): PlanValue => {
        const y = newValue(outShape, rep, [], extra);
        if (dense) emit({ op: 'binaryDense', layers, x: x.id, y: y.id, N, K: K + padK, weights: packed, epilogue, ...(ternary && { ternary }) });
        else emit({ op: 'binaryConv', layers, x: x.id, y: y.id, kernel, weights: packed, window: window!, epilogue, ...(ternary && { ternary }) });
        return y;
      };
      let y: PlanValue;
      if (k) y = product({ kind: 'affine', ...foldBatchNormAffine(identity, undefined, alpha) }, 'f32');
      else if (thresholds) y = product({ kind: 'threshold', ...foldBatchNormSign(bnOrIdentity, bias, alpha, padK) }, 'b1', { full: false });
      else {
        y = product({ kind: 'affine', ...foldBatchNormAffine(bnOrIdentity, bias, alpha) }, 'f32');
        // The result is read in full (a model output, asked for by name, or read by a layer that
        // needs the real value); a sign of it is decided by the integer thresholds (the kernel once
        // more), a heaviside on the exact dot products.
        if (act === 'linear') {
          const ones = { scale: new Float32Array(N).fill(1), bias: new Float32Array(N) };
          decideOn(y, {
            map: { bn: bn ? bnParams(spec, bn) : undefined, layerBias: bias, layerScale: alpha },
            raw: once(() => product({ kind: 'affine', ...ones }, 'f32')),
            bits: once(() => product({ kind: 'threshold', ...foldBatchNormSign(bnOrIdentity, bias, alpha) }, 'b1', { full: false })),
          });
        }
      }
      if (k) {
        finishScaled(y, k);
        return;
      }
      if (y.rep === 'b1') {
        valueOf.set(resultName, y);
        return;
      }
      finishActivation(y);
      return;
    }
    /** Larq's pad_values != 0 for a float kernel: an explicit pad with that value, then a 'valid' window. */
    const padded = (x: PlanValue): [PlanValue, ConvWindow | undefined] => {
      if (!window || window.padValues === 0 || window.padding === 'valid') return [x, window];
      const [H, W] = x.shape;
      const before = (size: number, o: number, k: number, st: number, d: number) => Math.max((o - 1) * st + (k - 1) * d + 1 - size, 0);
      const th = before(H, outShape[0], kernel[1], window.strides[0], window.dilation[0]);
      const tw = before(W, outShape[1], kernel[2], window.strides[1], window.dilation[1]);
      const p = { top: Math.floor(th / 2), bottom: th - Math.floor(th / 2), left: Math.floor(tw / 2), right: tw - Math.floor(tw / 2) };
      const y = newValue([H + th, W + tw, x.shape[2]], 'f32', []);
      emit({ op: 'pad', layers, x: x.id, y: y.id, ...p, fill: window.padValues });
      return [y, { ...window, padding: 'valid', padValues: 0 }];
    };
    // A real-valued input into +-1 weights: sign-select. Also XNOR-Net's alpha * sign(W) (alpha
    // applied after) and DoReFa's 1-bit weights (+-1 values). Ternary weights t in {-1, 0, +1} run
    // as one sign-select product of 2N channels, t with its zeros read as +1, then as -1: the two
    // halves sum to 2 (x . t), halved with BN / bias in one affine step.
    if (path.kind === 'signSelect') {
      const oneBitDorefa = path.weights === 'pm1Values';
      const [x, win] = padded(asFloat(u, layers));
      const values = kernelValues(oneBitDorefa || ternary);
      const weights = ternary ? packRows(zerosBothWays(values), 2 * packedRows, packedCols) : packRows(values, packedRows, packedCols);
      const n = ternary ? 2 * N : N;
      const y0 = newValue([...outShape.slice(0, -1), n], 'f32', []);
      if (dense) emit({ op: 'binaryFloatDense', layers, x: x.id, y: y0.id, N: n, K, weights });
      else emit({ op: 'binaryFloatConv', layers, x: x.id, y: y0.id, kernel: [n, kernel[1], kernel[2], kernel[3]], weights, window: win! });
      if (ternary) finishFloat(y0, new Float64Array(N).fill(0.5), true);
      else finishFloat(y0, alpha);
      return;
    }
    // DoReFa (k-bit activations, k-bit weights) by bit-serial popcount: the input's levels packed
    // as bit planes straight from x (packDorefaPlanes rounds as the quantizer does), the weights'
    // levels as planes; the integer dot times dorefaScale(ka, kw) in the epilogue, BatchNorm
    // folded after it. The quantized input as floats only when it is asked for by name.
    if (path.kind === 'dorefaPlanes') {
      const { bits } = path;
      const [ka, kw] = bits;
      const x0 = asFloat(u, layers);
      if (inputName.some((n) => keep.has(n))) {
        const q = newValue(u.shape, 'f32', inputName);
        emit({ op: 'quantize', layers, x: x0.id, y: q.id, quantizer: activationQuantizer(iq!, at, 'input_quantizer') });
      }
      const planes = newValue(u.shape, 'b1', []); // stored [ka, batch, ...]: read only by the next step
      emit({ op: 'dorefaPlanes', layers, x: x0.id, y: planes.id, bits: ka });
      const levels = 2 ** kw - 1;
      const weights = packBitPlanes(Array.from(kernelValues(true), (v) => Math.round(((v + 1) * levels) / 2)), packedRows, packedCols, kw);
      const scale = new Float64Array(N).fill(dorefaScale(ka, kw));
      const bnOrIdentity = bn ? bnParams(spec, bn) : { movingMean: new Float32Array(N), movingVariance: new Float32Array(N).fill(1), epsilon: 0 };
      const sign = signOnly(resultName) && SIGN_PRESERVING.includes(act);
      const epilogue: Epilogue = sign ? { kind: 'threshold', ...foldBatchNormSign(bnOrIdentity, bias, scale) } : { kind: 'affine', ...foldBatchNormAffine(bnOrIdentity, bias, scale) };
      const y = sign ? newValue(outShape, 'b1', [], { full: false }) : newValue(outShape, 'f32', []);
      if (dense) emit({ op: 'bitSerialDense', layers, x: planes.id, y: y.id, N, K, bits, weights, epilogue });
      else emit({ op: 'bitSerialConv', layers, x: planes.id, y: y.id, kernel, bits, weights, window: window!, epilogue });
      if (y.rep === 'b1') {
        valueOf.set(resultName, y);
        return;
      }
      finishActivation(y);
      return;
    }
    // Everything else runs in f32: the input quantized by a kernel, the weights quantized here once.
    let x = asFloat(u, layers);
    const k = xnorK ? scaleOf(x) : null;
    if (iq && !(iq.binary && u.rep === 'b1')) x = quantized(x, iq, layers, inputName, at, 'input_quantizer');
    else if (iq) x.names.push(...inputName);
    const [xp, win] = padded(x);
    const y0 = newValue(outShape, 'f32', []);
    if (dense) emit({ op: 'floatDense', layers, x: xp.id, y: y0.id, N, K, weights: kernelValues(true) });
    else emit({ op: 'floatConv', layers, x: xp.id, y: y0.id, kernel, weights: kernelValues(true), window: win! });
    if (k) finishScaled(y0, k);
    else finishFloat(y0);
  }

  const all = new Map<string, number>();
  for (const v of values) for (const n of v.names) all.set(n, v.id);
  for (const name of keep) if (!all.has(name)) throw new CompileError(`"${name}" is not materialized by the plan (internal: a kept name was fused away)`);
  // Steps nothing reads are dropped: an affine map whose every reader decided its signs on the
  // map's input instead, say. Backwards from what is kept, a step lives if a live step reads it.
  const live = new Set([...keep].map((n) => root(values[all.get(n)!]).id));
  const liveSteps: Step[] = [];
  for (const s of [...steps].reverse()) {
    if (!live.has(root(values[s.y]).id)) continue;
    liveSteps.unshift(s);
    for (const id of stepInputs(s)) live.add(root(values[id]).id);
  }
  const named = new Map([...all].filter(([, id]) => live.has(root(values[id]).id) || root(values[id]).input !== undefined));
  for (const [bypassed, from] of source) if (named.has(from)) named.set(bypassed, named.get(from)!);
  return { values, steps: liveSteps, inputs: inputs.map((v) => v.id), named, paths };
}

/**
 * How a sign or heaviside of an f32 value is decided exactly: the value is `map` (a bias, a weight
 * scale, a BatchNormalization; per channel of the last axis) of the f32 value `raw()`, decided on
 * raw by f32 thresholds (foldDecision), or, for a binary layer's dot products, `bits()` re-runs the kernel
 * with integer thresholds. Deciding on an f32 evaluation of the map instead could put a value that
 * sits on the decision point (a fresh BatchNorm's zero at dot = 0) on either side. raw() and
 * bits() emit their steps at the first call only.
 */
export interface Decision {
  map: DecisionMap;
  raw: () => PlanValue;
  bits?: () => PlanValue;
}

function once<T>(f: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) [value, done] = [f(), true];
    return value;
  };
}




/** Ternary values t twice, one after the other: zeros as +1 (sign(0) = +1), then zeros as -1; t = (first + second) / 2. */
function zerosBothWays(t: Float32Array): Float32Array {
  const out = new Float32Array(2 * t.length);
  out.set(t);
  out.set(t.map((v) => (v === 0 ? -1 : v)), t.length);
  return out;
}

/** Ternary values {-1, 0, +1} (rows x cols) as the ternary kernels' two planes, mask then sign. */
function ternaryPlanes(values: Float32Array, rows: number, cols: number): Uint32Array {
  const { mask, sign } = packTernaryRows(values, rows, cols);
  const out = new Uint32Array(mask.length * 2);
  out.set(mask);
  out.set(sign, mask.length);
  return out;
}

/** |q| of each output channel (the last axis) of a kernel quantized per channel: alpha * sign(W) gives alpha. */
function channelMagnitudes(q: Float32Array, N: number): Float64Array {
  return Float64Array.from({ length: N }, (_, c) => Math.abs(q[c]));
}

function bnParams(spec: ModelSpec, l: LayerSpec & { class: 'BatchNormalization' }) {
  const w = (p: string) => spec.weights.get(`${l.name}/${p}`)!.data as Float32Array;
  return {
    gamma: l.config.scale ? w('gamma') : undefined,
    beta: l.config.center ? w('beta') : undefined,
    movingMean: w('moving_mean'),
    movingVariance: w('moving_variance'),
    epsilon: l.config.epsilon,
    shift: l.config.shift_based === true,
    name: l.name,
  };
}

/** rows x cols -> rows x wider, the new columns 0 (+1 as bits). */
function padColumns(x: Float32Array, rows: number, cols: number, wider: number): Float32Array {
  const y = new Float32Array(rows * wider);
  for (let r = 0; r < rows; r++) y.set(x.subarray(r * cols, (r + 1) * cols), r * wider);
  return y;
}

function elementwiseActivation(a: Activation, at: string): ChannelActivation {
  if ((CHANNEL_ACTIVATIONS as readonly string[]).includes(a)) return a as ChannelActivation;
  throw new CompileError(`${at}: activation "${a}" has no element-wise kernel (supported: ${CHANNEL_ACTIVATIONS.join(', ')}, softmax)`);
}

/** A quantizer applied to activations, as the element-wise kernel computes it; those that need statistics of the whole tensor are refused. */
function activationQuantizer(q: Quantizer, at: string, what: string): QuantizeMode {
  try {
    return quantizeMode(q);
  } catch (err) {
    throw new CompileError(`${at}, ${what}: ${(err as Error).message.replace(/^quantize: /, '')}`);
  }
}
