// A model's summary as `larq.models.summary` gives it: per layer the output shape, the input
// precision, parameters by bit width, memory, and multiply-accumulates by kind; totals and the
// saving against the same model in float32. Parameter bits: a kernel takes its kernel quantizer's
// precision (1 for the sign quantizers, 2 for ste_tern, k for DoReFa), everything else 32 bits.
import { getQuantizer } from './quantizers.js';
import type { QuantizerConfig } from './layer-config.js';
import { kindOf } from '../layers/index.js';
import { isQuantized } from '../layers/traits.js';
import type { ModelSpec } from './tfjs-format.js';

export interface LayerSummary {
  name: string;
  class: string;
  outputShape: number[];
  /** Bits of the values the layer multiplies (its input quantizer's precision; 32 for float). */
  inputBits: number;
  /** Parameters by their stored precision in an inference model: bits -> count. */
  params: Map<number, number>;
  memoryBits: number;
  /** Multiply-accumulates per sample where both operands are 1-bit, and the others. */
  binaryMacs: number;
  otherMacs: number;
}

export interface ModelSummary {
  name: string;
  layers: LayerSummary[];
  totalParams: number;
  binaryParams: number;
  memoryBytes: number;
  float32Bytes: number;
  binaryMacs: number;
  otherMacs: number;
}

const count = (s: number[]) => s.reduce((a, b) => a * b, 1);

function precisionOf(id: unknown): number {
  const q = getQuantizer(id as never);
  return q === null ? 32 : (q.precision ?? 32);
}

export function summarize(spec: ModelSpec): ModelSummary {
  const shapes = new Map(spec.layers.map((l) => [l.name, l.outputShape]));
  const byName = new Map(spec.layers.map((l) => [l.name, l]));
  const layers = spec.layers.map((l): LayerSummary => {
    const params = new Map<number, number>();
    const add = (bits: number, n: number) => params.set(bits, (params.get(bits) ?? 0) + n);
    let inputBits = 32;
    let macs = 0;
    let kernelBits = 32;
    const inShape = l.inbound.length ? shapes.get(l.inbound[0])! : (spec.inputs.find((i) => i.name === l.name)?.shape ?? l.outputShape);
    if (isQuantized(l)) {
      const c = l.config as { input_quantizer: QuantizerConfig; kernel_quantizer: QuantizerConfig };
      // Without an input quantizer, a layer that reads a quantizer layer (Bi-Real Net's standalone
      // SteSign) multiplies that quantizer's values.
      const from = c.input_quantizer === null && l.inbound.length === 1 ? byName.get(l.inbound[0]) : undefined;
      inputBits = precisionOf(from && 'quantizer' in from.config ? from.config.quantizer : c.input_quantizer);
      kernelBits = precisionOf(c.kernel_quantizer);
    }
    for (const [key, w] of spec.weights) {
      if (!key.startsWith(`${l.name}/`)) continue;
      add(key.endsWith('/kernel') ? kernelBits : 32, count(w.shape));
    }
    macs = kindOf(l).macs?.(l, inShape) ?? 0;
    const binary = inputBits === 1 && kernelBits === 1;
    return {
      name: l.name,
      class: kindOf(l).written?.(l.config).className ?? l.class,
      outputShape: l.outputShape,
      inputBits,
      params,
      memoryBits: [...params].reduce((a, [bits, n]) => a + bits * n, 0),
      binaryMacs: binary ? macs : 0,
      otherMacs: binary ? 0 : macs,
    };
  });
  const sum = (f: (l: LayerSummary) => number) => layers.reduce((a, l) => a + f(l), 0);
  const totalParams = sum((l) => [...l.params.values()].reduce((a, b) => a + b, 0));
  return {
    name: spec.name,
    layers,
    totalParams,
    binaryParams: sum((l) => l.params.get(1) ?? 0),
    memoryBytes: sum((l) => l.memoryBits) / 8,
    float32Bytes: totalParams * 4,
    binaryMacs: sum((l) => l.binaryMacs),
    otherMacs: sum((l) => l.otherMacs),
  };
}

const fmtBytes = (b: number) => (b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : b >= 1e3 ? `${(b / 1e3).toFixed(2)} kB` : `${b} B`);
const fmtCount = (n: number) => n.toLocaleString('en-US');

/** The summary as a text table (what `bnn summary` prints). */
export function formatSummary(s: ModelSummary): string {
  const head = ['Layer', 'Class', 'Output shape', 'In bits', '1-bit params', '32-bit params', 'Other params', 'Memory', '1-bit MACs', 'Other MACs'];
  const rows = s.layers.map((l) => {
    const other = [...l.params].filter(([b]) => b !== 1 && b !== 32).reduce((a, [, n]) => a + n, 0);
    return [l.name, l.class, `[${l.outputShape.join(', ')}]`, String(l.inputBits), fmtCount(l.params.get(1) ?? 0), fmtCount(l.params.get(32) ?? 0), fmtCount(other), fmtBytes(l.memoryBits / 8), fmtCount(l.binaryMacs), fmtCount(l.otherMacs)];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const rule = '-'.repeat(widths.reduce((a, b) => a + b + 2, -2));
  const ratio = s.memoryBytes > 0 ? s.float32Bytes / s.memoryBytes : 1;
  return [
    `Model "${s.name}"`,
    rule,
    line(head),
    rule,
    ...rows.map(line),
    rule,
    `Total params: ${fmtCount(s.totalParams)} (${fmtCount(s.binaryParams)} binarized, ${fmtCount(s.totalParams - s.binaryParams)} other)`,
    `Model size: ${fmtBytes(s.memoryBytes)} (${s.memoryBytes} bytes); float32 equivalent: ${fmtBytes(s.float32Bytes)}; ${ratio.toFixed(2)}x smaller (saving ${(100 * (1 - 1 / ratio)).toFixed(2)}%)`,
    `MACs per sample: ${fmtCount(s.binaryMacs)} binary (XNOR-popcount), ${fmtCount(s.otherMacs)} other`,
  ].join('\n');
}
