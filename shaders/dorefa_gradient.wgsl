// DoReFa-Net's k-bit gradients (launcher and CPU reference in src/ops/dorefa-gradient.ts; the
// quantizer DoReFaGradient in src/model/quantizers.ts): the gradient dy reaching a layer's output,
// per sample m = max |dy| (given, by a column reduction), becomes
//   2m (round(n clip(dy / 2m + 1/2 + noise, 0, 1)) / n - 1/2),  n = 2^k - 1,
// noise uniform in [-1/2, 1/2) / n from the counter-based hash (so the rounding is unbiased), or 0
// in the plain entry point; m = 0 gives 0. Each step is one rounded f32 operation, in this order,
// as the reference computes it. round() is round half to even, as tf.round.
// Work is indexed flat, wid.x + wid.y * num_workgroups.x, so grids past 65535 fold into 2D.

struct Params {
  count: u32, // elements of dy
  per_sample: u32, // elements of one sample: element i belongs to sample i / per_sample
  levels: f32, // n = 2^k - 1
  stream: u32, // which stream of random numbers (the layer)
}

override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> max_abs: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
// [seed, step], written by the host before each step.
@group(0) @binding(4) var<storage, read> noise: array<u32>;

//#include "lib/hash.wgsl"

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
}

fn quantized(i: u32, u: f32) -> f32 {
  let two_m = 2.0 * max_abs[i / params.per_sample];
  if (two_m == 0.0) {
    return 0.0;
  }
  let n = params.levels;
  let v = clamp(dy[i] / two_m + 0.5 + (u - 0.5) / n, 0.0, 1.0);
  return (round(v * n) / n - 0.5) * two_m;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dorefa_gradient(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < params.count) {
    dx[i] = quantized(i, 0.5);
  }
}

// u uniform in [0, 1) on a 2^-24 grid: the top 24 bits of hash(i ^ key(seed, step, stream)).
@compute @workgroup_size(WORKGROUP_SIZE)
fn dorefa_gradient_noisy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i < params.count) {
    let key = stream_key(noise[0], noise[1], params.stream);
    dx[i] = quantized(i, f32(hash_u32(i ^ key) >> 8u) * (1.0 / 16777216.0));
  }
}
