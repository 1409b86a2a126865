// The model's outputs as the training losses see them (issue 16): each output's loss as Keras's
// `compile(loss=...)` names it, weighted by `loss_weights`; the total loss is the weighted sum.
// Checked once, before anything is built, by the GPU trainer and the CPU training reference alike,
// so an output the losses cannot take is refused by name.
import type { LayerSpec } from '../model/layer-config.js';
import type { ModelSpec } from '../model/tfjs-format.js';
import { TrainError } from './train-error.js';

/**
 * The losses trained, by Keras's names (each the mean over the batch, Keras's sum_over_batch_size):
 * - 'sparse_categorical_crossentropy': class indices, on the logits before the output's softmax;
 * - 'mean_squared_error': f32 targets of the output's shape, on the output value, any activation
 *   but softmax (its gradient flows back through the output's activation);
 * - 'binary_crossentropy': f32 targets in [0, 1], on the logits before the output's sigmoid (Keras
 *   computes it from the logits when the sigmoid is the output's activation).
 */
export type LossName = 'sparse_categorical_crossentropy' | 'mean_squared_error' | 'binary_crossentropy';
/** A loss as `TrainerOptions.losses` takes it: a LossName or Keras's alias 'mse'. */
export type LossChoice = LossName | 'mse';
/** Keras's `loss`: one per output in the model's order, or by output name. */
export type Losses = readonly LossChoice[] | Readonly<Record<string, LossChoice>>;
/** Keras's `loss_weights`: one number per output in the model's order, or by output name (outputs not named weigh 1). */
export type LossWeights = readonly number[] | Readonly<Record<string, number>>;

const ALIASES: Readonly<Record<string, LossName>> = {
  sparse_categorical_crossentropy: 'sparse_categorical_crossentropy',
  mean_squared_error: 'mean_squared_error',
  mse: 'mean_squared_error',
  binary_crossentropy: 'binary_crossentropy',
};

/** The activation a loss folds into itself (it reads the logits before it), if any. */
const FOLDS: Readonly<Record<LossName, string | undefined>> = {
  sparse_categorical_crossentropy: 'softmax',
  mean_squared_error: undefined,
  binary_crossentropy: 'sigmoid',
};

/** One output's loss, mean over the batch, times `weight`. */
export interface LossOutput {
  /** The output layer (the model's output of that name). */
  name: string;
  loss: LossName;
  /**
   * The layer whose output the loss reads: with a folded activation (softmax, sigmoid) its logits:
   * the output layer itself, run with a linear activation, or the layer before a separate
   * Activation layer; for mean squared error the output layer's value.
   */
  logitsLayer: string;
  /** The loss folds the output's activation into itself: the output layer runs linear. */
  folded: boolean;
  /** The folded activation is a separate Activation layer: it has no step of its own. */
  activationLayer: boolean;
  /** Values per row (the output's last axis): the classes of a classifier. */
  units: number;
  /** Values per sample (the output's shape): the targets of an MSE or BCE output per sample. */
  size: number;
  weight: number;
}

const at = (l: LayerSpec) => `output "${l.name}" (${l.class})`;
const activationOf = (l: LayerSpec) => (l.config as { activation?: unknown }).activation;
const hasActivation = (a: unknown) => (a === undefined ? 'no activation' : `activation ${JSON.stringify(a)}`);

