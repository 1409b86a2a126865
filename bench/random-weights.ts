// Random weights and inputs no rounding can flip a sign of, for tests and benchmarks that compare a
// plan with the CPU reference exactly: inputs and float kernels are small integers, biases
// half-integers, and each BatchNormalization crosses zero halfway between two integer dot products
// (so every sign is decided with a margin of at least 0.5 in the dot). BN scales include negative,
// zero and tiny (1e-7) ones, unless `floatSafe`: a float evaluation of BatchNorm in another order
// (TF.js: (y - mean) * rsqrt(var) * gamma + beta in f32) cancels catastrophically at tiny scales,
// so weights for comparing with such an evaluation keep |gamma| >= 0.05.
import type { Model } from '../src/model/model.js';
import type { Random } from '../src/random.js';

export function randomizeWeights(m: Model, rng: Random, options: { floatSafe?: boolean } = {}): void {
  const halfInt = () => rng.int(8) - 4 + 0.5;
  for (const l of m.layers) {
    const w = (p: string) => m.spec.weights.get(`${l.name}/${p}`);
    if (l.class === 'Dense' || l.class === 'Conv2D' || l.class === 'QuantDense' || l.class === 'QuantConv2D') {
      const k = w('kernel')!;
      const binary = 'kernel_quantizer' in l.config && l.config.kernel_quantizer !== null;
      m.setWeight(`${l.name}/kernel`, binary ? rng.floats(k.data.length) : Float32Array.from(k.data, () => rng.int(5) - 2));
      if (w('bias')) m.setWeight(`${l.name}/bias`, Float32Array.from(w('bias')!.data, halfInt));
    }
    if (l.class === 'BatchNormalization') {
      const C = w('moving_mean')!.data.length;
      const prevBias = m.spec.weights.get(`${l.inbound[0]}/bias`)?.data;
      const scale = () => (options.floatSafe ? (rng.int(2) ? 1 : -1) * rng.uniform(0.05, 2) : rng.uniform(-2, 2));
      const gamma = Float32Array.from({ length: C }, (_, c) => (c % 7 === 3 ? 0 : c % 5 === 4 && !options.floatSafe ? 1e-7 * (c % 2 ? -1 : 1) : scale()));
      const beta = l.config.center ? rng.floats(C) : new Float32Array(C);
      const variance = rng.floats(C, 0.5, 8);
      // BN(y) = 0 at y = mean - beta * sigma / gamma: put that halfway between two integer dots.
      const mean = Float32Array.from({ length: C }, (_, c) => {
        const g = l.config.scale ? gamma[c] : 1;
        const shift = g === 0 ? 0 : (beta[c] * Math.sqrt(variance[c] + l.config.epsilon)) / g;
        return Math.fround(halfInt() + (prevBias?.[c] ?? 0) + shift);
      });
      if (l.config.scale) m.setWeight(`${l.name}/gamma`, gamma);
      if (l.config.center) m.setWeight(`${l.name}/beta`, beta);
      m.setWeight(`${l.name}/moving_mean`, mean);
      m.setWeight(`${l.name}/moving_variance`, variance);
    }
  }
}

/** Small-integer inputs (-3..3) for each model input, `batch` samples. */
export function randomInputs(m: Model, rng: Random, batch: number): Float32Array[] {
  return m.inputs.map((inp) => Float32Array.from({ length: batch * inp.shape.reduce((a, b) => a * b, 1) }, () => rng.int(7) - 3));
}
