// The first layer: real-valued images meet binary weights. Two convolutions of an f32 NHWC input
// with b1 OHWI weights to f32 [N, OH, OW, O], both in shaders/gemm_binary_float.wgsl, and
// firstLayerConv2d, which picks the faster per adapter kind. Padding is plain zero padding: a
// first layer has no input quantizer, so Larq's pad_values (a binary input's border) does not apply.
//   signSelectConv2d: any floats, sum of +-x by sign-select (xor of the sign bit), no multiplies.
//   bitPlaneConv2d: 8-bit pixels (integers 0..255 held as f32), BinaryNet's bit planes with
//     AND-popcount; exact integers.
// Beside them, the CPU references.
import { popcount, unpackRows, wordsPerRow } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import type { TuningKind } from '../gpu/tuning.js';
import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { conv2dGeometry, type Conv2dGeometry, type Conv2dWindow } from './bconv2d.js';
import { expectTensor } from './check.js';
import { conv2dReference } from './conv2d.js';
import { NO_FLOAT_CONV_GEOMETRY } from './gemm-binary-float.js';
import { runTiledGemm, type GemmTuning } from './gemm-tiling.js';

/** Window of a first-layer convolution: strides, padding ('valid' | 'same'), dilation; zero padding. */
export type FirstLayerWindow = Omit<Conv2dWindow, 'padValues'>;

export interface FirstLayerConv2dOptions extends FirstLayerWindow {
  /** Write here: f32 [N, OH, OW, O]. */
  out?: Tensor;
  tuning?: GemmTuning;
  label?: string;
}

export interface SignSelectConv2dOptions extends FirstLayerConv2dOptions {
  /**
   * 'implicit': the implicit GEMM, one K step per (tap, 32-channel word). 'windows': an explicit
   * im2col (rows of taps x C values back to back) and the plain GEMM with the weights repacked to
   * that order: one K step per 32 window values. Default: 'windows' below 8 channels (a 5x5x1
   * window is one step instead of 25), else 'implicit' (no copy of the input).
   */
  lowering?: 'implicit' | 'windows';
}

export interface BitPlaneConv2dOptions extends FirstLayerConv2dOptions {
  /**
   * Bit order of a window row. 'window' (default): the taps x C bits back to back, so a 3x3x3
   * or 5x5x1 window fits one word (the weights are repacked to match, one small dispatch).
   * 'tap': each tap's C bits start a word, the OHWI order the implicit GEMM reads; no repack,
   * but for C = 3 a word holds 3 useful bits. Same results; bench/first-layer.ts times both.
   */
  packing?: 'window' | 'tap';
}

/** Pixel values are 8-bit: the bit-plane method decomposes them into this many planes. */
export const PIXEL_BITS = 8;

/** Workgroup size of the shader's flat entry points (bit_planes, window_weights): its FLAT_WG. */
const FLAT_WG = 64;

function geometry(op: string, x: Tensor, w: Tensor, options: FirstLayerConv2dOptions): Conv2dGeometry {
  if ((options as Conv2dWindow).padValues !== undefined) {
    throw new ShapeError(
      `${op}: padValues does not apply to a first layer: its input is not binarized, so the border is plain zero padding ` +
        `(Larq's pad_values is for binary inputs: bconv2d). Leave padValues out.`,
    );
  }
  const inShape = expectTensor(op, 'x', x, 'f32', 4);
  const kShape = expectTensor(op, 'w', w, 'b1', 4);
  return conv2dGeometry(inShape, kShape, options, op);
}

/** The shader's params for a convolution with `kWords` words per row of B. */
function convParams(g: Conv2dGeometry, kWords: number) {
  return {
    ...NO_FLOAT_CONV_GEOMETRY,
    k_words: kWords,
    in_h: g.inH,
    in_w: g.inW,
    channels: g.channels,
    c_words: wordsPerRow(g.channels),
    out_w: g.outW,
    out_hw: g.outH * g.outW,
    kernel_h: g.kernelH,
    kernel_w: g.kernelW,
    stride_h: g.strideH,
    stride_w: g.strideW,
    dilation_h: g.dilationH,
    dilation_w: g.dilationW,
    pad_top: g.padTop,
    pad_left: g.padLeft,
  };
}

