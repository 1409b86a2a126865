// XNOR-popcount GEMM: C[M,N] = A[M,K] . B[N,K]^T over +-1 values, A and B b1 packed along K
// (src/bitpack.ts): dot = K - 2 * sum_w countOneBits(a[w] ^ b[w]). Pad bits are 0 in both
// operands, so they xor to 0 and the true K is the only correction.
//
// With IM2COL, the same kernel is the binary convolution (src/ops/bconv2d.ts) as an implicit GEMM:
// A is the b1 NHWC input read through the convolution window (row = output pixel, K = taps x C),
// B the b1 OHWI weights (row = output channel, one tap's ceil(C/32) words after another). K steps
// through (tap, 4-word chunk of the tap's channel words). The input arrives padded (src/ops/pad.ts:
// zero words, +1 values), so taps need no bounds checks and border taps read as +1: Larq's
// pad_values=1. For pad_values=0 (zero_pad = 1) each border output subtracts what its outside
// taps added, C - 2*popcount(weights of the tap), in the epilogue: the per-position correction of
// Larq Compute Engine, exact.
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
//
// SCHEME makes the same kernel (loop, tiles, IM2COL, epilogues) the low-bit GEMMs, on operands
// stored as stacks of bit planes: plane p of A is the b1-style array at word p * a_plane_words(),
// each plane laid out as a b1 tensor of A's shape (B likewise). Pad bits are 0 in every plane.
//   TERNARY     (src/ops/gemm-ternary.ts) A b1; B two planes, 0 = mask (weight != 0), 1 = sign
//               (1 = -1): dot = sum_w popcount(mask) - 2 popcount(mask & (a ^ sign)), the mask
//               counted in the loop (each step's columns) rather than read from a table.
//   BIT_SERIAL  (src/ops/gemm-bit-serial.ts) A PLANES_A planes of unsigned n, B PLANES_B planes of
//               unsigned m (plane i holds bit i): S = sum_ij 2^(i+j) popcount(a_i & b_j) = sum n*m,
//               and with the row sums sum n = sum_i 2^i popcount(a_i) (counted in the loop too),
//               dot = 2 S - (2^PLANES_B - 1) sum n = sum n (2m - (2^kw - 1)): DoReFa's weights
//               2m/(2^kw-1) - 1 in integer units.
// Both read zero words as nothing but a ternary weight against a +1 activation, so only TERNARY
// needs the zero-padding correction (its tap term: popcount(mask) - 2 popcount(mask & sign)).

struct Params {
  M: u32,
  N: u32,
  K: u32,
  k_words: u32, // ceil(K / 32): words per row of A and B
  n_words: u32, // ceil(N / 32): words per row of a b1 output
  tiles_n: u32, // ceil(N / TILE_N)
  tiles: u32,   // tiles_n * ceil(M / TILE_M): the workgroups that do work (the grid may hold more)
  // Convolution geometry (IM2COL only; zeros for a plain GEMM). k_words = taps * c_words there.
  src_h: u32,    // the padded input that A reads
  src_w: u32,
  in_h: u32,     // the unpadded input, for the zero-padding correction
  in_w: u32,
  c_words: u32,  // words per input pixel and per weight tap: ceil(C / 32)
  c_chunks: u32, // ceil(c_words / 4): K steps per tap
  out_w: u32,
  out_hw: u32,   // out_h * out_w
  kernel_h: u32,
  kernel_w: u32,
  stride_h: u32,
  stride_w: u32,
  dilation_h: u32,
  dilation_w: u32,
  pad_top: u32,
  pad_left: u32,
  zero_pad: u32, // 1: pad_values = 0 (outside taps contribute nothing); 0: pad_values = 1
}

const R = 4u;
const XNOR = 0u;
const TERNARY = 1u;
const BIT_SERIAL = 2u;
override SCHEME: u32 = XNOR;
// Bit planes of A and of B (TERNARY: 1 and 2; XNOR: 1 and 1).
override PLANES_A: u32 = 1;
override PLANES_B: u32 = 1;
override WG_X: u32 = 16;
override WG_Y: u32 = 16;
override TILE_K_VEC: u32 = 2;
override USE_WORKGROUP_TILES: bool = true;
// Rows of A and B (and, with IM2COL, pixels and taps) start on 4-word boundaries: read a K step's
// four words as one vec4 through a4 / b4 (the same buffers as a / b). 1.46x on SwiftShader.
override VEC4_ROWS: bool = false;
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
@group(0) @binding(10) var<storage, read> a4: array<vec4u>;
@group(0) @binding(11) var<storage, read> b4: array<vec4u>;

