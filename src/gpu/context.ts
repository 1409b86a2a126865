// The runtime: one device with its kernel cache and buffer pool, tensor creation and read-back,
// and `run`, which records GPU work under a label and turns any error into one that names it.
import { acquireDevice, describeAdapter, isBrowser, logOf, type AdapterSummary, type GpuFeatureSet, type RequestDeviceOptions } from './device.js';
import { resolveTuningMode, tuningKind, type TuningKind, type TuningMode } from './tuning.js';
import { TuningState, type TuningTable } from './tuning-table.js';
import { defaultTuningStore, loadTuningTable, tuningCacheKey, type TuningStore } from './tuning-cache.js';
import { BufferPool } from './buffer-pool.js';
import { KernelCache, type BindingValues, type Kernel, type KernelSpec } from './kernel.js';
import { GpuTimer } from './timer.js';
import { DeviceLostError, GpuKernelError, LimitError, ShapeError } from './errors.js';
import { Tensor, checkShape, storageWords, type DType, type HostArray, type Shape } from '../tensor.js';

export type Grid = readonly [number, number, number];

/**
 * One kernel launch with its bind groups (and uniform buffers) built: recorded as often as needed
 * with Recorder.record, e.g. by a plan that runs every forward pass with the same bindings.
 * destroy() frees its uniform buffers once no submitted work uses them any more.
 */
export class Dispatch {
  constructor(
    readonly label: string,
    readonly kernel: Kernel,
    readonly bindGroups: GPUBindGroup[],
    readonly grid: Grid,
    private readonly owned: GPUBuffer[],
  ) {}

  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
  }

  /** A copy that owns the uniform buffers from now on (this one's destroy() then frees nothing). */
  adopt(): Dispatch {
    return new Dispatch(this.label, this.kernel, this.bindGroups, this.grid, this.owned.splice(0));
  }
}

/**
 * Collects the dispatches of one `run`, and the transient buffers to free after submission. A
 * capturing recorder (see Gpu.capture) encodes nothing: it keeps every dispatch, bound, for a plan.
 */
export class Recorder {
  readonly owned: GPUBuffer[] = [];
  constructor(
    private readonly device: GPUDevice,
    readonly pass: GPUComputePassEncoder | null,
    private readonly label = 'run',
    private readonly captured: Dispatch[] | null = null,
  ) {}

  /** Binds and records one dispatch; its uniform buffers are freed after the run's submission. */
  dispatch(kernel: Kernel, bindings: BindingValues, grid: Grid): void {
    const { bindGroups, owned } = kernel.bind(this.device, bindings);
    if (this.captured) {
      this.captured.push(new Dispatch(this.label, kernel, bindGroups, grid, owned));
      return;
    }
    this.owned.push(...owned);
    kernel.encode(this.pass!, bindGroups, grid);
  }

  /** Records a prepared dispatch (its bind groups are reused; the caller owns it, unless captured). */
  record(d: Dispatch): void {
    if (this.captured) {
      this.captured.push(d.adopt());
      return;
    }
    d.kernel.encode(this.pass!, d.bindGroups, d.grid);
  }
}

export interface GpuOptions extends RequestDeviceOptions {
  /**
   * Which defaults the adapter-dependent choices take (src/gpu/tuning.ts): 'default' (measured for
   * this kind of adapter) or 'gpu' (the GPU defaults on any adapter). Unset: BNN_TUNING in Node,
   * else 'default'. 'auto': the table `bnn tune` cached for this adapter (src/gpu/tuning-cache.ts).
   */
  tuning?: TuningMode;
  /** Where 'auto' reads its table: default the user's cache directory (Node) or IndexedDB (browser). */
  tuningStore?: TuningStore;
}

export interface RunOptions {
  timestampWrites?: GPUComputePassTimestampWrites;
}

