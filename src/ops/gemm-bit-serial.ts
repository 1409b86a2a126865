// DoReFa k-bit GEMM and convolution by bit-serial popcount, on gemm_binary.wgsl's BIT_SERIAL scheme
// (same loop, tiles, implicit GEMM and epilogues as binaryGemm / bconv2d). Activations are unsigned
// n in 0..2^ka-1 (DoReFa: a = n / (2^ka - 1)), weights unsigned m in 0..2^kw-1 (DoReFa: w =
// 2m / (2^kw - 1) - 1), each stored as bit planes (src/bitpack.ts: packBitPlanes, plane i = bit i).
// The kernel's integer dot is D = sum_k n (2m - (2^kw - 1)) = 2 sum_ij 2^(i+j) popcount(a_i & w_j)
// - (2^kw - 1) sum_i 2^i popcount(a_i), so sum_k a_k w_k = D * dorefaScale(ka, kw) exactly (up to
// f32 rounding): the affine epilogue applies it, with any per-column scale and bias folded in.
// Beside the launchers, their plain CPU references (loops over the integers).
import { unpackBitPlanes } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import { Tensor } from '../tensor.js';
import { bconv2dReference, conv2dGeometry, runBitConv, type BConv2dOptions, type Conv2dWindow } from './bconv2d.js';
import { expectTensor } from './check.js';
import { applyEpilogueReference, runBitGemm, type BinaryGemmOptions, type BinaryGemmReferenceEpilogue } from './gemm-binary.js';

/** The widest operands: 8 bits (DoReFa's k_bit is usually 1..8). */
export const MAX_BIT_SERIAL_BITS = 8;

/** The factor from the integer dot D to DoReFa's sum a*w: 1 / ((2^ka - 1) (2^kw - 1)). */
export function dorefaScale(ka: number, kw: number): number {
  return 1 / ((2 ** ka - 1) * (2 ** kw - 1));
}

/** Bits of an operand: its leading axis, checked. */
function bitsOf(op: string, name: string, shape: readonly number[], layout: string): number {
  const bits = shape[0];
  if (bits > MAX_BIT_SERIAL_BITS) {
    throw new ShapeError(`${op}: '${name}' must be b1 [bits, ${layout}] with bits 1..${MAX_BIT_SERIAL_BITS} (packBitPlanes), got [${shape.join(', ')}]`);
  }
  return bits;
}

/** |D| <= K (2^ka - 1)(2^kw - 1) must fit an i32 (the kernel accumulates D in 32 bits). */
function checkRange(op: string, K: number, ka: number, kw: number): void {
  const bound = K * (2 ** ka - 1) * (2 ** kw - 1);
  if (bound > 2 ** 31 - 1) {
    throw new ShapeError(`${op}: K = ${K} with ${ka}-bit activations and ${kw}-bit weights can reach |dot| = ${bound}, past i32; split K or use fewer bits`);
  }
}

/**
 * C[M,N] = D for activations A[M,K] as b1 [ka, M, K] (plane i = bit i of n) and weights W[N,K]
 * as b1 [kw, N, K] (plane j = bit j of m), ka, kw in 1..8: D = sum_k n (2m - (2^kw - 1)), the
 * DoReFa product sum_k a w in units of dorefaScale(ka, kw). binaryGemm's epilogues: i32 (D);
 * affine (D * scale + bias: scale = dorefaScale(ka, kw) gives sum a*w); thresholds to b1.
 */
export async function bitSerialGemm(gpu: Gpu, a: Tensor, w: Tensor, options: BinaryGemmOptions = {}): Promise<Tensor> {
  const op = 'bitSerialGemm';
  const aShape = expectTensor(op, 'a', a, 'b1', 3);
  const wShape = expectTensor(op, 'w', w, 'b1', 3);
  const [ka, M, K] = [bitsOf(op, 'a', aShape, 'M, K'), aShape[1], aShape[2]];
  const [kw, N, Kw] = [bitsOf(op, 'w', wShape, 'N, K'), wShape[1], wShape[2]];
  if (K !== Kw) throw new ShapeError(`${op}: a is [${aShape.join(', ')}] and w is [${wShape.join(', ')}]: both must have the same K (C = A . W^T)`);
  checkRange(op, K, ka, kw);
  return runBitGemm(gpu, op, { a, b: w, M, N, K }, { scheme: 'bitSerial', planesA: ka, planesB: kw }, options);
}