// Sized 1 when USE_WORKGROUP_TILES is false: a declared array counts against the device's workgroup
// storage limit even where no code runs that uses it (Dawn refused 80 KB of unused tiles for a
// storage-read a8w8 GEMM with TILE_K_VEC 8).
var<workgroup> tile_a: array<vec4u, select(1u, TILE_M * TILE_K_VEC * PLANES_A, USE_WORKGROUP_TILES)>; // [plane][row][v]
var<workgroup> tile_b: array<vec4u, select(1u, TILE_N * TILE_K_VEC * PLANES_B, USE_WORKGROUP_TILES)>;
var<workgroup> tile_bits: array<atomic<u32>, select(1u, (TILE_M * TILE_N + 31u) / 32u, USE_WORKGROUP_TILES)>; // at least one word: valid for any tuning

// Mismatching bits (popcount of a xor b) of an invocation's 4 x 4 outputs: row i of its block in
// r<i>, column j in component j. Named vectors, not arrays: indexed arrays land in memory on CPU
// adapters, whose JITs do not unroll loops.
// TERNARY and BIT_SERIAL accumulate the dot itself (two's complement in u32) instead.
struct Block {
  r0: vec4u,
  r1: vec4u,
  r2: vec4u,
  r3: vec4u,
}

// A row's length in words, and a pixel's, for shaders/lib/implicit_gemm.wgsl.
fn row_len() -> u32 {
  return params.k_words;
}

fn pixel_len() -> u32 {
  return params.c_words;
}

//#include "lib/implicit_gemm.wgsl"

// Words from one bit plane of an operand to the next (0 with one plane).
fn a_plane_words() -> u32 {
  if (PLANES_A == 1u) {
    return 0u;
  }
  if (IM2COL) {
    return (params.M / params.out_hw) * params.src_h * params.src_w * params.c_words;
  }
  return params.M * params.k_words;
}

fn b_plane_words() -> u32 {
  return params.N * params.k_words;
}

// Up to four words of one operand from `first`, zero past `count` (the pad convention).
fn words_a(first: u32, count: u32) -> vec4u {
  if (VEC4_ROWS) {
    return a4[first / 4u];
  }
  if (count == 4u) {
    return vec4u(a[first], a[first + 1u], a[first + 2u], a[first + 3u]);
  }
  var v = vec4u(0u);
  for (var c = 0u; c < count; c++) {
    v[c] = a[first + c];
  }
  return v;
}

fn words_b(first: u32, count: u32) -> vec4u {
  if (VEC4_ROWS) {
    return b4[first / 4u];
  }
  if (count == 4u) {
    return vec4u(b[first], b[first + 1u], b[first + 2u], b[first + 3u]);
  }
  var v = vec4u(0u);
  for (var c = 0u; c < count; c++) {
    v[c] = b[first + c];
  }
  return v;
}

// A's words for step t of a row (in the plane `plane` words on), zero for rows past M.
fn a_vec(o: RowOrigin, t: KStep, plane: u32) -> vec4u {
  if (!o.ok) {
    return vec4u(0u);
  }
  if (spans_taps()) {
    var v = vec4u(0u);
    for (var c = 0u; c < t.count; c++) {
      v[c] = a[plane + o.base + t.spread[c]];
    }
    return v;
  }
  return words_a(plane + o.base + t.a, t.count);
}

fn b_vec(col: u32, t: KStep, plane: u32) -> vec4u {
  if (col >= params.N) {
    return vec4u(0u);
  }
  return words_b(plane + col * params.k_words + t.b, t.count);
}

// Plane `plane` of A's row r of the block (origin o) at step kv0 + v, from the tile or storage.
fn a_at(o: RowOrigin, r: u32, v: u32, t: KStep, plane: u32, plane_words: u32) -> vec4u {
  if (USE_WORKGROUP_TILES) {
    return tile_a[(plane * TILE_M + r) * TILE_K_VEC + v];
  }
  return a_vec(o, t, plane * plane_words);
}

