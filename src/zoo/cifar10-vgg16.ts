// The seeds' binarized VGG16 for CIFAR-10 (the 13-conv VGG16 adapted to 32x32 images by Liu & Deng,
// 2015, binarized as in BinaryNet / Larq): five blocks of 3x3 'same' QuantConv2D (2x64, 2x128,
// 3x256, 3x512, 3x512), BatchNormalization after every conv and dense layer, 2x2 max-pooling
// after every block (32 -> 16 -> 8 -> 4 -> 2 -> 1), then QuantDense 512 -> 1024 -> 10 and softmax.
// Weights and activations are 1-bit (ste_sign input and kernel quantizers, weight_clip on the latent
// weights); the first layer sees the real-valued image (input_quantizer null).
//
// Pooling: Liu & Deng pool once at the end of each block; we pool after the block's last
// BatchNormalization (conv -> BN -> pool), so the next layer's ste_sign commutes with the max
// (sign is monotone: sign(max x) = max sign x) and the plan pools packed bits (an AND of words).
// BinaryNet's order (conv -> pool -> BN) differs from this only where a BN scale is negative.
import { layers, sequential, type LayerDef, type Model } from '../model/model.js';

export interface Vgg16Options {
  /** Filters per conv block; default [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]. */
  blocks?: number[][];
  /** Hidden dense units; default [1024]. */
  dense?: number[];
  classes?: number;
  inputShape?: [number, number, number];
  seed?: number;
  /** The float VGG16 it binarizes (no quantizers, ReLU after every layer but the last): the memory table's baseline. */
  float?: boolean;
}

export const VGG16_BLOCKS = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]];

export function cifar10Vgg16(options: Vgg16Options = {}): Model {
  const binary = options.float
    ? { inputQuantizer: null, kernelQuantizer: null, useBias: false, activation: 'relu' }
    : { inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', useBias: false };
  const bn = () => layers.batchNormalization({ momentum: 0.9 });
  const defs: LayerDef[] = [];
  (options.blocks ?? VGG16_BLOCKS).forEach((filters, b) => {
    filters.forEach((f, i) => {
      const first = b === 0 && i === 0;
      defs.push(
        first
          ? layers.quantConv2d({ filters: f, kernelSize: 3, padding: 'same', ...binary, inputQuantizer: null, inputShape: options.inputShape ?? [32, 32, 3] })
          : layers.quantConv2d({ filters: f, kernelSize: 3, padding: 'same', ...binary }),
        bn(),
      );
    });
    defs.push(layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  });
  defs.push(layers.flatten());
  const units = [...(options.dense ?? [1024]), options.classes ?? 10];
  units.forEach((u, i) => defs.push(layers.quantDense({ units: u, ...binary, ...(i === units.length - 1 && { activation: 'linear' }) }), bn()));
  defs.push(layers.activation({ activation: 'softmax' }));
  return sequential(defs, { name: options.float ? 'cifar10_vgg16_float' : 'cifar10_vgg16_bnn', seed: options.seed ?? 0 });
}
