// fp32 GEMM (shaders/gemm_f32.wgsl): C[M,N] = A[M,K] . B[N,K]^T, the baseline every binary
// speed-up is measured against. Beside the launcher, its plain CPU reference.
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { expectTensor } from './check.js';
import { gemmTuningFor, runTiledGemm, type GemmTuning } from './gemm-tiling.js';

export interface GemmOptions {
  out?: Tensor;
  tuning?: GemmTuning;
  label?: string;
}

const OP = 'gemmF32';

/** Convolution geometry of gemm_f32.wgsl's params, all zero for a plain GEMM. */
export const NO_CONV_GEOMETRY_F32 = {
  src_h: 0,
  src_w: 0,
  channels: 0,
  c_chunks: 0,
  out_w: 0,
  out_hw: 0,
  kernel_h: 0,
  kernel_w: 0,
  stride_h: 0,
  stride_w: 0,
  dilation_h: 0,
  dilation_w: 0,
} as const;

/** C = A . B^T for f32 A[M,K] and f32 B[N,K]. */
export async function gemmF32(gpu: Gpu, a: Tensor, b: Tensor, options: GemmOptions = {}): Promise<Tensor> {
  const [M, K] = expectTensor(OP, 'a', a, 'f32', 2);
  const [N, Kb] = expectTensor(OP, 'b', b, 'f32', 2);
  if (K !== Kb) throw new ShapeError(`${OP}: a is [${M}, ${K}] and b is [${N}, ${Kb}]: both must have the same K (C = A . B^T)`);
  const label = options.label ?? `${OP}[${M}x${N}x${K}]`;
  return runTiledGemm(gpu, {
    op: OP,
    kind: 'f32',
    shader: 'gemm_f32',
    entryPoint: 'gemm_f32',
    M,
    N,
    K,
    outDtype: 'f32',
    outName: 'out',
    inputs: { a, b },
    extraParams: NO_CONV_GEOMETRY_F32,
    constants: { IM2COL: false },
    out: options.out,
    tuning: gemmTuningFor(gpu, options.tuning, { kernel: 'gemmF32', M, N, K }, label),
    label,
  });
}

/** Plain CPU reference of gemmF32 (accumulates in f64). */
export function gemmF32Reference(a: Float32Array, b: Float32Array, M: number, N: number, K: number): Float32Array {
  const out = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[m * K + k] * b[n * K + k];
      out[m * N + n] = s;
    }
  }
  return out;
}
