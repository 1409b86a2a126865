// Errors the library throws. Each names its cause and, where there is one, the fix.

/** No WebGPU adapter or device could be had. */
export class WebGpuUnavailableError extends Error {
  override name = 'WebGpuUnavailableError';
}

/** A WGSL compilation, pipeline or validation error, or an out-of-memory, raised by a named kernel or pass. */
export class GpuKernelError extends Error {
  override name = 'GpuKernelError';
  constructor(readonly kernel: string, message: string) {
    super(`${kernel}: ${message}`);
  }
}

/** The GPU device was lost (driver reset, device.destroy(), out of memory...). */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
}

/** A shape, dtype or size that the library refuses before touching the GPU. */
export class ShapeError extends RangeError {
  override name = 'ShapeError';
}

/** A request over one of the device's limits (buffer binding size, workgroups per dimension...). */
export class LimitError extends RangeError {
  override name = 'LimitError';
}

/** A setting the library does not know: an option value, or an environment variable such as BNN_TUNING. */
export class ConfigError extends TypeError {
  override name = 'ConfigError';
}
