// Binary weights meet real-valued inputs (the first layer of a network, and later the backward
// pass). B, the weights, is b1 packed along K (src/bitpack.ts: bit 1 = -1). Two methods:
//
// gemm_binary_float: C[M,N] = A[M,K] . B[N,K]^T with A f32, float result, no multiplications: each
//   term is a[k] with its sign bit flipped where b's bit is 1 (-1), a sign-select done as one xor.
//   With IM2COL it is the convolution of an f32 NHWC input with b1 OHWI weights as an implicit GEMM
//   (src/ops/first-layer.ts, signSelectConv2d): row = output pixel, K steps through (tap, 32-channel
//   word of the tap), B's rows hold one tap's ceil(C/32) words after another, as in bconv2d. Taps
//   outside the image read 0: plain zero padding (a first layer has no input quantizer, so Larq's
//   pad_values does not apply).
//
// bit_planes, window_weights, gemm_bitplane: BinaryNet's bit-plane convolution of 8-bit pixels
//   (Hubara et al. 2016, sec. 2.6): s = sum_n 2^n (x^n . w), x^n in {0,1} the n-th bits of the
//   pixels (f32 integers 0..255 in `a`; bits 0..7 of u32(x) are used). For {0,1} x {+-1} terms,
//   p the plane's bits and w the weights' bits (1 = -1):
//     x^n . w = popcount(p & ~w) - popcount(p & w) = popcount(p) - 2 popcount(p & w),
//   an AND-popcount. The paper's XnorDotProduct reads the plane's bits as +-1 values q = 1 - 2p;
//   then x^n . w = (sum_k w_k - xnor_dot(q, w)) / 2 = popcount(p ^ w) - popcount(w): each filter's
//   weight sum enters as a correction. AND-popcount needs none, and an outside tap (p = 0) adds
//   nothing, so zero padding is free. bit_planes writes, per output pixel and per word of its window (K = taps x C bits), the eight
//   plane words (an explicit im2col of bits: for C = 3 or 1 a whole 3x3 or 5x5 window fits one
//   word); window_weights repacks the OHWI weights to the same bit order; gemm_bitplane is the
//   tiled GEMM over those words: s = P - 2T, P = sum_n 2^n popcount(p_n) per row, T = sum_n 2^n
//   popcount(p_n & w) per output. DENSE_WINDOW = false keeps the OHWI order instead (each tap's C
//   bits start a word, as the implicit GEMM reads them): no weight repack, but 3 of 32 bits used
//   for C = 3.
//
// Tiling, shared by both GEMMs as in gemm_binary.wgsl: TILE_M x TILE_N per workgroup, R x R per
// invocation strided by the workgroup size; K advances TILE_K_WORDS words per step, staged through
// workgroup memory, or read straight from storage with USE_WORKGROUP_TILES = false (CPU adapters).

struct Params {
  M: u32,
  N: u32,
  K: u32,
  k_words: u32, // words per row of B: ceil(K / 32), or taps * c_words (IM2COL, DENSE_WINDOW = false)
  tiles_n: u32, // ceil(N / TILE_N)
  tiles: u32,   // tiles_n * ceil(M / TILE_M)
  // Convolution geometry (IM2COL and the bit-plane entry points; zeros for a plain GEMM).
  in_h: u32,
  in_w: u32,
  channels: u32,
  c_words: u32, // ceil(channels / 32): words per tap of the OHWI b1 weights
  out_w: u32,
  out_hw: u32,  // out_h * out_w
  kernel_h: u32,
  kernel_w: u32,
  stride_h: u32,
  stride_w: u32,
  dilation_h: u32,
  dilation_w: u32,
  pad_top: u32,
  pad_left: u32,
}