function describe(g: Conv2dGeometry): string {
  return `${g.batch}x${g.inH}x${g.inW}x${g.channels}*${g.kernelH}x${g.kernelW}->${g.outChannels}`;
}

const SIGN_SELECT = 'signSelectConv2d';

/**
 * y[n, oh, ow, o] = sum over the window and channels of x * w, w = +-1 (b1), by sign-select: each
 * term is x with its sign bit flipped where w is -1. The implicit GEMM of gemm_binary_float.wgsl
 * (IM2COL): K steps through (tap, 32-channel word), a step reads only the vec4s holding channels.
 */
export async function signSelectConv2d(gpu: Gpu, x: Tensor, w: Tensor, options: SignSelectConv2dOptions = {}): Promise<Tensor> {
  const { lowering, ...rest } = options;
  const g = geometry(SIGN_SELECT, x, w, rest);
  const how = lowering ?? (g.channels < WINDOWS_BELOW_CHANNELS ? 'windows' : 'implicit');
  if (how === 'windows') return signSelectConv2dWindows(gpu, x, w, g, rest);
  if (how !== 'implicit') throw new ShapeError(`${SIGN_SELECT}: lowering must be 'implicit' or 'windows', got ${JSON.stringify(lowering)}`);
  return signSelectConv2dForGeometry(gpu, x, w, g, rest);
}

/**
 * signSelectConv2d's default lowering is 'windows' for inputs with fewer channels than this.
 * Measured on SwiftShader (one process, interleaved, under load): 28x28x1 -> 32 5x5 batch 100
 * 14 s implicit vs 1.9 s windows; 32x32x3 -> 64 3x3 batch 32 4.8 vs 1.9 s; 8 channels 2.3 vs 2.3 s;
 * 16 channels 1.0 vs 1.0 s.
 */
export const WINDOWS_BELOW_CHANNELS = 8;

/** The 'windows' lowering: window_rows (explicit im2col), window_weights (repack), the plain GEMM. */
async function signSelectConv2dWindows(gpu: Gpu, x: Tensor, w: Tensor, g: Conv2dGeometry, options: FirstLayerConv2dOptions): Promise<Tensor> {
  const taps = g.kernelH * g.kernelW;
  const K = taps * g.channels;
  const kWords = wordsPerRow(K);
  const M = g.batch * g.outH * g.outW;
  const label = options.label ?? `${SIGN_SELECT}[${describe(g)}].windows`;
  if (M * K > gpu.limits.maxStorageBufferBindingSize / 4) {
    return signSelectConv2dForGeometry(gpu, x, w, g, options); // the copy would not fit one binding
  }
  return runWindowed(gpu, SIGN_SELECT, w, g, {
    kWords,
    repack: g.channels % 32 !== 0 && taps > 1,
    operand: { entryPoint: 'window_rows', constants: { CONV_KERNEL_W: g.kernelW }, x, shape: [M, K], dtype: 'f32', count: M * K },
    gemm: { entryPoint: 'gemm_binary_float', input: 'a', extraParams: { ...NO_FLOAT_CONV_GEOMETRY, k_words: kWords } },
    options,
    label,
  });
}

/** What runWindowed writes before the GEMM, and which GEMM reads it. */
interface WindowedLowering {
  /** Words per row of the (repacked) weights. */
  kWords: number;
  /** Repack the OHWI weights to the dense window order (window_weights) first. */
  repack: boolean;
  /** The explicit per-pixel operand: window_rows (f32 values) or bit_planes (u32 plane words). */
  operand: { entryPoint: 'window_rows' | 'bit_planes'; constants: Record<string, number | boolean>; x: Tensor; shape: number[]; dtype: 'f32' | 'u32'; count: number };
  gemm: { entryPoint: 'gemm_binary_float' | 'gemm_bitplane'; input: 'a' | 'planes'; extraParams: Record<string, number> };
  options: FirstLayerConv2dOptions;
  label: string;
}

