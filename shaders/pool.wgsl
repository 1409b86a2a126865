// 2-D max and average pooling of NHWC tensors (TensorFlow's 'valid'/'same' geometry, computed by
// src/ops/pool.ts). Padded positions never enter a window: max is over the valid elements, average
// divides by their count (TF's count_include_pad = false).
// b1 max-pool works on packed words: with bit 1 = -1 (src/bitpack.ts), the max of +-1 values is +1
// unless all are -1, i.e. the AND of the bits. Pad bits are 0 in every input, so they AND to 0.
// The backward entry points run one invocation per input element and gather from the outputs
// whose windows hold it (no atomics; overlapping windows add in output order).
// Work is indexed flat, wid.x + wid.y * num_workgroups.x, so grids past 65535 fold into 2D.

struct Params {
  out_count: u32, // output elements (f32) or words (b1)
  in_count: u32, // input elements (the backward entry points' work)
  pixel_len: u32, // storage elements per pixel: C (f32) or ceil(C/32) words (b1)
  in_h: u32,
  in_w: u32,
  out_h: u32,
  out_w: u32,
  pool_h: u32,
  pool_w: u32,
  stride_h: u32,
  stride_w: u32,
  pad_top: u32,
  pad_left: u32,
}

override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> bits_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> bits_out: array<u32>;
@group(0) @binding(3) var<storage, read> values: array<f32>;
@group(0) @binding(4) var<storage, read_write> pooled: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
}

// The valid part of output element i's window: `first` indexes its top-left element in the
// input, `rows` x `cols` elements follow with strides in_w * pixel_len and pixel_len.
struct Window {
  first: u32,
  rows: u32,
  cols: u32,
}

fn window(i: u32) -> Window {
  let c = i % params.pixel_len;
  let pixel = i / params.pixel_len;
  let ox = pixel % params.out_w;
  let oy = (pixel / params.out_w) % params.out_h;
  let n = pixel / (params.out_w * params.out_h);
  // In padded coordinates (input row y is padded row y + pad_top), clamped to the input: unsigned
  // all the way. Never empty: with TF's padding every window overlaps the input.
  let ys = oy * params.stride_h;
  let xs = ox * params.stride_w;
  let y0 = max(ys, params.pad_top) - params.pad_top;
  let y1 = min(ys + params.pool_h, params.pad_top + params.in_h) - params.pad_top;
  let x0 = max(xs, params.pad_left) - params.pad_left;
  let x1 = min(xs + params.pool_w, params.pad_left + params.in_w) - params.pad_left;
  let first = ((n * params.in_h + y0) * params.in_w + x0) * params.pixel_len + c;
  return Window(first, y1 - y0, x1 - x0);
}

// One invocation per output word: the AND of the window's words.
@compute @workgroup_size(WORKGROUP_SIZE)
fn max_pool_b1(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.out_count) {
    return;
  }
  let w = window(i);
  let row_stride = params.in_w * params.pixel_len;
  var word = 0xffffffffu;
  for (var y = 0u; y < w.rows; y++) {
    let row = w.first + y * row_stride;
    for (var x = 0u; x < w.cols; x++) {
      word &= bits_in[row + x * params.pixel_len];
    }
  }
  bits_out[i] = word;
}

// One invocation per output value. Starts from the window's first element (WGSL has no -inf literal).
@compute @workgroup_size(WORKGROUP_SIZE)
fn max_pool_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.out_count) {
    return;
  }
  let w = window(i);
  let row_stride = params.in_w * params.pixel_len;
  var m = values[w.first];
  for (var y = 0u; y < w.rows; y++) {
    let row = w.first + y * row_stride;
    for (var x = 0u; x < w.cols; x++) {
      m = max(m, values[row + x * params.pixel_len]);
    }
  }
  pooled[i] = m;
}

// One invocation per output value: the sum of the valid elements over their count.
@compute @workgroup_size(WORKGROUP_SIZE)
fn avg_pool_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.out_count) {
    return;
  }
  let w = window(i);
  let row_stride = params.in_w * params.pixel_len;
  var sum = 0.0;
  for (var y = 0u; y < w.rows; y++) {
    let row = w.first + y * row_stride;
    for (var x = 0u; x < w.cols; x++) {
      sum += values[row + x * params.pixel_len];
    }
  }
  pooled[i] = sum / f32(w.rows * w.cols);
}

// ---- Backward: one invocation per input element i, the sum over the windows that hold it -----

// The outputs [lo, hi] along one axis whose windows hold input coordinate `v` (hi < lo: none).
fn covering(v: u32, pad: u32, pool: u32, stride: u32, out_len: u32) -> vec2u {
  let p = v + pad; // in padded coordinates: output o covers [o * stride, o * stride + pool)
  var lo = 0u;
  if (p + 1u > pool) {
    lo = (p + 1u - pool + stride - 1u) / stride;
  }
  return vec2u(lo, min(p / stride, out_len - 1u));
}

// Output elements (flat) whose windows hold input element i, visited in output order.
struct Cover {
  rows: vec2u,
  cols: vec2u,
  base: u32, // flat index of output (n, 0, 0, c)
}

fn cover(i: u32) -> Cover {
  let c = i % params.pixel_len;
  let pixel = i / params.pixel_len;
  let x = pixel % params.in_w;
  let y = (pixel / params.in_w) % params.in_h;
  let n = pixel / (params.in_w * params.in_h);
  return Cover(covering(y, params.pad_top, params.pool_h, params.stride_h, params.out_h),
               covering(x, params.pad_left, params.pool_w, params.stride_w, params.out_w),
               n * params.out_h * params.out_w * params.pixel_len + c);
}

// Flat input index of the first maximum of output element o's window, in row-major window order
// (TensorFlow's MaxPoolGrad on CPU: a tie goes to the first; a NaN is never chosen unless first).
fn first_argmax(o: u32) -> u32 {
  let w = window(o);
  let row_stride = params.in_w * params.pixel_len;
  var best = w.first;
  var m = values[w.first];
  for (var y = 0u; y < w.rows; y++) {
    let row = w.first + y * row_stride;
    for (var x = 0u; x < w.cols; x++) {
      let v = values[row + x * params.pixel_len];
      if (v > m) {
        m = v;
        best = row + x * params.pixel_len;
      }
    }
  }
  return best;
}

// dx[i] = sum of dy[o] over the outputs o whose window's first maximum is element i.
@compute @workgroup_size(WORKGROUP_SIZE)
fn max_pool_backward_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.in_count) {
    return;
  }
  let k = cover(i);
  var sum = 0.0;
  for (var oy = k.rows.x; oy <= k.rows.y; oy++) {
    for (var ox = k.cols.x; ox <= k.cols.y; ox++) {
      let o = k.base + (oy * params.out_w + ox) * params.pixel_len;
      if (first_argmax(o) == i) {
        sum += dy[o];
      }
    }
  }
  dx[i] = sum;
}

// dx[i] = sum of dy[o] / (valid elements of o's window) over the windows that hold element i.
@compute @workgroup_size(WORKGROUP_SIZE)
fn avg_pool_backward_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.in_count) {
    return;
  }
  let k = cover(i);
  var sum = 0.0;
  for (var oy = k.rows.x; oy <= k.rows.y; oy++) {
    for (var ox = k.cols.x; ox <= k.cols.y; ox++) {
      let o = k.base + (oy * params.out_w + ox) * params.pixel_len;
      let w = window(o);
      sum += dy[o] / f32(w.rows * w.cols);
    }
  }
  dx[i] = sum;
}
