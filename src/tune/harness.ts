// One tunable site rebuilt on random operands: runs the op with a given variant, and checks its
// output against the op's CPU reference (exact for integer and bit outputs, a stated tolerance for
// float ones). The autotuner checks every variant this way before it times any.
import { packRows, unpackRows } from '../bitpack.js';
import type { Gpu } from '../gpu/context.js';
import type { TuningSite, VariantParams } from '../gpu/tuning-table.js';
import { Random } from '../random.js';
import type { Tensor } from '../tensor.js';
import { batchNormBackward, batchNormBackwardReference, batchNormForward, batchNormForwardReference } from '../ops/batchnorm.js';
import { bconv2d, bconv2dReference } from '../ops/bconv2d.js';
import { binaryFloatGemm, binaryFloatGemmReference } from '../ops/gemm-binary-float.js';
import { binaryGemm, binaryGemmReference, type BinaryGemmEpilogue, type BinaryGemmReferenceEpilogue } from '../ops/gemm-binary.js';
import { gemmF32, gemmF32Reference } from '../ops/gemm-f32.js';
import type { GemmTuning } from '../ops/gemm-tiling.js';

/**
 * Float tolerances: a GEMM or convolution output may differ from the f64 reference by
 * FLOAT_GEMM_TOLERANCE * K (f32 sums of K terms of magnitude <= 1); BatchNorm by
 * BATCHNORM_TOLERANCE * (1 + |want|) per element (sums over rows in another order).
 */
export const FLOAT_GEMM_TOLERANCE = 2e-6;
export const BATCHNORM_TOLERANCE = 1e-4;

export interface Trial {
  /** Runs the op once with the variant; the caller releases the outputs. */
  run(params: VariantParams): Promise<Tensor[]>;
  /** null when `out` (from run) equals the reference, else the first mismatch in words. */
  check(out: Tensor[]): Promise<string | null>;
  release(): void;
}

type Want = { data: ArrayLike<number>; tolerance: (i: number) => number };

/** Compares read-back outputs with the references, output by output. */
async function compare(out: Tensor[], wants: Want[], names: string[]): Promise<string | null> {
  for (let o = 0; o < wants.length; o++) {
    const got = await out[o].read();
    const { data, tolerance } = wants[o];
    if (got.length !== data.length) return `${names[o]}: ${got.length} values, the reference has ${data.length}`;
    for (let i = 0; i < data.length; i++) {
      if (!(Math.abs(got[i] - data[i]) <= tolerance(i))) return `${names[o]}[${i}] is ${got[i]}, the reference ${data[i]}`;
    }
  }
  return null;
}

const exact = (): number => 0;
const gemmOf = (p: VariantParams): GemmTuning => {
  if (!('gemm' in p)) throw new TypeError(`a GEMM variant needs a tiling, got ${JSON.stringify(p)}`);
  return p.gemm;
};

