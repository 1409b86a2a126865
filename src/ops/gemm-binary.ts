// XNOR-popcount GEMM (shaders/gemm_binary.wgsl): C[M,N] = A[M,K] . B[N,K]^T over +-1 values,
// with the epilogue fused: i32, f32 affine (dot*scale+bias), or integer threshold straight to b1.
// Beside the launcher: its plain CPU reference and the folding of an affine map into thresholds.
import { binaryDot, wordsPerRow } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { expectTensor, expectVector } from './check.js';
import { GEMM_OUTPUTS_PER_INVOCATION, defaultGemmTuning, gemmTuningFor, runTiledGemm, type GemmTuning } from './gemm-tiling.js';

export type BinaryGemmEpilogue =
  | { kind: 'i32' }
  /** f32 out = dot * scale[n] + bias[n]; scale and bias are f32[N]. */
  | { kind: 'affine'; scale: Tensor; bias: Tensor }
  /** b1 out: bit set (-1) where dot < threshold[n], or dot > threshold[n] where flip[n] != 0. i32[N], u32[N]. */
  | { kind: 'threshold'; threshold: Tensor; flip: Tensor };

export interface BinaryGemmOptions {
  epilogue?: BinaryGemmEpilogue;
  /** Write here instead of a new tensor (i32/f32 [M,N], or b1 [M,N] for the threshold epilogue). */
  out?: Tensor;
  tuning?: GemmTuning;
  label?: string;
}

const OP = 'binaryGemm';

/** Convolution geometry of the shared kernel's params, all zero for a plain GEMM. */
export const NO_CONV_GEOMETRY = {
  src_h: 0,
  src_w: 0,
  in_h: 0,
  in_w: 0,
  c_words: 0,
  c_chunks: 0,
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
  zero_pad: 0,
} as const;

/**
 * The entry point, output dtype, output binding and epilogue bindings of gemm_binary.wgsl for an
 * epilogue over N output columns, checked. Shared by binaryGemm and bconv2d.
 */
export function binaryEpilogue(op: string, epilogue: BinaryGemmEpilogue, N: number, tuning: GemmTuning) {
  switch (epilogue.kind) {
    case 'i32':
      return { entryPoint: 'gemm_i32', outDtype: 'i32', outName: 'out_i32', inputs: {} } as const;
    case 'affine':
      expectVector(op, 'epilogue.scale', epilogue.scale, 'f32', N);
      expectVector(op, 'epilogue.bias', epilogue.bias, 'f32', N);
      return { entryPoint: 'gemm_affine_f32', outDtype: 'f32', outName: 'out_f32', inputs: { scale: epilogue.scale, bias: epilogue.bias } } as const;
    case 'threshold':
      expectVector(op, 'epilogue.threshold', epilogue.threshold, 'i32', N);
      expectVector(op, 'epilogue.flip', epilogue.flip, 'u32', N);
      if (tuning.useWorkgroupTiles && (tuning.wgX * GEMM_OUTPUTS_PER_INVOCATION) % 32 !== 0) {
        throw new ShapeError(`${op}: the threshold epilogue with workgroup tiles needs 4*tuning.wgX to be a multiple of 32, got wgX = ${tuning.wgX}`);
      }
      return {
        entryPoint: 'gemm_threshold_b1',
        outDtype: 'b1',
        outName: 'out_b1',
        inputs: { threshold: epilogue.threshold, flip: epilogue.flip },
        // Direct reads: an invocation owns whole output words (no barrier; see the shader).
        colsPerWorkgroup: tuning.useWorkgroupTiles ? undefined : tuning.wgX * 32,
      } as const;
    default:
      throw new ShapeError(`${op}: unknown epilogue ${(epilogue as { kind: string }).kind}; use 'i32', 'affine' or 'threshold'`);
  }
}

