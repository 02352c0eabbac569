import { check, checkFinite, KvpackError } from '../errors.js';
import { TILE_TOKENS, TILES_PER_PAGE } from '../format/constants.js';
import { cacheOrigin, viewOrigin, type PackedKvCache, type SequenceView } from '../cache/kv-cache.js';
import { checkAttendArgs, checkToleranceArgs } from './validate.js';
import { addSymbolDispose } from '../util/dispose.js';
import { createCodec } from '../codecs/registry.js';
import type { StreamCodec, StreamKind } from '../codecs/types.js';
import { checkQueries } from '../reference/attention.js';
import { ATTENTION_TOLERANCE, type AttentionBackend } from './types.js';
import { ATTEND_ARG, ATTEND_ARG_COUNT } from './wasm-abi.js';
import { wasmKernelsFor, type WasmKeyKernels, type WasmValueKernels } from './wasm-kernels.js';
import { chooseWasmBuild, KvpackWasm, loadKvpackWasm, relaxedSimdSupported, WASM_BUILD_FILES, wasmSimdSupported, type WasmBuild } from './wasm-loader.js';
import { WasmTileEncoder, withWasmEncoder } from './wasm-encoder.js';
import { kernelCodec, rotationOf, withInnerCodec, type RotatedCodec } from '../codecs/rotation.js';

/** Key scratch + value state of one KV head up to which each head gets its own (tile-major kernels). */
// 4096 + 512: SKVQ's 2-bit key scratch at d 128, group 4 (decisions.md#D105) stays per head
const PER_HEAD_SCRATCH_BYTES = 4608;

export { chooseWasmBuild, KvpackWasm, loadKvpackWasm, relaxedSimdSupported, wasmSimdSupported, type WasmBuild };

/** A WASM backend's description: which build runs, then `detail` inside the parentheses. */
export function wasmBuildLabel(build: WasmBuild, detail?: string): string {
  return `WebAssembly SIMD${build === 'relaxed' ? ' + relaxed FMA' : ''} (${WASM_BUILD_FILES[build]}${detail ? `, ${detail}` : ''})`;
}

/** One sequence's pages, sinks and tail as copied into WASM memory. */
interface SeqMirror {
  view: SequenceView;
  pages: number[];
  pageTable: number;
  pageTableCap: number;
  tilesCopied: number;
  sinkK: number;
  sinkV: number;
  sinksCopied: number;
  tailK: number;
  tailV: number;
}

/** Per-cache state: codec parameters, kernel references, sequence mirrors. */
interface CacheMirror {
  /** Rotated streams (@rk / @rv, decisions.md#D135): attention runs in the rotated space. */
  keyRot: RotatedCodec | undefined;
  valueRot: RotatedCodec | undefined;
  keyParams: number;
  valueParams: number;
  keyScore: number;
  keyPrepare: number;
  keyScratchBytes: (headDim: number, group: number) => number;
  valueAccumulate: number;
  valueFinish: number;
  valueStateFloats: number;
  seqs: Map<number, SeqMirror>;
  /** Every arena block the mirror owns except sequences' (released with the mirror). */
  blocks: number[];
}

/**
 * Decode attention on WebAssembly SIMD (build/kvpack.wasm). Pages of a PackedKvCache are copied
 * into WASM memory incrementally (only tiles sealed since the last call, per cache and
 * sequence; sinks when they change; the tail, at most window + 31 tokens, every call), then one
 * fused kernel call per sequence computes all heads.
 */
/**
 * One of `of` contiguous parts of every sequence's tiles (flash-decoding split; the threaded
 * backend merges the parts): part 0 also takes the sinks, the last part the tail. `stats`
 * receives per sequence and query head the softmax max m and sum l ([seq][head][m, l]); a head
 * whose part held no tokens has l = 0 and output 0.
 */
export interface TilePart {
  index: number;
  of: number;
  stats: Float32Array;
}

