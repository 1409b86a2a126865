// TensorFlow.js's WebGPU backend on the same shapes and models, in the same run: what a user would
// otherwise pick, and the check that our fp32 baseline is no slower than it. In Node through Dawn
// (the `webgpu` package as navigator.gpu), in a page through the page's navigator.gpu (the page's
// import map serves TF.js's bundles). The TF.js packages are dev dependencies, loaded only here;
// the benchmarks run without them (the column is then absent, with the reason in tfjsUnavailable()).
import { median, type Timing } from '../src/gpu/timing.js';
import { getQuantizer } from '../src/model/quantizers.js';
import type { ModelSpec } from '../src/model/tfjs-format.js';
import type { LayerSpec } from '../src/model/layer-config.js';
import { kindOf } from '../src/layers/index.js';
import { TfjsTranslationError, type TfOps, type TfTensor, type TfjsEnv } from '../src/layers/tfjs-ops.js';

export { TfjsTranslationError } from '../src/layers/tfjs-ops.js';

interface Tf extends TfOps {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  randomUniform(shape: number[], lo?: number, hi?: number, dtype?: string, seed?: number): TfTensor;
  time(f: () => void): Promise<{ kernelMs: number | { error: string }; wallMs: number }>;
  tidy<T>(f: () => T): T;
  lessEqual(a: TfTensor, b: TfTensor | number): TfTensor;
  cast(x: TfTensor, dtype: 'float32'): TfTensor;
  oneHot(indices: TfTensor, depth: number): TfTensor;
  variable(initial: TfTensor, trainable?: boolean, name?: string): TfTensor;
  customGrad(f: (x: TfTensor, save: (saved: TfTensor[]) => void) => { value: TfTensor; gradFunc: (dy: TfTensor, saved: TfTensor[]) => TfTensor }): (x: TfTensor) => TfTensor;
  losses: { softmaxCrossEntropy(onehotLabels: TfTensor, logits: TfTensor): TfTensor };
  train: { adam(learningRate: number): TfOptimizer };
  div(a: TfTensor, b: TfTensor | number): TfTensor;
  neg(x: TfTensor): TfTensor;
  sqrt(x: TfTensor): TfTensor;
  sum(x: TfTensor, axes?: number[], keepDims?: boolean): TfTensor;
  onesLike(x: TfTensor): TfTensor;
  clone(x: TfTensor): TfTensor;
  getGradient(kernelName: string): unknown;
  registerGradient(config: { kernelName: string; inputsToSave?: string[]; gradFunc: (dy: TfTensor, saved: TfTensor[], attrs: Record<string, unknown>) => Record<string, () => TfTensor> }): void;
  conv2d(x: TfTensor, w: TfTensor, strides: [number, number], pad: 'same' | 'valid', format: 'NHWC', dilations?: [number, number]): TfTensor;
  version_core?: string;
}
interface TfOptimizer {
  minimize(f: () => TfTensor, returnCost: true, varList?: TfTensor[]): TfTensor | null;
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
  const forward = inferenceForward(tf, spec, (data, shape) => {
    const t = tf.tensor(Float32Array.from(data), shape, 'float32');
    consts.push(t);
    return t;
  });
  return {
    run: (x) => tf.tidy(() => forward(x)),
    dispose: () => consts.forEach((t) => t.dispose()),
  };
}

/**
 * The inference translation over any implementation of the ops: TF.js itself, or bench/onnx-model.ts's
 * tracer that records the same ops as an ONNX graph (so both peers run one float simulation).
 * `constant` makes a weight tensor the caller owns; `steSign` replaces sign(sign(x) + 0.5) where an
 * engine has a better way to say x < 0 ? -1 : +1.
 */
export function inferenceForward(
  ops: TfOps,
  spec: ModelSpec,
  constant: (data: ArrayLike<number>, shape: number[]) => TfTensor,
  options: { steSign?: (x: TfTensor) => TfTensor } = {},
): (x: TfTensor) => TfTensor {
  const steSign = options.steSign ?? ((x: TfTensor) => ops.sign(ops.add(ops.sign(x), 0.5)));
  const quantize = (id: unknown, at: string): ((x: TfTensor) => TfTensor) => {
    const q = getQuantizer(id as never);
    if (q === null) return (x) => x;
    const t = q.tfjs;
    if (t) return (x) => t.forward(ops, x, steSign);
    throw new TfjsTranslationError(`${at}: the TF.js translation has no ${q.className} quantizer`);
  };
  const activate = (a: string | undefined, at: string): ((x: TfTensor) => TfTensor) => {
    if (a === undefined || a === 'linear') return (x) => x;
    if (a === 'softmax') return (x) => ops.softmax(x);
    if (a === 'relu') return (x) => ops.relu(x);
    throw new TfjsTranslationError(`${at}: the TF.js translation has no activation '${a}'`);
  };
  return translateLayers(spec, spec.layers, (l) => ({
    tf: ops,
    training: false,
    weight: (p) => spec.weights.get(`${l.name}/${p}`),
    param: constant,
    constant,
    quantize,
    activate,
  }));
}

