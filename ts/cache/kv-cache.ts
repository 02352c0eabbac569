import { check, checkFinite, KvpackError } from '../errors.js';
import { HEAD_DIM_MULTIPLE, MAX_HEAD_DIM, TILE_TOKENS, TILES_PER_PAGE } from '../format/constants.js';
import { createCodec } from '../codecs/registry.js';
import { checkRange, codecMaxAbs } from '../codecs/range.js';
import { addSymbolDispose } from '../util/dispose.js';
import { checkF32, checkObject, checkOptionalObject, typeName } from '../util/args.js';
import type { StreamCodec } from '../codecs/types.js';
import { pullChunks, pullSync, type ChunkSource } from '../serialize/bytes.js';
import {
  concatChunks, endChunks, fileChunks, packedLayerChunks, packedSequenceChunks, parseFile,
  type LayerData, type PackedLayerData,
} from '../serialize/cache-file.js';
import type { CacheStats } from './kv-cache-like.js';

export type { CacheStats } from './kv-cache-like.js';

/** Upper bound for `window` and `sinks` (fp32 tokens kept per sequence). */
export const MAX_FP_TOKENS = 65536;

export interface CacheOptions {
  nKvHeads: number;
  headDim: number;
  /** Codec name (see listCodecs()) or a codec instance for keys / values. */
  key: string | StreamCodec;
  value: string | StreamCodec;
  keyOptions?: Record<string, unknown>;
  valueOptions?: Record<string, unknown>;
  calibration?: { key?: unknown; value?: unknown };
  /** Recent tokens always kept in fp32 (KIVI residual, SKVQ sliding window). Default 0. */
  window?: number;
  /** First tokens of each sequence kept in fp32 forever (attention sinks). Default 0. */
  sinks?: number;
  /**
   * Pack tiles with faster encoders than the TS reference, words unchanged: e.g. a WasmBackend
   * (`encodeWith: await WasmBackend.create()`; decisions.md#D6). Codecs it has no
   * encoder for keep the TS one.
   */
  encodeWith?: TileEncoderSource;
}

/** Something that turns a codec into one whose encodeTile is faster and writes the same words. */
export interface TileEncoderSource {
  fastEncoder(codec: StreamCodec): StreamCodec;
}

/** The per-sequence state; exposed read-only to backends that mirror pages. */
export interface SequenceView {
  readonly pages: readonly Uint32Array[];
  readonly tiles: number;
  readonly sinkCount: number;
  readonly sinkK: Float32Array; // [sinks][nKvHeads][headDim]
  readonly sinkV: Float32Array;
  readonly tailCount: number;
  readonly tailK: Float32Array; // [tailCount][nKvHeads][headDim], oldest first
  readonly tailV: Float32Array;
}

/**
 * A sequence's storage: pages, fp32 sinks and tail (also the WASM workers' replicas,
 * wasm-threads.ts). A restored sequence's fp arrays hold only its saved rows; the cache grows
 * them to full size on its next append (so restoring untrusted bytes allocates what they hold).
 */
export class SequenceState implements SequenceView {
  pages: Uint32Array[] = [];
  tiles = 0;
  sinkCount = 0;
  tailCount = 0;
  /** Set on a snapshot (`frozen`): the live state it copies, which mirrors key on. */
  origin: SequenceState | undefined;
  constructor(
    public sinkK: Float32Array,
    public sinkV: Float32Array,
    public tailK: Float32Array,
    public tailV: Float32Array,
  ) {}

  /**
   * This state as it is now, for a call that runs later: sealed tiles and sink rows never change
   * once written, so pages and sinks are shared; the tail (rewritten in place) is copied.
   */
  frozen(tokenFloats: number): SequenceState {
    const n = this.tailCount * tokenFloats;
    const s = new SequenceState(this.sinkK, this.sinkV, this.tailK.slice(0, n), this.tailV.slice(0, n));
    s.pages = this.pages.slice();
    s.tiles = this.tiles;
    s.sinkCount = this.sinkCount;
    s.tailCount = this.tailCount;
    s.origin = this.origin ?? this;
    return s;
  }
}

/** The cache a snapshot was taken of (PackedKvCache.snapshot), or the cache itself: per-cache state keys on it. */
export function cacheOrigin(cache: PackedKvCache): PackedKvCache {
  return (cache as { source?: PackedKvCache }).source ?? cache;
}

