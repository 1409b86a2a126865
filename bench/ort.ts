// ONNX Runtime Web (onnxruntime-web, its WebGPU execution provider): the other engine a web user
// would pick, timed on the same models as TF.js (bench/tfjs.ts) from ONNX graphs of the same float
// simulation (bench/onnx-model.ts). In Node through Dawn (the `webgpu` package as navigator.gpu), in
// a page through the page's navigator.gpu. A dev dependency loaded only here: without it, or without
// its WebGPU EP, the ORT columns are absent with the reason in ortUnavailable().
import { median, type Timing } from '../src/gpu/timing.js';
import type { ModelSpec } from '../src/model/tfjs-format.js';
import { TfjsTranslationError } from '../src/layers/tfjs-ops.js';
import { onnxModel, OnnxTranslationError } from './onnx-model.js';

/** The slice of onnxruntime-web's API the benchmarks use (typed structurally: no import of the package's types). */
interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  dispose(): void;
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface Ort {
  env: { versions: { web?: string; common?: string }; logLevel?: string; wasm: { numThreads?: number } };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options: { executionProviders: string[]; graphOptimizationLevel?: string; logSeverityLevel?: number }): Promise<OrtSession> };
}

let unavailable = '';

/** Why the ORT columns are absent ('' when it loaded, or was not asked for yet). */
export function ortUnavailable(): string {
  return unavailable;
}

/** The ORT version timed beside ours, once loaded. */
export function ortVersion(ort: Ort): string {
  return `ONNX Runtime Web ${ort.env.versions.web ?? ort.env.versions.common ?? '?'} (WebGPU EP)`;
}

let loaded: Promise<Ort | null> | undefined;
let dawnForOrt: unknown; // the Dawn instance ORT's device comes from: kept alive while in use

/**
 * onnxruntime-web's WebGPU build, or null when the package does not load (the reason in
 * ortUnavailable()). A WebGPU EP that cannot start on this device shows at the first session
 * (OrtUnavailableError: that column is absent, with the reason).
 */
export function loadOrtWebgpu(): Promise<Ort | null> {
  loaded ??= (async () => {
    const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
    try {
      const names = ['onnxruntime-web/webgpu', 'webgpu'];
      const nav = ((globalThis as { navigator?: { gpu?: unknown } }).navigator ??= {} as { gpu?: unknown });
      // In Node: Dawn, or the Dawn that TF.js was given already (ORT asks navigator.gpu, whoever set it), with writes copied.
      if (isNode && !shimmed.has(nav.gpu as object)) {
        nav.gpu ??= dawnForOrt = ((await import(/* @vite-ignore */ names[1])) as { create(flags: string[]): GPU }).create([]);
        nav.gpu = copyingSharedWrites(nav.gpu as GPU);
      }
      const ort = (await import(/* @vite-ignore */ names[0])) as Ort & { default?: Ort };
      const o = (ort.InferenceSession ? ort : ort.default!) as Ort;
      // One thread: the wasm side only schedules kernels here, and workers would compete with the GPU's CPU threads on SwiftShader.
      o.env.wasm.numThreads = 1;
      o.env.logLevel = 'error';
      return o;
    } catch (err) {
      unavailable = `onnxruntime-web did not load: ${(err as Error).message}`;
      return null;
    }
  })();
  return loaded;
}

/** The navigator.gpu objects copyingSharedWrites made (so loading twice does not wrap twice). */
const shimmed = new WeakSet<object>();

/**
 * Node's navigator.gpu (Dawn) for ORT, with one difference: ORT's wasm heap is a shared
 * WebAssembly.Memory, and dawn.node's queue.writeBuffer refuses views of a SharedArrayBuffer
 * ("Invalid argument" on the first kernel); browsers accept them. The devices it hands out copy
 * such a view into a plain buffer first.
 */
function copyingSharedWrites(gpu: GPU): GPU {
  const requestAdapter = async (options?: GPURequestAdapterOptions) => {
    const adapter = await gpu.requestAdapter(options);
    if (!adapter) return adapter;
    const requestDevice = adapter.requestDevice.bind(adapter);
    Object.defineProperty(adapter, 'requestDevice', {
      value: async (descriptor?: GPUDeviceDescriptor) => {
        const device = await requestDevice(descriptor);
        const queue = device.queue;
        const write = queue.writeBuffer.bind(queue) as (b: GPUBuffer, o: number, d: BufferSource, dOff?: number, size?: number) => undefined;
        Object.defineProperty(queue, 'writeBuffer', {
          value: (b: GPUBuffer, o: number, d: BufferSource, dOff?: number, size?: number) =>
            write(b, o, ArrayBuffer.isView(d) && d.buffer instanceof SharedArrayBuffer ? (d as Uint8Array).slice() : d, dOff, size),
        });
        return device;
      },
    });
    return adapter;
  };
  const wrapped = { requestAdapter, getPreferredCanvasFormat: () => gpu.getPreferredCanvasFormat(), wgslLanguageFeatures: gpu.wgslLanguageFeatures } as GPU;
  shimmed.add(wrapped);
  return wrapped;
}

