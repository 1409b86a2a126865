// Optimizers on the GPU (shaders/optimizers.wgsl): Keras' Adam and SGD (momentum, Nesterov),
// BinaryNet's shift-based AdaMax and Larq's Bop, updating f32 parameters in place, with Larq's
// weight_clip, per-tensor learning-rate scales and Keras' learning-rate schedules. Beside the
// launcher, the plain CPU reference of each update.
import { Dispatch, type Gpu, type Recorder } from '../gpu/context.js';
import { GpuKernelError, ShapeError } from '../gpu/errors.js';
import type { Kernel } from '../gpu/kernel.js';
import { ap2 } from '../ap2.js';
import { Tensor } from '../tensor.js';

// ---------------------------------------------------------------------------------------------
// Learning-rate schedules (plain TS: the host evaluates them and writes the result to the uniform).

/** A Keras LearningRateSchedule: `at(step)` is the rate at a 0-based step (Keras passes `iterations`). */
export interface LearningRateSchedule {
  readonly className: 'ExponentialDecay' | 'CosineDecay';
  readonly config: Readonly<Record<string, number | boolean>>;
  at(step: number): number;
}

/** A constant rate or a schedule. */
export type LearningRate = number | LearningRateSchedule;

/**
 * Keras' `ExponentialDecay(initial_learning_rate, decay_steps, decay_rate, staircase=False)`:
 * lr0 * decay_rate^(step / decay_steps), the exponent floored when `staircase`.
 */
export function exponentialDecay(options: { initialLearningRate: number; decaySteps: number; decayRate: number; staircase?: boolean }): LearningRateSchedule {
  const { initialLearningRate, decaySteps, decayRate, staircase = false } = options;
  checkNumber('ExponentialDecay', 'initialLearningRate', initialLearningRate, 0);
  checkNumber('ExponentialDecay', 'decaySteps', decaySteps, 0, true);
  checkNumber('ExponentialDecay', 'decayRate', decayRate, 0);
  return Object.freeze({
    className: 'ExponentialDecay' as const,
    config: Object.freeze({ initialLearningRate, decaySteps, decayRate, staircase }),
    at: (step: number) => {
      const p = step / decaySteps;
      return initialLearningRate * decayRate ** (staircase ? Math.floor(p) : p);
    },
  });
}

/**
 * Keras' `CosineDecay(initial_learning_rate, decay_steps, alpha=0)` (Loshchilov & Hutter, SGDR):
 * s = min(step, decay_steps); lr0 * ((1 - alpha) * 0.5 * (1 + cos(pi s / decay_steps)) + alpha).
 */
export function cosineDecay(options: { initialLearningRate: number; decaySteps: number; alpha?: number }): LearningRateSchedule {
  const { initialLearningRate, decaySteps, alpha = 0 } = options;
  checkNumber('CosineDecay', 'initialLearningRate', initialLearningRate, 0);
  checkNumber('CosineDecay', 'decaySteps', decaySteps, 0, true);
  checkNumber('CosineDecay', 'alpha', alpha, 0);
  return Object.freeze({
    className: 'CosineDecay' as const,
    config: Object.freeze({ initialLearningRate, decaySteps, alpha }),
    at: (step: number) => {
      const cosine = 0.5 * (1 + Math.cos((Math.PI * Math.min(step, decaySteps)) / decaySteps));
      return initialLearningRate * ((1 - alpha) * cosine + alpha);
    },
  });
}

/** The rate at a 0-based step. */
export function learningRateAt(lr: LearningRate, step: number): number {
  return typeof lr === 'number' ? lr : lr.at(step);
}

/**
 * BinaryNet's per-layer learning-rate scale `W_LR_scale = "Glorot"`: 1 / H with H =
 * sqrt(1.5 / (fan_in + fan_out)) (Courbariaux et al. 2016, binary_net.py); for a convolution the
 * fans count taps times channels. Pass it as a tensor's `lrScale`.
 */
export function glorotLrScale(fanIn: number, fanOut: number): number {
  return 1 / Math.sqrt(1.5 / (fanIn + fanOut));
}

// ---------------------------------------------------------------------------------------------
// Configurations: Keras' and Larq's defaults.

