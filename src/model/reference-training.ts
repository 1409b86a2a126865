// The plain CPU training step of a model (issue 5's reference): the forward pass in training mode
// (BatchNormalization with batch statistics), sparse softmax cross-entropy, and the backward pass
// with Larq's straight-through estimators (each quantizer's own backward: ste_sign passes the
// gradient where |x| <= clip_value, approx_sign's and swish_sign's surrogates, ...). Each layer's
// forward sits beside its backward in one table. GPU training is tested against it; it is tested
// against finite differences where the layers are smooth. Slow and obvious on purpose, in f64.
//
// Covered: InputLayer, Flatten, Reshape, Dense / QuantDense, Conv2D / QuantConv2D (valid / same,
// strides, dilation, Larq's pad_values), MaxPooling2D / AveragePooling2D, GlobalAveragePooling2D,
// ZeroPadding2D, BatchNormalization, Activation, quantizer layers, Dropout with rate 0, and the
// merges Add and Concatenate (last axis). Functional graphs run in topological order; the gradient
// of a value read by several layers is the sum of what each sends back (fan-out). Dropout with
// rate > 0 throws: its mask would have to be shared with the GPU.
import { ShapeError } from '../gpu/errors.js';
import { argmax } from '../train/metrics.js';
import { kindOf } from '../layers/index.js';
import type { LayerSpec } from './layer-config.js';
import type { ModelSpec } from './tfjs-format.js';

type F64 = Float64Array;
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

import type { Ctx, MergeCtx } from './training-references.js';

export { TRAINING_REFERENCES, type Ctx, type MergeCtx, type TrainLayer, type MergeTrainLayer, type TrainingReference } from './training-references.js';

export interface TrainingStepResult {
  /** Mean sparse categorical cross-entropy over the batch. */
  loss: number;
  /** Gradient of the loss for every trainable weight, keyed `layer/param` (moving statistics have none). */
  grads: Map<string, Float64Array>;
  /** BatchNormalization's updated moving statistics (Keras: moving = moving * momentum + batch * (1 - momentum), the biased batch variance). */
  moving: Map<string, Float64Array>;
  /** Every layer's training-mode output. */
  outputs: Map<string, Float64Array>;
  /** Rows whose label is the argmax, first maximum (Keras' accuracy; src/train/metrics.ts). */
  correct: number;
  /** Gradient of the loss for the model's (first) input, laid out as the input. */
  inputGrad: Float64Array;
  /** Gradient of the loss for each model input, in the model's order. */
  inputGrads: Float64Array[];
}

function softmaxCrossEntropy(logits: F64, labels: ArrayLike<number>, M: number, C: number) {
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
      dlogits[r * C + k] = (probs[r * C + k] - (k === label ? 1 : 0)) / M;
    }
    loss += (Math.log(sum) + max - row[label]) / M;
    if (argmax(row) === label) correct++;
  }
  return { probs, dlogits, loss, correct };
}

/**
 * One training step's forward and backward on the CPU. The model has one output, a softmax (an
 * Activation layer or a layer with activation softmax), and one input or several (`input` then
 * one array per model input, in the model's order); `labels` are class indices. Layers run in
 * topological order; going back, a value read by several layers gets the sum of their gradients.
 * Weights are not changed (the optimizer is separate).
 */
export function referenceTrainingStep(spec: ModelSpec, input: Float32Array | Float32Array[], labels: ArrayLike<number>, batch: number): TrainingStepResult {
  if (spec.outputs.length !== 1) throw new ShapeError(`referenceTrainingStep: models with one output only (one loss); "${spec.name}" has ${spec.outputs.length}`);
  const out = spec.layers.find((l) => l.name === spec.outputs[0])!;
  const outIsSoftmax = (out.config as { activation?: string }).activation === 'softmax';
  if (!outIsSoftmax) throw new ShapeError(`referenceTrainingStep: the output layer "${out.name}" must end in a softmax (sparse categorical cross-entropy)`);
  if (labels.length !== batch) throw new ShapeError(`referenceTrainingStep: ${labels.length} labels for a batch of ${batch}`);
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
  // The output's softmax is folded into the loss: its layer runs with a linear activation.
  const linearOut = (l: LayerSpec): LayerSpec => (l === out ? ({ ...l, config: { ...l.config, activation: 'linear' } } as LayerSpec) : l);
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
  const C = out.outputShape.at(-1)!;
  const { probs, dlogits, loss, correct } = softmaxCrossEntropy(outputs.get(out.name)!, labels, batch, C);
  outputs.set(out.name, probs);

  // Backward in reverse topological order: every reader of a value comes after it, so when a
  // layer is reached the gradient of its output holds the sum over all its readers (fan-out).
  const grads = new Map<string, F64>();
  const inputGrads: F64[] = inputs.map((x) => new Float64Array(x.length)); // stay 0 if an input reaches no loss
  const dOut = new Map<string, F64>([[out.name, dlogits]]);
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
  return { loss, grads, moving, outputs, correct, inputGrad: inputGrads[0], inputGrads };
}
