// fp32 GEMM, the honest baseline every binary speed-up is measured against:
// C[M,N] = A[M,K] . B[N,K]^T, both operands K-contiguous (the same layout as the binary GEMM).
//
// Same structure and tuning knobs as gemm_binary.wgsl: a workgroup computes a TILE_M x TILE_N
// tile, an invocation R x R outputs strided by the workgroup size; K advances TILE_K_VEC x 4
// floats per step, staged through workgroup memory as vec4<f32> (or read straight from storage
// with USE_WORKGROUP_TILES = false); each vec4 pair is one dot(): four multiply-adds.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  tiles_n: u32, // ceil(N / TILE_N)
  tiles: u32,   // tiles_n * ceil(M / TILE_M)
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

var<workgroup> tile_a: array<vec4f, TILE_M * TILE_K_VEC>;
var<workgroup> tile_b: array<vec4f, TILE_N * TILE_K_VEC>;

// Values k..k+3 of a row, zero past the row's end or past the last row.
fn row_vec_a(row: u32, k: u32) -> vec4f {
  if (row >= params.M) {
    return vec4f(0.0);
  }
  let i = row * params.K + k;
  if (k + 4u <= params.K) {
    return vec4f(a[i], a[i + 1u], a[i + 2u], a[i + 3u]);
  }
  var v = vec4f(0.0);
  for (var c = 0u; k + c < params.K; c++) {
    v[c] = a[i + c];
  }
  return v;
}

fn row_vec_b(row: u32, k: u32) -> vec4f {
  if (row >= params.N) {
    return vec4f(0.0);
  }
  let i = row * params.K + k;
  if (k + 4u <= params.K) {
    return vec4f(b[i], b[i + 1u], b[i + 2u], b[i + 3u]);
  }
  var v = vec4f(0.0);
  for (var c = 0u; k + c < params.K; c++) {
    v[c] = b[i + c];
  }
  return v;
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
  var acc: array<array<f32, R>, R>;
  let k_vecs = (params.K + 3u) / 4u;
  for (var kv0 = 0u; kv0 < k_vecs; kv0 += TILE_K_VEC) {
    if (USE_WORKGROUP_TILES) {
      for (var s = lid; s < TILE_M * TILE_K_VEC; s += WG_X * WG_Y) {
        tile_a[s] = row_vec_a(m0 + s / TILE_K_VEC, (kv0 + s % TILE_K_VEC) * 4u);
      }
      for (var s = lid; s < TILE_N * TILE_K_VEC; s += WG_X * WG_Y) {
        tile_b[s] = row_vec_b(n0 + s / TILE_K_VEC, (kv0 + s % TILE_K_VEC) * 4u);
      }
      workgroupBarrier();
    }
    for (var v = 0u; v < TILE_K_VEC; v++) {
      var av: array<vec4f, R>;
      var bv: array<vec4f, R>;
      for (var i = 0u; i < R; i++) {
        if (USE_WORKGROUP_TILES) {
          av[i] = tile_a[(ty + i * WG_Y) * TILE_K_VEC + v];
          bv[i] = tile_b[(tx + i * WG_X) * TILE_K_VEC + v];
        } else {
          av[i] = row_vec_a(m0 + ty + i * WG_Y, (kv0 + v) * 4u);
          bv[i] = row_vec_b(n0 + tx + i * WG_X, (kv0 + v) * 4u);
        }
      }
      for (var i = 0u; i < R; i++) {
        for (var j = 0u; j < R; j++) {
          acc[i][j] += dot(av[i], bv[j]);
        }
      }
    }
    if (USE_WORKGROUP_TILES) {
      workgroupBarrier();
    }
  }
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
