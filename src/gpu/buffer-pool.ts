// Reuses GPU storage buffers: a released buffer goes back to a free list of its size class and the
// next request of that class takes it, so steady-state inference and training allocate nothing.

/**
 * Size classes: sizes round up to 16 bytes below 4 KiB, and above that to a multiple of 1/8 of the
 * next power of two, so a buffer is at most 25% larger than asked (12.5% for sizes just under a
 * power of two).
 */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, bytes);
  if (b <= 4096) return Math.ceil(b / 16) * 16;
  const step = 2 ** Math.ceil(Math.log2(b)) / 8;
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly usage: number;
  /** Bytes held by buffers handed out and not yet released. */
  inUseBytes = 0;
  /** Bytes held by released buffers waiting for reuse. */
  freeBytes = 0;

  /** `maxBytes`: the device's maxBufferSize; a size class never rounds past it. */
  constructor(
    private readonly device: GPUDevice,
    private readonly maxBytes = Infinity,
  ) {
    // Read here, not at module load: in Node GPUBufferUsage exists once the `webgpu` package is loaded.
    this.usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  }

  acquire(bytes: number, label: string): GPUBuffer {
    let size = sizeClass(bytes);
    if (size > this.maxBytes) size = Math.ceil(bytes / 4) * 4;
    const reused = this.free.get(size)?.pop();
    this.inUseBytes += size;
    if (!reused) return this.device.createBuffer({ label, size, usage: this.usage });
    this.freeBytes -= size;
    reused.label = label;
    return reused;
  }

  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    this.inUseBytes -= size;
    this.freeBytes += size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
  }

  /** Destroys every free buffer (buffers in use are untouched). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.freeBytes = 0;
  }
}
