// Binary x float GEMM by sign tables (the "method of four Russians"), for the backward pass:
// C[M,N] = A[M,K] . B[N,K]^T with A f32 and B b1 packed along K (src/bitpack.ts: bit 1 = -1),
// the same product as gemm_binary_float.wgsl's sign-select, with 8x fewer terms.
//
// K splits into chunks of CHUNK_BITS values. For a chunk, a row of A has only 2^CHUNK_BITS
// possible signed sums, one per bit pattern e of B's chunk:
//   T[c][e][m] = sum_t a[m, CHUNK_BITS*c + t] * (bit t of e ? -1 : +1)
//              = S - 2 * sum_{t in e} a_t          (S: the chunk's plain sum)
// sign_tables writes them once per (chunk, row); gemm_sign_table then adds, for each output,
// one table entry per chunk (picked by the CHUNK_BITS bits of B's word) instead of CHUNK_BITS
// sign-selected terms:
//   C[m, n] = sum_c T[c][bits of B[n] in chunk c][m].
// Flipping every bit negates the sum, T[~e] = -T[e], so only the half with the chunk's last bit 0
// is stored (STORED = 2^(CHUNK_BITS-1) entries); a pattern with it set reads its complement and
// negates. Table building costs STORED entries per (chunk, row), shared by all N columns, so it
// pays when N >> STORED / CHUNK_BITS (backward GEMMs of a 512-unit layer: N = 512 or 784).
// Values of A past K read as 0, so pad bits (0 = +1) and rows of B past N add nothing.
// Sums run in another order than a plain dot product: results agree with it to f32 rounding.

// A long K is done in slices (the table of all of K could be large: ceil(K/CHUNK_BITS) *
// 2^CHUNK_BITS * M floats): values k_base .. k_base + K - 1 of A's rows and words w_base .. of B's,
// each slice adding onto the output of the one before (ACCUMULATE).
struct Params {
  M: u32,
  N: u32,
  K: u32,        // values in this slice
  k_words: u32,  // words of B's rows in this slice: ceil(K / 32)
  chunks: u32,   // ceil(K / CHUNK_BITS)
  tiles_n: u32,  // ceil(N / TILE_N)
  tiles: u32,    // tiles_n * ceil(M / TILE_M)
  a_stride: u32, // values per row of A (the whole K)
  k_base: u32,   // the slice's first value (a multiple of 32)
  b_stride: u32, // words per row of B (the whole K)
}

const R = 4u;
// 4 or 8 (a divisor of 32, and the table build below covers up to 8).
override CHUNK_BITS: u32 = 8;
override ENTRIES: u32 = 1u << CHUNK_BITS;
override STORED: u32 = ENTRIES / 2u;
override FLAT_WG: u32 = 64;
// The tiled GEMM's invocations, as in the other GEMMs: WG_X along N, WG_Y along M; each computes
// R x R outputs. (Lanes on consecutive rows would read consecutive table values: worth trying on
// GPUs; CPU adapters gather per lane either way.)
override WG_X: u32 = 8;
override WG_Y: u32 = 8;
// Words of B per K step (the loop over them has this constant trip count).
override TILE_K_WORDS: u32 = 1;
// Set by the shared GEMM launcher; the tables are read from storage either way.
override USE_WORKGROUP_TILES: bool = false;
// Add onto the output (every slice after the first).
override ACCUMULATE: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read_write> table_out: array<f32>;
@group(0) @binding(4) var<storage, read> table: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

fn a_value(m: u32, k: u32) -> f32 {
  if (k >= params.K) {
    return 0.0;
  }
  return a[m * params.a_stride + params.k_base + k];
}

// Writes entries first + l, l < 4 * quads, as S - 2*(lo[l] + hi): lo holds the masked sums of the
// chunk's first values over their bit patterns, as vec4 (l = 4q + 0..3).
fn emit(first: u32, m: u32, s: f32, lo: array<vec4f, 4>, quads: u32, hi: f32) {
  for (var q = 0u; q < quads; q++) {
    let v = vec4f(s) - 2.0 * (lo[q] + vec4f(hi));
    let e = first + 4u * q;
    table_out[e * params.M + m] = v.x;
    table_out[(e + 1u) * params.M + m] = v.y;
    table_out[(e + 2u) * params.M + m] = v.z;
    table_out[(e + 3u) * params.M + m] = v.w;
  }
}

// The masked sums of four values over the 16 patterns of their bits, as four vec4 (pattern 4q + r).
fn sums16(v: vec4f) -> array<vec4f, 4> {
  let base = vec4f(0.0, v.x, v.y, v.x + v.y);
  return array<vec4f, 4>(base, base + v.z, base + v.w, base + (v.z + v.w));
}

