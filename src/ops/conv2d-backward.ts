// Backward passes of the 2-D convolutions (issue 5), binary (bconv2d: Larq's QuantConv2D with
// ste_sign on input and kernel) and fp32 (conv2d, and real-valued first layers), in their own file
// beside src/ops/bconv2d.ts and conv2d.ts: the data movement is shaders/conv_backward.wgsl, the
// arithmetic the existing GEMMs. Gradients are taken before the STE masks (steSignBackward).
//   dW = dz^T . im2col(x)        [O, NP] . [KH*KW*I, NP]^T, im2col transposed (rows per (tap, i));
//        binary: x's rows stay bit-packed along positions and binaryFloatGemm sign-selects dz
//        (32x less traffic on x); pad_values = 0: outside taps are read as +1 and taken off after.
//   dx = conv(dz, flip(W)^T)     a forward convolution of dz (zero-dilated by the stride when it
//        is > 1) with the kernel IHWO, taps reversed; binary: signSelectConv2d reads W packed.
// Beside them, the plain CPU references (f64 sums).
import { wordsPerRow } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import { Tensor, type Shape } from '../tensor.js';
import { conv2dGeometry, type Conv2dGeometry, type Conv2dWindow } from './bconv2d.js';
import { expectTensor } from './check.js';
import { conv2dForGeometry } from './conv2d.js';
import { signSelectConv2dForGeometry } from './first-layer.js';
import { binaryFloatGemm, type BinaryFloatMethod } from './gemm-binary-float.js';
import { gemmF32 } from './gemm-f32.js';
import type { GemmTuning } from './gemm-tiling.js';
import { checkWorkgroupSize, expectNotAliased, launchAll, outputTensor, type LaunchStep } from './training-launch.js';
import { transposeF32 } from './transpose.js';

export interface Conv2dBackwardFilterOptions extends Conv2dWindow {
  /** The kernel's [height, width], or one size for both. */
  kernelSize: number | readonly [number, number];
  /** bconv2dBackwardFilter: how binaryFloatGemm sums the sign-selected terms (default 'select'). */
  method?: BinaryFloatMethod;
  /** Write dW here: f32 [O, KH, KW, I]. */
  out?: Tensor;
  tuning?: GemmTuning;
  label?: string;
}

export interface Conv2dBackwardInputOptions extends Conv2dWindow {
  /** The forward input's shape [N, H, W, I] (with a stride > 1 several input sizes give one output size). */
  inputShape: Shape;
  /** Write dx here: f32 [N, H, W, I]. */
  out?: Tensor;
  tuning?: GemmTuning;
  label?: string;
}

const WG = 64;

/** dW[o, kh, kw, i] = sum over n, oh, ow of dz * q(x) padded with padValues. dz f32 [N, OH, OW, O], xBits b1 [N, H, W, I]. */
export async function bconv2dBackwardFilter(gpu: Gpu, dz: Tensor, xBits: Tensor, options: Conv2dBackwardFilterOptions): Promise<Tensor> {
  return backwardFilter(gpu, 'bconv2dBackwardFilter', dz, xBits, 'b1', options);
}

/** The same for the fp32 convolution (zero padding): x f32 [N, H, W, I]. */
export async function conv2dBackwardFilter(gpu: Gpu, dz: Tensor, x: Tensor, options: Conv2dBackwardFilterOptions): Promise<Tensor> {
  return backwardFilter(gpu, 'conv2dBackwardFilter', dz, x, 'f32', options);
}

/** dx[n, h, w, i] = sum over o and the taps that read (h, w) of dz * q(W). dz f32 [N, OH, OW, O], wBits b1 [O, KH, KW, I]. */
export async function bconv2dBackwardInput(gpu: Gpu, dz: Tensor, wBits: Tensor, options: Conv2dBackwardInputOptions): Promise<Tensor> {
  return backwardInput(gpu, 'bconv2dBackwardInput', dz, wBits, 'b1', options);
}

/** The same for the fp32 convolution: w f32 [O, KH, KW, I]. */
export async function conv2dBackwardInput(gpu: Gpu, dz: Tensor, w: Tensor, options: Conv2dBackwardInputOptions): Promise<Tensor> {
  return backwardInput(gpu, 'conv2dBackwardInput', dz, w, 'f32', options);
}

