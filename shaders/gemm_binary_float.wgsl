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
  var acc: array<array<vec4f, R>, R>;
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
      var bw: array<u32, R>;
      for (var j = 0u; j < R; j++) {
        if (USE_WORKGROUP_TILES) {
          bw[j] = tile_b[(tx + j * WG_X) * TILE_K_WORDS + w];
        } else {
          bw[j] = word_b(n0 + tx + j * WG_X, w0 + w);
        }
      }
      for (var q = 0u; q < VECS_PER_WORD; q++) {
        var av: array<vec4u, R>;
        for (var i = 0u; i < R; i++) {
          if (USE_WORKGROUP_TILES) {
            av[i] = bitcast<vec4u>(tile_a[(ty + i * WG_Y) * a_vecs + w * VECS_PER_WORD + q]);
          } else {
            av[i] = bitcast<vec4u>(row_vec_a(m0 + ty + i * WG_Y, ((w0 + w) * VECS_PER_WORD + q) * 4u));
          }
        }
        for (var j = 0u; j < R; j++) {
          let signs = sign_masks(bw[j], q);
          for (var i = 0u; i < R; i++) {
            acc[i][j] += bitcast<vec4f>(av[i] ^ signs);
          }
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
        let s = acc[i][j];
        out[m * params.N + n] = (s.x + s.y) + (s.z + s.w);
      }
    }
  }
}
