// What a layer kind's TF.js translation (its `tfjs` hook) is given: the TensorFlow.js ops it may
// call, typed structurally here so the library never depends on TF.js (bench/tfjs.ts loads it, a
// dev dependency, and passes it in), and the translation's environment: weights as constants (at
// inference) or trainable variables (in training), the quantizers and activations as TF.js ops.
// The benchmarks time TF.js, the engine a web user would otherwise pick, on the same models.

export interface TfTensor {
  readonly shape: number[];
  data(): Promise<unknown>;
  dispose(): void;
}

/** The TF.js ops the translations use (a subset of @tensorflow/tfjs-core's API). */
export interface TfOps {
  tensor(data: Float32Array | Int32Array, shape: number[], dtype: 'float32' | 'int32'): TfTensor;
  add(a: TfTensor, b: TfTensor | number): TfTensor;
  sub(a: TfTensor, b: TfTensor): TfTensor;
  mul(a: TfTensor, b: TfTensor): TfTensor;
  abs(x: TfTensor): TfTensor;
  rsqrt(x: TfTensor): TfTensor;
  sign(x: TfTensor): TfTensor;
  reshape(x: TfTensor, shape: number[]): TfTensor;
  matMul(a: TfTensor, b: TfTensor, transposeA?: boolean, transposeB?: boolean): TfTensor;
  conv2d(x: TfTensor, w: TfTensor, strides: [number, number], pad: 'same' | 'valid', format: 'NHWC', dilations?: [number, number]): TfTensor;
  batchNorm(x: TfTensor, mean: TfTensor, variance: TfTensor, offset?: TfTensor, scale?: TfTensor, eps?: number): TfTensor;
  moments(x: TfTensor, axes: number[], keepDims?: boolean): { mean: TfTensor; variance: TfTensor };
  maxPool(x: TfTensor, size: [number, number], strides: [number, number], pad: 'same' | 'valid'): TfTensor;
  avgPool(x: TfTensor, size: [number, number], strides: [number, number], pad: 'same' | 'valid'): TfTensor;
  mean(x: TfTensor, axes?: number[], keepDims?: boolean): TfTensor;
  pad(x: TfTensor, paddings: [number, number][], constantValue?: number): TfTensor;
  concat(xs: TfTensor[], axis?: number): TfTensor;
  softmax(x: TfTensor): TfTensor;
  relu(x: TfTensor): TfTensor;
}

/** The ops a quantizer's training gradient adds (TF.js has them; the ONNX tracer, inference only, need not). */
export interface TfGradientOps extends TfOps {
  lessEqual(a: TfTensor, b: TfTensor | number): TfTensor;
  cast(x: TfTensor, dtype: 'float32'): TfTensor;
}

/** A model TF.js's float simulation has no translation for (a layer or quantizer it lacks): its column is left out, with this reason. */
export class TfjsTranslationError extends Error {
  override name = 'TfjsTranslationError';
}

export interface TfjsEnv {
  tf: TfOps;
  /** Training (tfjsTrainer: batch statistics, latent weights as variables, STE quantizers) or inference. */
  training: boolean;
  /** The layer's weight `param` in Keras's layout, undefined if it has none. */
  weight(param: string): { shape: number[]; data: ArrayLike<number> } | undefined;
  /** A weight as a TF.js tensor: a constant at inference, a trainable variable in training. */
  param(data: ArrayLike<number>, shape: number[]): TfTensor;
  /** A constant tensor (freed with the model). */
  constant(data: ArrayLike<number>, shape: number[]): TfTensor;
  /** A Larq quantizer as TF.js ops (ste_sign: sign(sign(x) + 0.5); in training with Larq's STE gradient); null: the identity. */
  quantize(quantizer: unknown, at: string): (x: TfTensor) => TfTensor;
  /** A layer activation as TF.js ops. */
  activate(activation: string | undefined, at: string): (x: TfTensor) => TfTensor;
}

/** A layer's forward as TF.js ops, from its inputs (one, or several for a merge). */
export type TfjsLayer = (xs: TfTensor[]) => TfTensor;