/** A Trial for `site`, its operands drawn from `seed`. */
export function makeTrial(gpu: Gpu, site: TuningSite, seed = 1): Trial {
  const rng = new Random(seed);
  const owned: Tensor[] = [];
  const up = (data: Float32Array | Int32Array | Uint32Array, shape: number[], dtype: 'f32' | 'i32' | 'u32' | 'b1') => {
    const t = gpu.upload(data, shape, dtype, `tune.${site.kernel}.operand`);
    owned.push(t);
    return t;
  };
  const signs = (n: number) => Float32Array.from({ length: n }, () => (rng.next() < 0.5 ? -1 : 1));
  const { M, N, K } = site;
  const release = () => owned.splice(0).forEach((t) => t.release());

  /** The binary epilogue's operands on the GPU and for the reference: random scale/bias or thresholds. */
  const epilogue = (): { gpu: BinaryGemmEpilogue; ref: BinaryGemmReferenceEpilogue; float: boolean } => {
    if (site.epilogue === 'affine') {
      const scale = rng.floats(N, 0.5, 1.5);
      const bias = rng.floats(N, -2, 2);
      return { gpu: { kind: 'affine', scale: up(scale, [N], 'f32'), bias: up(bias, [N], 'f32') }, ref: { kind: 'affine', scale, bias }, float: true };
    }
    if (site.epilogue === 'threshold') {
      const threshold = Int32Array.from({ length: N }, () => rng.int(2 * Math.min(K, 64) + 1) - Math.min(K, 64));
      const flip = Uint32Array.from({ length: N }, () => rng.int(2));
      return { gpu: { kind: 'threshold', threshold: up(threshold, [N], 'i32'), flip: up(flip, [N], 'u32') }, ref: { kind: 'threshold', threshold, flip }, float: false };
    }
    return { gpu: { kind: 'i32' }, ref: { kind: 'i32' }, float: false };
  };
  // An affine epilogue's f32 result: dot * scale + bias, |dot| <= K, rounded once or twice.
  const epilogueTolerance = (float: boolean) => (float ? (i: number, want: ArrayLike<number>) => 1e-6 * (1 + Math.abs(want[i])) : () => 0);

  switch (site.kernel) {
    case 'binaryGemm': {
      const ap = packRows(signs(M * K), M, K);
      const bp = packRows(signs(N * K), N, K);
      const a = up(ap, [M, K], 'b1');
      const b = up(bp, [N, K], 'b1');
      const e = epilogue();
      const want = binaryGemmReference(ap, bp, M, N, K, e.ref);
      const tol = epilogueTolerance(e.float);
      return {
        run: async (p) => [await binaryGemm(gpu, a, b, { epilogue: e.gpu, tuning: gemmOf(p), label: `tune.binaryGemm[${M}x${N}x${K}]` })],
        check: (out) => compare(out, [{ data: want, tolerance: (i) => tol(i, want) }], ['out']),
        release,
      };
    }
    case 'bconv2d': {
      const c = site.conv!;
      const [batch, H, W, C] = c.input;
      const [O, KH, KW] = c.kernel;
      const xv = signs(batch * H * W * C);
      const wv = signs(O * KH * KW * C);
      const x = up(packRows(xv, batch * H * W, C), c.input, 'b1');
      const w = up(packRows(wv, O * KH * KW, C), c.kernel, 'b1');
      const e = epilogue();
      const window = { strides: c.strides, dilation: c.dilation, padding: c.padding, padValues: c.padValues };
      const want = bconv2dReference(unpackRows(packRows(xv, batch * H * W, C), batch * H * W, C), c.input, wv, c.kernel, window, e.ref);
      const tol = epilogueTolerance(e.float);
      return {
        run: async (p) => [await bconv2d(gpu, x, w, { ...window, epilogue: e.gpu, tuning: gemmOf(p), label: `tune.bconv2d[${c.input.join('x')}]` })],
        check: (out) => compare(out, [{ data: want, tolerance: (i) => tol(i, want) }], ['out']),
        release,
      };
    }
    case 'binaryFloatGemm':
    case 'signTableGemm': {
      const av = rng.floats(M * K);
      const bp = packRows(signs(N * K), N, K);
      const a = up(av, [M, K], 'f32');
      const b = up(bp, [N, K], 'b1');
      const want = binaryFloatGemmReference(av, bp, M, N, K);
      const method = site.kernel === 'signTableGemm' ? 'table' : 'select';
      return {
        run: async (p) => [await binaryFloatGemm(gpu, a, b, { method, tuning: gemmOf(p), label: `tune.${site.kernel}[${M}x${N}x${K}]` })],
        check: (out) => compare(out, [{ data: want, tolerance: () => FLOAT_GEMM_TOLERANCE * K }], ['out']),
        release,
      };
    }
    case 'gemmF32': {
      const av = rng.floats(M * K);
      const bv = rng.floats(N * K);
      const a = up(av, [M, K], 'f32');
      const b = up(bv, [N, K], 'f32');
      const want = gemmF32Reference(av, bv, M, N, K);
      return {
        run: async (p) => [await gemmF32(gpu, a, b, { tuning: gemmOf(p), label: `tune.gemmF32[${M}x${N}x${K}]` })],
        check: (out) => compare(out, [{ data: want, tolerance: () => FLOAT_GEMM_TOLERANCE * K }], ['out']),
        release,
      };
    }
    case 'batchNormStats':
    case 'batchNormBackward': {
      const rows = M;
      const C = N;
      const xv = rng.floats(rows * C, -2, 2);
      const x = up(xv, [rows, C], 'f32');
      const ref = batchNormForwardReference(xv, rows, C);
      const relative = (want: ArrayLike<number>, scale = 1) => (i: number) => BATCHNORM_TOLERANCE * scale * (1 + Math.abs(want[i]));
      const reduction = (p: VariantParams) => {
        if (!('reduction' in p)) throw new TypeError(`a BatchNorm variant needs a reduction, got ${JSON.stringify(p)}`);
        return p.reduction;
      };
      if (site.kernel === 'batchNormStats') {
        const stats = Float32Array.from([...ref.mean, ...ref.invStd]);
        return {
          run: async (p) => {
            const { y, saved } = await batchNormForward(gpu, x, { reduction: reduction(p), label: `tune.batchNormForward[${rows}x${C}]` });
            return [y, saved];
          },
          check: (out) => compare(out, [{ data: ref.y, tolerance: relative(ref.y) }, { data: stats, tolerance: relative(stats) }], ['y', 'saved']),
          release,
        };
      }
      const dyv = rng.floats(rows * C);
      const dy = up(dyv, [rows, C], 'f32');
      const saved = up(Float32Array.from([...ref.mean, ...ref.invStd]), [2, C], 'f32');
      const back = batchNormBackwardReference(dyv, xv, rows, C, ref.mean, ref.invStd);
      // dgamma and dbeta are sums over rows: their error grows with the rows summed.
      const sums = Math.sqrt(rows);
      return {
        run: async (p) => {
          const r = await batchNormBackward(gpu, dy, x, saved, { reduction: reduction(p), label: `tune.batchNormBackward[${rows}x${C}]` });
          return [r.dx, r.dgamma, r.dbeta];
        },
        check: (out) =>
          compare(out, [
            { data: back.dx, tolerance: relative(back.dx, sums) },
            { data: back.dgamma, tolerance: relative(back.dgamma, sums) },
            { data: back.dbeta, tolerance: relative(back.dbeta, sums) },
          ], ['dx', 'dgamma', 'dbeta']),
        release,
      };
    }
  }
}