const R = 4u;
const VECS_PER_WORD = 8u; // 32 floats of A per packed word of B
override WG_X: u32 = 16;
override WG_Y: u32 = 16;
override TILE_K_WORDS: u32 = 1;
override USE_WORKGROUP_TILES: bool = true;
override IM2COL: bool = false;
// Convolution constants, so the tap decode divides by constants (as in shaders/lib/
// implicit_gemm.wgsl) and the vec4 loop has a constant trip count: kernel width, words per tap
// (ceil(C/32)), vec4s of A per step (ceil(min(C, 32)/4): 1 for C = 3). On SwiftShader no
// measurable change on the seeds' first layers (interleaved A/B); on GPUs a division by a uniform
// is a real division.
override CONV_KERNEL_W: u32 = 1;
override CONV_C_WORDS: u32 = 1;
override CONV_STEP_VECS: u32 = 8;
override DENSE_WINDOW: bool = true;
override FLAT_WG: u32 = 64; // workgroup size of the flat entry points (bit_planes, window_weights)
override TILE_M: u32 = WG_Y * R;
override TILE_N: u32 = WG_X * R;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// Bit planes, [M, k_words, 8] words: planes 0-3 then 4-7 of each word of a row's window.
@group(0) @binding(4) var<storage, read> planes: array<vec4u>;
@group(0) @binding(5) var<storage, read_write> planes_out: array<vec4u>;
@group(0) @binding(6) var<storage, read_write> weights_out: array<u32>;
@group(0) @binding(7) var<storage, read_write> rows_out: array<f32>;

// Sized 1 when USE_WORKGROUP_TILES is false: declared arrays count against the workgroup storage limit.
var<workgroup> tile_a: array<vec4f, select(1u, TILE_M * TILE_K_WORDS * VECS_PER_WORD, USE_WORKGROUP_TILES)>;
var<workgroup> tile_p: array<vec4u, select(1u, TILE_M * TILE_K_WORDS * 2u, USE_WORKGROUP_TILES)>;
var<workgroup> tile_b: array<u32, select(1u, TILE_N * TILE_K_WORDS, USE_WORKGROUP_TILES)>;

// ---- The convolution window ----------------------------------------------------------------

// Where row `row` of A starts: for a GEMM its first value; for a convolution its output pixel's
// image (n*H*W pixels) and the input position of tap (0, 0), which may lie outside the image.
struct RowOrigin {
  ok: bool,
  base: u32,
  ih0: i32,
  iw0: i32,
}

fn conv_origin(row: u32) -> RowOrigin {
  var o: RowOrigin;
  o.ok = row < params.M;
  let n = row / params.out_hw;
  let p = row % params.out_hw;
  o.base = n * params.in_h * params.in_w;
  o.ih0 = i32((p / params.out_w) * params.stride_h) - i32(params.pad_top);
  o.iw0 = i32((p % params.out_w) * params.stride_w) - i32(params.pad_left);
  return o;
}

fn row_origin(row: u32) -> RowOrigin {
  if (IM2COL) {
    return conv_origin(row);
  }
  var o: RowOrigin;
  o.ok = row < params.M;
  o.base = row * params.K;
  return o;
}

// Offset (dh, dw) of tap `tap` (row-major in the kernel) from the window's origin, dilated.
fn tap_offset(tap: u32) -> vec2i {
  return vec2i(i32((tap / CONV_KERNEL_W) * params.dilation_h), i32((tap % CONV_KERNEL_W) * params.dilation_w));
}

// The input pixel (flat over N*H*W) at offset d from a window's origin, or -1 outside the image.
fn pixel_at(o: RowOrigin, d: vec2i) -> i32 {
  let ih = o.ih0 + d.x;
  let iw = o.iw0 + d.y;
  if (ih < 0 || iw < 0 || ih >= i32(params.in_h) || iw >= i32(params.in_w)) {
    return -1;
  }
  return i32(o.base + u32(ih) * params.in_w + u32(iw));
}

// ---- Shared by the two tiled GEMMs: B's words, the output -----------------------------------

fn word_b(row: u32, w: u32) -> u32 {
  if (row >= params.N || w >= params.k_words) {
    return 0u;
  }
  return b[row * params.k_words + w];
}