/**
 * Keras 2 `Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)` (no amsgrad), as
 * optimizer_v2/adam.py runs it through TensorFlow's fused ApplyAdam (training_ops.cc): at step t
 * (1-based, `iterations + 1`), lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) (`_prepare_local`);
 * m += (g - m) (1 - beta_1); v += (g^2 - v) (1 - beta_2); p -= m lr_t / (sqrt(v) + epsilon).
 */
export interface AdamConfig {
  kind: 'adam';
  learningRate?: LearningRate;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

/**
 * Keras `SGD(learning_rate=0.01, momentum=0, nesterov=False)`: without momentum p -= lr g
 * (ApplyGradientDescent); with it (ApplyKerasMomentum) a = momentum a - lr g; p += a, or with
 * Nesterov p += momentum a - lr g.
 */
export interface SgdConfig {
  kind: 'sgd';
  learningRate?: LearningRate;
  momentum?: number;
  nesterov?: boolean;
}

/**
 * BinaryNet's shift-based AdaMax (Courbariaux, Hubara et al. 2016, "Binarized Neural Networks",
 * Algorithm 4; defaults there: alpha = 2^-10, 1 - beta_1 = 2^-3, 1 - beta_2 = 2^-10). What runs:
 * m = beta_1 m + (1 - beta_1) g; v = max(beta_2 v, |g|); p -= (lr / (1 - beta_1^t)) * m * AP2(1/v),
 * AP2(x) = 2^round(log2 x) computed exactly on the bits, so the division by v is a shift. The
 * bias correction lr / (1 - beta_1^t) is exact (the host computes it once per step; the paper
 * also shifts it). Elements whose v is 0 or subnormal (below 2^-126) are left unchanged.
 */
export interface ShiftAdamaxConfig {
  kind: 'shift_adamax';
  learningRate?: LearningRate;
  beta1?: number;
  beta2?: number;
}

/**
 * Larq `Bop(threshold=1e-8, gamma=1e-4)` (Helwegen et al. 2019, "Latent Weights Do Not Exist";
 * larq/optimizers.py `_resource_apply_dense`): m += gamma (g - m); w = sign(-sign(w m - threshold) w)
 * with Larq's sign(0) = +1. On +-1 weights: w flips where w m > threshold. Both hyperparameters
 * may be schedules (Larq evaluates them at `iterations`). Binary weights only: no lr scale, no clip.
 */
export interface BopConfig {
  kind: 'bop';
  threshold?: LearningRate;
  gamma?: LearningRate;
}

export type OptimizerConfig = AdamConfig | SgdConfig | ShiftAdamaxConfig | BopConfig;
export type OptimizerKind = OptimizerConfig['kind'];

/** Per parameter tensor. */
export interface TrackOptions {
  /** Multiplies the learning rate for this tensor (BinaryNet's W_LR_scale; see glorotLrScale). Default 1. */
  lrScale?: number;
  /** Larq's weight_clip after each update: clip(w, -clip, clip). Default: none. */
  clip?: number;
  label?: string;
}

/** A parameter tensor the optimizer updates: its gradient, its state tensors by name, its dispatch. */
export interface TrackedParam {
  readonly param: Tensor;
  readonly grad: Tensor;
  /** The optimizer's state for this tensor (zeros at first): Adam and AdaMax m, v; SGD with momentum accum; Bop m. */
  readonly state: Readonly<Record<string, Tensor>>;
  readonly lrScale: number;
  readonly clip: number | null;
  /** The prepared update; its uniform is rewritten by Optimizer.writeUniforms. */
  readonly dispatch: Dispatch;
}

type Values = Record<string, number>;

interface OptimizerDef {
  defaults: Readonly<Record<string, unknown>>;
  entryPoint(c: Resolved): string;
  uniform: string;
  state(c: Resolved): readonly string[];
  /** The uniform's per-step values (f64; the uniform rounds them to f32), without count and clip. */
  values(c: Resolved, t: number, lrScale: number): Values;
  /** The update in f32, op for op as the kernel does it; mutates `s`. */
  reference(u: Values, s: { param: Float32Array; grad: Float32Array } & Record<string, Float32Array>, clip: number | null): void;
  perTensorOptions: boolean;
}

type Resolved = Record<string, any> & { kind: OptimizerKind };

const f = Math.fround;
const clipTo = (w: number, c: number | null) => (c === null ? w : Math.min(Math.max(w, -c), c));

const DEFS: Record<OptimizerKind, OptimizerDef> = {
  adam: {
    defaults: { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
    entryPoint: () => 'adam',
    uniform: 'adam_params',
    state: () => ['m', 'v'],
    values: (c, t, scale) => {
      // beta powers of the f32 betas, as Keras computes them from its float32 hyperparameters.
      const [b1, b2] = [f(c.beta1), f(c.beta2)];
      const lr = learningRateAt(c.learningRate, t - 1);
      return { lr: ((lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t)) * scale, one_minus_beta_1: 1 - b1, one_minus_beta_2: 1 - b2, epsilon: c.epsilon };
    },
    reference: (u, s, clip) => {
      for (let i = 0; i < s.param.length; i++) {
        const g = s.grad[i];
        const m = f(s.m[i] + f(f(g - s.m[i]) * u.one_minus_beta_1));
        const v = f(s.v[i] + f(f(f(g * g) - s.v[i]) * u.one_minus_beta_2));
        s.m[i] = m;
        s.v[i] = v;
        s.param[i] = clipTo(f(s.param[i] - f(f(m * u.lr) / f(f(Math.sqrt(v)) + u.epsilon))), clip);
      }
    },
    perTensorOptions: true,
  },
  sgd: {
    defaults: { learningRate: 0.01, momentum: 0, nesterov: false },
    entryPoint: (c) => (c.momentum === 0 ? 'sgd' : 'sgd_momentum'),
    uniform: 'sgd_params',
    state: (c) => (c.momentum === 0 ? [] : ['accum']),
    values: (c, t, scale) => ({ lr: learningRateAt(c.learningRate, t - 1) * scale, momentum: c.momentum }),
    reference: (u, s, clip) => {
      for (let i = 0; i < s.param.length; i++) {
        const g = s.grad[i];
        if (!s.accum) {
          s.param[i] = clipTo(f(s.param[i] - f(u.lr * g)), clip);
          continue;
        }
        const a = f(f(s.accum[i] * u.momentum) - f(g * u.lr));
        s.accum[i] = a;
        const step = u.nesterov ? f(f(a * u.momentum) - f(g * u.lr)) : a;
        s.param[i] = clipTo(f(s.param[i] + step), clip);
      }
    },
    perTensorOptions: true,
  },
  shift_adamax: {
    defaults: { learningRate: 2 ** -10, beta1: 1 - 2 ** -3, beta2: 1 - 2 ** -10 },
    entryPoint: () => 'shift_adamax',
    uniform: 'adamax_params',
    state: () => ['m', 'v'],
    values: (c, t, scale) => {
      const b1 = f(c.beta1);
      return { lr: (learningRateAt(c.learningRate, t - 1) / (1 - b1 ** t)) * scale, beta_1: b1, one_minus_beta_1: 1 - b1, beta_2: c.beta2 };
    },
    reference: (u, s, clip) => {
      for (let i = 0; i < s.param.length; i++) {
        const g = s.grad[i];
        const m = f(f(u.beta_1 * s.m[i]) + f(u.one_minus_beta_1 * g));
        const v = Math.max(f(u.beta_2 * s.v[i]), Math.abs(g));
        s.m[i] = m;
        s.v[i] = v;
        let p = s.param[i];
        if (v >= 2 ** -126) p = f(p - f(u.lr * (m / ap2(v)))); // AP2(1/v) = 1/AP2(v): no ties
        s.param[i] = clipTo(p, clip);
      }
    },
    perTensorOptions: true,
  },
  bop: {
    defaults: { threshold: 1e-8, gamma: 1e-4 },
    entryPoint: () => 'bop',
    uniform: 'bop_params',
    state: () => ['m'],
    values: (c, t) => ({ gamma: learningRateAt(c.gamma, t - 1), threshold: learningRateAt(c.threshold, t - 1) }),
    reference: (u, s) => {
      for (let i = 0; i < s.param.length; i++) {
        const m = f(s.m[i] + f(u.gamma * f(s.grad[i] - s.m[i])));
        s.m[i] = m;
        const w = s.param[i];
        const r = -Math.sign(f(f(w * m) - u.threshold)) * w;
        s.param[i] = r < 0 ? -1 : 1; // Larq's sign: -0 and 0 give +1
      }
    },
    perTensorOptions: false,
  },
};


export { ap2 };

const NUMBER_KEYS: Record<string, { min: number; max?: number; below?: boolean }> = {
  beta1: { min: 0, max: 1, below: true },
  beta2: { min: 0, max: 1, below: true },
  epsilon: { min: 0 },
  momentum: { min: 0, max: 1 },
};

/** The config with every default filled in, checked; a ShapeError names the key and the range. */
export function resolveOptimizerConfig(config: OptimizerConfig): Resolved {
  const kind = config?.kind;
  const def = DEFS[kind];
  if (!def || !Object.hasOwn(DEFS, kind)) {
    throw new ShapeError(`optimizer: unknown kind ${JSON.stringify(kind)}; use one of ${Object.keys(DEFS).join(', ')}`);
  }
  const out: Resolved = { kind };
  for (const key of Object.keys(config)) {
    if (key !== 'kind' && !Object.hasOwn(def.defaults, key)) {
      throw new ShapeError(`${kind}: unknown option '${key}' (accepted: ${Object.keys(def.defaults).join(', ')})`);
    }
  }
  for (const [key, fallback] of Object.entries(def.defaults)) {
    const v = (config as unknown as Record<string, unknown>)[key] ?? fallback;
    if (key === 'nesterov') {
      if (typeof v !== 'boolean') throw new ShapeError(`${kind}: 'nesterov' must be true or false, got ${JSON.stringify(v)}`);
    } else if (key === 'learningRate' || key === 'gamma' || key === 'threshold') {
      const schedule = typeof v === 'object' && v !== null && typeof (v as LearningRateSchedule).at === 'function';
      if (!schedule) checkNumber(kind, key, v, 0);
    } else {
      const r = NUMBER_KEYS[key];
      checkNumber(kind, key, v, r.min);
      if (r.max !== undefined && (r.below ? (v as number) >= r.max : (v as number) > r.max)) {
        throw new ShapeError(`${kind}: '${key}' must be in [${r.min}, ${r.max}${r.below ? ')' : ']'}, got ${v}`);
      }
    }
    out[key] = v;
  }
  return out;
}

function checkNumber(who: string, key: string, v: unknown, min: number, positive = false): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (positive && v <= min)) {
    throw new ShapeError(`${who}: '${key}' must be a finite number ${positive ? '>' : '>='} ${min}, got ${JSON.stringify(v)}`);
  }
}

