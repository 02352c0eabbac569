import { check, checkFinite, KvpackError } from '../../errors.js';
import { HEAD_DIM_MULTIPLE, MAX_HEAD_DIM, TILE_TOKENS } from '../../format/constants.js';
import { keyBits, valueBits } from './allocation.js';
import { AttentionWindow } from './attention-window.js';
import { packedPartialsReference, type PackedPartials, type QaqPackedView } from './attend.js';
import { resolveQaqOptions, type QaqOptions, type ResolvedQaqOptions } from './options.js';
import { outlierCount, selectOutliers } from './outliers.js';
import { encodeRecord, maxRecordWords, recordWords } from './record.js';
import { MAX_FP_TOKENS, type CacheStats, pickLayer } from '../../cache/kv-cache.js';
import { checkF32, checkObject, checkOptionalObject, checkSeqId, checkSeqIds } from '../../util/args.js';
import { ATTEND_MAX_ABS, checkRange } from '../range.js';
import { F16_MAX } from '../uniform.js';
import { pullChunks, pullSync, type ChunkSource, corrupt } from '../../serialize/bytes.js';
import { concatChunks, endChunks, fileChunks, parseFile, qaqLayerChunks, qaqSequenceChunks, type LayerData, type QaqLayerData } from '../../serialize/cache-file.js';
import type { SelfAttendingCache } from '../../cache/kv-cache-like.js';
import { addSymbolDispose } from '../../util/dispose.js';

export interface QaqCacheOptions {
  nKvHeads: number;
  headDim: number;
  /** QAQ hyper-parameters (defaults: QAQ_DEFAULTS); validated, BAD_PARAM naming the field. */
  qaq?: Partial<QaqOptions>;
  /**
   * Recent tokens kept in fp32 (default attentionWindow, so that a token is sealed only after
   * the whole attention window has seen it). The tail holds window..window+31 tokens.
   */
  window?: number;
  /**
   * Computes the packed part of attention (default: the TS reference). The WASM and WebGPU
   * kernels plug in here; the tail and the attention bookkeeping stay on the host.
   */
  packedAttention?: QaqPackedAttention;
}

/**
 * The packed part of attention. It reads the view when called (an asynchronous kernel copies
 * what it needs before its first await: records are only appended, so words below the view's
 * pageUsed never change). `release`, when present, frees what the kernel keeps for a sequence
 * (keyed by its page list); the cache calls it on delete and dispose.
 */
export type QaqPackedAttention = ((view: QaqPackedView, q: Float32Array, nHeads: number) => PackedPartials | Promise<PackedPartials>)
  & { release?: (pages: readonly Uint32Array[]) => void };

/** A sequence's tail as an attend saw it at call time (copied only for asynchronous kernels). */
interface TailSnapshot {
  s: QaqSequence;
  tiles: number;
  tailCount: number;
  tailK: Float32Array;
  tailV: Float32Array;
}

/** Bits of one quantization group and stream, everything counted. */
export interface QaqGroupStats {
  /** KV head, or -1 for a 'layer' group covering every head. */
  head: number;
  keyBitsPerElement: number;
  valueBitsPerElement: number;
  /** Mean code width chosen per token (before metadata). */
  meanKeyWidth: number;
  meanValueWidth: number;
}

export interface QaqCacheStats extends CacheStats {
  /** Per quantization group over the packed tokens: record words + offset words, no fp tail. */
  groups: QaqGroupStats[];
  /** Tokens per chosen width 1..8 (index = width), keys and values. */
  keyWidthHistogram: number[];
  valueWidthHistogram: number[];
  /** Bits per packed element split into parts (K and V together). */
  breakdown: { codes: number; widthsAndMeta: number; outliers: number; offsets: number };
}

/** A sequence's storage; a restored one holds only its saved rows and grows on its next append. */
class QaqSequence {
  pages: Uint32Array[] = [];
  pageUsed = 0;
  offsets = new Uint32Array(64);
  tiles = 0;
  tailCount = 0;
  // asynchronous kernels (docs/reliability.md, "QAQ"): the weights an attend records land when
  // its kernel completes, and a seal must see every record of the attends called before it
  /** Seals waiting for records (their tokens stay in the tail until then), and the last of them. */
  sealsPending = 0;
  sealChain: Promise<void> = DONE;
  /** Recording attends not yet landed, and a promise settled once all of them have. */
  recordsPending = 0;
  records: Promise<void> = DONE;
  /** Asynchronous attends in flight (recording or not), and a promise settled after all of them. */
  inFlight = 0;
  idle: Promise<void> = DONE;
  constructor(public tailK: Float32Array, public tailV: Float32Array, readonly window: AttentionWindow) {}
}

const DONE: Promise<void> = Promise.resolve();
const noop = (): void => {};

