// Kernel reuse analysis (BinaryNet, Courbariaux/Hubara et al. 2016, "Exploiting filter repetitions"):
// how often, for one input channel, several output channels carry the same KHxKW sign pattern, and
// how much work a conv that computes each distinct pattern's response once would save.
//
// Weights are OHWI [O, KH, KW, I]; the pattern of (output channel o, input channel i) is the number
// whose bit t = kh*KW + kw is set where w[o, kh, kw, i] is -1 (bit 1 = -1, as src/bitpack.ts says).
// A 3x3 kernel has 2^9 = 512 possible patterns, so with O > 512 repeats are certain, and trained
// nets repeat more (the paper counts 42% unique filters in its CIFAR-10 net).
//
// Cost model, per output position of a layer with T = KH*KW taps and u_i distinct patterns in input
// channel i:
//   without reuse: T * O * I binary MACs (every output channel's T taps of every input channel);
//   with reuse:    sum_i (T * u_i + O) ops: T binary MACs for each distinct (i, pattern) response,
//                  then 1 add of that response into each of the O output channels that use it.
// So reuse saves 1 - sum_i (T*u_i + O) / (T*O*I), which is negative when few patterns repeat (all
// distinct: -1/T). The popcount-only view counts only the T-tap XNOR work and ignores the adds:
// it saves 1 - unique ratio, the paper's "about 60%" for 42% unique.
// Caveat: both count per-input-channel ops. The packed XNOR-popcount GEMM does 32 input channels in
// one word op, so these fractions bound the arithmetic a reuse kernel skips, not its speed-up.
import { bitValue, padBitsAreZero, signBit, unpackRows, wordsPerRow } from '../bitpack.js';
import { ShapeError } from '../gpu/errors.js';
import type { Random } from '../random.js';
import type { NpyArray } from '../io/npy.js';

/** Conv weight shape, OHWI: [O, KH, KW, I]. */
export type KernelShape = readonly [number, number, number, number];

/** +-1 (or real, binarized by sign) values in OHWI order, or `b1` words packed along I. */
export type KernelWeights = ArrayLike<number> | { packed: Uint32Array };

/** Patterns are numbers below 2^(KH*KW) kept in a Uint16Array: at most 16 taps. */
export const MAX_PATTERN_TAPS = 16;

/**
 * The sign pattern of every (input channel, output channel) pair, as one Uint16Array laid out
 * [I, O]: channel i's patterns are `patterns.subarray(i * O, (i + 1) * O)`. Bit kh*KW + kw of a
 * pattern is 1 where the weight is -1 (x < 0; sign(0) = +1). Packed `b1` weights are read with
 * the convention's own unpacking (ceil(I/32) words per (o, kh, kw) row, pad bits must be 0).
 */
export function kernelPatterns(weights: KernelWeights, shape: KernelShape): Uint16Array {
  const [O, KH, KW, I] = checkKernelShape(shape);
  const taps = KH * KW;
  const out = new Uint16Array(I * O);
  if ('packed' in weights) {
    const wpr = wordsPerRow(I);
    const { packed } = weights;
    if (packed.length !== O * taps * wpr) {
      throw new ShapeError(`kernelPatterns: packed weights of shape [${shape.join(', ')}] take ${O * taps * wpr} words (${wpr} per row of ${I}), got ${packed.length}`);
    }
    for (let o = 0; o < O; o++) {
      const rows = packed.subarray(o * taps * wpr, (o + 1) * taps * wpr);
      if (!padBitsAreZero(rows, taps, I)) {
        throw new ShapeError(`kernelPatterns: packed weights have pad bits set in output channel ${o}; b1 rows are packed along I with pad bits 0`);
      }
      addPatterns(out, unpackRows(rows, taps, I), o, O, taps, I);
    }
  } else {
    if (weights.length !== O * taps * I) {
      throw new ShapeError(`kernelPatterns: shape [${shape.join(', ')}] has ${O * taps * I} weights, got ${weights.length}`);
    }
    for (let o = 0; o < O; o++) addPatterns(out, weights, o, O, taps, I, o * taps * I);
  }
  return out;
}

// ORs the bits of output channel o (taps x I values starting at `base`) into its patterns.
function addPatterns(out: Uint16Array, values: ArrayLike<number>, o: number, O: number, taps: number, I: number, base = 0): void {
  for (let t = 0; t < taps; t++) {
    for (let i = 0; i < I; i++) out[i * O + o] |= signBit(values[base + t * I + i]) << t;
  }
}

