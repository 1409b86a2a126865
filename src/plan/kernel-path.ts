// The one decision of which kernels run a linear layer (Dense, QuantDense, Conv2D, QuantConv2D), from
// its quantizers' traits and its input's value facts: taken per node by the kernel-paths pass (which
// lowering follows) and mapped by the trainer (linear-step.ts).
import { quantizersOf } from '../layers/traits.js';
import type { Quantizer } from '../model/quantizers.js';
import { MAX_BIT_SERIAL_BITS } from '../ops/gemm-bit-serial.js';

/**
 * How a linear layer's product runs:
 * - 'xnor': b1 input . b1 kernel by XNOR-popcount (`weights` 'sign': sign(W); 'scaledSign':
 *   magnitude_aware_sign's alpha_c sign(W), alpha in the epilogue), fused epilogues;
 * - 'ternary': b1 input . ternary kernel ({-1, 0, +1} as mask and sign planes);
 * - 'signSelect': a real-valued input . a +-1 kernel by sign-select, no multiplies (`weights`
 *   also 'ternary': two sign-select halves; 'pm1Values': the quantized values are +-1, 1-bit DoReFa);
 * - 'dorefaPlanes': DoReFa k-bit activations . k-bit weights, bit-serial popcount over bit planes;
 * - 'float': the fp32 kernels on q(x) and q(W).
 * `reason` says why, for `bnn summary MODEL --plan`.
 */
export type KernelPath =
  | { kind: 'xnor'; weights: 'sign' | 'scaledSign'; reason: string }
  | { kind: 'ternary'; reason: string }
  | { kind: 'signSelect'; weights: 'sign' | 'scaledSign' | 'ternary' | 'pm1Values'; reason: string }
  | { kind: 'dorefaPlanes'; bits: [number, number]; reason: string }
  | { kind: 'float'; reason: string };

/** What is known of the layer's input value (the value-facts pass). */
export interface InputFacts {
  /** It holds exactly +-1 (levels 'pm1': a sign quantizer's output, or a model input checked to hold only +-1). */
  signs: boolean;
}

type Linear = { class: string; config: object };

const name = (q: Quantizer | null) => q?.className ?? 'none';

/**
 * The kernel path of linear layer `l` whose input is as `input` says. `float`: the fp32 baseline
 * (kernels 'float'), every layer on the fp32 kernels.
 */
export function kernelPathOf(l: Linear, input: InputFacts, options: { float?: boolean } = {}): KernelPath {
  const { input: iq, kernel: kq } = quantizersOf(l);
  if (options.float) return { kind: 'float', reason: "kernels 'float': every layer on the fp32 kernels (the comparison model)" };
  const kl = kq?.levels;
  const kernelSigns = kl === 'pm1' || kl === 'scaledPm1';
  // The input arrives as +-1: its quantizer is a sign, or it has none (or the identity) and the value is +-1 already.
  const inputSigns = iq?.levels === 'pm1' || ((!iq || iq.identityAtInference) && input.signs);
  const how = iq?.levels === 'pm1' ? `input quantizer ${iq.className} gives +-1` : 'the input holds +-1 already';
  if (inputSigns && kernelSigns) {
    const weights = kl === 'pm1' ? 'sign' : 'scaledSign';
    return { kind: 'xnor', weights, reason: `${how}, kernel quantizer ${kq!.className} gives ${weights === 'sign' ? '+-1' : 'alpha_c * +-1 (alpha in the epilogue)'}: XNOR-popcount` };
  }
  if (inputSigns && kl === 'ternary') return { kind: 'ternary', reason: `${how}, kernel quantizer ${kq!.className} gives {-1, 0, +1}: the ternary kernels (zero weights skipped)` };
  if (!iq && kq && (kernelSigns || kl === 'ternary' || (kl === 'signedKbit' && kq.precision === 1))) {
    const weights = kl === 'pm1' ? 'sign' : kl === 'scaledPm1' ? 'scaledSign' : kl === 'ternary' ? 'ternary' : 'pm1Values';
    const what = { sign: '+-1', scaledSign: 'alpha_c * +-1', ternary: '{-1, 0, +1} (two sign-select halves)', pm1Values: '1-bit levels +-1' }[weights];
    return { kind: 'signSelect', weights, reason: `real-valued input (no input quantizer), kernel quantizer ${kq.className} gives ${what}: sign-select` };
  }
  const bits = dorefaBits(iq, kq);
  if (bits) {
    const c = l.config as { padding?: string; pad_values?: number };
    if (!(c.pad_values && c.padding === 'same')) return { kind: 'dorefaPlanes', bits, reason: `input quantizer ${iq!.className} gives ${bits[0]}-bit levels, kernel quantizer ${kq!.className} ${bits[1]}-bit levels: bit-serial popcount` };
    return { kind: 'float', reason: `pad_values ${c.pad_values} with padding 'same': the bit-serial kernels pad with 0 only` };
  }
  return { kind: 'float', reason: floatReason(iq, kq) };
}

