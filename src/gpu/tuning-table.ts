// The autotuner's table (winners per kernel and shape class, for one adapter) and the per-Gpu
// record of what each tunable launch took from it: read by the ops, written by src/tune/.
import type { GemmTuning } from '../ops/gemm-tiling.js';

/** Bumped whenever the table's layout or a variant's meaning changes: older cache files are then stale. */
export const TUNING_SCHEMA = 1;

/** The kernels the autotuner knows (src/tune/variants.ts lists their variants). */
export const TUNED_KERNELS = ['binaryGemm', 'bconv2d', 'binaryFloatGemm', 'signTableGemm', 'gemmF32', 'batchNormStats', 'batchNormBackward'] as const;
export type TunedKernel = (typeof TUNED_KERNELS)[number];

/** How BatchNorm's per-channel sums are formed (src/ops/batchnorm.ts); 'subgroup' needs the adapter's `subgroups`. */
export type ChannelReduction = 'workgroup' | 'serial' | 'subgroup';

/** What a variant sets: a GEMM tiling, or a reduction. */
export type VariantParams = { gemm: GemmTuning } | { reduction: ChannelReduction };

/**
 * One tunable launch as an op saw it: enough to rebuild it on random data (src/tune/harness.ts).
 * M, N, K are the GEMM's (a convolution's implicit GEMM: pixels x output channels x window);
 * BatchNorm's sums use M = rows, N = channels, K = 0.
 */
export interface TuningSite {
  kernel: TunedKernel;
  /** The binary kernels' fused epilogue. */
  epilogue?: 'i32' | 'affine' | 'threshold';
  M: number;
  N: number;
  K: number;
  /** bconv2d: the input [batch, H, W, C], the OHWI kernel and the window, as the op received them. */
  conv?: {
    input: number[];
    kernel: number[];
    strides: [number, number];
    dilation: [number, number];
    padding: 'valid' | 'same';
    padValues: 0 | 1;
  };
}

/**
 * The shape class a winner applies to: the kernel, its epilogue, N and K (and a convolution's
 * window) exactly, and M rounded up to a power of two, so that batch 300 and 280 share a winner.
 */
export function shapeClass(site: TuningSite): string {
  const m = 2 ** Math.ceil(Math.log2(Math.max(1, site.M)));
  const c = site.conv;
  const window = c ? ` k${c.kernel[1]}x${c.kernel[2]} s${c.strides.join('x')} d${c.dilation.join('x')} ${c.padding} pad${c.padValues}` : '';
  return `${site.kernel}${site.epilogue ? `.${site.epilogue}` : ''} M<=${m} N${site.N} K${site.K}${window}`;
}

export interface TuningEntry {
  kernel: TunedKernel;
  /** shapeClass() of the site it was measured on. */
  shape: string;
  site: TuningSite;
  /** The winner's name and what it sets. */
  winner: string;
  params: VariantParams;
  /** The variant the defaults take on this adapter, and each variant's median ms (errors: null). */
  defaultVariant: string;
  medianMs: Record<string, number | null>;
  /** The winner against the default: the median over paired repetitions of default ms / winner ms (1: the default won). */
  speedup: number;
}

export interface TuningTable {
  schema: number;
  /** The cache key (src/gpu/tuning-cache.ts): adapter, driver, package version, schema. */
  key: string;
  adapter: string;
  createdAt: string;
  entries: TuningEntry[];
}

/**
 * The table as read from a cache, checked: null (with `why`) if it is not one this version wrote
 * for this key, so that a corrupt or stale file is ignored rather than trusted.
 */
export function parseTuningTable(text: string, key: string): { table: TuningTable | null; why?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { table: null, why: `not JSON (${(err as Error).message})` };
  }
  const t = raw as Partial<TuningTable>;
  if (typeof t !== 'object' || t === null) return { table: null, why: 'not a JSON object' };
  if (t.schema !== TUNING_SCHEMA) return { table: null, why: `schema ${JSON.stringify(t.schema)}, this version reads ${TUNING_SCHEMA}` };
  if (t.key !== key) return { table: null, why: `written for another adapter or version (key ${JSON.stringify(t.key)})` };
  if (!Array.isArray(t.entries)) return { table: null, why: "no 'entries' list" };
  for (const [i, e] of t.entries.entries()) {
    const bad = entryProblem(e);
    if (bad) return { table: null, why: `entry ${i}: ${bad}` };
  }
  return { table: t as TuningTable };
}

