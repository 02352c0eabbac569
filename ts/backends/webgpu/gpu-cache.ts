import { check, checkFinite, KvpackError } from '../../errors.js';
import { TILE_TOKENS, TILES_PER_PAGE } from '../../format/constants.js';
import { PackedKvCache, type CacheOptions } from '../../cache/kv-cache.js';
import { BufferUsage, getGpuDevice, MAP_READ_MODE, writeArray, type GpuContext } from './device.js';
import { encodeSource } from './shaders.js';
import { kernelsFor } from './kernels.js';
import { getPipeline, bindGroupLayout } from './pipelines.js';
import { SlabPool, type SlabRef } from './pool.js';

export interface GpuCacheOptions {
  /** Cap on pages per GPU buffer (default: as many as maxStorageBufferBindingSize holds). Tests use 1 to span buffers. */
  pagesPerBuffer?: number;
  /** Use this context instead of the shared one. */
  gpu?: GpuContext;
}

/** Per-sequence GPU state. */
export interface GpuSequence {
  /** Pages of packed tiles, one-to-one with the host layout (docs/FORMAT.md). */
  readonly pages: SlabRef[];
  tiles: number;
  /**
   * The sequence's full-precision rows: K region [rows][nKvHeads][headDim] then V region, rows =
   * sinks + window + TILE_TOKENS; sinks at rows [0, sinks), tail at rows [sinks, ...). The tail
   * only fills once the sinks are full, so valid rows are always [0, sinkCount + tailCount).
   */
  readonly fp: SlabRef;
  sinkCount: number;
  tailCount: number;
  /** Mirror mode: the host's per-sequence state object (new when the host re-creates the sequence) and host length at the last sync. */
  hostView?: object;
  hostLength?: number;
  /** GPU-append mode: host shadow of the tail (window + TILE_TOKENS rows), needed to pick the rows to seal. */
  tailK?: Float32Array;
  tailV?: Float32Array;
}

/**
 * A K/V cache whose packed pages live on the GPU, with the page layout of PackedKvCache
 * (docs/FORMAT.md). Two ways to fill it:
 * - `append` (GPU-resident): fp32 tokens are written to the GPU and tiles are sealed by the
 *   codec's WGSL encoder (identical words to the TS reference); the packed cache never exists
 *   on the host. Only the fp32 tail (at most window + 31 tokens) is shadowed on the host.
 * - `syncFrom(host)` (mirror): uploads the tiles a host PackedKvCache sealed since the last
 *   sync (tiles never change once sealed) plus its sinks and tail. WebGpuBackend uses this.
 * Do not mix the two on one instance.
 */
export class GpuKvCache {
  readonly ctx: GpuContext;
  /** Shape, codecs and page geometry; holds no tokens (validation and layout only). */
  readonly layout: PackedKvCache;
  readonly pages: SlabPool;
  readonly fpRows: SlabPool;
  /** Rows of a sequence's fp region: sinks + window + TILE_TOKENS. */
  readonly fpRowCount: number;
  /** [key params | value params], at least 4 words (a binding cannot be empty). */
  readonly params: GPUBuffer;
  private readonly seqs = new Map<number, GpuSequence>();
  private mode: 'append' | 'mirror' | undefined;
  private destroyed = false;
  private readonly disposers: (() => void)[] = [];

  static async create(opts: CacheOptions & GpuCacheOptions): Promise<GpuKvCache> {
    const layout = new PackedKvCache(opts);
    const ctx = opts.gpu ?? await getGpuDevice();
    return new GpuKvCache(ctx, layout, opts);
  }

  constructor(ctx: GpuContext, layout: PackedKvCache, opts: GpuCacheOptions = {}) {
    kernelsFor(layout.key);
    kernelsFor(layout.value);
    this.ctx = ctx;
    this.layout = layout;
    const tf = layout.tokenFloats;
    this.fpRowCount = layout.sinks + layout.window + TILE_TOKENS;
    this.pages = new SlabPool(ctx, layout.pageWords, 'pages', opts.pagesPerBuffer);
    this.fpRows = new SlabPool(ctx, 2 * this.fpRowCount * tf, 'fp-rows');
    const kp = layout.key.paramWords, vp = layout.value.paramWords;
    const params = new Uint32Array(Math.max(4, kp.length + vp.length));
    params.set(kp, 0);
    params.set(vp, kp.length);
    ctx.assertAlive();
    this.params = ctx.device.createBuffer({ label: 'kvpack-params', size: params.byteLength, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST });
    ctx.device.queue.writeBuffer(this.params, 0, params);
  }

