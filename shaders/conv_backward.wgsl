// The data movement of the convolutions' backward passes (launchers and CPU references in
// src/ops/conv2d-backward.ts); the arithmetic runs on the GEMMs (gemm_binary_float, gemm_f32).
//   im2col_bits / im2col_f32: the forward's input windows transposed, one row per (tap, channel)
//     and one column per output position (N*OH*OW), so dW = dz^T . rows^T is a plain GEMM. The
//     b1 rows are packed along positions (the bit convention of src/bitpack.ts, pad bits 0);
//     taps outside the image are +1 (bit 0) / 0.0.
//   pad_correction: with Larq's pad_values = 0 the outside taps must add nothing to dW: subtracts,
//     per (output channel, tap), the dz the +1 outside taps added (the same for every channel).
//   flip_bits / flip_f32: OHWI weights -> IHWO with the taps reversed, the kernel of the input
//     gradient as a forward convolution of dz.
//   dilate_f32: dz with stride - 1 zeros between positions, for the input gradient at stride > 1.
// Work is indexed flat, wid.x + wid.y * num_workgroups.x, so grids past 65535 fold into 2D.

struct Params {
  count: u32, // work items of the dispatch
  in_h: u32,
  in_w: u32,
  channels: u32, // I: the forward input's channels
  c_words: u32, // ceil(I / 32)
  out_h: u32,
  out_w: u32,
  out_channels: u32, // O
  o_words: u32, // ceil(O / 32)
  kernel_h: u32,
  kernel_w: u32,
  stride_h: u32,
  stride_w: u32,
  dilation_h: u32,
  dilation_w: u32,
  pad_top: u32,
  pad_left: u32,
  positions: u32, // N * OH * OW
  pos_words: u32, // ceil(positions / 32)
}

override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x_bits: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> rows_bits: array<u32>;
@group(0) @binding(4) var<storage, read_write> rows: array<f32>;
@group(0) @binding(5) var<storage, read> dz: array<f32>;
@group(0) @binding(6) var<storage, read_write> dw: array<f32>;
@group(0) @binding(7) var<storage, read> w_bits: array<u32>;
@group(0) @binding(8) var<storage, read_write> flipped_bits: array<u32>;
@group(0) @binding(9) var<storage, read> w: array<f32>;
@group(0) @binding(10) var<storage, read_write> flipped: array<f32>;
@group(0) @binding(11) var<storage, read_write> dilated: array<f32>;

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
}

// The input pixel (flat over N*H*W) that tap `tap` of output position `p` reads, or -1 outside.
fn tap_pixel(p: u32, tap: u32) -> i32 {
  let out_hw = params.out_h * params.out_w;
  let n = p / out_hw;
  let q = p % out_hw;
  let ih = i32((q / params.out_w) * params.stride_h + (tap / params.kernel_w) * params.dilation_h) - i32(params.pad_top);
  let iw = i32((q % params.out_w) * params.stride_w + (tap % params.kernel_w) * params.dilation_w) - i32(params.pad_left);
  if (ih < 0 || iw < 0 || ih >= i32(params.in_h) || iw >= i32(params.in_w)) {
    return -1;
  }
  return i32((n * params.in_h + u32(ih)) * params.in_w + u32(iw));
}

// One invocation per output word: row (tap, channel c), positions 32j .. 32j+31.
@compute @workgroup_size(WORKGROUP_SIZE)
fn im2col_bits(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.count) {
    return;
  }
  let row = i / params.pos_words;
  let first = (i % params.pos_words) * 32u;
  let tap = row / params.channels;
  let c = row % params.channels;
  let count = min(32u, params.positions - first); // past the last position: pad bits, 0
  var word = 0u;
  for (var j = 0u; j < count; j++) {
    let pix = tap_pixel(first + j, tap);
    if (pix >= 0) {
      word |= ((x_bits[u32(pix) * params.c_words + c / 32u] >> (c % 32u)) & 1u) << j;
    }
  }
  rows_bits[i] = word;
}

// One invocation per output value: row (tap, channel c), position p.
@compute @workgroup_size(WORKGROUP_SIZE)
fn im2col_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.count) {
    return;
  }
  let row = i / params.positions;
  let pix = tap_pixel(i % params.positions, row / params.channels);
  var v = 0.0;
  if (pix >= 0) {
    v = x[u32(pix) * params.channels + row % params.channels];
  }
  rows[i] = v;
}

// One invocation per (output channel o, tap): s = the sum of dz[., o] over the positions whose tap
// lies outside the image, taken off dw[o, tap, .] (in place; the GEMM counted those taps as +1).
@compute @workgroup_size(WORKGROUP_SIZE)
fn pad_correction(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.count) {
    return;
  }
  let taps = params.kernel_h * params.kernel_w;
  let o = i / taps;
  let tap = i % taps;
  var s = 0.0;
  for (var p = 0u; p < params.positions; p++) {
    if (tap_pixel(p, tap) < 0) {
      s += dz[p * params.out_channels + o];
    }
  }
  if (s != 0.0) {
    let base = i * params.channels; // dw [O, taps, I]: row (o, tap)
    for (var c = 0u; c < params.channels; c++) {
      dw[base + c] -= s;
    }
  }
}

// One invocation per output word of flipped_bits [I, KH, KW, O] (packed along O): row (c, t),
// bit o = w_bits[o, taps - 1 - t, c].
@compute @workgroup_size(WORKGROUP_SIZE)
fn flip_bits(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.count) {
    return;
  }
  let taps = params.kernel_h * params.kernel_w;
  let row = i / params.o_words;
  let first = (i % params.o_words) * 32u;
  let c = row / taps;
  let tap = taps - 1u - row % taps;
  let count = min(32u, params.out_channels - first);
  var word = 0u;
  for (var j = 0u; j < count; j++) {
    word |= ((w_bits[((first + j) * taps + tap) * params.c_words + c / 32u] >> (c % 32u)) & 1u) << j;
  }
  flipped_bits[i] = word;
}

// One invocation per value of flipped [I, KH, KW, O]: w[o, taps - 1 - t, c].
@compute @workgroup_size(WORKGROUP_SIZE)
fn flip_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.count) {
    return;
  }
  let taps = params.kernel_h * params.kernel_w;
  let o = i % params.out_channels;
  let row = i / params.out_channels;
  let tap = taps - 1u - row % taps;
  flipped[i] = w[(o * taps + tap) * params.channels + row / taps];
}

// One invocation per value of dilated [N, (OH-1)*sh+1, (OW-1)*sw+1, O]: dz where both coordinates
// are multiples of the stride, else 0.
@compute @workgroup_size(WORKGROUP_SIZE)
fn dilate_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.count) {
    return;
  }
  let dh = (params.out_h - 1u) * params.stride_h + 1u;
  let dwidth = (params.out_w - 1u) * params.stride_w + 1u;
  let o = i % params.out_channels;
  let pixel = i / params.out_channels;
  let xx = pixel % dwidth;
  let yy = (pixel / dwidth) % dh;
  let n = pixel / (dwidth * dh);
  var v = 0.0;
  if (xx % params.stride_w == 0u && yy % params.stride_h == 0u) {
    v = dz[((n * params.out_h + yy / params.stride_h) * params.out_w + xx / params.stride_w) * params.out_channels + o];
  }
  dilated[i] = v;
}