// Plane `plane` of B's column n0 + c at step kv0 + v, from the tile or storage.
fn b_at(n0: u32, c: u32, v: u32, t: KStep, plane: u32) -> vec4u {
  if (USE_WORKGROUP_TILES) {
    return tile_b[(plane * TILE_N + c) * TILE_K_VEC + v];
  }
  return b_vec(n0 + c, t, plane * b_plane_words());
}

// Whether output pixel `row` needs pad_correction: zero padding, and a tap outside the image.
// Decided once per row of the block; most pixels are interior and skip it.
fn needs_pad_correction(row: u32) -> bool {
  if (!IM2COL || SCHEME == BIT_SERIAL || params.zero_pad == 0u || row >= params.M) {
    return false;
  }
  let p = row % params.out_hw;
  let ih0 = i32((p / params.out_w) * params.stride_h) - i32(params.pad_top);
  let iw0 = i32((p % params.out_w) * params.stride_w) - i32(params.pad_left);
  let last_h = ih0 + i32((params.kernel_h - 1u) * params.dilation_h);
  let last_w = iw0 + i32((params.kernel_w - 1u) * params.dilation_w);
  return ih0 < 0 || iw0 < 0 || last_h >= i32(params.in_h) || last_w >= i32(params.in_w);
}

// Zero padding (pad_values = 0): what the taps of output pixel `row` outside the image added to
// its dot with output channel `col` when read as +1: the tap's weight sum, C - 2*popcount(weights
// of the tap) each (TERNARY: popcount(mask) - 2*popcount(mask & sign)).
fn pad_correction(row: u32, col: u32) -> i32 {
  let p = row % params.out_hw;
  let ih0 = i32((p / params.out_w) * params.stride_h) - i32(params.pad_top);
  let iw0 = i32((p % params.out_w) * params.stride_w) - i32(params.pad_left);
  var correction = 0;
  for (var tap = 0u; tap < params.kernel_h * params.kernel_w; tap++) {
    let ih = ih0 + i32((tap / params.kernel_w) * params.dilation_h);
    let iw = iw0 + i32((tap % params.kernel_w) * params.dilation_w);
    if (ih < 0 || iw < 0 || ih >= i32(params.in_h) || iw >= i32(params.in_w)) {
      var ones = 0u;
      var nonzero = params.K / (params.kernel_h * params.kernel_w);
      let first = col * params.k_words + tap * params.c_words;
      if (SCHEME == TERNARY) {
        nonzero = 0u;
        for (var w = 0u; w < params.c_words; w++) {
          let mask = b[first + w];
          nonzero += countOneBits(mask);
          ones += countOneBits(mask & b[b_plane_words() + first + w]);
        }
      } else {
        for (var w = 0u; w < params.c_words; w++) {
          ones += countOneBits(b[first + w]);
        }
      }
      correction += i32(nonzero) - 2 * i32(ones);
    }
  }
  return correction;
}

// pad_correction for the block's four columns col, col + stride, ... (zero past N).
fn pad_corrections(row: u32, col: u32, stride: u32) -> vec4i {
  var c = vec4i(0);
  for (var j = 0u; j < R; j++) {
    if (col + j * stride < params.N) {
      c[j] = pad_correction(row, col + j * stride);
    }
  }
  return c;
}

// Mismatches of one row of A against four rows of B, 128 bits each.
fn mismatches(a: vec4u, b0: vec4u, b1: vec4u, b2: vec4u, b3: vec4u) -> vec4u {
  let one = vec4u(1u);
  return vec4u(dot(countOneBits(a ^ b0), one), dot(countOneBits(a ^ b1), one),
               dot(countOneBits(a ^ b2), one), dot(countOneBits(a ^ b3), one));
}

// TERNARY: mismatches where the weight is non-zero, against four columns' signs s and masks m.
fn masked_mismatches(a: vec4u, s0: vec4u, s1: vec4u, s2: vec4u, s3: vec4u, m0: vec4u, m1: vec4u, m2: vec4u, m3: vec4u) -> vec4u {
  let one = vec4u(1u);
  return vec4u(dot(countOneBits((a ^ s0) & m0), one), dot(countOneBits((a ^ s1) & m1), one),
               dot(countOneBits((a ^ s2) & m2), one), dot(countOneBits((a ^ s3) & m3), one));
}

