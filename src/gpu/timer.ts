// GPU-side timing with timestamp queries: while a timer is attached to a Gpu, every `run` writes
// the start and end of its compute pass, and `read()` returns each run's duration. Used by the
// benchmarks when the adapter has 'timestamp-query'; wall-clock timing is the fallback.

export interface TimedRun {
  label: string;
  /** GPU time of the run's compute pass, in milliseconds. */
  ms: number;
}

export class GpuTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolve: GPUBuffer;
  private readonly labels: string[] = [];

  constructor(
    private readonly device: GPUDevice,
    readonly capacity = 256,
  ) {
    this.querySet = device.createQuerySet({ label: 'GpuTimer.queries', type: 'timestamp', count: 2 * capacity });
    this.resolve = device.createBuffer({
      label: 'GpuTimer.resolve',
      size: 16 * capacity,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  /** Timestamp writes for the next run, or undefined once the timer is full. */
  next(label: string): GPUComputePassTimestampWrites | undefined {
    const i = this.labels.length;
    if (i >= this.capacity) return undefined;
    this.labels.push(label);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Durations of the runs recorded so far (waits for the GPU), then clears the timer. */
  async read(): Promise<TimedRun[]> {
    const n = this.labels.length;
    if (n === 0) return [];
    const staging = this.device.createBuffer({ label: 'GpuTimer.readback', size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.device.createCommandEncoder({ label: 'GpuTimer.read' });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolve, 0);
    encoder.copyBufferToBuffer(this.resolve, 0, staging, 0, 16 * n);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const ticks = new BigUint64Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    const runs = this.labels.map((label, i) => ({ label, ms: Number(ticks[2 * i + 1] - ticks[2 * i]) / 1e6 }));
    this.labels.length = 0;
    return runs;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolve.destroy();
  }
}
