// The inference compiler's second half: a lowered model recorded on the GPU once per batch size
// (and per set of names to read), then replayed. Weights are binarized, packed and uploaded once;
// every kernel's pipeline and bind groups are built once (recorded through Gpu.capture); the
// intermediates come from the plan's own arena, released at their last use while recording, so
// later steps reuse their buffers (liveness); a forward pass is one command buffer with no
// read-back inside, then only the asked-for tensors are read.
import { packRows, unpackRows } from '../bitpack.js';
import { BufferPool } from '../gpu/buffer-pool.js';
import type { Dispatch, Gpu } from '../gpu/context.js';
import { LimitError, ShapeError } from '../gpu/errors.js';
import { concatBits, pack, packDorefaPlanes, unpack } from '../ops/bitpack.js';
import { bitSerialConv2d, bitSerialGemm } from '../ops/gemm-bit-serial.js';
import { bconv2d } from '../ops/bconv2d.js';
import { BConvReuseWeights, bconv2dReuse, prepareBConvReuse } from '../ops/bconv-reuse.js';
import { chooseConvPath } from '../ops/conv-path.js';
import { conv2d } from '../ops/conv2d.js';
import { add, channelAffine, concatLast, quantize, softmax, thresholdQuantize } from '../ops/elementwise.js';
import { signSelectConv2d } from '../ops/first-layer.js';
import { binaryGemm, type BinaryGemmEpilogue } from '../ops/gemm-binary.js';
import { binaryFloatGemm } from '../ops/gemm-binary-float.js';
import { gemmF32 } from '../ops/gemm-f32.js';
import { scaleRows, xnorInputScale, xnorWindowWeights } from '../ops/xnor-scale.js';
import { pad2d } from '../ops/pad.js';
import { avgPool2d, maxPool2d } from '../ops/pool.js';
import { Tensor, storageWords } from '../tensor.js';
import type { Model } from '../model/model.js';
import { ternaryConv2d, ternaryGemm } from '../ops/gemm-ternary.js';
import { runPasses } from './passes/pipeline.js';
import { lowerModel, CompileError, type Epilogue, type LoweredPlan, type PlanValue, type Step, type LowerOptions, stepInputs } from './lower.js';

export interface CompileOptions {
  /** The largest batch `run` accepts (checked against the device's buffer limits). Default 1024, or less where the limits allow less. */
  maxBatch?: number;
  /** 'binary' (default) or 'float' (every layer through fp32 kernels: the comparison model). */
  kernels?: LowerOptions['kernels'];
  /** Batch-size variants kept recorded at once (each holds its intermediates). Default 4. */
  cachedVariants?: number;
  /**
   * 3x3 binary convolutions: 'packed' (bconv2d; default), 'reuse' (BinaryNet's kernel reuse,
   * bconv2dReuse), or 'auto' (chooseConvPath times both per layer and batch size when a variant is
   * recorded, and keeps the faster; measured, it rarely beats packed: docs/performance-conv-reuse.md).
   */
  convPath?: 'packed' | 'reuse' | 'auto';
}

export interface PlanOutput {
  /** Batch first. */
  shape: number[];
  /** The values (+-1 for binary tensors). */
  data: Float32Array;
  /** For binary tensors, the packed bits as computed (bit = value < 0, rows along the last axis). */
  bits?: Uint32Array;
}

export interface RunOptions {
  /** Names to read: layer names, or `layer:input` for a quantized layer's quantized input. Default: the model outputs. */
  outputs?: string[];
}

/** One recorded forward pass: for a batch size and a set of names to read. */
interface Variant {
  lowered: LoweredPlan;
  dispatches: Dispatch[];
  arena: BufferPool;
  inputs: Tensor[];
  /** Tensor of each value read by name (kept alive), and its logical last axis (b1 rows may be stored longer). */
  kept: Map<string, { tensor: Tensor; cols: number }>;
  intermediateBytes: number;
  arenaBytes: number;
}

const DEFAULT_MAX_BATCH = 1024;

export class InferencePlan {
  private readonly variants = new Map<string, Variant>();
  private readonly weights = new Map<string, Tensor>();
  private readonly reuseWeights = new Map<Tensor, BConvReuseWeights>();
  private queue: Promise<unknown> = Promise.resolve();
  private destroyed = false;
  /** The plan for the default outputs, for describe() and checks. */
  readonly lowered: LoweredPlan;
  /** Whether inputs holding only +-1 lower differently (a first layer without an input quantizer): only then are inputs scanned for it. */
  private readonly signsMatter: boolean;
  readonly maxBatch: number;

