// Element-wise training kernels (launchers and CPU references in src/ops/train-elementwise.ts):
// the backward of Larq's quantizers (the pseudo-gradient each one defines) and of Keras'
// activations, and the forward of Larq's kernel quantizers whose output needs a statistic of the
// tensor (the statistic comes in `stats`, computed by shaders/reduce.wgsl). One entry point per
// set of bindings; the quantizer or activation is an override constant.
// Decisions (clip masks, signs, pieces of a piecewise function) are taken on bit patterns, never
// by float compares, which may flush subnormals and assume there are no NaNs.
// Work is indexed flat, wid.x + wid.y * num_workgroups.x, so grids past 65535 fold into 2D.

struct Params {
  count: u32, // elements
  channels: u32, // entries of stats: element i reads stats[(i / channel_div) % channels]
  channel_div: u32,
  // The clip mask: |x|'s bits < mask_below (sign-ste.ts maskBelow: bits(f32(clip)) + 1; 0x80000000
  // for clip_value null, every value NaN included).
  mask_below: u32,
  beta: f32, // swish_sign
  levels_max: f32, // dorefa weights: n = 2^k_bit - 1
}

override WORKGROUP_SIZE: u32 = 64;
// quantizer_backward: 0 identity, 1 clip (ste_sign, ste_heaviside, ste_tern), 2 approx_sign,
// 3 swish_sign, 4 dorefa activations. quantizer_backward_scaled: 5 dorefa weights,
// 6 magnitude_aware_sign. quantize_weights: 6 magnitude_aware_sign, 7 ste_tern (threshold in
// stats); quantize_weights_dorefa: DoReFa 'weights'. Codes: src/ops/train-elementwise.ts.
override QUANTIZER: u32 = 0;
// activation_backward: 0 linear, 1 relu, 2 hard_tanh, 3 sigmoid, 4 tanh, 5 leaky_tanh (the order
// of CHANNEL_ACTIVATIONS in src/ops/elementwise.ts).
override ACTIVATION: u32 = 0;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read> levels: array<f32>;

const ONE_BITS: u32 = 0x3f800000u;
const INF_BITS: u32 = 0x7f800000u;

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
}

//#include "lib/sign.wgsl"
//#include "lib/tanh.wgsl"

fn magnitude_bits(v: f32) -> u32 {
  return bitcast<u32>(v) & 0x7fffffffu;
}

// ---------------------------------------------------------------------------------------------
// Quantizers, backward: dx = dy * (Larq's pseudo-gradient at v); s is the statistic (the channel's
// scale of magnitude_aware_sign, DoReFa's max |tanh|), 1 where there is none.

fn quantizer_grad(v: f32, g: f32, s: f32) -> f32 {
  let inside = magnitude_bits(v) < params.mask_below;
  switch QUANTIZER {
    case 1u: {
      return select(0.0, g, inside);
    }
    case 2u: {
      // approx_sign: (1 - |v|) * 2 * dy where |v| <= 1 (NaN: 0), in f32 as written.
      return select(0.0, ((1.0 - abs(v)) * 2.0) * g, magnitude_bits(v) <= ONE_BITS);
    }
    case 3u: {
      // swish_sign: beta (2 - bv tanh(bv/2)) / (1 + cosh(bv)) = beta (1 - h tanh h) sech^2 h,
      // h = bv/2; with e = exp(-|bv|): h tanh h = |h| (1 - e) / (1 + e), sech^2 h = 4e / (1 + e)^2.
      let h = 0.5 * (params.beta * v);
      let e = exp(-2.0 * abs(h));
      let d = 1.0 + e;
      return g * (params.beta * (1.0 - abs(h) * ((1.0 - e) / d)) * ((4.0 * e) / (d * d)));
    }
    case 4u: {
      // dorefa activations: tf.clip_by_value's gradient, 0 where v < 0 or v > 1 (NaN passes dy).
      let u = bitcast<u32>(v);
      return select(g, 0.0, is_negative(v) || (u > ONE_BITS && u <= INF_BITS));
    }
    case 5u: {
      // dorefa weights: dy (1 - tanh^2 v) / m, 0 when m = 0.
      return select((g * sech2_exp(v)) / s, 0.0, s == 0.0);
    }
    case 6u: {
      // magnitude_aware_sign: the scale is a constant (tf.stop_gradient), then ste_sign's clip.
      return select(0.0, s * g, inside);
    }
    default: {
      return g;
    }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantizer_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                      @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.count) {
    return;
  }
  dx[i] = quantizer_grad(x[i], dy[i], 1.0);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantizer_backward_scaled(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                             @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.count) {
    return;
  }
  dx[i] = quantizer_grad(x[i], dy[i], stats[(i / params.channel_div) % params.channels]);
}

