// XNOR-Net's input scaling K (Rastegari et al. 2016, section 3.2), forward beside backward, with
// CPU references. For a binary layer y = (sign(x) . sign(W)) * K * alpha, K is per output position:
//   A[n, h, w] = mean over channels of |x[n, h, w, :]|        (dense: K = mean |x| over the row)
//   K[n, oh, ow] = sum of A over the window's taps inside the input / (KH * KW)   (k = 1 / (KH KW))
// The border counts as |0| = 0 whatever Larq's pad_values is (the paper pads with zeros); strides
// and dilation are the convolution's. Backward, given dL/dK: dL/dA spreads each dK back over its
// window's taps / (KH KW), and dL/dx[.., c] += sign(x) dL/dA / C, sign(0) = +1 (Larq's sign: the
// STE bits the layer already keeps; TF's d|x|/dx would give 0 at exactly 0).
// Kernels: shaders/xnor_scale.wgsl (row scale, row dots, signed add); A by columnReduce; the window
// sums by the fp32 convolution with a constant [1, KH, KW, 1] kernel, and its input gradient.
import { wordsPerRow } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import { Tensor, type Shape } from '../tensor.js';
import { conv2dGeometry, type Conv2dGeometry, type Conv2dWindow } from './bconv2d.js';
import { conv2d } from './conv2d.js';
import { conv2dBackwardInput } from './conv2d-backward.js';
import { columnReduce } from './reduce.js';
import { checkWorkgroupSize, expectNotAliased, expectRows, expectSameShape, launchAll, outputTensor } from './training-launch.js';

/** A convolution's window for K (Larq's pad_values does not enter it). */
export interface XnorScaleConv {
  kernelSize: readonly [number, number];
  window: Omit<Conv2dWindow, 'padValues'>;
  /** xnorWindowKernel(gpu, kernelSize): the constant [1, KH, KW, 1] kernel of 1 / (KH KW). */
  windowKernel: Tensor;
}

export interface XnorScaleOptions {
  /** A convolution's window; absent: a dense layer (x [rows, K], one K per row). */
  conv?: XnorScaleConv;
  label?: string;
}

/** The constant kernel K's window sums convolve A with: f32 [1, KH, KW, 1], every entry 1 / (KH KW). */
export function xnorWindowKernel(gpu: Gpu, kernelSize: readonly [number, number], label = 'xnorWindowKernel'): Tensor {
  return gpu.upload(xnorWindowWeights(kernelSize), [1, kernelSize[0], kernelSize[1], 1], 'f32', label);
}

/** The values of xnorWindowKernel: KH * KW entries of 1 / (KH KW). */
export function xnorWindowWeights(kernelSize: readonly [number, number]): Float32Array {
  const [kh, kw] = kernelSize;
  return new Float32Array(kh * kw).fill(1 / (kh * kw));
}

/** A tensor of another shape over the same storage (the caller keeps ownership of the buffer). */
const view = (t: Tensor, shape: Shape) => new Tensor(t.gpu, t.buffer, shape, t.dtype, t.label);

/** K for f32 x (dense [rows, K]; conv NHWC): f32 [rows of the layer's output] (dense: [rows]; conv: [N * OH * OW]). */
export async function xnorInputScale(gpu: Gpu, x: Tensor, options: XnorScaleOptions = {}): Promise<Tensor> {
  const op = 'xnorInputScale';
  const { shape, rows, cols } = expectRows(op, 'x', x, 'f32', options.conv ? 4 : 2);
  const label = options.label ?? `${op}[${shape.join('x')}]`;
  // A: mean |x| over the last axis, one value per row ('first' axis of the [rows, cols] view).
  const a = await columnReduce(gpu, view(x, [rows, cols]), { map: 'abs', axis: 'first', divisor: cols, label: `${label}.meanAbs` });
  if (!options.conv) return a;
  const g = geometryOf(op, shape, options.conv);
  try {
    const k = await conv2d(gpu, view(a, [g.batch, g.inH, g.inW, 1]), options.conv.windowKernel, { ...options.conv.window, label: `${label}.window` });
    return view(k, [g.batch * g.outH * g.outW]);
  } finally {
    a.release();
  }
}

/**
 * Adds K's share of dL/dx to `dx` in place: dK f32 [rows of the output], xBits b1 of x's shape
 * (sign(x), the layer's kept STE bits), dx f32 of x's shape.
 */