  private constructor(
    readonly gpu: Gpu,
    readonly model: Model,
    private readonly options: CompileOptions,
  ) {
    this.lowered = lowerModel(model.spec, { kernels: options.kernels });
    // Inputs holding +-1 are a value fact, which changes only kernel paths: the passes alone tell.
    const paths = (signInputs?: boolean[]) => JSON.stringify([...runPasses(model.spec, { kernels: options.kernels, signInputs }).paths]);
    this.signsMatter = paths(model.spec.inputs.map(() => true)) !== paths();
    this.maxBatch = this.checkMaxBatch(options.maxBatch);
  }

  /** Compiles `model` for `gpu`: lowering, weights binarized/packed/uploaded, checked against the limits. */
  static async compile(gpu: Gpu, model: Model, options: CompileOptions = {}): Promise<InferencePlan> {
    const plan = new InferencePlan(gpu, model, options);
    await plan.variant(1, [...model.outputs]); // records (and validates) the default variant once
    return plan;
  }

  /**
   * One line per step: what it implements, the kernel, and the representations in and out. With
   * 'auto' tuning, then each tunable launch recorded so far: its shape class and the autotuned
   * variant it took, or 'default' where the table has none.
   */
  describe(lowered = this.lowered): string {
    const steps = describePlan(lowered);
    if (this.gpu.tuning !== 'auto') return steps;
    const names = new Set(lowered.steps.map((s) => `${s.layers.join('+')}.${s.op}`));
    const launches = this.gpu.tuned.describe((label) => names.has(label));
    return `${steps}\ntuning: auto, table ${this.gpu.tuned.source}\n${launches || '  (no tunable launch)'}`;
  }

