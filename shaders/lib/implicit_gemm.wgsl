// Shared by the implicit-GEMM kernels (gemm_binary.wgsl, gemm_f32.wgsl), pasted in by the build
// step's include (scripts/embed-shaders.mjs): where a row of A starts and what one K step reads,
// for a plain GEMM and, with IM2COL, for a convolution over a padded NHWC input and OHWI weights.
// Units are the kernel's: packed words (binary) or floats (fp32). The including shader declares
// `params` (M, src_h, src_w, out_w, out_hw, kernel_h, kernel_w, c_chunks, stride_*, dilation_*)
// and row_len() (one row of B, all taps) and pixel_len() (one pixel's channels).

override IM2COL: bool = false;
// The convolution's kernel width and K steps per tap, as constants: k_step divides by them, and a
// division by a constant is a multiply and a shift where one by a uniform is a real division.
override CONV_KERNEL_W: u32 = 1;
override CONV_C_CHUNKS: u32 = 1;
// Pixels of 1 or 2 elements (b1 inputs of up to 64 channels) would leave most of a 4-element step
// empty: then one step spans CONV_TAPS_PER_STEP = 4 / pixel_len() taps, and its element c comes
// from tap 4*kv/pixel_len() + c/pixel_len(). 1: a step is a chunk of one tap.
override CONV_TAPS_PER_STEP: u32 = 1;

// Where row `row` of A starts: for a GEMM its first element; for a convolution the first element
// of its window's top-left pixel in the padded input.
struct RowOrigin {
  ok: bool,
  base: u32,
}

fn row_origin(row: u32) -> RowOrigin {
  var o: RowOrigin;
  o.ok = row < params.M;
  if (IM2COL) {
    let n = row / params.out_hw;
    let p = row % params.out_hw;
    let h = (p / params.out_w) * params.stride_h;
    let w = (p % params.out_w) * params.stride_w;
    o.base = ((n * params.src_h + h) * params.src_w + w) * pixel_len();
  } else {
    o.base = row * row_len();
  }
  return o;
}

// One K step: `count` (1..4) elements at offset `a` from a row's origin in A and at offset `b` in a
// row of B. For a GEMM both are the same; for a convolution `a` is the tap's offset in the padded
// input and `b` its offset in the OHWI weights.
struct KStep {
  a: u32,
  b: u32,
  count: u32,
  spread: vec4u, // CONV_TAPS_PER_STEP > 1: each element's offset from the row's origin in A
}

fn spans_taps() -> bool {
  return IM2COL && CONV_TAPS_PER_STEP > 1u;
}

// Offset of tap `tap`'s first element from a row's origin in the padded input.
fn tap_offset(tap: u32) -> u32 {
  let dh = (tap / CONV_KERNEL_W) * params.dilation_h;
  let dw = (tap % CONV_KERNEL_W) * params.dilation_w;
  return (dh * params.src_w + dw) * pixel_len();
}

fn k_steps() -> u32 {
  if (spans_taps()) {
    return (row_len() + 3u) / 4u;
  }
  if (IM2COL) {
    return params.kernel_h * params.kernel_w * params.c_chunks;
  }
  return (row_len() + 3u) / 4u;
}

fn k_step(kv: u32) -> KStep {
  var t: KStep;
  if (spans_taps()) {
    // B's row is taps x pixel_len() elements back to back: the step is contiguous there.
    t.b = kv * 4u;
    t.count = min(4u, row_len() - t.b);
    let per_tap = 4u / CONV_TAPS_PER_STEP; // = pixel_len(), as a constant
    for (var c = 0u; c < t.count; c++) {
      t.spread[c] = tap_offset((t.b + c) / per_tap) + (t.b + c) % per_tap;
    }
  } else if (IM2COL) {
    let tap = kv / CONV_C_CHUNKS;
    let first = (kv % CONV_C_CHUNKS) * 4u;
    t.a = tap_offset(tap) + first;
    t.b = tap * pixel_len() + first;
    t.count = min(4u, pixel_len() - first);
  } else {
    t.a = kv * 4u;
    t.b = t.a;
    t.count = min(4u, row_len() - t.a);
  }
  return t;
}
