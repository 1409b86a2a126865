// In-place optimizer updates of f32 parameters from f32 gradients (launchers, schedules and CPU
// references in src/train/optimizers.ts): Keras' Adam and SGD (momentum, Nesterov), BinaryNet's
// shift-based AdaMax and Larq's Bop, then Larq's weight_clip where asked (override CLIP).
// One invocation per element, indexed flat (wid.x + wid.y * num_workgroups.x) so grids past 65535
// fold into 2D. What changes from step to step (the step size with its bias corrections, Bop's
// gamma and threshold) is in the uniform, which the host rewrites before each step: bind groups
// are built once per parameter tensor. NaN and infinities give unspecified results.

struct AdamParams {
  count: u32,
  lr: f32, // lr(t-1) * sqrt(1 - beta_2^t) / (1 - beta_1^t) * the tensor's lr scale
  one_minus_beta_1: f32,
  one_minus_beta_2: f32,
  epsilon: f32,
  clip: f32,
}

struct SgdParams {
  count: u32,
  lr: f32, // lr(t-1) * the tensor's lr scale
  momentum: f32,
  clip: f32,
}

struct AdamaxParams {
  count: u32,
  lr: f32, // lr(t-1) / (1 - beta_1^t) * the tensor's lr scale
  beta_1: f32,
  one_minus_beta_1: f32,
  beta_2: f32,
  clip: f32,
}

struct BopParams {
  count: u32,
  gamma: f32,
  threshold: f32,
}

override WORKGROUP_SIZE: u32 = 64;
// Larq's weight_clip after the update: w = clamp(w, -clip, clip).
override CLIP: bool = false;
// sgd_momentum: Nesterov momentum (Keras' nesterov=True).
override NESTEROV: bool = false;

@group(0) @binding(0) var<uniform> adam_params: AdamParams;
@group(0) @binding(1) var<uniform> sgd_params: SgdParams;
@group(0) @binding(2) var<uniform> adamax_params: AdamaxParams;
@group(0) @binding(3) var<uniform> bop_params: BopParams;
@group(0) @binding(4) var<storage, read_write> param: array<f32>;
@group(0) @binding(5) var<storage, read> grad: array<f32>;
@group(0) @binding(6) var<storage, read_write> m: array<f32>;
@group(0) @binding(7) var<storage, read_write> v: array<f32>;
@group(0) @binding(8) var<storage, read_write> accum: array<f32>;

//#include "lib/sign.wgsl"

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
}

fn constrain(w: f32, c: f32) -> f32 {
  if (CLIP) {
    return clamp(w, -c, c);
  }
  return w;
}

// Keras 2 Adam: TensorFlow's fused ApplyAdam (training_ops.cc), in its order of operations:
// m += (g - m) (1 - beta_1); v += (g^2 - v) (1 - beta_2); p -= m lr_t / (sqrt(v) + epsilon).
@compute @workgroup_size(WORKGROUP_SIZE)
fn adam(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= adam_params.count) {
    return;
  }
  let g = grad[i];
  let m_t = m[i] + (g - m[i]) * adam_params.one_minus_beta_1;
  let v_t = v[i] + (g * g - v[i]) * adam_params.one_minus_beta_2;
  m[i] = m_t;
  v[i] = v_t;
  param[i] = constrain(param[i] - (m_t * adam_params.lr) / (sqrt(v_t) + adam_params.epsilon), adam_params.clip);
}

// Keras SGD without momentum (ApplyGradientDescent): p -= lr g. No state.
@compute @workgroup_size(WORKGROUP_SIZE)
fn sgd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
       @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= sgd_params.count) {
    return;
  }
  param[i] = constrain(param[i] - sgd_params.lr * grad[i], sgd_params.clip);
}

// Keras SGD with momentum (ApplyKerasMomentum): a = a momentum - g lr; p += a, or with Nesterov
// p += a momentum - g lr.
@compute @workgroup_size(WORKGROUP_SIZE)
fn sgd_momentum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= sgd_params.count) {
    return;
  }
  let g = grad[i];
  let a = accum[i] * sgd_params.momentum - g * sgd_params.lr;
  accum[i] = a;
  var step = a;
  if (NESTEROV) {
    step = a * sgd_params.momentum - g * sgd_params.lr;
  }
  param[i] = constrain(param[i] + step, sgd_params.clip);
}

//#include "lib/ap2.wgsl"

// BinaryNet's shift-based AdaMax (Courbariaux et al. 2016, Algorithm 4): m = beta_1 m +
// (1 - beta_1) g; v = max(beta_2 v, |g|); p -= lr_t * m * AP2(1 / v), the division by v a shift
// (ldexp is exact). Where v is 0 or subnormal (only gradients below 2^-126 so far; GPUs may flush
// them) the element keeps its value.
@compute @workgroup_size(WORKGROUP_SIZE)
fn shift_adamax(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= adamax_params.count) {
    return;
  }
  let g = grad[i];
  let m_t = adamax_params.beta_1 * m[i] + adamax_params.one_minus_beta_1 * g;
  let v_t = max(adamax_params.beta_2 * v[i], abs(g));
  m[i] = m_t;
  v[i] = v_t;
  var p = param[i];
  if ((bitcast<u32>(v_t) & 0x7fffffffu) >= 0x00800000u) {
    p = p - adamax_params.lr * ldexp(m_t, ap2_inverse_exponent(v_t));
  }
  param[i] = constrain(p, adamax_params.clip);
}

// Larq's Bop (larq.optimizers.Bop): m += gamma (g - m); w = sign(-sign(w m - threshold) w), Larq's
// sign (0 -> +1). For w = +-1: w flips where w m > threshold (|m| > threshold and m has w's sign),
// becomes +1 where w m == threshold, and stays otherwise.
@compute @workgroup_size(WORKGROUP_SIZE)
fn bop(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
       @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= bop_params.count) {
    return;
  }
  let m_t = m[i] + bop_params.gamma * (grad[i] - m[i]);
  m[i] = m_t;
  let w = param[i];
  let r = -sign(w * m_t - bop_params.threshold) * w;
  param[i] = select(1.0, -1.0, is_negative(r));
}
