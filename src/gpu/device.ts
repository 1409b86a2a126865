// One way to get a WebGPU device: navigator.gpu in browsers, Dawn (the `webgpu` package) in Node,
// with SwiftShader's Vulkan driver as the Node fallback when no hardware adapter answers.
import { WebGpuUnavailableError } from './errors.js';

/** SwiftShader's Vulkan ICD as Debian's `chromium` package installs it. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU implementations (SwiftShader, lavapipe, WARP). */
  isSoftware: boolean;
  /** Where the device came from: 'browser', 'node', or 'node-swiftshader' (the fallback). */
  backend: 'browser' | 'node' | 'node-swiftshader';
}

/** Optional features the library uses when the adapter has them. */
export interface GpuFeatureSet {
  subgroups: boolean;
  timestampQuery: boolean;
  shaderF16: boolean;
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapter: AdapterSummary;
  features: GpuFeatureSet;
}

export interface RequestDeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Skip hardware adapters and use SwiftShader directly (Node only). */
  forceSoftware?: boolean;
  /** Where informational lines go (which adapter was picked). Default: console.warn. null: silent. */
  log?: ((line: string) => void) | null;
}

const OPTIONAL_FEATURES: GPUFeatureName[] = ['subgroups', 'timestamp-query', 'shader-f16'] as GPUFeatureName[];

/** Limits the engine asks for at the adapter's maximum: they bound tensor sizes and tiles. */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage',
] as const;

// Dawn instances, one per VK_ICD_FILENAMES they were created under, kept and reused: an instance
// must outlive every device made from it (Dawn crashes when a dropped one is collected).
const dawnInstances = new Map<string, GPU>();
let announced = false;

/** Where options.log sends informational lines: console.warn by default, nowhere for null. */
export function logOf(options: RequestDeviceOptions): ((line: string) => void) | null {
  return options.log === undefined ? (line: string) => console.warn(line) : options.log;
}

export async function acquireDevice(options: RequestDeviceOptions = {}): Promise<AcquiredDevice> {
  const log = logOf(options);
  const found = isBrowser() ? await browserAdapter(options) : await nodeAdapter(options);
  const { adapter, backend } = found;

  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ label: 'webgpu-bnn', requiredFeatures: features, requiredLimits });
  } catch (err) {
    throw new WebGpuUnavailableError(`the adapter refused a device: ${(err as Error).message}`);
  }
  const summary = summarize(adapter.info, backend);
  if (log && !announced) {
    announced = true;
    log(`webgpu-bnn: using ${describeAdapter(summary)}`);
  }
  return {
    device,
    adapter: summary,
    features: {
      subgroups: device.features.has('subgroups'),
      timestampQuery: device.features.has('timestamp-query'),
      shaderF16: device.features.has('shader-f16'),
    },
  };
}

export function describeAdapter(a: AdapterSummary): string {
  const name = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' ');
  return `${name || 'unknown adapter'} (${a.isSoftware ? 'software, CPU' : 'hardware'}; ${a.backend})`;
}

/** A browser page or worker (no process environment, navigator.gpu), as opposed to Node. */
export function isBrowser(): boolean {
  return typeof window !== 'undefined' || (typeof self !== 'undefined' && typeof (globalThis as { importScripts?: unknown }).importScripts === 'function');
}

async function browserAdapter(options: RequestDeviceOptions) {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new WebGpuUnavailableError(
      'navigator.gpu is missing: this browser has no WebGPU, or the page is not a secure context. ' +
        'Use Chrome/Edge 113+ (or Chromium with --enable-unsafe-webgpu on Linux), Safari 26+, or Firefox 141+, ' +
        'and serve the page over https or from localhost.',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference });
  if (!adapter) {
    throw new WebGpuUnavailableError(
      'navigator.gpu.requestAdapter() returned null: WebGPU is present but no adapter is available ' +
        '(blocklisted GPU or driver). On Linux try chrome://flags/#enable-unsafe-webgpu and #enable-vulkan.',
    );
  }
  return { adapter, backend: 'browser' as const };
}

async function nodeAdapter(options: RequestDeviceOptions) {
  const env = process.env;
  env.XDG_RUNTIME_DIR ??= '/tmp'; // silences a harmless Dawn/Vulkan error line
  const dawn = await loadDawn();
  if (!options.forceSoftware && !env.VK_ICD_FILENAMES) {
    const adapter = await dawnInstance(dawn).requestAdapter({ powerPreference: options.powerPreference });
    if (adapter) return { adapter, backend: 'node' as const };
  }
  // Dawn reads VK_ICD_FILENAMES when an instance is created, so a new instance sees SwiftShader.
  const { existsSync } = await import('node:fs');
  if (!env.VK_ICD_FILENAMES) {
    if (!existsSync(SWIFTSHADER_ICD)) {
      throw new WebGpuUnavailableError(
        'no WebGPU adapter found in Node, and no software fallback: SwiftShader is missing ' +
          `(${SWIFTSHADER_ICD}). Fix: run where a GPU with a Vulkan driver is present, or install ` +
          "Debian's `chromium` (SwiftShader) and `libvulkan1`: apt-get install -y chromium libvulkan1.",
      );
    }
    env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  const adapter = await dawnInstance(dawn).requestAdapter({ powerPreference: options.powerPreference });
  if (!adapter) {
    throw new WebGpuUnavailableError(
      `no WebGPU adapter found in Node, even with VK_ICD_FILENAMES=${env.VK_ICD_FILENAMES}. ` +
        "Fix: install the Vulkan loader and SwiftShader (apt-get install -y libvulkan1 chromium), " +
        'or run where a GPU with a Vulkan driver is present.',
    );
  }
  const usesSwiftShader = env.VK_ICD_FILENAMES === SWIFTSHADER_ICD || adapter.info.architecture === 'swiftshader';
  return { adapter, backend: usesSwiftShader ? ('node-swiftshader' as const) : ('node' as const) };
}

function dawnInstance(dawn: { create(flags: string[]): GPU }): GPU {
  const icd = process.env.VK_ICD_FILENAMES ?? '';
  let gpu = dawnInstances.get(icd);
  if (!gpu) dawnInstances.set(icd, (gpu = dawn.create([])));
  return gpu;
}

async function loadDawn(): Promise<{ create(flags: string[]): GPU; globals: object }> {
  // A computed specifier keeps bundlers from pulling the Node-only package into browser builds.
  const specifier = 'webgpu';
  let mod: { create(flags: string[]): GPU; globals: object };
  try {
    mod = await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);
  } catch (err) {
    throw new WebGpuUnavailableError(
      `cannot load the \`webgpu\` package (Dawn for Node): ${(err as Error).message}. Fix: npm install webgpu`,
    );
  }
  // GPUBufferUsage, GPUMapMode, ... as a browser defines them.
  for (const [k, v] of Object.entries(mod.globals)) (globalThis as Record<string, unknown>)[k] ??= v;
  return mod;
}

function summarize(info: GPUAdapterInfo, backend: AdapterSummary['backend']): AdapterSummary {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    isSoftware: /swiftshader|llvmpipe|lavapipe|warp|software|cpu/.test(text),
    backend,
  };
}
