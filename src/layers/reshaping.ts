// The layer kinds that move values without computing: Flatten, Reshape (views of row-major NHWC),
// ZeroPadding2D (zeros around an image) and Dropout (the identity at inference).
import { fail, positiveInt, channelsLast, finiteIn, only, anything, type Reader } from './config-readers.js';
import { defineKind, sameLevels, type ReferenceValue } from './kind.js';
import type { TfjsEnv, TfTensor } from './tfjs-ops.js';
import type { BaseConfig } from './base-config.js';
import { checkedCount, imageShape } from './shapes.js';
import { show } from '../model/error-text.js';
import type { LowerContext, PlanValue } from '../plan/lower.js';
import { PadStep, ReshapeStep } from '../train/shape-steps.js';
import { TrainError } from '../train/train-error.js';
import { TRAINING_REFERENCES } from '../model/training-references.js';
import type { Levels } from '../model/quantizer-forms.js';

export type FlattenConfig = BaseConfig;

export interface DropoutConfig extends BaseConfig {
  rate: number;
}

export interface ZeroPadding2DConfig extends BaseConfig {
  /** [[top, bottom], [left, right]] (an int or a pair as written is normalized to this). */
  padding: [[number, number], [number, number]];
}

export interface ReshapeConfig extends BaseConfig {
  /** Without the batch dimension; at most one -1 (inferred from the input's size). */
  target_shape: number[];
}

/** Keras's ZeroPadding2D padding: n, [h, w] (symmetric) or [[top, bottom], [left, right]], each >= 0; normalized to the last. */
const zeroPadding: Reader = (v, at) => {
  const size = (x: unknown, where: string) => (typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 65535 ? x : fail(where, `got ${show(x)}, expected an integer in [0, 65535]`));
  const expected = 'expected an integer, a pair [h, w] or a pair of pairs [[top, bottom], [left, right]]';
  if (typeof v === 'number') return [[size(v, at), v], [v, v]];
  if (!Array.isArray(v) || v.length !== 2) return fail(at, `got ${show(v)}, ${expected}`);
  return v.map((p, i) => {
    if (typeof p === 'number') return [size(p, `${at}[${i}]`), p];
    if (!Array.isArray(p) || p.length !== 2) return fail(at, `got ${show(v)}, ${expected}`);
    return [size(p[0], `${at}[${i}][0]`), size(p[1], `${at}[${i}][1]`)];
  });
};

/** Reshape's target_shape: 1 to 4 positive sizes, at most one of them -1. */
const targetShape: Reader = (v, at) => {
  if (!Array.isArray(v) || v.length < 1 || v.length > 4) fail(at, `got ${show(v)}, expected a list of 1 to 4 sizes (without the batch dimension)`);
  const out = Array.from(v, (d, i) => (d === -1 ? -1 : positiveInt(d, `${at}[${i}]`)));
  if (out.filter((d) => d === -1).length > 1) fail(at, `got ${show(v)}: at most one size may be -1`);
  return out;
};

/** NHWC x with zeros around: [[top, bottom], [left, right]]. */
function zeroPadReference(x: ReferenceValue, [[top, bottom], [left, right]]: [[number, number], [number, number]]): Float32Array {
  const [N, H, W, C] = x.shape;
  const OH = H + top + bottom;
  const OW = W + left + right;
  const y = new Float32Array(N * OH * OW * C);
  for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) y.set(x.data.subarray(((n * H + h) * W) * C, ((n * H + h) * W + W) * C), ((n * OH + h + top) * OW + left) * C);
  return y;
}

/**
 * Row-major NHWC keeps the element order, so floats are seen with the new shape. Bits are padded to
 * whole words per row of the last axis: they alias where that axis is unchanged (or there is one
 * row) or both last axes are whole words, else they are re-packed.
 */
function lowerView(ctx: LowerContext, l: { name: string; outputShape: number[] }, u: PlanValue): void {
  const out = l.outputShape;
  const [c, c2] = [u.shape.at(-1)!, out.at(-1)!];
  const oneRow = u.shape.slice(0, -1).every((d) => d === 1) && out.slice(0, -1).every((d) => d === 1);
  if (u.rep === 'b1' && c !== c2 && !oneRow && (c % 32 !== 0 || c2 % 32 !== 0)) {
    const y = ctx.asBits(ctx.alias(ctx.asFloat(u, [l.name]), out), [l.name], []);
    y.full = u.full;
    ctx.produce(l, y);
  } else ctx.produce(l, ctx.alias(u, out));
}

