// BinaryNet's approximate power of two, AP2(x) = sign(x) * 2^round(log2 |x|) (Courbariaux et al.
// 2016: shift-based BatchNorm and AdaMax turn multiplications by AP2'd factors into shifts).
// Exact, on the f32 bits: round(log2 |x|) for |x| = 2^e * 1.f is e, or e + 1 where 1.f exceeds
// sqrt(2) (mantissa bits above 0x3504f3, sqrt(2)'s truncated to 23 bits; never a tie). The GPU
// twin is shaders/lib/ap2.wgsl, bit for bit.

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** AP2 of a positive normal f32 (throws otherwise): the shift-based AdaMax's 1 / v. */
export function ap2(x: number): number {
  scratch[0] = x;
  const bits = scratchBits[0];
  if (bits >>> 31 || bits < 0x00800000 || bits >= 0x7f800000) throw new RangeError(`ap2: ${x} is not a positive normal f32`);
  return 2 ** ((bits >>> 23) - 127 + ((bits & 0x7fffff) > 0x3504f3 ? 1 : 0));
}

/**
 * AP2 of any f32 (x rounded to f32 first): the sign kept, +-0 for zeros and subnormals (GPUs may
 * flush them), infinities and NaN unchanged; a magnitude rounding up past the largest f32 gives
 * infinity. Shift-based BatchNorm's AP2(gamma), AP2(1 / sigma) and AP2(x - mean).
 */
export function ap2Signed(x: number): number {
  scratch[0] = x;
  const bits = scratchBits[0];
  const exponent = bits & 0x7f800000;
  if (exponent === 0x7f800000) return scratch[0];
  if (exponent === 0) return bits >>> 31 ? -0 : 0;
  scratchBits[0] = ((bits & 0xff800000) + ((bits & 0x7fffff) > 0x3504f3 ? 0x00800000 : 0)) >>> 0;
  return scratch[0];
}
