// A training batch as the trainer takes it, checked against the model before any GPU work: one
// Float32Array per model input, in the model's input order (positional, as InferencePlan.run takes
// them), and one label array per output, in the model's output order: a Uint32Array of class
// indices for a sparse cross-entropy output, a Float32Array of targets (B x the output's size) for
// an MSE or BCE one. A single array stands for a list of one, so a one-input one-output model takes
// plain arrays as before.
import { ShapeError } from '../gpu/errors.js';
import { show } from '../model/error-text.js';

export type BatchInputs = Float32Array | readonly Float32Array[];
export type OutputLabels = Uint32Array | Float32Array;
export type BatchLabels = OutputLabels | readonly OutputLabels[];

/** What a batch is checked against: the model's inputs (name, values per sample) and outputs (name; targets per sample, or class indices). */
export interface BatchSignature {
  inputs: readonly { name: string; features: number }[];
  /** `targets`: f32 values per sample (an MSE or BCE output); absent: one class index per sample. */
  outputs: readonly { name: string; targets?: number }[];
}

/** `labels` as one array per output, checked: the batch size they agree on. */
export function batchLabels(what: string, sig: BatchSignature, labels: BatchLabels): { batch: number; labels: readonly OutputLabels[] } {
  const list = listOf(labels);
  const names = sig.outputs.map((o) => `"${o.name}"`).join(', ');
  if (list.length !== sig.outputs.length) throw new ShapeError(`${what}: ${list.length} label array(s) for a model of ${sig.outputs.length} output(s) (${names}); give one per output, in the model's order (a Uint32Array of class indices, or a Float32Array of targets for an MSE or BCE output)`);
  // Samples per output's labels: a class index each, or `targets` values each.
  const samples = list.map((l, i) => {
    const { name, targets } = sig.outputs[i];
    if (targets === undefined) {
      if (!(l instanceof Uint32Array)) throw new ShapeError(`${what}: the labels of output "${name}" must be a Uint32Array of class indices, got ${describe(l)}`);
      return l.length;
    }
    if (!(l instanceof Float32Array)) throw new ShapeError(`${what}: the labels of output "${name}" (its loss takes targets) must be a Float32Array of ${targets} value(s) per sample, got ${describe(l)}`);
    if (l.length % targets !== 0) throw new ShapeError(`${what}: output "${name}" has ${l.length} target values, not a whole number of samples of ${targets}`);
    return l.length / targets;
  });
  samples.forEach((n, i) => {
    if (n !== samples[0]) throw new ShapeError(`${what}: output "${sig.outputs[i].name}" has labels for ${n} samples, output "${sig.outputs[0].name}" for ${samples[0]}; one label (or target row) per sample for each output`);
  });
  return { batch: samples[0], labels: list };
}

/** `inputs` as one array per model input, each checked to hold `batch` samples. */
export function batchInputs(what: string, sig: BatchSignature, inputs: BatchInputs, batch: number): readonly Float32Array[] {
  const list = listOf(inputs);
  if (list.length !== sig.inputs.length) throw new ShapeError(`${what}: ${list.length} input array(s) for a model of ${sig.inputs.length} input(s) (${sig.inputs.map((i) => `"${i.name}"`).join(', ')}); give one Float32Array per input, in the model's order`);
  list.forEach((x, i) => {
    const { name, features } = sig.inputs[i];
    if (!(x instanceof Float32Array)) throw new ShapeError(`${what}: input "${name}" must be a Float32Array, got ${describe(x)}`);
    if (x.length !== batch * features) throw new ShapeError(`${what}: input "${name}" has ${x.length} values for ${batch} samples of ${features}`);
  });
  return list;
}

// Array.isArray is false for typed arrays: a typed array is one input's (or one output's) batch.
function listOf<T>(x: T | readonly T[]): readonly T[] {
  return Array.isArray(x) ? (x as readonly T[]) : [x as T];
}

/** A wrong argument named by its type (an array of numbers: `Array`), or quoted if it is a plain value. */
function describe(v: unknown): string {
  return v !== null && typeof v === 'object' ? (v.constructor?.name ?? 'an object') : show(v);
}
