// A training batch as the trainer takes it, checked against the model before any GPU work: one
// Float32Array per model input, in the model's input order (positional, as InferencePlan.run takes
// them), and one Uint32Array of class indices per output, in the model's output order. A single
// array stands for a list of one, so a one-input one-output model takes plain arrays as before.
import { ShapeError } from '../gpu/errors.js';
import { show } from '../model/error-text.js';

export type BatchInputs = Float32Array | readonly Float32Array[];
export type BatchLabels = Uint32Array | readonly Uint32Array[];

/** What a batch is checked against: the model's inputs (name, values per sample) and outputs' names. */
export interface BatchSignature {
  inputs: readonly { name: string; features: number }[];
  outputs: readonly string[];
}

/** `labels` as one array per output, checked: the batch size they agree on. */
export function batchLabels(what: string, sig: BatchSignature, labels: BatchLabels): { batch: number; labels: readonly Uint32Array[] } {
  const list = listOf(labels);
  if (list.length !== sig.outputs.length) throw new ShapeError(`${what}: ${list.length} label array(s) for a model of ${sig.outputs.length} output(s) (${sig.outputs.map((o) => `"${o}"`).join(', ')}); give one Uint32Array of class indices per output, in the model's order`);
  list.forEach((l, i) => {
    if (!(l instanceof Uint32Array)) throw new ShapeError(`${what}: the labels of output "${sig.outputs[i]}" must be a Uint32Array of class indices, got ${describe(l)}`);
    if (l.length !== list[0].length) throw new ShapeError(`${what}: output "${sig.outputs[i]}" has ${l.length} labels, output "${sig.outputs[0]}" ${list[0].length}; one label per sample for each output`);
  });
  return { batch: list[0].length, labels: list };
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
