// Tensors: a GPU buffer with a shape and a dtype. `b1` holds values in {-1,+1} bit-packed 32 per
// u32 along the last axis, following src/bitpack.ts (ceil(n/32) words per row, pad bits 0).
import { wordsPerRow, unpackRows } from './bitpack.js';
import { ShapeError } from './gpu/errors.js';
import type { Gpu } from './gpu/context.js';

export type DType = 'f32' | 'i32' | 'u32' | 'b1';
export type Shape = readonly number[];
export type HostArray = Float32Array | Int32Array | Uint32Array;

export function checkShape(shape: Shape, what = 'shape'): void {
  if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${what} must be a non-empty list of positive integers, got [${String(shape)}]`);
  }
}

export function elementCount(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** u32 words of storage: one per element, or ceil(last/32) per row for b1. */
export function storageWords(shape: Shape, dtype: DType): number {
  if (dtype !== 'b1') return elementCount(shape);
  const last = shape[shape.length - 1];
  return (elementCount(shape) / last) * wordsPerRow(last);
}

export class Tensor {
  private released = false;

  constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly label: string,
  ) {}

  /** Number of logical elements (values, not words). */
  get size(): number {
    return elementCount(this.shape);
  }

  /** Bytes of storage the tensor's data occupies (the buffer may be larger). */
  get byteLength(): number {
    return storageWords(this.shape, this.dtype) * 4;
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** Reads the raw storage back: floats, ints, or for b1 the packed words. Explicit and async. */
  async read(): Promise<HostArray> {
    this.assertLive();
    return this.gpu.read(this);
  }

  /** Reads back as floats; b1 values are unpacked to +-1. */
  async toFloat32(): Promise<Float32Array> {
    const raw = await this.read();
    if (this.dtype === 'b1') {
      const cols = this.shape[this.shape.length - 1];
      return unpackRows(raw as Uint32Array, this.size / cols, cols);
    }
    return raw instanceof Float32Array ? raw : Float32Array.from(raw);
  }

  /** Returns the buffer to the pool. The tensor must not be used afterwards. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.gpu.pool.release(this.buffer);
  }

  assertLive(): void {
    if (this.released) throw new Error(`tensor '${this.label}' was released and cannot be used`);
  }

  toString(): string {
    return `Tensor(${this.label}: ${this.dtype}[${this.shape.join(', ')}])`;
  }
}