/** Checks dz against the forward geometry: f32 [N, OH, OW, O]. */
function expectDz(op: string, dz: Tensor, g: Conv2dGeometry): void {
  const s = expectTensor(op, 'dz', dz, 'f32', 4);
  const want = [g.batch, g.outH, g.outW, g.outChannels];
  if (s.some((d, i) => d !== want[i])) {
    throw new ShapeError(`${op}: 'dz' must be the forward output's shape [${want.join(', ')}] (N, OH, OW, O for this input, kernel and window), got [${s.join(', ')}]`);
  }
}

function checkPadValues(op: string, dtype: 'f32' | 'b1', w: Conv2dWindow): void {
  if (dtype === 'f32' && w.padValues !== undefined) {
    throw new ShapeError(`${op}: padValues is Larq's option for binary inputs; the fp32 convolution pads with zeros (use the bconv2d backward for pad_values)`);
  }
}

/** A tensor of another shape over the same storage; never released (its buffer belongs to `t`). */
function view(t: Tensor, shape: Shape): Tensor {
  return new Tensor(t.gpu, t.buffer, shape, t.dtype, `${t.label}.view`);
}

/** The uniforms of shaders/conv_backward.wgsl for geometry g. */
function shaderParams(g: Conv2dGeometry, count: number) {
  const positions = g.batch * g.outH * g.outW;
  return {
    count,
    in_h: g.inH,
    in_w: g.inW,
    channels: g.channels,
    c_words: wordsPerRow(g.channels),
    out_h: g.outH,
    out_w: g.outW,
    out_channels: g.outChannels,
    o_words: wordsPerRow(g.outChannels),
    kernel_h: g.kernelH,
    kernel_w: g.kernelW,
    stride_h: g.strideH,
    stride_w: g.strideW,
    dilation_h: g.dilationH,
    dilation_w: g.dilationW,
    pad_top: g.padTop,
    pad_left: g.padLeft,
    positions,
    pos_words: wordsPerRow(positions),
  };
}

function spec(entryPoint: string) {
  return { shader: 'conv_backward' as const, entryPoint, constants: { WORKGROUP_SIZE: WG } };
}

function describe(g: Conv2dGeometry): string {
  return `${g.batch}x${g.inH}x${g.inW}x${g.channels}*${g.kernelH}x${g.kernelW}->${g.outChannels}`;
}

/** Whether some tap of some output position lies outside the input. */
function hasOutsideTaps(g: Conv2dGeometry): boolean {
  const overhang = (out: number, s: number, k: number, d: number, pad: number, len: number) => (out - 1) * s + (k - 1) * d - pad > len - 1;
  return g.padTop > 0 || g.padLeft > 0 || overhang(g.outH, g.strideH, g.kernelH, g.dilationH, g.padTop, g.inH) || overhang(g.outW, g.strideW, g.kernelW, g.dilationW, g.padLeft, g.inW);
}

