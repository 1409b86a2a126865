// The library's variants per tunable kernel: a small set, each expressible through the kernels'
// existing tuning parameters (GemmTuning, or BatchNorm's reduction). Names are derived from the
// parameters. Ideas that never win stay in bench/ (bench/gemm-variants.ts), not here.
import type { Gpu } from '../gpu/context.js';
import type { TunedKernel, TuningSite, VariantParams } from '../gpu/tuning-table.js';
import { channelReduction } from '../ops/batchnorm.js';
import { defaultGemmTuning, type GemmKind, type GemmTuning } from '../ops/gemm-tiling.js';

export interface Variant {
  name: string;
  params: VariantParams;
}

/** [wgX, wgY, tileK, useWorkgroupTiles]: what each GEMM kernel tries besides both kinds' defaults. */
type Tiling = readonly [number, number, number, boolean];

/**
 * One extra tiling per kernel, each a winner somewhere on SwiftShader (bnn bench tune, 2026-12-07,
 * docs/performance.md): 8x8 k4 for the affine GEMM at batch 300 with N = 10 (1.76x); 8x4 k8 for the
 * threshold epilogue (its storage-read form gives an invocation whole output words; 1.20x on a
 * CNV layer); 16x4 k2 for the sign-table GEMM at M = 16 (3.2x). fp32's 16x4 k4 storage reads have
 * not won yet (its one alternative, kept until a GPU is measured). The variants that never won there
 * (direct 32x2 k8, tiled 8x8 k4, direct 8x8 k2, direct 4x4 k1) are bench/gemm-variants.ts's v6, v7, v1, v10.
 */
const EXTRA_TILINGS: Record<'binary' | 'threshold' | 'f32' | 'binaryFloat', readonly Tiling[]> = {
  binary: [[8, 8, 4, false]],
  threshold: [[8, 4, 8, false]],
  f32: [[16, 4, 4, false]],
  binaryFloat: [[16, 4, 2, false]],
};

export function variantName(p: VariantParams): string {
  if ('reduction' in p) return `${p.reduction} reduction`;
  const t = p.gemm;
  return `${t.useWorkgroupTiles ? 'tiled' : 'direct'} ${t.wgX}x${t.wgY} k${t.tileK}`;
}

function gemmKind(kernel: TunedKernel): GemmKind {
  if (kernel === 'gemmF32') return 'f32';
  if (kernel === 'binaryFloatGemm') return 'binaryFloat';
  if (kernel === 'signTableGemm') return 'signTable';
  return 'binary';
}

/** What the defaults take for this site on this Gpu (its tuning kind), as a variant. */
export function defaultVariant(gpu: Gpu, site: TuningSite): Variant {
  if (site.kernel === 'batchNormStats' || site.kernel === 'batchNormBackward') {
    const params: VariantParams = { reduction: channelReduction(gpu) };
    return { name: variantName(params), params };
  }
  const params: VariantParams = { gemm: defaultGemmTuning(gpu, gemmKind(site.kernel), site.epilogue) };
  return { name: variantName(params), params };
}

/**
 * The variants tried on a site: the defaults of both tuning kinds (so 'auto' can never lose to
 * either), one more tiling, and for BatchNorm every reduction the adapter can run.
 */
export function variantsFor(gpu: Gpu, site: TuningSite): Variant[] {
  const params: VariantParams[] = [];
  if (site.kernel === 'batchNormStats' || site.kernel === 'batchNormBackward') {
    params.push({ reduction: 'serial' }, { reduction: 'workgroup' });
    if (gpu.features.subgroups) params.push({ reduction: 'subgroup' });
  } else {
    const kind = gemmKind(site.kernel);
    const both = (['software', 'gpu'] as const).map((tuningKind) => defaultGemmTuning({ tuningKind } as Gpu, kind, site.epilogue));
    const extra = kind === 'binary' ? EXTRA_TILINGS[site.epilogue === 'threshold' ? 'threshold' : 'binary'] : EXTRA_TILINGS[kind === 'signTable' ? 'binaryFloat' : kind];
    const tilings: GemmTuning[] = [...both, ...extra.map(([wgX, wgY, tileK, useWorkgroupTiles]) => ({ wgX, wgY, tileK, useWorkgroupTiles }))];
    for (const gemm of tilings) params.push({ gemm });
  }
  const seen = new Map<string, Variant>();
  for (const p of params) seen.set(variantName(p), { name: variantName(p), params: p });
  return [...seen.values()];
}
