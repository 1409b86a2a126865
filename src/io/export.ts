// What hardware designers and NumPy users take out of a model: its weights as the inference uses
// them (binarized kernels as int8 +-1), the integer thresholds the compiler folded BatchNorm into,
// and any layer's activations for given inputs; each an .npy file, listed in a manifest.
import type { Model } from '../model/model.js';
import { isQuantized, quantizersOf } from '../layers/traits.js';
import { lowerModel } from '../plan/lower.js';
import type { InferencePlan } from '../plan/plan.js';
import { writeNpy, type NpyData } from './npy.js';

export interface ExportEntry {
  file: string;
  shape: number[];
  dtype: 'int8' | 'int32' | 'float32';
  /** What the array is. */
  description: string;
}

export interface ExportResult {
  files: Map<string, Uint8Array>;
  manifest: ExportEntry[];
}

const safe = (name: string) => name.replace(/[^A-Za-z0-9_.+-]/g, '_');

/**
 * The weights as inference uses them: kernels in Keras's layout (dense [in, units], conv
 * [KH, KW, in, out]) after their kernel quantizer (int8 +-1 where it is binary), biases and
 * BatchNormalization parameters as float32, and the compiler's per-channel thresholds.
 */
export function exportWeights(model: Model): ExportResult {
  const files = new Map<string, Uint8Array>();
  const manifest: ExportEntry[] = [];
  const put = (file: string, data: NpyData, shape: number[], dtype: ExportEntry['dtype'], description: string) => {
    files.set(file, writeNpy(data, shape));
    manifest.push({ file, shape, dtype, description });
  };
  for (const l of model.layers) {
    const quant = isQuantized(l);
    for (const [key, w] of model.spec.weights) {
      if (!key.startsWith(`${l.name}/`)) continue;
      const param = key.slice(l.name.length + 1);
      const file = `weights/${safe(l.name)}.${param}.npy`;
      const q = quant && param === 'kernel' ? quantizersOf(l).kernel : null;
      if (q?.binary) put(file, Int8Array.from(w.data, (v) => (v < 0 ? -1 : 1)), w.shape, 'int8', `${key} binarized by ${q.className} (+1/-1; sign(0) = +1), Keras layout`);
      else if (q) put(file, q.forward(w.data as Float32Array, w.shape), w.shape, 'float32', `${key} after ${q.className}, Keras layout`);
      else put(file, Float32Array.from(w.data), w.shape, 'float32', `${key}${param === 'kernel' ? ', Keras layout' : ''}`);
    }
  }
  for (const s of lowerModel(model.spec, { padRows: false }).steps) { // thresholds on the true dot products
    if ((s.op === 'binaryDense' || s.op === 'binaryConv') && s.epilogue.kind === 'threshold') {
      const base = `thresholds/${safe(s.layers.join('+'))}`;
      const n = s.epilogue.threshold.length;
      put(`${base}.threshold.npy`, s.epilogue.threshold, [n], 'int32', `${s.layers.join(' + ')} folded: output bit c is -1 where dot < threshold[c] (dot = the +-1 dot product), or where dot > threshold[c] if flip[c]`);
      put(`${base}.flip.npy`, Int8Array.from(s.epilogue.flip), [n], 'int8', `${s.layers.join(' + ')}: 1 where the folded BatchNorm scale is negative (comparison reversed)`);
    }
  }
  return { files, manifest };
}

/**
 * Runs `plan` on `inputs` and exports the named tensors (default: every layer's output and every
 * quantized layer's quantized input, `layer:input`): binary tensors as int8 +-1, others float32.
 */
export async function exportActivations(plan: InferencePlan, inputs: Float32Array[], names?: string[]): Promise<ExportResult> {
  const model = plan.model;
  const wanted = names ?? [
    ...model.layers.map((l) => l.name),
    ...model.layers.filter((l) => 'input_quantizer' in l.config && l.config.input_quantizer !== null).map((l) => `${l.name}:input`),
  ];
  const files = new Map<string, Uint8Array>();
  const manifest: ExportEntry[] = [];
  const got = await plan.run(inputs, { outputs: wanted });
  for (const name of wanted) {
    const t = got.get(name)!;
    const file = `activations/${safe(name.replace(':', '.'))}.npy`;
    if (t.bits) {
      files.set(file, writeNpy(Int8Array.from(t.data), t.shape));
      manifest.push({ file, shape: t.shape, dtype: 'int8', description: `${name}: binary (+1/-1)` });
    } else {
      files.set(file, writeNpy(t.data, t.shape));
      manifest.push({ file, shape: t.shape, dtype: 'float32', description: name });
    }
  }
  return { files, manifest };
}
