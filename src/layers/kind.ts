// What a layer kind is: one record per Keras/Larq layer class, the one place that knows it. The
// format reader (config keys, weights, output shape), the CPU reference, the compiler (value facts,
// lowering) and the trainer ask the record; nothing else switches on a class name. The records
// live in one file per family (linear.ts, normalization.ts, pooling.ts, reshaping.ts,
// activations.ts, quantizer-layers.ts, merges.ts, input.ts); index.ts lists them.
import type { KeySpec } from './config-readers.js';
import type { BaseConfig } from './base-config.js';
import type { ModelSpec } from '../model/tfjs-format.js';
import type { LowerContext, PlanValue } from '../plan/lower.js';
import type { TfjsEnv, TfjsLayer } from './tfjs-ops.js';
import type { Gpu } from '../gpu/context.js';
import type { Shape } from '../tensor.js';
import type { Model } from '../model/model.js';
import type { ChannelActivation } from '../ops/elementwise.js';
import type { LayerStep, MergeStep, TrainKernels } from '../train/layer-step.js';
import type { TrainingReference } from '../model/training-references.js';
import type { Levels } from '../model/quantizer-forms.js';

export type WeightList = [param: string, shape: number[]][];

/** A layer of kind K as parsed (LayerSpec's member for K). */
export interface LayerOf<K extends string, C> {
  class: K;
  name: string;
  config: C;
  /** Names of the layers feeding this one, in call order. */
  inbound: string[];
  /** Output shape without the batch dimension. */
  outputShape: number[];
}

/** A value of the CPU reference: batch dimension first. */
export interface ReferenceValue {
  shape: number[];
  data: Float32Array;
}

/** What the CPU reference gives a layer's forward besides its inputs. */
export interface ReferenceContext {
  spec: ModelSpec;
  /** The layer's weight `param` (`kernel`, `bias`, `gamma`, ...), in Keras's layout. */
  weight(param: string): Float32Array;
  /** Records a second named value (a quantized layer's quantized input, `name:input`). */
  also(name: string, value: ReferenceValue): void;
}

/**
 * How a layer reads its input's value, for the compiler's value facts: 'sign' reads only its sign
 * (a binary input quantizer, a binary quantizer layer); 'through' passes signs on (its own output is
 * only signed where its consumers only sign it: max pooling, reshapes, sign-preserving activations,
 * concatenation); 'value' needs the value.
 */
export type SignUse = 'sign' | 'through' | 'value';

/** What a kind's `train` hook gets to build its GPU training step (src/train/step-graph.ts). */
export interface TrainContext {
  gpu: Gpu;
  model: Model;
  kernels: TrainKernels;
  /** The (first) input's shape per sample. */
  shape: Shape;
  /** Every input's shape per sample (a merge reads several). */
  inShapes: Shape[];
  /** The layer's activation as trained: 'linear' for the output layer, whose softmax is the loss's. */
  activation: ChannelActivation;
  /** Whether a gradient must flow back to the input (something before it trains). */
  inputGrad: boolean;
  /** The random stream of the step's stochastic parts (stochastic binarization, DoReFa gradient noise). */
  stream: number;
  /** `layer "name" (Class)`, for errors. */
  at: string;
}

export interface LayerKind<K extends string = string, C extends BaseConfig = BaseConfig> {
  /** The Keras class name as it is written in files (LayerSpec.class). */
  readonly className: K;
  /** Other spellings of the class some writers use (Keras aliases: MaxPool2D, ...). */
  readonly aliases?: readonly string[];
  /** Config keys besides the common ones (name, trainable, dtype, ...), by Keras/Larq name, with readers and defaults. */
  readonly keys: Readonly<Record<string, KeySpec>>;
  /** Checks and normalizations across keys, once each key is read (`where` names the layer). */
  readonly finish?: (config: Record<string, unknown>, where: string) => void;
  /** 'many' for a merge layer (Add, Concatenate: two or more inputs); else one. */
  readonly inputs?: 'one' | 'many';
  /** The weights the kind owns, in Keras's variable order, given its input's channel count. None if absent. */
  readonly weights?: (config: C, inChannels: number) => WeightList;
  /** Output shape (without batch) from the inputs' shapes (read from the layers `inbound` names); a ModelFormatError at `at` if they do not fit. */
  readonly outputShape: (config: C, inShapes: number[][], at: string, inbound: readonly string[]) => number[];
  /** The CPU forward at inference (Larq/Keras semantics): the output's values, shaped [batch, ...outputShape]. */
  readonly reference: (l: LayerOf<K, C>, xs: ReferenceValue[], ctx: ReferenceContext) => Float32Array;
  /** How it reads its input's value (value facts); default 'value'. */
  readonly signUse?: (l: LayerOf<K, C>) => SignUse;
  /**
   * The values its output takes, given the values its inputs take (value facts: 'pm1' exactly +-1,
   * '01', k-bit levels, ...; quantizer-forms.ts Levels). Default 'real': nothing is known.
   */
  readonly levels?: (l: LayerOf<K, C>, inputs: readonly Levels[]) => Levels;
  /** The identity at inference (a canonicalization pass removes it before lowering). Default false. */
  readonly identityAtInference?: (config: C) => boolean;
  /** A linear layer's product: 'dense' (x . W over the last axis) or 'conv' (a 2-D convolution). */
  readonly product?: 'dense' | 'conv';
  /** Zeros around an image ([[top, bottom], [left, right]]) that a convolution after it may take as its own border (fold-padding pass). */
  readonly borderPadding?: (config: C) => [[number, number], [number, number]];
  /** A per-channel affine map (BatchNormalization) that a linear layer before it, read by nothing else, folds into its epilogue. */
  readonly foldsIntoEpilogue?: boolean;
  /** Multiply-accumulates per sample (linear layers), for summaries. */
  readonly macs?: (l: LayerOf<K, C>, inShape: number[]) => number;
  /** Checks a loaded layer's weights (a ModelFormatError naming the weight), after the shapes are known. */
  readonly checkWeights?: (l: LayerOf<K, C>, weight: (param: string) => ArrayLike<number> | undefined, at: string) => void;
  /** The class name written to files (default className; a quantizer layer writes its Larq class), and the config written. */
  readonly written?: (config: C) => { className: string; config: Record<string, unknown> };
  /** The layer as TensorFlow.js ops (the benchmarks' TF.js column); absent: TF.js has no translation of it (a TfjsTranslationError). */
  readonly tfjs?: (l: LayerOf<K, C>, env: TfjsEnv) => TfjsLayer;
  /** Its GPU training step: forward with batch statistics beside the backward (src/train/); absent: a TrainError. */
  readonly train?: (l: LayerOf<K, C>, ctx: TrainContext) => LayerStep | MergeStep;
  /** Its CPU training reference, forward and backward (src/model/training-references.ts); resolved when a step runs. */
  readonly trainReference?: () => TrainingReference;
  /** Lowers the layer to kernel steps: reads `u` (its first input's value; merges read ctx.valueOf), ends with ctx.produce. */
  readonly lower: (ctx: LowerContext, l: LayerOf<K, C>, u: PlanValue, at: string) => void;
}

/** `levels` of a kind whose output takes its input's values (views, max pooling, the identity). */
export const sameLevels = (_l: unknown, [x]: readonly Levels[]): Levels => x;

/** A kind record, its types inferred (no runtime effect). */
export function defineKind<K extends string, C extends BaseConfig>(kind: LayerKind<K, C>): LayerKind<K, C> {
  return kind;
}
