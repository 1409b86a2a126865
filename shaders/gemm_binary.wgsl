// XNOR-popcount GEMM: C[M,N] = A[M,K] . B[N,K]^T over +-1 values, A and B b1 packed along K
// (src/bitpack.ts): dot = K - 2 * sum_w countOneBits(a[w] ^ b[w]). Pad bits are 0 in both
// operands, so they xor to 0 and the true K is the only correction.
//
// A workgroup computes one TILE_M x TILE_N tile of C, an invocation R x R outputs of it, strided
// by the workgroup size so neighbouring invocations write neighbouring columns. K advances
// TILE_K_VEC x 128 bits per step, staged through workgroup memory as vec4<u32> (or, with
// USE_WORKGROUP_TILES = false, read straight from storage: CPU adapters such as SwiftShader
// prefer that). The three entry points share the main loop and differ in the fused epilogue:
//   gemm_i32           C as i32
//   gemm_affine_f32    C as f32: dot * scale[n] + bias[n]  (XNOR-Net scaling, folded BatchNorm)
//   gemm_threshold_b1  C as b1 packed along N: bit set (-1) where dot < threshold[n], or where
//                      dot > threshold[n] for flipped channels (flip[n] != 0): BatchNorm and sign
//                      folded to integers, so the next binary layer reads bits.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  k_words: u32, // ceil(K / 32): words per row of A and B
  n_words: u32, // ceil(N / 32): words per row of a b1 output
  tiles_n: u32, // ceil(N / TILE_N)
  tiles: u32,   // tiles_n * ceil(M / TILE_M): the workgroups that do work (the grid may hold more)
}

const R = 4u;
override WG_X: u32 = 16;
override WG_Y: u32 = 16;
override TILE_K_VEC: u32 = 2;
override USE_WORKGROUP_TILES: bool = true;
override TILE_M: u32 = WG_Y * R;
override TILE_N: u32 = WG_X * R;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read_write> out_i32: array<i32>;
@group(0) @binding(4) var<storage, read_write> out_f32: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_b1: array<u32>;
@group(0) @binding(6) var<storage, read> scale: array<f32>;
@group(0) @binding(7) var<storage, read> bias: array<f32>;
@group(0) @binding(8) var<storage, read> threshold: array<i32>;
@group(0) @binding(9) var<storage, read> flip: array<u32>;

var<workgroup> tile_a: array<vec4u, TILE_M * TILE_K_VEC>;
var<workgroup> tile_b: array<vec4u, TILE_N * TILE_K_VEC>;
var<workgroup> tile_bits: array<atomic<u32>, TILE_M * TILE_N / 32>;

// This invocation's tile origin and its count of mismatching bits per output.
var<private> m0: u32;
var<private> n0: u32;
var<private> mismatches: array<array<u32, R>, R>;

// Words w..w+3 of a packed row starting at `base`, zero past the row's end (the pad convention).
fn row_words_a(row: u32, w: u32) -> vec4u {
  if (row >= params.M) {
    return vec4u(0u);
  }
  let i = row * params.k_words + w;
  if (w + 4u <= params.k_words) {
    return vec4u(a[i], a[i + 1u], a[i + 2u], a[i + 3u]);
  }
  var v = vec4u(0u);
  for (var c = 0u; w + c < params.k_words; c++) {
    v[c] = a[i + c];
  }
  return v;
}

fn row_words_b(row: u32, w: u32) -> vec4u {
  if (row >= params.N) {
    return vec4u(0u);
  }
  let i = row * params.k_words + w;
  if (w + 4u <= params.k_words) {
    return vec4u(b[i], b[i + 1u], b[i + 2u], b[i + 3u]);
  }
  var v = vec4u(0u);
  for (var c = 0u; w + c < params.k_words; c++) {
    v[c] = b[i + c];
  }
  return v;
}

