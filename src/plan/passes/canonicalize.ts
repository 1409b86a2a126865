// Pass 1, canonicalization: layers that are the identity at inference (a quantizer layer whose kind
// says so: NoOp, DoReFaGradient, which quantizes only the training gradient) vanish, so that the
// fusions and value facts after it see through them. Their consumers read their input; outputs and
// kept names move to the layer they read (`source` says where each went).
import type { LayerSpec } from '../../model/layer-config.js';
import { kindOf } from '../../layers/index.js';
import type { Graph } from './graph.js';

export function canonicalize(g: Graph): { graph: Graph; source: Map<string, string> } {
  const { spec } = g;
  const reads = new Map<string, string>();
  for (const l of spec.layers) {
    if (l.inbound.length === 1 && kindOf(l).identityAtInference?.(l.config)) reads.set(l.name, l.inbound[0]);
  }
  if (reads.size === 0) return { graph: g, source: reads };
  const root = (name: string): string => (reads.has(name) ? root(reads.get(name)!) : name);
  const layers = spec.layers.filter((l) => !reads.has(l.name)).map((l) => ({ ...l, inbound: l.inbound.map(root) }) as LayerSpec);
  const source = new Map([...reads.keys()].map((name) => [name, root(name)]));
  return { graph: { spec: { ...spec, layers, outputs: spec.outputs.map(root) }, keep: new Set([...g.keep].map((n) => source.get(n) ?? n)) }, source };
}
