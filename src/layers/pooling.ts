// The pooling layer kinds: MaxPooling2D, AveragePooling2D (TensorFlow's 'same' rules: max ignores
// the border, average divides by the valid taps), GlobalMaxPooling2D and GlobalAveragePooling2D.
// Max pooling stays on bits (the max of +-1 values is the AND of their bits); the averages run on floats.
import { pair, padding, channelsLast, bool, type KeySpec, type Padding } from './config-readers.js';
import { defineKind, sameLevels, type ReferenceValue } from './kind.js';
import type { BaseConfig } from './base-config.js';
import { imageShape, padBefore, sameShape } from './shapes.js';
import { windowShape } from './linear.js';
import { PoolStep } from '../train/shape-steps.js';
import { TRAINING_REFERENCES, type TrainLayer } from '../model/training-references.js';

export interface Pooling2DConfig extends BaseConfig {
  pool_size: [number, number];
  /** Keras's default is pool_size; normalized to it. */
  strides: [number, number];
  padding: Padding;
}

export interface GlobalAveragePooling2DConfig extends BaseConfig {
  /** false (Keras's default): [H, W, C] -> [C]; true: -> [1, 1, C]. */
  keepdims: boolean;
}

export type GlobalMaxPooling2DConfig = GlobalAveragePooling2DConfig;

const POOL: Record<string, KeySpec> = {
  pool_size: { read: pair, default: [2, 2] },
  strides: { read: (v, at) => (v === null ? null : pair(v, at)), default: null },
  padding: { read: padding, default: 'valid' },
  data_format: { read: channelsLast, default: 'channels_last', drop: true },
};

/** Keras's strides default to the pool size. */
const finishPool = (c: Record<string, unknown>) => {
  c.strides ??= c.pool_size;
};

const poolShape = (c: Pooling2DConfig, [x]: number[][], at: string): number[] => [...windowShape(x, c.pool_size, c.strides, [1, 1], c.padding, at), x[2]];

/** Max ignores the padding; average divides by the window's valid elements (TensorFlow's 'same'). */
export function poolReference(x: ReferenceValue, size: [number, number], strides: [number, number], pad: Padding, max: boolean): Float32Array {
  const [N, H, W, C] = x.shape;
  const OH = pad === 'same' ? Math.ceil(H / strides[0]) : Math.floor((H - size[0]) / strides[0]) + 1;
  const OW = pad === 'same' ? Math.ceil(W / strides[1]) : Math.floor((W - size[1]) / strides[1]) + 1;
  const top = pad === 'same' ? padBefore(H, OH, size[0], strides[0]) : 0;
  const left = pad === 'same' ? padBefore(W, OW, size[1], strides[1]) : 0;
  const y = new Float32Array(N * OH * OW * C);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let c = 0; c < C; c++) {
          let acc = max ? -Infinity : 0;
          let count = 0;
          for (let ph = 0; ph < size[0]; ph++) {
            for (let pw = 0; pw < size[1]; pw++) {
              const ih = oh * strides[0] + ph - top;
              const iw = ow * strides[1] + pw - left;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const v = x.data[((n * H + ih) * W + iw) * C + c];
              acc = max ? Math.max(acc, v) : acc + v;
              count++;
            }
          }
          y[((n * OH + oh) * OW + ow) * C + c] = max ? acc : acc / count;
        }
      }
    }
  }
  return y;
}

/**
 * Global max pooling's training reference: the max over the H x W pixels per channel, its
 * gradient to the first maximum (TF's CPU rule, as the GPU's max-pool backward).
 */
const globalMaxTraining: TrainLayer = {
  forward(c, x) {
    const [H, W, C] = c.inShape;
    const N = x.length / (H * W * C);
    const y = new Float64Array(N * C).fill(-Infinity);
    const first = new Int32Array(N * C);
    for (let n = 0; n < N; n++) {
      for (let p = 0; p < H * W; p++) {
        for (let ch = 0; ch < C; ch++) {
          const v = x[(n * H * W + p) * C + ch];
          if (v > y[n * C + ch]) [y[n * C + ch], first[n * C + ch]] = [v, p];
        }
      }
    }
    return { y, saved: first };
  },
  backward(c, saved, dy) {
    const [H, W, C] = c.inShape;
    const first = saved as Int32Array;
    const dx = new Float64Array((dy.length / C) * H * W * C);
    dy.forEach((g, i) => (dx[(Math.floor(i / C) * H * W + first[i]) * C + (i % C)] = g));
    return { dx, grads: [] };
  },
};

/** What global pooling shares: Keras's keys, the shape ([C], or [1, 1, C] with keepdims), the whole image as the window. */
const GLOBAL = {
  keys: { data_format: { read: channelsLast, default: 'channels_last', drop: true }, keepdims: { read: bool, default: false } },
  outputShape: (c: GlobalAveragePooling2DConfig, [x]: number[][], at: string) => {
    const [, , ch] = imageShape(x, at);
    return c.keepdims ? [1, 1, ch] : [ch];
  },
} as const;
const wholeImage = (shape: readonly number[]) => ({ poolSize: [shape[0], shape[1]] as [number, number], strides: [shape[0], shape[1]] as [number, number], padding: 'valid' as const });