export class Gpu {
  readonly pool: BufferPool;
  readonly kernels: KernelCache;
  /** Set on a capturing view (see capture): runs append their dispatches here instead of submitting. */
  readonly captured: Dispatch[] | null = null;
  /** While set, every run records its GPU time here (see startTimer). */
  private timer: GpuTimer | null = null;
  private lost: GPUDeviceLostInfo | null = null;
  private readonly uncaptured: GPUError[] = [];
  /**
   * The family of defaults every adapter-dependent choice (tilings, reductions, first-layer method)
   * takes: the one place they ask, so that `tuning: 'gpu'` reaches all of them. `adapter.isSoftware`
   * stays for what is about the adapter itself (reports, time budgets).
   */
  readonly tuningKind: TuningKind;
  /** What note() said so far (each line once): choices made for this device's limits. */
  readonly notes: string[] = [];
  /** The autotuned table ('auto' tuning) and what each tunable launch took from it (src/gpu/tuning-table.ts). */
  readonly tuned: TuningState;

  private constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    readonly features: GpuFeatureSet,
    readonly tuning: TuningMode,
    private readonly log: ((line: string) => void) | null,
    tuned: { table: TuningState['table']; source: string } = { table: null, source: 'no table' },
  ) {
    this.tuningKind = tuningKind(tuning, adapter);
    this.tuned = new TuningState(tuned.table, tuned.source, (line) => this.note(line));
    this.pool = new BufferPool(device, device.limits.maxBufferSize);
    this.kernels = new KernelCache(device);
    device.lost.then((info) => {
      this.lost = info;
    });
    device.onuncapturederror = (event: GPUUncapturedErrorEvent) => {
      this.uncaptured.push(event.error);
    };
  }

  /** Acquires a device (browser or Node, with the SwiftShader fallback in Node). */
  static async create(options: GpuOptions = {}): Promise<Gpu> {
    // Checked before the device is acquired: a mistyped BNN_TUNING fails at once, not after a compile.
    const tuning = resolveTuningMode(options.tuning, isBrowser() ? undefined : process.env);
    const { device, adapter, features } = await acquireDevice(options);
    const log = logOf(options);
    if (tuning !== 'auto') return new Gpu(device, adapter, features, tuning, log);
    // A missing cache directory, a corrupt or stale table: a warning (log, or console.warn when log
    // is null) and the defaults, never an error.
    const warn = (line: string) => (log ?? console.warn)(`webgpu-bnn: ${line}`);
    let store: TuningStore;
    try {
      store = options.tuningStore ?? (await defaultTuningStore());
    } catch (err) {
      warn(`auto tuning: ${(err as Error).message}; using the defaults`);
      return new Gpu(device, adapter, features, tuning, log, { table: null, source: `none (${(err as Error).message})` });
    }
    const key = tuningCacheKey(adapter);
    const table = await loadTuningTable(store, key, warn);
    const source = table ? store.where(key) : `none at ${store.where(key)}`;
    return new Gpu(device, adapter, features, tuning, log, { table, source });
  }

  /**
   * Says, once per Gpu, that the library chose something other than asked or than its default
   * because of this device (e.g. smaller tiles where the default ones exceed its workgroup memory),
   * through Gpu.create's `log`, and keeps the line in `notes`.
   */
  note(line: string): void {
    if (this.notes.includes(line)) return;
    this.notes.push(line);
    this.log?.(`webgpu-bnn: ${line}`);
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** The adapter in words, and the tuning when it is not the adapter's own defaults. */
  describe(): string {
    const table = this.tuning === 'auto' ? ` (${this.tuned.table ? `${this.tuned.table.entries.length} tuned shapes` : 'no tuning table: defaults'})` : '';
    return describeAdapter(this.adapter) + (this.tuning === 'default' ? '' : `, ${this.tuning} tuning${table}`);
  }

  /** Compiles (once) and returns the kernel for a shader entry point and its override constants. */
  kernel(spec: KernelSpec): Promise<Kernel> {
    this.assertAlive();
    return this.kernels.get(spec);
  }

  /** A new tensor with undefined contents, from the pool. */
  tensor(shape: Shape, dtype: DType, label = 'tensor'): Tensor {
    this.assertAlive();
    checkShape(shape, `${label}: shape`);
    const bytes = storageWords(shape, dtype) * 4;
    const limit = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    if (bytes > limit) {
      throw new LimitError(
        `${label}: ${dtype}[${shape.join(', ')}] needs ${bytes} bytes, over this device's storage buffer limit of ` +
          `${limit} bytes (maxStorageBufferBindingSize/maxBufferSize). Split the work (a smaller batch) or use a device with larger limits.`,
      );
    }
    return new Tensor(this, this.pool.acquire(bytes, label), [...shape], dtype, label);
  }

  /** Uploads host data as a new tensor. For `b1`, `data` holds the packed words. */
  upload(data: HostArray, shape: Shape, dtype: DType, label = 'tensor'): Tensor {
    const t = this.tensor(shape, dtype, label);
    const words = storageWords(shape, dtype);
    if (data.length !== words) {
      throw new ShapeError(`${label}: ${dtype}[${shape.join(', ')}] needs ${words} ${dtype === 'b1' ? 'packed words' : 'values'}, got ${data.length}`);
    }
    this.write(t, data);
    return t;
  }

  /** Overwrites a tensor's storage from host data (same length as its storage). */
  write(t: Tensor, data: HostArray): void {
    this.assertAlive();
    t.assertLive();
    if (data.byteLength !== t.byteLength) throw new ShapeError(`${t.label}: write of ${data.byteLength} bytes into ${t.byteLength}`);
    this.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Copies a tensor's storage back to the host. */
  async read(t: Tensor): Promise<HostArray> {
    this.assertAlive(`${t.label}.readback`);
    if (this.captured) throw new ShapeError(`${t.label}.readback: a plan is being recorded (Gpu.capture), and a plan reads nothing back inside its forward pass`);
    t.assertLive();
    const bytes = t.byteLength;
    const staging = this.device.createBuffer({ label: `${t.label}.readback`, size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const encoder = this.device.createCommandEncoder({ label: `${t.label}.readback` });
      encoder.copyBufferToBuffer(t.buffer, 0, staging, 0, bytes);
      this.device.queue.submit([encoder.finish()]);
      try {
        await staging.mapAsync(GPUMapMode.READ);
      } catch (err) {
        this.assertAlive(`${t.label}.readback`);
        throw new GpuKernelError(`${t.label}.readback`, (err as Error).message);
      }
      const copy = staging.getMappedRange().slice(0);
      staging.unmap();
      this.throwUncaptured();
      return t.dtype === 'f32' ? new Float32Array(copy) : t.dtype === 'i32' ? new Int32Array(copy) : new Uint32Array(copy);
    } finally {
      staging.destroy();
    }
  }

  /**
   * Records GPU work into one compute pass and submits it. Validation and out-of-memory errors
   * become a GpuKernelError naming `label` (and Dawn's message names the kernel's pipeline).
   */
  async run(label: string, record: (rec: Recorder) => void, options: RunOptions = {}): Promise<void> {
    this.assertAlive(label);
    this.throwUncaptured();
    const device = this.device;
    if (this.captured) {
      device.pushErrorScope('validation');
      try {
        record(new Recorder(device, null, label, this.captured));
      } finally {
        const error = await device.popErrorScope();
        if (error) throw new GpuKernelError(label, error.message);
      }
      return;
    }
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let rec: Recorder | undefined;
    let thrown: unknown;
    try {
      const encoder = device.createCommandEncoder({ label });
      const timestampWrites = options.timestampWrites ?? this.timer?.next(label);
      const pass = encoder.beginComputePass({ label, timestampWrites });
      rec = new Recorder(device, pass);
      try {
        record(rec);
      } finally {
        pass.end();
      }
      device.queue.submit([encoder.finish({ label })]);
    } catch (err) {
      thrown = err;
    }
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    for (const b of rec?.owned ?? []) b.destroy();
    if (thrown) throw thrown;
    const error = validation ?? oom;
    if (error) throw new GpuKernelError(label, error.message);
    this.assertAlive(label);
  }

  /**
   * Starts timing every later `run` on the GPU with timestamp queries; returns null when the
   * adapter lacks 'timestamp-query'. Read durations with `timer.read()`; stop with stopTimer().
   */
  startTimer(capacity = 256): GpuTimer | null {
    if (!this.features.timestampQuery) return null;
    this.stopTimer();
    this.timer = new GpuTimer(this.device, capacity);
    return this.timer;
  }

  stopTimer(): void {
    this.timer?.destroy();
    this.timer = null;
  }

  /**
   * Builds a kernel launch's bind groups once (validation errors name `label`), to record it in
   * any number of runs. Free it with dispatch.destroy() when no longer needed.
   */
  async prepare(label: string, kernel: Kernel, bindings: BindingValues, grid: Grid): Promise<Dispatch> {
    this.assertAlive(label);
    this.device.pushErrorScope('validation');
    let bound: { bindGroups: GPUBindGroup[]; owned: GPUBuffer[] };
    try {
      bound = kernel.bind(this.device, bindings);
    } finally {
      const error = await this.device.popErrorScope();
      if (error) throw new GpuKernelError(label, error.message);
    }
    return new Dispatch(label, kernel, bound.bindGroups, grid, bound.owned);
  }

  /**
   * A view of this Gpu for recording a plan: its runs bind their dispatches and append them to
   * `dispatches` instead of submitting (nothing executes), and its tensors come from `pool` (a
   * plan's own arena, so buffers released while recording are reused by later steps of the same
   * plan and never by other work). Kernels, limits and device loss are shared with this Gpu.
   */
  capture(pool: BufferPool): { gpu: Gpu; dispatches: Dispatch[] } {
    const dispatches: Dispatch[] = [];
    const view = Object.create(this) as Gpu;
    Object.defineProperty(view, 'pool', { value: pool });
    Object.defineProperty(view, 'captured', { value: dispatches });
    Object.defineProperty(view, 'timer', { value: null });
    return { gpu: view, dispatches };
  }

  /**
   * A view of this Gpu under 'auto' tuning with `table`: the same device, kernels and buffer pool,
   * its own record of choices. For comparing tunings in one run on one device (bnn bench tune);
   * plans and trainers made with it take the table's winners. Destroy the Gpu, never the view.
   */
  withTuningTable(table: TuningTable | null, source: string): Gpu {
    const view = Object.create(this) as Gpu;
    Object.defineProperty(view, 'tuning', { value: 'auto' });
    Object.defineProperty(view, 'tuned', { value: new TuningState(table, source, (line) => this.note(line)) });
    Object.defineProperty(view, 'timer', { value: null, writable: true });
    return view;
  }

  /** Waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.assertAlive();
    await this.device.queue.onSubmittedWorkDone();
    this.assertAlive();
  }

  /**
   * A dispatch grid for `total` workgroups, folded into (x, y) when it exceeds the per-dimension
   * limit (65535). Kernels recover the flat index as wid.x + wid.y * num_workgroups.x and stop at
   * `total`. Refused with a LimitError if even x*y cannot hold it.
   */
  grid(total: number, what: string): Grid {
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (total <= max) return [Math.max(1, total), 1, 1];
    const y = Math.ceil(total / max);
    if (y > max) {
      throw new LimitError(`${what}: ${total} workgroups exceed ${max} x ${max}; split the work into smaller calls`);
    }
    return [Math.ceil(total / y), y, 1];
  }

  /**
   * Releases pooled buffers and the device. The Gpu cannot be used afterwards. The error handler
   * goes first: Dawn holds it from native code, and through its closure this Gpu with every
   * pipeline and buffer it made, so a destroyed Gpu that kept it was never collected (issue 18:
   * +0.5 MB of JS heap and about 5 MB of RSS a create/compile/run/destroy cycle).
   */
  destroy(): void {
    this.pool.trim();
    this.device.onuncapturederror = null;
    this.device.destroy();
  }

  private assertAlive(what?: string): void {
    if (this.lost) {
      const why = this.lost.reason === 'destroyed' ? 'it was destroyed' : `reason: ${this.lost.reason}`;
      throw new DeviceLostError(
        `${what ? `${what}: ` : ''}the GPU device was lost (${why}${this.lost.message ? `: ${this.lost.message}` : ''}). ` +
          'Its tensors and kernels are gone: create a new Gpu with Gpu.create() and upload again.',
      );
    }
  }

  private throwUncaptured(): void {
    const error = this.uncaptured.shift();
    if (error) throw new GpuKernelError('uncaptured GPU error', error.message);
  }
}
