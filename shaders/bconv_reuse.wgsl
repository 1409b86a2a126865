// Kernel-reuse binary convolution for 3x3 kernels (BinaryNet, "exploiting filter repetitions"):
// each distinct (input channel, 9-bit weight pattern) response is computed once per output
// position and added into every output channel that uses it. src/ops/bconv-reuse.ts builds the
// tables and launches it; its results equal bconv2d's (shaders/gemm_binary.wgsl) bit for bit.
//
// Tables (host-made from the packed OHWI weights):
//   entries[e]            distinct (channel, pattern) e: pattern bits | input channel << 16;
//                         channel i's entries are offsets[i] .. offsets[i + 1] - 1
//   entry_index[o*I + i]  the entry that (output channel o, input channel i) uses
//   tap_ones[o*9 + t]     input channels whose weight of output o at tap t is -1 (pad_values = 0)
// A pattern has bit t = kh*3 + kw set where the weight is -1.
//
// Output positions go in tiles of P = 32. Three dispatches per round of T tiles, no barriers
// inside any (on SwiftShader a workgroup barrier costs ~0.1 ms and workgroup arrays are
// initialized so slowly that kilobytes of them cost more than the convolution; measured, see
// docs). The tile is the fastest index of every dispatch and of every scratch array, so
// neighbouring invocations touch neighbouring words:
//   reuse_windows    per (32-channel word, lane pair k < 16, tile): the 9 input bits of each
//                    channel around positions k and k + 16, as 9-bit windows in the two 16-bit
//                    halves of w9[(i*16 + k)*T + tile]. Taps outside the image are bit 0 (+1,
//                    Larq's pad_values = 1).
//   reuse_responses  per (input channel i, tile), for each entry e of channel i: the mismatches
//                    popcount(window ^ pattern) at the 32 positions, 4 bits each (at most 9), in
//                    one vec4u resp[e*T + tile]: in component q, nibble v holds position 4v + q
//                    and nibble 4 + v position 16 + 4v + q (v < 4).
//   reuse_<epilogue> per (output channel o, tile): the sum over input channels i of the response
//                    of entry_index[o*I + i]: nibbles split into two byte-lane sums, widened to
//                    16-bit lanes every 28 channels (28 * 9 < 256); dot = 9*I - 2*mismatches. With
//                    pad_values = 0 only the n inside taps count: dot = n*I - 2*(mismatches - what
//                    the outside taps added), exactly bconv2d's result.

struct Params {
  M: u32,        // output positions: batch * out_h * out_w
  O: u32,        // output channels
  I: u32,        // input channels
  S: u32,        // entries: responses per tile
  c_words: u32,  // ceil(I / 32): words per input pixel
  o_words: u32,  // ceil(O / 32): words per row of a b1 output
  in_h: u32,
  in_w: u32,
  out_w: u32,
  out_hw: u32,
  stride_h: u32,
  stride_w: u32,
  dilation_h: u32,
  dilation_w: u32,
  pad_top: u32,
  pad_left: u32,
  zero_pad: u32, // 1: pad_values = 0; 0: pad_values = 1
  tile0: u32,    // first tile of this round; scratch is indexed by tile - tile0
  T: u32,        // tiles in this round
  items: u32,    // invocations that do work in this dispatch
}

const P = 32u;
const TAPS = 9u;
const LO16 = 0xFFFFu;
const BYTE_LANES = 0x00FF00FFu;
const NIBBLES = 0x0F0F0F0Fu;
const BYTE_RUN = 28u; // channels summed in byte lanes before widening: 28 * 9 = 252 < 256

override WG: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> entries: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read> entry_index: array<u32>;
@group(0) @binding(5) var<storage, read> tap_ones: array<u32>;
// Scratch of a round: windows, responses, and per tile and lane pair the taps inside the image.
@group(0) @binding(6) var<storage, read_write> w9: array<u32>;
@group(0) @binding(7) var<storage, read_write> resp: array<vec4u>;
@group(0) @binding(8) var<storage, read_write> inside: array<u32>;
@group(0) @binding(9) var<storage, read_write> out_i32: array<i32>;
@group(0) @binding(10) var<storage, read_write> out_f32: array<f32>;
@group(0) @binding(11) var<storage, read_write> out_b1: array<atomic<u32>>;
@group(0) @binding(12) var<storage, read> scale: array<f32>;
@group(0) @binding(13) var<storage, read> bias: array<f32>;
@group(0) @binding(14) var<storage, read> threshold: array<i32>;
@group(0) @binding(15) var<storage, read> flip: array<u32>;

