// Reductions along one axis (launchers and CPU references in src/ops/reduce.ts): column sums (the
// bias gradient), and the statistics of Larq's kernel quantizers (sum |x| per channel or over the
// tensor, max |tanh x| over the tensor). Chunked: an invocation reduces `chunk` consecutive rows of
// one column, in order, to a partial; the launcher repeats the pass on the partials until one row is
// left. Neighbouring invocations take neighbouring columns, so loads coalesce for the 'last' axis.
// Work is indexed flat, wid.x + wid.y * num_workgroups.x, so grids past 65535 fold into 2D.

struct ReduceParams {
  rows: u32, // length of the reduced axis
  cols: u32, // outputs: one per column
  row_stride: u32, // element (r, c) of x is x[r * row_stride + c * col_stride]
  col_stride: u32,
  chunk: u32, // rows per invocation; this pass writes ceil(rows / chunk) rows of cols partials
  finish: u32, // 1 on the last pass: y = (factor * acc) / divisor
  factor: f32,
  divisor: f32,
}

override WORKGROUP_SIZE: u32 = 64;
// What each element becomes before it is reduced: 0 itself, 1 |x|, 2 |tanh x|. Later passes: 0.
override MAP: u32 = 0;
// 0 sum, 1 max (of non-negative values: MAP 1 or 2, and their partials; the start value is 0).
override OP: u32 = 0;

@group(0) @binding(0) var<uniform> params: ReduceParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

//#include "lib/tanh.wgsl"

fn mapped(v: f32) -> f32 {
  switch MAP {
    case 1u: {
      return abs(v);
    }
    case 2u: {
      return abs(tanh_exp(v));
    }
    default: {
      return v;
    }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn reduce_columns(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  let chunks = (params.rows + params.chunk - 1u) / params.chunk;
  if (i >= chunks * params.cols) {
    return;
  }
  let c = i % params.cols;
  let k = i / params.cols;
  let start = k * params.chunk;
  let end = min(start + params.chunk, params.rows);
  var acc = 0.0;
  for (var r = start; r < end; r++) {
    let v = mapped(x[r * params.row_stride + c * params.col_stride]);
    acc = select(acc + v, max(acc, v), OP == 1u);
  }
  if (params.finish == 1u) {
    acc = (params.factor * acc) / params.divisor;
  }
  y[k * params.cols + c] = acc;
}
