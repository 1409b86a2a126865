// Image augmentation for training (shaders/augment.wgsl): a random crop of the zero-padded image,
// a random horizontal flip, then per-channel normalization, on a batch of NHWC 8-bit or f32
// images. The random choices are drawn here on the CPU from a seeded generator (a run is
// reproducible) and uploaded, one u32 per sample; the pixel work runs on the GPU. The CPU
// reference is beside the launcher.
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import type { Random } from '../random.js';
import type { Tensor } from '../tensor.js';
import { checkWorkgroupSize, expectRows, outputTensor } from './training-launch.js';

/** x -> (x * scale - mean[c]) / std[c]; one mean/std for every channel, or one per channel. */
export interface Normalization {
  scale: number;
  mean: readonly number[];
  std: readonly number[];
}

/** CIFAR-10's usual per-channel statistics of the training images (pixels / 255). */
export const CIFAR10_NORMALIZATION: Normalization = { scale: 1 / 255, mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };

/** MNIST's pixel/127.5 - 1 (preprocessMnist, the seed's input), for shifted MNIST training images made on the GPU. */
export const MNIST_NORMALIZATION: Normalization = { scale: 1 / 127.5, mean: [1], std: [1] };

/** 2 x / 255 - 1, in [-1, 1]: Brevitas' CNV input (`2.0 * x - 1.0` on ToTensor's [0, 1]); 256 levels, an 8-bit input. */
export const SYMMETRIC_NORMALIZATION: Normalization = { scale: 1 / 255, mean: [0.5], std: [0.5] };

export interface AugmentSettings {
  /** Zero padding on each side before the random crop (torchvision's RandomCrop padding). Default 4; 0 turns cropping off. */
  pad?: number;
  /** Random horizontal flips (probability 1/2). Default true. */
  flip?: boolean;
}

const OP = 'augmentImages';

function checkPad(pad: number): number {
  if (!Number.isInteger(pad) || pad < 0 || pad > 127) throw new ShapeError(`${OP}: pad must be an integer in 0..127, got ${pad}`);
  return pad;
}

/** Each sample's crop offsets (dy, dx uniform in 0..2*pad) and flip (a fair coin), as dy | dx << 8 | flip << 16. */
export function drawAugmentations(rng: Random, count: number, settings: AugmentSettings = {}): Uint32Array {
  const pad = checkPad(settings.pad ?? 4);
  const flip = settings.flip ?? true;
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const dy = rng.int(2 * pad + 1);
    const dx = rng.int(2 * pad + 1);
    out[i] = dy | (dx << 8) | ((flip ? rng.int(2) : 0) << 16);
  }
  return out;
}

/** The choices that change nothing (no shift, no flip): normalization alone, for evaluation. */
export function identityAugmentations(count: number, pad = 4): Uint32Array {
  return new Uint32Array(count).fill(pad | (pad << 8));
}

/** The kernel's `norm` buffer: mean[0..C) then 1/std[0..C), as f32. */
export function normalizationTable(norm: Normalization, channels: number): Float32Array {
  const { mean, std, scale } = norm;
  for (const [name, v] of [['mean', mean], ['std', std]] as const) {
    if (v.length !== 1 && v.length !== channels) throw new ShapeError(`${OP}: normalization ${name} has ${v.length} values for ${channels} channels (give 1 or ${channels})`);
  }
  if (!(std.every((s) => s > 0) && Number.isFinite(scale))) throw new ShapeError(`${OP}: normalization std must be positive and scale finite, got std [${std.join(', ')}], scale ${scale}`);
  const t = new Float32Array(2 * channels);
  for (let c = 0; c < channels; c++) {
    t[c] = mean[mean.length === 1 ? 0 : c];
    t[channels + c] = 1 / std[std.length === 1 ? 0 : c];
  }
  return t;
}

/** 8-bit pixels as a u32 tensor (4 a word, first byte least significant; the last word zero-filled). */
export function uploadPixels(gpu: Gpu, pixels: Uint8Array, label = 'pixels'): Tensor {
  const words = new Uint32Array(Math.ceil(pixels.length / 4) || 1);
  new Uint8Array(words.buffer).set(pixels);
  return gpu.upload(words, [words.length], 'u32', label);
}

export interface AugmentImagesOptions extends AugmentSettings {
  normalization: Normalization;
  /** f32 [N, H, W, C] to write into (e.g. a training step's input). */
  out?: Tensor;
  label?: string;
  workgroupSize?: number;
}

/** The images of augmentImages: 8-bit pixels (uploadPixels' u32 words) or f32 values, NHWC. */
export interface ImageBatch {
  data: Tensor;
  format: 'u8' | 'f32';
  shape: readonly [number, number, number, number];
}