/**
 * A dropped cache (never disposed) frees its kernel copies when V8 collects it, like the
 * backends' registries do for PackedKvCache: the held value names the kernel's release and the
 * page lists of the live sequences, never the cache itself.
 */
interface KernelHold { release: (pages: readonly Uint32Array[]) => void; pages: Set<readonly Uint32Array[]> }
const qaqFinalizer = new FinalizationRegistry<KernelHold>((h) => {
  for (const p of h.pages) h.release(p);
  h.pages.clear();
});

/** Default words per arena page (1 MiB); larger if one record could exceed it. */
export const QAQ_PAGE_WORDS = 1 << 18;

/**
 * A layer's K/V cache coded with QAQ: per-token, per-stream bit widths chosen from the
 * attention each token received (docs/codecs/qaq.md). Tokens enter an fp32 tail; when it holds
 * window + TILE_TOKENS tokens the oldest TILE_TOKENS are sealed into one variable-size record
 * per (group, stream), appended to the sequence's arena pages, addressed by an offset table.
 * Attention must go through `attend`, which also records the weights that drive allocation.
 */
export class QaqKvCache implements SelfAttendingCache {
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly window: number;
  readonly options: ResolvedQaqOptions;
  readonly rowWidth: number;
  readonly groups: number;
  readonly outliersPerRow: number;
  readonly pageWords: number;
  private readonly seqs = new Map<number, QaqSequence>();
  private readonly packedAttention: NonNullable<QaqCacheOptions['packedAttention']>;
  private readonly widthHist = [new Array<number>(9).fill(0), new Array<number>(9).fill(0)];
  private readonly groupWords: Float64Array; // [group][stream] record words
  private readonly groupWidthSum: Float64Array; // [group][stream] sum of widths over tokens
  private readonly parts = { codes: 0, meta: 0, outliers: 0 };
  private isDisposed = false;
  /** What the finalizer frees if the cache is dropped without dispose() (undefined: the kernel keeps nothing). */
  private readonly hold: KernelHold | undefined;

  constructor(opts: QaqCacheOptions) {
    checkObject(opts, 'opts');
    const { nKvHeads, headDim } = opts;
    check(Number.isInteger(nKvHeads) && nKvHeads > 0, 'BAD_PARAM', `must be a positive integer, got ${nKvHeads}`, 'nKvHeads');
    check(Number.isInteger(headDim) && headDim > 0 && headDim % HEAD_DIM_MULTIPLE === 0 && headDim <= MAX_HEAD_DIM,
      'BAD_PARAM', `must be a multiple of ${HEAD_DIM_MULTIPLE} in [${HEAD_DIM_MULTIPLE}, ${MAX_HEAD_DIM}], got ${headDim}`, 'headDim');
    this.options = resolveQaqOptions(opts.qaq as Record<string, unknown> | undefined, nKvHeads, headDim);
    const window = opts.window ?? this.options.attentionWindow;
    // the tail (window + TILE_TOKENS rows) is allocated per sequence on its first append: bounded
    // as PackedKvCache bounds it, so window: 1e9 fails here and not as a RangeError later
    check(Number.isInteger(window) && window >= 0 && window <= MAX_FP_TOKENS, 'BAD_PARAM', `must be an integer in [0, ${MAX_FP_TOKENS}], got ${window}`, 'window');
    this.nKvHeads = nKvHeads;
    this.headDim = headDim;
    this.window = window;
    this.groups = this.options.level === 'head' ? nKvHeads : 1;
    this.rowWidth = this.options.level === 'head' ? headDim : nKvHeads * headDim;
    // outlier columns are stored in 16 bits
    check(this.rowWidth <= 65536, 'BAD_PARAM', `level 'layer' rows of ${this.rowWidth} elements exceed 65536`, 'level');
    this.outliersPerRow = outlierCount(this.rowWidth, this.options.outlierRatio);
    this.pageWords = Math.max(QAQ_PAGE_WORDS, maxRecordWords(this.rowWidth, this.outliersPerRow));
    this.packedAttention = opts.packedAttention ?? packedPartialsReference;
    this.groupWords = new Float64Array(this.groups * 2);
    this.groupWidthSum = new Float64Array(this.groups * 2);
    const release = this.packedAttention.release;
    if (release) {
      this.hold = { release, pages: new Set() };
      qaqFinalizer.register(this, this.hold, this);
    }
  }