/**
 * The first layer's explicit lowerings (sign-select 'windows', bit planes): the weights repacked
 * to the window order where needed and the per-pixel operand written (one submission), then the
 * tiled GEMM of shaders/gemm_binary_float.wgsl over them.
 */
async function runWindowed(gpu: Gpu, op: string, w: Tensor, g: Conv2dGeometry, l: WindowedLowering): Promise<Tensor> {
  const M = g.batch * g.outH * g.outW;
  const K = g.kernelH * g.kernelW * g.channels;
  const { operand, label } = l;
  const params = { M, N: g.outChannels, K, tiles_n: 0, tiles: 0, ...convParams(g, l.kWords) };
  const operandKernel = await gpu.kernel({ shader: 'gemm_binary_float', entryPoint: operand.entryPoint, constants: { ...operand.constants, FLAT_WG } });
  const weightsKernel = l.repack ? await gpu.kernel({ shader: 'gemm_binary_float', entryPoint: 'window_weights', constants: { FLAT_WG } }) : null;
  const written = gpu.tensor(operand.shape, operand.dtype, `${label}.${operand.entryPoint}`);
  const weights = l.repack ? gpu.tensor([g.outChannels, K], 'b1', `${label}.weights`) : w;
  const outName = operand.entryPoint === 'window_rows' ? 'rows_out' : 'planes_out';
  try {
    await gpu.run(`${label}.${operand.entryPoint}`, (rec) => {
      if (weightsKernel) rec.dispatch(weightsKernel, { params, b: w, weights_out: weights }, gpu.grid(Math.ceil((g.outChannels * l.kWords) / FLAT_WG), label));
      rec.dispatch(operandKernel, { params, a: operand.x, [outName]: written }, gpu.grid(Math.ceil(operand.count / FLAT_WG), label));
    });
    return await runTiledGemm(gpu, {
      op,
      kind: 'binaryFloat',
      shader: 'gemm_binary_float',
      entryPoint: l.gemm.entryPoint,
      M,
      N: g.outChannels,
      K,
      kSteps: l.kWords,
      outDtype: 'f32',
      outName: 'out',
      outShape: [g.batch, g.outH, g.outW, g.outChannels],
      inputs: { [l.gemm.input]: written, b: weights },
      extraParams: l.gemm.extraParams,
      out: l.options.out,
      tuning: l.options.tuning,
      label,
    });
  } finally {
    written.release(); // the GEMM is submitted: later uses of the buffer queue after it
    if (l.repack) weights.release();
  }
}

/**
 * signSelectConv2d on a geometry the caller computed (x and w already checked against it): the
 * input gradient of a binary convolution (src/ops/conv2d-backward.ts) has other padding than
 * 'valid' or 'same'. Taps outside the input read 0.
 */
export async function signSelectConv2dForGeometry(gpu: Gpu, x: Tensor, w: Tensor, g: Conv2dGeometry, options: FirstLayerConv2dOptions = {}): Promise<Tensor> {
  const taps = g.kernelH * g.kernelW;
  const kWords = taps * wordsPerRow(g.channels);
  return runTiledGemm(gpu, {
    op: SIGN_SELECT,
    kind: 'binaryFloat',
    shader: 'gemm_binary_float',
    entryPoint: 'gemm_binary_float',
    M: g.batch * g.outH * g.outW,
    N: g.outChannels,
    K: taps * g.channels,
    kSteps: kWords,
    outDtype: 'f32',
    outName: 'out',
    outShape: [g.batch, g.outH, g.outW, g.outChannels],
    inputs: { a: x, b: w },
    extraParams: convParams(g, kWords),
    constants: { IM2COL: true, CONV_KERNEL_W: g.kernelW, CONV_C_WORDS: wordsPerRow(g.channels), CONV_STEP_VECS: Math.ceil(Math.min(g.channels, 32) / 4) },
    out: options.out,
    tuning: options.tuning,
    label: options.label ?? `${SIGN_SELECT}[${describe(g)}]`,
  });
}