/** Options of WasmBackend / WasmThreadsBackend. */
export interface WasmBackendOptions {
  /**
   * Integer-domain kernels (default true). KIVI-2/4 streams in GQA groups of 2..16 query heads
   * (head_dim a multiple of 64 / 32): the folded query and the softmax weights times the value
   * scales rounded to i16 per head, tile (and value group), dotted with the codes by
   * i32x4.dot_i16x8_s (docs/decisions.md D50-D52): ~1.5x faster GQA steps; MHA keeps the float
   * kernels (D58, D43). SKVQ 2-bit keys and ternary values in <= 4 channel groups (head_dim a
   * multiple of 64 / 32, any group): the permuted query rounded to i16 once per call, the weights
   * times the group scales per head, group and tile (D47-D49): ~1.2x. Perplexity unchanged within
   * noise (D102, D158). Their outputs are held to ATTENTION_TOLERANCE.integer instead of `exact`
   * (attentionTolerance says which applies to a cache); other codecs run the float kernels either
   * way. `false`: the float kernels everywhere (the exact tier).
   */
  integerAttention?: boolean;
}

/** Checks WasmBackendOptions before anything is built (BAD_PARAM names the option). */
export function checkWasmBackendOptions(options: WasmBackendOptions): void {
  check(options.integerAttention === undefined || typeof options.integerAttention === 'boolean', 'BAD_PARAM',
    `must be a boolean, got ${options.integerAttention === null ? 'null' : typeof options.integerAttention}`, 'integerAttention');
}

/**
 * Whether attention over `cache` with `nHeads` query heads runs an integer-domain kernel when the
 * backend's integerAttention is on (the codecs' WasmKeyKernels / WasmValueKernels `integer`).
 */
export function integerKernelsRun(cache: PackedKvCache, nHeads: number): boolean {
  checkToleranceArgs(cache, nHeads);
  const group = nHeads / cache.nKvHeads;
  return [cache.key, cache.value].some((c) => wasmKernelsFor(kernelCodec(c))?.integer?.(cache.headDim, group) === true);
}

/** A WASM backend's tier for a cache (ATTENTION_TOLERANCE): `integer` where its integer kernels run. */
export function wasmAttentionTolerance(integer: boolean, cache: PackedKvCache, nHeads: number): number {
  return integerKernelsRun(cache, nHeads) && integer ? ATTENTION_TOLERANCE.integer : ATTENTION_TOLERANCE.exact;
}

export class WasmBackend implements AttentionBackend {
  readonly name = 'wasm' as const;
  readonly description: string;
  private readonly mirrors = new WeakMap<PackedKvCache, CacheMirror>();
  private readonly encoders = new WeakMap<StreamCodec, StreamCodec>();
  /** Frees a collected cache's mirror: the arena is not garbage collected. */
  private readonly finalizer: FinalizationRegistry<CacheMirror>;
  private disposed = false;

  private readonly integer: boolean;

  constructor(readonly wasm: KvpackWasm, options: WasmBackendOptions = {}) {
    checkWasmBackendOptions(options);
    // an explicit request for a kernel the module lacks fails here, not at the first call; by
    // default a module without the integer kernels (a custom or older build) runs the float ones
    if (options.integerAttention === true) wasm.fn('set_integer_attention');
    this.integer = options.integerAttention !== false && typeof wasm.exports.set_integer_attention === 'function';
    this.description = wasmBuildLabel(wasm.build, `${(wasm.memory.buffer.byteLength / 1024) | 0} KiB memory at start`) +
      (this.integer ? ', integer-domain KIVI and SKVQ kernels' : '');
    this.finalizer = new FinalizationRegistry((m) => this.releaseMirror(m));
  }

