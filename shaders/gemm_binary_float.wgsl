// Binary x float GEMM: C[M,N] = A[M,K] . B[N,K]^T with A f32 and B b1 packed along K
// (src/bitpack.ts), float result, no multiplications: each term is a[k] with its sign bit flipped
// where b's bit is 1 (-1), i.e. a sign-select done as one xor. It serves the first layer of a
// network (real-valued input, binary weights) and, later, the backward pass.
//
// Same tiling scheme as gemm_binary.wgsl: TILE_M x TILE_N per workgroup, R x R per invocation;
// K advances TILE_K_WORDS x 32 values per step, A staged as vec4<f32>, B as packed words (or both
// read straight from storage with USE_WORKGROUP_TILES = false). Zero-filled A past K makes B's pad
// bits irrelevant.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  k_words: u32, // ceil(K / 32): words per row of B
  tiles_n: u32, // ceil(N / TILE_N)
  tiles: u32,   // tiles_n * ceil(M / TILE_M)
}

const R = 4u;
const VECS_PER_WORD = 8u; // 32 floats of A per packed word of B
override WG_X: u32 = 16;
override WG_Y: u32 = 16;
override TILE_K_WORDS: u32 = 1;
override USE_WORKGROUP_TILES: bool = true;
override TILE_M: u32 = WG_Y * R;
override TILE_N: u32 = WG_X * R;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> tile_a: array<vec4f, TILE_M * TILE_K_WORDS * VECS_PER_WORD>;
var<workgroup> tile_b: array<u32, TILE_N * TILE_K_WORDS>;

// Values k..k+3 of a row of A, zero past the row's end or past the last row.
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

fn word_b(row: u32, w: u32) -> u32 {
  if (row >= params.N || w >= params.k_words) {
    return 0u;
  }
  return b[row * params.k_words + w];
}

// Sign masks (bit 31) for values 4q..4q+3 of a packed word.
fn sign_masks(word: u32, q: u32) -> vec4u {
  return ((vec4u(word >> (4u * q)) >> vec4u(0u, 1u, 2u, 3u)) & vec4u(1u)) << vec4u(31u);
}

// Four values of A with the signs of four rows of B applied (an xor of the sign bit, no multiply).
fn signed_terms(a: vec4f, s0: vec4u, s1: vec4u, s2: vec4u, s3: vec4u) -> mat4x4f {
  let bits = bitcast<vec4u>(a);
  return mat4x4f(bitcast<vec4f>(bits ^ s0), bitcast<vec4f>(bits ^ s1), bitcast<vec4f>(bits ^ s2), bitcast<vec4f>(bits ^ s3));
}

fn column_sums(m: mat4x4f) -> vec4f {
  let s = transpose(m); // s[k][j] = m[j][k]
  return (s[0] + s[1]) + (s[2] + s[3]);
}

@compute @workgroup_size(WG_X, WG_Y)
fn gemm_binary_float(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_id) lid3: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= params.tiles) {
    return;
  }
  let m0 = (tile / params.tiles_n) * TILE_M;
  let n0 = (tile % params.tiles_n) * TILE_N;
  let tx = lid3.x;
  let ty = lid3.y;
  // Partial sums of row i of the invocation's 4 x 4 block in acc<i>: column j holds four partial
  // sums of output (i, j). Named, not arrays: indexed arrays land in memory on CPU adapters.
  var acc0: mat4x4f;
  var acc1: mat4x4f;
  var acc2: mat4x4f;
  var acc3: mat4x4f;
  let a_vecs = TILE_K_WORDS * VECS_PER_WORD;
  for (var w0 = 0u; w0 < params.k_words; w0 += TILE_K_WORDS) {
    if (USE_WORKGROUP_TILES) {
      for (var s = lid; s < TILE_M * a_vecs; s += WG_X * WG_Y) {
        tile_a[s] = row_vec_a(m0 + s / a_vecs, (w0 * VECS_PER_WORD + s % a_vecs) * 4u);
      }
      for (var s = lid; s < TILE_N * TILE_K_WORDS; s += WG_X * WG_Y) {
        tile_b[s] = word_b(n0 + s / TILE_K_WORDS, w0 + s % TILE_K_WORDS);
      }
      workgroupBarrier();
    }
    for (var w = 0u; w < TILE_K_WORDS; w++) {
      var bw: vec4u; // one packed word of each of the block's 4 rows of B
      if (USE_WORKGROUP_TILES) {
        bw = vec4u(tile_b[tx * TILE_K_WORDS + w], tile_b[(tx + WG_X) * TILE_K_WORDS + w],
                   tile_b[(tx + 2u * WG_X) * TILE_K_WORDS + w], tile_b[(tx + 3u * WG_X) * TILE_K_WORDS + w]);
      } else {
        bw = vec4u(word_b(n0 + tx, w0 + w), word_b(n0 + tx + WG_X, w0 + w),
                   word_b(n0 + tx + 2u * WG_X, w0 + w), word_b(n0 + tx + 3u * WG_X, w0 + w));
      }
      for (var q = 0u; q < VECS_PER_WORD; q++) {
        var a0: vec4f; var a1: vec4f; var a2: vec4f; var a3: vec4f;
        if (USE_WORKGROUP_TILES) {
          let at = w * VECS_PER_WORD + q;
          a0 = tile_a[ty * a_vecs + at];
          a1 = tile_a[(ty + WG_Y) * a_vecs + at];
          a2 = tile_a[(ty + 2u * WG_Y) * a_vecs + at];
          a3 = tile_a[(ty + 3u * WG_Y) * a_vecs + at];
        } else {
          let k = ((w0 + w) * VECS_PER_WORD + q) * 4u;
          a0 = row_vec_a(m0 + ty, k);
          a1 = row_vec_a(m0 + ty + WG_Y, k);
          a2 = row_vec_a(m0 + ty + 2u * WG_Y, k);
          a3 = row_vec_a(m0 + ty + 3u * WG_Y, k);
        }
        let s0 = sign_masks(bw.x, q);
        let s1 = sign_masks(bw.y, q);
        let s2 = sign_masks(bw.z, q);
        let s3 = sign_masks(bw.w, q);
        acc0 += signed_terms(a0, s0, s1, s2, s3);
        acc1 += signed_terms(a1, s0, s1, s2, s3);
        acc2 += signed_terms(a2, s0, s1, s2, s3);
        acc3 += signed_terms(a3, s0, s1, s2, s3);
      }
    }
    if (USE_WORKGROUP_TILES) {
      workgroupBarrier();
    }
  }
  // acc[i][j]: the sum of output (i, j).
  let acc = mat4x4f(column_sums(acc0), column_sums(acc1), column_sums(acc2), column_sums(acc3));
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