  get nKvHeads(): number { return this.layout.nKvHeads; }
  get headDim(): number { return this.layout.headDim; }

  hasSequence(seq: number): boolean { return this.seqs.has(seq); }
  sequenceIds(): number[] { return [...this.seqs.keys()]; }
  sequence(seq: number): GpuSequence | undefined { return this.seqs.get(seq); }

  length(seq: number): number {
    const s = this.seqs.get(seq);
    return s ? s.sinkCount + s.tiles * TILE_TOKENS + s.tailCount : 0;
  }

  /** Word offset of tile `tile` of a sequence in its page buffer, and that buffer's index. */
  tileSlot(s: GpuSequence, tile: number): { buffer: number; offsetWords: number } {
    const page = s.pages[Math.floor(tile / TILES_PER_PAGE)]!;
    return { buffer: page.buffer, offsetWords: page.offsetWords + (tile % TILES_PER_PAGE) * this.layout.tileSlotWords };
  }

  private assertUsable(mode: 'append' | 'mirror'): void {
    if (this.destroyed) throw new KvpackError('BAD_PARAM', 'this GpuKvCache was destroyed', 'cache');
    this.ctx.assertAlive();
    if (this.mode !== undefined && this.mode !== mode) {
      throw new KvpackError('BAD_PARAM', `this GpuKvCache is filled by ${this.mode === 'append' ? 'append' : 'syncFrom'}; do not mix the two`, 'cache');
    }
  }

  private newSequence(): GpuSequence {
    return { pages: [], tiles: 0, fp: this.fpRows.alloc(), sinkCount: 0, tailCount: 0 };
  }

  private releaseSequence(s: GpuSequence): void {
    for (const p of s.pages) this.pages.release(p);
    this.fpRows.release(s.fp);
  }

  delete(seq: number): void {
    const s = this.seqs.get(seq);
    if (!s) return;
    this.releaseSequence(s);
    this.seqs.delete(seq);
  }

  /** Registers cleanup (e.g. attention scratch buffers) to run on destroy(). */
  onDestroy(fn: () => void): void {
    this.disposers.push(fn);
  }

  destroy(): void {
    for (const fn of this.disposers.splice(0)) fn();
    this.destroyed = true;
    this.pages.destroy();
    this.fpRows.destroy();
    this.params.destroy();
    this.seqs.clear();
  }

  /** Byte offset in the fp buffer of row `row` of a sequence's K (value=false) or V region. */
  private fpRowByte(s: GpuSequence, row: number, value: boolean): number {
    const tf = this.layout.tokenFloats;
    return (s.fp.offsetWords + (value ? this.fpRowCount * tf : 0) + row * tf) * 4;
  }

  private writeRows(s: GpuSequence, row: number, value: boolean, src: Float32Array, srcRow: number, count: number): void {
    if (count <= 0) return;
    const tf = this.layout.tokenFloats;
    writeArray(this.ctx.device.queue, this.fpRows.buffers[s.fp.buffer]!, this.fpRowByte(s, row, value), src, srcRow * tf, count * tf);
  }

  private ensurePages(s: GpuSequence, tiles: number): void {
    while (s.pages.length * TILES_PER_PAGE < tiles) s.pages.push(this.pages.alloc());
  }

  // ---- mirror mode ---------------------------------------------------------------------------

  /**
   * Brings the GPU copy of `seqs` up to date with `host` (which must have this cache's layout):
   * uploads newly sealed tiles and the fp rows; drops sequences the host no longer has.
   */
  syncFrom(host: PackedKvCache, seqs: readonly number[]): void {
    this.assertUsable('mirror');
    this.mode = 'mirror';
    for (const [id, s] of this.seqs) {
      if (!host.hasSequence(id)) { this.releaseSequence(s); this.seqs.delete(id); }
    }
    const tf = this.layout.tokenFloats;
    for (const id of seqs) {
      const v = host.view(id);
      let s = this.seqs.get(id);
      // a host sequence deleted and re-created since the last sync is a new state object
      if (s && s.hostView !== v) {
        this.releaseSequence(s);
        this.seqs.delete(id);
        s = undefined;
      }
      if (!s) { s = this.newSequence(); s.hostView = v; this.seqs.set(id, s); }
      const length = host.length(id);
      if (s.hostLength === length) continue;
      if (v.tiles > s.tiles) {
        this.ensurePages(s, v.tiles);
        const slot = this.layout.tileSlotWords;
        for (let t = s.tiles; t < v.tiles;) {
          const p = Math.floor(t / TILES_PER_PAGE);
          const end = Math.min(v.tiles, (p + 1) * TILES_PER_PAGE);
          const page = s.pages[p]!;
          const from = (t % TILES_PER_PAGE) * slot;
          writeArray(this.ctx.device.queue, this.pages.buffers[page.buffer]!, (page.offsetWords + from) * 4,
            v.pages[p]!, from, (end - t) * slot);
          t = end;
        }
        s.tiles = v.tiles;
      }
      if (v.sinkCount !== s.sinkCount) {
        this.writeRows(s, s.sinkCount, false, v.sinkK, s.sinkCount, v.sinkCount - s.sinkCount);
        this.writeRows(s, s.sinkCount, true, v.sinkV, s.sinkCount, v.sinkCount - s.sinkCount);
        s.sinkCount = v.sinkCount;
      }
      this.writeRows(s, this.layout.sinks, false, v.tailK.subarray(0, v.tailCount * tf), 0, v.tailCount);
      this.writeRows(s, this.layout.sinks, true, v.tailV.subarray(0, v.tailCount * tf), 0, v.tailCount);
      s.tailCount = v.tailCount;
      s.hostLength = length;
    }
  }

