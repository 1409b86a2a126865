// fp32 GEMM, the honest baseline every binary speed-up is measured against:
// C[M,N] = A[M,K] . B[N,K]^T, both operands K-contiguous (the same layout as the binary GEMM).
//
// Same structure and tuning knobs as gemm_binary.wgsl: a workgroup computes a TILE_M x TILE_N
// tile, an invocation R x R outputs strided by the workgroup size; K advances TILE_K_VEC x 4
// floats per step, staged through workgroup memory as vec4<f32> (or read straight from storage
// with USE_WORKGROUP_TILES = false); a 4 x 4 block takes four matrix-vector multiply-adds per K step.
//
// With IM2COL it is the fp32 convolution baseline (src/ops/conv2d.ts), an implicit GEMM exactly like
// gemm_binary.wgsl's: A the f32 NHWC input read through the window (row = output pixel), B the f32
// OHWI weights; K steps through (tap, 4-channel chunk). The input arrives zero-padded
// (src/ops/pad.ts), so taps need no bounds checks.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  tiles_n: u32, // ceil(N / TILE_N)
  tiles: u32,   // tiles_n * ceil(M / TILE_M)
  // Convolution geometry (IM2COL only; zeros for a plain GEMM). K = taps * channels there.
  src_h: u32,    // the padded input that A reads
  src_w: u32,
  channels: u32,
  c_chunks: u32, // ceil(channels / 4): K steps per tap
  out_w: u32,
  out_hw: u32,   // out_h * out_w
  kernel_h: u32,
  kernel_w: u32,
  stride_h: u32,
  stride_w: u32,
  dilation_h: u32,
  dilation_w: u32,
}

const R = 4u;
override WG_X: u32 = 16;
override WG_Y: u32 = 16;
override TILE_K_VEC: u32 = 4;
override USE_WORKGROUP_TILES: bool = true;
override TILE_M: u32 = WG_Y * R;
override TILE_N: u32 = WG_X * R;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Sized 1 when USE_WORKGROUP_TILES is false: declared arrays count against the workgroup storage limit.
var<workgroup> tile_a: array<vec4f, select(1u, TILE_M * TILE_K_VEC, USE_WORKGROUP_TILES)>;
var<workgroup> tile_b: array<vec4f, select(1u, TILE_N * TILE_K_VEC, USE_WORKGROUP_TILES)>;

// A row's length in floats, and a pixel's, for shaders/lib/implicit_gemm.wgsl.
fn row_len() -> u32 {
  return params.K;
}

fn pixel_len() -> u32 {
  return params.channels;
}

//#include "lib/implicit_gemm.wgsl"

// Up to four values of one operand from `first`, zero past `count`.
fn values_a(first: u32, count: u32) -> vec4f {
  if (count == 4u) {
    return vec4f(a[first], a[first + 1u], a[first + 2u], a[first + 3u]);
  }
  var v = vec4f(0.0);
  for (var c = 0u; c < count; c++) {
    v[c] = a[first + c];
  }
  return v;
}

fn values_b(first: u32, count: u32) -> vec4f {
  if (count == 4u) {
    return vec4f(b[first], b[first + 1u], b[first + 2u], b[first + 3u]);
  }
  var v = vec4f(0.0);
  for (var c = 0u; c < count; c++) {
    v[c] = b[first + c];
  }
  return v;
}

// A's values for step t of a row, zero for rows past M.
fn a_vec(o: RowOrigin, t: KStep) -> vec4f {
  if (!o.ok) {
    return vec4f(0.0);
  }
  if (spans_taps()) {
    var v = vec4f(0.0);
    for (var c = 0u; c < t.count; c++) {
      v[c] = a[o.base + t.spread[c]];
    }
    return v;
  }
  return values_a(o.base + t.a, t.count);
}

fn b_vec(col: u32, t: KStep) -> vec4f {
  if (col >= params.N) {
    return vec4f(0.0);
  }
  return values_b(col * params.K + t.b, t.count);
}

