// The small binary MLP the tuning tests compile and train: two XNOR layers with a BatchNorm between
// (fused to thresholds), a 10-way softmax; 40 inputs, so its GEMMs are not multiples of 32.
import { layers, sequential } from '../../src/model/model.js';

export const tuningMlp = () =>
  sequential([
    layers.flatten({ inputShape: [40, 1] }),
    layers.quantDense({ units: 36, inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', useBias: false }),
    layers.batchNormalization({ momentum: 0.9 }),
    layers.quantDense({ units: 10, inputQuantizer: 'ste_sign', kernelQuantizer: 'ste_sign', useBias: false }),
    layers.activation({ activation: 'softmax' }),
  ]);
