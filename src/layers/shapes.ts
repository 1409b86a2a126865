// Shape arithmetic the layer kinds share: windows (convolution, pooling), TensorFlow's 'same'
// padding, element counts bounded to what a tensor can index.
import { fail } from './config-readers.js';
import type { Padding } from './config-readers.js';

/** Most elements a tensor may hold (indices are i32 in the kernels). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/** Output size of a window over `size` elements (Keras's conv_output_length). */
export function windowOut(size: number, k: number, stride: number, dilation: number, pad: Padding): number {
  const eff = (k - 1) * dilation + 1;
  return pad === 'same' ? Math.ceil(size / stride) : Math.floor((size - eff) / stride) + 1;
}

/** TensorFlow's 'same' padding before the first element (the larger half goes after). */
export function padBefore(size: number, out: number, k: number, stride: number): number {
  return Math.floor(Math.max((out - 1) * stride + k - size, 0) / 2);
}

/** The shape's element count, refused past MAX_ELEMENTS. */
export function checkedCount(shape: number[], at: string): number {
  const n = shape.reduce((a, b) => a * b, 1);
  if (!(n <= MAX_ELEMENTS)) fail(at, `shape [${shape}] has ${n} elements, more than 2^31 - 1`);
  return n;
}

export const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** A Keras axis (counting the batch axis; negative from the end) as an index into a shape of `rank` without the batch. */
export function axisOf(axis: number, rank: number): number {
  return axis < 0 ? rank + axis : axis - 1;
}

/** `shape` as [height, width, channels], else a ModelFormatError at `at`. */
export function imageShape(shape: number[], at: string): [number, number, number] {
  if (shape.length !== 3) fail(at, `input shape [${shape}] is not [height, width, channels]`);
  return shape as [number, number, number];
}