/**
 * What the update kernel's uniform holds at step t (1-based: the step being taken, Keras'
 * `iterations + 1`) for a tensor with learning-rate scale `lrScale`, before rounding to f32.
 */
export function optimizerStepValues(config: OptimizerConfig, t: number, lrScale = 1): Values {
  if (!Number.isInteger(t) || t < 1) throw new ShapeError(`optimizer: step t must be an integer >= 1, got ${t}`);
  const c = resolveOptimizerConfig(config);
  return DEFS[c.kind].values(c, t, lrScale);
}

// ---------------------------------------------------------------------------------------------
// The GPU optimizer.

/**
 * Updates tracked f32 parameter tensors in place from their gradient tensors. Each `track`ed
 * tensor gets zeroed state tensors and one prepared dispatch (bind groups built once); a step
 * rewrites only each dispatch's small uniform (`writeUniforms`, queue.writeBuffer) and records
 * the dispatches. A plan can do the same: record `optimizer.record(rec)` once, then before each
 * replay call `optimizer.writeUniforms(t)`. Under Gpu.capture the plan adopts the dispatches (and
 * frees their uniforms when it is destroyed); the optimizer keeps writing to the same buffers.
 */
export class Optimizer {
  /** Steps applied so far (Keras' `optimizer.iterations`); the next step is t = iterations + 1. Settable to resume. */
  iterations = 0;
  private readonly tracked: (TrackedParam & { uniformBuffer: GPUBuffer; kernel: Kernel })[] = [];

