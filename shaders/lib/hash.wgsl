// Counter-based random numbers (hashU32 / streamKey in src/random.ts are the CPU twins, bit for bit): no state,
// any element's number computed from (seed, step, stream, index) alone, so a recorded step
// replayed with a new step number draws fresh numbers. lowbias32 is Chris Wellons' 32-bit
// integer hash (bias 0.17); one round per element, three for the key.

fn hash_u32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

// The per-(seed, step, stream) key an element's index is mixed with: hash_u32(index ^ key).
fn stream_key(seed: u32, step: u32, stream: u32) -> u32 {
  return hash_u32(hash_u32(hash_u32(seed) ^ (stream * 0x9e3779b9u)) + step);
}

// f32 bit patterns mapped to u32s that order as the floats do (-0 just below +0).
fn ordered_f32(v: f32) -> u32 {
  let u = bitcast<u32>(v);
  return select(u | 0x80000000u, ~u, (u & 0x80000000u) != 0u);
}

fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}
