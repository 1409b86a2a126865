// XNOR-Net's input scaling K (launchers and CPU references in src/ops/xnor-scale.ts): per-row
// scale factors on a [rows, cols] tensor, a row being one output position (forward) or one input
// position (backward). scale_rows multiplies each row by its factor (z = K * (x . w), and the
// backward's dz * K); row_dots sums a row's products of two tensors (dL/dK = sum_o dz * (x . w));
// add_signed_rows adds sign(x) * s[row] / divisor to a gradient in place, sign(x) read from its
// packed bits (the bit convention of src/bitpack.ts): d|x|/dx, with sign(0) = +1.
// Work is indexed flat, wid.x + wid.y * num_workgroups.x, so grids past 65535 fold into 2D.

struct Params {
  rows: u32,
  cols: u32,
  words_per_row: u32, // add_signed_rows: ceil(cols / 32) words of bits per row
  divisor: f32, // add_signed_rows: s[row] / divisor
}

override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> s: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read> bits: array<u32>;

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
}

// y[r, c] = x[r, c] * s[r]; one invocation per element.
@compute @workgroup_size(WORKGROUP_SIZE)
fn scale_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.rows * params.cols) {
    return;
  }
  y[i] = x[i] * s[i / params.cols];
}

// y[r] = sum over c of x[r, c] * b[r, c], in column order; one invocation per row.
@compute @workgroup_size(WORKGROUP_SIZE)
fn row_dots(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let r = flat_index(wid, nwg, lid);
  if (r >= params.rows) {
    return;
  }
  var acc = 0.0;
  for (var c = 0u; c < params.cols; c++) {
    acc += x[r * params.cols + c] * b[r * params.cols + c];
  }
  y[r] = acc;
}

// y[r, c] += (bit (r, c) set ? -1 : +1) * (s[r] / divisor); one invocation per element.
@compute @workgroup_size(WORKGROUP_SIZE)
fn add_signed_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.rows * params.cols) {
    return;
  }
  let r = i / params.cols;
  let c = i % params.cols;
  let negative = (bits[r * params.words_per_row + c / 32u] >> (c % 32u)) & 1u;
  let g = s[r] / params.divisor;
  y[i] += select(g, -g, negative == 1u);
}
