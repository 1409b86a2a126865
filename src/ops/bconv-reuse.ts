// Kernel-reuse binary convolution for 3x3 kernels (BinaryNet's filter repetitions, shaders/
// bconv_reuse.wgsl): each distinct (input channel, weight pattern) response is computed once per
// output position and added into every output channel that uses it. Same inputs, semantics and
// epilogues as bconv2d, whose CPU reference (bconv2dReference) is this op's reference too.
// Here: the host-made tables (one pass over the packed OHWI weights) and the launcher.
import { wordsPerRow } from '../bitpack.js';
import { kernelPatterns, type KernelShape } from '../analysis/kernel-reuse.js';
import type { Gpu } from '../gpu/context.js';
import type { Kernel } from '../gpu/kernel.js';
import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { conv2dGeometry, type Conv2dWindow } from './bconv2d.js';
import { expectOut, expectTensor, expectVector } from './check.js';
import type { BinaryGemmEpilogue } from './gemm-binary.js';

const OP = 'bconv2dReuse';

/** Output positions per tile (the shader's P): 32 nibbles of one vec4u. */
export const REUSE_POSITIONS = 32;

/** Input channels at most: the shader sums mismatches (at most 9 per channel) in 16-bit lanes. */
export const MAX_REUSE_CHANNELS = Math.floor(0xffff / 9);

/**
 * The reuse tables of 3x3 weights: per input channel i its distinct patterns, entries
 * offsets[i] .. offsets[i+1] - 1 of `entries` (pattern bits | i << 16, first use first), and per
 * (o, i) the entry it uses, entryIndex[o * I + i]. A pattern has bit kh*3 + kw set where the
 * weight is -1 (kernelPatterns, by the bit convention).
 */
export interface ReuseTables {
  shape: KernelShape;
  offsets: Uint32Array;
  entries: Uint32Array;
  entryIndex: Uint32Array;
  /** tapOnes[o * 9 + t]: input channels whose weight of output o at tap t is -1 (for pad_values = 0). */
  tapOnes: Uint32Array;
  /** entries / (O * I): the unique ratio of the analysis (src/analysis/kernel-reuse.ts). */
  uniqueRatio: number;
}