fn stage_b(n0: u32, w0: u32, lid: u32) {
  for (var s = lid; s < TILE_N * TILE_K_WORDS; s += WG_X * WG_Y) {
    tile_b[s] = word_b(n0 + s / TILE_K_WORDS, w0 + s % TILE_K_WORDS);
  }
}

// Word w0 + w of the invocation's four rows of B (columns n0 + tx + j*WG_X).
fn b_words(n0: u32, tx: u32, w0: u32, w: u32) -> vec4u {
  if (USE_WORKGROUP_TILES) {
    return vec4u(tile_b[tx * TILE_K_WORDS + w], tile_b[(tx + WG_X) * TILE_K_WORDS + w],
                 tile_b[(tx + 2u * WG_X) * TILE_K_WORDS + w], tile_b[(tx + 3u * WG_X) * TILE_K_WORDS + w]);
  }
  return vec4u(word_b(n0 + tx, w0 + w), word_b(n0 + tx + WG_X, w0 + w),
               word_b(n0 + tx + 2u * WG_X, w0 + w), word_b(n0 + tx + 3u * WG_X, w0 + w));
}

// Writes the invocation's block: acc[i][j] is output (m0 + ty + i*WG_Y, n0 + tx + j*WG_X).
fn store(m0: u32, n0: u32, tx: u32, ty: u32, acc: mat4x4f) {
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

// ---- gemm_binary_float: sign-select ---------------------------------------------------------

// One K step (word `word` of B's rows): which of A's values meet it. GEMM: values 32*word on of
// the row; convolution: channels c0 on of the tap's input pixel (offset d from the origin).
struct KStep {
  count: u32, // values of A that are real (the rest of the 32 read as 0)
  c0: u32,
  d: vec2i,
}

fn k_step(word: u32) -> KStep {
  var t: KStep;
  if (IM2COL) {
    t.c0 = (word % CONV_C_WORDS) * 32u;
    t.count = min(32u, params.channels - t.c0);
    t.d = tap_offset(word / CONV_C_WORDS);
  } else {
    t.c0 = word * 32u;
    t.count = min(32u, params.K - t.c0);
  }
  return t;
}

// The vec4s of A a step reads: all 8 in a GEMM (zeros past K cost little there), only those
// holding channels in a convolution (one for C = 3).
fn step_vecs() -> u32 {
  if (IM2COL) {
    return CONV_STEP_VECS;
  }
  return VECS_PER_WORD;
}

// Where a row's values for step t lie in `a`: the first one's index and how many are real (none
// for rows past M and, in a convolution, taps outside the image: zero padding).
struct Span {
  first: u32,
  count: u32,
}

fn a_span(o: RowOrigin, t: KStep) -> Span {
  var s: Span;
  if (!o.ok) {
    return s;
  }
  if (IM2COL) {
    let p = pixel_at(o, t.d);
    if (p >= 0) {
      s.first = u32(p) * params.channels + t.c0;
      s.count = t.count;
    }
  } else {
    s.first = o.base + t.c0;
    s.count = t.count;
  }
  return s;
}

// Values 4q..4q+3 of a span, zero past its count. The partial case (C = 3 takes it at every tap)
// selects instead of looping over components: no vector indexed by a variable, which CPU adapters
// may put in memory (no measurable change on SwiftShader here, interleaved A/B).
fn vec_a(s: Span, q: u32) -> vec4f {
  let k = 4u * q;
  let i = s.first + k;
  if (k + 4u <= s.count) {
    return vec4f(a[i], a[i + 1u], a[i + 2u], a[i + 3u]);
  }
  if (k >= s.count) {
    return vec4f(0.0);
  }
  let n = s.count - k; // 1..3 values, the last of a pixel's channels or of a row: read no further
  let v1 = a[select(i, i + 1u, n > 1u)];
  let v2 = a[select(i, i + 2u, n > 2u)];
  return vec4f(a[i], select(0.0, v1, n > 1u), select(0.0, v2, n > 2u), 0.0);
}

// Sign masks (bit 31) for values 4q..4q+3 of a packed word: each bit shifted up to bit 31.
fn sign_masks(word: u32, q: u32) -> vec4u {
  return (vec4u(word) << (vec4u(31u, 30u, 29u, 28u) - vec4u(4u * q))) & vec4u(0x80000000u);
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
  // Rows decoded once (direct reads); staged reads decode per staged value.
  let o0 = row_origin(m0 + ty);
  let o1 = row_origin(m0 + ty + WG_Y);
  let o2 = row_origin(m0 + ty + 2u * WG_Y);
  let o3 = row_origin(m0 + ty + 3u * WG_Y);
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
        let w = w0 + (s % a_vecs) / VECS_PER_WORD;
        let q = s % VECS_PER_WORD;
        var v = vec4f(0.0);
        if (w < params.k_words) {
          let t = k_step(w);
          if (q < step_vecs()) {
            v = vec_a(a_span(row_origin(m0 + s / a_vecs), t), q);
          }
        }
        tile_a[s] = v;
      }
      stage_b(n0, w0, lid);
      workgroupBarrier();
    }
    for (var w = 0u; w < TILE_K_WORDS; w++) {
      if (w0 + w >= params.k_words) {
        break;
      }
      let bw = b_words(n0, tx, w0, w); // one packed word of each of the block's 4 rows of B
      let t = k_step(w0 + w);
      var s0: Span; var s1: Span; var s2: Span; var s3: Span;
      if (!USE_WORKGROUP_TILES) {
        s0 = a_span(o0, t);
        s1 = a_span(o1, t);
        s2 = a_span(o2, t);
        s3 = a_span(o3, t);
      }
      for (var q = 0u; q < step_vecs(); q++) {
        var a0: vec4f; var a1: vec4f; var a2: vec4f; var a3: vec4f;
        if (USE_WORKGROUP_TILES) {
          let at = w * VECS_PER_WORD + q;
          a0 = tile_a[ty * a_vecs + at];
          a1 = tile_a[(ty + WG_Y) * a_vecs + at];
          a2 = tile_a[(ty + 2u * WG_Y) * a_vecs + at];
          a3 = tile_a[(ty + 3u * WG_Y) * a_vecs + at];
        } else {
          a0 = vec_a(s0, q);
          a1 = vec_a(s1, q);
          a2 = vec_a(s2, q);
          a3 = vec_a(s3, q);
        }
        let sg0 = sign_masks(bw.x, q);
        let sg1 = sign_masks(bw.y, q);
        let sg2 = sign_masks(bw.z, q);
        let sg3 = sign_masks(bw.w, q);
        acc0 += signed_terms(a0, sg0, sg1, sg2, sg3);
        acc1 += signed_terms(a1, sg0, sg1, sg2, sg3);
        acc2 += signed_terms(a2, sg0, sg1, sg2, sg3);
        acc3 += signed_terms(a3, sg0, sg1, sg2, sg3);
      }
    }
    if (USE_WORKGROUP_TILES) {
      workgroupBarrier();
    }
  }
  store(m0, n0, tx, ty, mat4x4f(column_sums(acc0), column_sums(acc1), column_sums(acc2), column_sums(acc3)));
}

