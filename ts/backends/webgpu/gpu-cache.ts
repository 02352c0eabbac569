import { check, checkFinite, KvpackError } from '../../errors.js';
import { TILE_TOKENS, TILES_PER_PAGE } from '../../format/constants.js';
import { PackedKvCache, pickLayer, viewOrigin, type CacheOptions } from '../../cache/kv-cache.js';
import { pullChunks, pullSync, type ChunkSource } from '../../serialize/bytes.js';
import {
  concatChunks, endChunks, fileChunks, packedLayerChunks, packedSequenceChunks, parseFile,
  type LayerData, type PackedSequenceData,
} from '../../serialize/cache-file.js';
import { BufferUsage, getGpuDevice, MAP_READ_MODE, writeArray, type GpuContext } from './device.js';
import { encodeSource } from './shaders.js';
import { kernelsFor } from './kernels.js';
import { rotationOf, type RotatedCodec } from '../../codecs/rotation.js';
import { checkRange } from '../../codecs/range.js';
import { addSymbolDispose } from '../../util/dispose.js';
import { checkEncoder, checkGpuSlice, checkOptionalObject } from '../../util/args.js';
import { getPipeline, bindGroupLayout } from './pipelines.js';
import { SlabPool, type SlabRef } from './pool.js';

export interface GpuCacheOptions {
  /** Cap on pages per GPU buffer (default: as many as maxStorageBufferBindingSize holds). Tests use 1 to span buffers. */
  pagesPerBuffer?: number;
  /**
   * Tokens (all sequences together) to size the first page buffer for, up to what one binding
   * holds. Pages otherwise come in buffers of 1, 2, 4, ... pages and attention dispatches once per
   * buffer, one after the other; an engine that knows its context length gets one buffer and one
   * dispatch (decisions.md#D151). Memory is allocated when the first page is, not before.
   */
  reserveTokens?: number;
  /**
   * Most tokens one append step moves (larger appends are split): the staging buffer the
   * encoders read holds old tail + new rows for K and V and is bound whole, so it must stay
   * under maxStorageBufferBindingSize. Default: what that limit allows. Tests set it small.
   */
  appendChunkTokens?: number;
  /** Use this context instead of the shared one. */
  gpu?: GpuContext;
}

