// The page's GPU: one Gpu at a time, its adapter's name, and the device-lost signal. A device this
// page destroys itself (a restart) is not reported as lost; any other loss is.
import { Gpu, WebGpuUnavailableError } from 'webgpu-bnn';

export class GpuSession {
  private current: Gpu | null = null;
  private pending: Promise<Gpu> | null = null;
  private readonly retired = new WeakSet<GPUDevice>();
  /** Called once per device lost without the page asking (driver reset, out of memory, device.destroy() from elsewhere). */
  onLost: (info: GPUDeviceLostInfo) => void = () => {};
  /** Called when a new Gpu is ready. */
  onReady: (gpu: Gpu) => void = () => {};

  /** The live Gpu, created on first use. */
  acquire(): Promise<Gpu> {
    if (this.current) return Promise.resolve(this.current);
    this.pending ??= Gpu.create({ log: null }).then(
      (gpu) => {
        this.current = gpu;
        this.pending = null;
        gpu.device.lost.then((info) => {
          if (this.current === gpu) this.current = null;
          if (!this.retired.has(gpu.device)) this.onLost(info);
        });
        this.onReady(gpu);
        return gpu;
      },
      (err) => {
        this.pending = null;
        throw err;
      },
    );
    return this.pending;
  }

  /** The live Gpu, or null when none was created yet or it was lost. */
  get gpu(): Gpu | null {
    return this.current;
  }

  /** Drops the current device (if any) and creates a new one. */
  async restart(): Promise<Gpu> {
    const old = this.current;
    this.current = null;
    if (old) {
      this.retired.add(old.device);
      old.destroy();
    }
    return this.acquire();
  }
}

/** What to do when WebGPU is missing: the library's reason, and the browser versions and flags that give it. */
export function webGpuHelp(err: unknown): string {
  const lines: string[] = [];
  if (!globalThis.isSecureContext) {
    lines.push(`This page is not a secure context (${location.origin}): WebGPU exists only on https:// or on http://localhost / 127.0.0.1. Open it through \`npm run web\`'s URL.`);
  } else if (!('gpu' in navigator)) {
    lines.push(
      'This browser has no WebGPU (navigator.gpu is missing). It runs in Chrome or Edge 113 or newer (Windows, macOS, ChromeOS; Android 121+), Safari 26+, and Firefox 141+ (Windows).',
      'Chrome or Chromium on Linux: enable chrome://flags/#enable-unsafe-webgpu (and #enable-vulkan), or start it with --enable-unsafe-webgpu --enable-features=Vulkan.',
    );
  } else {
    lines.push('WebGPU is present but gave no usable adapter (a blocklisted GPU or driver). Try chrome://flags/#enable-unsafe-webgpu, update the GPU driver, or check chrome://gpu.');
  }
  if (err instanceof WebGpuUnavailableError || err instanceof Error) lines.push(`Details: ${err.message}`);
  return lines.join('\n');
}