// BIT_SERIAL: common set bits of one plane of a row of A and one plane of four columns of B.
fn overlaps(a: vec4u, b0: vec4u, b1: vec4u, b2: vec4u, b3: vec4u) -> vec4u {
  let one = vec4u(1u);
  return vec4u(dot(countOneBits(a & b0), one), dot(countOneBits(a & b1), one),
               dot(countOneBits(a & b2), one), dot(countOneBits(a & b3), one));
}

fn ones4(x0: vec4u, x1: vec4u, x2: vec4u, x3: vec4u) -> vec4u {
  let one = vec4u(1u);
  return vec4u(dot(countOneBits(x0), one), dot(countOneBits(x1), one), dot(countOneBits(x2), one), dot(countOneBits(x3), one));
}

// BIT_SERIAL: rows a0..a3 (A's plane i) against B's plane j of four columns, 2 * 2^(i+j) each.
fn step_serial(acc: Block, a0: vec4u, a1: vec4u, a2: vec4u, a3: vec4u, n0: u32, c: u32, stride: u32, v: u32, t: KStep, i: u32, j: u32) -> Block {
  let b0 = b_at(n0, c, v, t, j);
  let b1 = b_at(n0, c + stride, v, t, j);
  let b2 = b_at(n0, c + 2u * stride, v, t, j);
  let b3 = b_at(n0, c + 3u * stride, v, t, j);
  let weight = vec4u(i + j + 1u);
  var r = acc;
  r.r0 += overlaps(a0, b0, b1, b2, b3) << weight;
  r.r1 += overlaps(a1, b0, b1, b2, b3) << weight;
  r.r2 += overlaps(a2, b0, b1, b2, b3) << weight;
  r.r3 += overlaps(a3, b0, b1, b2, b3) << weight;
  return r;
}

// BIT_SERIAL: what rows a0..a3 (A's plane `plane`) take off their dots, (2^PLANES_B - 1) 2^plane n_i.
fn row_terms(a0: vec4u, a1: vec4u, a2: vec4u, a3: vec4u, plane: u32) -> vec4u {
  if (SCHEME != BIT_SERIAL) {
    return vec4u(0u);
  }
  return (ones4(a0, a1, a2, a3) * ((1u << PLANES_B) - 1u)) << vec4u(plane);
}

// One K step of block `acc`: rows a0..a3 (A's plane `plane`; BIT_SERIAL: their row_terms rt)
// against columns n0 + c + j*stride.
fn step_block(acc: Block, a0: vec4u, a1: vec4u, a2: vec4u, a3: vec4u, rt: vec4u, n0: u32, c: u32, stride: u32, v: u32, t: KStep, plane: u32) -> Block {
  var r = acc;
  if (SCHEME == TERNARY) {
    let m0 = b_at(n0, c, v, t, 0u);
    let m1 = b_at(n0, c + stride, v, t, 0u);
    let m2 = b_at(n0, c + 2u * stride, v, t, 0u);
    let m3 = b_at(n0, c + 3u * stride, v, t, 0u);
    let s0 = b_at(n0, c, v, t, 1u);
    let s1 = b_at(n0, c + stride, v, t, 1u);
    let s2 = b_at(n0, c + 2u * stride, v, t, 1u);
    let s3 = b_at(n0, c + 3u * stride, v, t, 1u);
    let nonzero = ones4(m0, m1, m2, m3);
    r.r0 += nonzero - 2u * masked_mismatches(a0, s0, s1, s2, s3, m0, m1, m2, m3);
    r.r1 += nonzero - 2u * masked_mismatches(a1, s0, s1, s2, s3, m0, m1, m2, m3);
    r.r2 += nonzero - 2u * masked_mismatches(a2, s0, s1, s2, s3, m0, m1, m2, m3);
    r.r3 += nonzero - 2u * masked_mismatches(a3, s0, s1, s2, s3, m0, m1, m2, m3);
  } else if (SCHEME == BIT_SERIAL) {
    // One weight plane (1-bit weights) without a loop, as for A's planes.
    if (PLANES_B == 1u) {
      r = step_serial(r, a0, a1, a2, a3, n0, c, stride, v, t, plane, 0u);
    } else {
      for (var j = 0u; j < PLANES_B; j++) {
        r = step_serial(r, a0, a1, a2, a3, n0, c, stride, v, t, plane, j);
      }
    }
    r.r0 -= vec4u(rt.x);
    r.r1 -= vec4u(rt.y);
    r.r2 -= vec4u(rt.z);
    r.r3 -= vec4u(rt.w);
  } else {
    let b0 = b_at(n0, c, v, t, 0u);
    let b1 = b_at(n0, c + stride, v, t, 0u);
    let b2 = b_at(n0, c + 2u * stride, v, t, 0u);
    let b3 = b_at(n0, c + 3u * stride, v, t, 0u);
    r.r0 += mismatches(a0, b0, b1, b2, b3);
    r.r1 += mismatches(a1, b0, b1, b2, b3);
    r.r2 += mismatches(a2, b0, b1, b2, b3);
    r.r3 += mismatches(a3, b0, b1, b2, b3);
  }
  return r;
}

