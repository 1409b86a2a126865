// BinaryNet's approximate power of two on the GPU (src/ap2.ts is the CPU twin, bit for bit):
// round(log2 |x|) for |x| = 2^e * 1.f is e, or e + 1 where 1.f exceeds sqrt(2) (mantissa bits above
// 0x3504f3, sqrt(2)'s truncated to 23 bits; never a tie). Exact, on the bits.

// The exponent k of AP2(1 / x) = 2^k = 2^-round(log2 x), for a positive normal x.
fn ap2_inverse_exponent(x: f32) -> i32 {
  let bits = bitcast<u32>(x);
  let e = i32(bits >> 23u) - 127;
  return -(e + select(0, 1, (bits & 0x7fffffu) > 0x3504f3u));
}

// AP2(x) = sign(x) 2^round(log2 |x|) for any f32: +-0 for zeros and subnormals, infinities and
// NaN unchanged; rounding up past the largest f32 gives infinity.
fn ap2_signed(x: f32) -> f32 {
  let bits = bitcast<u32>(x);
  let exponent = bits & 0x7f800000u;
  if (exponent == 0x7f800000u) {
    return x;
  }
  if (exponent == 0u) {
    return bitcast<f32>(bits & 0x80000000u);
  }
  return bitcast<f32>((bits & 0xff800000u) + select(0u, 0x00800000u, (bits & 0x7fffffu) > 0x3504f3u));
}