  /**
   * The bound attend holds to attendReference over `cache` with `nHeads` query heads
   * (ATTENTION_TOLERANCE): `integer` where the integer-domain kernels run, else `exact`.
   */
  attentionTolerance(cache: PackedKvCache, nHeads: number): number {
    return wasmAttentionTolerance(this.integer, cache, nHeads);
  }

  /** Whether the integer-domain KIVI kernels are on (WasmBackendOptions.integerAttention). */
  get integerAttention(): boolean {
    return this.integer;
  }

  /** Loads the kernel module (see loadKvpackWasm) and checks WASM SIMD support first. */
  static async create(source?: BufferSource | WebAssembly.Module, options: WasmBackendOptions = {}): Promise<WasmBackend> {
    checkWasmBackendOptions(options);
    if (!wasmSimdSupported()) {
      throw new KvpackError('BACKEND_UNAVAILABLE', 'this runtime has no WebAssembly SIMD', 'wasm');
    }
    return new WasmBackend(await loadKvpackWasm(source), options);
  }

  async attend(cache: PackedKvCache, seqs: readonly number[], q: Float32Array, nHeads: number): Promise<Float32Array> {
    return this.attendSync(cache, seqs, q, nHeads);
  }

  /**
   * The same as attend, without the Promise (WASM runs on the calling thread anyway).
   * `kvHeads` = [begin, end): attend only those KV heads' query heads (the others' outputs are 0);
   * the threaded backend (wasm-threads.ts) splits the heads over workers this way.
   */
  attendSync(cache: PackedKvCache, seqs: readonly number[], q: Float32Array, nHeads: number,
    heads?: readonly [number, number], part?: TilePart): Float32Array {
    check(!this.disposed, 'BACKEND_UNAVAILABLE', 'backend was disposed', 'backend');
    checkAttendArgs(cache, seqs, q, nHeads);
    const kvHeads = heads ?? [0, cache.nKvHeads];
    const d = cache.headDim;
    check(Number.isInteger(nHeads) && nHeads > 0 && nHeads % cache.nKvHeads === 0, 'BAD_SHAPE',
      `nHeads=${nHeads} must be a positive multiple of nKvHeads=${cache.nKvHeads}`, 'nHeads');
    const qLen = nHeads * d;
    checkQueries(cache, seqs, q, nHeads);
    check(Number.isInteger(kvHeads[0]) && Number.isInteger(kvHeads[1]) && kvHeads[0] >= 0 && kvHeads[0] < kvHeads[1]
      && kvHeads[1] <= cache.nKvHeads, 'BAD_PARAM', `[${kvHeads.join(', ')}) is not a KV head range of ${cache.nKvHeads}`, 'kvHeads');
    if (part) {
      check(Number.isInteger(part.of) && part.of >= 1 && Number.isInteger(part.index) && part.index >= 0 && part.index < part.of,
        'BAD_PARAM', `part ${part.index} of ${part.of} is not a part`, 'part');
      check(part.stats.length === seqs.length * nHeads * 2, 'BAD_SHAPE', `stats must hold ${seqs.length * nHeads * 2} floats, got ${part.stats.length}`, 'part.stats');
    }
    const mirror = this.mirrorOf(cache);

    const w = this.wasm, arena = w.arena, group = nHeads / cache.nKvHeads;
    const out = new Float32Array(q.length);
    for (const seq of seqs) this.syncSequence(cache, mirror, seq);
    // a module-wide switch, set on every call: backends may share one module
    const setInteger = w.exports.set_integer_attention;
    if (typeof setInteger === 'function') setInteger(this.integer ? 1 : 0);

    const args = arena.alloc(ATTEND_ARG_COUNT * 4);
    const qPtr = arena.alloc(qLen * 4);
    const outPtr = arena.alloc(qLen * 4);
    const work = arena.alloc(w.exports.attend_work_bytes(group, d));
    // key scratch and value state per KV head when they are small (SKVQ: the permuted query), so
    // the kernel can walk each tile once for all heads (attendHeads); one region otherwise
    // (CQ's lookup tables and histograms: tens of KiB per head would not stay in cache)
    const scratchBytes = mirror.keyScratchBytes(d, group), stateBytes = mirror.valueStateFloats * group * 4;
    const nh = kvHeads[1] - kvHeads[0];
    const perHead = scratchBytes + stateBytes > 0 && scratchBytes + stateBytes <= PER_HEAD_SCRATCH_BYTES;
    // key scratch regions 16-byte aligned; the stride is nonzero whenever regions are per head
    const stride = perHead ? Math.max(16, (scratchBytes + 15) & ~15) : 0;
    const scratch = arena.alloc(stride ? stride * nh : scratchBytes);
    const state = arena.alloc(stride ? stateBytes * nh : stateBytes);
    const stats = part ? arena.alloc(nHeads * 2 * 4) : 0;
    try {
      for (let i = 0; i < seqs.length; i++) {
        const sm = mirror.seqs.get(seqs[i]!)!;
        const view = cache.view(seqs[i]!);
        const a = arena.u32(args, ATTEND_ARG_COUNT);
        a[ATTEND_ARG.HEAD_DIM] = d;
        a[ATTEND_ARG.N_KV_HEADS] = cache.nKvHeads;
        a[ATTEND_ARG.GROUP] = group;
        a[ATTEND_ARG.Q] = qPtr;
        a[ATTEND_ARG.OUT] = outPtr;
        a[ATTEND_ARG.SINK_COUNT] = view.sinkCount;
        a[ATTEND_ARG.SINK_K] = sm.sinkK;
        a[ATTEND_ARG.SINK_V] = sm.sinkV;
        a[ATTEND_ARG.TAIL_COUNT] = view.tailCount;
        a[ATTEND_ARG.TAIL_K] = sm.tailK;
        a[ATTEND_ARG.TAIL_V] = sm.tailV;
        a[ATTEND_ARG.TILES] = view.tiles;
        a[ATTEND_ARG.PAGE_TABLE] = sm.pageTable;
        a[ATTEND_ARG.KEY_TILE_WORDS] = cache.key.tileWords;
        a[ATTEND_ARG.VALUE_TILE_WORDS] = cache.value.tileWords;
        a[ATTEND_ARG.KEY_SCORE] = mirror.keyScore;
        a[ATTEND_ARG.KEY_PREPARE] = mirror.keyPrepare;
        a[ATTEND_ARG.KEY_PARAMS] = mirror.keyParams;
        a[ATTEND_ARG.KEY_SCRATCH] = scratch;
        a[ATTEND_ARG.VALUE_ACCUMULATE] = mirror.valueAccumulate;
        a[ATTEND_ARG.VALUE_FINISH] = mirror.valueFinish;
        a[ATTEND_ARG.VALUE_PARAMS] = mirror.valueParams;
        a[ATTEND_ARG.VALUE_STATE] = state;
        a[ATTEND_ARG.VALUE_STATE_FLOATS] = mirror.valueStateFloats;
        a[ATTEND_ARG.WORK] = work;
        a[ATTEND_ARG.HEAD_BEGIN] = kvHeads[0];
        a[ATTEND_ARG.HEAD_END] = kvHeads[1];
        a[ATTEND_ARG.SCRATCH_STRIDE] = stride;
        const T = view.tiles;
        a[ATTEND_ARG.TILE_BEGIN] = part ? Math.floor((part.index * T) / part.of) : 0;
        a[ATTEND_ARG.TILE_END] = part ? Math.floor(((part.index + 1) * T) / part.of) : T;
        // sinks with the first part, the tail with the last
        a[ATTEND_ARG.REGIONS] = part ? (part.index === 0 ? 1 : 0) | (part.index === part.of - 1 ? 2 : 0) : 3;
        a[ATTEND_ARG.STATS] = stats;
        const qi = arena.f32(qPtr, qLen);
        qi.set(q.subarray(i * qLen, (i + 1) * qLen));
        // rotated keys: scores of R q against the rotated keys (R orthogonal, decisions.md#D135)
        mirror.keyRot?.rotateRows(qi, 1, group, false);
        if (kvHeads[0] !== 0 || kvHeads[1] !== cache.nKvHeads) arena.f32(outPtr, qLen).fill(0);
        w.exports.attend_sequence(args);
        out.set(arena.f32(outPtr, qLen), i * qLen);
        // rotated values: the kernel's output is R o; back with R^T
        mirror.valueRot?.rotateRows(out, 1, group, true, i * qLen);
        if (part) part.stats.set(arena.f32(stats, nHeads * 2), i * nHeads * 2);
      }
    } finally {
      for (const p of [args, qPtr, outPtr, work, scratch, state, stats]) if (p) arena.release(p);
    }
    return out;
  }

