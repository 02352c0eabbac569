import { KvpackError } from '../../errors.js';
import { processEnv } from '../../util/env.js';

/**
 * GPU device acquisition for every runtime kvpack runs in: browsers and Deno expose
 * `navigator.gpu`; Node gets Dawn through the npm `webgpu` addon (loaded on demand, so browser
 * bundles never touch it). The device requests the adapter's own limits for what the kernels
 * use (page buffers as large as the adapter allows) and the optional features that exist.
 */

/** GPUBufferUsage / GPUMapMode values, spelled out: Node's Dawn addon only defines the globals when asked. */
export const BufferUsage = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;
export const MAP_READ_MODE = 0x0001;

/** Limits the kernels depend on; requested at the adapter's maximum. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
] as const;

// (subgroup matrices: only the bench's matrix kernel uses them, bench/gpu/matrix/; its device is bench/gpu/bench-device.ts)
const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

export interface GpuDeviceOptions {
  /** Use this device instead of acquiring one (an app that owns its WebGPU device). */
  device?: GPUDevice;
  /** Power preference passed to requestAdapter. */
  powerPreference?: GPUPowerPreference;
}

/** A device plus what kvpack needs to know about it. Calls on a lost device throw DEVICE_LOST. */
export class GpuContext {
  readonly device: GPUDevice;
  /** e.g. "llvmpipe (LLVM 15.0.6, 256 bits) [Dawn opengl, compatibility]". */
  readonly description: string;
  readonly features: ReadonlySet<string>;
  readonly limits: Readonly<Record<(typeof WANTED_LIMITS)[number], number>>;
  /** The GPU instance the device came from, held so it is not garbage collected. */
  instance: GPU | undefined;
  /** Set when the device is lost (destroyed, driver reset); every later call throws. */
  lostReason: string | undefined;

  constructor(device: GPUDevice, description: string) {
    this.device = device;
    this.description = description;
    this.features = new Set([...device.features]);
    const limits = {} as Record<(typeof WANTED_LIMITS)[number], number>;
    for (const k of WANTED_LIMITS) limits[k] = Number(device.limits[k]);
    this.limits = limits;
    void device.lost.then((info) => {
      this.lostReason = `${info.reason}: ${info.message || 'no message'}`;
      const err = new KvpackError('DEVICE_LOST', `GPU device lost (${this.lostReason})`, 'device');
      for (const reject of this.pending) reject(err);
      this.pending.clear();
    });
  }

  /** Throws DEVICE_LOST if the device went away; call before touching the device. */
  assertAlive(): void {
    if (this.lostReason !== undefined) {
      throw new KvpackError('DEVICE_LOST', `GPU device lost (${this.lostReason})`, 'device');
    }
  }

  /**
   * Wraps a GPU promise (mapAsync, onSubmittedWorkDone): a lost device may reject or never
   * settle such promises, so a loss rejects every pending guard with DEVICE_LOST. Pending guards
   * live in a set (not as reactions on device.lost) so a long decode loop retains nothing.
   */
  async guard<T>(p: Promise<T>): Promise<T> {
    this.assertAlive();
    let reject!: (e: unknown) => void;
    const onLost = new Promise<never>((_, r) => { reject = r; });
    this.pending.add(reject);
    try {
      return await Promise.race([p, onLost]);
    } catch (e) {
      if (e instanceof KvpackError) throw e;
      // a map rejected because of a destroy() whose lost callback has not run yet is a loss too
      await Promise.resolve();
      this.assertAlive();
      throw e;
    } finally {
      this.pending.delete(reject);
    }
  }

  private readonly pending = new Set<(e: unknown) => void>();
}

/** How the adapter was found, for the description. */
interface AdapterSource {
  /** Created lazily: each Dawn instance starts its backends, so only create the ones tried. */
  gpu: () => GPU;
  label: string;
  adapterOptions: GPURequestAdapterOptions;
}

async function nodeDawnSources(): Promise<AdapterSource[]> {
  // Dawn on a machine without a GPU: its OpenGL backend over Mesa llvmpipe works in WebGPU
  // compatibility mode (needs EGL_PLATFORM=surfaceless when there is no display); its default
  // (Vulkan) backend is tried first so a real GPU wins where one exists. KVPACK_DAWN=opengl (as
  // bench/gpu uses) or KVPACK_DAWN_SKIP_DEFAULT=1 skip that try and its warnings.
  const spec = 'webgpu';
  let mod: { create: (opts: string[]) => GPU; globals: Record<string, unknown> };
  try {
    mod = await import(/* @vite-ignore */ spec) as typeof mod;
  } catch (e) {
    throw new KvpackError('BACKEND_UNAVAILABLE', `no navigator.gpu and the Node 'webgpu' addon failed to load: ${(e as Error).message}`);
  }
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(mod.globals)) if (g[k] === undefined) g[k] = v;
  const env = processEnv();
  if (env.EGL_PLATFORM === undefined) {
    env.EGL_PLATFORM = 'surfaceless';
    // Bun's process.env writes stay in JS: libc getenv (Mesa's EGL, inside Dawn) never sees them
    if (isBun()) eglHint = 'Bun: EGL_PLATFORM=surfaceless set inside the process does not reach Dawn\'s EGL (Bun\'s process.env writes do not reach libc getenv); on a machine without a display start bun with EGL_PLATFORM=surfaceless in its environment';
  }
  return [
    ...(env.KVPACK_DAWN_SKIP_DEFAULT || env.KVPACK_DAWN === 'opengl' ? [] : [{ gpu: () => mod.create([]), label: 'Dawn default backend', adapterOptions: {} }]),
    { gpu: () => mod.create(['backend=opengl']), label: 'Dawn opengl, compatibility', adapterOptions: { featureLevel: 'compatibility' } },
  ];
}

