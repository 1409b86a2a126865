// The training pipeline's augmentation: each batch's 8-bit pixels uploaded, its random crops and
// flips drawn from (seed, epoch, batch) alone (a resumed run draws what the uninterrupted run
// drew), and the kernel (src/ops/augment.ts) writing the normalized images straight into the
// training step's input tensor. Tensors and dispatches are made once per batch size.
import type { Dispatch, Gpu } from '../gpu/context.js';
import { Random } from '../random.js';
import type { Tensor } from '../tensor.js';
import { augmentLaunch, drawAugmentations, normalizationTable, type AugmentSettings, type Normalization } from '../ops/augment.js';
import { epochSeed } from './batches.js';

export interface ImageAugmenterOptions extends AugmentSettings {
  /** One sample's [height, width, channels]. */
  shape: readonly [number, number, number];
  normalization: Normalization;
  /** The run's seed. */
  seed: number;
  label?: string;
}

/** What fit() asks of a batch augmentation: write batch (epoch, index)'s inputs into `out` on the GPU. */
export interface BatchAugmentation {
  apply(batch: { pixels: Uint8Array; size: number; epoch: number; index: number }, out: Tensor): Promise<void>;
}

/** The seed of batch `index` of epoch `epoch`'s choices (apart from the shuffle's seeds by a constant). */
export function augmentSeed(seed: number, epoch: number, index: number): number {
  return epochSeed(epochSeed(seed, epoch) ^ 0x41756721, index);
}

interface SizeSlot {
  pixels: Tensor;
  choices: Tensor;
  dispatches: Map<Tensor, Dispatch>;
}

export class ImageAugmenter implements BatchAugmentation {
  private readonly slots = new Map<number, SizeSlot>();
  private readonly norm: Tensor;
  readonly label: string;

  constructor(
    readonly gpu: Gpu,
    readonly options: ImageAugmenterOptions,
  ) {
    this.label = options.label ?? 'augment';
    const c = options.shape[2];
    this.norm = gpu.upload(normalizationTable(options.normalization, c), [2 * c], 'f32', `${this.label}.norm`);
  }

  /** The choices of batch (epoch, index) of `size` samples (what apply uploads). */
  choices(size: number, epoch: number, index: number): Uint32Array {
    return drawAugmentations(new Random(augmentSeed(this.options.seed, epoch, index)), size, this.options);
  }

  async apply(batch: { pixels: Uint8Array; size: number; epoch: number; index: number }, out: Tensor): Promise<void> {
    const { size } = batch;
    const [h, w, c] = this.options.shape;
    const words = Math.ceil((size * h * w * c) / 4);
    let slot = this.slots.get(size);
    if (!slot) {
      slot = {
        pixels: this.gpu.tensor([words], 'u32', `${this.label}.pixels[${size}]`),
        choices: this.gpu.tensor([size], 'u32', `${this.label}.choices[${size}]`),
        dispatches: new Map(),
      };
      this.slots.set(size, slot);
    }
    let d = slot.dispatches.get(out);
    if (!d) {
      const images = { data: slot.pixels, format: 'u8' as const, shape: [size, h, w, c] as const };
      const l = await augmentLaunch(this.gpu, images, slot.choices, this.norm, { ...this.options, scale: this.options.normalization.scale, out, label: `${this.label}[${size}]` });
      d = await this.gpu.prepare(l.label, l.kernel, l.bindings, l.grid);
      slot.dispatches.set(out, d);
    }
    if (batch.pixels.length !== size * h * w * c) throw new RangeError(`${this.label}: a batch of ${size} needs ${size * h * w * c} pixels, got ${batch.pixels.length}`);
    // writeBuffer copies at the call and is ordered after earlier submits (see BatchUploader).
    const padded = new Uint8Array(words * 4);
    padded.set(batch.pixels);
    this.gpu.write(slot.pixels, new Uint32Array(padded.buffer));
    this.gpu.write(slot.choices, this.choices(size, batch.epoch, batch.index));
    await this.gpu.run(d.label, (rec) => rec.record(d));
  }

  destroy(): void {
    for (const s of this.slots.values()) {
      for (const d of s.dispatches.values()) d.destroy();
      s.pixels.release();
      s.choices.release();
    }
    this.slots.clear();
    this.norm.release();
  }
}