/**
 * `layers` of `spec` as one TF.js function of the model's (one) input, in topological order: each
 * layer's kind translates it (its `tfjs` hook, src/layers/); the last layer's value is returned.
 */
function translateLayers(spec: ModelSpec, layers: readonly LayerSpec[], envOf: (l: LayerSpec) => TfjsEnv): (x: TfTensor) => TfTensor {
  if (spec.inputs.length !== 1) throw new TfjsTranslationError(`${spec.name}: the TF.js translation takes models with one input (this one has ${spec.inputs.length})`);
  const steps = layers.map((l) => {
    const hook = kindOf(l).tfjs;
    if (!hook) throw new TfjsTranslationError(`${l.name}: the TF.js translation has no ${l.class} layer`);
    return { name: l.name, inbound: l.inbound, f: hook(l, envOf(l)) };
  });
  return (x) => {
    const values = new Map<string, TfTensor>();
    let y = x;
    for (const s of steps) {
      y = s.f(s.inbound.length ? s.inbound.map((n) => values.get(n)!) : [x]);
      values.set(s.name, y);
    }
    return y;
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

/**
 * Kernel time of tf.conv2d (NHWC, stride 1, 'same': zero padding) on x [N,H,W,C] and our kernel
 * layout w [O,KH,KW,C] (transposed here to TF.js's [KH,KW,C,O]), after checking every output
 * against `want` exactly (the inputs are +-1, so every sum is an integer below 2^24: exact in f32
 * in any order).
 */
export async function timeTfjsConv(
  tf: Tf,
  x: Float32Array,
  xShape: number[],
  w: Float32Array,
  wShape: number[],
  want: Float32Array,
  opts: { warmup: number; reps: number },
): Promise<Timing & { check: string }> {
  const [O, KH, KW, C] = wShape;
  const hwio = new Float32Array(w.length);
  for (let o = 0; o < O; o++) for (let k = 0; k < KH * KW; k++) for (let c = 0; c < C; c++) hwio[(k * C + c) * O + o] = w[(o * KH * KW + k) * C + c];
  const xt = tf.tensor(x, xShape, 'float32');
  const wt = tf.tensor(hwio, [KH, KW, C, O], 'float32');
  try {
    const first = tf.conv2d(xt, wt, [1, 1], 'same', 'NHWC');
    const got = (await first.data()) as Float32Array;
    first.dispose();
    if (got.length !== want.length) throw new Error(`TF.js conv2d gave ${got.length} outputs, want ${want.length}`);
    want.forEach((v, i) => {
      if (got[i] !== v) throw new Error(`TF.js conv2d differs from our fp32 conv at ${i}: got ${got[i]}, want ${v}`);
    });
    const t = await timeTfjs(tf, () => tf.conv2d(xt, wt, [1, 1], 'same', 'NHWC'), opts);
    return { ...t, check: `TF.js conv2d = our fp32 conv on all ${want.length} outputs` };
  } finally {
    xt.dispose();
    wt.dispose();
  }
}

/**
 * The gradients of the kernels tfjsTrainer's step differentiates. @tensorflow/tfjs-core's bundles
 * (tf-core.node.js, tf-core.fesm.js: what Node and the page load) register no gradients; the
 * union package @tensorflow/tfjs does, from tfjs-core's dist/gradients/*, which neither Node nor
 * the page can import (extensionless ES imports). These follow those files (same ops); a kernel
 * that already has one (the union package loaded) keeps it.
 */
function registerTrainingGradients(tf: Tf): void {
  // dy summed over the axes `shape` was broadcast along, then reshaped to it.
  const unbroadcast = (dy: TfTensor, shape: number[]) => {
    const lead = dy.shape.length - shape.length;
    const axes = dy.shape.map((_, i) => i).filter((i) => i < lead || (shape[i - lead] === 1 && dy.shape[i] !== 1));
    return tf.reshape(axes.length ? tf.sum(dy, axes) : dy, shape);
  };
  const binary = (name: string, da: (dy: TfTensor, a: TfTensor, b: TfTensor) => TfTensor, db: (dy: TfTensor, a: TfTensor, b: TfTensor) => TfTensor) => ({
    kernelName: name,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy: TfTensor, [a, b]: TfTensor[]) => ({ a: () => unbroadcast(da(dy, a, b), a.shape), b: () => unbroadcast(db(dy, a, b), b.shape) }),
  });
  const reduce = (name: string, mean: boolean) => ({
    kernelName: name,
    inputsToSave: ['x'],
    gradFunc: (dy: TfTensor, [x]: TfTensor[], attrs: Record<string, unknown>) => ({
      x: () => {
        const ax = attrs.axis === null || attrs.axis === undefined ? x.shape.map((_, i) => i) : ([] as number[]).concat(attrs.axis as number | number[]).map((a) => (a < 0 ? a + x.shape.length : a));
        const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
        const g = tf.mul(tf.reshape(dy, kept), tf.onesLike(x));
        return mean ? tf.div(g, ax.reduce((n, a) => n * x.shape[a], 1)) : g;
      },
    }),
  });
  const configs = [
    binary('Add', (dy) => dy, (dy) => dy),
    binary('Sub', (dy) => dy, (dy) => tf.neg(dy)),
    binary('Multiply', (dy, _a, b) => tf.mul(dy, b), (dy, a) => tf.mul(dy, a)),
    binary('RealDiv', (dy, _a, b) => tf.div(dy, b), (dy, a, b) => tf.neg(tf.div(tf.mul(dy, a), tf.mul(b, b)))),
    {
      kernelName: 'BatchMatMul',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy: TfTensor, [a, b]: TfTensor[], attrs: Record<string, unknown>) => {
        const [ta, tb] = [attrs.transposeA === true, attrs.transposeB === true];
        if (!ta && !tb) return { a: () => tf.matMul(dy, b, false, true), b: () => tf.matMul(a, dy, true, false) };
        if (!ta && tb) return { a: () => tf.matMul(dy, b, false, false), b: () => tf.matMul(dy, a, true, false) };
        if (ta && !tb) return { a: () => tf.matMul(b, dy, false, true), b: () => tf.matMul(a, dy, false, false) };
        return { a: () => tf.matMul(b, dy, true, true), b: () => tf.matMul(dy, a, true, true) };
      },
    },
    { kernelName: 'Square', inputsToSave: ['x'], gradFunc: (dy: TfTensor, [x]: TfTensor[]) => ({ x: () => tf.mul(dy, tf.mul(x, tf.add(tf.onesLike(x), 1))) }) },
    { kernelName: 'Rsqrt', inputsToSave: ['x'], gradFunc: (dy: TfTensor, [x]: TfTensor[]) => ({ x: () => tf.neg(tf.div(dy, tf.mul(tf.mul(tf.sqrt(x), x), tf.add(tf.onesLike(x), 1)))) }) },
    { kernelName: 'Neg', gradFunc: (dy: TfTensor) => ({ x: () => tf.neg(dy) }) },
    { kernelName: 'Cast', gradFunc: (dy: TfTensor) => ({ x: () => tf.clone(dy) }) },
    { kernelName: 'Reshape', inputsToSave: ['x'], gradFunc: (dy: TfTensor, [x]: TfTensor[]) => ({ x: () => tf.reshape(dy, x.shape) }) },
    reduce('Mean', true),
    reduce('Sum', false),
  ];
  for (const c of configs) if (!tf.getGradient(c.kernelName)) tf.registerGradient(c);
}