export interface OrtModelInput {
  /** The timed input and its shape (batch first). */
  x: Float32Array;
  shape: number[];
  /** Checked before timing: ORT's output on `x` of `shape` equals `want` within `tolerance` relative (0: exactly). */
  check: { x: Float32Array; shape: number[]; want: Float32Array; tolerance: number; what: string };
}

/**
 * Times `model` (ONNX bytes, one input, one output) in ORT's WebGPU EP after checking its output
 * against `check.want`. Wall clock around session.run (upload of the input, the kernels, download
 * of the output): ORT's kernel timestamps are not exposed per run through its public API.
 */
export async function timeOrtModel(ort: Ort, model: Uint8Array, input: OrtModelInput, opts: { warmup: number; reps: number }): Promise<Timing & { check: string }> {
  let session: OrtSession;
  try {
    // Errors only: ORT's warnings (shape ops placed on the CPU by design) would fill the bench's progress output.
    session = await ort.InferenceSession.create(model, { executionProviders: ['webgpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  } catch (err) {
    throw new OrtUnavailableError(`ONNX Runtime Web could not create a WebGPU session: ${(err as Error).message}`);
  }
  const run = async (x: Float32Array, shape: number[]) => {
    const t = new ort.Tensor('float32', x, shape);
    const out = await session.run({ [session.inputNames[0]]: t });
    t.dispose();
    const y = out[session.outputNames[0]];
    const data = y.data as Float32Array;
    y.dispose();
    return data;
  };
  try {
    const { want, tolerance } = input.check;
    const got = await run(input.check.x, input.check.shape);
    if (got.length !== want.length) throw new Error(`ORT gave ${got.length} outputs, want ${want.length} (${input.check.what})`);
    let worst = 0;
    want.forEach((v, i) => {
      const err = Math.abs(got[i] - v);
      worst = Math.max(worst, err);
      if (!(err <= tolerance * (1 + Math.abs(v)))) throw new Error(`ORT differs from ${input.check.what} at ${i}: got ${got[i]}, want ${v}`);
    });
    for (let i = 0; i < opts.warmup; i++) await run(input.x, input.shape);
    const xs: number[] = [];
    for (let i = 0; i < opts.reps; i++) {
      const t0 = performance.now();
      await run(input.x, input.shape);
      xs.push(performance.now() - t0);
    }
    const n = input.check.shape[0];
    return {
      medianMs: median(xs),
      minMs: Math.min(...xs),
      maxMs: Math.max(...xs),
      reps: xs.length,
      source: 'wall-clock',
      wallMedianMs: median(xs),
      check:
        tolerance === 0
          ? `ORT output = ${input.check.what} on all ${want.length} outputs`
          : `ORT output = ${input.check.what} within ${tolerance.toExponential(0)} relative on ${n} sample${n === 1 ? '' : 's'} (max |error| ${worst.toExponential(1)})`,
    };
  } finally {
    await session.release();
  }
}

/** ORT loaded but its WebGPU EP could not run this device: the column is absent with this reason, the suite goes on. */
export class OrtUnavailableError extends Error {
  override name = 'OrtUnavailableError';
}

/**
 * Times `spec`'s float simulation in ORT (onnxModel: the graph TF.js's translation traces) on `x`
 * [batch, ...shape], after checking its output on `check.x` against `check.want` (the CPU
 * reference, within 1e-4 relative as for TF.js). Resolves to the reason instead when the model has
 * no ONNX translation or ORT's WebGPU EP cannot run it: the column is then absent for it, with that reason.
 */
export async function timeOrtSpec(
  ort: Ort,
  spec: ModelSpec,
  input: { x: Float32Array; batch: number; check: { x: Float32Array; batch: number; want: Float32Array } },
  opts: { warmup: number; reps: number },
): Promise<(Timing & { check: string }) | { skipped: string }> {
  const shape = spec.inputs[0].shape;
  try {
    return await timeOrtModel(
      ort,
      onnxModel(spec),
      { x: input.x, shape: [input.batch, ...shape], check: { x: input.check.x, shape: [input.check.batch, ...shape], want: input.check.want, tolerance: 1e-4, what: 'the CPU reference' } },
      opts,
    );
  } catch (err) {
    if (err instanceof TfjsTranslationError || err instanceof OnnxTranslationError || err instanceof OrtUnavailableError) return { skipped: err.message };
    throw err;
  }
}
