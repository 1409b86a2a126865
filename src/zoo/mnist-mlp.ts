// The seed model: Larq's BinaryNet MLP for MNIST (Courbariaux et al. 2016; Larq's example) --
// 784-512-512-512-10, inputs and weights binarized by ste_sign, weight_clip on the latent weights,
// BatchNormalization (momentum 0.99, scale=False) after each hidden QuantDense, softmax out. As
// written it has no normalization before the softmax (its logits are integers up to +-512);
// `outputBatchNorm` adds one there, as BinaryNet and FINN's LFC do (`mnist-mlp-bn`).
import { input, layers, model, sequential, type Model } from '../model/model.js';

export interface MnistMlpOptions {
  hidden?: number[];
  /** BatchNormalization (scale=False) on the output layer before the softmax. Default false (the seed as written). */
  outputBatchNorm?: boolean;
  /** Biases on the QuantDense layers, Keras's default use_bias=True as the seed writes them. Default false. */
  useBias?: boolean;
  seed?: number;
}

export function mnistMlp(options: MnistMlpOptions = {}): Model {
  const quant = { inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip', useBias: options.useBias ?? false };
  return sequential(
    [
      layers.flatten({ inputShape: [28, 28, 1] }),
      ...(options.hidden ?? [512, 512, 512]).flatMap((units) => [layers.quantDense({ units, ...quant }), layers.batchNormalization({ momentum: 0.99, scale: false })]),
      layers.quantDense({ units: 10, ...quant }),
      ...(options.outputBatchNorm ? [layers.batchNormalization({ momentum: 0.99, scale: false })] : []),
      layers.activation({ activation: 'softmax' }),
    ],
    { name: options.outputBatchNorm ? 'mnist_mlp_bn' : 'mnist_mlp', seed: options.seed ?? 0 },
  );
}

/**
 * The same network as Larq's MNIST example writes it (functional API): no input quantizers, a
 * standalone SteSign layer after each BatchNormalization (so each layer's binarized activations
 * can be read by name), QuantDense with Keras's default use_bias=True, the layers named
 * first_hidden_layer ... output_layer. Its pixels are binarized before the model (x / 127.5 - 1 >
 * 0 ? 1 : -1); given +-1 inputs a plan runs it on the same kernels as mnistMlp().
 */
export function mnistMlpFunctional(options: Pick<MnistMlpOptions, 'hidden' | 'seed'> = {}): Model {
  const kernel = { kernelQuantizer: 'ste_sign', kernelConstraint: 'weight_clip' };
  const pixels = input({ shape: [28, 28, 1] });
  let h = layers.flatten().apply(pixels);
  const names = ['first_hidden_layer', 'second_hidden_layer', 'third_hidden_layer'];
  (options.hidden ?? [512, 512, 512]).forEach((units, i) => {
    h = layers.quantDense({ units, ...kernel, name: names[i] ?? `hidden_layer_${i + 1}` }).apply(h);
    h = layers.batchNormalization({ momentum: 0.99, scale: false }).apply(h);
    h = layers.steSign().apply(h);
  });
  const out = layers.quantDense({ units: 10, activation: 'softmax', ...kernel, name: 'output_layer' }).apply(h);
  return model({ inputs: pixels, outputs: out, name: 'mnist_mlp_functional', seed: options.seed ?? 0 });
}
