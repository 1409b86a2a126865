// FINN's CNV (Umuroglu et al. 2017, the BinaryNet-derived CIFAR-10 network of FINN and Brevitas's
// CNV-W1A1): 3x3 'valid' convolutions 64-64, 2x2 max-pool, 128-128, max-pool, 256-256
// (32 -> 30 -> 28 -> 14 -> 12 -> 10 -> 5 -> 3 -> 1), then dense 512-512-10; BatchNormalization
// after every conv and dense layer, 1-bit weights and activations (ste_sign), no biases. The first
// layer takes the 8-bit image as real values (input_quantizer null), as FINN feeds its pixels.
// Pooling follows the BatchNormalization, so the plan pools packed bits (see cifar10-vgg16.ts).
import { layers, sequential, type LayerDef, type Model } from '../model/model.js';

export interface FinnCnvOptions {
  /** Conv filters, a 2x2 max-pool after the 2nd and the 4th; default [64, 64, 128, 128, 256, 256]. */
  convs?: number[];
  dense?: number[];
  classes?: number;
  inputShape?: [number, number, number];
  seed?: number;
}

export function finnCnv(options: FinnCnvOptions = {}): Model {
  const binary = { inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', useBias: false };
  const bn = () => layers.batchNormalization({ momentum: 0.9 });
  const defs: LayerDef[] = [];
  (options.convs ?? [64, 64, 128, 128, 256, 256]).forEach((f, i) => {
    defs.push(
      i === 0
        ? layers.quantConv2d({ filters: f, kernelSize: 3, padding: 'valid', ...binary, inputQuantizer: null, inputShape: options.inputShape ?? [32, 32, 3] })
        : layers.quantConv2d({ filters: f, kernelSize: 3, padding: 'valid', ...binary }),
      bn(),
    );
    if (i === 1 || i === 3) defs.push(layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  });
  defs.push(layers.flatten());
  for (const units of [...(options.dense ?? [512, 512]), options.classes ?? 10]) defs.push(layers.quantDense({ units, ...binary }), bn());
  defs.push(layers.activation({ activation: 'softmax' }));
  return sequential(defs, { name: 'finn_cnv', seed: options.seed ?? 0 });
}