/** The live state a view (or a snapshot of one) stands for: mirrors compare these to spot a re-created sequence. */
export function viewOrigin(v: SequenceView): SequenceView {
  return (v as { origin?: SequenceView }).origin ?? v;
}

/** Options of PackedKvCache.deserialize / deserializeFrom. */
export interface DeserializeOptions {
  /** Which layer of a file holding several (default: the only one; BAD_PARAM when there are several). */
  layer?: number;
  /** As CacheOptions.encodeWith, for tiles sealed after the restore. */
  encodeWith?: TileEncoderSource;
}

/** Picks one layer of a parsed file for a single-layer restore. */
export function pickLayer(layers: LayerData[], options: { layer?: number }): LayerData {
  check(options.layer === undefined || Number.isInteger(options.layer), 'BAD_PARAM', `must be an integer, got ${String(options.layer)}`, 'layer');
  const i = options.layer ?? 0;
  if (options.layer === undefined && layers.length !== 1) {
    throw new KvpackError('BAD_PARAM', `the file holds ${layers.length} layers: pass options.layer or use deserializeCaches`, 'layer');
  }
  check(Number.isInteger(i) && i >= 0 && i < layers.length, 'BAD_PARAM', `must be in [0, ${layers.length}), got ${i}`, 'layer');
  return layers[i]!;
}

/**
 * The K/V cache of one layer for any number of sequences. Tokens enter an fp32 tail; once the
 * tail holds `window + TILE_TOKENS` tokens, its oldest TILE_TOKENS become one packed tile per
 * head and stream. Pages of TILES_PER_PAGE tiles are appended, never reallocated.
 */
export class PackedKvCache {
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly window: number;
  readonly sinks: number;
  readonly key: StreamCodec;
  readonly value: StreamCodec;
  /** u32 words per tile slot: every head's K then V words. */
  readonly tileSlotWords: number;
  readonly pageWords: number;
  /** Largest |x| appended keys / values may hold (codecMaxAbs: the codec's range, the kernels' bound). */
  readonly keyMaxAbs: number;
  readonly valueMaxAbs: number;
  private readonly seqs = new Map<number, SequenceState>();
  /** Releases registered by backends holding copies of this cache (onDispose). */
  private disposers: (() => void)[] | undefined;
  private isDisposed = false;
  private readonly tileIn: Float32Array;
  private readonly tileOut: Uint32Array;

  constructor(opts: CacheOptions) {
    checkObject(opts, 'opts');
    const { nKvHeads, headDim } = opts;
    check(Number.isInteger(nKvHeads) && nKvHeads > 0, 'BAD_PARAM', `must be a positive integer, got ${nKvHeads}`, 'nKvHeads');
    check(
      Number.isInteger(headDim) && headDim > 0 && headDim % HEAD_DIM_MULTIPLE === 0 && headDim <= MAX_HEAD_DIM,
      'BAD_PARAM', `must be a multiple of ${HEAD_DIM_MULTIPLE} in [${HEAD_DIM_MULTIPLE}, ${MAX_HEAD_DIM}], got ${headDim}`, 'headDim');
    const window = opts.window ?? 0;
    const sinks = opts.sinks ?? 0;
    // The fp32 regions are allocated up front per sequence, so they are bounded.
    check(Number.isInteger(window) && window >= 0 && window <= MAX_FP_TOKENS, 'BAD_PARAM', `must be an integer in [0, ${MAX_FP_TOKENS}], got ${window}`, 'window');
    check(Number.isInteger(sinks) && sinks >= 0 && sinks <= MAX_FP_TOKENS, 'BAD_PARAM', `must be an integer in [0, ${MAX_FP_TOKENS}], got ${sinks}`, 'sinks');
    this.nKvHeads = nKvHeads;
    this.headDim = headDim;
    this.window = window;
    this.sinks = sinks;
    const key = resolveCodec(opts.key, 'key', opts, opts.keyOptions, opts.calibration?.key);
    const value = resolveCodec(opts.value, 'value', opts, opts.valueOptions, opts.calibration?.value);
    check(opts.encodeWith === undefined || typeof opts.encodeWith?.fastEncoder === 'function', 'BAD_PARAM', 'must have a fastEncoder method (e.g. a WasmBackend)', 'encodeWith');
    this.key = opts.encodeWith ? opts.encodeWith.fastEncoder(key) : key;
    this.value = opts.encodeWith ? opts.encodeWith.fastEncoder(value) : value;
    this.keyMaxAbs = codecMaxAbs(this.key);
    this.valueMaxAbs = codecMaxAbs(this.value);
    this.tileSlotWords = nKvHeads * (this.key.tileWords + this.value.tileWords);
    this.pageWords = TILES_PER_PAGE * this.tileSlotWords;
    this.tileIn = new Float32Array(TILE_TOKENS * headDim);
    this.tileOut = new Uint32Array(Math.max(this.key.tileWords, this.value.tileWords));
  }