  /**
   * `codec` with its encodeTile running the codec's kvpack.wasm encoder (same words as the TS
   * reference), for `new PackedKvCache({ encodeWith: backend })`; the codec itself when the module
   * has no encoder for it. One encoder (a tile in, a tile out: ~20 KiB of WASM memory) per codec
   * instance, kept until the backend is disposed.
   */
  fastEncoder(codec: StreamCodec): StreamCodec {
    check(!this.disposed, 'BACKEND_UNAVAILABLE', 'backend was disposed', 'backend');
    let view = this.encoders.get(codec);
    if (!view) {
      const rot = rotationOf(codec);
      // a rotated codec: its rotation, then the inner codec's WASM encoder (decisions.md#D135)
      if (rot) view = withInnerCodec(rot, this.fastEncoder(rot.inner));
      else view = wasmKernelsFor(codec) ? withWasmEncoder(codec, new WasmTileEncoder(this.wasm, codec)) : codec;
      this.encoders.set(codec, view);
    }
    return view;
  }

  /** Drop the WASM copy of a cache (or of one of its sequences) now instead of at collection. */
  forget(cache: PackedKvCache, seq?: number): void {
    const m = this.mirrors.get(cacheOrigin(cache));
    if (!m) return;
    if (seq !== undefined) {
      const sm = m.seqs.get(seq);
      if (sm) this.releaseSeq(sm);
      m.seqs.delete(seq);
      return;
    }
    this.finalizer.unregister(m);
    this.releaseMirror(m);
    this.mirrors.delete(cacheOrigin(cache));
  }

