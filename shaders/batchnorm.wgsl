// BatchNormalization for training (launchers and f64 CPU references in src/ops/batchnorm.ts):
// statistics of the batch over all axes but the last (x viewed as [rows, channels]), the moving
// averages updated as Keras does, the normalization, and the backward (dx, dgamma, dbeta).
// Column reductions run one workgroup per channel, a tree in workgroup memory; element-wise work
// is indexed flat, wid.x + wid.y * num_workgroups.x (grids past 65535 fold into 2D), and so is the
// channel of a reduction.
//
// Two variants from this one file (scripts/embed-shaders.mjs' `//#variants`): `batchnorm`, and
// `batchnorm_subgroups`, whose workgroup sums add within each subgroup first (subgroupAdd), for
// adapters with the `subgroups` feature; the autotuner picks between them (src/tune/).
//#variants subgroups
//#if subgroups
enable subgroups;
//#endif

struct Params {
  rows: u32, // M: every axis but the last
  channels: u32, // C
  epsilon: f32,
  decay: f32, // f32(1 - momentum), as Keras' _assign_moving_average
  variance_factor: f32, // 1 (biased, tf.keras) or M / (M - 1) (unbiased) for moving_variance
}

override WORKGROUP_SIZE: u32 = 64;
// BinaryNet's shift-based BatchNorm (Courbariaux et al. 2016, Algorithm 3): variance = mean of
// (x - mean) * AP2(x - mean), inv_std = AP2(1 / sqrt(variance + epsilon)), gamma read as AP2(gamma),
// so each multiplication is by a power of two (a shift). The backward is BatchNorm's with those
// factors (straight through AP2).
override SHIFT: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
// saved[c] = mean, saved[C + c] = 1 / sqrt(var + epsilon): what the backward needs besides x.
@group(0) @binding(3) var<storage, read_write> saved: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>; // `saved`, bound read-only
@group(0) @binding(5) var<storage, read_write> moving_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> moving_variance: array<f32>;
@group(0) @binding(7) var<storage, read> gamma: array<f32>;
@group(0) @binding(8) var<storage, read> beta: array<f32>;
@group(0) @binding(9) var<storage, read> dy: array<f32>;
@group(0) @binding(10) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(11) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(12) var<storage, read> dgamma_in: array<f32>; // dgamma, bound read-only
@group(0) @binding(13) var<storage, read> dbeta_in: array<f32>; // dbeta, bound read-only
@group(0) @binding(14) var<storage, read_write> dx: array<f32>;

var<workgroup> partial: array<vec2f, WORKGROUP_SIZE>;

// The invocation's place in its workgroup (and, in the subgroup variant, in its subgroup), taken
// by the reducing entry points as one parameter so that both variants share their signatures.
//#if subgroups
struct Invocation {
  @builtin(local_invocation_index) index: u32,
  @builtin(subgroup_invocation_id) lane: u32,
}
//#else
struct Invocation {
  @builtin(local_invocation_index) index: u32,
}
//#endif

//#include "lib/ap2.wgsl"

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
}

//#if subgroups
// Which slots of `partial` hold a subgroup's sum: a bit per invocation index.
var<workgroup> leaders: array<atomic<u32>, (WORKGROUP_SIZE + 31u) / 32u>;

// The sums of every invocation's `v`, returned to all of them. Each subgroup adds its lanes in
// registers; its lane 0 leaves the sum at its own index and marks it; then every invocation adds
// the marked sums in index order: no assumption on how subgroups tile the workgroup, and the same
// order (so the same rounding) every run.
fn workgroup_sum(v: vec2f, inv: Invocation) -> vec2f {
  let s = subgroupAdd(v);
  if (inv.lane == 0u) {
    partial[inv.index] = s;
    atomicOr(&leaders[inv.index / 32u], 1u << (inv.index % 32u));
  }
  workgroupBarrier();
  var total = vec2f(0.0);
  for (var w = 0u; w < (WORKGROUP_SIZE + 31u) / 32u; w++) {
    var bits = atomicLoad(&leaders[w]);
    while (bits != 0u) {
      total += partial[w * 32u + countTrailingZeros(bits)];
      bits &= bits - 1u;
    }
  }
  workgroupBarrier();
  if (inv.index < (WORKGROUP_SIZE + 31u) / 32u) {
    atomicStore(&leaders[inv.index], 0u); // cleared for the next reduction
  }
  workgroupBarrier();
  return total;
}
//#else
// The sums of every invocation's `v`, returned to all of them. Any workgroup size: the tree starts
// at the power of two at or above it and skips missing partners.
fn workgroup_sum(v: vec2f, inv: Invocation) -> vec2f {
  let lid = inv.index;
  partial[lid] = v;
  workgroupBarrier();
  let top = 1u << (32u - countLeadingZeros(WORKGROUP_SIZE - 1u));
  for (var s = top / 2u; s > 0u; s /= 2u) {
    if (lid < s && lid + s < WORKGROUP_SIZE) {
      partial[lid] = partial[lid] + partial[lid + s];
    }
    workgroupBarrier();
  }
  let result = partial[0];
  workgroupBarrier(); // before the next reduction overwrites partial[0]
  return result;
}
//#endif

// Mean and biased variance of channel c, two passes (the second on x - mean, no cancellation).
// The per-channel sums over rows first, first + step, ...: one workgroup a channel (rows split
// among its invocations, then a tree sum through workgroup memory), or, on CPU adapters where
// barriers are costly, one invocation a channel summing every row (the `_serial` entry points).
fn row_sum(c: u32, first: u32, step: u32) -> f32 {
  var s = 0.0;
  for (var r = first; r < params.rows; r += step) {
    s += x[r * params.channels + c];
  }
  return s;
}