// ---- The bit-plane convolution --------------------------------------------------------------

// Bits of a window row per tap: C (DENSE_WINDOW: the window's taps x C bits back to back) or
// 32*c_words (each tap starts a word, the OHWI layout of the weights).
fn bits_per_tap() -> u32 {
  if (DENSE_WINDOW) {
    return params.channels;
  }
  return 32u * params.c_words;
}

// One invocation per (output pixel, word of its window): the eight plane words of that word.
// Bit j of plane n is bit n of the pixel value (f32, converted to u32) under the window's bit
// 32*word + j; outside the image, and pad bits, are 0 (zero padding: nothing to add).
@compute @workgroup_size(FLAT_WG)
fn bit_planes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * FLAT_WG + lid;
  if (i >= params.M * params.k_words) {
    return;
  }
  let o = conv_origin(i / params.k_words);
  let per_tap = bits_per_tap();
  let taps = params.kernel_h * params.kernel_w;
  let first = (i % params.k_words) * 32u;
  var tap = first / per_tap;
  var c = first % per_tap;
  var pix = pixel_at(o, tap_offset(tap));
  var lo = vec4u(0u);
  var hi = vec4u(0u);
  for (var j = 0u; j < 32u && tap < taps; j++) {
    if (c < params.channels && pix >= 0) {
      let v = vec4u(u32(a[u32(pix) * params.channels + c]));
      lo |= ((v >> vec4u(0u, 1u, 2u, 3u)) & vec4u(1u)) << vec4u(j);
      hi |= ((v >> vec4u(4u, 5u, 6u, 7u)) & vec4u(1u)) << vec4u(j);
    }
    c++;
    if (c == per_tap) {
      c = 0u;
      tap++;
      pix = pixel_at(o, tap_offset(tap)); // past the last tap: unused
    }
  }
  planes_out[2u * i] = lo;
  planes_out[2u * i + 1u] = hi;
}