  /** A sequence enters `seqs`: its kernel copy is freed with the cache if that is dropped. */
  private adopt(seq: number, s: QaqSequence): void {
    this.seqs.set(seq, s);
    this.hold?.pages.add(s.pages);
  }

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
    return s ? s.tiles * TILE_TOKENS + s.tailCount : 0;
  }

  delete(seq: number): void {
    const s = this.seqs.get(seq);
    if (!s) return;
    this.seqs.delete(seq);
    this.hold?.pages.delete(s.pages);
    this.releaseWhenIdle(s);
  }

  /** Frees the kernel's copy of a dropped sequence once the attends and seals still using it are done. */
  private releaseWhenIdle(s: QaqSequence): void {
    const release = this.packedAttention.release;
    if (!release) return;
    if (s.inFlight === 0 && s.sealsPending === 0) release(s.pages);
    else void Promise.all([s.sealChain, s.idle]).then(() => release(s.pages), () => release(s.pages));
  }

  /**
   * Settles once every attend in flight has landed and every seal that waited for one is done:
   * after it, stats() and serialize() see what sequential execution would have.
   */
  async settled(): Promise<void> {
    await Promise.all([...this.seqs.values()].flatMap((s) => [s.sealChain.catch(noop), s.idle]));
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  /**
   * Drops every sequence and frees what the packed-attention kernel keeps for them (WASM
   * memory, GPU buffers) now; also `using cache = new QaqKvCache(...)`. Attends already made
   * still complete (they hold what they read at call time); later calls throw BAD_PARAM.
   */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    const seqs = [...this.seqs.values()];
    this.seqs.clear();
    this.hold?.pages.clear();
    qaqFinalizer.unregister(this);
    for (const s of seqs) this.releaseWhenIdle(s);
  }

  private checkAlive(): void {
    check(!this.isDisposed, 'BAD_PARAM', 'this cache was disposed', 'cache');
  }

  /** Read-only view of the packed part for attention kernels; throws UNKNOWN_SEQUENCE. */
  view(seq: number): QaqPackedView & { tailCount: number; tailK: Float32Array; tailV: Float32Array } {
    this.checkAlive();
    const s = this.seqs.get(seq);
    if (!s) throw new KvpackError('UNKNOWN_SEQUENCE', `no sequence ${seq} in this cache`, 'seq');
    return { ...this.packedView(s, s.tiles), tailCount: s.tailCount, tailK: s.tailK, tailV: s.tailV };
  }

  /** The first `tiles` sealed tiles of a sequence (records are only appended: later ones are not read). */
  private packedView(s: QaqSequence, tiles: number): QaqPackedView {
    return {
      headDim: this.headDim, nKvHeads: this.nKvHeads, rowWidth: this.rowWidth, groups: this.groups,
      outliersPerRow: this.outliersPerRow, pageWords: this.pageWords, tiles, pages: s.pages, pageUsed: s.pageUsed,
      offsets: s.offsets.subarray(0, tiles * this.groups * 2),
    };
  }

  /**
   * Appends tokens (keys/values [n][nKvHeads][headDim]) to a sequence, created on first use.
   * Everything is validated first: a rejected append leaves the cache exactly as it was.
   */
  append(seq: number, keys: Float32Array, values: Float32Array): void {
    this.checkAlive();
    check(Number.isInteger(seq) && seq >= 0, 'BAD_PARAM', `must be a non-negative integer, got ${seq}`, 'seq');
    const tf = this.tokenFloats;
    checkF32(keys, 'keys');
    checkF32(values, 'values');
    check(keys instanceof Float32Array && keys.length % tf === 0 && keys.length > 0, 'BAD_SHAPE',
      `length ${keys.length} is not a positive multiple of nKvHeads*headDim=${tf}`, 'keys');
    check(values instanceof Float32Array && values.length === keys.length, 'BAD_SHAPE',
      `length ${values.length} != keys length ${keys.length}`, 'values');
    checkFinite(keys, 'keys');
    checkFinite(values, 'values');
    // f16 scale/zero and f16 outliers (codecs/qaq/record.ts)
    checkRange(keys, F16_MAX, 'keys', 'codec qaq');
    checkRange(values, F16_MAX, 'values', 'codec qaq');
    let s = this.seqs.get(seq);
    const cap = this.window + TILE_TOKENS;
    if (!s) {
      s = new QaqSequence(new Float32Array(cap * tf), new Float32Array(cap * tf),
        new AttentionWindow(this.groups, this.options.attentionWindow, cap));
      this.adopt(seq, s);
    } else if (s.tailK.length < cap * tf) {
      this.growTail(s, cap);
    }
    const n = keys.length / tf;
    for (let i = 0; i < n; i++) {
      // seals waiting for records keep their tokens in the tail: it grows past window + 32 rows
      if ((s.tailCount + 1) * tf > s.tailK.length) this.growTail(s, s.tailCount + 1 + TILE_TOKENS * (1 + s.sealsPending));
      s.tailK.set(keys.subarray(i * tf, (i + 1) * tf), s.tailCount * tf);
      s.tailV.set(values.subarray(i * tf, (i + 1) * tf), s.tailCount * tf);
      s.window.arrive(s.tailCount);
      s.tailCount++;
      if (s.tailCount - s.sealsPending * TILE_TOKENS === this.window + TILE_TOKENS) {
        if (s.recordsPending > 0 || s.sealsPending > 0) this.deferSeal(s);
        else this.sealOldestTile(s, s.window.rows);
      }
    }
  }

  private growTail(s: QaqSequence, rows: number): void {
    const tf = this.tokenFloats;
    const k = new Float32Array(rows * tf), v = new Float32Array(rows * tf);
    k.set(s.tailK.subarray(0, Math.min(s.tailK.length, rows * tf))); v.set(s.tailV.subarray(0, Math.min(s.tailV.length, rows * tf)));
    s.tailK = k; s.tailV = v;
    s.window.grow(rows);
  }

  /**
   * A tile that sequential execution would seal now, while attends that record are in flight: it
   * is sealed once their weights (and earlier waiting seals) have landed, from the rows recorded
   * before this append (later attends wait for it: they read the sealed tile).
   */
  private deferSeal(s: QaqSequence): void {
    const rows = s.window.rows;
    s.sealsPending++;
    s.sealChain = Promise.all([s.sealChain, s.records]).then(() => {
      s.sealsPending--;
      this.sealOldestTile(s, rows);
    });
  }

  /**
   * Decode attention for each sequence (AttentionBackend.attend contract); records the weights.
   * Works with synchronous and asynchronous (WebGPU) packed attention.
   */
  async attend(seqs: readonly number[], q: Float32Array, nHeads: number, record = true): Promise<Float32Array> {
    this.checkAttend(seqs, q, nHeads);
    const per = nHeads * this.headDim, out = new Float32Array(q.length);
    const ss = seqs.map((seq) => this.seqs.get(seq)!);
    // issue 18: every call gives what sequential execution gives (docs/reliability.md, "QAQ").
    // A synchronous kernel (TS, WASM) finishes and records here, before this function awaits.
    const waiting = ss.filter((s) => s.sealsPending > 0);
    let parts: (PackedPartials | Promise<PackedPartials>)[] | undefined;
    if (waiting.length === 0) {
      parts = ss.map((s, i) => this.packedAttention(this.packedView(s, s.tiles), q.subarray(i * per, (i + 1) * per), nHeads));
      if (parts.every((p) => !(p instanceof Promise))) {
        ss.forEach((s, i) => this.finishAttend(this.tailNow(s), q.subarray(i * per, (i + 1) * per), nHeads, parts![i] as PackedPartials,
          out.subarray(i * per, (i + 1) * per), record ? s.window.reserve() : -1));
        return out;
      }
    }
    // asynchronous (WebGPU): the query, the tails and the attention row are taken now; the kernel
    // reads the packed view now, or, where tiles wait to be sealed, right after those seals
    const snaps = ss.map((s) => this.tailCopy(s)), qc = q.slice();
    const rows = ss.map((s) => (record ? s.window.reserve() : -1));
    const run = async (): Promise<Float32Array> => {
      if (!parts) {
        await Promise.all(waiting.map((s) => s.sealChain));
        parts = snaps.map((t, i) => this.packedAttention(this.packedView(t.s, t.tiles), qc.subarray(i * per, (i + 1) * per), nHeads));
      }
      const done = await Promise.all(parts);
      snaps.forEach((t, i) => this.finishAttend(t, qc.subarray(i * per, (i + 1) * per), nHeads, done[i]!, out.subarray(i * per, (i + 1) * per), rows[i]!));
      return out;
    };
    const p = run();
    const settled = p.then(noop, noop);
    for (const s of ss) {
      s.inFlight++;
      if (record) s.recordsPending++;
      const after = settled.then(() => {
        s.inFlight--;
        if (record) s.recordsPending--;
      });
      s.idle = Promise.all([s.idle, after]).then(noop);
      if (record) s.records = Promise.all([s.records, after]).then(noop);
    }
    return p;
  }

  private tailNow(s: QaqSequence): TailSnapshot {
    return { s, tiles: s.tiles, tailCount: s.tailCount, tailK: s.tailK, tailV: s.tailV };
  }

  /** The tail as sequential execution has it now: without the rows of tiles waiting to be sealed. */
  private tailCopy(s: QaqSequence): TailSnapshot {
    const tf = this.tokenFloats, skip = s.sealsPending * TILE_TOKENS;
    return {
      s, tiles: s.tiles + s.sealsPending, tailCount: s.tailCount - skip,
      tailK: s.tailK.slice(skip * tf, s.tailCount * tf), tailV: s.tailV.slice(skip * tf, s.tailCount * tf),
    };
  }

  /**
   * Synchronous attend (TS or WASM packed attention). `record` = false computes attention
   * without recording it (e.g. an evaluation query that must not influence allocation).
   */
  attendSync(seqs: readonly number[], q: Float32Array, nHeads: number, record = true): Float32Array {
    this.checkAttend(seqs, q, nHeads);
    const per = nHeads * this.headDim, out = new Float32Array(q.length);
    const parts = seqs.map((seq, i) => {
      const p = this.packedAttention(this.view(seq), q.subarray(i * per, (i + 1) * per), nHeads);
      if (p instanceof Promise) {
        throw new KvpackError('BACKEND_UNAVAILABLE', 'the packed attention of this cache is asynchronous (WebGPU): use attend()', 'packedAttention');
      }
      return p;
    });
    seqs.forEach((seq, i) => {
      const s = this.seqs.get(seq)!;
      this.finishAttend(this.tailNow(s), q.subarray(i * per, (i + 1) * per), nHeads, parts[i]!, out.subarray(i * per, (i + 1) * per), record ? s.window.reserve() : -1);
    });
    return out;
  }

  /**
   * Records one attention row computed outside the cache, as an attend of the sequence's next
   * query would have recorded it (whole-window evaluation, ts/model/window-forward.ts: the
   * window's own softmax rows drive QAQ's widths). With n = the tail's tokens now (length(seq)
   * - 32 * sealed tiles): `weights[u * n + t]` = the largest weight any query head of group u
   * (a KV head for level 'head', every head for 'layer') gave tail token t, `outsideTop[u]` =
   * the largest weight of any sealed token, -Infinity while none is sealed. Validated before
   * anything changes: BAD_PARAM / BAD_SHAPE / UNKNOWN_SEQUENCE.
   */
  recordAttention(seq: number, weights: Float64Array, outsideTop: Float64Array): void {
    this.checkAlive();
    checkSeqId(seq);
    const s = this.seqs.get(seq);
    if (!s) throw new KvpackError('UNKNOWN_SEQUENCE', `no sequence ${seq} in this cache`, 'seq');
    check(s.inFlight === 0 && s.sealsPending === 0, 'BAD_PARAM', `sequence ${seq} has attends in flight: await them first`, 'seq');
    const n = s.tailCount, u = this.groups;
    check(weights instanceof Float64Array && weights.length === u * n, 'BAD_SHAPE',
      `must be a Float64Array of groups * tail tokens = ${u * n}`, 'weights');
    check(outsideTop instanceof Float64Array && outsideTop.length === u, 'BAD_SHAPE', `must be a Float64Array of groups = ${u}`, 'outsideTop');
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i]!;
      // (w >= 0 is false for NaN) the message is built only for a bad weight: this runs per token and row
      if (!(w >= 0 && w < Infinity)) throw new KvpackError('BAD_PARAM', `weights are finite and >= 0, got ${w} at ${i}`, 'weights');
    }
    for (const w of outsideTop) {
      check(s.tiles === 0 ? w === -Infinity : Number.isFinite(w) && w >= 0, 'BAD_PARAM',
        s.tiles === 0 ? `must be -Infinity while no tile is sealed, got ${w}` : `must be finite and >= 0, got ${w}`, 'outsideTop');
    }
    s.window.record(weights, n, n, outsideTop, s.tiles * TILE_TOKENS);
  }

  private checkAttend(seqs: readonly number[], q: Float32Array, nHeads: number): void {
    this.checkAlive();
    const d = this.headDim;
    checkSeqIds(seqs);
    checkF32(q, 'q');
    check(Number.isInteger(nHeads) && nHeads > 0 && nHeads % this.nKvHeads === 0, 'BAD_SHAPE',
      `nHeads=${nHeads} must be a positive multiple of nKvHeads=${this.nKvHeads}`, 'nHeads');
    check(q.length === seqs.length * nHeads * d, 'BAD_SHAPE',
      `length ${q.length} != seqs.length*nHeads*headDim=${seqs.length * nHeads * d}`, 'q');
    checkFinite(q, 'q');
    checkRange(q, ATTEND_MAX_ABS, 'q', 'the f32 attention kernels');
    for (const seq of seqs) {
      if (this.length(seq) === 0) throw new KvpackError('UNKNOWN_SEQUENCE', `no tokens cached for sequence ${seq}`, 'seqs');
    }
    check(new Set(seqs).size === seqs.length, 'BAD_PARAM', 'a sequence appears twice', 'seqs');
  }

  stats(): QaqCacheStats {
    this.checkAlive();
    let tokens = 0, tiles = 0, fpTokens = 0, offsetWords = 0;
    for (const s of this.seqs.values()) {
      tiles += s.tiles;
      fpTokens += s.tailCount;
      tokens += s.tiles * TILE_TOKENS + s.tailCount;
      offsetWords += s.tiles * this.groups * 2;
    }
    let recWords = 0;
    for (const w of this.groupWords) recWords += w;
    const packedBytes = (recWords + offsetWords) * 4;
    const elements = tokens * this.tokenFloats * 2, fpElements = fpTokens * this.tokenFloats * 2;
    const packedElements = tiles * TILE_TOKENS * this.tokenFloats * 2;
    const groupElements = (tiles * TILE_TOKENS * this.rowWidth) || 1;
    const groupTokens = (tiles * TILE_TOKENS) || 1;
    const groups: QaqGroupStats[] = [];
    for (let g = 0; g < this.groups; g++) {
      // each record has one offset word
      groups.push({
        head: this.groups === 1 ? -1 : g,
        keyBitsPerElement: tiles ? ((this.groupWords[g * 2]! + tiles) * 32) / groupElements : 0,
        valueBitsPerElement: tiles ? ((this.groupWords[g * 2 + 1]! + tiles) * 32) / groupElements : 0,
        meanKeyWidth: tiles ? this.groupWidthSum[g * 2]! / groupTokens : 0,
        meanValueWidth: tiles ? this.groupWidthSum[g * 2 + 1]! / groupTokens : 0,
      });
    }
    const pe = packedElements || 1;
    return {
      tokens, packedBytes, fpTokens, paramBytes: 0,
      effectiveBits: elements ? (packedBytes * 8 + fpElements * 16) / elements : 0,
      effectiveBitsStored: elements ? (packedBytes * 8 + fpElements * 32) / elements : 0,
      groups,
      keyWidthHistogram: [...this.widthHist[0]!],
      valueWidthHistogram: [...this.widthHist[1]!],
      breakdown: {
        codes: (this.parts.codes * 32) / pe,
        widthsAndMeta: (this.parts.meta * 32) / pe,
        outliers: (this.parts.outliers * 32) / pe,
        offsets: (offsetWords * 32) / pe,
      },
    };
  }

  // ---- save and restore (docs/FORMAT.md, "Saved caches") ---------------------------------------

  /** The cache as plain layer data for the saved-cache writer (views of the live arrays). */
  toLayerData(): QaqLayerData {
    this.checkAlive();
    for (const [id, s] of this.seqs) {
      // their weights belong in the saved state: a file written now would not restore to it
      check(s.inFlight === 0 && s.sealsPending === 0, 'BAD_PARAM',
        `sequence ${id} has attends in flight: await them (or cache.settled()) before saving`, 'cache');
    }
    const o = this.options;
    return {
      kind: 'qaq', nKvHeads: this.nKvHeads, headDim: this.headDim, window: this.window,
      options: {
        targetKeyError: o.targetKeyError, targetValueError: o.targetValueError, bitsMin: o.bitsMin, bitsMax: o.bitsMax,
        attentionWindow: o.attentionWindow, qMax: [...o.qMax], outlierRatio: o.outlierRatio, level: o.level,
      },
      groups: this.groups, rowWidth: this.rowWidth, outliersPerRow: this.outliersPerRow, pageWords: this.pageWords,
      counters: {
        keyWidthHistogram: new Float64Array(this.widthHist[0]!), valueWidthHistogram: new Float64Array(this.widthHist[1]!),
        groupWords: this.groupWords, groupWidthSum: this.groupWidthSum,
        parts: new Float64Array([this.parts.codes, this.parts.meta, this.parts.outliers]),
      },
      sequences: [...this.seqs].map(([id, s]) => ({
        id, tiles: s.tiles, tailCount: s.tailCount, pages: s.pages, pageUsed: s.pageUsed,
        offsets: s.offsets.subarray(0, s.tiles * this.groups * 2), tailK: s.tailK, tailV: s.tailV,
        window: s.window.exportState(s.tailCount),
      })),
    };
  }

  /** The cache as chunks of the saved format (records as stored, no re-encoding). */
  *serializeChunks(): Generator<Uint8Array> {
    this.checkAlive();
    const l = this.toLayerData();
    yield* fileChunks(1);
    yield* qaqLayerChunks(l, l.sequences.length);
    for (const s of l.sequences) yield* qaqSequenceChunks(l, s);
    yield* endChunks();
  }

  serialize(): Uint8Array {
    this.checkAlive();
    return concatChunks(this.serializeChunks());
  }

  /** Restores a cache saved by serialize(); untrusted bytes, every failure a KvpackError naming the field. */
  static deserialize(bytes: Uint8Array, options: { layer?: number; packedAttention?: QaqCacheOptions['packedAttention'] } = {}): QaqKvCache {
    checkOptionalObject(options, 'options');
    return QaqKvCache.fromLayerData(pickLayer(pullSync(bytes, parseFile()).layers, options), options);
  }

  static async deserializeFrom(source: ChunkSource, options: { layer?: number; packedAttention?: QaqCacheOptions['packedAttention'] } = {}): Promise<QaqKvCache> {
    checkOptionalObject(options, 'options');
    return QaqKvCache.fromLayerData(pickLayer((await pullChunks(source, parseFile())).layers, options), options);
  }

  /** Builds a cache from parsed layer data; the options must rebuild the saved geometry. */
  static fromLayerData(data: LayerData, options: { packedAttention?: QaqCacheOptions['packedAttention'] } = {}): QaqKvCache {
    if (data.kind !== 'qaq') {
      throw new KvpackError('BAD_PARAM', `the saved layer is a ${data.kind} cache: restore it with PackedKvCache.deserialize or deserializeCaches`, 'bytes');
    }
    let cache: QaqKvCache;
    try {
      cache = new QaqKvCache({
        nKvHeads: data.nKvHeads, headDim: data.headDim, window: data.window, qaq: data.options as Partial<QaqOptions>,
        ...(options.packedAttention ? { packedAttention: options.packedAttention } : {}),
      });
    } catch (e) {
      if (e instanceof KvpackError) throw corrupt(`qaq.options${e.arg ? `.${e.arg}` : ''}`, e.message);
      throw e;
    }
    for (const [k, v] of [['groups', data.groups], ['rowWidth', data.rowWidth], ['outliersPerRow', data.outliersPerRow], ['pageWords', data.pageWords]] as const) {
      if (cache[k] !== v) throw corrupt(`layer.${k}`, `${v} where the saved options give ${cache[k]}`);
    }
    const c = data.counters;
    const f64 = (name: string, n: number): Float64Array => {
      const a = c[name];
      if (!(a instanceof Float64Array) || a.length !== n) throw corrupt(`qaq.counters.${name}`, `must be a Float64Array of ${n}`);
      for (const x of a) if (!(Number.isFinite(x) && x >= 0)) throw corrupt(`qaq.counters.${name}`, 'counts are finite and >= 0');
      return a;
    };
    const kh = f64('keyWidthHistogram', 9), vh = f64('valueWidthHistogram', 9);
    cache.groupWords.set(f64('groupWords', cache.groups * 2));
    cache.groupWidthSum.set(f64('groupWidthSum', cache.groups * 2));
    const parts = f64('parts', 3);
    if (Object.keys(c).length !== 5) throw corrupt('qaq.counters', 'unknown members');
    for (let i = 0; i < 9; i++) { cache.widthHist[0]![i] = kh[i]!; cache.widthHist[1]![i] = vh[i]!; }
    cache.parts.codes = parts[0]!; cache.parts.meta = parts[1]!; cache.parts.outliers = parts[2]!;
    for (const d of data.sequences) {
      const s = new QaqSequence(d.tailK, d.tailV, AttentionWindow.fromState(cache.groups, cache.options.attentionWindow, d.window));
      s.pages = [...d.pages];
      s.pageUsed = d.pageUsed;
      s.offsets = d.offsets as Uint32Array<ArrayBuffer>;
      s.tiles = d.tiles;
      s.tailCount = d.tailCount;
      cache.adopt(d.id, s);
    }
    return cache;
  }

  /**
   * Folds the fp32 tail into the packed partials, writes the output, records the weights in
   * attention row `row` (-1: none). A late record finds the tiles it saw: seals wait for it.
   */
  private finishAttend(s: TailSnapshot, q: Float32Array, nHeads: number, part: PackedPartials, out: Float32Array, row: number): void {
    const record = row >= 0;
    const d = this.headDim, tf = this.tokenFloats, group = nHeads / this.nKvHeads, scale = 1 / Math.sqrt(d);
    const nt = s.tailCount;
    const tailScores = new Float64Array(nHeads * nt);
    const units = this.groups;
    const weights = new Float64Array(units * nt);
    const outsideTop = new Float64Array(units).fill(-Infinity);
    for (let h = 0; h < nHeads; h++) {
      const g = Math.floor(h / group);
      let M = part.m[h]!;
      for (let t = 0; t < nt; t++) {
        let sc = 0;
        for (let c = 0; c < d; c++) sc += q[h * d + c]! * s.tailK[t * tf + g * d + c]!;
        sc *= scale;
        tailScores[h * nt + t] = sc;
        if (sc > M) M = sc;
      }
      const cp = part.m[h] === -Infinity ? 0 : Math.exp(part.m[h]! - M);
      let L = part.l[h]! * cp;
      for (let t = 0; t < nt; t++) L += Math.exp(tailScores[h * nt + t]! - M);
      for (let c = 0; c < d; c++) {
        let acc = part.acc[h * d + c]! * cp;
        for (let t = 0; t < nt; t++) acc += Math.exp(tailScores[h * nt + t]! - M) * s.tailV[t * tf + g * d + c]!;
        out[h * d + c] = acc / L;
      }
      if (!record) continue;
      const u = units === 1 ? 0 : g;
      // the largest weight of a packed token: its score is m, so its weight is exp(m - M) / L
      if (part.m[h] !== -Infinity) outsideTop[u] = Math.max(outsideTop[u]!, cp / L);
      for (let t = 0; t < nt; t++) {
        const w = Math.exp(tailScores[h * nt + t]! - M) / L;
        if (w > weights[u * nt + t]!) weights[u * nt + t] = w;
      }
    }
    if (record) s.s.window.record(weights, nt, nt, outsideTop, s.tiles * TILE_TOKENS, row);
  }

  /** `rowsBefore`: attention rows recorded before the append that sealed it (a deferred seal runs later). */
  private sealOldestTile(s: QaqSequence, rowsBefore: number): void {
    const o = this.options, d = this.headDim, tf = this.tokenFloats, R = this.rowWidth, m = this.outliersPerRow;
    const n = s.tiles * TILE_TOKENS + this.window + TILE_TOKENS; // sequence length at the seal: the reference's seq_len
    const rows = new Float32Array(TILE_TOKENS * R);
    const bits = new Uint8Array(TILE_TOKENS);
    const outliers: number[][] = [];
    const scratch = new Uint32Array(R);
    const recs = new Uint32Array(this.groups * 2);
    const encoded: Uint32Array[] = [];
    for (let g = 0; g < this.groups; g++) {
      for (let stream = 0; stream < 2; stream++) {
        const tail = stream === 0 ? s.tailK : s.tailV;
        outliers.length = 0;
        for (let t = 0; t < TILE_TOKENS; t++) {
          rows.set(tail.subarray(t * tf + g * R, t * tf + g * R + R), t * R);
          const cols = selectOutliers(rows, t * R, R, o.outlierRatio, scratch);
          outliers.push(cols);
          let min = Infinity, max = -Infinity, k = 0;
          for (let c = 0; c < R; c++) {
            if (k < cols.length && cols[k] === c) { k++; continue; }
            const v = rows[t * R + c]!;
            if (v < min) min = v;
            if (v > max) max = v;
          }
          const range = min <= max ? max - min : 0;
          if (s.window.seen(t, rowsBefore) < o.attentionWindow) {
            bits[t] = o.bitsMax; // not enough history: the reference code's rule
            continue;
          }
          const { a, other } = s.window.predict(t, g, s.tiles * TILE_TOKENS + t, rowsBefore);
          // level 'layer' takes the largest qMax of its heads (the group spans them all)
          const qMax = this.groups === 1 ? Math.max(...o.qMax) : o.qMax[g]!;
          bits[t] = stream === 0
            ? keyBits(range, a, other, n, d, qMax, o.targetKeyError, o.bitsMin, o.bitsMax)
            : valueBits(range, a, n, o.targetValueError, o.bitsMin, o.bitsMax);
        }
        const words = new Uint32Array(recordWords(R, m, bits));
        encodeRecord(rows, R, bits, outliers, m, words, 0);
        encoded.push(words);
        for (let t = 0; t < TILE_TOKENS; t++) {
          this.widthHist[stream]![bits[t]!]!++;
          this.groupWidthSum[g * 2 + stream] = this.groupWidthSum[g * 2 + stream]! + bits[t]!;
        }
        this.groupWords[g * 2 + stream] = this.groupWords[g * 2 + stream]! + words.length;
        this.parts.meta += 36;
        this.parts.outliers += TILE_TOKENS * m;
        this.parts.codes += words.length - 36 - TILE_TOKENS * m;
      }
    }
    // store: every record of the tile, each whole inside one page
    for (let i = 0; i < encoded.length; i++) {
      const w = encoded[i]!;
      if (s.pages.length === 0 || s.pageUsed + w.length > this.pageWords) {
        s.pages.push(new Uint32Array(this.pageWords));
        s.pageUsed = 0;
      } else if (s.pages[s.pages.length - 1]!.length < this.pageWords) {
        // a restored last page holds its used words only
        const whole = new Uint32Array(this.pageWords);
        whole.set(s.pages[s.pages.length - 1]!);
        s.pages[s.pages.length - 1] = whole;
      }
      s.pages[s.pages.length - 1]!.set(w, s.pageUsed);
      recs[i] = (s.pages.length - 1) * this.pageWords + s.pageUsed;
      s.pageUsed += w.length;
    }
    const need = (s.tiles + 1) * this.groups * 2;
    if (s.offsets.length < need) {
      const grown = new Uint32Array(Math.max(need, s.offsets.length * 2));
      grown.set(s.offsets);
      s.offsets = grown;
    }
    s.offsets.set(recs, s.tiles * this.groups * 2);
    s.tiles++;
    s.tailK.copyWithin(0, TILE_TOKENS * tf, s.tailCount * tf);
    s.tailV.copyWithin(0, TILE_TOKENS * tf, s.tailCount * tf);
    s.window.shift(TILE_TOKENS, s.tailCount);
    s.tailCount -= TILE_TOKENS;
  }
}

addSymbolDispose(QaqKvCache);