// One K step of the block at rows ty + i*WG_Y (origins o0..o3), A's plane `plane`.
fn step_rows(acc: Block, o0: RowOrigin, o1: RowOrigin, o2: RowOrigin, o3: RowOrigin, ty: u32, v: u32, t: KStep, plane: u32, pa: u32, n0: u32, tx: u32) -> Block {
  let a0 = a_at(o0, ty, v, t, plane, pa);
  let a1 = a_at(o1, ty + WG_Y, v, t, plane, pa);
  let a2 = a_at(o2, ty + 2u * WG_Y, v, t, plane, pa);
  let a3 = a_at(o3, ty + 3u * WG_Y, v, t, plane, pa);
  return step_block(acc, a0, a1, a2, a3, row_terms(a0, a1, a2, a3, plane), n0, tx, WG_X, v, t, plane);
}

// The main loop: popcounts of the block at rows m0 + ty + i*WG_Y, columns n0 + tx + j*WG_X.
fn accumulate(m0: u32, n0: u32, tx: u32, ty: u32, lid: u32) -> Block {
  var acc: Block;
  let steps = k_steps();
  let pa = a_plane_words();
  // Direct reads decode this invocation's rows once; staged reads decode per staged row.
  let o0 = row_origin(m0 + ty);
  let o1 = row_origin(m0 + ty + WG_Y);
  let o2 = row_origin(m0 + ty + 2u * WG_Y);
  let o3 = row_origin(m0 + ty + 3u * WG_Y);
  for (var kv0 = 0u; kv0 < steps; kv0 += TILE_K_VEC) {
    if (USE_WORKGROUP_TILES) {
      for (var s = lid; s < TILE_M * TILE_K_VEC * PLANES_A; s += WG_X * WG_Y) {
        let kv = kv0 + s % TILE_K_VEC;
        tile_a[s] = vec4u(0u);
        if (kv < steps) {
          tile_a[s] = a_vec(row_origin(m0 + (s / TILE_K_VEC) % TILE_M), k_step(kv), (s / (TILE_M * TILE_K_VEC)) * pa);
        }
      }
      for (var s = lid; s < TILE_N * TILE_K_VEC * PLANES_B; s += WG_X * WG_Y) {
        let kv = kv0 + s % TILE_K_VEC;
        tile_b[s] = vec4u(0u);
        if (kv < steps) {
          tile_b[s] = b_vec(n0 + (s / TILE_K_VEC) % TILE_N, k_step(kv), (s / (TILE_N * TILE_K_VEC)) * b_plane_words());
        }
      }
      workgroupBarrier();
    }
    for (var v = 0u; v < TILE_K_VEC; v++) {
      if (!USE_WORKGROUP_TILES && kv0 + v >= steps) {
        break;
      }
      let t = k_step(kv0 + v);
      // One plane without a loop: CPU JITs do not unroll it (1.5-2x on SwiftShader).
      if (PLANES_A == 1u) {
        acc = step_rows(acc, o0, o1, o2, o3, ty, v, t, 0u, pa, n0, tx);
      } else {
        for (var i = 0u; i < PLANES_A; i++) {
          acc = step_rows(acc, o0, o1, o2, o3, ty, v, t, i, pa, n0, tx);
        }
      }
    }
    if (USE_WORKGROUP_TILES) {
      workgroupBarrier();
    }
  }
  return acc;
}