  private constructor(
    readonly gpu: Gpu,
    readonly config: Readonly<Resolved>,
    private readonly workgroupSize: number,
  ) {}

  static create(gpu: Gpu, config: OptimizerConfig, options: { workgroupSize?: number } = {}): Optimizer {
    const resolved = resolveOptimizerConfig(config);
    const wg = options.workgroupSize ?? 64;
    const max = Math.min(gpu.limits.maxComputeInvocationsPerWorkgroup, gpu.limits.maxComputeWorkgroupSizeX);
    if (!Number.isInteger(wg) || wg < 1 || wg > max) {
      throw new ShapeError(`${resolved.kind}: workgroupSize must be an integer in [1, ${max}] on this device, got ${wg}`);
    }
    return new Optimizer(gpu, Object.freeze(resolved), wg);
  }

  get kind(): OptimizerKind {
    return this.config.kind;
  }

  get params(): readonly TrackedParam[] {
    return this.tracked;
  }

  /** The learning rate of the next step (Bop: its gamma), before per-tensor scales. */
  get learningRate(): number {
    return learningRateAt(this.config.kind === 'bop' ? this.config.gamma : this.config.learningRate, this.iterations);
  }

  /**
   * Starts updating `param` (f32, any shape) from `grad` (f32, the same shape): allocates its state
   * (zeros) and prepares its dispatch. The gradient tensor is bound once: the backward pass writes
   * each step's gradient into it.
   */
  async track(param: Tensor, grad: Tensor, options: TrackOptions = {}): Promise<TrackedParam> {
    const op = this.kind;
    const def = DEFS[op];
    expectF32(op, 'param', param);
    expectF32(op, 'grad', grad);
    if (grad.shape.length !== param.shape.length || grad.shape.some((d, i) => d !== param.shape[i])) {
      throw new ShapeError(`${op}: 'grad' must have the shape of 'param' [${param.shape.join(', ')}], got [${grad.shape.join(', ')}]`);
    }
    if (grad.buffer === param.buffer) throw new ShapeError(`${op}: 'grad' must not share storage with 'param' (the update writes param and reads grad)`);
    if (this.tracked.some((t) => t.param.buffer === param.buffer)) throw new ShapeError(`${op}: '${param.label}' is already tracked by this optimizer`);
    const { lrScale = 1, clip } = options;
    if (!def.perTensorOptions && (options.lrScale !== undefined || clip !== undefined)) {
      throw new ShapeError(`${op}: lrScale and clip do not apply (it flips +-1 weights; it has no learning rate and no latent weights)`);
    }
    checkNumber(op, 'lrScale', lrScale, 0, true);
    if (clip !== undefined) checkNumber(op, 'clip', clip, 0, true);
    const label = options.label ?? `${op}[${param.label}]`;

    const state: Record<string, Tensor> = {};
    try {
      for (const name of def.state(this.config)) {
        state[name] = this.gpu.tensor(param.shape, 'f32', `${label}.${name}`);
        this.gpu.write(state[name], new Float32Array(param.size));
      }
      const kernel = await this.gpu.kernel({
        shader: 'optimizers',
        entryPoint: def.entryPoint(this.config),
        constants: { WORKGROUP_SIZE: this.workgroupSize, CLIP: clip !== undefined, ...(op === 'sgd' && { NESTEROV: this.config.nesterov }) },
      });
      const grid = this.gpu.grid(Math.ceil(param.size / this.workgroupSize), label);
      const values = this.uniformValues(param.size, lrScale, clip ?? null, this.iterations + 1);
      this.gpu.device.pushErrorScope('validation');
      let bound: { bindGroups: GPUBindGroup[]; owned: GPUBuffer[] };
      try {
        bound = kernel.bind(this.gpu.device, { [def.uniform]: values, param, grad, ...state });
      } finally {
        const error = await this.gpu.device.popErrorScope();
        if (error) throw new GpuKernelError(label, error.message);
      }
      const dispatch = new Dispatch(label, kernel, bound.bindGroups, grid, bound.owned);
      const tracked = { param, grad, state, lrScale, clip: clip ?? null, dispatch, uniformBuffer: bound.owned[0], kernel };
      this.tracked.push(tracked);
      return tracked;
    } catch (err) {
      for (const t of Object.values(state)) t.release();
      throw err;
    }
  }

