// Ternary weights x binary activations (TWN): the GEMM and the convolution, on gemm_binary.wgsl's
// TERNARY scheme (same loop, tiles, implicit GEMM and epilogues as binaryGemm / bconv2d). Weights
// are two bit planes (src/bitpack.ts: packTernaryRows): mask (1 = non-zero) and sign (1 = -1).
// Beside the launchers, their plain CPU references (loops over the values).
import { unpackRows, unpackTernaryRows } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { bconv2dReference, conv2dGeometry, runBitConv, type BConv2dOptions } from './bconv2d.js';
import { expectTensor } from './check.js';
import { applyEpilogueReference, runBitGemm, type BinaryGemmOptions, type BinaryGemmReferenceEpilogue, type BitScheme } from './gemm-binary.js';

const TERNARY: BitScheme = { scheme: 'ternary', planesA: 1, planesB: 2 };

/** The weights' planes, checked: b1 [2, ...shape] (mask, sign). */
function ternaryWeights(op: string, w: unknown, rank: number, layout: string): readonly number[] {
  const shape = expectTensor(op, 'w', w, 'b1', rank + 1);
  if (shape[0] !== 2) {
    throw new ShapeError(`${op}: 'w' must be b1 [2, ${layout}]: the mask plane then the sign plane (packTernaryRows), got [${shape.join(', ')}]`);
  }
  return shape.slice(1);
}

/**
 * C[M,N] = A . W^T for b1 activations A[M,K] and ternary weights W[N,K] given as b1 [2, N, K]
 * (plane 0 the mask, plane 1 the sign, each packed along K). The integer dot
 * sum_k a w = sum_words popcount(mask) - 2 popcount(mask & (a ^ sign)), through binaryGemm's
 * epilogues: i32; affine (TWN's alpha and a folded BatchNorm as scale/bias per column); or
 * integer thresholds to b1, so a ternary layer feeds the next binary layer.
 */
export async function ternaryGemm(gpu: Gpu, a: Tensor, w: Tensor, options: BinaryGemmOptions = {}): Promise<Tensor> {
  const op = 'ternaryGemm';
  const [M, K] = expectTensor(op, 'a', a, 'b1', 2);
  const [N, Kw] = ternaryWeights(op, w, 2, 'N, K');
  if (K !== Kw) throw new ShapeError(`${op}: a is [${M}, ${K}] and w is [2, ${N}, ${Kw}]: both must have the same K (C = A . W^T)`);
  return runBitGemm(gpu, op, { a, b: w, M, N, K }, TERNARY, options);
}

/**
 * Ternary 2-D convolution: b1 NHWC input x [N, H, W, C] with ternary OHWI weights w as b1
 * [2, O, KH, KW, C] (mask, sign). Larq's pad_values: 0 (default: border taps contribute nothing,
 * exact by the per-position correction) or 1 (border taps are +1). bconv2d's epilogues.
 */
export async function ternaryConv2d(gpu: Gpu, x: Tensor, w: Tensor, options: BConv2dOptions = {}): Promise<Tensor> {
  const op = 'ternaryConv2d';
  const inShape = expectTensor(op, 'x', x, 'b1', 4);
  const g = conv2dGeometry(inShape, ternaryWeights(op, w, 4, 'O, KH, KW, C'), options, op);
  return runBitConv(gpu, op, x, w, g, TERNARY, options);
}

/** Plain CPU reference of ternaryGemm: packed a [M, K], the mask and sign planes of w [N, K]. */
export function ternaryGemmReference(
  a: Uint32Array,
  mask: Uint32Array,
  sign: Uint32Array,
  M: number,
  N: number,
  K: number,
  epilogue: BinaryGemmReferenceEpilogue = { kind: 'i32' },
): Int32Array | Float32Array | Uint32Array {
  const x = unpackRows(a, M, K);
  const wv = unpackTernaryRows(mask, sign, N, K);
  const dots = new Int32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let sum = 0;
      for (let k = 0; k < K; k++) sum += x[m * K + k] * wv[n * K + k];
      dots[m * N + n] = sum;
    }
  }
  return applyEpilogueReference(dots, M, N, epilogue);
}

/**
 * Plain CPU reference of ternaryConv2d on values: x +-1 [N, H, W, C], w {-1, 0, +1} [O, KH, KW, C]
 * (unpackTernaryRows of the planes). bconv2dReference itself: its direct loops hold for any weight
 * values, border taps skipped (pad_values 0) or +1 (pad_values 1).
 */
export const ternaryConv2dReference: typeof bconv2dReference = bconv2dReference;
