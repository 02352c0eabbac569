import { check, KvpackError } from '../../errors.js';
import { cacheOrigin, PackedKvCache } from '../../cache/kv-cache.js';
import { checkQueries } from '../../reference/attention.js';
import { checkAttendArgs, checkToleranceArgs } from '../validate.js';
import { addSymbolDispose } from '../../util/dispose.js';
import { ATTENTION_TOLERANCE, type AttentionBackend } from '../types.js';
import { wasmKernelsFor } from '../wasm-kernels.js';
import { kernelCodec } from '../../codecs/rotation.js';
import { attendGpu, attendGpuNow, type GpuAttendOptions } from './attend.js';
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
 *
 * Calls need not be awaited one by one: each attend reads a snapshot of the cache taken when it
 * is called (PackedKvCache.snapshot) and runs after the earlier calls on the same cache, so the
 * result is the one sequential calls would give (tests/reliability/interleave.test.ts).
 * Mirrors are released by forget(), dispose(), or when the host cache is garbage collected.
 */
export class WebGpuBackend implements AttentionBackend {
  readonly name = 'webgpu' as const;
  readonly description: string;
  /** Keyed weakly: a host cache the caller drops takes its mirror with it (finalizer below). */
  private readonly mirrors = new WeakMap<PackedKvCache, GpuKvCache>();
  private readonly live = new Set<GpuKvCache>();
  private readonly finalizer = new FinalizationRegistry<GpuKvCache>((m) => this.release(m));
  /** Per host cache: the last queued call; the next one starts after it settles. */
  private readonly queues = new WeakMap<PackedKvCache, Promise<unknown>>();
  private readonly delegates = new Map<CustomWebGpuAttention<GpuContext, AttentionBackend>, Promise<AttentionBackend>>();
  /** Calls queued or running, for dispose() to wait on. */
  private readonly inflight = new Set<Promise<void>>();
  private disposed = false;

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
    // Everything up to the snapshot runs synchronously at call time (no await before it).
    check(!this.disposed, 'BACKEND_UNAVAILABLE', 'this WebGpuBackend was disposed', 'backend');
    checkAttendArgs(cache, seqs, q, nHeads);
    // validate as the reference does, per sequence, before any upload
    checkQueries(cache, seqs, q, nHeads);
    const custom = hasWgslKernels(cache.key) && hasWgslKernels(cache.value) ? undefined : customAttentionFor(cache.key, cache.value);
    if (!custom) {
      kernelsFor(cache.key);
      kernelsFor(cache.value);
    }
    this.gpu.assertAlive();
    const origin = cacheOrigin(cache);
    const snap = cache.snapshot(seqs), ids = [...seqs], qc = q.slice();
    return this.serial(origin, async () => {
      if (custom) {
        let delegate = this.delegates.get(custom);
        if (!delegate) {
          delegate = custom.load().then((make) => make(this.gpu));
          this.delegates.set(custom, delegate);
        }
        return (await delegate).attend(snap, ids, qc, nHeads);
      }
      this.gpu.assertAlive();
      let mirror = this.mirrors.get(origin);
      if (!mirror) {
        const gcOpts: GpuCacheOptions = { gpu: this.gpu };
        if (this.opts.pagesPerBuffer !== undefined) gcOpts.pagesPerBuffer = this.opts.pagesPerBuffer;
        // the mirror holds a shape-only copy, never the host cache: it must not keep it alive
        mirror = new GpuKvCache(this.gpu, layoutOf(origin), gcOpts);
        this.mirrors.set(origin, mirror);
        this.live.add(mirror);
        this.finalizer.register(origin, mirror, mirror);
        forgetOnDispose(this, origin);
      }
      mirror.syncFrom(snap, ids);
      return attendGpuNow(mirror, ids, qc, nHeads, this.opts);
    });
  }

  /** GPU mirrors of host caches alive now (soak tests watch it return to 0). */
  get liveMirrors(): number {
    return this.live.size;
  }

  /** Attention over a GPU-resident cache (filled with GpuKvCache.append). */
  attendResident(cache: GpuKvCache, seqs: readonly number[], q: Float32Array, nHeads: number): Promise<Float32Array> {
    if (this.disposed) return Promise.reject(new KvpackError('BACKEND_UNAVAILABLE', 'this WebGpuBackend was disposed', 'backend'));
    return attendGpu(cache, seqs, q, nHeads, this.opts);
  }

  /**
   * Drops the GPU mirror of a host cache (done for all by dispose). Calls already made on it
   * finish first (they hold snapshots); a later call builds a new mirror.
   */
  /**
   * The bound attend holds to attendReference (ATTENTION_TOLERANCE): `gpu`, or `integer` for KIVI
   * keys when the opt-in integerAttention is on (dot4I8Packed keys, decisions.md#D153; where the
   * adapter lacks it the float kernels run, which the looser tier also covers).
   */
  attentionTolerance(cache: PackedKvCache, nHeads: number): number {
    checkToleranceArgs(cache, nHeads);
    const kiviKeys = wasmKernelsFor(kernelCodec(cache.key))?.integer !== undefined;
    return this.opts.integerAttention === true && kiviKeys ? ATTENTION_TOLERANCE.integer : ATTENTION_TOLERANCE.gpu;
  }

  forget(cache: PackedKvCache): void {
    const origin = cacheOrigin(cache);
    const m = this.mirrors.get(origin);
    if (!m) return;
    this.mirrors.delete(origin);
    this.finalizer.unregister(m);
    void this.serial(origin, async () => this.release(m));
  }

  /**
   * Releases every mirror once the calls already made have settled; any call after this throws
   * BACKEND_UNAVAILABLE.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const delegates = [...this.delegates.values()];
    this.delegates.clear();
    void Promise.allSettled([...this.inflight]).then(() => {
      for (const m of [...this.live]) this.release(m);
      for (const d of delegates) void d.then((b) => b.dispose(), () => {});
    });
  }

  private release(m: GpuKvCache): void {
    this.live.delete(m);
    m.destroy();
  }

  private serial<T>(key: PackedKvCache, fn: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(key) ?? Promise.resolve()).then(fn);
    const settled = run.then(() => undefined, () => undefined);
    this.queues.set(key, settled);
    this.inflight.add(settled);
    void settled.then(() => this.inflight.delete(settled));
    return run;
  }
}

addSymbolDispose(WebGpuBackend);

/** cache.dispose() frees its mirror; out of attend's closures so none of them retains the cache. */
function forgetOnDispose(backend: WebGpuBackend, cache: PackedKvCache): void {
  cache.onDispose(() => backend.forget(cache));
}

/** A cache of the same shape and codecs holding no tokens, for a mirror's layout. */
function layoutOf(cache: PackedKvCache): PackedKvCache {
  return new PackedKvCache({ nKvHeads: cache.nKvHeads, headDim: cache.headDim, key: cache.key, value: cache.value, window: cache.window, sinks: cache.sinks });
}