// ---------------------------------------------------------------------------------------------
// Kernel quantizers, forward for training, given their statistic s.

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_weights(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.count) {
    return;
  }
  let v = x[i];
  let s = stats[(i / params.channel_div) % params.channels];
  let magnitude = magnitude_bits(v);
  switch QUANTIZER {
    case 6u: {
      // magnitude_aware_sign: a_c * sign(v), sign(+-0) = sign(NaN) = +1.
      y[i] = select(s, -s, is_negative(v));
    }
    case 7u: {
      // ste_tern: +-1 where |v| >= |D| and v != 0, else 0; NaN stays NaN (elementwise.wgsl's tern).
      let outside = magnitude != 0u && magnitude >= magnitude_bits(s);
      y[i] = select(select(0.0, select(1.0, -1.0, is_negative(v)), outside), v, magnitude > INF_BITS);
    }
    default: {
      y[i] = v;
    }
  }
}

// DoReFa 'weights': 2 quantize_k(tanh(v) / (2m) + 1/2) - 1, m = stats[0] (1/2 inside when m = 0);
// levels[r] = 2 f32(r / n) - 1 from the CPU (WGSL's division is not correctly rounded); round() is
// half to even, as tf.round. NaN stays NaN. Its own entry point: it binds the table.
@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_weights_dorefa(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                           @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.count) {
    return;
  }
  let v = x[i];
  let m = stats[0];
  let u = select(tanh_exp(v) / (2.0 * m) + 0.5, 0.5, m == 0.0);
  let r = u32(clamp(round(u * params.levels_max), 0.0, params.levels_max));
  y[i] = select(levels[r], v, magnitude_bits(v) > INF_BITS);
}

// ---------------------------------------------------------------------------------------------
// Keras' activations, backward from the forward's input v: dx = dy * act'(v).

fn activation_grad(v: f32, g: f32) -> f32 {
  let u = bitcast<u32>(v);
  let magnitude = magnitude_bits(v);
  switch ACTIVATION {
    case 1u: {
      // relu: 1 for v > 0 (positive subnormals and +inf too), else 0 (NaN: 0).
      return select(0.0, g, u > 0u && u <= INF_BITS);
    }
    case 2u: {
      // hard_tanh: 1 for -1 <= v <= 1, else 0 (NaN: 0).
      return select(0.0, g, magnitude <= ONE_BITS);
    }
    case 3u: {
      // sigmoid: s (1 - s) = e / (1 + e)^2 with e = exp(-|v|) (no overflow, no cancellation).
      let e = exp(-abs(v));
      let d = 1.0 + e;
      return g * (e / (d * d));
    }
    case 4u: {
      return g * sech2_exp(v);
    }
    case 5u: {
      // leaky_tanh: slope alpha = 0.2 for |v| >= 1, 1 inside (NaN: 1, as v <= -1 || v >= 1 is false).
      return select(g, g * 0.2, magnitude >= ONE_BITS && magnitude <= INF_BITS);
    }
    default: {
      return g;
    }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn activation_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                       @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.count) {
    return;
  }
  dx[i] = activation_grad(x[i], dy[i]);
}