  // ---- GPU-resident mode ---------------------------------------------------------------------

  /**
   * Append tokens (keys/values [n][nKvHeads][headDim]) to a sequence, sealing tiles on the GPU
   * with the codecs' WGSL encoders. Validated before any state changes (same rules and errors
   * as PackedKvCache.append). Resolves once the work is queued.
   */
  async append(seq: number, keys: Float32Array, values: Float32Array): Promise<void> {
    this.assertUsable('append');
    const L = this.layout, tf = L.tokenFloats;
    check(Number.isInteger(seq) && seq >= 0, 'BAD_PARAM', `must be a non-negative integer, got ${seq}`, 'seq');
    check(keys.length % tf === 0 && keys.length > 0, 'BAD_SHAPE', `length ${keys.length} is not a positive multiple of nKvHeads*headDim=${tf}`, 'keys');
    check(values.length === keys.length, 'BAD_SHAPE', `length ${values.length} != keys length ${keys.length}`, 'values');
    checkFinite(keys, 'keys');
    checkFinite(values, 'values');
    // pipelines first: a shader that fails to build must leave the cache unchanged
    const [encK, encV] = await Promise.all([this.encodePipeline('key'), this.encodePipeline('value')]);
    this.assertUsable('append');
    this.mode = 'append';

    let s = this.seqs.get(seq);
    if (!s) {
      s = this.newSequence();
      s.tailK = new Float32Array((L.window + TILE_TOKENS) * tf);
      s.tailV = new Float32Array((L.window + TILE_TOKENS) * tf);
      this.seqs.set(seq, s);
    }
    const tailK = s.tailK!, tailV = s.tailV!;
    const n = keys.length / tf;
    const sinkStart = s.sinkCount;
    const maxSeal = Math.floor((s.tailCount + n) / TILE_TOKENS) + 1;
    const sealK = new Float32Array(maxSeal * TILE_TOKENS * tf), sealV = new Float32Array(maxSeal * TILE_TOKENS * tf);
    let sealed = 0;
    let i = 0;
    for (; i < n && s.sinkCount < L.sinks; i++) s.sinkCount++;
    const firstTail = i;
    for (; i < n; i++) {
      tailK.set(keys.subarray(i * tf, (i + 1) * tf), s.tailCount * tf);
      tailV.set(values.subarray(i * tf, (i + 1) * tf), s.tailCount * tf);
      s.tailCount++;
      if (s.tailCount === L.window + TILE_TOKENS) {
        sealK.set(tailK.subarray(0, TILE_TOKENS * tf), sealed * TILE_TOKENS * tf);
        sealV.set(tailV.subarray(0, TILE_TOKENS * tf), sealed * TILE_TOKENS * tf);
        sealed++;
        tailK.copyWithin(0, TILE_TOKENS * tf, s.tailCount * tf);
        tailV.copyWithin(0, TILE_TOKENS * tf, s.tailCount * tf);
        s.tailCount -= TILE_TOKENS;
      }
    }
    // sinks: rows written straight from the input
    this.writeRows(s, sinkStart, false, keys, 0, firstTail);
    this.writeRows(s, sinkStart, true, values, 0, firstTail);
    if (sealed > 0) this.encodeTiles(s, sealK, sealV, sealed, encK, encV);
    this.writeRows(s, L.sinks, false, tailK, 0, s.tailCount);
    this.writeRows(s, L.sinks, true, tailV, 0, s.tailCount);
  }

