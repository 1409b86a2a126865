// Binary x float GEMM (shaders/gemm_binary_float.wgsl): C[M,N] = A[M,K] . B[N,K]^T with A f32
// and B b1 packed along K, by sign-select (no multiplications). The first layer's convolution
// (src/ops/first-layer.ts, same shader) and the backward pass use it. Beside it, its reference.
import { wordsPerRow } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { expectTensor } from './check.js';
import { runTiledGemm } from './gemm-tiling.js';
import type { GemmOptions } from './gemm-f32.js';

const OP = 'binaryFloatGemm';

/** The convolution geometry of shaders/gemm_binary_float.wgsl's params, all zero for a plain GEMM. */
export const NO_FLOAT_CONV_GEOMETRY = {
  in_h: 0,
  in_w: 0,
  channels: 0,
  c_words: 0,
  out_w: 0,
  out_hw: 0,
  kernel_h: 0,
  kernel_w: 0,
  stride_h: 0,
  stride_w: 0,
  dilation_h: 0,
  dilation_w: 0,
  pad_top: 0,
  pad_left: 0,
} as const;

/** C = A . B^T for f32 A[M,K] and b1 B[N,K]. */
export async function binaryFloatGemm(gpu: Gpu, a: Tensor, b: Tensor, options: GemmOptions = {}): Promise<Tensor> {
  const [M, K] = expectTensor(OP, 'a', a, 'f32', 2);
  const [N, Kb] = expectTensor(OP, 'b', b, 'b1', 2);
  if (K !== Kb) throw new ShapeError(`${OP}: a is [${M}, ${K}] and b is [${N}, ${Kb}]: both must have the same K (C = A . B^T)`);
  return runTiledGemm(gpu, {
    op: OP,
    kind: 'binaryFloat',
    shader: 'gemm_binary_float',
    entryPoint: 'gemm_binary_float',
    M,
    N,
    K,
    outDtype: 'f32',
    outName: 'out',
    inputs: { a, b },
    extraParams: { k_words: wordsPerRow(K), ...NO_FLOAT_CONV_GEOMETRY },
    constants: { IM2COL: false },
    out: options.out,
    tuning: options.tuning,
    label: options.label ?? `${OP}[${M}x${N}x${K}]`,
  });
}

/** Plain CPU reference of binaryFloatGemm: packed B's bits select the sign of each term (f64 sum). */
export function binaryFloatGemmReference(a: Float32Array, b: Uint32Array, M: number, N: number, K: number): Float32Array {
  const wpr = wordsPerRow(K);
  const out = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const negative = (b[n * wpr + (k >>> 5)] >>> (k & 31)) & 1;
        s += negative ? -a[m * K + k] : a[m * K + k];
      }
      out[m * N + n] = s;
    }
  }
  return out;
}
