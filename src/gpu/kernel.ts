// Kernels: a WGSL entry point with its override constants, compiled once and cached under a key
// derived from (shader, entry point, constants). Bind group layouts and uniform packing come from
// wgsl_reflect's reflection of the shader, so kernels are called by binding name, never by index.
// The ES build, by path: see src/types/wgsl-reflect-module.d.ts.
import { WgslReflect, ResourceType, type VariableInfo } from 'wgsl_reflect/wgsl_reflect.module.js';
import { shaderSources, type ShaderName } from '../generated/shaders.js';
import { GpuKernelError, LimitError } from './errors.js';

export type OverrideValues = Readonly<Record<string, number | boolean>>;

export interface KernelSpec {
  shader: ShaderName;
  entryPoint: string;
  constants?: OverrideValues;
}

/** A scalar or small vector per member of a uniform struct, by member name. */
export type UniformValues = Readonly<Record<string, number | readonly number[]>>;

/** Anything that owns a GPU buffer (a Tensor) or the buffer itself. */
export type BufferLike = GPUBuffer | { readonly buffer: GPUBuffer; readonly byteLength?: number };

export type BindingValues = Readonly<Record<string, BufferLike | UniformValues>>;

interface UniformMember {
  name: string;
  offset: number;
  scalar: 'u32' | 'i32' | 'f32';
  count: number;
}

interface BindingInfo {
  name: string;
  group: number;
  binding: number;
  type: GPUBufferBindingType;
  /** Members of a uniform struct, to pack values by name. */
  uniform?: { size: number; members: UniformMember[] };
}

/** A compiled kernel: one pipeline and the reflected layout of its bindings. */
export class Kernel {
  constructor(
    readonly label: string,
    readonly pipeline: GPUComputePipeline,
    readonly layouts: GPUBindGroupLayout[],
    readonly bindings: readonly BindingInfo[],
  ) {}

  /**
   * Makes the bind groups for one call. Buffers and tensors go to storage bindings; plain objects
   * to uniform structs, packed by member name into a new uniform buffer (listed in `owned`, for
   * the caller to destroy once the work is submitted, or to keep while the bind groups live).
   */
  bind(device: GPUDevice, values: BindingValues): { bindGroups: GPUBindGroup[]; owned: GPUBuffer[] } {
    const expected = new Set(this.bindings.map((b) => b.name));
    for (const name of Object.keys(values)) {
      if (!expected.has(name)) {
        throw new GpuKernelError(this.label, `no binding named '${name}'; the kernel binds ${[...expected].join(', ')}`);
      }
    }
    for (const b of this.bindings) {
      if (values[b.name] === undefined) throw new GpuKernelError(this.label, `binding '${b.name}' was not given`);
    }
    const owned: GPUBuffer[] = [];
    const entries: GPUBindGroupEntry[][] = this.layouts.map(() => []);
    for (const b of this.bindings) {
      const value = values[b.name];
      let resource: GPUBufferBinding;
      if (b.uniform) {
        resource = { buffer: packUniform(device, this.label, b.name, b.uniform, value as UniformValues) };
        owned.push(resource.buffer);
      } else if ('buffer' in value && 'byteLength' in value) {
        // A tensor: bind its data only (a pooled buffer can be larger than the binding limit allows).
        resource = { buffer: value.buffer as GPUBuffer, size: value.byteLength as number };
      } else {
        const buffer = ('buffer' in value ? value.buffer : value) as GPUBuffer;
        if (!buffer || typeof buffer.size !== 'number') {
          throw new GpuKernelError(this.label, `binding '${b.name}' needs a tensor or GPUBuffer`);
        }
        resource = { buffer };
      }
      entries[b.group].push({ binding: b.binding, resource });
    }
    const bindGroups = this.layouts.map((layout, g) =>
      device.createBindGroup({ label: `${this.label}.group${g}`, layout, entries: entries[g] }),
    );
    return { bindGroups, owned };
  }

