// The training losses (launchers and CPU references in src/ops/loss.ts): softmax cross-entropy on
// logits with integer labels, and the element-wise losses on f32 targets (mean squared error,
// binary cross-entropy from logits: two variants of one entry point, picked by LOSS); each gives the
// per-row loss, the gradient of the batch's mean loss and hits; and the running totals of a metrics
// accumulator, so N steps' loss and accuracy are read back once.
// Rows are indexed flat, wid.x + wid.y * num_workgroups.x, so grids past 65535 fold into 2D.

struct Params {
  rows: u32, // M
  classes: u32, // C (elementwise_loss: N, the values per row)
  grad_scale: f32, // the output's loss weight (Keras's loss_weights): d_logits is scaled by it
}

override WORKGROUP_SIZE: u32 = 64;
// elementwise_loss's variant: 0 mean squared error, 1 binary cross-entropy from logits.
override LOSS: u32 = 0;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_logits: array<f32>;
@group(0) @binding(5) var<storage, read_write> top1: array<u32>;
@group(0) @binding(6) var<storage, read_write> top5: array<u32>;
@group(0) @binding(7) var<storage, read> row_loss: array<f32>; // `loss`, bound read-only
@group(0) @binding(8) var<storage, read> row_top1: array<u32>;
@group(0) @binding(9) var<storage, read> row_top5: array<u32>;
// [rows, top-1 hits, top-5 hits, bits of the f32 loss sum]: one buffer, one read-back.
@group(0) @binding(10) var<storage, read_write> totals: array<u32>;
@group(0) @binding(11) var<storage, read> targets: array<f32>; // elementwise_loss's, laid out as `logits`
@group(0) @binding(12) var<storage, read_write> hits: array<u32>;

var<workgroup> partial: array<vec3f, WORKGROUP_SIZE>;

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
}

// One invocation per row (a classifier's rows are short; no barriers).
//   loss = logsumexp(x) - x[label], stable: max subtracted first.
//   d_logits = grad_scale * ((softmax(x) - onehot(label)) / M): the gradient of the mean over the
//   batch, times the output's loss weight (a model of several outputs sums weighted losses).
//   top-1 hit: the label is the argmax, first maximum (Keras' accuracy): no logit above the
//   label's, none equal to it at a lower index. Top-5 hit: fewer than 5 logits strictly greater
//   than the label's (TF's in_top_k: ties at the boundary count as in). CPU twins: src/train/metrics.ts,
//   which counts on probabilities with subnormals flushed to zero, as Keras evaluates; on logits
//   here, so a training figure differs from it only where a probability underflows (a label far
//   below the top five: both miss it unless five or fewer classes are above it).
//   A label >= C or a NaN label logit: no hits. A label >= C: loss NaN, d_logits = softmax / M.
@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax_cross_entropy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_index) lid: u32) {
  let row = flat_index(wid, nwg, lid);
  if (row >= params.rows) {
    return;
  }
  let C = params.classes;
  let base = row * C;
  let label = labels[row];
  let valid = label < C;
  let x_label = logits[base + select(0u, label, valid)];
  var m = logits[base];
  var greater = 0u;
  var tied_before = 0u; // logits equal to the label's at a lower index: argmax takes the first
  for (var j = 0u; j < C; j++) {
    let v = logits[base + j];
    m = max(m, v);
    greater += select(0u, 1u, v > x_label);
    tied_before += select(0u, 1u, j < label && v == x_label);
  }
  // NaN tested on the bits: a compiler may assume floats are never NaN.
  let counted = valid && (bitcast<u32>(x_label) & 0x7fffffffu) <= 0x7f800000u;
  var sum = 0.0;
  for (var j = 0u; j < C; j++) {
    sum += exp(logits[base + j] - m); // <= 1: never overflows
  }
  let M = f32(params.rows);
  for (var j = 0u; j < C; j++) {
    let p = exp(logits[base + j] - m) / sum;
    d_logits[base + j] = params.grad_scale * ((p - select(0.0, 1.0, valid && j == label)) / M);
  }
  // A runtime NaN (a constant NaN is a shader-creation error).
  let nan = bitcast<f32>(0x7fc00000u | (label & 0u));
  loss[row] = select(nan, (m - x_label) + log(sum), valid);
  top1[row] = select(0u, 1u, counted && greater == 0u && tied_before == 0u);
  top5[row] = select(0u, 1u, counted && greater < 5u);
}

// One invocation per row of N = params.classes values x (`logits`: for MSE the output value itself,
// for BCE the logits before the output's sigmoid) and their targets t. As Keras reduces them: the
// loss is the mean over the last axis, then the mean over the M rows (sum_over_batch_size), so
//   MSE: loss_r = mean_j (x - t)^2,                               d_x = grad_scale * 2 (x - t) / (M N)
//   BCE: loss_r = mean_j max(x, 0) - x t + log(1 + exp(-|x|)),    d_x = grad_scale * (sigmoid(x) - t) / (M N)
// BCE is TF's sigmoid_cross_entropy_with_logits, the form Keras takes when the sigmoid is the
// output's activation: no exp overflows, no log(0). hits: BCE's binary accuracy at 0.5, the
// elements whose prediction (sigmoid(x) > 0.5, i.e. x > 0) equals the target; MSE counts none.
@compute @workgroup_size(WORKGROUP_SIZE)
fn elementwise_loss(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) lid: u32) {
  let row = flat_index(wid, nwg, lid);
  if (row >= params.rows) {
    return;
  }
  let N = params.classes;
  let base = row * N;
  let scale = params.grad_scale / (f32(params.rows) * f32(N));
  var sum = 0.0;
  var hit = 0u;
  for (var j = 0u; j < N; j++) {
    let x = logits[base + j];
    let t = targets[base + j];
    if (LOSS == 0u) {
      sum += (x - t) * (x - t);
      d_logits[base + j] = scale * 2.0 * (x - t);
    } else {
      sum += max(x, 0.0) - x * t + log(1.0 + exp(-abs(x)));
      d_logits[base + j] = scale * (1.0 / (1.0 + exp(-x)) - t);
      hit += select(0u, 1u, t == select(0.0, 1.0, x > 0.0));
    }
  }
  loss[row] = sum / f32(N);
  hits[row] = hit;
}

// One workgroup: adds the batch's rows, hits and loss sum to `totals`. Counts are exact (f32
// sums of integers below 2^24 per batch); the loss sum is f32.
@compute @workgroup_size(WORKGROUP_SIZE)
fn accumulate_metrics(@builtin(local_invocation_index) lid: u32) {
  var s = vec3f(0.0);
  for (var r = lid; r < params.rows; r += WORKGROUP_SIZE) {
    s += vec3f(row_loss[r], f32(row_top1[r]), f32(row_top5[r]));
  }
  partial[lid] = s;
  workgroupBarrier();
  let top = 1u << (32u - countLeadingZeros(WORKGROUP_SIZE - 1u));
  for (var k = top / 2u; k > 0u; k /= 2u) {
    if (lid < k && lid + k < WORKGROUP_SIZE) {
      partial[lid] = partial[lid] + partial[lid + k];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let t = partial[0];
    totals[0] = totals[0] + params.rows;
    totals[1] = totals[1] + u32(t.y);
    totals[2] = totals[2] + u32(t.z);
    totals[3] = bitcast<u32>(bitcast<f32>(totals[3]) + t.x);
  }
}