/**
 * A Sequential model's training step as TF.js ops: the float simulation a TF.js user would write
 * for a binarized model. ste_sign on inputs and kernels through tf.customGrad (forward
 * sign(sign(x) + 0.5), so sign(0) = +1; backward Larq's straight-through estimator: the gradient
 * passes where |x| <= 1), f32 matMul, BatchNormalization with the batch's statistics (biased
 * variance, as Keras in training), sparse softmax cross-entropy on the logits before the final
 * softmax (mean over the batch), Adam via tf.train.adam and optimizer.minimize. The latent kernels
 * and the BatchNorm gamma/beta are tf.variables initialized from the spec's weights. Handles
 * Flatten, Dense/QuantDense (ste_sign or no quantizer, no activation but the last softmax),
 * BatchNormalization and a final softmax Activation; throws for anything else. weight_clip is
 * left out (it does not change the work of a step enough to matter for timing).
 */
export function tfjsTrainer(tf: Tf, spec: ModelSpec, learningRate: number) {
  registerTrainingGradients(tf);
  const vars: TfTensor[] = [];
  const variable = (data: ArrayLike<number>, shape: number[]) => {
    const init = tf.tensor(Float32Array.from(data), shape, 'float32');
    const v = tf.variable(init, true);
    init.dispose();
    vars.push(v);
    return v;
  };
  const sign = (x: TfTensor) => tf.sign(tf.add(tf.sign(x), 0.5));
  // Each quantizer row's forward with its pseudo-gradient (Larq's STE for ste_sign), one custom gradient per layer.
  const quantize = (id: unknown, at: string): ((x: TfTensor) => TfTensor) => {
    const q = getQuantizer(id as never);
    if (q === null) return (x) => x;
    const t = q.tfjs;
    if (!t) throw new TfjsTranslationError(`${at}: the TF.js training translation has no ${q.className} quantizer`);
    return tf.customGrad((x, save) => {
      save([x]);
      return { value: t.forward(tf, x, sign), gradFunc: (dy, [s]) => t.gradient(tf, s, dy) };
    });
  };
  const activate = (a: string | undefined, at: string): ((x: TfTensor) => TfTensor) => {
    if (a === undefined || a === 'linear') return (x) => x;
    throw new TfjsTranslationError(`${at}: the TF.js training translation has no activation '${a}' inside the model`);
  };
  const last = spec.layers[spec.layers.length - 1];
  if (!(last.class === 'Activation' && last.config.activation === 'softmax')) throw new TfjsTranslationError(`the TF.js training translation needs a final softmax Activation (got ${last.class})`);
  const constant = (data: ArrayLike<number>, shape: number[]) => tf.tensor(Float32Array.from(data), shape, 'float32');
  const logits = translateLayers(spec, spec.layers.slice(0, -1), (l) => ({
    tf,
    training: true,
    weight: (p) => spec.weights.get(`${l.name}/${p}`),
    param: variable,
    constant,
    quantize,
    activate,
  }));
  const optimizer = tf.train.adam(learningRate);
  return {
    /** One step on (x, one-hot labels): returns the loss before the update (a scalar to read or dispose). */
    step: (x: TfTensor, onehot: TfTensor) =>
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(onehot, logits(x)), true, vars)!,
    dispose: () => {
      optimizer.dispose();
      vars.forEach((v) => v.dispose());
    },
  };
}

