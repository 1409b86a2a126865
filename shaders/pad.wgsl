// Spatial padding of an NHWC tensor of 32-bit words: f32 values or b1 words, with a fill word (0:
// f32 zeros, or for b1 +1 x 32 with zero pad bits, the +1 padding of the bit convention). The convolutions
// read a padded copy and skip per-tap bounds checks. Negative margins crop: ZeroPadding2D's
// gradient is its dy cropped back by the padding. Indexed flat: grids past 65535 fold into 2D.

struct Params {
  batch: u32,
  in_h: u32,
  in_w: u32,
  out_h: u32,
  out_w: u32,
  words: u32, // 32-bit words per pixel
  top: i32, // < 0: crop that many rows from the start
  left: i32,
  fill: u32, // the word written outside the input
}

override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

// One invocation per output word: out[n, h, w, c] = in[n, h - top, w - left, c], fill outside.
@compute @workgroup_size(WORKGROUP_SIZE)
fn pad2d(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
         @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (i >= params.batch * params.out_h * params.out_w * params.words) {
    return;
  }
  let c = i % params.words;
  let pixel = i / params.words;
  let w = i32(pixel % params.out_w) - params.left;
  let h = i32((pixel / params.out_w) % params.out_h) - params.top;
  let n = pixel / (params.out_w * params.out_h);
  var v = params.fill;
  if (h >= 0 && w >= 0 && h < i32(params.in_h) && w < i32(params.in_w)) {
    v = src[((n * params.in_h + u32(h)) * params.in_w + u32(w)) * params.words + c];
  }
  dst[i] = v;
}