/** [ka, kw]: DoReFa's k-bit activation levels into its signed k-bit weight levels, both within the bit-serial kernels' bits; else null. */
function dorefaBits(iq: Quantizer | null, kq: Quantizer | null): [number, number] | null {
  // The planes are cut from x by the activation levels' own kernel form (dorefaPlanes rounds as it does).
  if (iq?.inference.kind !== 'dorefa' || kq?.levels !== 'signedKbit') return null;
  const [ka, kw] = [iq.precision!, kq.precision!];
  return ka <= MAX_BIT_SERIAL_BITS && kw <= MAX_BIT_SERIAL_BITS ? [ka, kw] : null;
}

function floatReason(iq: Quantizer | null, kq: Quantizer | null): string {
  if (!kq) return 'no kernel quantizer: real-valued weights';
  if (kq.levels === 'signedKbit' && iq?.inference.kind === 'dorefa') return `DoReFa over ${MAX_BIT_SERIAL_BITS} bits (input ${iq.precision}, kernel ${kq.precision}): beyond the bit-serial kernels`;
  if (kq.levels === 'signedKbit') return `kernel quantizer ${kq.className} gives ${kq.precision}-bit levels, input quantizer ${name(iq)} no DoReFa activation levels: no bit-serial product`;
  if (kq.levels !== 'pm1' && kq.levels !== 'scaledPm1' && kq.levels !== 'ternary') return `kernel quantizer ${kq.className} has no bit form (levels '${kq.levels}')`;
  // A +-1 or ternary kernel whose input is neither +-1 nor left real-valued.
  return `input quantizer ${name(iq)} gives levels '${iq?.levels}', not known to be +-1: the binary kernels need +-1 inputs, sign-select a layer without an input quantizer`;
}

/**
 * The trainer's kernels for a path (linear-step.ts). Training keeps latent f32 weights and every
 * value between steps in f32, so it maps the shared decision rather than taking its own:
 * - 'xnor' with sign weights -> 'bits' where both quantizers train by signWithMask (Larq's clip STE
 *   as a bit mask, stochastic draws too); approx_sign's or swish_sign's surrogate gradients need
 *   the real value, so those train in f32;
 * - 'signSelect' with sign weights -> 'signSelect' where the kernel quantizer trains by signWithMask;
 * - everything else (alpha-scaled signs, ternary, DoReFa planes: no training kernels of their own)
 *   -> 'float', q(x) and q(W) as f32 with the quantizers' element-wise forms.
 * The trainer asks with no input facts: it does not know a value to be +-1 unless a quantizer says so.
 */
export function trainingPathOf(l: Linear, kernels: 'binary' | 'float'): { path: 'bits' | 'signSelect' | 'float'; shared: KernelPath } {
  const shared = kernelPathOf(l, { signs: false }, { float: kernels === 'float' });
  const { input: iq, kernel: kq } = quantizersOf(l);
  const signMask = (q: Quantizer | null) => q?.training.signMask !== undefined;
  if (shared.kind === 'xnor' && shared.weights === 'sign' && signMask(iq) && signMask(kq)) return { path: 'bits', shared };
  if (shared.kind === 'signSelect' && shared.weights === 'sign' && signMask(kq)) return { path: 'signSelect', shared };
  return { path: 'float', shared };
}