  /** Floats per token of one stream: nKvHeads * headDim. */
  get tokenFloats(): number {
    return this.nKvHeads * this.headDim;
  }

  hasSequence(seq: number): boolean {
    return this.seqs.has(seq);
  }

  sequenceIds(): number[] {
    return [...this.seqs.keys()];
  }

  length(seq: number): number {
    const s = this.seqs.get(seq);
    return s ? s.sinkCount + s.tiles * TILE_TOKENS + s.tailCount : 0;
  }

  /** Read-only view for attention kernels; throws UNKNOWN_SEQUENCE. */
  view(seq: number): SequenceView {
    const s = this.seqs.get(seq);
    if (!s) throw new KvpackError('UNKNOWN_SEQUENCE', `no sequence ${seq} in this cache`, 'seq');
    return s;
  }

  /**
   * Append tokens to a sequence (created on first append). keys/values: [n][nKvHeads][headDim].
   * Everything is validated before the cache changes.
   */
  append(seq: number, keys: Float32Array, values: Float32Array): void {
    check(!this.isDisposed, 'BAD_PARAM', 'this cache was disposed', 'cache');
    check(Number.isInteger(seq) && seq >= 0, 'BAD_PARAM', `must be a non-negative integer, got ${seq}`, 'seq');
    checkF32(keys, 'keys');
    checkF32(values, 'values');
    const tf = this.tokenFloats;
    check(keys.length % tf === 0 && keys.length > 0, 'BAD_SHAPE', `length ${keys.length} is not a positive multiple of nKvHeads*headDim=${tf}`, 'keys');
    check(values.length === keys.length, 'BAD_SHAPE', `length ${values.length} != keys length ${keys.length}`, 'values');
    checkFinite(keys, 'keys');
    checkFinite(values, 'values');
    checkRange(keys, this.keyMaxAbs, 'keys', `key codec '${this.key.name}'`);
    checkRange(values, this.valueMaxAbs, 'values', `value codec '${this.value.name}'`);
    let s = this.seqs.get(seq);
    const tailCap = (this.window + TILE_TOKENS) * tf;
    if (!s) {
      s = new SequenceState(
        new Float32Array(this.sinks * tf), new Float32Array(this.sinks * tf),
        new Float32Array(tailCap), new Float32Array(tailCap));
      this.seqs.set(seq, s);
    } else if (s.tailK.length < tailCap || s.sinkK.length < this.sinks * tf) {
      growFp(s, this.sinks * tf, tailCap);
    }
    const n = keys.length / tf;
    for (let i = 0; i < n; i++) {
      const k = keys.subarray(i * tf, (i + 1) * tf);
      const v = values.subarray(i * tf, (i + 1) * tf);
      if (s.sinkCount < this.sinks) {
        s.sinkK.set(k, s.sinkCount * tf);
        s.sinkV.set(v, s.sinkCount * tf);
        s.sinkCount++;
        continue;
      }
      s.tailK.set(k, s.tailCount * tf);
      s.tailV.set(v, s.tailCount * tf);
      s.tailCount++;
      if (s.tailCount === this.window + TILE_TOKENS) this.sealOldestTile(s);
    }
  }

  /** Drop a sequence and its pages. */
  delete(seq: number): void {
    this.seqs.delete(seq);
  }

  /** Whether dispose() was called: appends throw, attends see no sequences. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  /**
   * Backends call this when they copy the cache (WASM memory, GPU buffers, worker replicas):
   * `release` frees that copy on dispose() (at once if already disposed). Caches that are only
   * dropped are released by the backends' FinalizationRegistry instead, later.
   */
  onDispose(release: () => void): void {
    if (this.isDisposed) release();
    else (this.disposers ??= []).push(release);
  }