/**
 * Times one training step of `spec` in TF.js (tfjsTrainer) on a batch, after checking its first
 * step's loss (from the spec's initial weights) against `wantLoss` (our trainer's, 1e-3 relative)
 * and that the loss falls over the next steps on the same batch.
 */
export async function timeTfjsTrainStep(
  tf: Tf,
  spec: ModelSpec,
  batch: { inputs: Float32Array; labels: Uint32Array; size: number; classes: number; learningRate: number; wantLoss: number },
  opts: { warmup: number; reps: number },
): Promise<Timing & { check: string; losses: number[] }> {
  const trainer = tfjsTrainer(tf, spec, batch.learningRate);
  const x = tf.tensor(batch.inputs, [batch.size, ...spec.inputs[0].shape], 'float32');
  const idx = tf.tensor(Int32Array.from(batch.labels), [batch.size], 'int32');
  const onehot = tf.oneHot(idx, batch.classes);
  idx.dispose();
  try {
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const l = trainer.step(x, onehot);
      losses.push(((await l.data()) as Float32Array)[0]);
      l.dispose();
    }
    const [first] = losses;
    if (!(Math.abs(first - batch.wantLoss) <= 1e-3 * Math.abs(batch.wantLoss))) throw new Error(`TF.js training step: first loss ${first} differs from our trainer's ${batch.wantLoss}`);
    if (!losses.every(Number.isFinite) || !(losses[2] < losses[0])) throw new Error(`TF.js training step: the loss does not fall over 3 steps on one batch (${losses.join(', ')})`);
    const t = await timeTfjs(tf, () => trainer.step(x, onehot), opts);
    return {
      ...t,
      losses,
      check: `TF.js's first-step loss = our trainer's within 1e-3 relative (${first.toFixed(6)} vs ${batch.wantLoss.toFixed(6)}), and it falls over 3 steps (${losses.map((v) => v.toFixed(4)).join(', ')})`,
    };
  } finally {
    x.dispose();
    onehot.dispose();
    trainer.dispose();
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
