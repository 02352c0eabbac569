import { KvpackError } from '../../errors.js';
import type { GpuContext } from './device.js';

/**
 * Compute pipelines, created once per (device, shader source, overrides) and cached. Bind group
 * layouts are explicit (declared once here) rather than 'auto': an 'auto' layout drops bindings
 * a shader variant does not use (e.g. `params` for codecs without parameters), which would make
 * one bind-group recipe invalid for some codecs.
 */

export type LayoutName = 'attend' | 'merge' | 'encode' | 'rotate';

/** Binding types in order, per layout (see the WGSL files' @binding declarations). */
const LAYOUTS: Record<LayoutName, GPUBufferBindingType[]> = {
  // pages, job, params, partials
  attend: ['read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'],
  // partials, ranges, out
  merge: ['read-only-storage', 'read-only-storage', 'storage'],
  // rows, out_words, params, jobs
  encode: ['read-only-storage', 'storage', 'read-only-storage', 'read-only-storage'],
  // vectors, signs
  rotate: ['storage', 'read-only-storage'],
};

interface DeviceCache {
  layouts: Map<LayoutName, GPUBindGroupLayout>;
  modules: Map<string, GPUShaderModule>;
  /** By shader source, then by layout, entry point and constants: the source (tens of KiB) is
   *  a map key by itself, so a caller passing the same string object pays its hash once. */
  pipelines: Map<string, Map<string, Promise<GPUComputePipeline>>>;
}

const caches = new WeakMap<GPUDevice, DeviceCache>();

function deviceCache(ctx: GpuContext): DeviceCache {
  let c = caches.get(ctx.device);
  if (!c) {
    c = { layouts: new Map(), modules: new Map(), pipelines: new Map() };
    caches.set(ctx.device, c);
  }
  return c;
}

export function bindGroupLayout(ctx: GpuContext, name: LayoutName): GPUBindGroupLayout {
  const c = deviceCache(ctx);
  let l = c.layouts.get(name);
  if (!l) {
    l = ctx.device.createBindGroupLayout({
      label: `kvpack-${name}`,
      entries: LAYOUTS[name].map((type, binding) => ({ binding, visibility: 4 /* GPUShaderStage.COMPUTE */, buffer: { type } })),
    });
    c.layouts.set(name, l);
  }
  return l;
}

export interface PipelineSpec {
  label: string;
  layout: LayoutName;
  source: string;
  entryPoint: string;
  constants: Record<string, number>;
}

export function getPipeline(ctx: GpuContext, spec: PipelineSpec): Promise<GPUComputePipeline> {
  ctx.assertAlive();
  const c = deviceCache(ctx);
  let bySource = c.pipelines.get(spec.source);
  if (!bySource) {
    bySource = new Map();
    c.pipelines.set(spec.source, bySource);
  }
  const key = `${spec.layout}|${spec.entryPoint}|${JSON.stringify(spec.constants)}`;
  const cached = bySource;
  let p = cached.get(key);
  if (!p) {
    let module = c.modules.get(spec.source);
    if (!module) {
      module = ctx.device.createShaderModule({ label: spec.label, code: spec.source });
      c.modules.set(spec.source, module);
    }
    const layout = ctx.device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout(ctx, spec.layout)] });
    p = ctx.device.createComputePipelineAsync({
      label: spec.label,
      layout,
      compute: { module, entryPoint: spec.entryPoint, constants: spec.constants },
    }).catch(async (e: unknown) => {
      cached.delete(key);
      const info = await module!.getCompilationInfo().catch(() => undefined);
      const msgs = info?.messages.filter((m) => m.type === 'error')
        .map((m) => `${m.lineNum}:${m.linePos} ${m.message} | ${spec.source.split('\n')[m.lineNum - 1] ?? ''}`) ?? [];
      throw new KvpackError('BACKEND_UNAVAILABLE',
        `pipeline ${spec.label} failed: ${(e as Error).message}${msgs.length ? `\n${msgs.join('\n')}` : ''}`, 'wgsl');
    });
    cached.set(key, p);
  }
  return p;
}
