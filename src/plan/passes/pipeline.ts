// The compiler's passes in order (canonicalize, fold padding, value facts, fusions, kernel paths):
// the graph and everything decided on it, before any step is emitted. Lowering works from it,
// describe prints it, and the plan compares kernel paths with it, so all three see one pipeline.
import type { ModelSpec } from '../../model/tfjs-format.js';
import type { KernelPath } from '../kernel-path.js';
import { canonicalize } from './canonicalize.js';
import { foldPadding } from './fold-padding.js';
import type { Graph } from './graph.js';
import { valueFacts, type ValueFacts } from './value-facts.js';
import { fusions, type Fusions } from './fusions.js';
import { kernelPaths } from './kernel-paths.js';

export interface PassOptions {
  /** 'float': the fp32 baseline (no padding folded, nothing only signed, every path 'float'). */
  kernels?: 'binary' | 'float';
  /** Names read besides the model outputs (layer names, or `layer:input`). */
  keep?: string[];
  /** Per model input: it holds only +-1 (LowerOptions.signInputs). */
  signInputs?: readonly boolean[];
}

export interface Passes {
  /** The graph after canonicalization and padding folding: what the facts and decisions are about. */
  graph: Graph;
  /** Identity layer removed -> the layer its value comes from (canonicalize). */
  source: ReadonlyMap<string, string>;
  /** ZeroPadding2D folded -> the convolution that took it as its border. */
  folded: ReadonlyMap<string, string>;
  facts: ValueFacts;
  fusion: Fusions;
  /** Each linear layer's kernel path, in layer order. */
  paths: Map<string, KernelPath>;
}

export function runPasses(model: ModelSpec, options: PassOptions = {}): Passes {
  const float = options.kernels === 'float';
  const canonical = canonicalize({ spec: model, keep: new Set([...model.outputs, ...(options.keep ?? [])]) });
  // The fp32 baseline keeps the model's layers one to one: no padding folded.
  const padded = float ? { graph: canonical.graph, folded: new Map<string, string>() } : foldPadding(canonical.graph);
  const { graph } = padded;
  const facts = valueFacts(graph, { float, signInputs: options.signInputs });
  return { graph, source: canonical.source, folded: padded.folded, facts, fusion: fusions(graph), paths: kernelPaths(graph, facts, { float }) };
}
