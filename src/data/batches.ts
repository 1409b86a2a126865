// Epochs of batches: a seeded shuffle per epoch, batches of preprocessed inputs and labels, and
// their upload to the GPU into two alternating sets of tensors (double-buffered).
import { Random } from '../random.js';
import { ShapeError } from '../gpu/errors.js';
import type { Gpu } from '../gpu/context.js';
import type { Tensor } from '../tensor.js';
import { preprocessMnist } from './mnist.js';

/** Labelled samples of `images.length / count` u8 features each (MnistData is one). */
export interface LabeledSamples {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/**
 * The seed of epoch `epoch`'s shuffle under the run's `seed`: a hash of the pair (murmur3's
 * finalizer of seed + epoch * golden ratio), so the order depends on (seed, epoch) only and a
 * run resumed at epoch e shuffles exactly as the uninterrupted run did.
 */
export function epochSeed(seed: number, epoch: number): number {
  let h = ((seed >>> 0) + Math.imul(epoch >>> 0, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The sample order of one epoch: a Fisher-Yates shuffle of 0..count-1 with Random(epochSeed(seed, epoch)). */
export function epochOrder(count: number, seed: number, epoch: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const rng = new Random(epochSeed(seed, epoch));
  for (let i = count - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Batches per epoch: the last partial one counts unless dropped. */
export function batchCount(count: number, batchSize: number, dropRemainder = false): number {
  return dropRemainder ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

export interface BatchOptions {
  batchSize: number;
  /** The run's seed; epoch e's order comes from (seed, e) alone (see epochSeed). */
  seed: number;
  epoch: number;
  /** Leave out the last batch when it has fewer than batchSize samples. Default false. */
  dropRemainder?: boolean;
  /** Shuffle (default true); false keeps file order (evaluation). */
  shuffle?: boolean;
  /** Pixels to model inputs; default preprocessMnist (pixel/127.5 - 1). null: no inputs (the GPU makes them from `pixels`). */
  preprocess?: ((pixels: Uint8Array, out: Float32Array) => Float32Array) | null;
}

export interface Batch {
  epoch: number;
  /** Position of the batch within its epoch. */
  index: number;
  /** Samples in it: batchSize, or fewer for the last one. */
  size: number;
  /** The samples' indices in the data set. */
  indices: Uint32Array;
  /** size x features preprocessed inputs, row-major (empty with preprocess null). */
  inputs: Float32Array;
  /** The samples' u8 features (pixels), size x features. */
  pixels: Uint8Array;
  /** The classes, as u32 for the GPU. */
  labels: Uint32Array;
}

/** One epoch's batches, in the order of epochOrder(count, seed, epoch). Each batch has fresh arrays. */
export function* epochBatches(data: LabeledSamples, options: BatchOptions): Generator<Batch> {
  const { batchSize, seed, epoch, dropRemainder = false, shuffle = true, preprocess = preprocessMnist } = options;
  const { count, images, labels } = data;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`epoch must be a non-negative integer, got ${epoch}`);
  const features = images.length / count;
  if (!Number.isInteger(features) || labels.length !== count) {
    throw new ShapeError(`epochBatches: ${images.length} pixels and ${labels.length} labels do not make ${count} samples`);
  }
  const order = shuffle ? epochOrder(count, seed, epoch) : Uint32Array.from({ length: count }, (_, i) => i);
  const batches = batchCount(count, batchSize, dropRemainder);
  for (let b = 0; b < batches; b++) {
    const indices = order.subarray(b * batchSize, Math.min(count, (b + 1) * batchSize));
    const size = indices.length;
    const pixels = new Uint8Array(size * features);
    const classes = new Uint32Array(size);
    for (let k = 0; k < size; k++) {
      const i = indices[k];
      pixels.set(images.subarray(i * features, (i + 1) * features), k * features);
      classes[k] = labels[i];
    }
    const inputs = preprocess ? preprocess(pixels, new Float32Array(size * features)) : new Float32Array(0);
    yield { epoch, index: b, size, indices: indices.slice(), inputs, pixels, labels: classes };
  }
}

/** A batch on the GPU: inputs f32 [size, features], labels u32 [size], in slot 0 or 1. */
export interface UploadedBatch {
  inputs: Tensor;
  labels: Tensor;
  size: number;
  slot: 0 | 1;
}

export interface BatchUploaderOptions {
  /** Inputs per sample (784 for MNIST). */
  features: number;
  /** Prefix of the tensors' labels. */
  label?: string;
}

/**
 * Uploads batches into two alternating sets of tensors (per batch size, from the Gpu's pool), so
 * batch k+1 is written while batch k's work runs. The tensors of a (size, slot) stay the same for
 * the uploader's life: a caller may prepare its dispatches once per slot.
 *
 * Why this is safe: gpu.write is queue.writeBuffer, an operation on the queue's timeline, ordered
 * after every submit made before it. Batch k+1's write goes to the other slot, and batch k+2's
 * write to slot k's tensors is ordered after the submit of batch k's work, so that work has read
 * its inputs before they change, with no wait on the CPU. writeBuffer also copies the host array
 * when called, so the caller may reuse it at once. The one rule: submit the work of batch k before
 * uploading batch k+2 (at most one batch uploaded ahead of the submitted work).
 * One set of tensors would be correct too, by the same ordering, but then each copy targets the
 * buffer the last submitted step reads, and the implementation must hold the copy until that step
 * is done (a write-after-read barrier); with two, the copy goes to a buffer no pending step reads.
 */
export class BatchUploader {
  private readonly slots = new Map<number, [UploadedBatch, UploadedBatch]>();
  private next: 0 | 1 = 0;

  readonly features: number;
  readonly label: string;

  constructor(
    readonly gpu: Gpu,
    options: BatchUploaderOptions,
  ) {
    const { features, label = 'batch' } = options;
    this.features = features;
    this.label = label;
    if (!Number.isInteger(features) || features < 1) throw new ShapeError(`${label}: features must be a positive integer, got ${features}`);
  }

  /** Writes the batch into the next slot's tensors and returns them. */
  upload(batch: Pick<Batch, 'size' | 'inputs' | 'labels'>): UploadedBatch {
    const { size, inputs, labels } = batch;
    if (inputs.length !== size * this.features || labels.length !== size) {
      throw new ShapeError(`${this.label}: a batch of ${size} needs ${size * this.features} inputs and ${size} labels, got ${inputs.length} and ${labels.length}`);
    }
    let pair = this.slots.get(size);
    if (!pair) {
      const make = (slot: 0 | 1): UploadedBatch => ({
        inputs: this.gpu.tensor([size, this.features], 'f32', `${this.label}.inputs[${size}].slot${slot}`),
        labels: this.gpu.tensor([size], 'u32', `${this.label}.labels[${size}].slot${slot}`),
        size,
        slot,
      });
      pair = [make(0), make(1)];
      this.slots.set(size, pair);
    }
    const slot = pair[this.next];
    this.next = this.next === 0 ? 1 : 0;
    this.gpu.write(slot.inputs, inputs);
    this.gpu.write(slot.labels, labels);
    return slot;
  }

  /** Returns every tensor to the pool; the uploader and the tensors it gave out must not be used afterwards. */
  release(): void {
    for (const pair of this.slots.values()) for (const s of pair) (s.inputs.release(), s.labels.release());
    this.slots.clear();
  }
}
