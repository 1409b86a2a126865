// What the three GEMM kernels share: their tile and workgroup settings (`override` constants),
// defaults per tuning kind (gpu.tuningKind), and the launch of one tiled GEMM over a flat grid of tiles.
// CPU adapters (SwiftShader) run faster reading operands straight from storage; GPUs need
// workgroup-memory tiles. bench/gemm-variants.ts measures the alternatives.
import type { Dispatch, Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import type { ShaderName } from '../generated/shaders.js';
import type { BufferLike } from '../gpu/kernel.js';
import type { DType, Tensor } from '../tensor.js';
import { expectOut } from './check.js';
import type { TuningSite } from '../gpu/tuning-table.js';

export interface GemmTuning {
  /** Invocations along N and M; each computes 4 x 4 outputs, so a tile is 4*wgY x 4*wgX. */
  wgX: number;
  wgY: number;
  /** K per step, in the kernel's unit: 128-bit vectors (binary), vec4 of floats (fp32), packed words (binary x float). */
  tileK: number;
  /** Stage operand tiles through workgroup memory (GPUs), or read storage directly (CPUs). */
  useWorkgroupTiles: boolean;
}

export type GemmKind = 'binary' | 'f32' | 'binaryFloat' | 'signTable';

/**
 * Defaults from `bnn bench gemm-variants` (docs/performance.md). On SwiftShader the binary kernel
 * runs fastest reading storage directly, 16x4 invocations (16 x 64 tiles) and 8 x 128 bits of K
 * per step; the fp32 kernel with 16x16 invocations and workgroup tiles (its variants are within
 * noise of each other there). GPUs get the classic 16x16 tiled form (no GPU figures yet to tune it by).
 * Which applies is gpu.tuningKind: BNN_TUNING=gpu gives the GPU form on SwiftShader too.
 */
export function defaultGemmTuning(gpu: Gpu, kind: GemmKind = 'binary', epilogue?: 'i32' | 'affine' | 'threshold'): GemmTuning {
  if (gpu.tuningKind === 'software') {
    // The threshold epilogue there has each invocation own 32 columns (no barrier): 4x4
    // invocations, 4 words a workgroup, measured 18 ms against 24 ms for 16x4 (300x512x512).
    if (kind === 'binary' && epilogue === 'threshold') return { wgX: 4, wgY: 4, tileK: 8, useWorkgroupTiles: false };
    if (kind === 'binary') return { wgX: 16, wgY: 4, tileK: 8, useWorkgroupTiles: false };
    if (kind === 'binaryFloat' || kind === 'signTable') return { wgX: 8, wgY: 8, tileK: 1, useWorkgroupTiles: false };
  }
  return { wgX: 16, wgY: 16, tileK: kind === 'f32' ? 4 : kind === 'binary' ? 2 : 1, useWorkgroupTiles: true };
}

/**
 * The caller's tuning, else the autotuned winner for this launch's shape class ('auto' tuning:
 * gpu.tuned), else undefined (the defaults). Every tunable GEMM launch asks here, so that the
 * autotuner's enumeration (gpu.tuned.collect) sees it.
 */
export function gemmTuningFor(gpu: Gpu, given: GemmTuning | undefined, site: TuningSite, label: string): GemmTuning | undefined {
  if (given) return given;
  const p = gpu.tuned.lookup(site, label);
  return p && 'gemm' in p ? p.gemm : undefined;
}

/** Outputs per invocation along M and along N (the kernels' `R`). */
export const GEMM_OUTPUTS_PER_INVOCATION = 4;

const TILE_K_CONSTANT: Record<GemmKind, string> = { binary: 'TILE_K_VEC', f32: 'TILE_K_VEC', binaryFloat: 'TILE_K_WORDS', signTable: 'TILE_K_WORDS' };

export interface TiledGemmLaunch {
  op: string;
  kind: GemmKind;
  shader: ShaderName;
  entryPoint: string;
  M: number;
  N: number;
  K: number;
  outDtype: DType;
  /** Binding name of the output in the shader. */
  outName: string;
  /** Operand and epilogue bindings, by name. */
  inputs: Record<string, BufferLike>;
  /** Uniform members beyond M, N, K, tiles_n and tiles that the shader's params declare. */
  extraParams?: Record<string, number>;
  /** Override constants beyond the tiling's. */
  constants?: Record<string, number | boolean>;
  /** K steps of the kernel when not derived from K (a convolution's taps x chunks). */
  kSteps?: number;
  /** Output columns a workgroup covers, when not wgX * 4 (the threshold epilogue without workgroup tiles: wgX words). */
  colsPerWorkgroup?: number;
  /** The output's shape, when not [M, N] (same storage: M rows of N values). */
  outShape?: readonly number[];
  out?: Tensor;
  tuning?: GemmTuning;
  label: string;
}

/** K in the kernel's step unit: 128-bit vectors of words (binary), vec4 (fp32), words (binary x float). */
function kSteps(kind: GemmKind, K: number): number {
  if (kind === 'binary') return Math.ceil(K / 128);
  if (kind === 'f32') return Math.ceil(K / 4);
  return Math.ceil(K / 32);
}

/** Checks the tuning, compiles (once) and runs one tiled GEMM; returns its output tensor. */
export async function runTiledGemm(gpu: Gpu, g: TiledGemmLaunch): Promise<Tensor> {
  const { dispatch, out } = await prepareTiledGemm(gpu, g);
  try {
    await gpu.run(g.label, (rec) => rec.record(dispatch));
  } finally {
    dispatch.destroy();
  }
  return out;
}

/**
 * Checks the tuning, compiles (once) and binds one tiled GEMM without running it: a plan records
 * the returned dispatch in every forward pass. The output tensor is `g.out` or a new one.
 */
export async function prepareTiledGemm(gpu: Gpu, g: TiledGemmLaunch): Promise<{ dispatch: Dispatch; out: Tensor }> {
  const t = g.tuning ?? defaultGemmTuning(gpu, g.kind);
  for (const [k, v] of [['wgX', t.wgX], ['wgY', t.wgY], ['tileK', t.tileK]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ShapeError(`${g.op}: tuning.${k} must be a positive integer, got ${v}`);
  }
  if (t.wgX * t.wgY > gpu.limits.maxComputeInvocationsPerWorkgroup) {
    throw new ShapeError(
      `${g.op}: workgroup ${t.wgX}x${t.wgY} exceeds this device's maxComputeInvocationsPerWorkgroup ${gpu.limits.maxComputeInvocationsPerWorkgroup}`,
    );
  }
  const outShape = g.outShape ?? [g.M, g.N];
  expectOut(g.op, g.out, g.outDtype, outShape);
  // No longer a K step than K itself: the kernels' inner loops have constant trip counts (which
  // CPU JITs need to unroll), so a step past K would compute on zeros.
  const tileK = Math.min(t.tileK, g.kSteps ?? kSteps(g.kind, g.K));
  const constants = { WG_X: t.wgX, WG_Y: t.wgY, [TILE_K_CONSTANT[g.kind]]: tileK, USE_WORKGROUP_TILES: t.useWorkgroupTiles, ...g.constants };
  const kernel = await gpu.kernel({ shader: g.shader, entryPoint: g.entryPoint, constants });
  const tilesN = Math.ceil(g.N / (g.colsPerWorkgroup ?? t.wgX * GEMM_OUTPUTS_PER_INVOCATION));
  const tiles = tilesN * Math.ceil(g.M / (t.wgY * GEMM_OUTPUTS_PER_INVOCATION));
  const params = { M: g.M, N: g.N, K: g.K, tiles_n: tilesN, tiles, ...g.extraParams };
  const grid = gpu.grid(tiles, g.label);
  const out = g.out ?? gpu.tensor(outShape, g.outDtype, `${g.label}.out`);
  try {
    return { dispatch: await gpu.prepare(g.label, kernel, { params, ...g.inputs, [g.outName]: out }, grid), out };
  } catch (err) {
    if (!g.out) out.release();
    throw err;
  }
}