// Without workgroup tiles, the threshold epilogue's main loop: the popcounts of rows m0 + ty +
// i*WG_Y against all 32 columns of an output word (c0 ...), as eight 4x4 blocks, block p at
// columns c0 + p + 8j. One K loop for all eight, so A's rows are read once per step, not once
// per block: 1.5x on SwiftShader (300x512x512: 21.5 -> 14.0 ms). Named members, not an
// array: indexed arrays land in memory on CPU adapters.
struct WordBlocks {
  p0: Block, p1: Block, p2: Block, p3: Block, p4: Block, p5: Block, p6: Block, p7: Block,
}

// One K step of the eight blocks of an output word, A's plane `plane`: A read once for all eight.
fn step_word(acc: WordBlocks, o0: RowOrigin, o1: RowOrigin, o2: RowOrigin, o3: RowOrigin, t: KStep, plane: u32, pa: u32, c0: u32) -> WordBlocks {
  let a0 = a_vec(o0, t, plane * pa);
  let a1 = a_vec(o1, t, plane * pa);
  let a2 = a_vec(o2, t, plane * pa);
  let a3 = a_vec(o3, t, plane * pa);
  let rt = row_terms(a0, a1, a2, a3, plane);
  var r: WordBlocks;
  r.p0 = step_block(acc.p0, a0, a1, a2, a3, rt, c0, 0u, 8u, 0u, t, plane);
  r.p1 = step_block(acc.p1, a0, a1, a2, a3, rt, c0, 1u, 8u, 0u, t, plane);
  r.p2 = step_block(acc.p2, a0, a1, a2, a3, rt, c0, 2u, 8u, 0u, t, plane);
  r.p3 = step_block(acc.p3, a0, a1, a2, a3, rt, c0, 3u, 8u, 0u, t, plane);
  r.p4 = step_block(acc.p4, a0, a1, a2, a3, rt, c0, 4u, 8u, 0u, t, plane);
  r.p5 = step_block(acc.p5, a0, a1, a2, a3, rt, c0, 5u, 8u, 0u, t, plane);
  r.p6 = step_block(acc.p6, a0, a1, a2, a3, rt, c0, 6u, 8u, 0u, t, plane);
  r.p7 = step_block(acc.p7, a0, a1, a2, a3, rt, c0, 7u, 8u, 0u, t, plane);
  return r;
}

fn accumulate_word(m0: u32, c0: u32, ty: u32) -> WordBlocks {
  var acc: WordBlocks;
  let o0 = row_origin(m0 + ty);
  let o1 = row_origin(m0 + ty + WG_Y);
  let o2 = row_origin(m0 + ty + 2u * WG_Y);
  let o3 = row_origin(m0 + ty + 3u * WG_Y);
  let pa = a_plane_words();
  for (var kv = 0u; kv < k_steps(); kv++) {
    let t = k_step(kv);
    if (PLANES_A == 1u) {
      acc = step_word(acc, o0, o1, o2, o3, t, 0u, pa, c0);
    } else {
      for (var i = 0u; i < PLANES_A; i++) {
        acc = step_word(acc, o0, o1, o2, o3, t, i, pa, c0);
      }
    }
  }
  return acc;
}

fn word_block(acc: WordBlocks, p: u32) -> Block {
  switch (p) {
    case 0u: { return acc.p0; }
    case 1u: { return acc.p1; }
    case 2u: { return acc.p2; }
    case 3u: { return acc.p3; }
    case 4u: { return acc.p4; }
    case 5u: { return acc.p5; }
    case 6u: { return acc.p6; }
    default: { return acc.p7; }
  }
}

