import type { PackedKvCache } from '../../cache/kv-cache.js';
import { checkQueries } from '../../reference/attention.js';
import type { AttentionBackend } from '../types.js';
import { attendGpu, type GpuAttendOptions } from './attend.js';
import { getGpuDevice, type GpuContext, type GpuDeviceOptions } from './device.js';
import { GpuKvCache, type GpuCacheOptions } from './gpu-cache.js';
import { customAttentionFor, hasWgslKernels, kernelsFor, type CustomWebGpuAttention } from './kernels.js';

export interface WebGpuBackendOptions extends GpuDeviceOptions, GpuAttendOptions {
  /** Passed to the GPU mirrors of host caches (tests use 1 to make a cache span buffers). */
  pagesPerBuffer?: number;
}

/**
 * Decode attention on WebGPU for any PackedKvCache: each host cache gets a GPU mirror
 * (GpuKvCache.syncFrom) that uploads only tiles sealed since the previous call, plus the fp32
 * sinks and tail. For a cache that should never exist on the host, use GpuKvCache.append and
 * `attendResident`.
 */
export class WebGpuBackend implements AttentionBackend {
  readonly name = 'webgpu' as const;
  readonly description: string;
  private readonly mirrors = new Map<PackedKvCache, GpuKvCache>();
  private readonly delegates = new Map<CustomWebGpuAttention, Promise<AttentionBackend>>();

  constructor(readonly gpu: GpuContext, private readonly opts: WebGpuBackendOptions = {}) {
    this.description = `WebGPU: ${gpu.description}`;
  }

  static async create(opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    return new WebGpuBackend(await getGpuDevice(opts), opts);
  }

  /**
   * Whether both of the cache's codecs have WGSL kernels (CodecInfo.kernels); attend throws
   * BACKEND_UNAVAILABLE otherwise, so drivers running every codec can pick another backend.
   */
  supports(cache: PackedKvCache): boolean {
    return (hasWgslKernels(cache.key) && hasWgslKernels(cache.value)) || customAttentionFor(cache.key, cache.value) !== undefined;
  }

  async attend(cache: PackedKvCache, seqs: readonly number[], q: Float32Array, nHeads: number): Promise<Float32Array> {
    // validate as the reference does, per sequence, before any upload
    checkQueries(cache, seqs, q, nHeads);
    const custom = hasWgslKernels(cache.key) && hasWgslKernels(cache.value) ? undefined : customAttentionFor(cache.key, cache.value);
    if (custom) {
      this.gpu.assertAlive();
      let delegate = this.delegates.get(custom);
      if (!delegate) {
        delegate = custom.load().then((make) => make(this.gpu));
        this.delegates.set(custom, delegate);
      }
      return (await delegate).attend(cache, seqs, q, nHeads);
    }
    kernelsFor(cache.key);
    kernelsFor(cache.value);
    this.gpu.assertAlive();
    let mirror = this.mirrors.get(cache);
    if (!mirror) {
      const gcOpts: GpuCacheOptions = { gpu: this.gpu };
      if (this.opts.pagesPerBuffer !== undefined) gcOpts.pagesPerBuffer = this.opts.pagesPerBuffer;
      mirror = new GpuKvCache(this.gpu, cache, gcOpts);
      this.mirrors.set(cache, mirror);
    }
    mirror.syncFrom(cache, seqs);
    return attendGpu(mirror, seqs, q, nHeads, this.opts);
  }

  /** Attention over a GPU-resident cache (filled with GpuKvCache.append). */
  attendResident(cache: GpuKvCache, seqs: readonly number[], q: Float32Array, nHeads: number): Promise<Float32Array> {
    return attendGpu(cache, seqs, q, nHeads, this.opts);
  }

  /** Drops the GPU mirror of a host cache (done for all by dispose). */
  forget(cache: PackedKvCache): void {
    this.mirrors.get(cache)?.destroy();
    this.mirrors.delete(cache);
  }

  dispose(): void {
    for (const m of this.mirrors.values()) m.destroy();
    this.mirrors.clear();
    for (const d of this.delegates.values()) void d.then((b) => b.dispose(), () => {});
    this.delegates.clear();
  }
}