/** What Flatten and Reshape share: the same values seen with another shape (signs pass through). */
const VIEW = {
  reference: (_l: unknown, [x]: ReferenceValue[]) => x.data,
  tfjs: (l: { outputShape: number[] }, { tf }: TfjsEnv) => ([x]: TfTensor[]) => tf.reshape(x, [x.shape[0], ...l.outputShape]),
  train: (l: { name: string; outputShape: number[] }) => new ReshapeStep(l.name, l.outputShape),
  signUse: () => 'through' as const,
  levels: sameLevels,
  lower: lowerView,
};

/** The values of an input with zeros around it: +-1 with 0 is {-1, 0, +1}; levels that hold 0 keep it; else nothing is known. */
function withZeros(x: Levels): Levels {
  if (x === 'pm1') return 'ternary';
  return x === '01' || x === 'kbit' || x === 'ternary' ? x : 'real';
}

export const RESHAPING_KINDS = {
  Flatten: defineKind<'Flatten', FlattenConfig>({
    className: 'Flatten',
    keys: { data_format: { read: channelsLast, default: 'channels_last', drop: true } },
    outputShape: (_c, [x], at) => [checkedCount(x, at)],
    ...VIEW,
    trainReference: () => TRAINING_REFERENCES.Flatten!,
  }),
  Reshape: defineKind<'Reshape', ReshapeConfig>({
    className: 'Reshape',
    keys: { target_shape: { read: targetShape } },
    outputShape: (c, [x], at) => {
      const n = checkedCount(x, at);
      const known = c.target_shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
      const free = c.target_shape.includes(-1);
      if (free ? n % known !== 0 : n !== known) fail(`${at}, key "target_shape"`, `[${c.target_shape}] does not hold the ${n} elements of the input [${x}]`, 'the target shape must have as many elements as the input');
      return c.target_shape.map((d) => (d === -1 ? n / known : d));
    },
    ...VIEW,
    trainReference: () => TRAINING_REFERENCES.Reshape!,
  }),
  ZeroPadding2D: defineKind<'ZeroPadding2D', ZeroPadding2DConfig>({
    className: 'ZeroPadding2D',
    keys: { padding: { read: zeroPadding, default: [[1, 1], [1, 1]] }, data_format: { read: channelsLast, default: 'channels_last', drop: true } },
    outputShape: (c, [x], at) => {
      const [h, w, ch] = imageShape(x, at);
      const [[t, b], [le, r]] = c.padding;
      return [h + t + b, w + le + r, ch];
    },
    reference: (l, [x]) => zeroPadReference(x, l.config.padding),
    borderPadding: (c) => c.padding,
    levels: (_l, [x]) => withZeros(x),
    train: (l) => {
      const [[top, bottom], [left, right]] = l.config.padding;
      return new PadStep(l.name, { top, bottom, left, right });
    },
    trainReference: () => TRAINING_REFERENCES.ZeroPadding2D!,
    tfjs: (l, { tf }) => ([x]) => tf.pad(x, [[0, 0], ...l.config.padding, [0, 0]]),
    lower: (ctx, l, u) => {
      const [[top, bottom], [left, right]] = l.config.padding;
      const x = ctx.asFloat(u, [l.name]);
      const y = ctx.newValue(l.outputShape, 'f32', []);
      ctx.emit({ op: 'pad', layers: [l.name], x: x.id, y: y.id, top, bottom, left, right, fill: 0 });
      ctx.produce(l, y);
    },
  }),
  Dropout: defineKind<'Dropout', DropoutConfig>({
    className: 'Dropout',
    keys: { rate: { read: finiteIn(0, 1) }, noise_shape: { read: only(null), default: null, drop: true }, seed: { read: anything, default: undefined, drop: true } },
    outputShape: (_c, [x]) => x,
    reference: (_l, [x]) => x.data,
    tfjs: () => ([x]) => x,
    train: (l, ctx) => {
      if (l.config.rate !== 0) throw new TrainError(`${ctx.at}: Dropout with rate ${l.config.rate} is not trained yet (its random mask); set rate 0 or remove the layer`);
      return new ReshapeStep(l.name, ctx.shape);
    },
    trainReference: () => TRAINING_REFERENCES.Dropout!,
    signUse: () => 'through',
    levels: sameLevels,
    lower: (ctx, l, u) => ctx.produce(l, ctx.alias(u, l.outputShape)),
  }),
};