/**
 * The vec4 views of the operands (gemm_binary.wgsl's a4 / b4): whole buffers, so a binding is
 * never under one vec4 (pooled buffers hold at least 16 bytes); read only with VEC4_ROWS.
 */
export function vec4Views(a: Tensor, b: Tensor): { a4: GPUBuffer; b4: GPUBuffer } {
  return { a4: a.buffer, b4: b.buffer };
}

/**
 * Which arithmetic gemm_binary.wgsl runs (its SCHEME override): XNOR on b1 x b1, or one of the
 * low-bit schemes on stacks of bit planes (src/ops/gemm-ternary.ts, src/ops/gemm-bit-serial.ts).
 */
export interface BitScheme {
  scheme: 'xnor' | 'ternary' | 'bitSerial';
  /** Bit planes of A (the activations) and of B (the weights). */
  planesA: number;
  planesB: number;
}

export const XNOR_SCHEME: BitScheme = { scheme: 'xnor', planesA: 1, planesB: 1 };

const SCHEME_CONSTANT = { xnor: 0, ternary: 1, bitSerial: 2 } as const;

/** The override constants of a scheme. */
export function schemeConstants(s: BitScheme): Record<string, number> {
  return { SCHEME: SCHEME_CONSTANT[s.scheme], PLANES_A: s.planesA, PLANES_B: s.planesB };
}

/**
 * K steps of workgroup tiles that fit the device's workgroup memory (with workgroup tiles, each
 * plane of A and B is staged, 16 bytes a row per K step, beside the threshold epilogue's bits);
 * Infinity for storage reads, which declare no tiles (see the shader).
 */
function stepsThatFit(gpu: Gpu, tuning: GemmTuning, s: BitScheme): number {
  if (!tuning.useWorkgroupTiles) return Infinity;
  const r = GEMM_OUTPUTS_PER_INVOCATION;
  const bits = 4 * Math.max(1, Math.ceil((r * tuning.wgY * r * tuning.wgX) / 32));
  const perStep = 16 * r * (tuning.wgY * s.planesA + tuning.wgX * s.planesB);
  return Math.floor((gpu.limits.maxComputeWorkgroupStorageSize - bits) / perStep);
}

/** The tuning with K steps short enough that its workgroup tiles fit; refused if not even one step does. */
function fitTuning(gpu: Gpu, op: string, tuning: GemmTuning, s: BitScheme): GemmTuning {
  const steps = stepsThatFit(gpu, tuning, s);
  if (steps < 1) {
    const r = GEMM_OUTPUTS_PER_INVOCATION;
    throw new ShapeError(`${op}: ${s.planesA} + ${s.planesB} bit planes of ${r * tuning.wgY} x ${r * tuning.wgX} tiles do not fit this device's workgroup memory (maxComputeWorkgroupStorageSize ${gpu.limits.maxComputeWorkgroupStorageSize}); use a smaller tuning.wgX / wgY or useWorkgroupTiles: false`);
  }
  return steps >= tuning.tileK ? tuning : { ...tuning, tileK: steps };
}

/**
 * The caller's tuning, fitted (fitTuning), or else the default tuning for this epilogue, fitted,
 * and where not even one K step of its tiles fits (many bit planes on a device with little
 * workgroup memory: 8 + 8 planes of 64 x 64 tiles take 16.5 KB, the WebGPU minimum is 16 KB),
 * smaller tiles: wgY halved, then wgX (kept a multiple of 8 for the threshold epilogue), then
 * storage reads. Such a change is said once per Gpu (gpu.note).
 */