/** Number of distinct patterns in each input channel: u_i, for patterns laid out [I, O]. */
export function uniquePerChannel(patterns: Uint16Array, O: number, I: number): Uint32Array {
  const seen = new Uint32Array(1 << MAX_PATTERN_TAPS); // stamped with i + 1: no clearing between channels
  const unique = new Uint32Array(I);
  for (let i = 0; i < I; i++) {
    for (let o = 0; o < O; o++) {
      const p = patterns[i * O + o];
      if (seen[p] !== i + 1) {
        seen[p] = i + 1;
        unique[i]++;
      }
    }
  }
  return unique;
}

export interface KernelLayer {
  name: string;
  weights: KernelWeights;
  shape: KernelShape;
  /** Output positions (H_out * W_out) the layer computes, to weight the totals; 1 when unknown. */
  positions?: number;
}

export interface ChannelReuse {
  channel: number;
  /** u_i: distinct patterns among the O output channels of this input channel. */
  unique: number;
  /** u_i / O. */
  ratio: number;
}

export interface LayerReuse {
  name: string;
  shape: KernelShape;
  /** T = KH * KW; 9 for the paper's 3x3 kernels. */
  taps: number;
  /** sum_i u_i / (O * I). */
  uniqueRatio: number;
  /** Like uniqueRatio, counting a pattern and its negation as one (response(-p) = -response(p)). */
  uniqueRatioUpToSign: number;
  perInputChannel: ChannelReuse[];
  positions: number;
  /** Per output position: T * O * I binary MACs. */
  macsWithout: number;
  /** Per output position: sum_i (T * u_i + O). */
  opsWithReuse: number;
  /** 1 - opsWithReuse / macsWithout (negative when reuse costs more than it saves). */
  savedFraction: number;
  /** 1 - uniqueRatio: the share of the T-tap XNOR-popcount work reuse skips, adds not counted. */
  popcountWorkSaved: number;
}

export interface KernelReuseReport {
  costModel: string;
  layers: LayerReuse[];
  /** Over all layers, each weighted by its `positions` (1 when not given). */
  totals: {
    macsWithout: number;
    opsWithReuse: number;
    savedFraction: number;
    /** sum over layers of positions * T * sum_i u_i over positions * T * O * I: the popcount view's unique share. */
    uniqueRatio: number;
    popcountWorkSaved: number;
  };
}

const COST_MODEL_LINES = [
  'per output position of a layer, T = KH*KW taps, u_i distinct patterns in input channel i:',
  '  without reuse  T*O*I binary MACs',
  '  with reuse     sum_i (T*u_i + O) ops: T binary MACs per distinct (i, pattern) response, 1 add per output channel',
  '  popcount view  1 - unique ratio of the T-tap XNOR work is skipped (the adds not counted)',
  '  (per input channel counts: the packed GEMM does 32 input channels per word op, so these bound the work skipped, not the speed-up)',
];
/** The cost model in one line, as the report's `costModel` carries it. */
export const COST_MODEL = `${COST_MODEL_LINES[0]} ${COST_MODEL_LINES.slice(1).map((l) => l.trim().replace(/ +/g, ' ')).join('; ')}`;

/** Unique-pattern ratios per layer and input channel, and the work reuse would save. */
export function analyzeKernelReuse(layers: readonly KernelLayer[]): KernelReuseReport {
  const out: LayerReuse[] = [];
  let macs = 0;
  let ops = 0;
  let popcountWork = 0;
  for (const layer of layers) {
    const [O, KH, KW, I] = checkKernelShape(layer.shape, layer.name);
    const taps = KH * KW;
    const positions = layer.positions ?? 1;
    if (!(positions > 0)) throw new ShapeError(`${layer.name}: positions must be positive, got ${positions}`);
    const patterns = kernelPatterns(layer.weights, layer.shape);
    const unique = uniquePerChannel(patterns, O, I);
    const full = (1 << taps) - 1;
    const canonical = patterns.map((p) => Math.min(p, ~p & full)); // p and its negation -> one
    const uniqueUpToSign = uniquePerChannel(canonical, O, I);
    const sumUnique = unique.reduce((a, b) => a + b, 0);
    const macsWithout = taps * O * I;
    const opsWithReuse = taps * sumUnique + O * I;
    out.push({
      name: layer.name,
      shape: [O, KH, KW, I],
      taps,
      uniqueRatio: sumUnique / (O * I),
      uniqueRatioUpToSign: uniqueUpToSign.reduce((a, b) => a + b, 0) / (O * I),
      perInputChannel: Array.from(unique, (u, channel) => ({ channel, unique: u, ratio: u / O })),
      positions,
      macsWithout,
      opsWithReuse,
      savedFraction: 1 - opsWithReuse / macsWithout,
      popcountWorkSaved: 1 - sumUnique / (O * I),
    });
    macs += positions * macsWithout;
    ops += positions * opsWithReuse;
    popcountWork += positions * taps * sumUnique;
  }
  const uniqueRatio = macs > 0 ? popcountWork / macs : 1;
  return {
    costModel: COST_MODEL,
    layers: out,
    totals: {
      macsWithout: macs,
      opsWithReuse: ops,
      savedFraction: macs > 0 ? 1 - ops / macs : 0,
      uniqueRatio,
      popcountWorkSaved: 1 - uniqueRatio,
    },
  };
}