// One invocation per value of an explicit im2col, [M, K] with K = taps x C (the DENSE_WINDOW
// order): row = output pixel, its window's values back to back, 0.0 outside the image. For few
// channels (C = 1, 3) the plain GEMM over these rows takes one K step per 32 window values, where
// the implicit GEMM takes one per tap (signSelectConv2d's lowering 'windows').
@compute @workgroup_size(FLAT_WG)
fn window_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * FLAT_WG + lid;
  if (i >= params.M * params.K) {
    return;
  }
  let k = i % params.K;
  let pix = pixel_at(conv_origin(i / params.K), tap_offset(k / params.channels));
  var v = 0.0;
  if (pix >= 0) {
    v = a[u32(pix) * params.channels + k % params.channels];
  }
  rows_out[i] = v;
}

// One invocation per (output channel, word of the dense window): OHWI b1 weights (c_words words
// per tap) repacked to the taps x C bits of DENSE_WINDOW. k_words counts the dense words.
@compute @workgroup_size(FLAT_WG)
fn window_weights(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * FLAT_WG + lid;
  if (i >= params.N * params.k_words) {
    return;
  }
  let taps = params.kernel_h * params.kernel_w;
  let src = (i / params.k_words) * taps * params.c_words;
  let first = (i % params.k_words) * 32u;
  var tap = first / params.channels;
  var c = first % params.channels;
  var word = 0u;
  for (var j = 0u; j < 32u && tap < taps; j++) {
    word |= ((b[src + tap * params.c_words + c / 32u] >> (c % 32u)) & 1u) << j;
    c++;
    if (c == params.channels) {
      c = 0u;
      tap++;
    }
  }
  weights_out[i] = word;
}

// Planes 0-3 and 4-7 of one word of a row's window.
struct Planes {
  lo: vec4u,
  hi: vec4u,
}

fn planes_of(row: u32, w: u32) -> Planes {
  var p: Planes;
  if (row < params.M && w < params.k_words) {
    let i = 2u * (row * params.k_words + w);
    p.lo = planes[i];
    p.hi = planes[i + 1u];
  }
  return p;
}

// sum_n 2^n popcount(plane n): the counts of planes 4-7 shifted by 4 land on 1, 2, 4, 8 too.
fn weighted_count(lo: vec4u, hi: vec4u) -> u32 {
  return dot(countOneBits(lo) + (countOneBits(hi) << vec4u(4u)), vec4u(1u, 2u, 4u, 8u));
}