// One invocation per (chunk, row of A): the chunk's STORED signed sums of the row (last bit 0).
@compute @workgroup_size(FLAT_WG)
fn sign_tables(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * FLAT_WG + lid;
  if (i >= params.chunks * params.M) {
    return;
  }
  let c = i / params.M;
  let m = i % params.M;
  let k0 = c * CHUNK_BITS;
  let v0 = vec4f(a_value(m, k0), a_value(m, k0 + 1u), a_value(m, k0 + 2u), a_value(m, k0 + 3u));
  let first = c * STORED;
  let lo = sums16(v0);
  if (CHUNK_BITS == 4u) {
    emit(first, m, dot(v0, vec4f(1.0)), lo, 2u, 0.0); // patterns 0..7: a3's bit 0
    return;
  }
  let v1 = vec4f(a_value(m, k0 + 4u), a_value(m, k0 + 5u), a_value(m, k0 + 6u), a_value(m, k0 + 7u));
  let s = dot(v0, vec4f(1.0)) + dot(v1, vec4f(1.0));
  let hi = sums16(vec4f(v1.xyz, 0.0)); // a7's bit 0: the 8 patterns of a4..a6, in hi[0] and hi[1]
  for (var q = 0u; q < 2u; q++) {
    let h = hi[q];
    emit(first + 64u * q, m, s, lo, 4u, h.x);
    emit(first + 64u * q + 16u, m, s, lo, 4u, h.y);
    emit(first + 64u * q + 32u, m, s, lo, 4u, h.z);
    emit(first + 64u * q + 48u, m, s, lo, 4u, h.w);
  }
}

fn word_b(n: u32, w: u32) -> u32 {
  if (n >= params.N) {
    return 0u;
  }
  return b[n * params.b_stride + params.k_base / 32u + w];
}

// Four rows' values of pattern e of chunk c (rows r.x..r.w, clamped to M - 1): the stored entry,
// or the negated entry of the complement when e's last bit is set.
fn entries(c: u32, e: u32, r: vec4u) -> vec4f {
  let flip = (e >> (CHUNK_BITS - 1u)) == 1u;
  let at = (c * STORED + select(e, e ^ (ENTRIES - 1u), flip)) * params.M;
  let v = vec4f(table[at + r.x], table[at + r.y], table[at + r.z], table[at + r.w]);
  return select(v, -v, flip);
}

@compute @workgroup_size(WG_X, WG_Y)
fn gemm_sign_table(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_id) lid3: vec3u) {
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= params.tiles) {
    return;
  }
  let m0 = (tile / params.tiles_n) * (WG_Y * R) + lid3.y;
  let n0 = (tile % params.tiles_n) * (WG_X * R) + lid3.x;
  let rows = min(vec4u(m0) + vec4u(0u, 1u, 2u, 3u) * WG_Y, vec4u(params.M - 1u));
  let cols = vec4u(n0) + vec4u(0u, 1u, 2u, 3u) * WG_X;
  // acc<j>: column j's outputs for the invocation's four rows.
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  let per_word = 32u / CHUNK_BITS;
  for (var w0 = 0u; w0 < params.k_words; w0 += TILE_K_WORDS) {
    for (var dw = 0u; dw < TILE_K_WORDS; dw++) {
      let w = w0 + dw;
      if (w >= params.k_words) {
        break;
      }
      let bw = vec4u(word_b(cols.x, w), word_b(cols.y, w), word_b(cols.z, w), word_b(cols.w, w));
      for (var s = 0u; s < per_word; s++) {
        let c = w * per_word + s;
        if (c >= params.chunks) {
          break;
        }
        let e = (bw >> vec4u(s * CHUNK_BITS)) & vec4u(ENTRIES - 1u);
        acc0 += entries(c, e.x, rows);
        acc1 += entries(c, e.y, rows);
        acc2 += entries(c, e.z, rows);
        acc3 += entries(c, e.w, rows);
      }
    }
  }
  let acc = array<vec4f, 4>(acc0, acc1, acc2, acc3);
  for (var j = 0u; j < R; j++) {
    let n = n0 + j * WG_X;
    for (var i = 0u; i < R; i++) {
      let m = m0 + i * WG_Y;
      if (m < params.M && n < params.N) {
        let o = m * params.N + n;
        if (ACCUMULATE) {
          out[o] += acc[j][i];
        } else {
          out[o] = acc[j][i];
        }
      }
    }
  }
}
