// Sign-binarize and bit-pack along the last axis (f32 -> b1), unpack (b1 -> f32), and concatenate
// bits along the last axis where the first operand's rows are whole words (b1, b1 -> b1).
// The bit convention is src/bitpack.ts's: bit = (x < 0), so 0 is +1 and 1 is -1, sign(0) = +1;
// 32 values per u32 word, least significant bit first; ceil(cols/32) words per row; pad bits 0.
// Work is indexed flat, wid.x + wid.y * num_workgroups.x, so grids past 65535 fold into 2D.

struct Params {
  rows: u32,
  cols: u32,
  words_per_row: u32,
}

// pack_dorefa_planes: Params's three, then k bits of each value's level n = round(clip(x, 0, 1) * levels_max).
struct PlanesParams {
  rows: u32,
  cols: u32,
  words_per_row: u32,
  bits: u32,
  levels_max: f32,
}

// concat_words: rows of words_a words, then words_b words (the first operand's last axis a multiple of 32).
struct ConcatParams {
  rows: u32,
  words_a: u32,
  words_b: u32,
}

override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> packed: array<u32>;
@group(0) @binding(3) var<storage, read> bits: array<u32>;
@group(0) @binding(4) var<storage, read_write> unpacked: array<f32>;
@group(0) @binding(5) var<uniform> planes_params: PlanesParams;
@group(0) @binding(6) var<storage, read> bits_b: array<u32>;
@group(0) @binding(7) var<uniform> concat_params: ConcatParams;

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
}

//#include "lib/sign.wgsl"

// One invocation per output word: packs up to 32 values of one row.
@compute @workgroup_size(WORKGROUP_SIZE)
fn pack(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.rows * params.words_per_row) {
    return;
  }
  let row = i / params.words_per_row;
  let first = (i % params.words_per_row) * 32u;
  // Words past the input's columns (a row padded to a wider length) hold only pad bits: 0.
  let count = select(0u, min(32u, params.cols - first), first < params.cols);
  let base = row * params.cols + first;
  var word = 0u;
  for (var j = 0u; j < count; j++) {
    word |= select(0u, 1u << j, is_negative(values[base + j]));
  }
  packed[i] = word;
}

// DoReFa's activation quantizer straight to bit planes (the bit-serial kernels' operand, src/
// bitpack.ts's packBitPlanes layout): n = round_half_even(clip(x, 0, 1) * (2^k - 1)) as
// src/model/quantizers.ts rounds it (WGSL's round is half to even; the product is correctly
// rounded), bit i of n in plane i. One invocation per word of plane 0, writing all k planes.
// NaN clamps to an unspecified level (WGSL leaves clamp of NaN to the implementation).
@compute @workgroup_size(WORKGROUP_SIZE)
fn pack_dorefa_planes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                      @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  let plane_words = planes_params.rows * planes_params.words_per_row;
  if (i >= plane_words) {
    return;
  }
  let row = i / planes_params.words_per_row;
  let first = (i % planes_params.words_per_row) * 32u;
  let count = min(32u, planes_params.cols - first);
  let base = row * planes_params.cols + first;
  var words = array<u32, 8>(0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u);
  for (var j = 0u; j < count; j++) {
    let n = u32(round(clamp(values[base + j], 0.0, 1.0) * planes_params.levels_max));
    for (var b = 0u; b < planes_params.bits; b++) {
      words[b] |= ((n >> b) & 1u) << j;
    }
  }
  for (var b = 0u; b < planes_params.bits; b++) {
    packed[b * plane_words + i] = words[b];
  }
}

// One invocation per output value.
@compute @workgroup_size(WORKGROUP_SIZE)
fn unpack(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.rows * params.cols) {
    return;
  }
  let row = i / params.cols;
  let col = i % params.cols;
  let word = bits[row * params.words_per_row + col / 32u];
  unpacked[i] = select(1.0, -1.0, ((word >> (col % 32u)) & 1u) == 1u);
}

// One invocation per output word: a row's words of `bits`, then its words of `bits_b`. The first
// operand's rows hold no pad bits (a multiple of 32 values), so the words follow each other as the
// values do; the second's pad bits (0) stay the row's last.
@compute @workgroup_size(WORKGROUP_SIZE)
fn concat_words(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  let width = concat_params.words_a + concat_params.words_b;
  if (i >= concat_params.rows * width) {
    return;
  }
  let row = i / width;
  let w = i % width;
  if (w < concat_params.words_a) {
    packed[i] = bits[row * concat_params.words_a + w];
  } else {
    packed[i] = bits_b[row * concat_params.words_b + w - concat_params.words_a];
  }
}