/** A readable table: one line per layer, per-channel ratios as min / median / max (all of them with `verbose`). */
export function formatKernelReuseReport(report: KernelReuseReport, options: { verbose?: boolean } = {}): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const header = ['layer', '[O,KH,KW,I]', 'unique', 'per channel min/med/max', '+-unique', 'MACs w/o', 'ops w/ reuse', 'saved', 'popcount saved'];
  const rows = report.layers.map((l) => {
    const ratios = l.perInputChannel.map((c) => c.ratio).sort((a, b) => a - b);
    return [
      l.name + (l.taps === 9 ? '' : ` (${l.taps} taps)`),
      `[${l.shape.join(',')}]`,
      pct(l.uniqueRatio),
      `${pct(ratios[0])} / ${pct(median(ratios))} / ${pct(ratios[ratios.length - 1])}`,
      pct(l.uniqueRatioUpToSign),
      String(l.macsWithout),
      String(l.opsWithReuse),
      pct(l.savedFraction),
      pct(l.popcountWorkSaved),
    ];
  });
  const t = report.totals;
  const weighted = report.layers.some((l) => l.positions !== 1);
  rows.push(['total' + (weighted ? ' (x positions)' : ''), '', pct(t.uniqueRatio), '', '', String(t.macsWithout), String(t.opsWithReuse), pct(t.savedFraction), pct(t.popcountWorkSaved)]);
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const line = (cells: string[]) => cells.map((c, k) => (k < 2 ? c.padEnd(widths[k]) : c.padStart(widths[k]))).join('  ').trimEnd();
  const lines = [
    'Kernel reuse (BinaryNet, "exploiting filter repetitions"): distinct KHxKW sign patterns per input channel',
    'cost model, ' + COST_MODEL_LINES[0],
    ...COST_MODEL_LINES.slice(1),
    'unique = sum_i u_i / (O*I); +-unique counts a pattern and its negation once; saved = 1 - ops w/ reuse / MACs w/o',
    weighted ? 'totals weight each layer by its output positions' : 'MACs and ops are per output position of each layer (totals: one position per layer)',
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.slice(0, -1).map(line),
    line(widths.map((w) => '-'.repeat(w))),
    line(rows[rows.length - 1]),
  ];
  if (options.verbose) {
    for (const l of report.layers) {
      const O = l.shape[0];
      lines.push('', `${l.name}: distinct patterns per input channel (of ${O} output channels)`);
      const cells = l.perInputChannel.map((c) => `${String(c.channel).padStart(4)}: ${String(c.unique).padStart(3)} ${pct(c.ratio).padStart(6)}`);
      for (let k = 0; k < cells.length; k += 6) lines.push('  ' + cells.slice(k, k + 6).join('   '));
    }
  }
  return lines.join('\n');
}

