// The merge layer kinds, which read two or more tensors: Add (element-wise sum, Keras's order) and
// Concatenate (along the last axis; bits concatenate as words where the leading inputs fill whole words).
import { fail, axisIndex } from './config-readers.js';
import { defineKind, type LayerOf } from './kind.js';
import type { BaseConfig } from './base-config.js';
import { axisOf, sameShape } from './shapes.js';
import { addReference, concatLastReference } from '../ops/elementwise.js';
import type { LowerContext, PlanValue } from '../plan/lower.js';
import { AddStep, ConcatenateStep } from '../train/merge-steps.js';
import { TRAINING_REFERENCES } from '../model/training-references.js';

/** Keras's Add: the element-wise sum of its inbound tensors (two or more, of one shape). No keys of its own. */
export type AddConfig = BaseConfig;

export interface ConcatenateConfig extends BaseConfig {
  /** As written (-1, or the index counting the batch axis); only the channel (last) axis is supported. */
  axis: number;
}

/**
 * Two inputs at a time, left to right (Keras adds in that order). Bits concatenate as words where
 * every input but the last fills whole words per row; otherwise they are unpacked first. The
 * result holds the full value if every input does (inputs that hold only signs arrive where the
 * concatenation itself is only signed).
 */
function lowerMerge(ctx: LowerContext, l: LayerOf<'Add', AddConfig> | LayerOf<'Concatenate', ConcatenateConfig>): void {
  const us = l.inbound.map((name) => ctx.valueOf(name));
  const full = us.every((v) => v.full);
  const words = l.class === 'Concatenate' && us.every((v, i) => v.rep === 'b1' && !v.storedCols && (i === us.length - 1 || v.shape.at(-1)! % 32 === 0));
  const xs = words ? us : us.map((v) => ctx.asFloat(v, [l.name]));
  let y: PlanValue = xs[0];
  for (const x2 of xs.slice(1)) {
    const shape = l.class === 'Add' ? y.shape : [...y.shape.slice(0, -1), y.shape.at(-1)! + x2.shape.at(-1)!];
    const z = ctx.newValue(shape, words ? 'b1' : 'f32', [], { full });
    ctx.emit({ op: l.class === 'Add' ? 'add' : words ? 'concatBits' : 'concat', layers: [l.name], x: y.id, x2: x2.id, y: z.id });
    y = z;
  }
  ctx.produce(l, y);
}

export const MERGE_KINDS = {
  Add: defineKind<'Add', AddConfig>({
    className: 'Add',
    keys: {},
    inputs: 'many',
    outputShape: (_c, xs, at, inbound) => {
      const other = xs.find((s) => !sameShape(s, xs[0]));
      if (other) fail(at, `adds tensors of different shapes [${xs[0]}] and [${other}] (from ${inbound.map((n, i) => `"${n}" [${xs[i]}]`).join(', ')})`, 'Add needs one shape (no broadcasting)');
      return xs[0];
    },
    // Left to right, each partial sum an f32: as Keras adds, and as the plan's chain of two-input adds.
    reference: (_l, xs) => xs.slice(1).reduce((y, v) => addReference(y, v.data), xs[0].data),
    tfjs: (_l, { tf }) => (xs) => xs.slice(1).reduce((y, x) => tf.add(y, x), xs[0]),
    train: (l, ctx) => new AddStep(l.name, ctx.inShapes.length),
    trainReference: () => TRAINING_REFERENCES.Add!,
    lower: (ctx, l) => lowerMerge(ctx, l),
  }),
  Concatenate: defineKind<'Concatenate', ConcatenateConfig>({
    className: 'Concatenate',
    keys: { axis: { read: axisIndex, default: -1 } },
    inputs: 'many',
    outputShape: (c, xs, at) => {
      const [x] = xs;
      const rank = x.length;
      const axis = axisOf(c.axis, rank);
      if (axis !== rank - 1) fail(`${at}, key "axis"`, `axis ${c.axis} is not the channel (last) axis of [${x}]`, 'only concatenation along the last axis (axis -1) is supported');
      const other = xs.find((s) => s.length !== rank || !sameShape(s.slice(0, -1), x.slice(0, -1)));
      if (other) fail(at, `concatenates tensors whose shapes differ outside the last axis: [${x}] and [${other}]`, 'all but the concatenation axis must match');
      return [...x.slice(0, -1), xs.reduce((a, s) => a + s[rank - 1], 0)];
    },
    reference: (_l, xs) => xs.slice(1).reduce((y, v) => ({ shape: [...y.shape.slice(0, -1), y.shape.at(-1)! + v.shape.at(-1)!], data: concatLastReference(y.data, y.shape.at(-1)!, v.data, v.shape.at(-1)!) }), xs[0]).data,
    tfjs: (_l, { tf }) => (xs) => tf.concat(xs, -1),
    train: (l, ctx) => new ConcatenateStep(l.name, ctx.inShapes.map((s) => s.at(-1)!)),
    trainReference: () => TRAINING_REFERENCES.Concatenate!,
    signUse: () => 'through',
    // The inputs' values side by side: one set of levels if all share it. k-bit levels depend on k,
    // which the fact does not carry, so those are not claimed for a mix.
    levels: (_l, xs) => (xs.every((v) => v === xs[0]) && xs[0] !== 'kbit' && xs[0] !== 'signedKbit' ? xs[0] : 'real'),
    lower: (ctx, l) => lowerMerge(ctx, l),
  }),
};
