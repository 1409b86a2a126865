// The plain CPU training step of a model (issue 5's reference): the forward pass in training mode
// (BatchNormalization with batch statistics), each output's loss (sparse softmax cross-entropy, mean
// squared error, binary cross-entropy from logits) times its loss weight (Keras's loss_weights; the
// total loss is their sum), and the backward pass
// with Larq's straight-through estimators (each quantizer's own backward: ste_sign passes the
// gradient where |x| <= clip_value, approx_sign's and swish_sign's surrogates, ...). Each layer's
// forward sits beside its backward in one table. GPU training is tested against it; it is tested
// against finite differences where the layers are smooth. Slow and obvious on purpose, in f64.
//
// Covered: InputLayer, Flatten, Reshape, Dense / QuantDense, Conv2D / QuantConv2D (valid / same,
// strides, dilation, Larq's pad_values), MaxPooling2D / AveragePooling2D, GlobalAveragePooling2D,
// ZeroPadding2D, BatchNormalization, Activation, quantizer layers, Dropout with rate 0, and the
// merges Add and Concatenate (last axis). Functional graphs of several inputs and outputs run in
// topological order; the gradient of a value read by several layers (or by several outputs' losses)
// is the sum of what each sends back (fan-out). Dropout with rate > 0 throws: its mask would have
// to be shared with the GPU. Which outputs the losses take is src/train/loss-outputs.ts's, as the GPU trainer's.
import { ShapeError } from '../gpu/errors.js';
import { argmax } from '../train/metrics.js';
import { lossOutputs, type Losses, type LossWeights } from '../train/loss-outputs.js';
import { elementwiseLossReference } from '../ops/loss.js';
import { kindOf } from '../layers/index.js';
import type { LayerSpec } from './layer-config.js';
import type { ModelSpec } from './tfjs-format.js';

type F64 = Float64Array;
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

import type { Ctx, MergeCtx } from './training-references.js';

export { TRAINING_REFERENCES, type Ctx, type MergeCtx, type TrainLayer, type MergeTrainLayer, type TrainingReference } from './training-references.js';

export interface TrainingStepResult {
  /** The total loss: the sum over outputs of loss weight x that output's mean loss over the batch. */
  loss: number;
  /**
   * Each output's own figures, in the model's order: its mean loss (unweighted), its weight, its
   * rows whose label is the argmax (sparse cross-entropy; else 0), BCE's target values predicted right at 0.5 (else 0).
   */
  outputLosses: { name: string; loss: number; weight: number; correct: number; binaryHits: number }[];
  /** Gradient of the loss for every trainable weight, keyed `layer/param` (moving statistics have none). */
  grads: Map<string, Float64Array>;
  /** BatchNormalization's updated moving statistics (Keras: moving = moving * momentum + batch * (1 - momentum), the biased batch variance). */
  moving: Map<string, Float64Array>;
  /** Every layer's training-mode output (an output layer's: its value, softmax or sigmoid applied). */
  outputs: Map<string, Float64Array>;
  /** Rows whose label is the argmax, first maximum (Keras' accuracy; src/train/metrics.ts), of the first output. */
  correct: number;
  /** Gradient of the loss for the model's (first) input, laid out as the input. */
  inputGrad: Float64Array;
  /** Gradient of the loss for each model input, in the model's order. */
  inputGrads: Float64Array[];
}

