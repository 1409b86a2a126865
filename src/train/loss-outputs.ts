// The model's outputs as the training losses see them (issue 16): each output ends in a softmax
// whose sparse cross-entropy reads the logits before it, weighted by Keras's `loss_weights`; the
// total loss is the weighted sum. Checked once, before anything is built, by the GPU trainer and
// the CPU training reference alike, so an output the losses cannot take is refused by name.
import type { LayerSpec } from '../model/layer-config.js';
import type { ModelSpec } from '../model/tfjs-format.js';
import { TrainError } from './train-error.js';

/** Keras's `loss_weights`: one number per output in the model's order, or by output name (outputs not named weigh 1). */
export type LossWeights = readonly number[] | Readonly<Record<string, number>>;

/** One output's loss: sparse softmax cross-entropy, mean over the batch, times `weight`. */
export interface LossOutput {
  /** The output layer (the model's output of that name). */
  name: string;
  /**
   * The layer whose output the loss reads as logits: the output layer itself, run with a linear
   * activation (its softmax is the loss's), or the layer before a separate Activation('softmax').
   */
  logitsLayer: string;
  /** The softmax is a separate Activation layer: it has no step of its own. */
  softmaxLayer: boolean;
  classes: number;
  weight: number;
}

const at = (l: LayerSpec) => `output "${l.name}" (${l.class})`;

/** The model's outputs in its order, each checked to end in a softmax that nothing else reads, with its loss weight. */
export function lossOutputs(spec: ModelSpec, lossWeights?: LossWeights): LossOutput[] {
  const byName = new Map(spec.layers.map((l) => [l.name, l]));
  const weights = resolveLossWeights(spec.outputs, lossWeights);
  if (new Set(spec.outputs).size !== spec.outputs.length) {
    const twice = spec.outputs.find((o, i) => spec.outputs.indexOf(o) !== i);
    throw new TrainError(`Trainer: output "${twice}" is listed twice among the model's outputs; one loss per output: list it once (and give it the sum of the loss weights)`);
  }
  return spec.outputs.map((name, i) => {
    const l = byName.get(name)!;
    const activation = (l.config as { activation?: unknown }).activation;
    if (activation !== 'softmax') {
      const has = activation === undefined ? 'no activation' : `activation ${JSON.stringify(activation)}`;
      throw new TrainError(`${at(l)} has ${has}: the training loss is sparse softmax cross-entropy, so every output must end in a softmax (an Activation('softmax') layer or activation='softmax' on the output layer); add one, or remove this output from the model`);
    }
    const reader = spec.layers.find((r) => r.inbound.includes(name));
    if (reader) throw new TrainError(`${at(l)} is also read by layer "${reader.name}" (${reader.class}): the loss folds the output's softmax into its cross-entropy, so other layers cannot read it; let "${reader.name}" read the logits (put the softmax in an Activation layer of its own)`);
    const softmaxLayer = l.class === 'Activation';
    return { name, logitsLayer: softmaxLayer ? l.inbound[0] : name, softmaxLayer, classes: l.outputShape.at(-1)!, weight: weights[i] };
  });
}

/** `loss_weights` as one number per output (default 1 each), checked: finite, not negative, every name an output. */
export function resolveLossWeights(outputs: readonly string[], lossWeights?: LossWeights): number[] {
  let weights: number[];
  if (lossWeights === undefined) weights = outputs.map(() => 1);
  else if (Array.isArray(lossWeights)) {
    if (lossWeights.length !== outputs.length) throw new TrainError(`lossWeights: ${lossWeights.length} weights for ${outputs.length} outputs (${outputs.map((o) => `"${o}"`).join(', ')}); give one per output in the model's order, or an object keyed by output name`);
    weights = [...lossWeights];
  } else {
    const byName = lossWeights as Readonly<Record<string, number>>;
    const unknown = Object.keys(byName).find((k) => !outputs.includes(k));
    if (unknown !== undefined) throw new TrainError(`lossWeights: "${unknown}" is not an output of the model; its outputs are ${outputs.map((o) => `"${o}"`).join(', ')}`);
    weights = outputs.map((o) => byName[o] ?? 1);
  }
  weights.forEach((w, i) => {
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new TrainError(`lossWeights: the weight of output "${outputs[i]}" must be a finite number >= 0, got ${String(w)}`);
  });
  return weights;
}
