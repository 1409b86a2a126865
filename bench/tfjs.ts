// TensorFlow.js's WebGPU backend on the same shapes and models, in the same run: what a user would
// otherwise pick, and the check that our fp32 baseline is no slower than it. In Node through Dawn
// (the `webgpu` package as navigator.gpu), in a page through the page's navigator.gpu (the page's
// import map serves TF.js's bundles). The TF.js packages are dev dependencies, loaded only here;
// the benchmarks run without them (the column is then absent, with the reason in tfjsUnavailable()).
import { median, type Timing } from '../src/gpu/timing.js';
import { getQuantizer } from '../src/model/quantizers.js';
import type { ModelSpec } from '../src/model/tfjs-format.js';

interface Tf {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  randomUniform(shape: number[], lo?: number, hi?: number, dtype?: string, seed?: number): TfTensor;
  matMul(a: TfTensor, b: TfTensor, transposeA?: boolean, transposeB?: boolean): TfTensor;
  time(f: () => void): Promise<{ kernelMs: number | { error: string }; wallMs: number }>;
  tidy<T>(f: () => T): T;
  tensor(data: Float32Array, shape: number[], dtype: 'float32'): TfTensor;
  add(a: TfTensor, b: TfTensor | number): TfTensor;
  sign(x: TfTensor): TfTensor;
  reshape(x: TfTensor, shape: number[]): TfTensor;
  conv2d(x: TfTensor, w: TfTensor, strides: [number, number], pad: 'same' | 'valid', format: 'NHWC', dilations?: [number, number]): TfTensor;
  batchNorm(x: TfTensor, mean: TfTensor, variance: TfTensor, offset?: TfTensor, scale?: TfTensor, eps?: number): TfTensor;
  maxPool(x: TfTensor, size: [number, number], strides: [number, number], pad: 'same' | 'valid'): TfTensor;
  softmax(x: TfTensor): TfTensor;
  relu(x: TfTensor): TfTensor;
  version_core?: string;
}
interface TfTensor {
  readonly shape: number[];
  data(): Promise<unknown>;
  dispose(): void;
}

let unavailable = '';

/** Why TF.js's columns are absent ('' when it loaded, or was not asked for yet). */
export function tfjsUnavailable(): string {
  return unavailable;
}

/** The TF.js version timed beside ours, once loaded. */
export function tfjsVersion(tf: Tf): string {
  return `TensorFlow.js ${tf.version_core ?? '?'} (tfjs-backend-webgpu)`;
}

let loaded: Promise<Tf | null> | undefined;
let dawnForTf: unknown; // the Dawn instance TF.js's device comes from: kept alive while in use

/** TF.js with its WebGPU backend ready, or null when the packages or WebGPU are unavailable. */
export function loadTfjsWebgpu(): Promise<Tf | null> {
  loaded ??= (async () => {
    const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
    try {
      const names = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgpu', 'webgpu'];
      const tf = (await import(/* @vite-ignore */ names[0])) as Tf;
      const nav = ((globalThis as { navigator?: { gpu?: unknown } }).navigator ??= {} as { gpu?: unknown });
      if (isNode && !nav.gpu) nav.gpu = dawnForTf = ((await import(/* @vite-ignore */ names[2])) as { create(flags: string[]): unknown }).create([]);
      await import(/* @vite-ignore */ names[1]);
      if (!(await tf.setBackend('webgpu'))) {
        unavailable = 'TF.js could not start its WebGPU backend';
        return null;
      }
      await tf.ready();
      return tf;
    } catch (err) {
      unavailable = `TF.js did not load: ${(err as Error).message}`;
      return null;
    }
  })();
  return loaded;
}

/** Kernel time of tf.matMul(a, b^T) for f32 a[M,K], b[N,K]: TF.js's own timestamp queries (tf.time). */
export async function timeTfjsMatmul(tf: Tf, M: number, N: number, K: number, opts: { warmup: number; reps: number }): Promise<Timing> {
  const a = tf.randomUniform([M, K], -1, 1, 'float32', 1);
  const b = tf.randomUniform([N, K], -1, 1, 'float32', 2);
  try {
    return await timeTfjs(tf, () => tf.matMul(a, b, false, true), opts);
  } finally {
    a.dispose();
    b.dispose();
  }
}

/**
 * A model as TF.js ops: the float simulation a user of TF.js would run (ste_sign as
 * sign(sign(x) + 0.5), so sign(0) = +1 as in Larq; kernels quantized once on the CPU; f32 matMul,
 * conv2d, batchNorm, maxPool, softmax). Throws for a layer or quantizer it does not translate.
 */
