// The seeds' MNIST CNN (TensorLayer's binarized-network examples): conv 32 5x5 'same' -> max-pool
// 2 -> BatchNorm -> sign -> conv 64 5x5 'same' -> max-pool 2 -> BatchNorm -> sign -> dense 256 ->
// BatchNorm -> sign -> dense 10 -> BatchNorm -> softmax, in Larq's terms: each "sign" is the next
// layer's input quantizer, the first convolution reads the real-valued image (no input quantizer),
// no biases (the BatchNorm after each layer has its own). `quant` picks the scheme of issue 8:
//   binary   weights and activations +-1 (ste_sign), BinaryNet
//   xnor     XNOR-Net: weights sign(W) * mean|W| per output channel (magnitude_aware_sign), +-1
//            activations scaled by the paper's K (mean |x| over channels and window: xnor_input_scale)
//   ternary  TWN: weights in {-a, 0, +a} (ste_tern, threshold 0.7 mean|W|), +-1 activations
//   dorefa   DoReFa-Net: 1-bit weights (DoReFa weights mode), 3-bit activations (DoReFa activations)
// The BatchNorm's hard-tanh of the TensorLayer example is folded into the STE: ste_sign's gradient
// is already cut at |x| > 1.
import { layers, sequential, type Model } from '../model/model.js';
import type { SerializedQuantizer } from '../model/quantizers.js';

export const MNIST_CNN_SCHEMES = ['binary', 'xnor', 'ternary', 'dorefa'] as const;
export type MnistCnnScheme = (typeof MNIST_CNN_SCHEMES)[number];

export interface MnistCnnOptions {
  quant?: MnistCnnScheme;
  seed?: number;
  /**
   * DoReFa-Net's k-bit gradients: a DoReFaGradient layer after each convolution and dense layer,
   * so the gradient reaching their outputs is quantized to k bits with noise (the paper's `fg`;
   * the identity at inference). Any scheme; DoReFa-Net's own.
   */
  gradientBits?: number;
}

type QuantizerArg = string | SerializedQuantizer;

const SCHEMES: Record<MnistCnnScheme, { input: QuantizerArg; kernel: QuantizerArg; clip: boolean; inputScale?: boolean }> = {
  binary: { input: 'ste_sign', kernel: 'ste_sign', clip: true },
  xnor: { input: 'ste_sign', kernel: 'magnitude_aware_sign', clip: true, inputScale: true },
  ternary: { input: 'ste_sign', kernel: { class_name: 'SteTern', config: { ternary_weight_networks: true } }, clip: true },
  dorefa: { input: { class_name: 'DoReFa', config: { k_bit: 3, mode: 'activations' } }, kernel: { class_name: 'DoReFa', config: { k_bit: 1, mode: 'weights' } }, clip: false },
};

export function mnistCnn(options: MnistCnnOptions = {}): Model {
  const scheme = options.quant ?? 'binary';
  const s = SCHEMES[scheme];
  if (!s) throw new Error(`mnistCnn: quant must be one of ${MNIST_CNN_SCHEMES.join(', ')}, got ${JSON.stringify(scheme)}`);
  const common = { kernelQuantizer: s.kernel, useBias: false, ...(s.clip && { kernelConstraint: 'weight_clip' }) };
  const quant = { inputQuantizer: s.input, ...common, ...(s.inputScale && { xnorInputScale: true }) };
  const bn = () => layers.batchNormalization({ momentum: 0.99, scale: false });
  const k = options.gradientBits;
  if (k !== undefined && !(Number.isInteger(k) && k >= 1 && k <= 16)) throw new Error(`mnistCnn: gradientBits must be an integer in 1..16, got ${JSON.stringify(k)}`);
  const fg = () => (k === undefined ? [] : [layers.quantizer({ class_name: 'DoReFaGradient', config: { k_bit: k } })]);
  return sequential(
    [
      layers.quantConv2d({ filters: 32, kernelSize: 5, padding: 'same', inputQuantizer: null, ...common, inputShape: [28, 28, 1] }),
      ...fg(),
      layers.maxPooling2d({ poolSize: 2 }),
      bn(),
      layers.quantConv2d({ filters: 64, kernelSize: 5, padding: 'same', ...quant }),
      ...fg(),
      layers.maxPooling2d({ poolSize: 2 }),
      bn(),
      layers.flatten(),
      layers.quantDense({ units: 256, ...quant }),
      ...fg(),
      bn(),
      layers.quantDense({ units: 10, ...quant }),
      ...fg(),
      bn(),
      layers.activation({ activation: 'softmax' }),
    ],
    { name: `mnist_cnn_${scheme}`, seed: options.seed ?? 0 },
  );
}