export const POOLING_KINDS = {
  MaxPooling2D: defineKind<'MaxPooling2D', Pooling2DConfig>({
    className: 'MaxPooling2D',
    aliases: ['MaxPool2D'],
    keys: POOL,
    finish: finishPool,
    outputShape: poolShape,
    reference: (l, [x]) => poolReference(x, l.config.pool_size, l.config.strides, l.config.padding, true),
    tfjs: (l, { tf }) => ([x]) => tf.maxPool(x, l.config.pool_size, l.config.strides, l.config.padding),
    train: (l) => new PoolStep(l.name, 'max', { poolSize: l.config.pool_size, strides: l.config.strides, padding: l.config.padding }),
    trainReference: () => TRAINING_REFERENCES.MaxPooling2D!,
    signUse: () => 'through',
    // A max is one of its taps (the 'same' border is never one): the output takes the input's values.
    levels: sameLevels,
    lower: (ctx, l, u) => {
      const y = ctx.newValue(l.outputShape, u.rep, [], { full: u.full }); // max of +-1 values is the AND of their bits
      ctx.emit({ op: 'maxPool', layers: [l.name], x: u.id, y: y.id, poolSize: l.config.pool_size, strides: l.config.strides, padding: l.config.padding });
      ctx.produce(l, y);
    },
  }),
  AveragePooling2D: defineKind<'AveragePooling2D', Pooling2DConfig>({
    className: 'AveragePooling2D',
    aliases: ['AvgPool2D'],
    keys: POOL,
    finish: finishPool,
    outputShape: poolShape,
    reference: (l, [x]) => poolReference(x, l.config.pool_size, l.config.strides, l.config.padding, false),
    tfjs: (l, { tf }) => ([x]) => tf.avgPool(x, l.config.pool_size, l.config.strides, l.config.padding),
    train: (l) => new PoolStep(l.name, 'avg', { poolSize: l.config.pool_size, strides: l.config.strides, padding: l.config.padding }),
    trainReference: () => TRAINING_REFERENCES.AveragePooling2D!,
    lower: (ctx, l, u) => {
      const x = ctx.asFloat(u, [l.name]);
      const y = ctx.newValue(l.outputShape, 'f32', []);
      ctx.emit({ op: 'avgPool', layers: [l.name], x: x.id, y: y.id, poolSize: l.config.pool_size, strides: l.config.strides, padding: l.config.padding });
      ctx.produce(l, y);
    },
  }),
  // The worked example of docs/architecture.md ("Adding a layer kind"): this record is the whole kind.
  GlobalMaxPooling2D: defineKind<'GlobalMaxPooling2D', GlobalMaxPooling2DConfig>({
    className: 'GlobalMaxPooling2D',
    aliases: ['GlobalMaxPool2D'],
    ...GLOBAL,
    reference: (_l, [x]) => poolReference(x, [x.shape[1], x.shape[2]], [x.shape[1], x.shape[2]], 'valid', true),
    tfjs: (l, { tf }) => ([x]) => tf.reshape(tf.maxPool(x, [x.shape[1], x.shape[2]], [x.shape[1], x.shape[2]], 'valid'), [x.shape[0], ...l.outputShape]),
    // The max of +-1 values is the AND of their bits: signs pass through, and bits stay bits.
    signUse: () => 'through',
    levels: sameLevels,
    train: (l, { shape }) => new PoolStep(l.name, 'max', wholeImage(shape), l.outputShape),
    trainReference: () => globalMaxTraining,
    // The max pool with the whole image as its window: [1, 1, C], seen as [C] unless keepdims.
    lower: (ctx, l, u) => {
      const y = ctx.newValue([1, 1, u.shape[2]], u.rep, [], { full: u.full });
      ctx.emit({ op: 'maxPool', layers: [l.name], x: u.id, y: y.id, ...wholeImage(u.shape) });
      ctx.produce(l, sameShape(y.shape, l.outputShape) ? y : ctx.alias(y, l.outputShape));
    },
  }),
  GlobalAveragePooling2D: defineKind<'GlobalAveragePooling2D', GlobalAveragePooling2DConfig>({
    className: 'GlobalAveragePooling2D',
    aliases: ['GlobalAvgPool2D'],
    ...GLOBAL,
    reference: (_l, [x]) => poolReference(x, [x.shape[1], x.shape[2]], [x.shape[1], x.shape[2]], 'valid', false),
    tfjs: (l, { tf }) => ([x]) => tf.mean(x, [1, 2], l.config.keepdims),
    train: (l, { shape }) => new PoolStep(l.name, 'avg', wholeImage(shape), l.outputShape),
    trainReference: () => TRAINING_REFERENCES.GlobalAveragePooling2D!,
    // The average pool with the whole image as its window: [1, 1, C], seen as [C] unless keepdims.
    lower: (ctx, l, u) => {
      const x = ctx.asFloat(u, [l.name]);
      const y = ctx.newValue([1, 1, x.shape[2]], 'f32', []);
      ctx.emit({ op: 'avgPool', layers: [l.name], x: x.id, y: y.id, ...wholeImage(x.shape) });
      ctx.produce(l, sameShape(y.shape, l.outputShape) ? y : ctx.alias(y, l.outputShape));
    },
  }),
};