function median(sorted: readonly number[]): number {
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

/**
 * +-1 OHWI weights whose every input channel has round(uniqueRatio * O) distinct patterns (at
 * least 1, at most min(O, 2^(KH*KW)): 512 for 3x3), each used by at least one output channel;
 * the remaining output channels pick among them at random. For benchmarks of a reuse kernel.
 */
export function redundantWeights(rng: Random, shape: KernelShape, uniqueRatio: number): Float32Array {
  const [O, KH, KW, I] = checkKernelShape(shape);
  if (!(uniqueRatio > 0 && uniqueRatio <= 1)) throw new RangeError(`redundantWeights: uniqueRatio must be in (0, 1], got ${uniqueRatio}`);
  const taps = KH * KW;
  const space = 1 << taps;
  const k = Math.min(Math.max(1, Math.round(uniqueRatio * O)), O, space);
  const all = Uint32Array.from({ length: space }, (_, p) => p); // stays a permutation of 0..2^taps-1
  const assign = new Uint32Array(O);
  const out = new Float32Array(O * taps * I);
  for (let i = 0; i < I; i++) {
    // k distinct patterns: the first k of a partial Fisher-Yates shuffle of that permutation.
    for (let j = 0; j < k; j++) swap(all, j, j + rng.int(space - j));
    // Output channels 0..k-1 take one drawn pattern each, the rest any; then shuffle who gets what.
    for (let o = 0; o < O; o++) assign[o] = all[o < k ? o : rng.int(k)];
    for (let o = O - 1; o > 0; o--) swap(assign, o, rng.int(o + 1));
    for (let o = 0; o < O; o++) {
      for (let t = 0; t < taps; t++) out[(o * taps + t) * I + i] = bitValue((assign[o] >>> t) & 1);
    }
  }
  return out;
}

function swap(a: Uint32Array, x: number, y: number): void {
  const v = a[x];
  a[x] = a[y];
  a[y] = v;
}

/** Keras/Larq store conv kernels HWIO [KH, KW, I, O]; this returns the same values OHWI [O, KH, KW, I]. */
export function hwioToOhwi(values: ArrayLike<number>, hwio: readonly [number, number, number, number]): Float32Array {
  const [KH, KW, I, O] = hwio;
  if (values.length !== KH * KW * I * O) throw new ShapeError(`hwioToOhwi: shape [${hwio.join(', ')}] has ${KH * KW * I * O} values, got ${values.length}`);
  const out = new Float32Array(values.length);
  for (let t = 0; t < KH * KW; t++) {
    for (let i = 0; i < I; i++) {
      for (let o = 0; o < O; o++) out[(o * KH * KW + t) * I + i] = values[(t * I + i) * O + o];
    }
  }
  return out;
}

export type KernelLayout = 'hwio' | 'ohwi';

/**
 * One conv layer from an `.npy` array of kernel weights: 4-d, HWIO (what Keras/Larq's
 * `layer.get_weights()[0]` gives, the default) or OHWI. Signed dtypes only: weights are binarized
 * by sign, so an unsigned array would be all +1.
 */
export function kernelLayerFromNpy(array: NpyArray, name: string, layout: KernelLayout = 'hwio'): KernelLayer & { weights: Float32Array } {
  if (array.shape.length !== 4) {
    throw new ShapeError(`${name}: a conv kernel is 4-d (${layout === 'hwio' ? '[KH, KW, I, O]' : '[O, KH, KW, I]'}), got shape (${array.shape.join(', ')})`);
  }
  if (array.dtype === '|u1' || array.dtype === '<u4') {
    throw new ShapeError(`${name}: dtype ${array.dtype} is unsigned, so every weight would binarize to +1; save the +-1 or real-valued weights (float32, float64 or int8)`);
  }
  const [a, b, c, d] = array.shape;
  const shape: KernelShape = layout === 'hwio' ? [d, a, b, c] : [a, b, c, d];
  try {
    checkKernelShape(shape, name);
  } catch (err) {
    throw new ShapeError(`${(err as Error).message}; read as ${layout} from shape (${array.shape.join(', ')}): is that the file's layout?`);
  }
  return { name, weights: layout === 'hwio' ? hwioToOhwi(array.data, [a, b, c, d]) : Float32Array.from(array.data), shape };
}

function checkKernelShape(shape: KernelShape, name = 'kernel'): [number, number, number, number] {
  if (!Array.isArray(shape) || shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${name}: shape must be [O, KH, KW, I] with positive integers, got [${String(shape)}]`);
  }
  const [O, KH, KW, I] = shape;
  if (KH * KW > MAX_PATTERN_TAPS) {
    throw new ShapeError(`${name}: a ${KH}x${KW} kernel has ${KH * KW} taps; patterns are kept as 16-bit numbers, so at most ${MAX_PATTERN_TAPS} taps (the 512-pattern argument is about 3x3)`);
  }
  return [O, KH, KW, I];
}