// The exact integer dots of row i of the block: K - 2 * mismatches (XNOR), or as accumulated.
fn dots(acc: Block, i: u32) -> vec4i {
  var m: vec4u;
  switch (i) {
    case 0u: { m = acc.r0; }
    case 1u: { m = acc.r1; }
    case 2u: { m = acc.r2; }
    default: { m = acc.r3; }
  }
  if (SCHEME != XNOR) {
    return vec4i(m);
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
    let m = m0 + lid3.y + i * WG_Y;
    var d = dots(acc, i);
    if (needs_pad_correction(m)) {
      d -= pad_corrections(m, n0 + lid3.x, WG_X);
    }
    for (var j = 0u; j < R; j++) {
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
    let m = m0 + lid3.y + i * WG_Y;
    var d = dots(acc, i);
    if (needs_pad_correction(m)) {
      d -= pad_corrections(m, n0 + lid3.x, WG_X);
    }
    for (var j = 0u; j < R; j++) {
      let n = n0 + lid3.x + j * WG_X;
      if (m < params.M && n < params.N) {
        out_f32[m * params.N + n] = f32(d[j]) * scale[n] + bias[n];
      }
    }
  }
}

// With workgroup tiles (GPUs): the workgroup's invocations OR their bits of each output word in
// workgroup memory, then store whole words; needs TILE_N to be a multiple of 32. Without them
// (CPU adapters, where a barrier is dear: it doubled this kernel on SwiftShader), an invocation owns
// whole output words, rows m0 + ty + i*WG_Y and the 32 columns of word (tile % tiles_n) * WG_X + tx
// (accumulate_word); tiles_n then counts WG_X words.
@compute @workgroup_size(WG_X, WG_Y)
fn gemm_threshold_b1(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_id) lid3: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= params.tiles) {
    return;
  }
  if (USE_WORKGROUP_TILES) {
    let m0 = (tile / params.tiles_n) * TILE_M;
    let n0 = (tile % params.tiles_n) * TILE_N;
    let acc = accumulate(m0, n0, lid3.x, lid3.y, lid);
    let tile_words = TILE_N / 32u;
    for (var i = 0u; i < R; i++) {
      var dv = dots(acc, i);
      if (needs_pad_correction(m0 + lid3.y + i * WG_Y)) {
        dv -= pad_corrections(m0 + lid3.y + i * WG_Y, n0 + lid3.x, WG_X);
      }
      // The block's columns that share an output word are OR-ed here first: one atomic per word
      // touched (2 for WG_X = 16), not one per set bit (atomics cost on CPU adapters: 2x the GEMM).
      let r = lid3.y + i * WG_Y;
      var word = lid3.x / 32u;
      var bits = 0u;
      for (var j = 0u; j < R; j++) {
        let c = lid3.x + j * WG_X;
        let n = n0 + c;
        if (c / 32u != word) {
          if (bits != 0u) {
            atomicOr(&tile_bits[r * tile_words + word], bits);
          }
          word = c / 32u;
          bits = 0u;
        }
        if (m0 + r < params.M && n < params.N) {
          let d = dv[j];
          let t = threshold[n];
          if (select((d < t), (d > t), flip[n] != 0u)) {
            bits |= 1u << (c % 32u);
          }
        }
      }
      if (bits != 0u) {
        atomicOr(&tile_bits[r * tile_words + word], bits);
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
  } else {
    let m0 = (tile / params.tiles_n) * TILE_M;
    // Past the last word (N not a multiple of 32 * WG_X) columns read as zero and nothing is
    // stored: no early return, as the accumulation's (constant-false) barrier needs uniform flow.
    let word = (tile % params.tiles_n) * WG_X + lid3.x;
    var bits = vec4u(0u); // row i's word in component i
    let blocks = accumulate_word(m0, word * 32u, lid3.y);
    for (var p = 0u; p < 8u; p++) {
      let c0 = word * 32u + p;
      let acc = word_block(blocks, p);
      // The block's four columns' thresholds, read once for its four rows. Past N: never set.
      var t = vec4i(-2147483647 - 1); // dot < i32 min: never
      var below = vec4<bool>(true);
      for (var j = 0u; j < R; j++) {
        let n = c0 + j * 8u;
        if (n < params.N) {
          t[j] = threshold[n];
          below[j] = flip[n] == 0u;
        }
      }
      for (var i = 0u; i < R; i++) {
        let m = m0 + lid3.y + i * WG_Y;
        var dv = dots(acc, i);
        if (needs_pad_correction(m)) {
          dv -= pad_corrections(m, c0, 8u);
        }
        let negative = select(dv > t, dv < t, below);
        for (var j = 0u; j < R; j++) {
          bits[i] |= select(0u, 1u << (p + j * 8u), negative[j]);
        }
      }
    }
    for (var i = 0u; i < R; i++) {
      let m = m0 + lid3.y + i * WG_Y;
      if (m < params.M && word < params.n_words) {
        out_b1[m * params.n_words + word] = bits[i];
      }
    }
  }
}