  /**
   * Drops every sequence and frees what backends hold for this cache now (also `using cache =
   * new PackedKvCache(...)`). Attends already made still complete (they hold snapshots).
   */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.seqs.clear();
    const ds = this.disposers ?? [];
    this.disposers = undefined;
    for (const d of ds) d();
  }

  /**
   * A read-only copy of this cache as it is now, for backends whose work runs after the call
   * returns (WebGPU, WASM threads): each attend sees exactly the tokens appended before it was
   * called. `seqs` get frozen states (O(pages + tail) each); the others keep their live state,
   * read only for its identity. The copy shares codecs and shape with this cache; append and
   * delete on it throw.
   */
  snapshot(seqs: readonly number[]): PackedKvCache {
    const frozen = new Map(this.seqs);
    for (const id of seqs) {
      const s = this.seqs.get(id);
      if (s) frozen.set(id, s.frozen(this.tokenFloats));
    }
    const readOnly = (): never => { throw new KvpackError('BAD_PARAM', 'a cache snapshot is read-only', 'cache'); };
    return Object.create(this, {
      seqs: { value: frozen },
      append: { value: readOnly },
      delete: { value: readOnly },
      source: { value: cacheOrigin(this) },
    }) as PackedKvCache;
  }

  /** Word offset of (tile, head, stream) inside its page. */
  tileOffset(tileInPage: number, head: number, stream: 'key' | 'value'): number {
    return tileInPage * this.tileSlotWords + head * (this.key.tileWords + this.value.tileWords) +
      (stream === 'key' ? 0 : this.key.tileWords);
  }

  stats(): CacheStats {
    let tokens = 0, tiles = 0, fpTokens = 0;
    for (const s of this.seqs.values()) {
      tiles += s.tiles;
      fpTokens += s.sinkCount + s.tailCount;
      tokens += s.sinkCount + s.tailCount + s.tiles * TILE_TOKENS;
    }
    const packedBytes = tiles * this.tileSlotWords * 4;
    const paramBytes = (this.key.paramWords.length + this.value.paramWords.length) * 4;
    const elements = tokens * this.tokenFloats * 2;
    const fpElements = fpTokens * this.tokenFloats * 2;
    const bitsBase = packedBytes * 8 + paramBytes * 8;
    return {
      tokens, packedBytes, fpTokens, paramBytes,
      effectiveBits: elements ? (bitsBase + fpElements * 16) / elements : 0,
      effectiveBitsStored: elements ? (bitsBase + fpElements * 32) / elements : 0,
    };
  }

  // ---- save and restore (docs/FORMAT.md, "Saved caches") ---------------------------------------

  /** The cache as plain layer data for the saved-cache writer (views of the live arrays, not copies). */
  toLayerData(): PackedLayerData {
    return {
      kind: 'packed', nKvHeads: this.nKvHeads, headDim: this.headDim, window: this.window, sinks: this.sinks,
      key: this.key, value: this.value,
      sequences: [...this.seqs].map(([id, s]) => ({
        id, tiles: s.tiles, sinkCount: s.sinkCount, tailCount: s.tailCount, pages: s.pages,
        sinkK: s.sinkK, sinkV: s.sinkV, tailK: s.tailK, tailV: s.tailV,
      })),
    };
  }

  /**
   * The cache as chunks of the saved format, written lazily: sealed pages travel as views of the
   * cache's own words (no copy, no re-encoding). Do not append while iterating.
   */
  *serializeChunks(): Generator<Uint8Array> {
    const l = this.toLayerData();
    yield* fileChunks(1);
    yield* packedLayerChunks(l, l.sequences.length);
    for (const s of l.sequences) yield* packedSequenceChunks(l, s);
    yield* endChunks();
  }

  /** The whole cache as one buffer of the saved format (docs/FORMAT.md, "Saved caches"). */
  serialize(): Uint8Array {
    return concatChunks(this.serializeChunks());
  }

  /**
   * Restores a cache saved by serialize() (or one layer of serializeCaches()). The bytes are
   * untrusted: every failure is a KvpackError (CORRUPT_DATA naming the field,
   * UNSUPPORTED_VERSION, UNKNOWN_CODEC), raised before any cache exists.
   */
  static deserialize(bytes: Uint8Array, options: DeserializeOptions = {}): PackedKvCache {
    checkOptionalObject(options, 'options');
    return PackedKvCache.fromLayerData(pickLayer(pullSync(bytes, parseFile()).layers, options), options);
  }

  /** deserialize from chunks (async iterable, iterable or Web ReadableStream of Uint8Array). */
  static async deserializeFrom(source: ChunkSource, options: DeserializeOptions = {}): Promise<PackedKvCache> {
    checkOptionalObject(options, 'options');
    return PackedKvCache.fromLayerData(pickLayer((await pullChunks(source, parseFile())).layers, options), options);
  }

  /** Builds a cache from parsed layer data (the arrays are adopted, not copied). */
  static fromLayerData(data: LayerData, options: { encodeWith?: TileEncoderSource } = {}): PackedKvCache {
    check(options.encodeWith === undefined || typeof options.encodeWith?.fastEncoder === 'function', 'BAD_PARAM', 'must have a fastEncoder method (e.g. a WasmBackend)', 'encodeWith');
    if (data.kind !== 'packed') {
      throw new KvpackError('BAD_PARAM', `the saved layer is a ${data.kind} cache: restore it with its own class (QaqKvCache.deserialize) or deserializeCaches`, 'bytes');
    }
    const cache = new PackedKvCache({
      nKvHeads: data.nKvHeads, headDim: data.headDim, window: data.window, sinks: data.sinks,
      key: data.key, value: data.value, ...(options.encodeWith ? { encodeWith: options.encodeWith } : {}),
    });
    for (const d of data.sequences) {
      const s = new SequenceState(d.sinkK, d.sinkV, d.tailK, d.tailV);
      s.pages = [...d.pages];
      s.tiles = d.tiles;
      s.sinkCount = d.sinkCount;
      s.tailCount = d.tailCount;
      cache.seqs.set(d.id, s);
    }
    return cache;
  }

  private sealOldestTile(s: SequenceState): void {
    const tf = this.tokenFloats;
    const d = this.headDim;
    if (s.tiles % TILES_PER_PAGE === 0) s.pages.push(new Uint32Array(this.pageWords));
    const page = s.pages[s.pages.length - 1]!;
    // a restored page is allocated whole (cache-file.ts), so no page ever needs to grow here
    const tileInPage = s.tiles % TILES_PER_PAGE;
    for (const stream of ['key', 'value'] as const) {
      const codec = stream === 'key' ? this.key : this.value;
      const tail = stream === 'key' ? s.tailK : s.tailV;
      for (let h = 0; h < this.nKvHeads; h++) {
        for (let t = 0; t < TILE_TOKENS; t++) {
          this.tileIn.set(tail.subarray(t * tf + h * d, t * tf + h * d + d), t * d);
        }
        const out = this.tileOut.subarray(0, codec.tileWords);
        out.fill(0);
        codec.encodeTile(this.tileIn, h, out);
        page.set(out, this.tileOffset(tileInPage, h, stream));
      }
    }
    s.tiles++;
    s.tailK.copyWithin(0, TILE_TOKENS * tf, s.tailCount * tf);
    s.tailV.copyWithin(0, TILE_TOKENS * tf, s.tailCount * tf);
    s.tailCount -= TILE_TOKENS;
  }
}