fn item_of(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

// The 9 tap words (word `wd` of each input pixel under the window; 0 outside the image) of
// output position `row`, and which taps are inside.
struct Window {
  t0: vec4u, // taps 0-3
  t1: vec4u, // taps 4-7
  t8: u32,
  inside: u32,
}

fn window_words(row: u32, wd: u32) -> Window {
  var win: Window;
  if (row >= params.M) {
    return win;
  }
  let n = row / params.out_hw;
  let r = row % params.out_hw;
  let ih0 = i32((r / params.out_w) * params.stride_h) - i32(params.pad_top);
  let iw0 = i32((r % params.out_w) * params.stride_w) - i32(params.pad_left);
  var words: array<u32, 9>;
  for (var t = 0u; t < TAPS; t++) {
    let ih = ih0 + i32((t / 3u) * params.dilation_h);
    let iw = iw0 + i32((t % 3u) * params.dilation_w);
    if (ih >= 0 && iw >= 0 && ih < i32(params.in_h) && iw < i32(params.in_w)) {
      win.inside |= 1u << t;
      words[t] = x[((n * params.in_h + u32(ih)) * params.in_w + u32(iw)) * params.c_words + wd];
    }
  }
  win.t0 = vec4u(words[0], words[1], words[2], words[3]);
  win.t1 = vec4u(words[4], words[5], words[6], words[7]);
  win.t8 = words[8];
  return win;
}

// Bit `b` of each tap word: the 9-bit window of input channel b of the word.
fn window_bits(w: Window, b: u32) -> u32 {
  let one = vec4u(1u);
  let s = vec4u(b);
  return dot((w.t0 >> s) & one, vec4u(1u, 2u, 4u, 8u)) + dot((w.t1 >> s) & one, vec4u(16u, 32u, 64u, 128u)) + (((w.t8 >> b) & 1u) << 8u);
}

@compute @workgroup_size(WG)
fn reuse_windows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let item = item_of(wid, nwg, lid);
  if (item >= params.items) {
    return;
  }
  let lt = item % params.T;
  let k = (item / params.T) % 16u;
  let wd = item / (params.T * 16u);
  let m0 = (params.tile0 + lt) * P;
  let lo = window_words(m0 + k, wd);
  let hi = window_words(m0 + k + 16u, wd);
  if (wd == 0u) {
    inside[k * params.T + lt] = lo.inside | (hi.inside << 16u);
  }
  let last = min(params.I, wd * 32u + 32u);
  for (var i = wd * 32u; i < last; i++) {
    w9[(i * 16u + k) * params.T + lt] = window_bits(lo, i % 32u) | (window_bits(hi, i % 32u) << 16u);
  }
}

// Popcount of each 16-bit half.
fn pc16(v: vec4u) -> vec4u {
  return countOneBits(v & vec4u(LO16)) | (countOneBits(v >> vec4u(16u)) << vec4u(16u));
}

@compute @workgroup_size(WG)
fn reuse_responses(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let item = item_of(wid, nwg, lid);
  if (item >= params.items) {
    return;
  }
  let T = params.T;
  let lt = item % T;
  let i = item / T;
  let base = i * 16u * T + lt;
  let w0 = vec4u(w9[base], w9[base + T], w9[base + 2u * T], w9[base + 3u * T]);
  let w1 = vec4u(w9[base + 4u * T], w9[base + 5u * T], w9[base + 6u * T], w9[base + 7u * T]);
  let w2 = vec4u(w9[base + 8u * T], w9[base + 9u * T], w9[base + 10u * T], w9[base + 11u * T]);
  let w3 = vec4u(w9[base + 12u * T], w9[base + 13u * T], w9[base + 14u * T], w9[base + 15u * T]);
  for (var e = offsets[i]; e < offsets[i + 1u]; e++) {
    let p = vec4u((entries[e] & LO16) * 0x10001u);
    // Window vector v holds lane pairs 4v .. 4v + 3; its mismatch counts go to nibble v of each half.
    resp[e * T + lt] = pc16(w0 ^ p) | (pc16(w1 ^ p) << vec4u(4u)) | (pc16(w2 ^ p) << vec4u(8u)) | (pc16(w3 ^ p) << vec4u(12u));
  }
}

// One output channel of one tile: its dots at the tile's 32 positions, d<h> at 4h .. 4h + 3.
struct Out {
  m0: u32,
  o: u32,
  ok: bool,
  d0: vec4i,
  d1: vec4i,
  d2: vec4i,
  d3: vec4i,
  d4: vec4i,
  d5: vec4i,
  d6: vec4i,
  d7: vec4i,
}

