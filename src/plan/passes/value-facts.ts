// Pass 2, value facts: which values are read only through their sign. A value is "only signed"
// when no one reads it in full: not kept, and every consumer reads only its sign (a binary input
// quantizer, a binary quantizer layer: its kind's signUse 'sign') or passes signs on (max pooling,
// reshapes, sign-preserving activations, concatenation: 'through') to consumers that only sign
// theirs. Such a value can travel as bits, and a binary layer producing it ends in integer
// thresholds. (Which values hold exactly +-1 is known from the representation while lowering: bits
// written by a sign, a model input checked to hold only +-1.)
import { kindOf } from '../../layers/index.js';
import { consumersOf, type Graph } from './graph.js';

export interface ValueFacts {
  /** Names of the values read only through their sign. */
  signOnly: ReadonlySet<string>;
}

export function valueFacts(g: Graph, options: { float?: boolean } = {}): ValueFacts {
  const signOnly = new Set<string>();
  if (options.float) return { signOnly };
  const consumers = consumersOf(g.spec);
  // Consumers come later in topological order: decide from the last layer back.
  for (const l of [...g.spec.layers].reverse()) {
    const cs = consumers.get(l.name)!;
    const only =
      !g.keep.has(l.name) &&
      cs.length > 0 &&
      cs.every((c) => {
        const use = kindOf(c).signUse?.(c) ?? 'value';
        return use === 'sign' || (use === 'through' && signOnly.has(c.name));
      });
    if (only) signOnly.add(l.name);
  }
  return { signOnly };
}
