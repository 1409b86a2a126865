// DoReFa-Net's k-bit gradients (Zhou et al. 2016, section 2.5; tensorpack's `fg`): the backward of
// the DoReFaGradient quantizer (src/model/quantizers.ts), which is the identity going forward. The
// gradient dy [batch, ...] reaching a layer's output becomes, with m = max |dy| of its sample,
//   dx = 2m (quantize_k(clip(dy / 2m + 1/2 + N, 0, 1)) - 1/2),  quantize_k(v) = round(n v) / n,
// n = 2^k - 1, N uniform in [-1/2, 1/2) / n (the rounding is then unbiased inside the clip); m = 0
// gives 0. Kernel: shaders/dorefa_gradient.wgsl; m by columnReduce. N comes from the counter-based
// hash of (seed, step, stream, element index), so a recorded training step replays with fresh
// noise; without a draw N = 0 (plain rounding). Its CPU reference, dorefaGradientReference, is the
// quantizer's backward in src/model/quantizers.ts (re-exported here): bit for bit but where the
// GPU's division (2.5 ULP in WGSL) moves a value across a rounding boundary.
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import { Tensor, type Shape } from '../tensor.js';
import { columnReduce } from './reduce.js';
export { dorefaGradientReference, type GradientDraw } from '../model/quantizers.js';
import { checkWorkgroupSize, expectNotAliased, expectRows, launchAll, outputTensor } from './training-launch.js';

/** Where the noise comes from: the u32 tensor [seed, step] the trainer rewrites per step, and the layer's stream. */
export interface GradientNoise {
  noise: Tensor;
  stream: number;
}

export interface DoReFaGradientOptions {
  /** k: bits of the quantized gradient, 1..16. */
  kBit: number;
  /** Absent: no noise (plain rounding). */
  draw?: GradientNoise;
  out?: Tensor;
  label?: string;
  workgroupSize?: number;
}

export const MAX_GRADIENT_BITS = 16;

/** dy f32 [batch, ...] -> dx of its shape, quantized to k bits per sample (see the file's head). */
export async function dorefaGradient(gpu: Gpu, dy: Tensor, options: DoReFaGradientOptions): Promise<Tensor> {
  const op = 'dorefaGradient';
  const { shape } = expectRows(op, 'dy', dy, 'f32', 2);
  const { kBit, draw } = options;
  if (!Number.isInteger(kBit) || kBit < 1 || kBit > MAX_GRADIENT_BITS) throw new ShapeError(`${op}: kBit must be an integer in 1..${MAX_GRADIENT_BITS}, got ${kBit}`);
  if (draw) {
    if (!(draw.noise instanceof Tensor) || draw.noise.dtype !== 'u32' || draw.noise.size !== 2) throw new ShapeError(`${op}: draw.noise must be a u32 tensor of 2 values [seed, step], got ${draw.noise}`);
    if (!Number.isInteger(draw.stream) || draw.stream < 0 || draw.stream > 0xffffffff) throw new ShapeError(`${op}: draw.stream must be an integer in [0, 2^32), got ${draw.stream}`);
  }
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  expectNotAliased(op, { out: options.out }, { dy });
  const label = options.label ?? `${op}[${shape.join('x')} ${kBit} bits]`;
  const batch = shape[0];
  const count = dy.size;
  const perSample = count / batch;
  const maxAbs = await columnReduce(gpu, new Tensor(gpu, dy.buffer, [batch, perSample], 'f32', dy.label), { map: 'abs', op: 'max', axis: 'first', label: `${label}.max` });
  const fresh: Tensor[] = [];
  try {
    const dx = outputTensor(gpu, op, 'out', options.out, 'f32', shape, label, fresh);
    const params = { count, per_sample: perSample, levels: 2 ** kBit - 1, stream: draw?.stream ?? 0 };
    const spec = { shader: 'dorefa_gradient' as const, entryPoint: draw ? 'dorefa_gradient_noisy' : 'dorefa_gradient', constants: { WORKGROUP_SIZE: wg } };
    const bindings = { params, dy, max_abs: maxAbs, dx, ...(draw ? { noise: draw.noise } : {}) };
    await launchAll(gpu, label, [{ spec, bindings, workgroups: Math.ceil(count / wg) }], fresh);
    return dx;
  } finally {
    maxAbs.release();
  }
}