  /**
   * Runs a forward pass. `inputs`: one Float32Array per model input (batch-major, NHWC), any batch
   * size from 1 to maxBatch. Returns the model outputs, or the tensors named in options.outputs.
   */
  async run(inputs: Float32Array | Float32Array[], options: RunOptions = {}): Promise<Map<string, PlanOutput>> {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const spec = this.model.spec;
    if (list.length !== spec.inputs.length) throw new ShapeError(`plan.run: model "${spec.name}" has ${spec.inputs.length} input(s), got ${list.length}`);
    let batch = 0;
    list.forEach((x, i) => {
      const per = spec.inputs[i].shape.reduce((a, b) => a * b, 1);
      if (!(x instanceof Float32Array)) throw new ShapeError(`plan.run: input ${i} ("${spec.inputs[i].name}") must be a Float32Array`);
      const b = x.length / per;
      if (!Number.isInteger(b) || b < 1) throw new ShapeError(`plan.run: input "${spec.inputs[i].name}" has ${x.length} values, not a whole number of samples of shape [${spec.inputs[i].shape}] (${per} values each)`);
      if (i > 0 && b !== batch) throw new ShapeError(`plan.run: input "${spec.inputs[i].name}" holds ${b} samples, input "${spec.inputs[0].name}" ${batch}`);
      batch = b;
    });
    if (batch > this.maxBatch) throw new LimitError(`plan.run: batch ${batch} exceeds this plan's maxBatch ${this.maxBatch}; split the batch, or compile with a larger maxBatch`);
    const names = options.outputs ?? [...spec.outputs];
    const run = this.queue.then(async () => {
      this.assertLive();
      // Inputs holding only +-1 (binarized before the model) let a first layer without an input
      // quantizer run on the XNOR kernels: a variant of its own, picked by looking at the values
      // (only for models where it changes the plan: others neither scan nor record it twice).
      const v = await this.variant(batch, names, this.signsMatter ? list.map(onlySigns) : []);
      list.forEach((x, i) => this.gpu.write(v.inputs[i], x));
      await this.gpu.run(`plan "${spec.name}" [batch ${batch}]`, (rec) => {
        for (const d of v.dispatches) rec.record(d);
      });
      const out = new Map<string, PlanOutput>();
      for (const name of names) {
        const { tensor: t, cols } = v.kept.get(name)!;
        const raw = await this.gpu.read(t);
        const shape = [...t.shape.slice(0, -1), cols];
        if (t.dtype === 'b1') {
          const stored = t.shape[t.shape.length - 1];
          const rows = t.size / stored;
          let data = unpackRows(raw as Uint32Array, rows, stored);
          if (stored !== cols) data = Float32Array.from({ length: rows * cols }, (_, i) => data[Math.floor(i / cols) * stored + (i % cols)]);
          out.set(name, { shape, data, bits: stored === cols ? (raw as Uint32Array) : packRows(data, rows, cols) });
        } else out.set(name, { shape, data: raw as Float32Array });
      }
      return out;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Bytes for `batch`'s recorded variant: weights on the GPU, the intermediates' sum, and what the arena holds for them after sharing (inputs excluded). */
  memory(batch = 1): { weightBytes: number; intermediateBytes: number; arenaBytes: number } | null {
    const v = [...this.variants.entries()].find(([k]) => k.startsWith(`${batch}|`))?.[1];
    const weightBytes = [...this.weights.values()].reduce((a, t) => a + t.byteLength, 0);
    return v ? { weightBytes, intermediateBytes: v.intermediateBytes, arenaBytes: v.arenaBytes } : null;
  }

  /** Frees every recorded variant and the uploaded weights. */
  destroy(): void {
    for (const key of [...this.variants.keys()]) this.dropVariant(key);
    for (const t of this.weights.values()) t.release();
    this.weights.clear();
    for (const r of this.reuseWeights.values()) r.release();
    this.reuseWeights.clear();
    this.destroyed = true;
  }

  private assertLive(): void {
    if (this.destroyed) throw new CompileError(`plan for model "${this.model.name}" was destroyed; compile it again`);
  }

  private checkMaxBatch(asked?: number): number {
    const limit = Math.min(this.gpu.limits.maxStorageBufferBindingSize, this.gpu.limits.maxBufferSize);
    // Largest per-sample tensor (an im2col-free plan's biggest buffer is one value, or a padded copy of one).
    let perSample = 0;
    let where = '';
    for (const v of this.lowered.values) {
      const b = storageWords([1, ...padded(v.shape)], v.rep) * 4;
      if (b > perSample) [perSample, where] = [b, v.names[0] ?? `value ${v.id}`];
    }
    const fits = Math.max(1, Math.floor(limit / Math.max(perSample, 1)));
    if (asked === undefined) return Math.min(DEFAULT_MAX_BATCH, fits);
    if (!Number.isInteger(asked) || asked < 1) throw new ShapeError(`compile: maxBatch must be a positive integer, got ${asked}`);
    if (asked > fits) throw new LimitError(`compile: maxBatch ${asked} needs ${perSample * asked} bytes for "${where}", over this device's storage buffer limit of ${limit}; the largest batch that fits is ${fits}`);
    return asked;
  }

  private async variant(batch: number, names: string[], signInputs: boolean[] = []): Promise<Variant> {
    const key = `${batch}|${[...new Set(names)].sort().join(',')}|${signInputs.map(Number).join('')}`;
    const hit = this.variants.get(key);
    if (hit) {
      this.variants.delete(key); // most recently used last
      this.variants.set(key, hit);
      return hit;
    }
    const v = await this.record(batch, [...new Set(names)], signInputs);
    this.variants.set(key, v);
    const max = this.options.cachedVariants ?? 4;
    while (this.variants.size > max) this.dropVariant(this.variants.keys().next().value!);
    return v;
  }

  private dropVariant(key: string): void {
    const v = this.variants.get(key)!;
    this.variants.delete(key);
    for (const d of v.dispatches) d.destroy();
    // Inputs and read tensors are still out of the arena (several views may share one buffer).
    for (const b of new Set([...v.inputs, ...[...v.kept.values()].map((k) => k.tensor)].map((t) => t.buffer))) b.destroy();
    v.arena.trim();
  }

  /** Records the forward pass for `batch` samples, keeping `names` readable. */
  private async record(batch: number, names: string[], signInputs: boolean[]): Promise<Variant> {
    const spec = this.model.spec;
    const extra = names.filter((n) => !spec.outputs.includes(n));
    const lowered = extra.length === 0 && !signInputs.includes(true) ? this.lowered : lowerModel(spec, { kernels: this.options.kernels, keep: extra, signInputs });
    for (const n of names) if (!lowered.named.has(n)) throw new CompileError(`"${n}" cannot be read from this plan`);
    const arena = new BufferPool(this.gpu.device, this.gpu.limits.maxBufferSize);
    const { gpu, dispatches } = this.gpu.capture(arena);
    const vals = lowered.values;
    const rootOf = (v: PlanValue) => (v.aliasOf === undefined ? v : vals[v.aliasOf]);
    // Uses left of each root's storage: one per step reading it, plus one held by each kept name.
    const uses = new Map<number, number>();
    const use = (id: number, n = 1) => uses.set(rootOf(vals[id]).id, (uses.get(rootOf(vals[id]).id) ?? 0) + n);
    for (const s of lowered.steps) for (const id of stepInputs(s)) use(id);
    const keptIds = new Set(names.map((n) => lowered.named.get(n)!));
    for (const id of keptIds) use(id);
    const storage = new Map<number, Tensor>();
    let intermediateBytes = 0;
    const view = (id: number): Tensor => {
      const v = vals[id];
      const t = storage.get(rootOf(v).id)!;
      const shape = [batch, ...v.shape];
      if (v.storedCols) shape[shape.length - 1] = v.storedCols;
      return new Tensor(gpu, t.buffer, shape, t.dtype, `${v.names[0] ?? `value ${id}`}`);
    };
    const inputs = lowered.inputs.map((id, i) => {
      const t = gpu.tensor([batch, ...vals[id].shape], 'f32', `input "${spec.inputs[i].name}"`);
      storage.set(id, t);
      return t;
    });
    try {
      for (const s of lowered.steps) {
        const y = await this.launch(gpu, s, view(s.x), vals[s.y], batch, view);
        storage.set(s.y, y);
        intermediateBytes += y.byteLength;
        for (const id of stepInputs(s)) {
          const r = rootOf(vals[id]).id;
          uses.set(r, uses.get(r)! - 1);
          if (uses.get(r) === 0 && vals[r].input === undefined) storage.get(r)!.release();
        }
        if (!uses.get(s.y)) y.release(); // computed but unread (cannot happen for a well-formed plan)
      }
    } catch (err) {
      for (const d of dispatches) d.destroy();
      arena.trim();
      throw err;
    }
    const kept = new Map(names.map((n) => [n, { tensor: view(lowered.named.get(n)!), cols: vals[lowered.named.get(n)!].shape.at(-1)! }]));
    const arenaBytes = arena.inUseBytes + arena.freeBytes - inputs.reduce((a, t) => a + t.buffer.size, 0);
    return { lowered, dispatches, arena, inputs, kept, intermediateBytes, arenaBytes };
  }

  /**
   * A weight tensor, uploaded once per plan and shared by the variants that hold the same data
   * (variants differ where fusion or row padding differ: the key is the content, not the layer).
   */
  private upload(label: string, data: Float32Array | Int32Array | Uint32Array, shape: readonly number[], dtype: 'f32' | 'i32' | 'u32' | 'b1'): Tensor {
    const key = `${label}|${dtype}[${shape.join('x')}]|${fingerprint(data)}`;
    let t = this.weights.get(key);
    if (!t) this.weights.set(key, (t = this.gpu.upload(data, shape, dtype, label)));
    return t;
  }

  private epilogue(s: Step, e: Epilogue): BinaryGemmEpilogue {
    const g = this.gpu;
    const name = s.layers.join('+');
    if (e.kind === 'threshold') {
      return {
        kind: 'threshold',
        threshold: this.upload(`${name}/threshold`, e.threshold, [e.threshold.length], 'i32'),
        flip: this.upload(`${name}/flip`, e.flip, [e.flip.length], 'u32'),
      };
    }
    return {
      kind: 'affine',
      scale: this.upload(`${name}/scale`, e.scale, [e.scale.length], 'f32'),
      bias: this.upload(`${name}/bias`, e.bias, [e.bias.length], 'f32'),
    };
  }

  /** Records one step with the op launchers, into a new arena tensor. */
  private async launch(gpu: Gpu, s: Step, x: Tensor, yv: PlanValue, batch: number, view: (id: number) => Tensor): Promise<Tensor> {
    const g = this.gpu;
    const name = s.layers.join('+');
    const label = `${name}.${s.op}`;
    const rows = (t: Tensor, k: number) => new Tensor(gpu, t.buffer, [t.size / k, k], t.dtype, t.label);
    const reshape = (t: Tensor) => new Tensor(gpu, t.buffer, [batch, ...yv.shape], t.dtype, t.label);
    switch (s.op) {
      case 'pack':
        return pack(gpu, x, { label, columns: s.columns });
      case 'unpack':
        return unpack(gpu, x, { label });
      case 'binaryDense': {
        const w = this.upload(`${name}/kernel`, s.weights, s.ternary ? [2, s.N, s.K] : [s.N, s.K], 'b1');
        const options = { epilogue: this.epilogue(s, s.epilogue), label };
        return reshape(await (s.ternary ? ternaryGemm : binaryGemm)(gpu, rows(x, s.K), w, options));
      }
      case 'binaryConv': {
        const w = this.upload(`${name}/kernel`, s.weights, s.ternary ? [2, ...s.kernel] : s.kernel, 'b1');
        const options = { ...convOptions(s.window), padValues: s.window.padValues, epilogue: this.epilogue(s, s.epilogue), label };
        if (s.ternary) return ternaryConv2d(gpu, x, w, options);
        const asked = this.options.convPath ?? 'packed';
        if (asked !== 'packed' && s.kernel[1] === 3 && s.kernel[2] === 3) {
          let rw = this.reuseWeights.get(w);
          if (!rw) this.reuseWeights.set(w, (rw = await prepareBConvReuse(g, w, { packed: s.weights })));
          // Timed on the real device (not the recording view), once per shape and weights.
          const path = asked === 'reuse' ? 'reuse' : await chooseConvPath(g, x.shape, rw, { ...convOptions(s.window), padValues: s.window.padValues });
          if (path === 'reuse') return bconv2dReuse(gpu, x, rw, options);
        }
        return bconv2d(gpu, x, w, options);
      }
      case 'binaryFloatDense': {
        const w = this.upload(`${name}/kernel`, s.weights, [s.N, s.K], 'b1');
        return reshape(await binaryFloatGemm(gpu, rows(x, s.K), w, { label }));
      }
      case 'binaryFloatConv': {
        const w = this.upload(`${name}/kernel`, s.weights, s.kernel, 'b1');
        return signSelectConv2d(gpu, x, w, { ...convOptions(s.window), label });
      }
      case 'floatDense': {
        const w = this.upload(`${name}/kernel`, s.weights, [s.N, s.K], 'f32');
        return reshape(await gemmF32(gpu, rows(x, s.K), w, { label }));
      }
      case 'floatConv': {
        const w = this.upload(`${name}/kernel`, s.weights, s.kernel, 'f32');
        return conv2d(gpu, x, w, { ...convOptions(s.window), label });
      }
      case 'affine': {
        const scale = s.scale && this.upload(`${name}/scale`, s.scale!, [s.scale!.length], 'f32');
        const bias = s.bias && this.upload(`${name}/bias`, s.bias!, [s.bias!.length], 'f32');
        return channelAffine(gpu, x, { scale, bias, activation: s.activation, halves: s.halves, label });
      }
      case 'quantize':
        return quantize(gpu, x, { quantizer: s.quantizer, label });
      case 'thresholdQuantize': {
        const threshold = this.upload(`${name}/decision.threshold`, s.threshold, [s.threshold.length], 'f32');
        const flip = this.upload(`${name}/decision.flip`, s.flip, [s.flip.length], 'u32');
        return thresholdQuantize(gpu, x, { kind: s.kind, threshold, flip, label });
      }
      case 'dorefaPlanes':
        return packDorefaPlanes(gpu, x, s.bits, { label }); // [bits, batch, ...]: the next step's alone
      case 'bitSerialDense': {
        const w = this.upload(`${name}/kernel`, s.weights, [s.bits[1], s.N, s.K], 'b1');
        // x is handed over as [batch, ...]: its storage holds the planes [bits, batch, ...].
        const a = new Tensor(gpu, x.buffer, [s.bits[0], x.size / s.K, s.K], 'b1', x.label);
        return reshape(await bitSerialGemm(gpu, a, w, { epilogue: this.epilogue(s, s.epilogue), label }));
      }
      case 'bitSerialConv': {
        const w = this.upload(`${name}/kernel`, s.weights, [s.bits[1], ...s.kernel], 'b1');
        const planes = new Tensor(gpu, x.buffer, [s.bits[0], ...x.shape], 'b1', x.label);
        return bitSerialConv2d(gpu, planes, w, { ...convOptions(s.window), epilogue: this.epilogue(s, s.epilogue), label });
      }
      case 'softmax':
        return softmax(gpu, x, { label });
      case 'pad':
        return pad2d(gpu, x, { top: s.top, bottom: s.bottom, left: s.left, right: s.right }, { fill: s.fill, label });
      case 'maxPool':
        return maxPool2d(gpu, x, { poolSize: s.poolSize, strides: s.strides, padding: s.padding, label });
      case 'avgPool':
        return avgPool2d(gpu, x, { poolSize: s.poolSize, strides: s.strides, padding: s.padding, label });
      case 'xnorScale': {
        const conv = s.conv && { ...s.conv, windowKernel: this.upload(`${name}/xnor.window`, xnorWindowWeights(s.conv.kernelSize), [1, ...s.conv.kernelSize, 1], 'f32') };
        return reshape(await xnorInputScale(gpu, s.conv ? x : rows(x, x.shape.at(-1)!), { conv, label }));
      }
      case 'scaleRows':
        return scaleRows(gpu, x, view(s.scale), { label });
      case 'add':
        return add(gpu, x, view(s.x2), { label });
      case 'concat':
        return concatLast(gpu, x, view(s.x2), { label });
      case 'concatBits':
        return concatBits(gpu, x, view(s.x2), { label });
    }
  }
}

/** Whether every value is exactly +1 or -1. */
function onlySigns(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] !== 1 && x[i] !== -1) return false;
  return true;
}

/** FNV-1a over the bytes: tells apart the contents of same-named weights of different variants. */
function fingerprint(data: Float32Array | Int32Array | Uint32Array): string {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return (h >>> 0).toString(16) + ':' + bytes.length;
}

function convOptions(w: { strides: [number, number]; padding: 'valid' | 'same'; dilation: [number, number] }) {
  return { strides: w.strides, padding: w.padding, dilation: w.dilation };
}

/** Padded copies of a conv input are at most a few rows and columns larger; budget 25% per sample. */
function padded(shape: number[]): number[] {
  return shape.length === 3 ? [shape[0] + 4, shape[1] + 4, shape[2]] : shape;
}

/** A lowered plan, one line per step: what it implements, the kernel, the representations in and out (no GPU needed). */
export function describePlan(lowered: LoweredPlan): string {
  const v = lowered.values;
  const fmt = (id: number) => `${v[id].rep}[${v[id].shape.join('x')}]`;
  return lowered.steps.map((s) => `${s.layers.join(' + ').padEnd(48)} ${describeOp(s).padEnd(34)} ${fmt(s.x)} -> ${fmt(s.y)}`).join('\n');
}

function describeOp(s: Step): string {
  switch (s.op) {
    case 'binaryDense':
      return `${s.ternary ? 'ternaryGemm' : 'binaryGemm'} ${s.N}x${s.K} ${s.epilogue.kind}`;
    case 'binaryConv':
      return `${s.ternary ? 'ternaryConv2d' : 'bconv2d'} ${s.kernel.join('x')} ${s.epilogue.kind}`;
    case 'binaryFloatDense':
      return `binaryFloatGemm ${s.N}x${s.K}`;
    case 'binaryFloatConv':
      return `signSelectConv2d ${s.kernel.join('x')}`;
    case 'floatDense':
      return `gemmF32 ${s.N}x${s.K}`;
    case 'floatConv':
      return `conv2d ${s.kernel.join('x')}`;
    case 'affine':
      return `channelAffine ${s.halves ? 'halves,' : ''}${s.scale ? 'scale,' : ''}${s.bias ? 'bias,' : ''}${s.activation}`;
    case 'quantize':
      return `quantize ${s.quantizer.kind}`;
    case 'thresholdQuantize':
      return `thresholdQuantize ${s.kind}`;
    case 'bitSerialDense':
      return `bitSerialGemm ${s.N}x${s.K} ${s.bits[0]}/${s.bits[1]} bits ${s.epilogue.kind}`;
    case 'bitSerialConv':
      return `bitSerialConv2d ${s.kernel.join('x')} ${s.bits[0]}/${s.bits[1]} bits ${s.epilogue.kind}`;
    default:
      return s.op;
  }
}