// T of one row of planes against four words of weights: sum_n 2^n popcount(p_n & w_j).
fn masked_counts(p: Planes, bw: vec4u) -> vec4u {
  return vec4u(weighted_count(p.lo & bw.xxxx, p.hi & bw.xxxx), weighted_count(p.lo & bw.yyyy, p.hi & bw.yyyy),
               weighted_count(p.lo & bw.zzzz, p.hi & bw.zzzz), weighted_count(p.lo & bw.wwww, p.hi & bw.wwww));
}

// out = P - 2T, exact integers (|out| <= 255 K < 2^24) as f32. A and B are words of the same
// window bit order: bit_planes' output and the (repacked) weights.
@compute @workgroup_size(WG_X, WG_Y)
fn gemm_bitplane(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_id) lid3: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= params.tiles) {
    return;
  }
  let m0 = (tile / params.tiles_n) * TILE_M;
  let n0 = (tile % params.tiles_n) * TILE_N;
  let tx = lid3.x;
  let ty = lid3.y;
  var p = vec4u(0u); // P of the block's rows
  var t0: vec4u;     // T of row i, column j in component j
  var t1: vec4u;
  var t2: vec4u;
  var t3: vec4u;
  for (var w0 = 0u; w0 < params.k_words; w0 += TILE_K_WORDS) {
    if (USE_WORKGROUP_TILES) {
      for (var s = lid; s < TILE_M * TILE_K_WORDS; s += WG_X * WG_Y) {
        let pl = planes_of(m0 + s / TILE_K_WORDS, w0 + s % TILE_K_WORDS);
        tile_p[2u * s] = pl.lo;
        tile_p[2u * s + 1u] = pl.hi;
      }
      stage_b(n0, w0, lid);
      workgroupBarrier();
    }
    for (var w = 0u; w < TILE_K_WORDS; w++) {
      if (w0 + w >= params.k_words) {
        break;
      }
      let bw = b_words(n0, tx, w0, w);
      var a0: Planes; var a1: Planes; var a2: Planes; var a3: Planes;
      if (USE_WORKGROUP_TILES) {
        let at = 2u * w;
        a0 = Planes(tile_p[2u * ty * TILE_K_WORDS + at], tile_p[2u * ty * TILE_K_WORDS + at + 1u]);
        a1 = Planes(tile_p[2u * (ty + WG_Y) * TILE_K_WORDS + at], tile_p[2u * (ty + WG_Y) * TILE_K_WORDS + at + 1u]);
        a2 = Planes(tile_p[2u * (ty + 2u * WG_Y) * TILE_K_WORDS + at], tile_p[2u * (ty + 2u * WG_Y) * TILE_K_WORDS + at + 1u]);
        a3 = Planes(tile_p[2u * (ty + 3u * WG_Y) * TILE_K_WORDS + at], tile_p[2u * (ty + 3u * WG_Y) * TILE_K_WORDS + at + 1u]);
      } else {
        a0 = planes_of(m0 + ty, w0 + w);
        a1 = planes_of(m0 + ty + WG_Y, w0 + w);
        a2 = planes_of(m0 + ty + 2u * WG_Y, w0 + w);
        a3 = planes_of(m0 + ty + 3u * WG_Y, w0 + w);
      }
      p += vec4u(weighted_count(a0.lo, a0.hi), weighted_count(a1.lo, a1.hi),
                 weighted_count(a2.lo, a2.hi), weighted_count(a3.lo, a3.hi));
      t0 += masked_counts(a0, bw);
      t1 += masked_counts(a1, bw);
      t2 += masked_counts(a2, bw);
      t3 += masked_counts(a3, bw);
    }
    if (USE_WORKGROUP_TILES) {
      workgroupBarrier();
    }
  }
  let pi = vec4i(p);
  store(m0, n0, tx, ty, mat4x4f(vec4f(vec4i(pi.x) - 2 * vec4i(t0)), vec4f(vec4i(pi.y) - 2 * vec4i(t1)),
                                vec4f(vec4i(pi.z) - 2 * vec4i(t2)), vec4f(vec4i(pi.w) - 2 * vec4i(t3))));
}
