// CIFAR-10's official binary batches (data_batch_1..5.bin, test_batch.bin), read from bytes and
// written: pure bytes in and out, so the browser can fetch the same files. Images come out NHWC
// (our models' layout), u8 [count, 32, 32, 3].
//
// A record is 1 label byte then 3072 pixel bytes: the red plane, the green plane, the blue plane,
// each 32x32 row-major (Krizhevsky 2009; https://www.cs.toronto.edu/~kriz/cifar.html).
import { DataFormatError } from './idx.js';

/** The classes in label order (batches.meta.txt of the binary version). */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

export const CIFAR10_SIDE = 32;
const PLANE = CIFAR10_SIDE * CIFAR10_SIDE;
export const CIFAR10_PIXELS = 3 * PLANE;
export const CIFAR10_RECORD = 1 + CIFAR10_PIXELS;

/** The official files of each split and the records each split holds. */
export const CIFAR10_FILES = {
  train: { files: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'], count: 50_000 },
  test: { files: ['test_batch.bin'], count: 10_000 },
} as const;

export type Cifar10Split = keyof typeof CIFAR10_FILES;

/** Labelled 32x32 RGB images: sample i is images[i*3072 .. (i+1)*3072), NHWC (y, x, channel), and labels[i] in 0..9. */
export interface Cifar10Data {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

const REFETCH = 'Download cifar-10-binary.tar.gz again from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it (tar xzf)';

/** Parses one binary batch: its size must be a whole number of 3073-byte records and every label 0..9. */
export function readCifarBatch(file: Uint8Array | ArrayBuffer, name = 'CIFAR-10 batch'): Cifar10Data {
  const bytes = file instanceof Uint8Array ? file : new Uint8Array(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) throw new DataFormatError(name, 'this is a gzip file, not a CIFAR-10 binary batch', 'Unpack the download first (tar xzf cifar-10-binary.tar.gz) and read the data_batch_*.bin files inside');
  if (bytes.length === 0 || bytes.length % CIFAR10_RECORD !== 0) {
    const whole = Math.floor(bytes.length / CIFAR10_RECORD);
    throw new DataFormatError(name, `${bytes.length} bytes is not a multiple of the ${CIFAR10_RECORD}-byte record (1 label + 3072 pixels): ${whole} whole records and ${bytes.length - whole * CIFAR10_RECORD} bytes left over`, `The file is truncated or not a CIFAR-10 binary batch (the Python version's pickles are not): ${REFETCH}`);
  }
  const count = bytes.length / CIFAR10_RECORD;
  const images = new Uint8Array(count * CIFAR10_PIXELS);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const at = i * CIFAR10_RECORD;
    const label = bytes[at];
    if (label >= CIFAR10_CLASSES.length) {
      throw new DataFormatError(name, `label ${label} of record ${i} (byte ${at}) is outside 0..9`, `The file is damaged or not CIFAR-10 (CIFAR-100's records have 2 label bytes): ${REFETCH}`);
    }
    labels[i] = label;
    planarToNhwc(bytes.subarray(at + 1, at + CIFAR10_RECORD), images.subarray(i * CIFAR10_PIXELS, (i + 1) * CIFAR10_PIXELS));
  }
  return { images, labels, count };
}

/** Writes samples as a binary batch (tests write small files; the JPEG archive's decoded cache uses it too). */
export function writeCifarBatch(data: Cifar10Data): Uint8Array {
  const { images, labels, count } = data;
  if (images.length !== count * CIFAR10_PIXELS || labels.length !== count) {
    throw new RangeError(`writeCifarBatch: ${count} samples need ${count * CIFAR10_PIXELS} pixels and ${count} labels, got ${images.length} and ${labels.length}`);
  }
  const out = new Uint8Array(count * CIFAR10_RECORD);
  for (let i = 0; i < count; i++) {
    if (labels[i] >= CIFAR10_CLASSES.length) throw new RangeError(`writeCifarBatch: label ${labels[i]} of sample ${i} is outside 0..9`);
    const at = i * CIFAR10_RECORD;
    out[at] = labels[i];
    const src = images.subarray(i * CIFAR10_PIXELS, (i + 1) * CIFAR10_PIXELS);
    for (let p = 0; p < PLANE; p++) for (let c = 0; c < 3; c++) out[at + 1 + c * PLANE + p] = src[p * 3 + c];
  }
  return out;
}

function planarToNhwc(planes: Uint8Array, out: Uint8Array): void {
  for (let p = 0; p < PLANE; p++) {
    out[p * 3] = planes[p];
    out[p * 3 + 1] = planes[PLANE + p];
    out[p * 3 + 2] = planes[2 * PLANE + p];
  }
}

/** Samples of several batches back to back (a split's files in order), optionally only the first `limit`. */
export function concatCifar(parts: Cifar10Data[], limit?: number): Cifar10Data {
  const total = parts.reduce((n, p) => n + p.count, 0);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > total)) {
    throw new RangeError(`CIFAR-10 limit must be an integer in 1..${total} (the samples there are), got ${limit}`);
  }
  const count = limit ?? total;
  const images = new Uint8Array(count * CIFAR10_PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const p of parts) {
    const n = Math.min(p.count, count - at);
    if (n <= 0) break;
    images.set(p.images.subarray(0, n * CIFAR10_PIXELS), at * CIFAR10_PIXELS);
    labels.set(p.labels.subarray(0, n), at);
    at += n;
  }
  return { images, labels, count };
}