/** Refuses what the reuse path cannot run: kernels other than 3x3, too many input channels. */
function checkReuseShape(op: string, shape: readonly number[]): KernelShape {
  if (shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${op}: the kernel must be OHWI [out, 3, 3, in] with positive sizes, got [${shape.join(', ')}]`);
  }
  const [O, KH, KW, I] = shape;
  if (KH !== 3 || KW !== 3) {
    throw new ShapeError(`${op}: the kernel-reuse path is for 3x3 kernels (512 sign patterns), got ${KH}x${KW}; use bconv2d`);
  }
  if (I > MAX_REUSE_CHANNELS) {
    throw new ShapeError(`${op}: at most ${MAX_REUSE_CHANNELS} input channels (sums of 16 bits), got ${I}; use bconv2d`);
  }
  return [O, KH, KW, I];
}

/** The tables of packed b1 OHWI weights [O, 3, 3, I] (ceil(I/32) words per (o, kh, kw) row). */
export function reuseTables(packed: Uint32Array, shape: readonly number[]): ReuseTables {
  const s = checkReuseShape('reuseTables', shape);
  const [O, , , I] = s;
  const patterns = kernelPatterns({ packed }, s); // [I, O]; checks the length and the pad bits
  const offsets = new Uint32Array(I + 1);
  const entries = new Uint32Array(O * I);
  const entryIndex = new Uint32Array(O * I);
  const tapOnes = new Uint32Array(O * 9);
  const slot = new Int32Array(512).fill(-1);
  let count = 0;
  for (let i = 0; i < I; i++) {
    offsets[i] = count;
    for (let o = 0; o < O; o++) {
      const p = patterns[i * O + o];
      if (slot[p] < offsets[i]) {
        slot[p] = count;
        entries[count++] = p | (i << 16);
      }
      entryIndex[o * I + i] = slot[p];
      for (let t = 0; t < 9; t++) tapOnes[o * 9 + t] += (p >>> t) & 1;
    }
  }
  offsets[I] = count;
  return { shape: s, offsets, entries: entries.slice(0, count), entryIndex, tapOnes, uniqueRatio: count / (O * I) };
}

/** Weights ready for the reuse path: the b1 tensor (not owned) and its tables on the GPU (owned). */
export class BConvReuseWeights {
  constructor(
    readonly weights: Tensor,
    readonly tables: ReuseTables,
    readonly buffers: { entries: Tensor; offsets: Tensor; entry_index: Tensor; tap_ones: Tensor },
  ) {}

  get shape(): KernelShape {
    return this.tables.shape;
  }

  release(): void {
    for (const t of Object.values(this.buffers)) t.release();
  }
}

/**
 * Builds and uploads the tables of b1 OHWI weights `w` [O, 3, 3, I]. Reads `w` back unless its
 * packed words are given. Build once per set of weights; `release()` frees the tables.
 */
export async function prepareBConvReuse(gpu: Gpu, w: Tensor, options: { packed?: Uint32Array } = {}): Promise<BConvReuseWeights> {
  const shape = checkReuseShape(OP, expectTensor(OP, 'w', w, 'b1', 4));
  const packed = options.packed ?? ((await w.read()) as Uint32Array);
  const tables = reuseTables(packed, shape);
  const label = `${OP}.tables[${shape.join('x')}]`;
  return new BConvReuseWeights(w, tables, {
    entries: gpu.upload(tables.entries, [tables.entries.length], 'u32', `${label}.entries`),
    offsets: gpu.upload(tables.offsets, [tables.offsets.length], 'u32', `${label}.offsets`),
    entry_index: gpu.upload(tables.entryIndex, [tables.entryIndex.length], 'u32', `${label}.entry_index`),
    tap_ones: gpu.upload(tables.tapOnes, [tables.tapOnes.length], 'u32', `${label}.tap_ones`),
  });
}

export interface BConv2dReuseOptions extends Conv2dWindow {
  epilogue?: BinaryGemmEpilogue;
  /** Write here: i32/f32 [N, OH, OW, O], or b1 [N, OH, OW, O] for the threshold epilogue. */
  out?: Tensor;
  /** Invocations per workgroup of the three kernels. Default 64. */
  workgroupSize?: number;
  /**
   * Scratch bytes a round of tiles may use (windows: 64*I, responses: 16*entries per tile of 32
   * positions); more tiles take several rounds. Default 64 MiB (or the device's binding limit).
   */
  scratchBytes?: number;
  label?: string;
}

const EPILOGUES = {
  i32: { entryPoint: 'reuse_i32', outDtype: 'i32', outName: 'out_i32' },
  affine: { entryPoint: 'reuse_affine_f32', outDtype: 'f32', outName: 'out_f32' },
  threshold: { entryPoint: 'reuse_threshold_b1', outDtype: 'b1', outName: 'out_b1' },
} as const;

/** bconv2d's result by the reuse path: y[n, oh, ow, o] = sum over the 3x3 window and channels of x * w. */
export async function bconv2dReuse(gpu: Gpu, x: Tensor, w: BConvReuseWeights, options: BConv2dReuseOptions = {}): Promise<Tensor> {
  const inShape = expectTensor(OP, 'x', x, 'b1', 4);
  if (!(w instanceof BConvReuseWeights)) throw new ShapeError(`${OP}: 'w' must come from prepareBConvReuse(gpu, weights)`);
  for (const t of Object.values(w.buffers)) t.assertLive();
  const g = conv2dGeometry(inShape, w.shape, options, OP);
  const O = g.outChannels;
  const I = g.channels;
  const S = w.tables.entries.length;
  const epilogue = options.epilogue ?? { kind: 'i32' };
  const e = EPILOGUES[epilogue.kind];
  if (!e) throw new ShapeError(`${OP}: unknown epilogue ${(epilogue as { kind: string }).kind}; use 'i32', 'affine' or 'threshold'`);
  const inputs: Record<string, Tensor> = {};
  if (epilogue.kind === 'affine') {
    expectVector(OP, 'epilogue.scale', epilogue.scale, 'f32', O);
    expectVector(OP, 'epilogue.bias', epilogue.bias, 'f32', O);
    Object.assign(inputs, { scale: epilogue.scale, bias: epilogue.bias });
  } else if (epilogue.kind === 'threshold') {
    expectVector(OP, 'epilogue.threshold', epilogue.threshold, 'i32', O);
    expectVector(OP, 'epilogue.flip', epilogue.flip, 'u32', O);
    Object.assign(inputs, { threshold: epilogue.threshold, flip: epilogue.flip });
  }
  const wg = options.workgroupSize ?? 64;
  const maxWg = gpu.limits.maxComputeInvocationsPerWorkgroup;
  if (!Number.isInteger(wg) || wg < 1 || wg > maxWg) throw new ShapeError(`${OP}: workgroupSize must be an integer in [1, ${maxWg}] on this device, got ${wg}`);
  const outShape = [g.batch, g.outH, g.outW, O];
  expectOut(OP, options.out, e.outDtype, outShape);

  const M = g.batch * g.outH * g.outW;
  const tiles = Math.ceil(M / REUSE_POSITIONS);
  const tileBytes = 4 * (16 * I + 4 * S + 16);
  const budget = Math.min(options.scratchBytes ?? 64 * 2 ** 20, gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const perRound = Math.min(tiles, Math.floor(budget / tileBytes));
  if (!(perRound >= 1)) throw new ShapeError(`${OP}: one tile needs ${tileBytes} bytes of scratch, over the budget of ${budget}`);
  const shape = `${g.batch}x${g.inH}x${g.inW}x${I}*3x3->${O}`;
  const label = options.label ?? `${OP}[${shape}].${epilogue.kind}`;
  const kernel = (entryPoint: string) => gpu.kernel({ shader: 'bconv_reuse', entryPoint, constants: { WG: wg } });
  const [windows, responses, accumulate, clear] = await Promise.all([
    kernel('reuse_windows'),
    kernel('reuse_responses'),
    kernel(e.entryPoint),
    epilogue.kind === 'threshold' ? kernel('reuse_clear_b1') : null,
  ]);
  const out = options.out ?? gpu.tensor(outShape, e.outDtype, `${label}.out`);
  const base = {
    M,
    O,
    I,
    S,
    c_words: wordsPerRow(I),
    o_words: wordsPerRow(O),
    in_h: g.inH,
    in_w: g.inW,
    out_w: g.outW,
    out_hw: g.outH * g.outW,
    stride_h: g.strideH,
    stride_w: g.strideW,
    dilation_h: g.dilationH,
    dilation_w: g.dilationW,
    pad_top: g.padTop,
    pad_left: g.padLeft,
    zero_pad: g.padValues === 0 ? 1 : 0,
  };
  const scratch = {
    w9: gpu.tensor([perRound * 16 * I], 'u32', `${label}.windows`),
    resp: gpu.tensor([perRound * 4 * S], 'u32', `${label}.responses`),
    inside: gpu.tensor([perRound * 16], 'u32', `${label}.inside`),
  };
  const io: Record<string, Tensor> = { ...w.buffers, ...scratch, ...inputs, [e.outName]: out };
  const grid = (items: number) => gpu.grid(Math.ceil(items / wg), label);
  try {
    // One pass: WebGPU orders the dispatches of a pass, so each sees the previous one's writes.
    await gpu.run(label, (rec) => {
      if (clear) {
        const items = M * wordsPerRow(O);
        rec.dispatch(clear, { params: { ...base, tile0: 0, T: 0, items }, out_b1: out }, grid(items));
      }
      for (let tile0 = 0; tile0 < tiles; tile0 += perRound) {
        const n = Math.min(perRound, tiles - tile0);
        const round = (items: number) => ({ ...base, tile0, T: n, items });
        const windowItems = n * 16 * wordsPerRow(I);
        rec.dispatch(windows, { params: round(windowItems), x, w9: scratch.w9, inside: scratch.inside }, grid(windowItems));
        rec.dispatch(responses, { params: round(n * I), entries: w.buffers.entries, offsets: w.buffers.offsets, w9: scratch.w9, resp: scratch.resp }, grid(n * I));
        rec.dispatch(accumulate, { params: round(n * O), ...bound(accumulate, io) }, grid(n * O));
      }
    });
  } finally {
    for (const t of Object.values(scratch)) t.release();
  }
  return out;
}

/** The tensors of `values` that `kernel` binds (the epilogue kernels differ in their bindings). */
function bound(kernel: Kernel, values: Record<string, Tensor>): Record<string, Tensor> {
  return Object.fromEntries(kernel.bindings.filter((b) => b.name !== 'params').map((b) => [b.name, values[b.name]]));
}