  /** Writes every tracked tensor's uniform for step t (default: the next, iterations + 1). */
  writeUniforms(t = this.iterations + 1): void {
    for (const p of this.tracked) {
      const values = this.uniformValues(p.param.size, p.lrScale, p.clip, t);
      this.gpu.device.queue.writeBuffer(p.uniformBuffer, 0, packUniform(p.kernel, DEFS[this.kind].uniform, values));
    }
  }

  /** Records every tracked tensor's update into a run (uniforms as last written). */
  record(rec: Recorder): void {
    for (const p of this.tracked) rec.record(p.dispatch);
  }

  /** One step over every tracked tensor: t = iterations + 1, then iterations is incremented. */
  async step(): Promise<void> {
    this.writeUniforms();
    await this.gpu.run(`${this.kind}.step${this.iterations + 1}`, (rec) => this.record(rec));
    this.iterations++;
  }

  /** Frees the state tensors and the prepared dispatches. */
  destroy(): void {
    for (const p of this.tracked.splice(0)) {
      p.dispatch.destroy();
      for (const t of Object.values(p.state)) t.release();
    }
  }

  private uniformValues(count: number, lrScale: number, clip: number | null, t: number): Values {
    if (!Number.isInteger(t) || t < 1) throw new ShapeError(`${this.kind}: step t must be an integer >= 1, got ${t}`);
    const values = DEFS[this.kind].values(this.config, t, lrScale);
    return { count, ...values, ...(this.kind !== 'bop' && { clip: clip ?? 0 }) };
  }
}