async function backwardFilter(gpu: Gpu, op: string, dz: Tensor, x: Tensor, dtype: 'f32' | 'b1', options: Conv2dBackwardFilterOptions): Promise<Tensor> {
  checkPadValues(op, dtype, options);
  const inShape = expectTensor(op, dtype === 'b1' ? 'xBits' : 'x', x, dtype, 4);
  const dzShape = expectTensor(op, 'dz', dz, 'f32', 4);
  const k = options.kernelSize;
  const [kh, kw] = typeof k === 'number' ? [k, k] : Array.isArray(k) && k.length === 2 ? k : [NaN, NaN];
  if (!Number.isInteger(kh) || !Number.isInteger(kw) || kh < 1 || kw < 1) {
    throw new ShapeError(`${op}: kernelSize must be a positive integer or a pair of them ([KH, KW]), got ${JSON.stringify(k)}`);
  }
  const g = conv2dGeometry(inShape, [dzShape[3], kh, kw, inShape[3]], options, op);
  expectDz(op, dz, g);
  expectNotAliased(op, { out: options.out }, { dz, x });
  const taps = kh * kw;
  const P = g.batch * g.outH * g.outW;
  const label = options.label ?? `${op}[${describe(g)}]`;
  const fresh: Tensor[] = [];
  const dw = outputTensor(gpu, op, 'out', options.out, 'f32', [g.outChannels, kh, kw, g.channels], label, fresh);
  let rows: Tensor | undefined;
  let dzT: Tensor | undefined;
  try {
    rows = gpu.tensor([taps * g.channels, P], dtype, `${label}.rows`);
    const count = dtype === 'b1' ? taps * g.channels * wordsPerRow(P) : taps * g.channels * P;
    const io: Record<string, Tensor> = dtype === 'b1' ? { x_bits: x, rows_bits: rows } : { x, rows };
    await launchAll(gpu, `${label}.im2col`, [{ spec: spec(dtype === 'b1' ? 'im2col_bits' : 'im2col_f32'), bindings: { params: shaderParams(g, count), ...io }, workgroups: Math.ceil(count / WG) }], []);
    dzT = await transposeF32(gpu, view(dz, [P, g.outChannels]), { label: `${label}.dzT` });
    const out2d = view(dw, [g.outChannels, taps * g.channels]);
    if (dtype === 'b1') await binaryFloatGemm(gpu, dzT, rows, { out: out2d, tuning: options.tuning, method: options.method, label: `${label}.gemm` });
    else await gemmF32(gpu, dzT, rows, { out: out2d, tuning: options.tuning, label: `${label}.gemm` });
    if (dtype === 'b1' && g.padValues === 0 && hasOutsideTaps(g)) {
      const n = g.outChannels * taps;
      await launchAll(gpu, `${label}.pad_correction`, [{ spec: spec('pad_correction'), bindings: { params: shaderParams(g, n), dz, dw }, workgroups: Math.ceil(n / WG) }], []);
    }
  } catch (err) {
    for (const t of fresh) t.release();
    throw err;
  } finally {
    rows?.release();
    dzT?.release();
  }
  return dw;
}

async function backwardInput(gpu: Gpu, op: string, dz: Tensor, w: Tensor, dtype: 'f32' | 'b1', options: Conv2dBackwardInputOptions): Promise<Tensor> {
  checkPadValues(op, dtype, options);
  const kShape = expectTensor(op, dtype === 'b1' ? 'wBits' : 'w', w, dtype, 4);
  const inputShape = options.inputShape;
  if (!Array.isArray(inputShape) || inputShape.length !== 4) {
    throw new ShapeError(`${op}: inputShape must be the forward input's NHWC shape [N, H, W, I], got ${JSON.stringify(inputShape)}`);
  }
  const g = conv2dGeometry(inputShape, kShape, options, op);
  expectDz(op, dz, g);
  expectNotAliased(op, { out: options.out }, { dz, w });
  checkWorkgroupSize(gpu, op, WG);
  const [O, KH, KW, I] = kShape;
  const label = options.label ?? `${op}[${describe(g)}]`;
  // The input gradient as a forward convolution of dz, zero-dilated by the stride, with the kernel
  // IHWO and its taps reversed: dx[h] reads dilated row h + kh' * dh - ((KH - 1) * dh - padTop).
  const dH = (g.outH - 1) * g.strideH + 1;
  const dW = (g.outW - 1) * g.strideW + 1;
  const tg: Conv2dGeometry = {
    batch: g.batch,
    inH: dH,
    inW: dW,
    channels: O,
    outChannels: I,
    kernelH: KH,
    kernelW: KW,
    outH: g.inH,
    outW: g.inW,
    strideH: 1,
    strideW: 1,
    dilationH: g.dilationH,
    dilationW: g.dilationW,
    padTop: (KH - 1) * g.dilationH - g.padTop,
    padLeft: (KW - 1) * g.dilationW - g.padLeft,
    padValues: 0,
  };
  const fresh: Tensor[] = [];
  const dx = outputTensor(gpu, op, 'out', options.out, 'f32', inputShape, label, fresh);
  let flipped: Tensor | undefined;
  let dilated: Tensor | undefined;
  try {
    flipped = gpu.tensor([I, KH, KW, O], dtype, `${label}.flipped`);
    const flipCount = dtype === 'b1' ? I * KH * KW * wordsPerRow(O) : I * KH * KW * O;
    const io: Record<string, Tensor> = dtype === 'b1' ? { w_bits: w, flipped_bits: flipped } : { w, flipped };
    const steps: LaunchStep[] = [{ spec: spec(dtype === 'b1' ? 'flip_bits' : 'flip_f32'), bindings: { params: shaderParams(g, flipCount), ...io }, workgroups: Math.ceil(flipCount / WG) }];
    if (g.strideH > 1 || g.strideW > 1) {
      dilated = gpu.tensor([g.batch, dH, dW, O], 'f32', `${label}.dilated`);
      const n = g.batch * dH * dW * O;
      steps.push({ spec: spec('dilate_f32'), bindings: { params: shaderParams(g, n), dz, dilated }, workgroups: Math.ceil(n / WG) });
    }
    await launchAll(gpu, `${label}.prepare`, steps, []);
    const src = dilated ?? dz;
    const conv = { out: dx, tuning: options.tuning, label: `${label}.conv` };
    if (dtype === 'b1') await signSelectConv2dForGeometry(gpu, src, flipped, tg, conv);
    else await conv2dForGeometry(gpu, src, flipped, tg, conv);
  } catch (err) {
    for (const t of fresh) t.release();
    throw err;
  } finally {
    flipped?.release();
    dilated?.release();
  }
  return dx;
}