/** Grows a restored sequence's fp arrays to the sizes append writes into (rows kept). */
function growFp(s: SequenceState, sinkFloats: number, tailFloats: number): void {
  const grow = (a: Float32Array, n: number): Float32Array => {
    if (a.length >= n) return a;
    const b = new Float32Array(n);
    b.set(a);
    return b;
  };
  s.sinkK = grow(s.sinkK, sinkFloats);
  s.sinkV = grow(s.sinkV, sinkFloats);
  s.tailK = grow(s.tailK, tailFloats);
  s.tailV = grow(s.tailV, tailFloats);
}

function resolveCodec(
  c: string | StreamCodec, kind: 'key' | 'value', opts: CacheOptions,
  options: Record<string, unknown> | undefined, calibration: unknown,
): StreamCodec {
  if (typeof c !== 'string') {
    check(c !== null && typeof c === 'object' && typeof c.encodeTile === 'function', 'BAD_PARAM', `must be a codec name or a codec instance, got ${typeName(c)}`, kind);
    check(c.kind === kind, 'BAD_PARAM', `codec instance codes ${c.kind}s`, kind);
    check(c.headDim === opts.headDim && c.nKvHeads === opts.nKvHeads, 'BAD_SHAPE',
      `codec built for ${c.nKvHeads}x${c.headDim}, cache is ${opts.nKvHeads}x${opts.headDim}`, kind);
    return c;
  }
  return createCodec(c, { kind, headDim: opts.headDim, nKvHeads: opts.nKvHeads, options, calibration });
}

addSymbolDispose(PackedKvCache);
