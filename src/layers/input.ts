// The InputLayer kind: a model input, with its batch_input_shape. It computes nothing; lowering
// names the model input's value after it.
import { batchInputShape } from './config-readers.js';
import { defineKind, sameLevels } from './kind.js';
import type { BaseConfig } from './base-config.js';
import { TRAINING_REFERENCES } from '../model/training-references.js';

export interface InputLayerConfig extends BaseConfig {
  batch_input_shape: (number | null)[];
}

export const INPUT_KINDS = {
  InputLayer: defineKind<'InputLayer', InputLayerConfig>({
    className: 'InputLayer',
    keys: { batch_input_shape: { read: batchInputShape } },
    outputShape: (_c, [x]) => x,
    reference: (_l, [x]) => x.data,
    tfjs: () => ([x]) => x,
    trainReference: () => TRAINING_REFERENCES.InputLayer!,
    levels: sameLevels,
    lower: (ctx, l, u) => {
      u.names.push(l.name);
      ctx.define(l.name, u);
    },
  }),
};