@compute @workgroup_size(WG_X, WG_Y)
fn gemm_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_id) lid3: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= params.tiles) {
    return;
  }
  let m0 = (tile / params.tiles_n) * TILE_M;
  let n0 = (tile % params.tiles_n) * TILE_N;
  let tx = lid3.x;
  let ty = lid3.y;
  // Row i of the invocation's 4 x 4 block in acc<i>, column j in component j. Named vectors, not
  // arrays: indexed arrays land in memory on CPU adapters, whose JITs do not unroll loops.
  var acc0: vec4f;
  var acc1: vec4f;
  var acc2: vec4f;
  var acc3: vec4f;
  let steps = k_steps();
  // Direct reads decode this invocation's rows once; staged reads decode per staged row.
  let o0 = row_origin(m0 + ty);
  let o1 = row_origin(m0 + ty + WG_Y);
  let o2 = row_origin(m0 + ty + 2u * WG_Y);
  let o3 = row_origin(m0 + ty + 3u * WG_Y);
  for (var kv0 = 0u; kv0 < steps; kv0 += TILE_K_VEC) {
    if (USE_WORKGROUP_TILES) {
      for (var s = lid; s < TILE_M * TILE_K_VEC; s += WG_X * WG_Y) {
        let kv = kv0 + s % TILE_K_VEC;
        tile_a[s] = vec4f(0.0);
        if (kv < steps) {
          tile_a[s] = a_vec(row_origin(m0 + s / TILE_K_VEC), k_step(kv));
        }
      }
      for (var s = lid; s < TILE_N * TILE_K_VEC; s += WG_X * WG_Y) {
        let kv = kv0 + s % TILE_K_VEC;
        tile_b[s] = vec4f(0.0);
        if (kv < steps) {
          tile_b[s] = b_vec(n0 + s / TILE_K_VEC, k_step(kv));
        }
      }
      workgroupBarrier();
    }
    for (var v = 0u; v < TILE_K_VEC; v++) {
      var a0: vec4f; var a1: vec4f; var a2: vec4f; var a3: vec4f;
      var b: mat4x4f; // column j: 4 values along K of row n0 + tx + j*WG_X of B
      if (USE_WORKGROUP_TILES) {
        a0 = tile_a[ty * TILE_K_VEC + v];
        a1 = tile_a[(ty + WG_Y) * TILE_K_VEC + v];
        a2 = tile_a[(ty + 2u * WG_Y) * TILE_K_VEC + v];
        a3 = tile_a[(ty + 3u * WG_Y) * TILE_K_VEC + v];
        b = mat4x4f(tile_b[tx * TILE_K_VEC + v], tile_b[(tx + WG_X) * TILE_K_VEC + v],
                    tile_b[(tx + 2u * WG_X) * TILE_K_VEC + v], tile_b[(tx + 3u * WG_X) * TILE_K_VEC + v]);
      } else {
        if (kv0 + v >= steps) {
          break;
        }
        let t = k_step(kv0 + v);
        a0 = a_vec(o0, t);
        a1 = a_vec(o1, t);
        a2 = a_vec(o2, t);
        a3 = a_vec(o3, t);
        b = mat4x4f(b_vec(n0 + tx, t), b_vec(n0 + tx + WG_X, t), b_vec(n0 + tx + 2u * WG_X, t), b_vec(n0 + tx + 3u * WG_X, t));
      }
      // (bt * a)[j] = sum_k b[j][k] * a[k]: four vec4 multiply-adds per row, no horizontal sums.
      let bt = transpose(b);
      acc0 += bt * a0;
      acc1 += bt * a1;
      acc2 += bt * a2;
      acc3 += bt * a3;
    }
    if (USE_WORKGROUP_TILES) {
      workgroupBarrier();
    }
  }
  let acc = mat4x4f(acc0, acc1, acc2, acc3); // acc[i][j]
  for (var i = 0u; i < R; i++) {
    for (var j = 0u; j < R; j++) {
      let m = m0 + ty + i * WG_Y;
      let n = n0 + tx + j * WG_X;
      if (m < params.M && n < params.N) {
        out[m * params.N + n] = acc[i][j];
      }
    }
  }
}
