// fp32 GEMM, the honest baseline every binary speed-up is measured against:
// C[M,N] = A[M,K] . B[N,K]^T, both operands K-contiguous (the same layout as the binary GEMM).
//
// Same structure and tuning knobs as gemm_binary.wgsl: a workgroup computes a TILE_M x TILE_N
// tile, an invocation R x R outputs strided by the workgroup size; K advances TILE_K_VEC x 4
// floats per step, staged through workgroup memory as vec4<f32> (or read straight from storage
// with USE_WORKGROUP_TILES = false); a 4 x 4 block takes four matrix-vector multiply-adds per K step.

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
  // Row i of the invocation's 4 x 4 block in acc<i>, column j in component j. Named vectors, not
  // arrays: indexed arrays land in memory on CPU adapters, whose JITs do not unroll loops.
  var acc0: vec4f;
  var acc1: vec4f;
  var acc2: vec4f;
  var acc3: vec4f;
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
        let k = (kv0 + v) * 4u;
        a0 = row_vec_a(m0 + ty, k);
        a1 = row_vec_a(m0 + ty + WG_Y, k);
        a2 = row_vec_a(m0 + ty + 2u * WG_Y, k);
        a3 = row_vec_a(m0 + ty + 3u * WG_Y, k);
        b = mat4x4f(row_vec_b(n0 + tx, k), row_vec_b(n0 + tx + WG_X, k),
                    row_vec_b(n0 + tx + 2u * WG_X, k), row_vec_b(n0 + tx + 3u * WG_X, k));
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
