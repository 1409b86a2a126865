// A binary ResNet in the style of Bi-Real Net (Liu et al. 2018; Larq zoo's BiRealNet) for CIFAR-10:
// a real-valued stem (3x3 Conv2D + BatchNormalization, no pooling at 32x32), then stages of blocks,
// each  sign -> 3x3 binary QuantConv2D -> BatchNormalization -> Add with the block's real-valued
// input, so every binary convolution's output is carried forward in full by its shortcut. The first
// block of a wider stage downsamples: its convolution has stride 2 and its shortcut is a 2x2
// AveragePooling2D then a real 1x1 Conv2D + BatchNormalization (Larq zoo's), or, parameter-free,
// the pooled shortcut concatenated with itself (stages must then double). Global average pooling,
// Dense(classes), softmax. Larq zoo's choices kept: no biases, momentum 0.8, pad_values 0, weight_clip.
import { input, layers, model, type Model, type SymbolicTensor } from '../model/model.js';

export interface BiRealNetOptions {
  /** Filters per stage; default [64, 128, 256, 512] (Bi-Real Net 18). */
  filters?: number[];
  /** Blocks per stage; default 4 each (Bi-Real Net 18: 16 binary convolutions). */
  blocks?: number[];
  /** How a downsampling block's shortcut gets its channels: 'conv' (1x1 Conv2D + BN, default) or 'concat' (pooled shortcut twice). */
  shortcut?: 'conv' | 'concat';
  /**
   * The sign before each binary convolution: 'layer' (a standalone SteSign layer, as Bi-Real Net
   * draws it; default) or 'input_quantizer' (the QuantConv2D's ste_sign input quantizer).
   */
  sign?: 'layer' | 'input_quantizer';
  classes?: number;
  inputShape?: [number, number, number];
  seed?: number;
}

export function biRealNet(options: BiRealNetOptions = {}): Model {
  const filters = options.filters ?? [64, 128, 256, 512];
  const blocks = options.blocks ?? filters.map(() => 4);
  const bn = () => layers.batchNormalization({ momentum: 0.8 });
  const x0 = input({ shape: options.inputShape ?? [32, 32, 3] });
  let x: SymbolicTensor = bn().apply(layers.conv2d({ filters: filters[0], kernelSize: 3, padding: 'same', useBias: false }).apply(x0));
  let channels = filters[0];
  filters.forEach((f, stage) => {
    for (let b = 0; b < blocks[stage]; b++) {
      const down = f !== channels;
      let shortcut = x;
      if (down) {
        shortcut = layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'same' }).apply(shortcut);
        if (options.shortcut === 'concat') {
          if (f !== 2 * channels) throw new RangeError(`biRealNet: a concatenated shortcut doubles the channels, but stage ${stage} goes from ${channels} to ${f} filters`);
          shortcut = layers.concatenate().apply([shortcut, shortcut]);
        } else shortcut = bn().apply(layers.conv2d({ filters: f, kernelSize: 1, useBias: false }).apply(shortcut));
      }
      const signed = options.sign === 'input_quantizer' ? x : layers.steSign().apply(x);
      const conv = layers.quantConv2d({
        filters: f,
        kernelSize: 3,
        strides: down ? 2 : 1,
        padding: 'same',
        ...(options.sign === 'input_quantizer' && { inputQuantizer: 'ste_sign' }),
        kernelQuantizer: 'ste_sign',
        kernelConstraint: 'weight_clip',
        useBias: false,
      });
      x = layers.add().apply([bn().apply(conv.apply(signed)), shortcut]);
      channels = f;
    }
  });
  const logits = layers.dense({ units: options.classes ?? 10 }).apply(layers.globalAveragePooling2d().apply(x));
  return model({ inputs: x0, outputs: layers.activation({ activation: 'softmax' }).apply(logits), name: 'bireal_net', seed: options.seed ?? 0 });
}
