// Training-time augmentation of a batch of NHWC images, then per-channel normalization:
// a random crop of the image zero-padded by `pad` on every side (torchvision's
// RandomCrop(size, padding=pad): the border is pixel value 0, normalized like any pixel), a
// random horizontal flip of the crop, and (x * scale - mean[c]) * inv_std[c].
// The random choices are drawn on the CPU (src/ops/augment.ts) and read here per sample:
// choices[n] = dy | dx << 8 | flip << 16, with dy, dx in 0..2*pad (pad, pad is no shift).
// augment_u8 reads 8-bit pixels packed 4 to a word (least significant byte first, as a
// Uint8Array's bytes land in a buffer); augment_f32 reads floats. One invocation per output value.

struct Params {
  batch: u32,
  height: u32,
  width: u32,
  channels: u32,
  pad: u32,
  scale: f32, // 1/255 for 8-bit pixels to [0, 1]
}

override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> choices: array<u32>;
@group(0) @binding(2) var<storage, read> norm: array<f32>; // mean[0..C), then inv_std[0..C)
@group(0) @binding(3) var<storage, read> pixels_u8: array<u32>;
@group(0) @binding(4) var<storage, read> pixels_f32: array<f32>;
@group(0) @binding(5) var<storage, read_write> dst: array<f32>;

// Where output value i reads: the source element's index, or -1 for the zero border.
fn source_of(i: u32) -> i32 {
  let c = i % params.channels;
  let pixel = i / params.channels;
  let x = pixel % params.width;
  let y = (pixel / params.width) % params.height;
  let n = pixel / (params.width * params.height);
  let choice = choices[n];
  var xs = x;
  if (((choice >> 16u) & 1u) == 1u) {
    xs = params.width - 1u - x;
  }
  let sy = i32(y + (choice & 0xffu)) - i32(params.pad);
  let sx = i32(xs + ((choice >> 8u) & 0xffu)) - i32(params.pad);
  if (sy < 0 || sx < 0 || sy >= i32(params.height) || sx >= i32(params.width)) {
    return -1;
  }
  return i32(((n * params.height + u32(sy)) * params.width + u32(sx)) * params.channels + c);
}

fn normalized(i: u32, v: f32) -> f32 {
  let c = i % params.channels;
  return (v * params.scale - norm[c]) * norm[params.channels + c];
}

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn augment_u8(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= params.batch * params.height * params.width * params.channels) {
    return;
  }
  let s = source_of(i);
  var v = 0.0;
  if (s >= 0) {
    let at = u32(s);
    v = f32((pixels_u8[at >> 2u] >> ((at & 3u) * 8u)) & 0xffu);
  }
  dst[i] = normalized(i, v);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn augment_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= params.batch * params.height * params.width * params.channels) {
    return;
  }
  let s = source_of(i);
  var v = 0.0;
  if (s >= 0) {
    v = pixels_f32[u32(s)];
  }
  dst[i] = normalized(i, v);
}
