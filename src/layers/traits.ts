// Questions about a layer that several parts of the engine ask, answered from its kind's record
// and its config's keys, never from its class name: its quantizers, whether its kernel is binary.
import { getQuantizer, type Quantizer } from '../model/quantizers.js';
import type { QuantizerConfig } from './base-config.js';

/** A layer's input and kernel quantizers (Larq's keys): null where it has none or no such key. */
export function quantizersOf(l: { config: object }): { input: Quantizer | null; kernel: Quantizer | null } {
  const c = l.config as { input_quantizer?: QuantizerConfig; kernel_quantizer?: QuantizerConfig };
  return { input: getQuantizer(c.input_quantizer ?? null), kernel: getQuantizer(c.kernel_quantizer ?? null) };
}

/** Whether the layer has Larq's quantizer keys (QuantDense, QuantConv2D): a quantized layer. */
export function isQuantized(l: { config: object }): boolean {
  return 'kernel_quantizer' in l.config;
}

/** The layer's kernel_quantizer is binary (+-1): its kernel may be stored as sign bits. */
export function binaryKernel(l: { config: object }): boolean {
  return quantizersOf(l).kernel?.binary === true;
}