/**
 * DoReFa 2-D convolution: activations x as b1 [ka, N, H, W, C] (planes of NHWC), weights as b1
 * [kw, O, KH, KW, C] (planes of OHWI); D per output as in bitSerialGemm. Padding is zero
 * (Larq's pad_values 0: a padded tap is n = 0 and contributes nothing); pad_values 1 is refused.
 */
export async function bitSerialConv2d(gpu: Gpu, x: Tensor, w: Tensor, options: BConv2dOptions = {}): Promise<Tensor> {
  const op = 'bitSerialConv2d';
  const xShape = expectTensor(op, 'x', x, 'b1', 5);
  const wShape = expectTensor(op, 'w', w, 'b1', 5);
  const ka = bitsOf(op, 'x', xShape, 'N, H, W, C');
  const kw = bitsOf(op, 'w', wShape, 'O, KH, KW, C');
  if ((options.padValues ?? 0) !== 0) {
    throw new ShapeError(`${op}: padValues must be 0 (zero padding: padded taps contribute nothing); pad_values 1 would be n = 2^ka - 1, not supported`);
  }
  const g = conv2dGeometry(xShape.slice(1), wShape.slice(1), options, op);
  checkRange(op, wShape[2] * wShape[3] * wShape[4], ka, kw);
  // The planes as one NHWC tensor of ka*N images, so padding pads every plane (a view: not released).
  const planes = new Tensor(gpu, x.buffer, [ka * g.batch, g.inH, g.inW, g.channels], 'b1', `${x.label}.planes`);
  return runBitConv(gpu, op, planes, w, g, { scheme: 'bitSerial', planesA: ka, planesB: kw }, options);
}

/** Plain CPU reference of bitSerialGemm: the planes of a [ka, M, K] and w [kw, N, K] in, D out. */
export function bitSerialGemmReference(
  a: Uint32Array,
  w: Uint32Array,
  M: number,
  N: number,
  K: number,
  ka: number,
  kw: number,
  epilogue: BinaryGemmReferenceEpilogue = { kind: 'i32' },
): Int32Array | Float32Array | Uint32Array {
  const n = unpackBitPlanes(a, M, K, ka);
  const m = unpackBitPlanes(w, N, K, kw);
  const top = 2 ** kw - 1;
  const dots = new Int32Array(M * N);
  for (let r = 0; r < M; r++) {
    for (let c = 0; c < N; c++) {
      let sum = 0;
      for (let k = 0; k < K; k++) sum += n[r * K + k] * (2 * m[c * K + k] - top);
      dots[r * N + c] = sum;
    }
  }
  return applyEpilogueReference(dots, M, N, epilogue);
}

/**
 * Plain CPU reference of bitSerialConv2d on the integers: n [N, H, W, C] and m [O, KH, KW, C];
 * D = sum over the window of n (2m - (2^kw - 1)), border taps skipped (bconv2dReference's loops,
 * which hold for any values, with pad_values 0).
 */
export function bitSerialConv2dReference(
  n: ArrayLike<number>,
  inShape: readonly number[],
  m: ArrayLike<number>,
  kShape: readonly number[],
  kw: number,
  window: Conv2dWindow = {},
  epilogue: BinaryGemmReferenceEpilogue = { kind: 'i32' },
): Int32Array | Float32Array | Uint32Array {
  const top = 2 ** kw - 1;
  const weights = Float32Array.from(m, (v) => 2 * v - top);
  return bconv2dReference(Float32Array.from(n), inShape, weights, kShape, { ...window, padValues: 0 }, epilogue);
}
