// The graph the compiler's passes work on: a model's layers (a DAG of values, one value per layer
// output, in topological order), the names whose full value must be kept (outputs and intermediates
// asked for), and who reads each value.
import type { LayerSpec } from '../../model/layer-config.js';
import type { ModelSpec } from '../../model/tfjs-format.js';

export interface Graph {
  spec: ModelSpec;
  /** Names whose full value the plan must materialize: the model outputs and the names asked for. */
  keep: ReadonlySet<string>;
}

/** The layers reading each value (a layer's output, by the layer's name), in layer order. */
export function consumersOf(spec: ModelSpec): Map<string, LayerSpec[]> {
  const consumers = new Map<string, LayerSpec[]>(spec.layers.map((l) => [l.name, []]));
  for (const l of spec.layers) for (const s of l.inbound) consumers.get(s)!.push(l);
  return consumers;
}

/** A graph as text, one layer a line: `name = Class(inputs)`, kept names marked. For plan.describe() and tests. */
export function describeGraph(g: Graph): string {
  return g.spec.layers.map((l) => `${l.name} = ${l.class}(${l.inbound.join(', ')})${g.keep.has(l.name) ? ' [kept]' : ''}`).join('\n');
}