/** The loss's part of one output: its mean cross-entropy, and d(weight x that)/d(logits). */
function softmaxCrossEntropy(logits: F64, labels: ArrayLike<number>, M: number, C: number, weight: number) {
  const probs = new Float64Array(logits.length);
  const dlogits = new Float64Array(logits.length);
  let loss = 0;
  let correct = 0;
  for (let r = 0; r < M; r++) {
    const row = logits.subarray(r * C, (r + 1) * C);
    const max = row.reduce((a, v) => Math.max(a, v), -Infinity);
    const sum = row.reduce((a, v) => a + Math.exp(v - max), 0);
    const label = labels[r];
    if (!Number.isInteger(label) || label < 0 || label >= C) throw new ShapeError(`referenceTrainingStep: label ${label} of row ${r} is not a class in 0..${C - 1}`);
    for (let k = 0; k < C; k++) {
      probs[r * C + k] = Math.exp(row[k] - max) / sum;
      dlogits[r * C + k] = (weight * (probs[r * C + k] - (k === label ? 1 : 0))) / M;
    }
    loss += (Math.log(sum) + max - row[label]) / M;
    if (argmax(row) === label) correct++;
  }
  return { probs, dlogits, loss, correct };
}

export interface TrainingStepOptions {
  /** Keras's loss_weights, as the GPU trainer takes them (TrainerOptions.lossWeights). Default 1 per output. */
  lossWeights?: LossWeights;
  /** Keras's loss per output, as the GPU trainer takes them (TrainerOptions.losses). Default: sparse cross-entropy on softmax outputs. */
  losses?: Losses;
}

/**
 * One training step's forward and backward on the CPU. Each output has its loss (lossOutputs:
 * `options.losses`, default sparse cross-entropy on a softmax output); `labels` one array per output
 * in the model's order (one array alone for a one-output model): class indices, or for an MSE or
 * BCE output f32 targets, batch x the output's size. One input or several
 * (`input` then one array per model input, in the model's order). Layers run in topological order;
 * going back, a value read by several layers gets the sum of their gradients. Weights are not
 * changed (the optimizer is separate).
 */