function entryProblem(e: TuningEntry): string | null {
  if (typeof e !== 'object' || e === null) return 'not an object';
  if (!(TUNED_KERNELS as readonly string[]).includes(e.kernel)) return `unknown kernel ${JSON.stringify(e.kernel)}`;
  if (typeof e.shape !== 'string' || typeof e.winner !== 'string') return 'shape and winner must be strings';
  const p = e.params as Partial<{ gemm: GemmTuning; reduction: string }>;
  if (p?.gemm) {
    const g = p.gemm;
    for (const k of ['wgX', 'wgY', 'tileK'] as const) if (!Number.isInteger(g[k]) || g[k] < 1) return `params.gemm.${k} is ${JSON.stringify(g[k])}`;
    if (typeof g.useWorkgroupTiles !== 'boolean') return 'params.gemm.useWorkgroupTiles must be true or false';
    return null;
  }
  if (p?.reduction === 'workgroup' || p?.reduction === 'serial' || p?.reduction === 'subgroup') return null;
  return `params must be { gemm } or { reduction }, got ${JSON.stringify(e.params)}`;
}

/** Where one tunable launch's setting came from, for plan.describe() and reports. */
export interface TuningChoice {
  label: string;
  shape: string;
  /** The winner's name, or 'default' (auto tuning, shape not in the table). */
  source: string;
}

/**
 * Per Gpu: the table in use ('auto' tuning), the choices each launch took from it, and, while the
 * autotuner enumerates a model (collect()), the sites it saw. Ops ask `lookup` before their defaults.
 */
export class TuningState {
  readonly choices: TuningChoice[] = [];
  private readonly byShape = new Map<string, TuningEntry>();
  private sites: Map<string, TuningSite> | null = null;

  constructor(
    readonly table: TuningTable | null,
    /** Where the table came from (a file path, an IndexedDB key) or why there is none. */
    readonly source: string,
    private readonly note: (line: string) => void,
  ) {
    for (const e of table?.entries ?? []) this.byShape.set(e.shape, e);
  }

  /**
   * The tuned setting for `site` (undefined: take the defaults), recorded under `label`. A shape
   * missing from an 'auto' table is said once through gpu.note and shown as 'default'.
   */
  lookup(site: TuningSite, label: string): VariantParams | undefined {
    const shape = shapeClass(site);
    if (this.sites && !this.sites.has(shape)) this.sites.set(shape, site);
    if (!this.table) return undefined;
    const e = this.byShape.get(shape);
    if (this.choices.length < 10_000) this.choices.push({ label, shape, source: e ? e.winner : 'default' });
    if (!e) {
      this.note(`auto tuning: ${shape} is not in the tuning table (${this.source}); using the defaults (run \`bnn tune\` on this model)`);
      return undefined;
    }
    return e.params;
  }

  /** Runs `work` and returns every tunable site it launched (one per shape class, first seen). */
  async collect(work: () => Promise<void>): Promise<TuningSite[]> {
    const sites = new Map<string, TuningSite>();
    this.sites = sites;
    try {
      await work();
    } finally {
      this.sites = null;
    }
    return [...sites.values()];
  }

  /** One line per launch that asked the table (from choice `from` on): its label, shape class and the variant it took. */
  describe(labels?: (label: string) => boolean, from = 0): string {
    const seen = new Set<string>();
    const lines: string[] = [];
    for (const c of this.choices.slice(from)) {
      if (labels && !labels(c.label)) continue;
      const line = `  ${c.label.padEnd(44)} ${c.shape.padEnd(48)} ${c.source === 'default' ? 'default (not in the table)' : `tuned: ${c.source}`}`;
      if (!seen.has(line)) lines.push(line), seen.add(line);
    }
    return lines.join('\n');
  }
}