  /** Bytes of WASM memory currently held for caches and calls. */
  get bytesInUse(): number {
    return this.wasm.arena.bytesInUse;
  }

  dispose(): void {
    // The instance and its memory go with the last reference to this backend.
    this.disposed = true;
  }

  private mirrorOf(cache: PackedKvCache): CacheMirror {
    let m = this.mirrors.get(cacheOrigin(cache));
    if (m) {
      // sequences deleted (or deleted and re-created) in the cache since the last call
      for (const [id, sm] of m.seqs) {
        if (!cache.hasSequence(id) || viewOrigin(cache.view(id)) !== sm.view) {
          this.releaseSeq(sm);
          m.seqs.delete(id);
        }
      }
      return m;
    }
    // rotated streams run the inner codec's kernels on the same words
    const key = wasmKernelsFor(kernelCodec(cache.key)) as WasmKeyKernels | undefined;
    const value = wasmKernelsFor(kernelCodec(cache.value)) as WasmValueKernels | undefined;
    if (!key) throw new KvpackError('BACKEND_UNAVAILABLE', `no WASM kernels for key codec '${cache.key.name}'`, 'cache');
    if (!value) throw new KvpackError('BACKEND_UNAVAILABLE', `no WASM kernels for value codec '${cache.value.name}'`, 'cache');
    const w = this.wasm;
    const refs = {
      keyScore: w.ref(key.score),
      keyPrepare: key.prepare ? w.ref(key.prepare) : 0,
      valueAccumulate: w.ref(value.accumulate),
      valueFinish: value.finish ? w.ref(value.finish) : 0,
    };
    const valueStateFloats = value.stateFloats ? value.stateFloats(cache.headDim) : 0;
    check(valueStateFloats === 0 || refs.valueFinish !== 0, 'BACKEND_UNAVAILABLE',
      `value codec '${cache.value.name}' declares value state without a finish kernel`, 'cache');
    const keyParams = copyWords(w, cache.key.paramWords);
    const valueParams = copyWords(w, cache.value.paramWords);
    m = {
      ...refs, keyParams, valueParams, valueStateFloats, keyRot: rotationOf(cache.key), valueRot: rotationOf(cache.value),
      keyScratchBytes: key.scratchBytes ?? (() => 0),
      seqs: new Map(),
      blocks: [keyParams, valueParams],
    };
    const origin = cacheOrigin(cache);
    this.mirrors.set(origin, m);
    this.finalizer.register(origin, m, m);
    forgetOnDispose(this, origin);
    return m;
  }