/** The model's outputs in its order, each with its loss (checked against the output's activation) and its loss weight. */
export function lossOutputs(spec: ModelSpec, lossWeights?: LossWeights, losses?: Losses): LossOutput[] {
  const byName = new Map(spec.layers.map((l) => [l.name, l]));
  const weights = resolveLossWeights(spec.outputs, lossWeights);
  const chosen = perOutput('losses', spec.outputs, losses, undefined);
  if (new Set(spec.outputs).size !== spec.outputs.length) {
    const twice = spec.outputs.find((o, i) => spec.outputs.indexOf(o) !== i);
    throw new TrainError(`Trainer: output "${twice}" is listed twice among the model's outputs; one loss per output: list it once (and give it the sum of the loss weights)`);
  }
  return spec.outputs.map((name, i) => {
    const l = byName.get(name)!;
    const activation = activationOf(l);
    const loss = lossOf(l, chosen[i]);
    const fold = FOLDS[loss];
    if (fold !== undefined && activation !== fold) {
      throw new TrainError(`${at(l)} has ${hasActivation(activation)}: its loss ${loss} reads the logits before a ${fold} (Keras's stable form), so the output must end in a ${fold} (an Activation('${fold}') layer or activation='${fold}' on the output layer); add one, or pick another loss in TrainerOptions.losses`);
    }
    if (fold === undefined && activation === 'softmax') {
      throw new TrainError(`${at(l)} has activation "softmax": the trainer trains a softmax only folded into sparse_categorical_crossentropy, not under ${loss}; use that loss, or another activation`);
    }
    const reader = fold && spec.layers.find((r) => r.inbound.includes(name));
    if (reader) throw new TrainError(`${at(l)} is also read by layer "${reader.name}" (${reader.class}): the loss folds the output's ${fold} into its ${loss}, so other layers cannot read it; let "${reader.name}" read the logits (put the ${fold} in an Activation layer of its own)`);
    const activationLayer = fold !== undefined && l.class === 'Activation';
    const units = l.outputShape.at(-1)!;
    const size = l.outputShape.reduce((a, b) => a * b, 1);
    return { name, loss, logitsLayer: activationLayer ? l.inbound[0] : name, folded: fold !== undefined, activationLayer, units, size, weight: weights[i] };
  });
}

/** The output's loss: the one given (checked), else sparse cross-entropy for a softmax output; others must be given one. */
function lossOf(l: LayerSpec, given: LossChoice | undefined): LossName {
  if (given === undefined) {
    const activation = activationOf(l);
    if (activation === 'softmax') return 'sparse_categorical_crossentropy';
    throw new TrainError(`${at(l)} has ${hasActivation(activation)} and no loss: only a softmax output defaults to sparse_categorical_crossentropy; give its loss in TrainerOptions.losses (e.g. { "${l.name}": 'mean_squared_error' }, or 'binary_crossentropy' for a sigmoid output), or end it in a softmax`);
  }
  const loss = typeof given === 'string' && Object.hasOwn(ALIASES, given) ? ALIASES[given] : undefined;
  if (!loss) throw new TrainError(`losses: the loss of ${at(l)} is ${JSON.stringify(given)}; the trainer knows ${Object.keys(ALIASES).map((k) => `'${k}'`).join(', ')}`);
  return loss;
}

/** `loss_weights` as one number per output (default 1 each), checked: finite, not negative, every name an output. */
export function resolveLossWeights(outputs: readonly string[], lossWeights?: LossWeights): number[] {
  const weights = perOutput('lossWeights', outputs, lossWeights, 1);
  weights.forEach((w, i) => {
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new TrainError(`lossWeights: the weight of output "${outputs[i]}" must be a finite number >= 0, got ${String(w)}`);
  });
  return weights;
}

/** An option given per output as Keras takes it (a list in the model's order, or by output name), as one entry per output. */
function perOutput<T, D>(option: string, outputs: readonly string[], given: readonly T[] | Readonly<Record<string, T>> | undefined, fallback: D): (T | D)[] {
  if (given === undefined) return outputs.map(() => fallback);
  if (Array.isArray(given)) {
    if (given.length !== outputs.length) throw new TrainError(`${option}: ${given.length} ${option === 'lossWeights' ? 'weights' : 'losses'} for ${outputs.length} outputs (${outputs.map((o) => `"${o}"`).join(', ')}); give one per output in the model's order, or an object keyed by output name`);
    return [...given];
  }
  const byName = given as Readonly<Record<string, T>>;
  const unknown = Object.keys(byName).find((k) => !outputs.includes(k));
  if (unknown !== undefined) throw new TrainError(`${option}: "${unknown}" is not an output of the model; its outputs are ${outputs.map((o) => `"${o}"`).join(', ')}`);
  return outputs.map((o) => byName[o] ?? fallback);
}
