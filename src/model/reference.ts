// The plain CPU forward pass of a model, layer by layer, as Larq/Keras compute it at inference
// (BatchNormalization with moving statistics, quantizers' forwards, Larq's pad_values): the
// reference compiled plans are tested against. Slow and obvious on purpose. Each layer's forward
// is its kind's `reference` (src/layers/).
//
// Sums are taken in f64 and each layer's output rounded to f32 once. BatchNormalization is
// evaluated in f64 from the stored parameters, as the compiler's integer thresholds are; Larq
// evaluates it in f32, which can differ from both only where BN(y) is within f32 rounding of 0.
import { ShapeError } from '../gpu/errors.js';
import { kindOf } from '../layers/index.js';
import type { ReferenceValue } from '../layers/kind.js';
import type { ModelSpec } from './tfjs-format.js';

export type { ReferenceValue } from '../layers/kind.js';
export { activate } from '../layers/activations.js';
export { xnorScaleOf } from '../layers/linear.js';

/**
 * Runs `spec` on `inputs` (one Float32Array per model input, batch-major, NHWC) for `batch`
 * samples. Returns every layer's output by layer name, and for a quantized layer with an input
 * quantizer also its quantized input as `name:input`.
 */
export function referenceForward(spec: ModelSpec, inputs: Float32Array[], batch: number): Map<string, ReferenceValue> {
  if (inputs.length !== spec.inputs.length) throw new ShapeError(`referenceForward: ${inputs.length} inputs given, the model has ${spec.inputs.length}`);
  const values = new Map<string, ReferenceValue>();
  for (const l of spec.layers) {
    let xs: ReferenceValue[];
    if (l.inbound.length === 0) {
      const i = spec.inputs.findIndex((inp) => inp.name === l.name);
      const shape = [batch, ...spec.inputs[i].shape];
      if (inputs[i].length !== shape.reduce((a, b) => a * b, 1)) throw new ShapeError(`referenceForward: input "${l.name}" has ${inputs[i].length} values, [${shape}] needs ${shape.reduce((a, b) => a * b, 1)}`);
      xs = [{ shape, data: inputs[i] }];
    } else xs = l.inbound.map((name) => values.get(name)!);
    const also: [string, ReferenceValue][] = [];
    const ctx = {
      spec,
      weight: (p: string) => spec.weights.get(`${l.name}/${p}`)!.data as Float32Array,
      also: (name: string, v: ReferenceValue) => void also.push([name, v]),
    };
    const data = kindOf(l).reference(l, xs, ctx);
    values.set(l.name, { shape: [xs[0].shape[0], ...l.outputShape], data });
    for (const [name, v] of also) values.set(name, v);
  }
  return values;
}