export async function xnorInputScaleBackward(gpu: Gpu, dK: Tensor, xBits: Tensor, dx: Tensor, options: XnorScaleOptions = {}): Promise<void> {
  const op = 'xnorInputScaleBackward';
  const { shape, rows, cols } = expectRows(op, 'dx', dx, 'f32', options.conv ? 4 : 2);
  expectRows(op, 'xBits', xBits, 'b1');
  expectSameShape(op, 'xBits', xBits, 'dx', shape);
  const label = options.label ?? `${op}[${shape.join('x')}]`;
  if (!options.conv) {
    await addSignedRows(gpu, view(dx, [rows, cols]), view(xBits, [rows, cols]), dK, { divisor: cols, label });
    return;
  }
  const g = geometryOf(op, shape, options.conv);
  if (dK.size !== g.batch * g.outH * g.outW) throw new ShapeError(`${op}: 'dK' must hold one value per output position (${g.batch * g.outH * g.outW}), got ${dK.size}`);
  const dA = await conv2dBackwardInput(gpu, view(dK, [g.batch, g.outH, g.outW, 1]), options.conv.windowKernel, { ...options.conv.window, inputShape: [g.batch, g.inH, g.inW, 1], label: `${label}.window` });
  try {
    await addSignedRows(gpu, view(dx, [rows, cols]), view(xBits, [rows, cols]), view(dA, [rows]), { divisor: cols, label });
  } finally {
    dA.release();
  }
}

function geometryOf(op: string, shape: Shape, conv: XnorScaleConv): Conv2dGeometry {
  const [kh, kw] = conv.kernelSize;
  const wk = conv.windowKernel;
  if (!(wk instanceof Tensor) || wk.dtype !== 'f32' || wk.shape.join() !== [1, kh, kw, 1].join()) {
    throw new ShapeError(`${op}: conv.windowKernel must be xnorWindowKernel(gpu, [${kh}, ${kw}]) (f32 [1, ${kh}, ${kw}, 1]), got ${wk}`);
  }
  return conv2dGeometry([shape[0], shape[1], shape[2], 1], [1, kh, kw, 1], conv.window, op);
}

export interface RowOpOptions {
  out?: Tensor;
  label?: string;
  workgroupSize?: number;
}

/** y[r, c] = x[r, c] * s[r]: x f32 [..., C] (rows = all axes but the last), s f32 with one value per row. */
export async function scaleRows(gpu: Gpu, x: Tensor, s: Tensor, options: RowOpOptions = {}): Promise<Tensor> {
  const op = 'scaleRows';
  const { shape, rows, cols } = expectRows(op, 'x', x, 'f32');
  expectPerRow(op, 's', s, rows);
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  expectNotAliased(op, { out: options.out }, { x, s });
  const label = options.label ?? `${op}[${shape.join('x')}]`;
  const fresh: Tensor[] = [];
  const y = outputTensor(gpu, op, 'out', options.out, 'f32', shape, label, fresh);
  const params = { rows, cols, words_per_row: 0, divisor: 1 };
  await launchAll(gpu, label, [{ spec: { shader: 'xnor_scale', entryPoint: 'scale_rows', constants: { WORKGROUP_SIZE: wg } }, bindings: { params, x, s, y }, workgroups: Math.ceil((rows * cols) / wg) }], fresh);
  return y;
}

/** d[r] = sum over c of a[r, c] * b[r, c] (f32, in column order): a and b f32 of one shape; d f32 [rows]. */
export async function rowDots(gpu: Gpu, a: Tensor, b: Tensor, options: RowOpOptions = {}): Promise<Tensor> {
  const op = 'rowDots';
  const { shape, rows, cols } = expectRows(op, 'a', a, 'f32');
  expectRows(op, 'b', b, 'f32');
  expectSameShape(op, 'b', b, 'a', shape);
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  expectNotAliased(op, { out: options.out }, { a, b });
  const label = options.label ?? `${op}[${shape.join('x')}]`;
  const fresh: Tensor[] = [];
  const y = outputTensor(gpu, op, 'out', options.out, 'f32', [rows], label, fresh);
  const params = { rows, cols, words_per_row: 0, divisor: 1 };
  await launchAll(gpu, label, [{ spec: { shader: 'xnor_scale', entryPoint: 'row_dots', constants: { WORKGROUP_SIZE: wg } }, bindings: { params, x: a, b, y }, workgroups: Math.ceil(rows / wg) }], fresh);
  return y;
}

export interface AddSignedRowsOptions {
  /** dx += sign * s[r] / divisor (default 1). */
  divisor?: number;
  label?: string;
  workgroupSize?: number;
}

