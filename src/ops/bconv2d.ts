// Binary 2-D convolution: b1 NHWC input (channels packed along C) with b1 OHWI weights (packed
// along I), run as an implicit GEMM by shaders/gemm_binary.wgsl (IM2COL mode): rows are output
// pixels, columns output channels, K the window's taps x channels. Larq's padding semantics:
// pad_values = 1 (border taps are +1) and pad_values = 0 (border taps contribute nothing, exact,
// by a per-position correction). The same epilogues as binaryGemm. Beside it, the CPU reference.
import { wordsPerRow } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import type { TuningSite } from '../gpu/tuning-table.js';
import { expectTensor } from './check.js';
import {
  XNOR_SCHEME,
  applyEpilogueReference,
  binaryEpilogue,
  bitGemmTuning,
  schemeConstants,
  vec4Views,
  type BinaryGemmEpilogue,
  type BinaryGemmReferenceEpilogue,
  type BitScheme,
} from './gemm-binary.js';
import { gemmTuningFor, runTiledGemm, type GemmTuning } from './gemm-tiling.js';
import { implicitGemmParams, padForWindows, stepTaps } from './pad.js';
import { pool2dGeometry, type Pool2dPadding } from './window.js';

export interface Conv2dWindow {
  /** [vertical, horizontal] step, or one for both. Default 1. */
  strides?: number | readonly [number, number];
  /** 'valid' (default, as Keras) or 'same'. */
  padding?: Pool2dPadding;
  /** Larq's pad_values: 0 (default: border taps contribute nothing) or 1 (border taps are +1). */
  padValues?: 0 | 1;
  /** [vertical, horizontal] dilation rate, or one for both. Default 1. */
  dilation?: number | readonly [number, number];
}

export interface Conv2dGeometry {
  batch: number;
  inH: number;
  inW: number;
  channels: number;
  outChannels: number;
  kernelH: number;
  kernelW: number;
  outH: number;
  outW: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  padTop: number;
  padLeft: number;
  padValues: 0 | 1;
}

