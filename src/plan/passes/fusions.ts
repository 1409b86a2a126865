// Pass 4, fusions: which per-channel affine layers (BatchNormalization: its kind's
// foldsIntoEpilogue) fold into the epilogue of the linear layer before them. The fold needs the
// linear layer's output read by that layer alone, not kept, and no activation between them. The
// lowering then ends the linear layer in the folded affine map, or, where the result is only
// signed (value facts), in integer thresholds.
import type { LayerSpec } from '../../model/layer-config.js';
import { kindOf } from '../../layers/index.js';
import { consumersOf, type Graph } from './graph.js';

export interface Fusions {
  /** Linear layer name -> the BatchNormalization folded into its epilogue. */
  foldedInto: ReadonlyMap<string, LayerSpec & { class: 'BatchNormalization' }>;
  /** The layers folded away (their work is in another layer's epilogue). */
  fused: ReadonlySet<string>;
}

export function fusions(g: Graph): Fusions {
  const consumers = consumersOf(g.spec);
  const foldedInto = new Map<string, LayerSpec & { class: 'BatchNormalization' }>();
  for (const l of g.spec.layers) {
    if (!kindOf(l).product) continue;
    const act = (l.config as { activation?: string }).activation ?? 'linear';
    const cs = consumers.get(l.name)!;
    if (act === 'linear' && !g.keep.has(l.name) && cs.length === 1 && kindOf(cs[0]).foldsIntoEpilogue) foldedInto.set(l.name, cs[0] as LayerSpec & { class: 'BatchNormalization' });
  }
  return { foldedInto, fused: new Set([...foldedInto.values()].map((bn) => bn.name)) };
}