// ---------------------------------------------------------------------------------------------
// CPU references, f64 sums. For the binary convolution pass the +-1 values (unpackRows) and the
// window's padValues; the fp32 one pads with zeros (padValues 0).
// ---------------------------------------------------------------------------------------------

/** Calls visit(dzIndex, xIndex | -1 outside, wIndex without o) for every term of the convolution. */
function eachTerm(g: Conv2dGeometry, visit: (z: number, xi: number, wi: number) => void): void {
  const { inH, inW, channels: C, outChannels: O, kernelH: KH, kernelW: KW } = g;
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        const z = ((n * g.outH + oh) * g.outW + ow) * O;
        for (let kh = 0; kh < KH; kh++) {
          for (let kw = 0; kw < KW; kw++) {
            const ih = oh * g.strideH + kh * g.dilationH - g.padTop;
            const iw = ow * g.strideW + kw * g.dilationW - g.padLeft;
            const inside = ih >= 0 && ih < inH && iw >= 0 && iw < inW;
            for (let c = 0; c < C; c++) visit(z, inside ? ((n * inH + ih) * inW + iw) * C + c : -1, (kh * KW + kw) * C + c);
          }
        }
      }
    }
  }
}

/**
 * dW[o, kh, kw, i] = sum over n, oh, ow of dz[n, oh, ow, o] * x_padded[n, oh*sh + kh*dh - pt, ow*sw + kw*dw - pl, i],
 * the border +1 with padValues 1, else 0. x [N, H, W, I] (+-1 values for bconv2d), kShape [O, KH, KW, I].
 */
export function conv2dBackwardFilterReference(dz: Float32Array, x: Float32Array, inShape: Shape, kShape: Shape, window: Conv2dWindow = {}): Float32Array {
  const g = conv2dGeometry(inShape, kShape, window, 'conv2dBackwardFilterReference');
  const O = g.outChannels;
  const tapLen = g.kernelH * g.kernelW * g.channels;
  const dw = new Float64Array(O * tapLen);
  eachTerm(g, (z, xi, wi) => {
    const xv = xi >= 0 ? x[xi] : g.padValues;
    if (xv === 0) return;
    for (let o = 0; o < O; o++) dw[o * tapLen + wi] += dz[z + o] * xv;
  });
  return Float32Array.from(dw);
}

/** dx[n, h, w, i] = sum over o and the taps that read (h, w) of dz * w[o, kh, kw, i]. w [O, KH, KW, I] (+-1 for bconv2d). */
export function conv2dBackwardInputReference(dz: Float32Array, w: Float32Array, inShape: Shape, kShape: Shape, window: Conv2dWindow = {}): Float32Array {
  const g = conv2dGeometry(inShape, kShape, window, 'conv2dBackwardInputReference');
  const O = g.outChannels;
  const tapLen = g.kernelH * g.kernelW * g.channels;
  const dx = new Float64Array(g.batch * g.inH * g.inW * g.channels);
  eachTerm(g, (z, xi, wi) => {
    if (xi < 0) return;
    for (let o = 0; o < O; o++) dx[xi] += dz[z + o] * w[o * tapLen + wi];
  });
  return Float32Array.from(dx);
}