  /** Records one dispatch of this kernel into `pass`. */
  encode(pass: GPUComputePassEncoder, bindGroups: GPUBindGroup[], workgroups: readonly [number, number, number]): void {
    pass.setPipeline(this.pipeline);
    bindGroups.forEach((g, i) => pass.setBindGroup(i, g));
    pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
  }
}

function packUniform(
  device: GPUDevice,
  kernel: string,
  binding: string,
  layout: { size: number; members: UniformMember[] },
  values: UniformValues,
): GPUBuffer {
  const size = Math.max(16, Math.ceil(layout.size / 16) * 16);
  const bytes = new ArrayBuffer(size);
  const view = new DataView(bytes);
  const known = new Set(layout.members.map((m) => m.name));
  for (const name of Object.keys(values)) {
    if (!known.has(name)) throw new GpuKernelError(kernel, `uniform '${binding}' has no member '${name}'`);
  }
  for (const m of layout.members) {
    const v = values[m.name];
    if (v === undefined) throw new GpuKernelError(kernel, `uniform '${binding}.${m.name}' was not given`);
    const list = typeof v === 'number' ? [v] : v;
    if (list.length !== m.count) {
      throw new GpuKernelError(kernel, `uniform '${binding}.${m.name}' takes ${m.count} value(s), got ${list.length}`);
    }
    list.forEach((x, i) => {
      const at = m.offset + 4 * i;
      if (m.scalar === 'f32') view.setFloat32(at, x, true);
      else if (!Number.isInteger(x)) throw new GpuKernelError(kernel, `uniform '${binding}.${m.name}' must be an integer, got ${x}`);
      else if (m.scalar === 'u32') {
        if (x < 0 || x > 0xffffffff) throw new LimitError(`${kernel}: uniform '${binding}.${m.name}' = ${x} does not fit in u32`);
        view.setUint32(at, x, true);
      } else {
        if (x < -0x80000000 || x > 0x7fffffff) throw new LimitError(`${kernel}: uniform '${binding}.${m.name}' = ${x} does not fit in i32`);
        view.setInt32(at, x, true);
      }
    });
  }
  const buffer = device.createBuffer({
    label: `${kernel}.${binding}`,
    size,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(buffer, 0, bytes);
  return buffer;
}

interface ShaderInfo {
  module: GPUShaderModule;
  reflect: WgslReflect;
}

/** Compiles and caches shader modules and pipelines for one device. */
export class KernelCache {
  private readonly shaders = new Map<ShaderName, ShaderInfo>();
  private readonly kernels = new Map<string, Promise<Kernel>>();

  constructor(private readonly device: GPUDevice) {}

  /** The pipeline cache key: derived from everything that changes the compiled code. */
  static key(spec: KernelSpec): string {
    const constants = Object.entries(spec.constants ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
    return `${spec.shader}:${spec.entryPoint}:${constants.map(([k, v]) => `${k}=${Number(v)}`).join(',')}`;
  }

  get size(): number {
    return this.kernels.size;
  }

  get(spec: KernelSpec): Promise<Kernel> {
    const key = KernelCache.key(spec);
    let kernel = this.kernels.get(key);
    if (!kernel) {
      kernel = this.build(spec, key);
      this.kernels.set(key, kernel);
      kernel.catch(() => this.kernels.delete(key)); // a failed build is not cached
    }
    return kernel;
  }

  private shader(name: ShaderName): ShaderInfo {
    let info = this.shaders.get(name);
    if (!info) {
      const code = shaderSources[name];
      if (code === undefined) throw new GpuKernelError(String(name), `no shader named '${String(name)}' in shaders/`);
      info = { module: this.device.createShaderModule({ label: `shaders/${name}.wgsl`, code }), reflect: new WgslReflect(code) };
      this.shaders.set(name, info);
    }
    return info;
  }

  private async build(spec: KernelSpec, key: string): Promise<Kernel> {
    const label = key.replace(/:$/, '');
    this.device.pushErrorScope('validation');
    let shader: ShaderInfo;
    try {
      shader = this.shader(spec.shader);
    } finally {
      await this.device.popErrorScope(); // WGSL errors are reported below, from getCompilationInfo
    }
    const { module, reflect } = shader;
    const entry = reflect.entry.compute.find((f) => f.name === spec.entryPoint);
    if (!entry) {
      const names = reflect.entry.compute.map((f) => f.name).join(', ');
      throw new GpuKernelError(label, `shaders/${spec.shader}.wgsl has no compute entry point '${spec.entryPoint}' (it has ${names})`);
    }
    const overrides = new Set(reflect.overrides.map((o) => o.name));
    for (const name of Object.keys(spec.constants ?? {})) {
      if (!overrides.has(name)) {
        throw new GpuKernelError(label, `no override constant '${name}' (declared: ${[...overrides].join(', ') || 'none'})`);
      }
    }
    const bindings = entry.resources.map((r) => bindingInfo(label, r));
    const groupCount = bindings.reduce((n, b) => Math.max(n, b.group + 1), 0);
    const layouts = Array.from({ length: groupCount }, (_, g) =>
      this.device.createBindGroupLayout({
        label: `${label}.layout${g}`,
        entries: bindings
          .filter((b) => b.group === g)
          .map((b) => ({ binding: b.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.type } })),
      }),
    );
    const constants: Record<string, number> = {};
    for (const [k, v] of Object.entries(spec.constants ?? {})) constants[k] = Number(v);

    this.device.pushErrorScope('validation');
    let pipeline: GPUComputePipeline;
    try {
      pipeline = await this.device.createComputePipelineAsync({
        label,
        layout: this.device.createPipelineLayout({ label: `${label}.pipelineLayout`, bindGroupLayouts: layouts }),
        compute: { module, entryPoint: spec.entryPoint, constants },
      });
    } catch (err) {
      await this.device.popErrorScope();
      throw new GpuKernelError(label, `pipeline creation failed: ${(err as Error).message}${await compilerMessages(module)}`);
    }
    const error = await this.device.popErrorScope();
    if (error) throw new GpuKernelError(label, `pipeline creation failed: ${error.message}${await compilerMessages(module)}`);
    return new Kernel(label, pipeline, layouts, bindings);
  }
}

async function compilerMessages(module: GPUShaderModule): Promise<string> {
  const info = await module.getCompilationInfo();
  const lines = info.messages.map((m) => `\n  ${module.label}:${m.lineNum}:${m.linePos} ${m.type}: ${m.message}`);
  return lines.join('');
}

function bindingInfo(kernel: string, r: VariableInfo): BindingInfo {
  if (r.resourceType === ResourceType.Uniform) {
    const members = (r.members ?? []).map((m) => uniformMember(kernel, r.name, m.name, m.type.getTypeName(), m.offset));
    return { name: r.name, group: r.group, binding: r.binding, type: 'uniform', uniform: { size: r.size, members } };
  }
  if (r.resourceType === ResourceType.Storage) {
    return { name: r.name, group: r.group, binding: r.binding, type: r.access === 'read' ? 'read-only-storage' : 'storage' };
  }
  throw new GpuKernelError(kernel, `binding '${r.name}': only storage and uniform buffers are supported`);
}

function uniformMember(kernel: string, binding: string, name: string, type: string, offset: number): UniformMember {
  const m = /^(?:vec([234])<)?(u32|i32|f32)>?$/.exec(type.replace(/\s/g, ''));
  if (!m) throw new GpuKernelError(kernel, `uniform '${binding}.${name}' has type ${type}; use u32, i32, f32 or vecN of them`);
  return { name, offset, scalar: m[2] as UniformMember['scalar'], count: m[1] ? Number(m[1]) : 1 };
}
