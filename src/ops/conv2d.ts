// fp32 2-D convolution: f32 NHWC input with f32 OHWI weights, zero padding, as an implicit GEMM
// (shaders/gemm_f32.wgsl, IM2COL mode) of the same care as the binary one: the baseline every
// binary-convolution speed-up is measured against. Beside it, its CPU reference.
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { conv2dGeometry, type Conv2dGeometry, type Conv2dWindow } from './bconv2d.js';
import { expectTensor } from './check.js';
import { runTiledGemm, type GemmTuning } from './gemm-tiling.js';
import { implicitGemmParams, padForWindows, stepTaps } from './pad.js';

export interface Conv2dOptions extends Omit<Conv2dWindow, 'padValues'> {
  out?: Tensor;
  tuning?: GemmTuning;
  label?: string;
}

const OP = 'conv2d';

/** y[n, oh, ow, o] = sum over the window and channels of x * w (zero padding). */
export async function conv2d(gpu: Gpu, x: Tensor, w: Tensor, options: Conv2dOptions = {}): Promise<Tensor> {
  const inShape = expectTensor(OP, 'x', x, 'f32', 4);
  const kShape = expectTensor(OP, 'w', w, 'f32', 4);
  if ('padValues' in options && (options as { padValues?: unknown }).padValues !== undefined) {
    throw new ShapeError(`${OP}: padValues is Larq's option for binary inputs; the fp32 convolution pads with zeros (use bconv2d for pad_values)`);
  }
  return conv2dForGeometry(gpu, x, w, conv2dGeometry(inShape, kShape, options, OP), options);
}

/**
 * conv2d on a geometry the caller computed (x and w already checked against it): the input
 * gradient (src/ops/conv2d-backward.ts) is a forward convolution whose padding is not 'valid' or 'same'.
 */
export async function conv2dForGeometry(gpu: Gpu, x: Tensor, w: Tensor, g: Conv2dGeometry, options: Conv2dOptions = {}): Promise<Tensor> {
  const taps = g.kernelH * g.kernelW;
  const cChunks = Math.ceil(g.channels / 4);
  const tapsPerStep = stepTaps(g.channels);
  const shape = `${g.batch}x${g.inH}x${g.inW}x${g.channels}*${g.kernelH}x${g.kernelW}->${g.outChannels}`;
  const label = options.label ?? `${OP}[${shape}]`;
  const { src, srcH, srcW, padded } = await padForWindows(gpu, x, g, label);
  try {
    return await runTiledGemm(gpu, {
      op: OP,
      kind: 'f32',
      shader: 'gemm_f32',
      entryPoint: 'gemm_f32',
      M: g.batch * g.outH * g.outW,
      N: g.outChannels,
      K: taps * g.channels,
      kSteps: tapsPerStep > 1 ? Math.ceil((taps * g.channels) / 4) : taps * cChunks,
      outDtype: 'f32',
      outName: 'out',
      outShape: [g.batch, g.outH, g.outW, g.outChannels],
      inputs: { a: src, b: w },
      extraParams: { ...implicitGemmParams(g, srcH, srcW, cChunks), channels: g.channels },
      constants: { IM2COL: true, CONV_KERNEL_W: g.kernelW, CONV_C_CHUNKS: cChunks, CONV_TAPS_PER_STEP: tapsPerStep },
      out: options.out,
      tuning: options.tuning,
      label,
    });
  } finally {
    if (padded) src.release();
  }
}

/** Plain CPU reference of conv2d (f64 sums), x [N, H, W, C], w [O, KH, KW, C], zero padding. */
export function conv2dReference(
  x: Float32Array,
  inShape: readonly number[],
  w: Float32Array,
  kShape: readonly number[],
  window: Omit<Conv2dWindow, 'padValues'> = {},
): Float32Array {
  const g = conv2dGeometry(inShape, kShape, window, 'conv2dReference');
  const { inH, inW, channels: C, outChannels: O, kernelH: KH, kernelW: KW } = g;
  const out = new Float32Array(g.batch * g.outH * g.outW * O);
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        const row = (n * g.outH + oh) * g.outW + ow;
        for (let o = 0; o < O; o++) {
          let sum = 0;
          for (let kh = 0; kh < KH; kh++) {
            const ih = oh * g.strideH + kh * g.dilationH - g.padTop;
            if (ih < 0 || ih >= inH) continue;
            for (let kw = 0; kw < KW; kw++) {
              const iw = ow * g.strideW + kw * g.dilationW - g.padLeft;
              if (iw < 0 || iw >= inW) continue;
              for (let c = 0; c < C; c++) sum += x[((n * inH + ih) * inW + iw) * C + c] * w[((o * KH + kh) * KW + kw) * C + c];
            }
          }
          out[row * O + o] = sum;
        }
      }
    }
  }
  return out;
}