export function bitGemmTuning(gpu: Gpu, op: string, given: GemmTuning | undefined, epilogue: BinaryGemmEpilogue['kind'], s: BitScheme): GemmTuning {
  if (given) return fitTuning(gpu, op, given, s);
  const initial = defaultGemmTuning(gpu, 'binary', epilogue);
  let t = initial;
  const minX = epilogue === 'threshold' ? 8 : 1;
  while (stepsThatFit(gpu, t, s) < 1) {
    if (t.wgY > 1) t = { ...t, wgY: t.wgY / 2 };
    else if (t.wgX / 2 >= minX) t = { ...t, wgX: t.wgX / 2 };
    else t = { ...t, wgX: initial.wgX, wgY: initial.wgY, useWorkgroupTiles: false };
  }
  if (t !== initial) {
    const what = (u: GemmTuning) => `${u.wgX}x${u.wgY} ${u.useWorkgroupTiles ? 'workgroup tiles' : 'storage reads'}`;
    gpu.note(
      `${op}: the default tuning (${what(initial)}) does not fit ${s.planesA} + ${s.planesB} bit planes in this device's ` +
        `${gpu.limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory; using ${what(t)}`,
    );
  }
  return fitTuning(gpu, op, t, s);
}

/** C = A . B^T for b1 A[M,K] and b1 B[N,K] (both packed along K). */
export async function binaryGemm(gpu: Gpu, a: Tensor, b: Tensor, options: BinaryGemmOptions = {}): Promise<Tensor> {
  const [M, K] = expectTensor(OP, 'a', a, 'b1', 2);
  const [N, Kb] = expectTensor(OP, 'b', b, 'b1', 2);
  if (K !== Kb) throw new ShapeError(`${OP}: a is [${M}, ${K}] and b is [${N}, ${Kb}]: both must have the same K (C = A . B^T)`);
  return runBitGemm(gpu, OP, { a, b, M, N, K }, XNOR_SCHEME, options);
}

/**
 * Runs gemm_binary.wgsl as a plain GEMM in `scheme` on checked operands (a: the planes of A[M,K],
 * b: the planes of B[N,K], each plane packed along K): binaryGemm and the low-bit GEMMs.
 */
export async function runBitGemm(
  gpu: Gpu,
  op: string,
  d: { a: Tensor; b: Tensor; M: number; N: number; K: number },
  scheme: BitScheme,
  options: BinaryGemmOptions,
): Promise<Tensor> {
  const { a, b, M, N, K } = d;
  const epilogue = options.epilogue ?? { kind: 'i32' };
  const label = options.label ?? `${op}[${M}x${N}x${K}].${epilogue.kind}`;
  // Only the XNOR scheme is autotuned (the low-bit GEMMs share the kernel but not its shapes).
  const given = scheme.scheme === 'xnor' ? gemmTuningFor(gpu, options.tuning, { kernel: 'binaryGemm', epilogue: epilogue.kind, M, N, K }, label) : options.tuning;
  const tuning = bitGemmTuning(gpu, op, given, epilogue.kind, scheme);
  const e = binaryEpilogue(op, epilogue, N, tuning);
  return runTiledGemm(gpu, {
    op,
    kind: 'binary',
    shader: 'gemm_binary',
    entryPoint: e.entryPoint,
    M,
    N,
    K,
    outDtype: e.outDtype,
    outName: e.outName,
    inputs: { a, b, ...vec4Views(a, b), ...(e.inputs as Record<string, Tensor>) },
    extraParams: { k_words: wordsPerRow(K), n_words: wordsPerRow(N), ...NO_CONV_GEOMETRY },
    constants: { IM2COL: false, VEC4_ROWS: wordsPerRow(K) % 4 === 0, ...schemeConstants(scheme) },
    colsPerWorkgroup: 'colsPerWorkgroup' in e ? e.colsPerWorkgroup : undefined,
    out: options.out,
    tuning,
    label,
  });
}

/** Host-side epilogue data for the reference. */
export type BinaryGemmReferenceEpilogue =
  | { kind: 'i32' }
  | { kind: 'affine'; scale: Float32Array; bias: Float32Array }
  | { kind: 'threshold'; threshold: Int32Array; flip: Uint32Array };

