// TensorFlow.js's WebGPU matMul on the same shapes, in the same run: what a user would otherwise
// pick, and the check that our fp32 baseline is no slower than it. Node only for now (Dawn through
// the `webgpu` package as navigator.gpu); the TF.js packages are dev dependencies, loaded only
// here, and the benchmark runs without them (the column is then absent).
import { median, type Timing } from '../src/gpu/timing.js';

interface Tf {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  randomUniform(shape: number[], lo?: number, hi?: number, dtype?: string, seed?: number): TfTensor;
  matMul(a: TfTensor, b: TfTensor, transposeA?: boolean, transposeB?: boolean): TfTensor;
  time(f: () => void): Promise<{ kernelMs: number | { error: string }; wallMs: number }>;
  tidy<T>(f: () => T): T;
}
interface TfTensor {
  data(): Promise<unknown>;
  dispose(): void;
}

let loaded: Promise<Tf | null> | undefined;
let dawnForTf: unknown; // the Dawn instance TF.js's device comes from: kept alive while in use

/** TF.js with its WebGPU backend ready, or null when the packages or WebGPU are unavailable. */
export function loadTfjsWebgpu(): Promise<Tf | null> {
  loaded ??= (async () => {
    const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
    if (!isNode) return null;
    try {
      const names = ['webgpu', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgpu'];
      const [dawn, tf] = await Promise.all(names.slice(0, 2).map((n) => import(/* @vite-ignore */ n)));
      const nav = ((globalThis as { navigator?: { gpu?: unknown } }).navigator ??= {} as { gpu?: unknown });
      if (!nav.gpu) nav.gpu = dawnForTf = (dawn as { create(flags: string[]): unknown }).create([]);
      await import(/* @vite-ignore */ names[2]);
      if (!(await (tf as Tf).setBackend('webgpu'))) return null;
      await (tf as Tf).ready();
      return tf as Tf;
    } catch {
      return null;
    }
  })();
  return loaded;
}

/** Kernel time of tf.matMul(a, b^T) for f32 a[M,K], b[N,K]: TF.js's own timestamp queries (tf.time). */
export async function timeTfjsMatmul(tf: Tf, M: number, N: number, K: number, opts: { warmup: number; reps: number }): Promise<Timing> {
  const a = tf.randomUniform([M, K], -1, 1, 'float32', 1);
  const b = tf.randomUniform([N, K], -1, 1, 'float32', 2);
  const once = async () => {
    const t0 = performance.now();
    let c: TfTensor | undefined;
    const info = await tf.time(() => {
      c = tf.matMul(a, b, false, true);
    });
    await c!.data();
    const wall = performance.now() - t0;
    c!.dispose();
    return { kernel: typeof info.kernelMs === 'number' ? info.kernelMs : NaN, wall };
  };
  try {
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
  } finally {
    a.dispose();
    b.dispose();
  }
}

