// Pass 3, value facts: what is known of each value from the graph alone (the layer kinds' traits and
// the quantizer table's), never from how lowering happens to store it:
// - levels: the values it takes ('pm1' exactly +-1, '01', k-bit levels, ...: quantizer-forms.ts
//   Levels). A quantizer (layer) sets them, layers that move or pick values (reshapes, max pooling,
//   concatenation of like values, zero padding, linear and hard_tanh activations) pass them on,
//   everything else computes a 'real' value; a model input holds +-1 where the caller says so. A
//   layer whose input is already +-1 needs no quantizer to run on XNOR (kernel-paths.ts).
// - signOnly: the values read only through their sign: not kept, and every consumer reads only
//   its sign (a binary input quantizer, a binary quantizer layer: its kind's signUse 'sign') or
//   passes signs on (max pooling, reshapes, sign-preserving activations, concatenation: 'through')
//   to consumers that only sign theirs. Such a value can travel as bits, and a binary layer
//   producing it ends in integer thresholds.
import { kindOf } from '../../layers/index.js';
import type { LayerSpec } from '../../model/layer-config.js';
import type { Levels } from '../../model/quantizer-forms.js';
import { consumersOf, type Graph } from './graph.js';

export interface ValueFacts {
  /** The values each model input takes, in the model's order. */
  inputs: readonly Levels[];
  /** The values each layer's output takes, by the layer's name. */
  levels: ReadonlyMap<string, Levels>;
  /** Names of the values read only through their sign. */
  signOnly: ReadonlySet<string>;
}

export interface ValueFactsOptions {
  /** The 'float' kernels (the fp32 baseline): no value travels as bits, so none is only signed. */
  float?: boolean;
  /** Per model input: it holds only +-1 (inputs binarized before the model; LowerOptions.signInputs). */
  signInputs?: readonly boolean[];
}

export function valueFacts(g: Graph, options: ValueFactsOptions = {}): ValueFacts {
  const inputs = g.spec.inputs.map((_, i): Levels => (options.signInputs?.[i] ? 'pm1' : 'real'));
  const levels = new Map<string, Levels>();
  const facts = { inputs, levels, signOnly: options.float ? new Set<string>() : signOnlyOf(g) };
  // Forward in topological order: a layer's levels from its inputs'.
  for (const l of g.spec.layers) levels.set(l.name, kindOf(l).levels?.(l, levelsRead(g, facts, l)) ?? 'real');
  return facts;
}

/**
 * The levels of the values layer `l` reads: its inbound layers' outputs, or, for a layer without
 * inbound layers (an InputLayer, or a Sequential model's first layer), the model input of its name.
 */
export function levelsRead(g: Graph, facts: Pick<ValueFacts, 'inputs' | 'levels'>, l: LayerSpec): Levels[] {
  if (l.inbound.length > 0) return l.inbound.map((n) => facts.levels.get(n)!);
  return [facts.inputs[g.spec.inputs.findIndex((inp) => inp.name === l.name)]];
}

function signOnlyOf(g: Graph): Set<string> {
  const signOnly = new Set<string>();
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
  return signOnly;
}
