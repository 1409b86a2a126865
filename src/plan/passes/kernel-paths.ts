// Pass 5, kernel paths: each linear layer's one kernel-path decision (kernel-path.ts), taken from
// its quantizers and the value facts of its input, so the paths are a function of the graph:
// lowering follows them, and `bnn summary MODEL --plan` prints them without lowering.
import { kindOf } from '../../layers/index.js';
import { kernelPathOf, type KernelPath } from '../kernel-path.js';
import type { Graph } from './graph.js';
import { levelsRead, type ValueFacts } from './value-facts.js';

/** Linear layer name -> its kernel path, in layer order. `float`: the fp32 baseline. */
export function kernelPaths(g: Graph, facts: ValueFacts, options: { float?: boolean } = {}): Map<string, KernelPath> {
  const paths = new Map<string, KernelPath>();
  for (const l of g.spec.layers) {
    if (kindOf(l).product) paths.set(l.name, kernelPathOf(l, { signs: levelsRead(g, facts, l)[0] === 'pm1' }, options));
  }
  return paths;
}