/** Output size and padding of a convolution as TensorFlow computes them (the window dilated). */
export function conv2dGeometry(input: readonly number[], kernel: readonly number[], w: Conv2dWindow = {}, op = 'conv2d'): Conv2dGeometry {
  if (kernel.length !== 4 || kernel.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${op}: the kernel must be OHWI [out, kh, kw, in] with positive sizes, got [${kernel.join(', ')}]`);
  }
  const [outChannels, kernelH, kernelW, kernelIn] = kernel;
  if (input.length === 4 && input[3] !== kernelIn) {
    throw new ShapeError(`${op}: the input has ${input[3]} channels but the kernel [${kernel.join(', ')}] expects ${kernelIn} (OHWI: the last axis is the input channels)`);
  }
  const [dilationH, dilationW] = pairOf(op, 'dilation', w.dilation ?? 1);
  const padValues = w.padValues ?? 0;
  if (padValues !== 0 && padValues !== 1) throw new ShapeError(`${op}: padValues must be 0 or 1 (Larq's pad_values), got ${padValues}`);
  const g = pool2dGeometry(input, { poolSize: [(kernelH - 1) * dilationH + 1, (kernelW - 1) * dilationW + 1], strides: w.strides ?? 1, padding: w.padding ?? 'valid' }, op);
  return {
    batch: g.batch,
    inH: g.inH,
    inW: g.inW,
    channels: g.channels,
    outChannels,
    kernelH,
    kernelW,
    outH: g.outH,
    outW: g.outW,
    strideH: g.strideH,
    strideW: g.strideW,
    dilationH,
    dilationW,
    padTop: g.padTop,
    padLeft: g.padLeft,
    padValues,
  };
}

function pairOf(op: string, name: string, v: unknown): [number, number] {
  const p = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${op}: '${name}' must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [p[0], p[1]];
}

export interface BConv2dOptions extends Conv2dWindow {
  epilogue?: BinaryGemmEpilogue;
  /** Write here: i32/f32 [N, OH, OW, O], or b1 [N, OH, OW, O] for the threshold epilogue. */
  out?: Tensor;
  tuning?: GemmTuning;
  label?: string;
}

const OP = 'bconv2d';

/** y[n, oh, ow, o] = sum over the window and channels of x * w, in +-1 arithmetic. */
export async function bconv2d(gpu: Gpu, x: Tensor, w: Tensor, options: BConv2dOptions = {}): Promise<Tensor> {
  const inShape = expectTensor(OP, 'x', x, 'b1', 4);
  const kShape = expectTensor(OP, 'w', w, 'b1', 4);
  const g = conv2dGeometry(inShape, kShape, options, OP);
  return runBitConv(gpu, OP, x, w, g, XNOR_SCHEME, options);
}

/**
 * Runs gemm_binary.wgsl as an implicit-GEMM convolution in `scheme` on checked operands: x the
 * input's planes as one b1 NHWC tensor (plane p = batch entries p*N .. p*N + N - 1), w the
 * weights' planes (OHWI each, one after another). bconv2d and the low-bit convolutions.
 */
export async function runBitConv(gpu: Gpu, op: string, x: Tensor, w: Tensor, g: Conv2dGeometry, scheme: BitScheme, options: BConv2dOptions): Promise<Tensor> {
  const epilogue = options.epilogue ?? { kind: 'i32' };
  const taps = g.kernelH * g.kernelW;
  const M = g.batch * g.outH * g.outW;
  const shape = `${g.batch}x${g.inH}x${g.inW}x${g.channels}*${g.kernelH}x${g.kernelW}->${g.outChannels}`;
  const label = options.label ?? `${op}[${shape}].${epilogue.kind}`;
  const given = scheme.scheme === 'xnor' ? gemmTuningFor(gpu, options.tuning, convSite(g, options, epilogue.kind), label) : options.tuning;
  const tuning = bitGemmTuning(gpu, op, given, epilogue.kind, scheme);
  const e = binaryEpilogue(op, epilogue, g.outChannels, tuning);
  const cWords = wordsPerRow(g.channels);
  const cChunks = Math.ceil(cWords / 4);
  const tapsPerStep = stepTaps(cWords);
  const { src, srcH, srcW, padded } = await padForWindows(gpu, x, g, label);
  try {
    return await runTiledGemm(gpu, {
      op,
      kind: 'binary',
      shader: 'gemm_binary',
      entryPoint: e.entryPoint,
      M,
      N: g.outChannels,
      K: taps * g.channels,
      kSteps: tapsPerStep > 1 ? Math.ceil((taps * cWords) / 4) : taps * cChunks,
      outDtype: e.outDtype,
      outName: e.outName,
      outShape: [g.batch, g.outH, g.outW, g.outChannels],
      inputs: { a: src, b: w, ...vec4Views(src, w), ...(e.inputs as Record<string, Tensor>) },
      extraParams: {
        ...implicitGemmParams(g, srcH, srcW, cChunks),
        k_words: taps * cWords,
        n_words: wordsPerRow(g.outChannels),
        c_words: cWords,
        // the unpadded geometry, for the zero-padding correction
        in_h: g.inH,
        in_w: g.inW,
        pad_top: g.padTop,
        pad_left: g.padLeft,
        zero_pad: g.padValues === 0 ? 1 : 0,
      },
      // A pixel's and a tap's words start on 4-word boundaries when C is a multiple of 128.
      constants: { IM2COL: true, CONV_KERNEL_W: g.kernelW, CONV_C_CHUNKS: cChunks, CONV_TAPS_PER_STEP: tapsPerStep, VEC4_ROWS: cWords % 4 === 0, ...schemeConstants(scheme) },
      colsPerWorkgroup: 'colsPerWorkgroup' in e ? e.colsPerWorkgroup : undefined,
      out: options.out,
      tuning,
      label,
    });
  } finally {
    if (padded) src.release();
  }
}

/** The autotuner's description of a binary convolution (src/gpu/tuning-table.ts). */
function convSite(g: Conv2dGeometry, w: Conv2dWindow, epilogue: BinaryGemmEpilogue['kind']): TuningSite {
  return {
    kernel: 'bconv2d',
    epilogue,
    M: g.batch * g.outH * g.outW,
    N: g.outChannels,
    K: g.kernelH * g.kernelW * g.channels,
    conv: {
      input: [g.batch, g.inH, g.inW, g.channels],
      kernel: [g.outChannels, g.kernelH, g.kernelW, g.channels],
      strides: [g.strideH, g.strideW],
      dilation: [g.dilationH, g.dilationW],
      padding: w.padding ?? 'valid',
      padValues: g.padValues,
    },
  };
}

/**
 * Plain CPU reference of bconv2d on +-1 floats: x [N, H, W, C] and w [O, KH, KW, C] (values
 * +-1, as unpackRows gives them), direct loops; border taps are +1 or skipped per padValues.
 */
export function bconv2dReference(
  x: Float32Array,
  inShape: readonly number[],
  w: Float32Array,
  kShape: readonly number[],
  window: Conv2dWindow = {},
  epilogue: BinaryGemmReferenceEpilogue = { kind: 'i32' },
): Int32Array | Float32Array | Uint32Array {
  const g = conv2dGeometry(inShape, kShape, window, 'bconv2dReference');
  const { inH, inW, channels: C, outChannels: O, kernelH: KH, kernelW: KW } = g;
  const M = g.batch * g.outH * g.outW;
  const dots = new Int32Array(M * O);
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        const row = (n * g.outH + oh) * g.outW + ow;
        for (let o = 0; o < O; o++) {
          let sum = 0;
          for (let kh = 0; kh < KH; kh++) {
            for (let kw = 0; kw < KW; kw++) {
              const ih = oh * g.strideH + kh * g.dilationH - g.padTop;
              const iw = ow * g.strideW + kw * g.dilationW - g.padLeft;
              const inside = ih >= 0 && ih < inH && iw >= 0 && iw < inW;
              if (!inside && g.padValues === 0) continue;
              for (let c = 0; c < C; c++) {
                const xv = inside ? x[((n * inH + ih) * inW + iw) * C + c] : 1;
                sum += xv * w[((o * KH + kh) * KW + kw) * C + c];
              }
            }
          }
          dots[row * O + o] = sum;
        }
      }
    }
  }
  return applyEpilogueReference(dots, M, O, epilogue);
}