/** Checks the config and returns an Optimizer; add tensors with `track`, then `step()` per iteration. */
export function createOptimizer(gpu: Gpu, config: OptimizerConfig, options: { workgroupSize?: number } = {}): Optimizer {
  return Optimizer.create(gpu, config, options);
}

function expectF32(op: string, name: string, t: unknown): void {
  if (!(t instanceof Tensor)) throw new ShapeError(`${op}: '${name}' must be a Tensor, got ${typeof t}`);
  t.assertLive();
  if (t.dtype !== 'f32') throw new ShapeError(`${op}: '${name}' must be f32, got ${t.dtype} (${t})`);
}

/** A uniform's bytes, packed by member name at the offsets reflected from the shader. */
function packUniform(kernel: Kernel, binding: string, values: Values): ArrayBuffer {
  const layout = kernel.bindings.find((b) => b.name === binding)?.uniform;
  if (!layout) throw new GpuKernelError(kernel.label, `no uniform named '${binding}'`);
  const bytes = new ArrayBuffer(Math.max(16, Math.ceil(layout.size / 16) * 16));
  const view = new DataView(bytes);
  for (const m of layout.members) {
    const v = values[m.name];
    if (v === undefined) throw new GpuKernelError(kernel.label, `uniform '${binding}.${m.name}' was not given`);
    if (m.scalar === 'f32') view.setFloat32(m.offset, v, true);
    else view.setUint32(m.offset, v, true);
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// CPU reference.

/** Host arrays of one tensor's update: parameter, gradient and the state by name (as TrackedParam.state). */
export interface OptimizerArrays {
  param: Float32Array;
  grad: Float32Array;
  state: Record<string, Float32Array>;
}

/**
 * Plain CPU reference of one optimizer step t (1-based) on one tensor: the uniform's values
 * rounded to f32, then the kernel's arithmetic in f32, operation for operation (so AdaMax's
 * power of two and Bop's flips are decided as the GPU decides them). Returns new arrays.
 */
export function optimizerReference(config: OptimizerConfig, arrays: OptimizerArrays, t: number, options: { lrScale?: number; clip?: number } = {}): { param: Float32Array; state: Record<string, Float32Array> } {
  const c = resolveOptimizerConfig(config);
  const def = DEFS[c.kind];
  const n = arrays.param.length;
  if (arrays.grad.length !== n) throw new RangeError(`${c.kind}Reference: ${arrays.grad.length} gradients for ${n} parameters`);
  const u: Values = {};
  for (const [k, v] of Object.entries(optimizerStepValues(c as OptimizerConfig, t, options.lrScale ?? 1))) u[k] = f(v);
  if (c.kind === 'sgd') u.nesterov = c.nesterov ? 1 : 0;
  const s: { param: Float32Array; grad: Float32Array } & Record<string, Float32Array> = { param: Float32Array.from(arrays.param), grad: arrays.grad };
  const state: Record<string, Float32Array> = {};
  for (const name of def.state(c)) {
    const given = arrays.state[name];
    if (!given || given.length !== n) throw new RangeError(`${c.kind}Reference: state '${name}' must hold ${n} values`);
    s[name] = state[name] = Float32Array.from(given);
  }
  def.reference(u, s, options.clip === undefined ? null : f(options.clip));
  return { param: s.param, state };
}
