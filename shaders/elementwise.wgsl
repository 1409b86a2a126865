// Float element-wise kernels of the graph executor (launchers and CPU references in
// src/ops/elementwise.ts): a per-channel affine map with an activation (a layer's bias and
// activation, a folded or unfused BatchNormalization), the forward of Larq's activation
// quantizers, softmax over the last axis, and the merges of two tensors (the sum of a shortcut,
// a concatenation along the last axis) with the slice that undoes a concatenation.
// Element-wise work is indexed flat, wid.x + wid.y * num_workgroups.x, so grids past 65535 fold
// into 2D; softmax runs one workgroup per row (long rows) or one invocation per row (short rows),
// its row index folded the same way.

struct AffineParams {
  count: u32, // elements of x
  channels: u32, // C, the last axis: element i is channel i % C
}

struct QuantizeParams {
  count: u32,
  threshold_bits: u32, // ste_tern: the bits of |f32(threshold_value)|
  levels_max: f32, // dorefa: n = 2^k_bit - 1 (exact in f32 for k_bit <= 16)
}

struct ConcatParams {
  count: u32, // elements of y
  cols_a: u32, // x's last axis
  cols_b: u32, // x2's last axis
}

struct SliceParams {
  count: u32, // elements of y
  cols_in: u32, // x's last axis
  cols_out: u32, // y's last axis
  offset: u32, // the first column of x that y takes
}

struct SoftmaxParams {
  rows: u32,
  cols: u32,
}

override WORKGROUP_SIZE: u32 = 64;
// channel_*: 0 linear, 1 relu, 2 hard_tanh, 3 sigmoid, 4 tanh, 5 leaky_tanh (src/ops/elementwise.ts).
override ACTIVATION: u32 = 0;
// quantize: 0 identity, 1 sign, 2 heaviside, 3 tern. DoReFa reads a table: its own entry point.
// threshold_quantize: 1 sign, 2 heaviside.
override QUANTIZER: u32 = 0;

@group(0) @binding(0) var<uniform> affine_params: AffineParams;
@group(0) @binding(1) var<uniform> quantize_params: QuantizeParams;
@group(0) @binding(2) var<uniform> softmax_params: SoftmaxParams;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> scale: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;
@group(0) @binding(7) var<storage, read> levels: array<f32>;
@group(0) @binding(8) var<storage, read> threshold: array<f32>;
@group(0) @binding(9) var<storage, read> flip: array<u32>;
@group(0) @binding(10) var<storage, read> x2: array<f32>;
@group(0) @binding(11) var<uniform> concat_params: ConcatParams;
@group(0) @binding(12) var<uniform> slice_params: SliceParams;

var<workgroup> partial: array<f32, WORKGROUP_SIZE>;

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
}

//#include "lib/sign.wgsl"

// ---------------------------------------------------------------------------------------------
// Per-channel affine + activation. NaN and infinities in x give unspecified results (WGSL leaves
// min/max/clamp of NaN to the implementation).

// Arguments of exp are clamped so that nothing overflows (WGSL makes an overflowing exp an
// indeterminate value, and states division's accuracy only for divisors up to 2^126): the clamps
// change a result by less than sigmoid(-80) ~ 2e-35, resp. 1 - tanh(10) ~ 4e-9 (below half an
// ULP of 1). tanh is built on exp rather than the builtin, so its accuracy follows from exp's
// (WGSL: 3 + 2|x| ULP): about 10 ULP of 1, absolute.
fn activate(v: f32) -> f32 {
  switch ACTIVATION {
    case 1u: {
      return max(v, 0.0);
    }
    case 2u: {
      return clamp(v, -1.0, 1.0);
    }
    case 3u: {
      return 1.0 / (1.0 + exp(-clamp(v, -80.0, 80.0)));
    }
    case 4u: {
      let t = exp(-2.0 * min(abs(v), 10.0));
      return sign(v) * ((1.0 - t) / (1.0 + t));
    }
    case 5u: {
      // Larq's leaky_tanh (alpha 0.2): clip(v, -1, 1) + 0.2 (max(v, 1) - 1) + 0.2 (min(v, -1) + 1).
      return clamp(v, -1.0, 1.0) + 0.2 * (max(v, 1.0) - 1.0) + 0.2 * (min(v, -1.0) + 1.0);
    }
    default: {
      return v;
    }
  }
}