/** The kernel, its bindings and grid for one batch (augmentImages runs it; data/augmenter.ts prepares it once). */
export async function augmentLaunch(gpu: Gpu, images: ImageBatch, choices: Tensor, norm: Tensor, options: Omit<AugmentImagesOptions, 'normalization'> & { scale: number }, fresh: Tensor[] = []) {
  const [n, h, w, c] = images.shape;
  if (![n, h, w, c].every((d) => Number.isInteger(d) && d >= 1)) throw new ShapeError(`${OP}: shape must be 4 positive integers [N, H, W, C], got [${images.shape.join(', ')}]`);
  const pad = checkPad(options.pad ?? 4);
  const values = n * h * w * c;
  if (images.format === 'u8') {
    const { rows } = expectRows(OP, 'pixels', images.data, 'u32');
    if (rows !== 1 || images.data.size < Math.ceil(values / 4)) throw new ShapeError(`${OP}: 8-bit pixels [${images.shape.join(', ')}] need a u32 tensor of ${Math.ceil(values / 4)} words (uploadPixels), got ${images.data}`);
  } else {
    expectRows(OP, 'pixels', images.data, 'f32');
    if (images.data.size !== values) throw new ShapeError(`${OP}: f32 images [${images.shape.join(', ')}] need ${values} values, got ${images.data}`);
  }
  expectRows(OP, 'choices', choices, 'u32');
  if (choices.size < n) throw new ShapeError(`${OP}: choices must hold one u32 per sample (${n}), got ${choices}`);
  if (norm.size !== 2 * c || norm.dtype !== 'f32') throw new ShapeError(`${OP}: norm must be f32 [${2 * c}] (normalizationTable), got ${norm}`);
  const label = options.label ?? `${OP}[${images.shape.join('x')}]`;
  const out = outputTensor(gpu, OP, 'out', options.out, 'f32', [n, h, w, c], label, fresh);
  const wg = checkWorkgroupSize(gpu, OP, options.workgroupSize);
  const kernel = await gpu.kernel({ shader: 'augment', entryPoint: images.format === 'u8' ? 'augment_u8' : 'augment_f32', constants: { WORKGROUP_SIZE: wg } });
  const bindings = {
    params: { batch: n, height: h, width: w, channels: c, pad, scale: options.scale },
    choices,
    norm,
    [images.format === 'u8' ? 'pixels_u8' : 'pixels_f32']: images.data,
    dst: out,
  };
  return { kernel, bindings, grid: gpu.grid(Math.ceil(values / wg), label), out, label };
}

/**
 * Crops, flips and normalizes a batch: out[n, y, x, c] = (v * scale - mean[c]) / std[c] with v the
 * zero-padded image's value at (y + dy - pad, xs + dx - pad), xs = flip ? W-1-x : x. Returns f32
 * [N, H, W, C] (options.out, or a new tensor).
 */
export async function augmentImages(gpu: Gpu, images: ImageBatch, choices: Tensor, options: AugmentImagesOptions): Promise<Tensor> {
  const c = images.shape[3];
  const norm = gpu.upload(normalizationTable(options.normalization, c), [2 * c], 'f32', `${OP}.norm`);
  const fresh: Tensor[] = [];
  try {
    const l = await augmentLaunch(gpu, images, choices, norm, { ...options, scale: options.normalization.scale }, fresh);
    await gpu.run(l.label, (rec) => rec.dispatch(l.kernel, l.bindings, l.grid));
    return l.out;
  } catch (err) {
    for (const t of fresh) t.release();
    throw err;
  } finally {
    norm.release();
  }
}

/**
 * CPU reference of augmentImages, in the kernel's f32 operations and order:
 * fround(fround(fround(v * scale) - mean) * fround(1 / std)). The GPU may fuse the multiply and
 * the subtraction (one rounding fewer): results agree within 2^-21 (1 + |out|) (test/augment).
 */
export function augmentReference(pixels: Uint8Array | Float32Array, shape: readonly [number, number, number, number], choices: Uint32Array, options: AugmentSettings & { normalization: Normalization }): Float32Array {
  const [n, h, w, c] = shape;
  const pad = checkPad(options.pad ?? 4);
  const table = normalizationTable(options.normalization, c);
  const scale = Math.fround(options.normalization.scale);
  const out = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++) {
    const choice = choices[b];
    const dy = choice & 0xff;
    const dx = (choice >> 8) & 0xff;
    const flip = (choice >> 16) & 1;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const sy = y + dy - pad;
        const sx = (flip ? w - 1 - x : x) + dx - pad;
        const inside = sy >= 0 && sx >= 0 && sy < h && sx < w;
        for (let ch = 0; ch < c; ch++) {
          const v = inside ? pixels[((b * h + sy) * w + sx) * c + ch] : 0;
          out[((b * h + y) * w + x) * c + ch] = Math.fround(Math.fround(Math.fround(v * scale) - table[ch]) * table[c + ch]);
        }
      }
    }
  }
  return out;
}

/** Normalization alone on the CPU (evaluation inputs): augmentReference with identity choices. */
export function normalizeImages(pixels: Uint8Array, channels: number, norm: Normalization, out?: Float32Array): Float32Array {
  const table = normalizationTable(norm, channels);
  const scale = Math.fround(norm.scale);
  const lut = new Float32Array(256 * channels);
  for (let ch = 0; ch < channels; ch++) for (let v = 0; v < 256; v++) lut[ch * 256 + v] = Math.fround(Math.fround(Math.fround(v * scale) - table[ch]) * table[channels + ch]);
  const result = out ?? new Float32Array(pixels.length);
  if (result.length !== pixels.length) throw new RangeError(`normalizeImages: out holds ${result.length} floats for ${pixels.length} pixels`);
  for (let i = 0; i < pixels.length; i++) result[i] = lut[(i % channels) * 256 + pixels[i]];
  return result;
}