const BIT_PLANE = 'bitPlaneConv2d';

/**
 * The same convolution for 8-bit pixels, exactly, by BinaryNet's bit planes (Hubara et al. 2016,
 * sec. 2.6): s = sum_n 2^n (x^n . w) over the planes x^n in {0,1}, each plane's dot an
 * AND-popcount (shaders/gemm_binary_float.wgsl derives it and its relation to the paper's XNOR).
 * x: f32 [N, H, W, C] holding integers 0..255 (as images decode; not normalized). The kernel uses
 * bits 0..7 of u32(x): other values give meaningless results (use signSelectConv2d for them).
 * Three dispatches: the weight repack (packing 'window', C % 32 != 0), the planes, the GEMM.
 */
export async function bitPlaneConv2d(gpu: Gpu, x: Tensor, w: Tensor, options: BitPlaneConv2dOptions = {}): Promise<Tensor> {
  const g = geometry(BIT_PLANE, x, w, options);
  const packing = options.packing ?? 'window';
  if (packing !== 'window' && packing !== 'tap') throw new ShapeError(`${BIT_PLANE}: packing must be 'window' or 'tap', got ${JSON.stringify(packing)}`);
  const taps = g.kernelH * g.kernelW;
  const K = taps * g.channels;
  if (255 * K >= 2 ** 24) {
    throw new ShapeError(`${BIT_PLANE}: a window of ${K} values can sum to 255*${K}, past 2^24 where f32 stops being exact; use signSelectConv2d`);
  }
  const dense = packing === 'window';
  const kWords = dense ? wordsPerRow(K) : taps * wordsPerRow(g.channels);
  // With C a multiple of 32, or one tap, the dense order is the OHWI order: nothing to repack.
  const repack = dense && g.channels % 32 !== 0 && taps > 1;
  const M = g.batch * g.outH * g.outW;
  const label = options.label ?? `${BIT_PLANE}[${describe(g)}].${packing}`;
  return runWindowed(gpu, BIT_PLANE, w, g, {
    kWords,
    repack,
    operand: { entryPoint: 'bit_planes', constants: { DENSE_WINDOW: dense, CONV_KERNEL_W: g.kernelW }, x, shape: [M, kWords, PIXEL_BITS], dtype: 'u32', count: M * kWords },
    gemm: { entryPoint: 'gemm_bitplane', input: 'planes', extraParams: convParams(g, kWords) },
    options,
    label,
  });
}

export type FirstLayerMethod = 'signSelect' | 'bitPlane';

/**
 * The faster method per tuning kind (gpu.tuningKind), by `bnn bench first-layer` on the seeds'
 * first layers (bench/first-layer.ts; figures in docs/performance-first-layer.md).
 */
export const FIRST_LAYER_DEFAULTS: Readonly<Record<TuningKind, FirstLayerMethod>> = {
  // SwiftShader: bit planes (window order) 3.6-7x (CIFAR-10 3->64 3x3) and 9-15x (MNIST 1->32
  // 5x5) faster than sign-select over five runs: a 27- or 25-value window is one word, so 8
  // AND-popcounts per output instead of 25-27 float adds.
  software: 'bitPlane',
  // Not measured on a GPU yet. The same operation count favours bit planes; re-check with the
  // benchmark on the first GPU run and change this line if sign-select wins there.
  gpu: 'bitPlane',
};

export function defaultFirstLayerMethod(gpu: Gpu): FirstLayerMethod {
  return FIRST_LAYER_DEFAULTS[gpu.tuningKind];
}

export interface FirstLayerOptions extends BitPlaneConv2dOptions {
  /** Default: defaultFirstLayerMethod(gpu). */
  method?: FirstLayerMethod;
}

/**
 * The first layer's convolution of 8-bit pixels (integers 0..255 as f32, NHWC) with b1 OHWI
 * weights, by the faster method on this adapter. Both give the same, exact, result on such inputs.
 */