  private syncSequence(cache: PackedKvCache, m: CacheMirror, seq: number): void {
    const arena = this.wasm.arena;
    const view = cache.view(seq);
    const tf = cache.tokenFloats;
    let sm = m.seqs.get(seq);
    if (!sm) {
      sm = {
        view: viewOrigin(view), pages: [], pageTable: arena.alloc(16 * 4), pageTableCap: 16, tilesCopied: 0,
        sinkK: arena.alloc(cache.sinks * tf * 4), sinkV: arena.alloc(cache.sinks * tf * 4), sinksCopied: 0,
        tailK: arena.alloc((cache.window + TILE_TOKENS) * tf * 4),
        tailV: arena.alloc((cache.window + TILE_TOKENS) * tf * 4),
      };
      m.seqs.set(seq, sm);
    }
    // new pages first (allocation may grow memory and detach views), then copy
    const pagesNeeded = Math.ceil(view.tiles / TILES_PER_PAGE);
    if (pagesNeeded > sm.pageTableCap) {
      const cap = Math.max(pagesNeeded, sm.pageTableCap * 2);
      const table = arena.alloc(cap * 4);
      arena.release(sm.pageTable);
      sm.pageTable = table;
      sm.pageTableCap = cap;
    }
    while (sm.pages.length < pagesNeeded) sm.pages.push(arena.alloc(cache.pageWords * 4));
    arena.u32(sm.pageTable, sm.pages.length).set(sm.pages);
    const slot = cache.tileSlotWords;
    while (sm.tilesCopied < view.tiles) {
      const p = Math.floor(sm.tilesCopied / TILES_PER_PAGE);
      const from = sm.tilesCopied % TILES_PER_PAGE;
      const to = Math.min(TILES_PER_PAGE, view.tiles - p * TILES_PER_PAGE);
      arena.u32(sm.pages[p]! + from * slot * 4, (to - from) * slot).set(view.pages[p]!.subarray(from * slot, to * slot));
      sm.tilesCopied = p * TILES_PER_PAGE + to;
    }
    // fp32 sinks and tail of a rotated stream are rotated like its tiles (decisions.md#D135)
    const copy = (to: number, from: Float32Array, n: number, rot: RotatedCodec | undefined): void => {
      const dst = arena.f32(to, n * tf);
      dst.set(from.subarray(0, n * tf));
      rot?.rotateRows(dst, n, 1, false);
    };
    if (sm.sinksCopied !== view.sinkCount) {
      copy(sm.sinkK, view.sinkK, view.sinkCount, m.keyRot);
      copy(sm.sinkV, view.sinkV, view.sinkCount, m.valueRot);
      sm.sinksCopied = view.sinkCount;
    }
    copy(sm.tailK, view.tailK, view.tailCount, m.keyRot);
    copy(sm.tailV, view.tailV, view.tailCount, m.valueRot);
  }