/**
 * Plain CPU reference of binaryGemm: packed A[M,K] and B[N,K] in, i32 or f32 [M,N], or packed
 * b1 [M, ceil(N/32) words] out.
 */
export function binaryGemmReference(
  a: Uint32Array,
  b: Uint32Array,
  M: number,
  N: number,
  K: number,
  epilogue: BinaryGemmReferenceEpilogue = { kind: 'i32' },
): Int32Array | Float32Array | Uint32Array {
  const dots = new Int32Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) dots[m * N + n] = binaryDot(a, m, b, n, K);
  return applyEpilogueReference(dots, M, N, epilogue);
}

/** The CPU reference of the fused epilogues, on i32 dots [M, N]. */
export function applyEpilogueReference(
  dots: Int32Array,
  M: number,
  N: number,
  epilogue: BinaryGemmReferenceEpilogue,
): Int32Array | Float32Array | Uint32Array {
  if (epilogue.kind === 'i32') return dots;
  if (epilogue.kind === 'affine') {
    return Float32Array.from(dots, (d, i) => d * epilogue.scale[i % N] + epilogue.bias[i % N]);
  }
  const nw = wordsPerRow(N);
  const out = new Uint32Array(M * nw);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const d = dots[m * N + n];
      const t = epilogue.threshold[n];
      if (epilogue.flip[n] ? d > t : d < t) out[m * nw + (n >>> 5)] |= 1 << (n & 31);
    }
  }
  return out;
}

const I32_MIN = -0x80000000;
const I32_MAX = 0x7fffffff;

/** The smallest integer k in [lo, hi] where `p` holds, p false then true over the range (hi + 1 if nowhere). */
export function firstWhere(lo: number, hi: number, p: (k: number) => boolean): number {
  let [a, b] = [lo, hi + 1];
  while (a < b) {
    const mid = Math.floor((a + b) / 2);
    if (p(mid)) b = mid;
    else a = mid + 1;
  }
  return a;
}

/**
 * Folds `y = dot * scale[n] + bias[n]; bit = y < 0` into integer thresholds for the threshold
 * epilogue, exactly over integer dots: scale > 0 sets the bit where dot < t; scale < 0 where
 * dot > t (flip); scale 0 (a constant channel) always or never. NaN never sets the bit.
 * `value`: how y is really computed, if not exactly as dot * scale + bias (monotone in dot as
 * scale says; the plan's BatchNorm folds pass the reference's own arithmetic, decisionValue).
 */
export function thresholdsFromAffine(scale: ArrayLike<number>, bias: ArrayLike<number>, value?: (dot: number, channel: number) => number): { threshold: Int32Array; flip: Uint32Array } {
  if (scale.length !== bias.length) throw new ShapeError(`thresholdsFromAffine: ${scale.length} scales but ${bias.length} biases`);
  const n = scale.length;
  const threshold = new Int32Array(n);
  const flip = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const s = scale[i];
    const c = bias[i];
    const negative = value ? (d: number) => value(d, i) < 0 : (d: number) => d * s + c < 0;
    if (Number.isNaN(s) || Number.isNaN(c)) {
      threshold[i] = I32_MIN; // dot < I32_MIN never holds
    } else if (s === 0) {
      threshold[i] = c < 0 ? I32_MAX : I32_MIN;
    } else if (s > 0) {
      // Smallest t with y(t) >= 0: the bit is set exactly for dot < t. By bisection over all i32
      // (y is monotone; rounding may make it flat over long runs of dots, so no walk from -c/s).
      threshold[i] = Math.min(I32_MAX, firstWhere(I32_MIN, I32_MAX, (d) => !negative(d)));
    } else {
      // Largest t with y(t) >= 0: the bit is set exactly for dot > t.
      threshold[i] = Math.max(I32_MIN, firstWhere(I32_MIN, I32_MAX, (d) => negative(d)) - 1);
      flip[i] = 1;
    }
  }
  return { threshold, flip };
}