// Four entry points by which of scale and bias are given: an entry point binds what it reads.
@compute @workgroup_size(WORKGROUP_SIZE)
fn channel_affine(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= affine_params.count) {
    return;
  }
  let c = i % affine_params.channels;
  y[i] = activate(x[i] * scale[c] + bias[c]);
}

// x[..., 2C] -> y[..., C]: the two halves of each row summed first, y = act((x[c] + x[C + c]) *
// scale[c] + bias[c]). A ternary first layer runs as one sign-select product of 2C channels, its
// zero weights read as +1 in the first half and as -1 in the second (src/plan/lower.ts): the sum
// of the halves is twice the ternary product.
@compute @workgroup_size(WORKGROUP_SIZE)
fn channel_affine_halves(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= affine_params.count) {
    return;
  }
  let c = i % affine_params.channels;
  let j = (i / affine_params.channels) * 2u * affine_params.channels + c;
  y[i] = activate((x[j] + x[j + affine_params.channels]) * scale[c] + bias[c]);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn channel_scale(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= affine_params.count) {
    return;
  }
  y[i] = activate(x[i] * scale[i % affine_params.channels]);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn channel_bias(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= affine_params.count) {
    return;
  }
  y[i] = activate(x[i] + bias[i % affine_params.channels]);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn activation(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= affine_params.count) {
    return;
  }
  y[i] = activate(x[i]);
}

// ---------------------------------------------------------------------------------------------
// Larq's activation quantizers, forward, exactly as src/model/quantizers.ts. Decided on bit
// patterns, never by float compares (which may flush subnormals and assume no NaNs).

fn quantize_value(v: f32) -> f32 {
  let u = bitcast<u32>(v);
  let magnitude = u & 0x7fffffffu;
  switch QUANTIZER {
    case 1u: {
      // ste_sign, approx_sign, swish_sign: -1 for x < 0, else +1 (+-0 and NaN give +1).
      return select(1.0, -1.0, is_negative(v));
    }
    case 2u: {
      // ste_heaviside: 1 for x > 0 (+inf and positive subnormals too), else 0 (+-0 and NaN too).
      return select(0.0, 1.0, u > 0u && u <= 0x7f800000u);
    }
    case 3u: {
      // ste_tern: sign(sign(x + D) + sign(x - D)) in f32 is +-1 where |x| >= |D| and x != 0, else 0
      // (the sign of a rounded sum is the sign of the exact one); NaN stays NaN. Non-negative
      // floats order as their bits.
      if (magnitude > 0x7f800000u) {
        return v;
      }
      let outside = magnitude != 0u && magnitude >= quantize_params.threshold_bits;
      return select(0.0, select(1.0, -1.0, u != magnitude), outside);
    }
    default: {
      return v;
    }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= quantize_params.count) {
    return;
  }
  y[i] = quantize_value(x[i]);
}

// DoReFa, activations mode: q = round_half_even(f32(clip(x, 0, 1) * n)) / n. The product is
// correctly rounded in WGSL and round() is half-to-even, so the index r is the CPU's; the
// division is not correctly rounded in WGSL (2.5 ULP), so r / n comes from `levels`, written by
// the launcher from the CPU forward itself. NaN stays NaN.
@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_dorefa(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= quantize_params.count) {
    return;
  }
  let v = x[i];
  if ((bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u) {
    y[i] = v;
    return;
  }
  y[i] = levels[u32(round(clamp(v, 0.0, 1.0) * quantize_params.levels_max))];
}

// ---------------------------------------------------------------------------------------------
// Softmax over the last axis: one workgroup per row, stable (the row max is subtracted first).
// Each invocation scans the columns lid, lid + WORKGROUP_SIZE, ...; partial results meet in a tree.

