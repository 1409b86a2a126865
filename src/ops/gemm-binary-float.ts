// Binary x float GEMM (shaders/gemm_binary_float.wgsl): C[M,N] = A[M,K] . B[N,K]^T with A f32
// and B b1 packed along K, by sign-select (no multiplications). The first layer's convolution
// (src/ops/first-layer.ts, same shader) and the backward pass use it. Beside it, its reference.
import { wordsPerRow } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { expectTensor } from './check.js';
import { gemmTuningFor, runTiledGemm } from './gemm-tiling.js';
import type { GemmOptions } from './gemm-f32.js';
import { launchAll } from './training-launch.js';

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

/**
 * How the sum of sign-selected terms is formed:
 * - 'select': each term a[k] with its sign flipped by b's bit (shaders/gemm_binary_float.wgsl);
 * - 'table': sign tables (shaders/gemm_sign_table.wgsl): for each chunk of `chunkBits` values of
 *   a row of A, its 2^chunkBits signed sums are tabulated once, then each output adds one entry
 *   per chunk, picked by b's bits: chunkBits times fewer additions, plus a table of
 *   ceil(K/chunkBits) * 2^(chunkBits-1) * M floats (temporary; half the patterns are the others
 *   negated). Pays when N is large against
 *   2^chunkBits / chunkBits, as in the backward pass of wide layers.
 */
export type BinaryFloatMethod = 'select' | 'table';

export interface BinaryFloatGemmOptions extends GemmOptions {
  method?: BinaryFloatMethod;
  /** Values per table chunk, 4 or 8 (method 'table'; default 8). */
  chunkBits?: 4 | 8;
  /**
   * Largest table (method 'table'), in bytes: a longer K is done in slices of whole words, each
   * adding onto the output. Default DEFAULT_TABLE_BYTES.
   */
  tableBytes?: number;
}

/** 16 MiB: the seed MLP's backward GEMMs at batch 300 need 5-10 MB for all of K (one slice). */
export const DEFAULT_TABLE_BYTES = 16 * 2 ** 20;

/** C = A . B^T for f32 A[M,K] and b1 B[N,K]. */
export async function binaryFloatGemm(gpu: Gpu, a: Tensor, b: Tensor, options: BinaryFloatGemmOptions = {}): Promise<Tensor> {
  const [M, K] = expectTensor(OP, 'a', a, 'f32', 2);
  const [N, Kb] = expectTensor(OP, 'b', b, 'b1', 2);
  if (K !== Kb) throw new ShapeError(`${OP}: a is [${M}, ${K}] and b is [${N}, ${Kb}]: both must have the same K (C = A . B^T)`);
  const method = options.method ?? 'select';
  if (method === 'table') return signTableGemm(gpu, a, b, M, N, K, options);
  if (method !== 'select') throw new ShapeError(`${OP}: method must be 'select' or 'table', got ${JSON.stringify(method)}`);
  const label = options.label ?? `${OP}[${M}x${N}x${K}]`;
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
    tuning: gemmTuningFor(gpu, options.tuning, { kernel: 'binaryFloatGemm', M, N, K }, label),
    label,
  });
}

async function signTableGemm(gpu: Gpu, a: Tensor, b: Tensor, M: number, N: number, K: number, options: BinaryFloatGemmOptions): Promise<Tensor> {
  const chunkBits = options.chunkBits ?? 8;
  if (chunkBits !== 4 && chunkBits !== 8) throw new ShapeError(`${OP}: chunkBits must be 4 or 8, got ${JSON.stringify(chunkBits)}`);
  const budget = options.tableBytes ?? DEFAULT_TABLE_BYTES;
  if (!(budget > 0)) throw new ShapeError(`${OP}: tableBytes must be positive, got ${budget}`);
  const label = options.label ?? `${OP}[${M}x${N}x${K}]`;
  // Slices of whole words of K whose table fits the budget (at least one word).
  const wordTableBytes = (32 / chunkBits) * (1 << (chunkBits - 1)) * M * 4;
  const sliceWords = Math.max(1, Math.min(wordsPerRow(K), Math.floor(budget / wordTableBytes)));
  const sliceValues = 32 * sliceWords;
  const table = gpu.tensor([Math.ceil(Math.min(K, sliceValues) / chunkBits) << (chunkBits - 1), M], 'f32', `${label}.table`);
  const tuning = gemmTuningFor(gpu, options.tuning, { kernel: 'signTableGemm', M, N, K }, label);
  let out = options.out;
  try {
    for (let k0 = 0; k0 < K; k0 += sliceValues) {
      const k = Math.min(sliceValues, K - k0);
      const chunks = Math.ceil(k / chunkBits);
      const params = { M, N, K: k, k_words: wordsPerRow(k), chunks, tiles_n: 0, tiles: 0, a_stride: K, k_base: k0, b_stride: wordsPerRow(K) };
      const wg = 64;
      const spec = { shader: 'gemm_sign_table' as const, entryPoint: 'sign_tables', constants: { CHUNK_BITS: chunkBits, FLAT_WG: wg } };
      await launchAll(gpu, `${label}.tables`, [{ spec, bindings: { params, a, table_out: table }, workgroups: Math.ceil((chunks * M) / wg) }], []);
      out = await runTiledGemm(gpu, {
        op: OP,
        kind: 'signTable',
        shader: 'gemm_sign_table',
        entryPoint: 'gemm_sign_table',
        M,
        N,
        K: k,
        outDtype: 'f32',
        outName: 'out',
        inputs: { b, table },
        extraParams: { k_words: params.k_words, chunks, a_stride: K, k_base: k0, b_stride: params.b_stride },
        constants: { CHUNK_BITS: chunkBits, ACCUMULATE: k0 > 0 },
        out,
        tuning,
        label,
      });
    }
    return out!;
  } catch (err) {
    if (out && out !== options.out) out.release();
    throw err;
  } finally {
    table.release();
  }
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