  private encodePipeline(kind: 'key' | 'value'): Promise<GPUComputePipeline> {
    const L = this.layout;
    const codec = kind === 'key' ? L.key : L.value;
    const k = kernelsFor(codec);
    const constants: Record<string, number> = {
      HEAD_DIM: L.headDim,
      ROW_WORDS: L.tokenFloats,
      OUT_HEAD_STRIDE: L.key.tileWords + L.value.tileWords,
      OUT_OFFSET: kind === 'key' ? 0 : L.key.tileWords,
      PARAMS: kind === 'key' ? 0 : L.key.paramWords.length,
    };
    if (k.bits !== undefined) constants.BITS = k.bits;
    return getPipeline(this.ctx, {
      label: `kvpack-encode-${codec.name}-${kind}`, layout: 'encode', source: encodeSource(k),
      entryPoint: kind === 'key' ? 'encode_key' : 'encode_value', constants,
    });
  }

  /** Seals `count` tiles (rows in sealK/sealV, TILE_TOKENS per tile) into the sequence's next tile slots. */
  private encodeTiles(s: GpuSequence, sealK: Float32Array, sealV: Float32Array, count: number,
    encK: GPUComputePipeline, encV: GPUComputePipeline): void {
    const dev = this.ctx.device, tf = this.layout.tokenFloats;
    const firstTile = s.tiles;
    this.ensurePages(s, firstTile + count);
    const rowsFloats = count * TILE_TOKENS * tf;
    const rows = dev.createBuffer({ label: 'kvpack-encode-rows', size: rowsFloats * 8, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST });
    writeArray(dev.queue, rows, 0, sealK, 0, rowsFloats);
    writeArray(dev.queue, rows, rowsFloats * 4, sealV, 0, rowsFloats);
    // one dispatch per page buffer the new tiles land in
    const byBuffer = new Map<number, number[]>();
    for (let i = 0; i < count; i++) {
      const slot = this.tileSlot(s, firstTile + i);
      let jobs = byBuffer.get(slot.buffer);
      if (!jobs) { jobs = []; byBuffer.set(slot.buffer, jobs); }
      jobs.push(i * TILE_TOKENS * tf, rowsFloats + i * TILE_TOKENS * tf, slot.offsetWords, 0);
    }
    const enc = dev.createCommandEncoder({ label: 'kvpack-encode' });
    const temps: GPUBuffer[] = [rows];
    const layout = bindGroupLayout(this.ctx, 'encode');
    for (const [buffer, jobs] of byBuffer) {
      const jobBuf = dev.createBuffer({ label: 'kvpack-encode-jobs', size: jobs.length * 4, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST });
      dev.queue.writeBuffer(jobBuf, 0, new Uint32Array(jobs));
      temps.push(jobBuf);
      const bind = dev.createBindGroup({
        layout,
        entries: [rows, this.pages.buffers[buffer]!, this.params, jobBuf].map((b, binding) => ({ binding, resource: { buffer: b } })),
      });
      const pass = enc.beginComputePass({ label: 'kvpack-encode' });
      for (const p of [encK, encV]) {
        pass.setPipeline(p);
        pass.setBindGroup(0, bind);
        pass.dispatchWorkgroups(jobs.length / 4, this.layout.nKvHeads);
      }
      pass.end();
    }
    dev.queue.submit([enc.finish()]);
    for (const b of temps) b.destroy(); // destroy after submit: the GPU keeps them alive for the queued work
    s.tiles = firstTile + count;
  }

  /** Reads back page `page` of a sequence (its first tiles % 64 slots valid). For tests and debugging. */
  async readPage(seq: number, page: number): Promise<Uint32Array> {
    const s = this.seqs.get(seq);
    if (!s) throw new KvpackError('UNKNOWN_SEQUENCE', `no sequence ${seq} in this cache`, 'seq');
    check(Number.isInteger(page) && page >= 0 && page < s.pages.length, 'BAD_PARAM', `must be in [0, ${s.pages.length}), got ${page}`, 'page');
    const ref = s.pages[page]!;
    const bytes = this.layout.pageWords * 4;
    const dev = this.ctx.device;
    const rb = dev.createBuffer({ label: 'kvpack-readback', size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    const enc = dev.createCommandEncoder();
    enc.copyBufferToBuffer(this.pages.buffers[ref.buffer]!, ref.offsetWords * 4, rb, 0, bytes);
    dev.queue.submit([enc.finish()]);
    try {
      await this.ctx.guard(rb.mapAsync(MAP_READ_MODE));
      return new Uint32Array(rb.getMappedRange().slice(0));
    } finally {
      rb.destroy();
    }
  }
}