/** In place: dx[r, c] += sign(x)[r, c] * s[r] / divisor, sign(x) from bits b1 of dx's shape (bit 1 = -1). */
export async function addSignedRows(gpu: Gpu, dx: Tensor, bits: Tensor, s: Tensor, options: AddSignedRowsOptions = {}): Promise<void> {
  const op = 'addSignedRows';
  const { shape, rows, cols } = expectRows(op, 'dx', dx, 'f32');
  expectRows(op, 'bits', bits, 'b1');
  expectSameShape(op, 'bits', bits, 'dx', shape);
  expectPerRow(op, 's', s, rows);
  const divisor = options.divisor ?? 1;
  if (!Number.isFinite(divisor) || divisor <= 0) throw new ShapeError(`${op}: divisor must be a positive number, got ${divisor}`);
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  expectNotAliased(op, { dx }, { bits, s });
  const label = options.label ?? `${op}[${shape.join('x')}]`;
  const params = { rows, cols, words_per_row: wordsPerRow(cols), divisor };
  await launchAll(gpu, label, [{ spec: { shader: 'xnor_scale', entryPoint: 'add_signed_rows', constants: { WORKGROUP_SIZE: wg } }, bindings: { params, s, y: dx, bits }, workgroups: Math.ceil((rows * cols) / wg) }], []);
}

function expectPerRow(op: string, name: string, s: unknown, rows: number): void {
  if (!(s instanceof Tensor)) throw new ShapeError(`${op}: '${name}' must be a Tensor, got ${typeof s}`);
  s.assertLive();
  if (s.dtype !== 'f32' || s.size !== rows) throw new ShapeError(`${op}: '${name}' must be f32 with one value per row (${rows}), got ${s}`);
}

// ---- CPU references (f64) --------------------------------------------------------------------

/** Where a convolution's window reads: NHWC input shape, kernel size, TF's window. */
export interface XnorScaleReferenceConv {
  inShape: readonly [number, number, number, number];
  kernelSize: readonly [number, number];
  window: Omit<Conv2dWindow, 'padValues'>;
}

/** Calls visit(o, i) for each output position o and each input position i its window reads inside the input. */
function eachWindowTap(c: XnorScaleReferenceConv, visit: (o: number, i: number) => void): Conv2dGeometry {
  const [N, H, W] = c.inShape;
  const g = conv2dGeometry([N, H, W, 1], [1, c.kernelSize[0], c.kernelSize[1], 1], c.window, 'xnorInputScaleReference');
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        const o = (n * g.outH + oh) * g.outW + ow;
        for (let kh = 0; kh < g.kernelH; kh++) {
          const ih = oh * g.strideH + kh * g.dilationH - g.padTop;
          for (let kw = 0; kw < g.kernelW; kw++) {
            const iw = ow * g.strideW + kw * g.dilationW - g.padLeft;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) visit(o, (n * H + ih) * W + iw);
          }
        }
      }
    }
  }
  return g;
}

/** K of x: dense (conv absent) x is [rows, cols] (cols given); conv x is NHWC (conv.inShape). */
export function xnorInputScaleReference(x: ArrayLike<number>, cols: number, conv?: XnorScaleReferenceConv): Float64Array {
  const rows = x.length / cols;
  const a = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.abs(x[r * cols + c]);
    a[r] = s / cols;
  }
  if (!conv) return a;
  const [N] = conv.inShape;
  const g = conv2dGeometry([N, conv.inShape[1], conv.inShape[2], 1], [1, conv.kernelSize[0], conv.kernelSize[1], 1], conv.window, 'xnorInputScaleReference');
  const k = new Float64Array(N * g.outH * g.outW);
  eachWindowTap(conv, (o, i) => (k[o] += a[i]));
  const taps = conv.kernelSize[0] * conv.kernelSize[1];
  return k.map((v) => v / taps);
}

/** K's share of dL/dx for dL/dK = dK: laid out as x (sign(0) = +1). */
export function xnorInputScaleBackwardReference(x: ArrayLike<number>, cols: number, dK: ArrayLike<number>, conv?: XnorScaleReferenceConv): Float64Array {
  const rows = x.length / cols;
  let dA: Float64Array;
  if (!conv) dA = Float64Array.from(dK);
  else {
    dA = new Float64Array(rows);
    const taps = conv.kernelSize[0] * conv.kernelSize[1];
    eachWindowTap(conv, (o, i) => (dA[i] += dK[o] / taps));
  }
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) dx[i] = ((x[i] < 0 ? -1 : 1) * dA[Math.floor(i / cols)]) / cols;
  return dx;
}