fn accumulate(tile: u32, tx: u32, ty: u32, lid: u32) {
  m0 = (tile / params.tiles_n) * TILE_M;
  n0 = (tile % params.tiles_n) * TILE_N;
  let k_vecs = (params.k_words + 3u) / 4u;
  for (var kv0 = 0u; kv0 < k_vecs; kv0 += TILE_K_VEC) {
    if (USE_WORKGROUP_TILES) {
      for (var s = lid; s < TILE_M * TILE_K_VEC; s += WG_X * WG_Y) {
        tile_a[s] = row_words_a(m0 + s / TILE_K_VEC, (kv0 + s % TILE_K_VEC) * 4u);
      }
      for (var s = lid; s < TILE_N * TILE_K_VEC; s += WG_X * WG_Y) {
        tile_b[s] = row_words_b(n0 + s / TILE_K_VEC, (kv0 + s % TILE_K_VEC) * 4u);
      }
      workgroupBarrier();
    }
    for (var v = 0u; v < TILE_K_VEC; v++) {
      var av: array<vec4u, R>;
      var bv: array<vec4u, R>;
      for (var i = 0u; i < R; i++) {
        if (USE_WORKGROUP_TILES) {
          av[i] = tile_a[(ty + i * WG_Y) * TILE_K_VEC + v];
          bv[i] = tile_b[(tx + i * WG_X) * TILE_K_VEC + v];
        } else {
          av[i] = row_words_a(m0 + ty + i * WG_Y, (kv0 + v) * 4u);
          bv[i] = row_words_b(n0 + tx + i * WG_X, (kv0 + v) * 4u);
        }
      }
      for (var i = 0u; i < R; i++) {
        for (var j = 0u; j < R; j++) {
          mismatches[i][j] += dot(countOneBits(av[i] ^ bv[j]), vec4u(1u));
        }
      }
    }
    if (USE_WORKGROUP_TILES) {
      workgroupBarrier();
    }
  }
}

fn dot_pm1(i: u32, j: u32) -> i32 {
  return i32(params.K) - 2 * i32(mismatches[i][j]);
}

@compute @workgroup_size(WG_X, WG_Y)
fn gemm_i32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_id) lid3: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= params.tiles) {
    return;
  }
  accumulate(tile, lid3.x, lid3.y, lid);
  for (var i = 0u; i < R; i++) {
    for (var j = 0u; j < R; j++) {
      let m = m0 + lid3.y + i * WG_Y;
      let n = n0 + lid3.x + j * WG_X;
      if (m < params.M && n < params.N) {
        out_i32[m * params.N + n] = dot_pm1(i, j);
      }
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y)
fn gemm_affine_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_id) lid3: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= params.tiles) {
    return;
  }
  accumulate(tile, lid3.x, lid3.y, lid);
  for (var i = 0u; i < R; i++) {
    for (var j = 0u; j < R; j++) {
      let m = m0 + lid3.y + i * WG_Y;
      let n = n0 + lid3.x + j * WG_X;
      if (m < params.M && n < params.N) {
        out_f32[m * params.N + n] = f32(dot_pm1(i, j)) * scale[n] + bias[n];
      }
    }
  }
}

// Needs TILE_N to be a multiple of 32, so a tile's columns fill whole output words.
@compute @workgroup_size(WG_X, WG_Y)
fn gemm_threshold_b1(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_id) lid3: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= params.tiles) {
    return;
  }
  accumulate(tile, lid3.x, lid3.y, lid);
  let tile_words = TILE_N / 32u;
  for (var i = 0u; i < R; i++) {
    for (var j = 0u; j < R; j++) {
      let r = lid3.y + i * WG_Y;
      let c = lid3.x + j * WG_X;
      let n = n0 + c;
      if (m0 + r < params.M && n < params.N) {
        let d = dot_pm1(i, j);
        let t = threshold[n];
        if (select((d < t), (d > t), flip[n] != 0u)) {
          atomicOr(&tile_bits[r * tile_words + c / 32u], 1u << (c % 32u));
        }
      }
    }
  }
  workgroupBarrier();
  for (var s = lid; s < TILE_M * tile_words; s += WG_X * WG_Y) {
    let m = m0 + s / tile_words;
    let w = n0 / 32u + s % tile_words;
    if (m < params.M && w < params.n_words) {
      out_b1[m * params.n_words + w] = atomicLoad(&tile_bits[s]);
    }
  }
}
