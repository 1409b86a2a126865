// Tile and workgroup settings of the GEMM kernels (their `override` constants), with defaults per
// kind of adapter. CPU adapters (SwiftShader) run faster reading operands straight from storage;
// GPUs need workgroup-memory tiles. bench/gemm-tune.ts measures the alternatives.
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';

export interface GemmTuning {
  /** Invocations along N and M; each computes 4 x 4 outputs, so a tile is 4*wgY x 4*wgX. */
  wgX: number;
  wgY: number;
  /** K per step: 128-bit vectors of packed words (binary) or vec4 of floats (fp32). */
  tileKVec: number;
  /** Stage operand tiles through workgroup memory (GPUs), or read storage directly (CPUs). */
  useWorkgroupTiles: boolean;
}

export function defaultGemmTuning(gpu: Gpu): GemmTuning {
  return gpu.adapter.isSoftware
    ? { wgX: 8, wgY: 8, tileKVec: 2, useWorkgroupTiles: false }
    : { wgX: 16, wgY: 16, tileKVec: 2, useWorkgroupTiles: true };
}

export const GEMM_OUTPUTS_PER_INVOCATION = 4;

/** The override constants of a GEMM kernel for a tuning, checked against the device's limits. */
export function gemmConstants(gpu: Gpu, op: string, t: GemmTuning): Record<string, number | boolean> {
  const limits = gpu.limits;
  if (t.wgX * t.wgY > limits.maxComputeInvocationsPerWorkgroup) {
    throw new ShapeError(`${op}: workgroup ${t.wgX}x${t.wgY} exceeds maxComputeInvocationsPerWorkgroup ${limits.maxComputeInvocationsPerWorkgroup}`);
  }
  for (const [k, v] of [['wgX', t.wgX], ['wgY', t.wgY], ['tileKVec', t.tileKVec]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ShapeError(`${op}: tuning.${k} must be a positive integer, got ${v}`);
  }
  return { WG_X: t.wgX, WG_Y: t.wgY, TILE_K_VEC: t.tileKVec, USE_WORKGROUP_TILES: t.useWorkgroupTiles };
}
