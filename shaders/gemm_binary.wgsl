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

// Mismatching bits (popcount of a xor b) of an invocation's 4 x 4 outputs: row i of its block in
// r<i>, column j in component j. Named vectors, not arrays: indexed arrays land in memory on CPU
// adapters, whose JITs do not unroll loops.
struct Block {
  r0: vec4u,
  r1: vec4u,
  r2: vec4u,
  r3: vec4u,
}

// Words w..w+3 of row `row` of A, zero past the row's end or past the last row (the pad convention).
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

// Mismatches of one row of A against four rows of B, 128 bits each.
fn mismatches(a: vec4u, b0: vec4u, b1: vec4u, b2: vec4u, b3: vec4u) -> vec4u {
  let one = vec4u(1u);
  return vec4u(dot(countOneBits(a ^ b0), one), dot(countOneBits(a ^ b1), one),
               dot(countOneBits(a ^ b2), one), dot(countOneBits(a ^ b3), one));
}

// The main loop: popcounts of the block at rows m0 + ty + i*WG_Y, columns n0 + tx + j*WG_X.
fn accumulate(m0: u32, n0: u32, tx: u32, ty: u32, lid: u32) -> Block {
  var acc: Block;
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
      var a0: vec4u; var a1: vec4u; var a2: vec4u; var a3: vec4u;
      var b0: vec4u; var b1: vec4u; var b2: vec4u; var b3: vec4u;
      if (USE_WORKGROUP_TILES) {
        a0 = tile_a[ty * TILE_K_VEC + v];
        a1 = tile_a[(ty + WG_Y) * TILE_K_VEC + v];
        a2 = tile_a[(ty + 2u * WG_Y) * TILE_K_VEC + v];
        a3 = tile_a[(ty + 3u * WG_Y) * TILE_K_VEC + v];
        b0 = tile_b[tx * TILE_K_VEC + v];
        b1 = tile_b[(tx + WG_X) * TILE_K_VEC + v];
        b2 = tile_b[(tx + 2u * WG_X) * TILE_K_VEC + v];
        b3 = tile_b[(tx + 3u * WG_X) * TILE_K_VEC + v];
      } else {
        let w = (kv0 + v) * 4u;
        a0 = row_words_a(m0 + ty, w);
        a1 = row_words_a(m0 + ty + WG_Y, w);
        a2 = row_words_a(m0 + ty + 2u * WG_Y, w);
        a3 = row_words_a(m0 + ty + 3u * WG_Y, w);
        b0 = row_words_b(n0 + tx, w);
        b1 = row_words_b(n0 + tx + WG_X, w);
        b2 = row_words_b(n0 + tx + 2u * WG_X, w);
        b3 = row_words_b(n0 + tx + 3u * WG_X, w);
      }
      acc.r0 += mismatches(a0, b0, b1, b2, b3);
      acc.r1 += mismatches(a1, b0, b1, b2, b3);
      acc.r2 += mismatches(a2, b0, b1, b2, b3);
      acc.r3 += mismatches(a3, b0, b1, b2, b3);
    }
    if (USE_WORKGROUP_TILES) {
      workgroupBarrier();
    }
  }
  return acc;
}

// The +-1 dot products of row i of the block: K - 2 * mismatches.
fn dots(acc: Block, i: u32) -> vec4i {
  var m: vec4u;
  switch (i) {
    case 0u: { m = acc.r0; }
    case 1u: { m = acc.r1; }
    case 2u: { m = acc.r2; }
    default: { m = acc.r3; }
  }
  return vec4i(i32(params.K)) - 2 * vec4i(m);
}

@compute @workgroup_size(WG_X, WG_Y)
fn gemm_i32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_id) lid3: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= params.tiles) {
    return;
  }
  let m0 = (tile / params.tiles_n) * TILE_M;
  let n0 = (tile % params.tiles_n) * TILE_N;
  let acc = accumulate(m0, n0, lid3.x, lid3.y, lid);
  for (var i = 0u; i < R; i++) {
    let d = dots(acc, i);
    for (var j = 0u; j < R; j++) {
      let m = m0 + lid3.y + i * WG_Y;
      let n = n0 + lid3.x + j * WG_X;
      if (m < params.M && n < params.N) {
        out_i32[m * params.N + n] = d[j];
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
  let m0 = (tile / params.tiles_n) * TILE_M;
  let n0 = (tile % params.tiles_n) * TILE_N;
  let acc = accumulate(m0, n0, lid3.x, lid3.y, lid);
  for (var i = 0u; i < R; i++) {
    let d = dots(acc, i);
    for (var j = 0u; j < R; j++) {
      let m = m0 + lid3.y + i * WG_Y;
      let n = n0 + lid3.x + j * WG_X;
      if (m < params.M && n < params.N) {
        out_f32[m * params.N + n] = f32(d[j]) * scale[n] + bias[n];
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
  let m0 = (tile / params.tiles_n) * TILE_M;
  let n0 = (tile % params.tiles_n) * TILE_N;
  let acc = accumulate(m0, n0, lid3.x, lid3.y, lid);
  let tile_words = TILE_N / 32u;
  for (var i = 0u; i < R; i++) {
    let dv = dots(acc, i);
    for (var j = 0u; j < R; j++) {
      let r = lid3.y + i * WG_Y;
      let c = lid3.x + j * WG_X;
      let n = n0 + c;
      if (m0 + r < params.M && n < params.N) {
        let d = dv[j];
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