fn row_squared_deviations(c: u32, mean: f32, first: u32, step: u32) -> f32 {
  var q = 0.0;
  for (var r = first; r < params.rows; r += step) {
    let d = x[r * params.channels + c] - mean;
    q += d * select(d, ap2_signed(d), SHIFT);
  }
  return q;
}

fn store_moments(c: u32, mean: f32, variance: f32) {
  saved[c] = mean;
  let inv_std = inverseSqrt(variance + params.epsilon);
  saved[params.channels + c] = select(inv_std, ap2_signed(inv_std), SHIFT);
}

fn update_moving(c: u32, m: vec2f) {
  moving_mean[c] = moving_mean[c] - (moving_mean[c] - m.x) * params.decay;
  let v = m.y * params.variance_factor;
  moving_variance[c] = moving_variance[c] - (moving_variance[c] - v) * params.decay;
}

fn channel_moments(c: u32, inv: Invocation) -> vec2f {
  let M = f32(params.rows);
  let lid = inv.index;
  let mean = workgroup_sum(vec2f(row_sum(c, lid, WORKGROUP_SIZE), 0.0), inv).x / M;
  let variance = workgroup_sum(vec2f(row_squared_deviations(c, mean, lid, WORKGROUP_SIZE), 0.0), inv).x / M;
  if (lid == 0u) {
    store_moments(c, mean, variance);
  }
  return vec2f(mean, variance);
}

fn channel_moments_serial(c: u32) -> vec2f {
  let M = f32(params.rows);
  let mean = row_sum(c, 0u, 1u) / M;
  let variance = row_squared_deviations(c, mean, 0u, 1u) / M;
  store_moments(c, mean, variance);
  return vec2f(mean, variance);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bn_stats(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, inv: Invocation) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= params.channels) {
    return; // the whole workgroup: c is uniform
  }
  _ = channel_moments(c, inv);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bn_stats_update(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, inv: Invocation) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= params.channels) {
    return;
  }
  let m = channel_moments(c, inv);
  if (inv.index == 0u) {
    update_moving(c, m);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bn_stats_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let c = flat_index(wid, nwg, lid);
  if (c < params.channels) {
    _ = channel_moments_serial(c);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bn_stats_update_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                          @builtin(local_invocation_index) lid: u32) {
  let c = flat_index(wid, nwg, lid);
  if (c < params.channels) {
    update_moving(c, channel_moments_serial(c));
  }
}

// gamma[c], or AP2(gamma[c]) in the shift-based version.
fn gamma_at(c: u32) -> f32 {
  return select(gamma[c], ap2_signed(gamma[c]), SHIFT);
}

fn x_hat(i: u32, c: u32) -> f32 {
  return (x[i] - stats[c]) * stats[params.channels + c];
}

// y = x_hat * gamma + beta; four entry points by which of gamma (scale) and beta (center) exist.
@compute @workgroup_size(WORKGROUP_SIZE)
fn bn_normalize(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.rows * params.channels) {
    return;
  }
  y[i] = x_hat(i, i % params.channels);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bn_normalize_scale(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                      @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.rows * params.channels) {
    return;
  }
  let c = i % params.channels;
  y[i] = x_hat(i, c) * gamma_at(c);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bn_normalize_center(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                       @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.rows * params.channels) {
    return;
  }
  let c = i % params.channels;
  y[i] = x_hat(i, c) + beta[c];
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bn_normalize_affine(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                       @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.rows * params.channels) {
    return;
  }
  let c = i % params.channels;
  y[i] = x_hat(i, c) * gamma_at(c) + beta[c];
}

// Backward, one workgroup per channel: dbeta = sum dy, dgamma = sum dy * x_hat.
// sum dy * x_hat and sum dy over rows first, first + step, ... of channel c.
fn backward_sums(c: u32, first: u32, step: u32) -> vec2f {
  var s = vec2f(0.0);
  for (var r = first; r < params.rows; r += step) {
    let i = r * params.channels + c;
    s += vec2f(dy[i] * x_hat(i, c), dy[i]);
  }
  return s;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bn_backward_reduce(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, inv: Invocation) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= params.channels) {
    return;
  }
  let s = workgroup_sum(backward_sums(c, inv.index, WORKGROUP_SIZE), inv);
  if (inv.index == 0u) {
    dgamma[c] = s.x;
    dbeta[c] = s.y;
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bn_backward_reduce_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                             @builtin(local_invocation_index) lid: u32) {
  let c = flat_index(wid, nwg, lid);
  if (c < params.channels) {
    let s = backward_sums(c, 0u, 1u);
    dgamma[c] = s.x;
    dbeta[c] = s.y;
  }
}

// dx = g * inv_std / M * (M dy - dbeta - x_hat dgamma), g = gamma (scale) or 1.
fn dx_at(i: u32, c: u32, g: f32) -> f32 {
  let M = f32(params.rows);
  return g * stats[params.channels + c] / M * (M * dy[i] - dbeta_in[c] - x_hat(i, c) * dgamma_in[c]);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bn_backward_dx(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.rows * params.channels) {
    return;
  }
  dx[i] = dx_at(i, i % params.channels, 1.0);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bn_backward_dx_scale(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                        @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.rows * params.channels) {
    return;
  }
  let c = i % params.channels;
  dx[i] = dx_at(i, c, gamma_at(c));
}