  private releaseSeq(sm: SeqMirror): void {
    const arena = this.wasm.arena;
    for (const p of [...sm.pages, sm.pageTable, sm.sinkK, sm.sinkV, sm.tailK, sm.tailV]) arena.release(p);
    sm.pages = [];
  }

  private releaseMirror(m: CacheMirror): void {
    for (const sm of m.seqs.values()) this.releaseSeq(sm);
    m.seqs.clear();
    for (const p of m.blocks) this.wasm.arena.release(p);
    m.blocks = [];
  }
}

addSymbolDispose(WasmBackend);

/**
 * cache.dispose() frees its mirror. A function of its own: a closure made inside mirrorOf would
 * share that scope's context with the mirror's own closures (keyScratchBytes), so the mirror,
 * the finalizer's held value, would keep the cache alive and it would never be collected.
 * A worker's replica cache (wasm-threads.ts) has no onDispose: its owner forgets it.
 */
function forgetOnDispose(backend: WasmBackend, cache: PackedKvCache): void {
  cache.onDispose?.(() => backend.forget(cache));
}

function copyWords(w: KvpackWasm, words: Uint32Array): number {
  const p = w.arena.alloc(words.length * 4);
  w.arena.u32(p, words.length).set(words);
  return p;
}

/** Convenience: load the module (see loadKvpackWasm) and wrap it in a WasmBackend. */
export function createWasmBackend(source?: BufferSource | WebAssembly.Module, options: WasmBackendOptions = {}): Promise<WasmBackend> {
  return WasmBackend.create(source, options);
}

let sharedWasm: Promise<KvpackWasm> | undefined;

/**
 * Pack one tile with the WASM encoder (for conformance: must equal codec.encodeTile's words).
 * codec: a registered name (created for `kind`, `headDim`, one KV head) or a codec instance
 * (its kind/headDim must match). x: TILE_TOKENS * headDim f32, token-major.
 */
export async function encodeTileWasm(codec: string | StreamCodec, kind: StreamKind, headDim: number,
  x: Float32Array, head = 0): Promise<Uint32Array> {
  const c = typeof codec === 'string' ? createCodec(codec, { kind, headDim, nKvHeads: head + 1 }) : codec;
  check(c.kind === kind && c.headDim === headDim, 'BAD_PARAM',
    `codec instance is for ${c.kind}s of headDim ${c.headDim}, asked ${kind}s of ${headDim}`, 'codec');
  check(Number.isInteger(head) && head >= 0 && head < c.nKvHeads, 'BAD_PARAM', `must be in [0, ${c.nKvHeads})`, 'head');
  check(x.length === TILE_TOKENS * headDim, 'BAD_SHAPE', `length ${x.length} != TILE_TOKENS*headDim=${TILE_TOKENS * headDim}`, 'x');
  checkFinite(x, 'x');
  const kernels = wasmKernelsFor(c);
  if (!kernels) throw new KvpackError('BACKEND_UNAVAILABLE', `no WASM kernels for ${kind} codec '${c.name}'`, 'codec');
  const w = await (sharedWasm ??= loadKvpackWasm());
  const encode = w.fn(kernels.encode);
  const a = w.arena;
  const xPtr = a.alloc(x.length * 4), outPtr = a.alloc(c.tileWords * 4), params = a.alloc(c.paramWords.length * 4);
  try {
    a.f32(xPtr, x.length).set(x);
    a.u32(params, c.paramWords.length).set(c.paramWords);
    a.u32(outPtr, c.tileWords).fill(0xdeadbeef); // an encoder must write every word
    encode(xPtr, outPtr, headDim, head, params);
    return a.u32(outPtr, c.tileWords).slice();
  } finally {
    a.release(xPtr);
    a.release(outPtr);
    a.release(params);
  }
}