export function tfjsModel(tf: Tf, spec: ModelSpec): { run(x: TfTensor): TfTensor; dispose(): void } {
  const consts: TfTensor[] = [];
  const c = (data: ArrayLike<number>, shape: number[]) => {
    const t = tf.tensor(Float32Array.from(data), shape, 'float32');
    consts.push(t);
    return t;
  };
  const quantize = (id: unknown, at: string): ((x: TfTensor) => TfTensor) => {
    const q = getQuantizer(id as never);
    if (q === null) return (x) => x;
    if (q.className === 'SteSign') return (x) => tf.sign(tf.add(tf.sign(x), 0.5));
    throw new Error(`${at}: the TF.js translation has no ${q.className} input quantizer`);
  };
  const activate = (a: string | undefined, at: string): ((x: TfTensor) => TfTensor) => {
    if (a === undefined || a === 'linear') return (x) => x;
    if (a === 'softmax') return (x) => tf.softmax(x);
    if (a === 'relu') return (x) => tf.relu(x);
    throw new Error(`${at}: the TF.js translation has no activation '${a}'`);
  };
  const steps: ((x: TfTensor) => TfTensor)[] = [];
  for (const l of spec.layers) {
    const w = (p: string) => spec.weights.get(`${l.name}/${p}`);
    switch (l.class) {
      case 'InputLayer':
      case 'Dropout':
        break;
      case 'Flatten':
        steps.push((x) => tf.reshape(x, [x.shape[0], -1]));
        break;
      case 'Dense':
      case 'QuantDense':
      case 'Conv2D':
      case 'QuantConv2D': {
        const cfg = l.config as { use_bias: boolean; activation?: string; input_quantizer?: unknown; kernel_quantizer?: unknown; strides?: [number, number]; padding?: string; dilation_rate?: [number, number]; pad_values?: number };
        const k = w('kernel')!;
        const kq = getQuantizer((cfg.kernel_quantizer ?? null) as never);
        const kernel = c(kq ? kq.forward(Float32Array.from(k.data), k.shape) : k.data, k.shape);
        const bias = cfg.use_bias && w('bias') ? c(w('bias')!.data, w('bias')!.shape) : null;
        const inq = quantize(cfg.input_quantizer ?? null, l.name);
        const act = activate(cfg.activation, l.name);
        if (cfg.pad_values) throw new Error(`${l.name}: the TF.js translation pads with zeros only (pad_values ${cfg.pad_values})`);
        const conv = l.class === 'Conv2D' || l.class === 'QuantConv2D';
        steps.push((x) => {
          let y = conv ? tf.conv2d(inq(x), kernel, cfg.strides!, cfg.padding as 'same' | 'valid', 'NHWC', cfg.dilation_rate) : tf.matMul(inq(x), kernel);
          if (bias) y = tf.add(y, bias);
          return act(y);
        });
        break;
      }
      case 'BatchNormalization': {
        const C = w('moving_mean')!.data.length;
        const mean = c(w('moving_mean')!.data, [C]);
        const variance = c(w('moving_variance')!.data, [C]);
        const gamma = l.config.scale ? c(w('gamma')!.data, [C]) : undefined;
        const beta = l.config.center ? c(w('beta')!.data, [C]) : undefined;
        steps.push((x) => tf.batchNorm(x, mean, variance, beta, gamma, l.config.epsilon));
        break;
      }
      case 'MaxPooling2D':
        steps.push((x) => tf.maxPool(x, l.config.pool_size, l.config.strides, l.config.padding as 'same' | 'valid'));
        break;
      case 'Activation':
        steps.push(activate(l.config.activation, l.name));
        break;
      default:
        throw new Error(`${l.name}: the TF.js translation has no ${l.class} layer`);
    }
  }
  return {
    run: (x) => tf.tidy(() => steps.reduce((y, f) => f(y), x)),
    dispose: () => consts.forEach((t) => t.dispose()),
  };
}

/**
 * Times the model's forward pass in TF.js on `x` [batch, ...shape], after checking its output on
 * `check.x` against `check.want` (within 1e-4 relative).
 */
export async function timeTfjsModel(
  tf: Tf,
  spec: ModelSpec,
  input: { x: Float32Array; batch: number; check: { x: Float32Array; batch: number; want: Float32Array } },
  opts: { warmup: number; reps: number },
): Promise<Timing & { check: string }> {
  const shape = spec.inputs[0].shape;
  const model = tfjsModel(tf, spec);
  const cx = tf.tensor(input.check.x, [input.check.batch, ...shape], 'float32');
  const xt = tf.tensor(input.x, [input.batch, ...shape], 'float32');
  try {
    const first = model.run(cx);
    const got = (await first.data()) as Float32Array;
    first.dispose();
    let worst = 0;
    input.check.want.forEach((v, i) => {
      const err = Math.abs(got[i] - v);
      worst = Math.max(worst, err);
      if (!(err <= 1e-4 * (1 + Math.abs(v)))) throw new Error(`TF.js ${spec.name} differs from the CPU reference at ${i}: got ${got[i]}, want ${v}`);
    });
    const t = await timeTfjs(tf, () => model.run(xt), opts);
    return { ...t, check: `TF.js output = CPU reference within 1e-4 relative on ${input.check.batch} samples (max |error| ${worst.toExponential(1)})` };
  } finally {
    cx.dispose();
    xt.dispose();
    model.dispose();
  }
}

/** Kernel time (tf.time: TF.js's own timestamp queries) of one call of `work`, wall clock when it has none. */
async function timeTfjs(tf: Tf, work: () => TfTensor, opts: { warmup: number; reps: number }): Promise<Timing> {
  const once = async () => {
    const t0 = performance.now();
    let c: TfTensor | undefined;
    const info = await tf.time(() => {
      c = work();
    });
    await c!.data();
    const wall = performance.now() - t0;
    c!.dispose();
    return { kernel: typeof info.kernelMs === 'number' ? info.kernelMs : NaN, wall };
  };
  for (let i = 0; i < opts.warmup; i++) await once();
  const runs = [];
  for (let i = 0; i < opts.reps; i++) runs.push(await once());
  const useKernel = runs.every((r) => r.kernel > 0);
  const xs = runs.map((r) => (useKernel ? r.kernel : r.wall));
  return {
    medianMs: median(xs),
    minMs: Math.min(...xs),
    maxMs: Math.max(...xs),
    reps: xs.length,
    source: useKernel ? 'gpu-timestamp' : 'wall-clock',
    wallMedianMs: median(runs.map((r) => r.wall)),
  };
}