/** f32 rows [n][nKvHeads][headDim] at byte `offset` (a multiple of 4, default 0) of a GPU buffer with COPY_SRC usage. */
export interface GpuRows { buffer: GPUBuffer; offset?: number }

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
 *
 * Rotated codecs (`@rk` / `@rv`, RotatedCodec) run the inner codec's WGSL kernels with every row
 * on the GPU in the rotated space (decisions.md#D135): host rows (append, syncFrom's sinks and
 * tail) are rotated on the host before upload, so tiles are the TS reference's words bit for
 * bit; attendGpu rotates the queries and the output back on the host, attendInto by a WGSL pass
 * (attend/rotate.wgsl) in the caller's encoder. appendFromGpu(Into) (GPU rows: no rotation pass
 * for rows yet) and serialize (the fp rows are stored rotated) throw BACKEND_UNAVAILABLE for
 * such a cache.
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
  /** Tokens per append step, see GpuCacheOptions.appendChunkTokens. */
  readonly appendChunkTokens: number;
  /** The rotations of rotated streams (@rk / @rv), else undefined (decisions.md#D135). */
  readonly keyRot: RotatedCodec | undefined;
  readonly valueRot: RotatedCodec | undefined;

  static async create(opts: CacheOptions & GpuCacheOptions): Promise<GpuKvCache> {
    const layout = new PackedKvCache(opts);
    const ctx = opts.gpu ?? await getGpuDevice();
    return new GpuKvCache(ctx, layout, opts);
  }

  constructor(ctx: GpuContext, layout: PackedKvCache, opts: GpuCacheOptions = {}) {
    kernelsFor(layout.key);
    kernelsFor(layout.value);
    this.keyRot = rotationOf(layout.key);
    this.valueRot = rotationOf(layout.value);
    this.ctx = ctx;
    this.layout = layout;
    const tf = layout.tokenFloats;
    this.fpRowCount = layout.sinks + layout.window + TILE_TOKENS;
    if (opts.reserveTokens !== undefined) {
      check(Number.isInteger(opts.reserveTokens) && opts.reserveTokens >= 0, 'BAD_PARAM',
        `must be a non-negative integer, got ${opts.reserveTokens}`, 'reserveTokens');
    }
    const reservePages = Math.max(1, Math.ceil((opts.reserveTokens ?? 0) / (TILE_TOKENS * TILES_PER_PAGE)));
    this.pages = new SlabPool(ctx, layout.pageWords, 'pages', opts.pagesPerBuffer, reservePages);
    const rowBytes = tf * 4;
    const fit = Math.floor(Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize) / (2 * rowBytes)) - (layout.window + TILE_TOKENS);
    if (opts.appendChunkTokens !== undefined) {
      check(Number.isInteger(opts.appendChunkTokens) && opts.appendChunkTokens >= 1, 'BAD_PARAM',
        `must be a positive integer, got ${opts.appendChunkTokens}`, 'appendChunkTokens');
    }
    this.appendChunkTokens = Math.max(1, Math.min(fit, opts.appendChunkTokens ?? fit));
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

  private queue: Promise<unknown> = Promise.resolve();
  /** Temporary buffers of appends recorded into a caller's encoder, destroyed by a later append into another encoder. */
  private deferredTemps: { encoder: GPUCommandEncoder; buffer: GPUBuffer }[] = [];

  /** Destroys deferred temporaries except those of `keep` (an encoder still being recorded). */
  private releaseDeferred(keep?: GPUCommandEncoder): void {
    const stay = this.deferredTemps.filter((t) => t.encoder === keep);
    for (const t of this.deferredTemps) if (t.encoder !== keep) t.buffer.destroy();
    this.deferredTemps = stay;
  }

  /**
   * Runs `fn` after every append and attend called on this cache before it (each validated and
   * its input copied at call time), so calls made without awaiting give what sequential calls give.
   */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Registers cleanup (e.g. attention scratch buffers) to run on destroy(). */
  onDestroy(fn: () => void): void {
    this.disposers.push(fn);
  }

  /** The same as destroy() (and `using`). */
  dispose(): void {
    this.destroy();
  }

  destroy(): void {
    for (const fn of this.disposers.splice(0)) fn();
    this.releaseDeferred();
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

  /** writeRows of host rows: rows of a rotated stream are rotated first (a copy). */
  private writeHostRows(s: GpuSequence, row: number, value: boolean, src: Float32Array, srcRow: number, count: number): void {
    const rot = value ? this.valueRot : this.keyRot, tf = this.layout.tokenFloats;
    if (!rot || count <= 0) return this.writeRows(s, row, value, src, srcRow, count);
    const rows = src.slice(srcRow * tf, (srcRow + count) * tf);
    rot.rotateRows(rows, count, 1, false);
    this.writeRows(s, row, value, rows, 0, count);
  }

  /** BACKEND_UNAVAILABLE for a path with no rotation pass, on a cache with a rotated stream. */
  checkNoRotation(what: string): void {
    check(!this.keyRot && !this.valueRot, 'BACKEND_UNAVAILABLE',
      `${what} has no rotation pass for rotated codecs ('${this.layout.key.name}' / '${this.layout.value.name}'); use append (decisions.md#D135)`, 'cache');
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
      if (s && s.hostView !== viewOrigin(v)) {
        this.releaseSequence(s);
        this.seqs.delete(id);
        s = undefined;
      }
      if (!s) { s = this.newSequence(); s.hostView = viewOrigin(v); this.seqs.set(id, s); }
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
        this.writeHostRows(s, s.sinkCount, false, v.sinkK, s.sinkCount, v.sinkCount - s.sinkCount);
        this.writeHostRows(s, s.sinkCount, true, v.sinkV, s.sinkCount, v.sinkCount - s.sinkCount);
        s.sinkCount = v.sinkCount;
      }
      this.writeHostRows(s, this.layout.sinks, false, v.tailK.subarray(0, v.tailCount * tf), 0, v.tailCount);
      this.writeHostRows(s, this.layout.sinks, true, v.tailV.subarray(0, v.tailCount * tf), 0, v.tailCount);
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
    check(keys instanceof Float32Array && values instanceof Float32Array, 'BAD_PARAM', 'keys and values must be Float32Arrays', 'keys');
    const tf = this.layout.tokenFloats;
    check(Number.isInteger(seq) && seq >= 0, 'BAD_PARAM', `must be a non-negative integer, got ${seq}`, 'seq');
    check(keys.length % tf === 0 && keys.length > 0, 'BAD_SHAPE', `length ${keys.length} is not a positive multiple of nKvHeads*headDim=${tf}`, 'keys');
    check(values.length === keys.length, 'BAD_SHAPE', `length ${values.length} != keys length ${keys.length}`, 'values');
    checkFinite(keys, 'keys');
    checkFinite(values, 'values');
    checkRange(keys, this.layout.keyMaxAbs, 'keys', `key codec '${this.layout.key.name}'`);
    checkRange(values, this.layout.valueMaxAbs, 'values', `value codec '${this.layout.value.name}'`);
    const k = keys.slice(), v = values.slice();
    // rotated streams: the rows the GPU encoders and attention see are rotated (decisions.md#D135)
    this.keyRot?.rotateRows(k, k.length / tf, 1, false);
    this.valueRot?.rotateRows(v, v.length / tf, 1, false);
    return this.serial(() => this.appendNow(seq, k, v));
  }

  private async appendNow(seq: number, keys: Float32Array, values: Float32Array): Promise<void> {
    const tf = this.layout.tokenFloats;
    // pipelines first: a shader that fails to build must leave the cache unchanged
    const pipes = await this.encodePipelines();
    this.assertUsable('append');
    const dev = this.ctx.device;
    const n = keys.length / tf;
    for (let at = 0; at < n; at += this.appendChunkTokens) {
      const m = Math.min(this.appendChunkTokens, n - at);
      const bytes = m * tf * 4;
      const input = dev.createBuffer({ label: 'kvpack-append-input', size: bytes * 2, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC });
      writeArray(dev.queue, input, 0, keys, at * tf, m * tf);
      writeArray(dev.queue, input, bytes, values, at * tf, m * tf);
      this.appendRows(seq, input, 0, input, bytes, m, pipes);
      input.destroy(); // after submit: the queued copies keep it alive
    }
  }

  /**
   * Append `n` tokens that are already on the GPU (e.g. produced by a WebGPU forward pass):
   * keys/values are f32 [n][nKvHeads][headDim] at byte `offset` of buffers with COPY_SRC usage on
   * this cache's device. Nothing goes through the host. Shapes and bounds are validated before
   * any state changes; finiteness cannot be checked without a readback, so non-finite values are
   * the caller's responsibility (they would make attention NaN).
   */
  async appendFromGpu(seq: number, keys: GpuRows, values: GpuRows, n: number): Promise<void> {
    this.checkGpuAppend(seq, keys, values, n);
    return this.serial(async () => {
      const pipes = await this.encodePipelines();
      this.assertUsable('append');
      this.recordGpuAppend(undefined, seq, keys, values, n, pipes);
    });
  }

  /**
   * appendFromGpu recorded into the caller's command encoder instead of a submit of its own,
   * so a forward pass can write K/V, append them and attend (attendInto) in one command buffer
   * with no host round trip. The cache's state (tile and tail counts) advances when the append
   * is recorded (in call order with the cache's other calls), so an attendInto called after this
   * on the same encoder sees the new tokens. Submit `encoder` before the next call on this cache:
   * the temporary buffers of this append are released then.
   */
  async appendFromGpuInto(encoder: GPUCommandEncoder, seq: number, keys: GpuRows, values: GpuRows, n: number): Promise<void> {
    checkEncoder(encoder);
    this.checkGpuAppend(seq, keys, values, n);
    return this.serial(async () => {
      const pipes = await this.encodePipelines();
      this.assertUsable('append');
      this.recordGpuAppend(encoder, seq, keys, values, n, pipes);
    });
  }

  private checkGpuAppend(seq: number, keys: GpuRows, values: GpuRows, n: number): void {
    this.assertUsable('append');
    this.checkNoRotation('appendFromGpu');
    const rowBytes = this.layout.tokenFloats * 4;
    check(Number.isInteger(seq) && seq >= 0, 'BAD_PARAM', `must be a non-negative integer, got ${seq}`, 'seq');
    check(Number.isInteger(n) && n > 0, 'BAD_SHAPE', `must be a positive integer, got ${n}`, 'n');
    for (const [arg, src] of [['keys', keys], ['values', values]] as const) {
      checkGpuSlice(src, arg);
      const off = src.offset ?? 0;
      check(Number.isInteger(off) && off >= 0 && off % 4 === 0, 'BAD_PARAM', `offset must be a non-negative multiple of 4, got ${off}`, arg);
      check(src.buffer.size >= off + n * rowBytes, 'BAD_SHAPE', `buffer of ${src.buffer.size} bytes cannot hold ${n} tokens (${n * rowBytes} bytes) at offset ${off}`, arg);
      check((src.buffer.usage & BufferUsage.COPY_SRC) !== 0, 'BAD_PARAM', 'buffer needs COPY_SRC usage', arg);
    }
  }

  private recordGpuAppend(encoder: GPUCommandEncoder | undefined, seq: number, keys: GpuRows, values: GpuRows, n: number,
    pipes: [GPUComputePipeline, GPUComputePipeline]): void {
    const rowBytes = this.layout.tokenFloats * 4;
    for (let at = 0; at < n; at += this.appendChunkTokens) {
      const m = Math.min(this.appendChunkTokens, n - at);
      this.appendRows(seq, keys.buffer, (keys.offset ?? 0) + at * rowBytes, values.buffer, (values.offset ?? 0) + at * rowBytes, m, pipes, encoder);
    }
  }

  private encodePipelines(): Promise<[GPUComputePipeline, GPUComputePipeline]> {
    return Promise.all([this.encodePipeline('key'), this.encodePipeline('value')]);
  }

  /**
   * The GPU side of an append, all in one command buffer: new sink rows are copied to the fp
   * region; if tiles get sealed, the old tail and the new rows are gathered in a staging buffer,
   * the encoders seal the oldest whole tiles from it (the same tokens PackedKvCache would seal:
   * it seals whenever its tail reaches window + TILE_TOKENS), and the rest becomes the new tail.
   */
  private appendRows(seq: number, kBuf: GPUBuffer, kOff: number, vBuf: GPUBuffer, vOff: number, n: number,
    [encK, encV]: [GPUComputePipeline, GPUComputePipeline], into?: GPUCommandEncoder): void {
    this.mode = 'append';
    // temporaries of an earlier append recorded into another encoder: that encoder has been
    // submitted by now (appendFromGpuInto's rule), so the GPU keeps them alive as long as needed
    this.releaseDeferred(into);
    const L = this.layout, tf = L.tokenFloats, rowBytes = tf * 4;
    const dev = this.ctx.device;
    const fpBuf = (s: GpuSequence) => this.fpRows.buffers[s.fp.buffer]!;
    let s = this.seqs.get(seq);
    if (!s) { s = this.newSequence(); this.seqs.set(seq, s); }
    const enc = into ?? dev.createCommandEncoder({ label: 'kvpack-append' });
    const temps: GPUBuffer[] = [];

    const nSink = Math.min(n, L.sinks - s.sinkCount);
    if (nSink > 0) {
      enc.copyBufferToBuffer(kBuf, kOff, fpBuf(s), this.fpRowByte(s, s.sinkCount, false), nSink * rowBytes);
      enc.copyBufferToBuffer(vBuf, vOff, fpBuf(s), this.fpRowByte(s, s.sinkCount, true), nSink * rowBytes);
      s.sinkCount += nSink;
    }
    const nTail = n - nSink;
    const total = s.tailCount + nTail;
    const sealed = Math.max(0, Math.floor((total - L.window) / TILE_TOKENS));
    if (nTail > 0 && sealed === 0) {
      enc.copyBufferToBuffer(kBuf, kOff + nSink * rowBytes, fpBuf(s), this.fpRowByte(s, L.sinks + s.tailCount, false), nTail * rowBytes);
      enc.copyBufferToBuffer(vBuf, vOff + nSink * rowBytes, fpBuf(s), this.fpRowByte(s, L.sinks + s.tailCount, true), nTail * rowBytes);
      s.tailCount = total;
    } else if (sealed > 0) {
      // staging: K rows [old tail | new rows], then V rows the same
      const staging = dev.createBuffer({ label: 'kvpack-append-staging', size: 2 * total * rowBytes, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC });
      temps.push(staging);
      const vBase = total * rowBytes;
      if (s.tailCount > 0) {
        enc.copyBufferToBuffer(fpBuf(s), this.fpRowByte(s, L.sinks, false), staging, 0, s.tailCount * rowBytes);
        enc.copyBufferToBuffer(fpBuf(s), this.fpRowByte(s, L.sinks, true), staging, vBase, s.tailCount * rowBytes);
      }
      enc.copyBufferToBuffer(kBuf, kOff + nSink * rowBytes, staging, s.tailCount * rowBytes, nTail * rowBytes);
      enc.copyBufferToBuffer(vBuf, vOff + nSink * rowBytes, staging, vBase + s.tailCount * rowBytes, nTail * rowBytes);
      temps.push(...this.recordEncode(enc, s, staging, total * tf, sealed, encK, encV));
      const keep = total - sealed * TILE_TOKENS;
      if (keep > 0) {
        enc.copyBufferToBuffer(staging, sealed * TILE_TOKENS * rowBytes, fpBuf(s), this.fpRowByte(s, L.sinks, false), keep * rowBytes);
        enc.copyBufferToBuffer(staging, vBase + sealed * TILE_TOKENS * rowBytes, fpBuf(s), this.fpRowByte(s, L.sinks, true), keep * rowBytes);
      }
      s.tailCount = keep;
    }
    if (into) { this.deferredTemps.push(...temps.map((buffer) => ({ encoder: into, buffer }))); return; }
    dev.queue.submit([enc.finish()]);
    for (const b of temps) b.destroy(); // after submit: the GPU keeps them alive for the queued work
  }

  /**
   * Records the encoders sealing `count` tiles whose rows are in `rows` (K rows from float 0,
   * V rows from float `vBaseFloats`, TILE_TOKENS rows per tile) into the sequence's next tile
   * slots; one dispatch per page buffer they land in. Returns the temporary buffers.
   */
  private recordEncode(enc: GPUCommandEncoder, s: GpuSequence, rows: GPUBuffer, vBaseFloats: number, count: number,
    encK: GPUComputePipeline, encV: GPUComputePipeline): GPUBuffer[] {
    const dev = this.ctx.device, tf = this.layout.tokenFloats;
    const firstTile = s.tiles;
    this.ensurePages(s, firstTile + count);
    const byBuffer = new Map<number, number[]>();
    for (let i = 0; i < count; i++) {
      const slot = this.tileSlot(s, firstTile + i);
      let jobs = byBuffer.get(slot.buffer);
      if (!jobs) { jobs = []; byBuffer.set(slot.buffer, jobs); }
      jobs.push(i * TILE_TOKENS * tf, vBaseFloats + i * TILE_TOKENS * tf, slot.offsetWords, 0);
    }
    const temps: GPUBuffer[] = [];
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
    s.tiles = firstTile + count;
    return temps;
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

  // ---- save and restore (docs/FORMAT.md, "Saved caches"; the same bytes as PackedKvCache's) ------

  /**
   * The cache in the saved format, as chunks: each sequence's pages and fp rows are downloaded
   * as they are stored on the GPU (no host re-encoding), one sequence at a time.
   */
  async *serializeChunks(): AsyncGenerator<Uint8Array> {
    this.assertAlive();
    this.checkNoRotation('serialize');
    const layout = this.layout.toLayerData();
    const ids = [...this.seqs.keys()];
    yield* fileChunks(1);
    yield* packedLayerChunks(layout, ids.length);
    for (const id of ids) yield* packedSequenceChunks(layout, await this.downloadSequence(id));
    yield* endChunks();
  }

  async serialize(): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    for await (const c of this.serializeChunks()) chunks.push(c);
    return concatChunks(chunks);
  }

  /** Restores a saved cache (PackedKvCache's or a GpuKvCache's bytes) onto the GPU: pages uploaded as stored. */
  static async deserialize(bytes: Uint8Array, opts: GpuCacheOptions & { layer?: number } = {}): Promise<GpuKvCache> {
    checkOptionalObject(opts, 'opts');
    return GpuKvCache.fromLayerData(pickLayer(pullSync(bytes, parseFile()).layers, opts), opts);
  }

  static async deserializeFrom(source: ChunkSource, opts: GpuCacheOptions & { layer?: number } = {}): Promise<GpuKvCache> {
    checkOptionalObject(opts, 'opts');
    return GpuKvCache.fromLayerData(pickLayer((await pullChunks(source, parseFile())).layers, opts), opts);
  }

  /** Builds a GPU-resident (append mode) cache from parsed layer data. */
  static async fromLayerData(data: LayerData, opts: GpuCacheOptions = {}): Promise<GpuKvCache> {
    const layout = PackedKvCache.fromLayerData(data.kind === 'packed' ? { ...data, sequences: [] } : data);
    const ctx = opts.gpu ?? await getGpuDevice();
    const g = new GpuKvCache(ctx, layout, opts);
    if (data.kind !== 'packed') return g; // unreachable: fromLayerData threw
    g.mode = 'append';
    const slot = layout.tileSlotWords;
    for (const d of data.sequences) {
      const s = g.newSequence();
      g.seqs.set(d.id, s);
      g.ensurePages(s, d.tiles);
      for (let p = 0; p * TILES_PER_PAGE < d.tiles; p++) {
        const ref = s.pages[p]!;
        const n = Math.min(TILES_PER_PAGE, d.tiles - p * TILES_PER_PAGE);
        writeArray(ctx.device.queue, g.pages.buffers[ref.buffer]!, ref.offsetWords * 4, d.pages[p]!, 0, n * slot);
      }
      g.writeHostRows(s, 0, false, d.sinkK, 0, d.sinkCount);
      g.writeHostRows(s, 0, true, d.sinkV, 0, d.sinkCount);
      g.writeHostRows(s, layout.sinks, false, d.tailK, 0, d.tailCount);
      g.writeHostRows(s, layout.sinks, true, d.tailV, 0, d.tailCount);
      s.tiles = d.tiles;
      s.sinkCount = d.sinkCount;
      s.tailCount = d.tailCount;
    }
    return g;
  }

  private assertAlive(): void {
    if (this.destroyed) throw new KvpackError('BAD_PARAM', 'this GpuKvCache was destroyed', 'cache');
    this.ctx.assertAlive();
  }

  /** Copies `bytes` bytes at `byteOffset` of a GPU buffer to the host. */
  private async readBack(buffer: GPUBuffer, byteOffset: number, bytes: number): Promise<ArrayBuffer> {
    const dev = this.ctx.device;
    const rb = dev.createBuffer({ label: 'kvpack-readback', size: Math.max(4, bytes), usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    try {
      if (bytes > 0) {
        const enc = dev.createCommandEncoder();
        enc.copyBufferToBuffer(buffer, byteOffset, rb, 0, bytes);
        dev.queue.submit([enc.finish()]);
      }
      await this.ctx.guard(rb.mapAsync(MAP_READ_MODE));
      return rb.getMappedRange().slice(0, bytes);
    } finally {
      rb.destroy();
    }
  }

  /** One sequence's sealed tile slots and fp rows, as stored on the GPU. */
  private async downloadSequence(id: number): Promise<PackedSequenceData> {
    const s = this.seqs.get(id)!;
    const slot = this.layout.tileSlotWords, tf = this.layout.tokenFloats;
    const pages: Uint32Array[] = [];
    for (let p = 0; p * TILES_PER_PAGE < s.tiles; p++) {
      const ref = s.pages[p]!;
      const n = Math.min(TILES_PER_PAGE, s.tiles - p * TILES_PER_PAGE);
      pages.push(new Uint32Array(await this.readBack(this.pages.buffers[ref.buffer]!, ref.offsetWords * 4, n * slot * 4)));
    }
    const fp = new Float32Array(await this.readBack(this.fpRows.buffers[s.fp.buffer]!, s.fp.offsetWords * 4, 2 * this.fpRowCount * tf * 4));
    const sinks = this.layout.sinks, vBase = this.fpRowCount * tf;
    return {
      id, tiles: s.tiles, sinkCount: s.sinkCount, tailCount: s.tailCount, pages,
      sinkK: fp.subarray(0, s.sinkCount * tf), sinkV: fp.subarray(vBase, vBase + s.sinkCount * tf),
      tailK: fp.subarray(sinks * tf, (sinks + s.tailCount) * tf), tailV: fp.subarray(vBase + sinks * tf, vBase + (sinks + s.tailCount) * tf),
    };
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

addSymbolDispose(GpuKvCache);