fn accumulate(item: u32) -> Out {
  var r: Out;
  r.ok = item < params.items;
  if (!r.ok) {
    return r;
  }
  let lt = item % params.T;
  r.o = item / params.T;
  r.m0 = (params.tile0 + lt) * P;
  let row = r.o * params.I;
  // Mismatch sums in 16-bit lanes: s<v>, component q, holds positions 4v + q (low) and 16 + 4v + q (high).
  var s0 = vec4u(0u);
  var s1 = vec4u(0u);
  var s2 = vec4u(0u);
  var s3 = vec4u(0u);
  for (var i = 0u; i < params.I; i += BYTE_RUN) {
    var even = vec4u(0u); // nibbles 0, 2, 4, 6 (v = 0, 2 low; 0, 2 high) as bytes 0 to 3
    var odd = vec4u(0u);  // nibbles 1, 3, 5, 7
    let end = min(i + BYTE_RUN, params.I);
    for (var j = i; j < end; j++) {
      let v = resp[entry_index[row + j] * params.T + lt];
      even += v & vec4u(NIBBLES);
      odd += (v >> vec4u(4u)) & vec4u(NIBBLES);
    }
    s0 += even & vec4u(BYTE_LANES);
    s2 += (even >> vec4u(8u)) & vec4u(BYTE_LANES);
    s1 += odd & vec4u(BYTE_LANES);
    s3 += (odd >> vec4u(8u)) & vec4u(BYTE_LANES);
  }
  let full = vec4i(i32(9u * params.I));
  r.d0 = full - 2 * vec4i(s0 & vec4u(LO16));
  r.d1 = full - 2 * vec4i(s1 & vec4u(LO16));
  r.d2 = full - 2 * vec4i(s2 & vec4u(LO16));
  r.d3 = full - 2 * vec4i(s3 & vec4u(LO16));
  r.d4 = full - 2 * vec4i(s0 >> vec4u(16u));
  r.d5 = full - 2 * vec4i(s1 >> vec4u(16u));
  r.d6 = full - 2 * vec4i(s2 >> vec4u(16u));
  r.d7 = full - 2 * vec4i(s3 >> vec4u(16u));
  if (params.zero_pad == 1u) {
    r.d0 += zero_pad_fix(lt, r.o, 0u);
    r.d1 += zero_pad_fix(lt, r.o, 1u);
    r.d2 += zero_pad_fix(lt, r.o, 2u);
    r.d3 += zero_pad_fix(lt, r.o, 3u);
    r.d4 += zero_pad_fix(lt, r.o, 4u);
    r.d5 += zero_pad_fix(lt, r.o, 5u);
    r.d6 += zero_pad_fix(lt, r.o, 6u);
    r.d7 += zero_pad_fix(lt, r.o, 7u);
  }
  return r;
}

// pad_values = 0, positions 4h .. 4h+3: outside taps read +1 above; remove what they added. A
// tap t outside adds I - 2*tap_ones[o, t] to the dot, and n inside taps give n*I, not 9*I.
fn zero_pad_fix(lt: u32, o: u32, h: u32) -> vec4i {
  var fix = vec4i(0);
  for (var q = 0u; q < 4u; q++) {
    let p = 4u * h + q;
    let outside = ~(inside[(p % 16u) * params.T + lt] >> (16u * (p / 16u))) & 0x1FFu;
    if (outside != 0u) {
      var f = 0;
      for (var t = 0u; t < TAPS; t++) {
        if ((outside & (1u << t)) != 0u) {
          f -= i32(params.I) - 2 * i32(tap_ones[o * TAPS + t]);
        }
      }
      fix[q] = f;
    }
  }
  return fix;
}

fn dots(r: Out, h: u32) -> vec4i {
  switch (h) {
    case 0u: { return r.d0; }
    case 1u: { return r.d1; }
    case 2u: { return r.d2; }
    case 3u: { return r.d3; }
    case 4u: { return r.d4; }
    case 5u: { return r.d5; }
    case 6u: { return r.d6; }
    default: { return r.d7; }
  }
}

@compute @workgroup_size(WG)
fn reuse_i32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let r = accumulate(item_of(wid, nwg, lid));
  if (!r.ok) {
    return;
  }
  for (var h = 0u; h < 8u; h++) {
    let d = dots(r, h);
    for (var q = 0u; q < 4u; q++) {
      let m = r.m0 + 4u * h + q;
      if (m < params.M) {
        out_i32[m * params.O + r.o] = d[q];
      }
    }
  }
}

@compute @workgroup_size(WG)
fn reuse_affine_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) lid: u32) {
  let r = accumulate(item_of(wid, nwg, lid));
  if (!r.ok) {
    return;
  }
  for (var h = 0u; h < 8u; h++) {
    let d = dots(r, h);
    for (var q = 0u; q < 4u; q++) {
      let m = r.m0 + 4u * h + q;
      if (m < params.M) {
        out_f32[m * params.O + r.o] = f32(d[q]) * scale[r.o] + bias[r.o];
      }
    }
  }
}

// b1 out packed along O, as gemm_threshold_b1: bit set (-1) where dot < threshold[o], or
// dot > threshold[o] for flipped channels; set with atomicOr into words reuse_clear_b1 zeroed.
@compute @workgroup_size(WG)
fn reuse_threshold_b1(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                      @builtin(local_invocation_index) lid: u32) {
  let r = accumulate(item_of(wid, nwg, lid));
  if (!r.ok) {
    return;
  }
  let th = threshold[r.o];
  let flipped = flip[r.o] != 0u;
  for (var h = 0u; h < 8u; h++) {
    let d = dots(r, h);
    for (var q = 0u; q < 4u; q++) {
      let m = r.m0 + 4u * h + q;
      if (m < params.M && select(d[q] < th, d[q] > th, flipped)) {
        atomicOr(&out_b1[m * params.o_words + r.o / 32u], 1u << (r.o % 32u));
      }
    }
  }
}

@compute @workgroup_size(WG)
fn reuse_clear_b1(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let item = item_of(wid, nwg, lid);
  if (item < params.items) {
    atomicStore(&out_b1[item], 0u);
  }
}