export function referenceTrainingStep(spec: ModelSpec, input: Float32Array | Float32Array[], labels: ArrayLike<number> | readonly ArrayLike<number>[], batch: number, options: TrainingStepOptions = {}): TrainingStepResult {
  const losses = lossOutputs(spec, options.lossWeights, options.losses);
  // One output's labels may come alone: a list of label arrays has arrays, not numbers, in it.
  const labelSets = typeof (labels as ArrayLike<unknown>)[0] === 'object' ? (labels as readonly ArrayLike<number>[]) : [labels as ArrayLike<number>];
  if (labelSets.length !== losses.length) throw new ShapeError(`referenceTrainingStep: ${labelSets.length} label array(s) for ${losses.length} output(s)`);
  labelSets.forEach((l, i) => {
    const per = losses[i].loss === 'sparse_categorical_crossentropy' ? 1 : losses[i].size;
    if (l.length !== batch * per) throw new ShapeError(`referenceTrainingStep: ${l.length} labels of output "${losses[i].name}" for a batch of ${batch} (${per} per sample)`);
  });
  const inputs = Array.isArray(input) ? input : [input];
  if (inputs.length !== spec.inputs.length) throw new ShapeError(`referenceTrainingStep: ${inputs.length} inputs given, the model has ${spec.inputs.length}`);
  spec.inputs.forEach((inp, i) => {
    const perSample = inp.shape.reduce((a, b) => a * b, 1);
    if (inputs[i].length !== batch * perSample) throw new ShapeError(`referenceTrainingStep: input "${inp.name}" has ${inputs[i].length} values for ${batch} samples of ${perSample}`);
  });

  const outputs = new Map<string, F64>();
  const saved = new Map<string, { ctx: Ctx | MergeCtx; state: unknown }>();
  const moving = new Map<string, F64>();
  const shapes = new Map(spec.layers.map((l) => [l.name, l.outputShape]));
  // A layer without inbound layers reads the model input of its name.
  const inputIndex = (l: LayerSpec) => spec.inputs.findIndex((inp) => inp.name === l.name);
  // An output's softmax or sigmoid that its loss folds in: its layer runs with a linear activation
  // (an Activation('softmax') output becomes the identity).
  const folded = new Set(losses.filter((o) => o.folded).map((o) => o.name));
  const linearOut = (l: LayerSpec): LayerSpec => (folded.has(l.name) ? ({ ...l, config: { ...l.config, activation: 'linear' } } as LayerSpec) : l);
  for (const layer of spec.layers) {
    const l = linearOut(layer);
    const train = kindOf(l).trainReference?.();
    if (!train) throw new ShapeError(`referenceTrainingStep: layer "${l.name}" (${l.class}) has no training reference yet`);
    const inShapes = l.inbound.length ? l.inbound.map((n) => shapes.get(n)!) : [spec.inputs[inputIndex(l)].shape];
    const xs = l.inbound.length ? l.inbound.map((n) => outputs.get(n)!) : [f64(inputs[inputIndex(l)])];
    if ('merge' in train) {
      const ctx: MergeCtx = { l, inShapes };
      outputs.set(l.name, train.forward(ctx, xs).y);
      saved.set(l.name, { ctx, state: null });
      continue;
    }
    const inShape = inShapes[0];
    const ctx: Ctx = {
      spec,
      l,
      inShape,
      rows: (batch * inShape.reduce((a, b) => a * b, 1)) / inShape.at(-1)!,
      weight: (p) => f64(spec.weights.get(`${l.name}/${p}`)!.data),
    };
    const { y, saved: state, moving: mv } = train.forward(ctx, xs[0]);
    outputs.set(l.name, y);
    saved.set(l.name, { ctx, state });
    for (const [k, v] of mv ?? []) moving.set(k, v);
  }
  const dOut = new Map<string, F64>();
  const outputLosses = losses.map((o, i) => {
    const x = outputs.get(o.name)!; // the logits, for a folded activation
    // Layers read an output only if its loss folds nothing in, and they come later: nothing to sum yet.
    if (o.loss === 'sparse_categorical_crossentropy') {
      const { probs, dlogits, loss, correct } = softmaxCrossEntropy(x, labelSets[i], batch, o.units, o.weight);
      outputs.set(o.name, probs);
      dOut.set(o.name, dlogits);
      return { name: o.name, loss, weight: o.weight, correct, binaryHits: 0 };
    }
    const rows = x.length / o.units;
    const r = elementwiseLossReference(o.loss, x, labelSets[i], rows, o.units, o.weight);
    if (o.folded) outputs.set(o.name, x.map((v) => 1 / (1 + Math.exp(-v))));
    dOut.set(o.name, r.dX);
    return { name: o.name, loss: r.loss.reduce((a, b) => a + b, 0) / rows, weight: o.weight, correct: 0, binaryHits: r.hits.reduce((a, b) => a + b, 0) };
  });
  const loss = outputLosses.reduce((sum, o) => sum + o.weight * o.loss, 0);

  // Backward in reverse topological order: every reader of a value comes after it, so when a
  // layer is reached the gradient of its output holds the sum over all its readers (fan-out).
  const grads = new Map<string, F64>();
  const inputGrads: F64[] = inputs.map((x) => new Float64Array(x.length)); // stay 0 if an input reaches no loss
  const send = (src: string, dx: F64) => dOut.set(src, dOut.has(src) ? dOut.get(src)!.map((v, i) => v + dx[i]) : dx);
  for (const l of [...spec.layers].reverse()) {
    const dy = dOut.get(l.name);
    if (!dy) continue; // feeds nothing that reaches the loss
    const { ctx, state } = saved.get(l.name)!;
    const train = kindOf(l).trainReference!();
    if ('merge' in train) {
      train.backward(ctx as MergeCtx, dy).forEach((dx, k) => send(l.inbound[k], dx));
      continue;
    }
    const { dx, grads: gs } = train.backward(ctx as Ctx, state, dy);
    for (const [k, g] of gs) grads.set(k, g);
    if (l.inbound.length) send(l.inbound[0], dx);
    else inputGrads[inputIndex(l)] = dx;
  }
  return { loss, outputLosses, grads, moving, outputs, correct: outputLosses[0].correct, inputGrad: inputGrads[0], inputGrads };
}
