// Larq's ste_sign for training (launchers and CPU references in src/ops/sign-ste.ts). The forward
// keeps, per activation, only what the backward needs: the sign bit (the bit convention of
// src/bitpack.ts) and the STE mask bit (|x| <= clip_value), both packed 32 per word, pad bits 0.
// The backward passes dy where the mask bit is set, else 0.
// sign_with_mask_stochastic is BinaryNet's stochastic binarization (training only): +1 with
// probability hard_sigmoid(x) = clip((x + 1) / 2, 0, 1), else -1, from a counter-based hash of
// (seed, step, stream, element index); the STE mask is the deterministic one's.
// Work is indexed flat, wid.x + wid.y * num_workgroups.x, so grids past 65535 fold into 2D.

struct Params {
  rows: u32,
  cols: u32,
  words_per_row: u32,
  // The mask bit is |x|'s bit pattern < mask_below: bits(f32(clip_value)) + 1 (which leaves out
  // NaNs, above +inf), 0x80000000 for clip_value null (every value, NaN too), 0 for none.
  mask_below: u32,
  // Stochastic binarization: which stream of random numbers (one per layer and operand).
  stream: u32,
}

override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> bits: array<u32>;
@group(0) @binding(3) var<storage, read_write> mask: array<u32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> grad_mask: array<u32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
// Stochastic binarization: [seed, step], written by the host before each step.
@group(0) @binding(7) var<storage, read> noise: array<u32>;

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
}

//#include "lib/sign.wgsl"

//#include "lib/hash.wgsl"

// One invocation per output word (of both bits and mask). |x| <= clip is decided on the bit
// pattern: non-negative floats order as their bits, and a float compare may flush subnormals.
// With `key` (stochastic), an element is -1 where x <= t, t = 2u - 1 for u uniform in [0, 1) on a
// 2^-24 grid (exact in f32): P(+1) = P(t < x) = clip((x + 1) / 2, 0, 1). The compare is on ordered
// bit patterns (no subnormal flush); NaN gives +1.
fn sign_word(i: u32, stochastic: bool, key: u32) {
  let row = i / params.words_per_row;
  let first = (i % params.words_per_row) * 32u;
  let count = min(32u, params.cols - first);
  let base = row * params.cols + first;
  var s = 0u;
  var m = 0u;
  for (var j = 0u; j < count; j++) {
    let v = x[base + j];
    var negative = is_negative(v);
    if (stochastic) {
      let t = f32(i32(hash_u32((base + j) ^ key) >> 8u) - 8388608) * (1.0 / 8388608.0);
      negative = ordered_f32(v) <= ordered_f32(t) && !is_nan(v);
    }
    s |= select(0u, 1u << j, negative);
    m |= select(0u, 1u << j, (bitcast<u32>(v) & 0x7fffffffu) < params.mask_below);
  }
  bits[i] = s;
  mask[i] = m;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn sign_with_mask(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < params.rows * params.words_per_row) {
    sign_word(i, false, 0u);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn sign_with_mask_stochastic(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                             @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < params.rows * params.words_per_row) {
    sign_word(i, true, stream_key(noise[0], noise[1], params.stream));
  }
}

// One invocation per value: dx = dy where the mask bit is set, else +0.
@compute @workgroup_size(WORKGROUP_SIZE)
fn ste_sign_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.rows * params.cols) {
    return;
  }
  let row = i / params.cols;
  let col = i % params.cols;
  let word = grad_mask[row * params.words_per_row + col / 32u];
  dx[i] = select(0.0, dy[i], ((word >> (col % 32u)) & 1u) == 1u);
}