// The max (take_max) or the sum of every invocation's `v`, returned to all of them. Any
// workgroup size: the tree starts at the power of two at or above it and skips missing partners.
fn workgroup_reduce(v: f32, lid: u32, take_max: bool) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  let top = 1u << (32u - countLeadingZeros(WORKGROUP_SIZE - 1u));
  for (var s = top / 2u; s > 0u; s /= 2u) {
    if (lid < s && lid + s < WORKGROUP_SIZE) {
      let a = partial[lid];
      let b = partial[lid + s];
      partial[lid] = select(a + b, max(a, b), take_max);
    }
    workgroupBarrier();
  }
  let result = partial[0];
  workgroupBarrier(); // before the next reduction overwrites partial[0]
  return result;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= softmax_params.rows) {
    return; // the whole workgroup: row is uniform
  }
  let cols = softmax_params.cols;
  let base = row * cols;
  var m = x[base]; // a value of the row (no -inf literal in WGSL)
  for (var j = lid; j < cols; j += WORKGROUP_SIZE) {
    m = max(m, x[base + j]);
  }
  m = workgroup_reduce(m, lid, true);
  var sum = 0.0;
  for (var j = lid; j < cols; j += WORKGROUP_SIZE) {
    let e = exp(x[base + j] - m); // <= 1: never overflows
    y[base + j] = e;
    sum += e;
  }
  sum = workgroup_reduce(sum, lid, false);
  for (var j = lid; j < cols; j += WORKGROUP_SIZE) {
    y[base + j] = y[base + j] / sum;
  }
}

// Short rows (a classifier's 10 classes): one invocation per row, no barriers. A workgroup per row
// would spend its time in them (on CPU adapters, a barrier switches every invocation's fiber).
@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax_per_row(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let row = flat_index(wid, nwg, lid);
  if (row >= softmax_params.rows) {
    return;
  }
  let cols = softmax_params.cols;
  let base = row * cols;
  var m = x[base];
  for (var j = 1u; j < cols; j++) {
    m = max(m, x[base + j]);
  }
  var sum = 0.0;
  for (var j = 0u; j < cols; j++) {
    let e = exp(x[base + j] - m);
    y[base + j] = e;
    sum += e;
  }
  for (var j = 0u; j < cols; j++) {
    y[base + j] = y[base + j] / sum;
  }
}

// ---------------------------------------------------------------------------------------------
// A sign or heaviside of an affine map of x (a BatchNormalization, a bias, a weight scale: BN(y) =
// y * s + b per channel), decided on x itself by per-channel f32 thresholds the CPU computed
// exactly (src/model/batchnorm-fold.ts, foldDecision): the decision holds where x < threshold[c],
// or x > threshold[c] where flip[c]. An f32 evaluation of the affine map first could round a value
// sitting on the decision point (BN(y) = 0 exactly) to either side. Channel c = i % C, C the
// threshold's length (a flattened value keeps its channels innermost). sign: -1 where the decision
// (BN(y) < 0) holds, else +1; heaviside: 1 where it (BN(y) > 0) holds, else 0. NaN compares false:
// +1, resp. 0, as the quantizers give.
@compute @workgroup_size(WORKGROUP_SIZE)
fn threshold_quantize(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                      @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= affine_params.count) {
    return;
  }
  let c = i % affine_params.channels;
  let v = x[i];
  let holds = select((v < threshold[c]), (v > threshold[c]), flip[c] != 0u);
  if (QUANTIZER == 1u) {
    y[i] = select(1.0, -1.0, holds);
  } else {
    y[i] = select(0.0, 1.0, holds);
  }
}

// ---------------------------------------------------------------------------------------------
// Merges of two tensors (Keras's Add and Concatenate; more inputs run as a chain of these).

// y = x + x2, one f32 add: Keras's Add of two tensors of one shape.
@compute @workgroup_size(WORKGROUP_SIZE)
fn add_tensors(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= affine_params.count) {
    return;
  }
  y[i] = x[i] + x2[i];
}

// y[..., A + B] = x[..., A] then x2[..., B] per row: Keras's Concatenate on the last axis.
@compute @workgroup_size(WORKGROUP_SIZE)
fn concat_last(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= concat_params.count) {
    return;
  }
  let a = concat_params.cols_a;
  let b = concat_params.cols_b;
  let r = i / (a + b);
  let c = i % (a + b);
  if (c < a) {
    y[i] = x[r * a + c];
  } else {
    y[i] = x2[r * b + c - a];
  }
}

// y[..., B] = x[..., offset : offset + B] per row: the inverse of concat_last, Concatenate's
// gradient split back into its inputs' parts.
@compute @workgroup_size(WORKGROUP_SIZE)
fn slice_last(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= slice_params.count) {
    return;
  }
  let b = slice_params.cols_out;
  y[i] = x[(i / b) * slice_params.cols_in + slice_params.offset + i % b];
}