export async function firstLayerConv2d(gpu: Gpu, x: Tensor, w: Tensor, options: FirstLayerOptions = {}): Promise<Tensor> {
  const { method = defaultFirstLayerMethod(gpu), packing, ...rest } = options;
  if (method === 'signSelect') return signSelectConv2d(gpu, x, w, rest);
  if (method === 'bitPlane') return bitPlaneConv2d(gpu, x, w, { ...rest, packing });
  throw new ShapeError(`firstLayerConv2d: method must be 'signSelect' or 'bitPlane', got ${JSON.stringify(method)}`);
}

/**
 * CPU reference of both ops: conv2dReference with the weights' +-1 values (w: packed b1 OHWI
 * words), f64 sums rounded once to f32. Exact for integer pixels (every sum is an integer < 2^24).
 */
export function firstLayerConv2dReference(
  x: Float32Array,
  inShape: readonly number[],
  w: Uint32Array,
  kShape: readonly number[],
  window: FirstLayerWindow = {},
): Float32Array {
  const [O, KH, KW, C] = kShape;
  return conv2dReference(x, inShape, unpackRows(w, O * KH * KW, C), kShape, window);
}

/**
 * BinaryNet's bit-plane method on the CPU, in integers: for each output, sum over the planes n,
 * taps inside the image and channel words of 2^n (popcount(p & ~w) - popcount(p & w)), p the
 * plane's channel bits at the tap, w the tap's weight bits (packed b1 OHWI words). x must hold
 * integers 0..255. Independent of the GPU's bit order; equal to firstLayerConv2dReference.
 */
export function bitPlaneConv2dReference(
  x: ArrayLike<number>,
  inShape: readonly number[],
  w: Uint32Array,
  kShape: readonly number[],
  window: FirstLayerWindow = {},
): Float32Array {
  const g = conv2dGeometry(inShape, kShape, window, 'bitPlaneConv2dReference');
  const { inH, inW, channels: C, outChannels: O, kernelH: KH, kernelW: KW } = g;
  for (let i = 0; i < x.length; i++) {
    if (!Number.isInteger(x[i]) || x[i] < 0 || x[i] > 255) throw new RangeError(`bitPlaneConv2dReference: x[${i}] = ${x[i]} is not a pixel value 0..255`);
  }
  const cWords = wordsPerRow(C);
  // planeBits[(pixel * 8 + n) * cWords + cw]: bit c of plane n of a pixel's channel word cw.
  const pixels = g.batch * inH * inW;
  const planeBits = new Uint32Array(pixels * PIXEL_BITS * cWords);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < C; c++) {
      for (let n = 0; n < PIXEL_BITS; n++) {
        if ((x[p * C + c] >> n) & 1) planeBits[(p * PIXEL_BITS + n) * cWords + (c >>> 5)] |= 1 << (c & 31);
      }
    }
  }
  const out = new Float32Array(g.batch * g.outH * g.outW * O);
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        const row = (n * g.outH + oh) * g.outW + ow;
        for (let o = 0; o < O; o++) {
          let s = 0;
          for (let kh = 0; kh < KH; kh++) {
            const ih = oh * g.strideH + kh * g.dilationH - g.padTop;
            if (ih < 0 || ih >= inH) continue; // zero padding: an outside tap's planes are 0
            for (let kw = 0; kw < KW; kw++) {
              const iw = ow * g.strideW + kw * g.dilationW - g.padLeft;
              if (iw < 0 || iw >= inW) continue;
              const pixel = (n * inH + ih) * inW + iw;
              for (let cw = 0; cw < cWords; cw++) {
                const wb = w[((o * KH + kh) * KW + kw) * cWords + cw];
                for (let b = 0; b < PIXEL_BITS; b++) {
                  const p = planeBits[(pixel * PIXEL_BITS + b) * cWords + cw];
                  s += 2 ** b * (popcount(p & ~wb) - popcount(p & wb));
                }
              }
            }
          }
          out[row * O + o] = s;
        }
      }
    }
  }
  return out;
}