const triedInstances: GPU[] = [];

/** Why the adapter search may have failed that the adapter errors do not say (see nodeDawnSources). */
let eglHint: string | undefined;

function isBun(): boolean {
  return typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined';
}

// Cached per process: Dawn instances are heavy and adapters are shared between backends.
let sharedContext: Promise<GpuContext> | undefined;

/**
 * The process-wide GPU context (created on first call). A context whose device was lost is
 * replaced by a fresh one on the next call.
 */
export async function getGpuDevice(opts: GpuDeviceOptions = {}): Promise<GpuContext> {
  if (opts.device) return new GpuContext(opts.device, `${opts.device.label || 'GPUDevice'} (given)`);
  if (sharedContext) {
    const ctx = await sharedContext.catch(() => undefined);
    if (ctx && ctx.lostReason === undefined) return ctx;
  }
  sharedContext = acquire(opts);
  return sharedContext;
}

async function acquire(opts: GpuDeviceOptions): Promise<GpuContext> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const sources: AdapterSource[] = nav?.gpu
    ? [{ gpu: () => nav.gpu!, label: 'navigator.gpu', adapterOptions: {} },
      { gpu: () => nav.gpu!, label: 'navigator.gpu, compatibility', adapterOptions: { featureLevel: 'compatibility' } }]
    : await nodeDawnSources();
  const tried: string[] = [];
  for (const src of sources) {
    let adapter: GPUAdapter | null = null;
    const gpu = src.gpu();
    triedInstances.push(gpu); // never collected, see GpuContext.instance
    try {
      adapter = await gpu.requestAdapter({ ...src.adapterOptions, ...(opts.powerPreference ? { powerPreference: opts.powerPreference } : {}) });
    } catch (e) {
      tried.push(`${src.label}: ${(e as Error).message}`);
      continue;
    }
    if (!adapter) { tried.push(`${src.label}: no adapter`); continue; }
    const requiredLimits: Record<string, number> = {};
    for (const k of WANTED_LIMITS) {
      const v = (adapter.limits as unknown as Record<string, number | undefined>)[k];
      if (v !== undefined) requiredLimits[k] = v;
    }
    const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter!.features.has(f)) as GPUFeatureName[];
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'kvpack' });
    adapterInfos.set(device, adapter.info);
    const ctx = new GpuContext(device, `${describeAdapter(adapter)} [${src.label}]`);
    // Dawn's Node addon tears the instance down when its GPU object is collected, which kills
    // the device under our feet (hangs or aborts): the context keeps it reachable.
    ctx.instance = gpu;
    return ctx;
  }
  throw new KvpackError('BACKEND_UNAVAILABLE', `no WebGPU adapter (${tried.join('; ')})${eglHint ? `; ${eglHint}` : ''}`);
}

function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info;
  const parts = [info.description, info.device, info.vendor, info.architecture].filter((s) => s && s !== '0');
  return parts.length ? parts.join(' / ') : 'unnamed adapter';
}

/**
 * queue.writeBuffer for any typed array view: TS 5.9's lib types reject views over
 * ArrayBufferLike (possibly shared) although every runtime accepts them; offsets in elements.
 */
export function writeArray(queue: GPUQueue, buffer: GPUBuffer, byteOffset: number,
  data: Float32Array | Uint32Array, offset = 0, count = data.length - offset): void {
  queue.writeBuffer(buffer, byteOffset, data as unknown as Float32Array<ArrayBuffer>, offset, count);
}

/** Where a device was requested: its adapter's info (matrix shapes, subgroups.ts), for runtimes whose GPUDevice lacks `adapterInfo`. */
const adapterInfos = new WeakMap<GPUDevice, GPUAdapterInfo>();

/** Notes the adapter info of a device requested elsewhere (bench/gpu). */
export function noteAdapterInfo(device: GPUDevice, info: GPUAdapterInfo): void {
  adapterInfos.set(device, info);
}

/** The adapter info of a device: noted where kvpack requested it, else the device's own `adapterInfo`. */
export function adapterInfoOf(device: GPUDevice): GPUAdapterInfo | undefined {
  return adapterInfos.get(device) ?? (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
}
