/**
 * WASM SIMD decode attention on several threads (Node worker_threads; issue 6, CPU half).
 *
 * Each worker runs its own kvpack.wasm instance (the kernels use static scratch, so one memory
 * cannot be shared) over a replica of the cache: every attend call first sends each worker the
 * tiles sealed since the previous call, the sinks when they changed and the fp32 tail, then
 * gives worker w a contiguous range of KV heads (`attend_sequence`'s HEAD_BEGIN/HEAD_END); the
 * outputs are disjoint and are added up. Same kernels, same words: the output equals the
 * single-threaded WasmBackend's bit for bit (tests/backends/wasm-threads.test.ts).
 *
 * Calibrated codecs (SKVQ, CQ) travel as their calibration objects (StreamCodec.calibration)
 * and are rebuilt in each worker; the rebuilt codec's tile size and parameter words must equal
 * the cache's, or the call fails with BACKEND_UNAVAILABLE.
 * Rotated streams (`@rk` / `@rv`) travel as their inner codec and the rotation's seed; each
 * worker's WasmBackend folds the rotation as the single-threaded one does (decisions.md#D135).
 *
 * Costs: one replica per worker (the packed cache once per thread) and a message round trip
 * per call (~0.1 ms), so it pays at long contexts. Limits: Node only (Web Workers in browsers
 * and Deno are not wired up).
 *
 * The worker imports this module by its own URL (`import.meta.url`) and runs
 * `runWasmAttentionWorker`, so it works from the bundle (dist/index.js) and not from the TS
 * sources under vitest (tests use dist/).
 */
import { check, KvpackError } from '../errors.js';
import { TILE_TOKENS, TILES_PER_PAGE } from '../format/constants.js';
import { cacheOrigin, SequenceState, viewOrigin, type PackedKvCache, type SequenceView } from '../cache/kv-cache.js';
import { codecInfo, createCodec } from '../codecs/registry.js';
import { kernelCodec, RotatedCodec, rotationOf } from '../codecs/rotation.js';
import type { StreamCodec } from '../codecs/types.js';
import { checkQueries } from '../reference/attention.js';
import type { AttentionBackend } from './types.js';
import { checkAttendArgs } from './validate.js';
import { addSymbolDispose } from '../util/dispose.js';
import { checkWasmBackendOptions, WasmBackend, wasmAttentionTolerance, wasmBuildLabel, type WasmBackendOptions } from './wasm.js';
import { chooseWasmBuild, defaultWasmModule, KvpackWasm, loadKvpackWasm, wasmSimdSupported, type WasmBuild } from './wasm-loader.js';
import { importNode } from '../util/node-import.js';

/** What a worker needs to rebuild a cache's shape and codecs (calibrated ones from their calibration). */
interface CacheSpec {
  key: string;
  value: string;
  headDim: number;
  nKvHeads: number;
  sinks: number;
  window: number;
  /** Checked in the worker against the codecs it creates: same words or an error. */
  keyTileWords: number;
  valueTileWords: number;
  keyParams: Uint32Array;
  valueParams: Uint32Array;
  /** Calibrated codecs (SKVQ, CQ): StreamCodec.calibration, to rebuild them from. */
  keyCalibration?: unknown;
  valueCalibration?: unknown;
  /** Rotated streams (`@rk` / `@rv`): the rotation's seed; key / value name the inner codec. */
  keyRotation?: number;
  valueRotation?: number;
}

/** New data of one sequence since the last call. */
interface SeqUpdate {
  seq: number;
  /** The sequence was (re)created: drop the replica's copy first. */
  reset: boolean;
  /** Tile slots [fromTile, tiles) concatenated. */
  fromTile: number;
  tiles: number;
  words: Uint32Array;
  /** Sinks, when their count changed. */
  sinks?: { count: number; k: Float32Array; v: Float32Array };
  /** Tail tokens after this update. */
  tailCount: number;
  /**
   * Tokens of the replica's tail that stay, after the tokens of the tiles sealed since the last
   * update leave its front (the tail is a window of the token stream: appends add at its end,
   * seals take 32 from its front); tailK / tailV then hold only the tokens after those.
   */
  tailKeep: number;
  tailK: Float32Array;
  tailV: Float32Array;
}

interface AttendRequest {
  id: number;
  cacheId: number;
  spec?: CacheSpec;
  updates: SeqUpdate[];
  /** Null: only apply the updates (a worker without heads this call). */
  seqs: number[] | null;
  q: Float32Array;
  nHeads: number;
  kvHeads: [number, number];
  /** Tile part [index, of] of every sequence (all KV heads), when the heads are fewer than the workers. */
  part?: [number, number];
}

interface ForgetRequest { id: number; forget: number }

interface WorkerReply {
  id: number;
  out?: Float32Array;
  /** Tile parts: [seq][head][m, l] (TilePart.stats). */
  stats?: Float32Array;
  error?: { code: string; message: string };
}

/** What WasmBackend reads from a PackedKvCache, rebuilt in a worker from messages. */
class ReplicaCache {
  readonly key: StreamCodec;
  readonly value: StreamCodec;
  readonly headDim: number;
  readonly nKvHeads: number;
  readonly sinks: number;
  readonly window: number;
  readonly tileSlotWords: number;
  readonly pageWords: number;
  private readonly seqs = new Map<number, SequenceState>();

  constructor(spec: CacheSpec) {
    const ctx = { headDim: spec.headDim, nKvHeads: spec.nKvHeads };
    const key = createCodec(spec.key, { ...ctx, kind: 'key', calibration: spec.keyCalibration });
    const value = createCodec(spec.value, { ...ctx, kind: 'value', calibration: spec.valueCalibration });
    this.key = spec.keyRotation !== undefined ? new RotatedCodec(key, spec.keyRotation) : key;
    this.value = spec.valueRotation !== undefined ? new RotatedCodec(value, spec.valueRotation) : value;
    const same = (a: Uint32Array, b: Uint32Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
    if (this.key.tileWords !== spec.keyTileWords || this.value.tileWords !== spec.valueTileWords
      || !same(this.key.paramWords, spec.keyParams) || !same(this.value.paramWords, spec.valueParams)) {
      throw new KvpackError('BACKEND_UNAVAILABLE', `codecs ${spec.key}/${spec.value} built with options differ from the cache's; use the single-threaded WASM backend`, 'cache');
    }
    this.headDim = spec.headDim;
    this.nKvHeads = spec.nKvHeads;
    this.sinks = spec.sinks;
    this.window = spec.window;
    this.tileSlotWords = spec.nKvHeads * (this.key.tileWords + this.value.tileWords);
    this.pageWords = TILES_PER_PAGE * this.tileSlotWords;
  }

  get tokenFloats(): number {
    return this.nKvHeads * this.headDim;
  }

  hasSequence(seq: number): boolean {
    return this.seqs.has(seq);
  }

  length(seq: number): number {
    const s = this.seqs.get(seq);
    return s ? s.tiles * TILE_TOKENS + s.sinkCount + s.tailCount : 0;
  }

  view(seq: number): SequenceView {
    const s = this.seqs.get(seq);
    if (!s) throw new KvpackError('UNKNOWN_SEQUENCE', `no sequence ${seq} in the replica`, 'seq');
    return s;
  }

  apply(u: SeqUpdate): void {
    let s = this.seqs.get(u.seq);
    if (!s || u.reset) {
      // a new object: WasmBackend keys its mirror on the view's identity and drops the old one
      const sinkFloats = this.sinks * this.tokenFloats, tailFloats = (this.window + TILE_TOKENS) * this.tokenFloats;
      s = new SequenceState(new Float32Array(sinkFloats), new Float32Array(sinkFloats), new Float32Array(tailFloats), new Float32Array(tailFloats));
      this.seqs.set(u.seq, s);
    }
    const slot = this.tileSlotWords;
    check(u.fromTile === s.tiles, 'CORRUPT_DATA', `replica has ${s.tiles} tiles, update starts at ${u.fromTile}`, 'tiles');
    for (let t = u.fromTile; t < u.tiles; t++) {
      const p = Math.floor(t / TILES_PER_PAGE);
      if (p === s.pages.length) s.pages.push(new Uint32Array(this.pageWords));
      s.pages[p]!.set(u.words.subarray((t - u.fromTile) * slot, (t - u.fromTile + 1) * slot), (t % TILES_PER_PAGE) * slot);
    }
    s.tiles = u.tiles;
    if (u.sinks) {
      s.sinkK.set(u.sinks.k);
      s.sinkV.set(u.sinks.v);
      s.sinkCount = u.sinks.count;
    }
    const tf = this.tokenFloats, drop = s.tailCount - u.tailKeep;
    check(u.tailKeep >= 0 && drop >= 0 && u.tailKeep * tf + u.tailK.length === u.tailCount * tf, 'CORRUPT_DATA',
      `replica tail of ${s.tailCount} tokens cannot keep ${u.tailKeep} and reach ${u.tailCount}`, 'tail');
    if (drop > 0) {
      s.tailK.copyWithin(0, drop * tf, s.tailCount * tf);
      s.tailV.copyWithin(0, drop * tf, s.tailCount * tf);
    }
    s.tailK.set(u.tailK, u.tailKeep * tf);
    s.tailV.set(u.tailV, u.tailKeep * tf);
    s.tailCount = u.tailCount;
  }

  forget(): void {
    this.seqs.clear();
  }
}

/** Minimal slice of node:worker_threads' MessagePort / Worker used here. */
interface Port {
  postMessage(msg: unknown, transfer?: unknown[]): void;
  on(event: 'message', fn: (msg: unknown) => void): void;
}

/** Worker entry (runs inside a worker thread): serves AttendRequests on `port`. */
export async function runWasmAttentionWorker(port: Port, wasm: WebAssembly.Module, options: WasmBackendOptions = {}): Promise<void> {
  const backend = new WasmBackend(await loadKvpackWasm(wasm), options);
  const replicas = new Map<number, ReplicaCache>();
  port.on('message', (msg) => {
    const req = msg as AttendRequest | ForgetRequest;
    try {
      if ('forget' in req) {
        const r = replicas.get(req.forget);
        if (r) backend.forget(r as unknown as PackedKvCache);
        replicas.delete(req.forget);
        port.postMessage({ id: req.id } satisfies WorkerReply);
        return;
      }
      let replica = replicas.get(req.cacheId);
      if (!replica) {
        if (!req.spec) throw new KvpackError('CORRUPT_DATA', `worker has no replica of cache ${req.cacheId}`, 'cache');
        replica = new ReplicaCache(req.spec);
        replicas.set(req.cacheId, replica);
      }
      for (const u of req.updates) replica.apply(u);
      if (!req.seqs) {
        port.postMessage({ id: req.id } satisfies WorkerReply);
        return;
      }
      if (req.part) {
        const stats = new Float32Array(req.seqs.length * req.nHeads * 2);
        const out = backend.attendSync(replica as unknown as PackedKvCache, req.seqs, req.q, req.nHeads, req.kvHeads,
          { index: req.part[0], of: req.part[1], stats });
        port.postMessage({ id: req.id, out, stats } satisfies WorkerReply, [out.buffer, stats.buffer]);
        return;
      }
      const out = backend.attendSync(replica as unknown as PackedKvCache, req.seqs, req.q, req.nHeads, req.kvHeads);
      port.postMessage({ id: req.id, out } satisfies WorkerReply, [out.buffer]);
    } catch (e) {
      const err = e instanceof KvpackError ? { code: e.code, message: e.message } : { code: 'BACKEND_UNAVAILABLE', message: String((e as Error).message ?? e) };
      port.postMessage({ id: req.id, error: err } satisfies WorkerReply);
    }
  });
}

/** Per cache: what the workers already hold. */
interface SentState {
  id: number;
  seqs: Map<number, { view: SequenceView; tiles: number; sinkCount: number; tailCount: number }>;
}

interface NodeWorker extends Port {
  terminate(): Promise<number>;
  ref(): void;
  unref(): void;
  on(event: 'message', fn: (msg: unknown) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
}

export interface WasmThreadsOptions {
  /** Worker threads (default: the machine's logical CPUs, at most 8). */
  threads?: number;
  /**
   * The kernel module (bytes or compiled); default: the one this build carries, compiled once per
   * process. Bytes are compiled for this pool alone; a compiled module is shared with whatever
   * else runs it, optimized code included (a fresh compile runs V8's baseline code for the first
   * steps: decisions.md#D44).
   */
  wasm?: BufferSource | WebAssembly.Module;
  /**
   * URL of the ES module the workers import `runWasmAttentionWorker` from; default: this module
   * (the kvpack bundle). A program that bundles kvpack into its own file passes kvpack's
   * dist/index.js here, or the workers would run that program.
   */
  workerModule?: string | URL;
  /** The workers' WasmBackend option (WasmBackendOptions.integerAttention: default true). */
  integerAttention?: boolean;
}

/**
 * AttentionBackend over worker threads, each with its own WASM SIMD instance; see the module
 * comment. `create` throws BACKEND_UNAVAILABLE where worker_threads or WASM SIMD are missing.
 */
export class WasmThreadsBackend implements AttentionBackend {
  readonly name = 'wasm' as const;
  readonly description: string;
  private readonly sent = new WeakMap<PackedKvCache, SentState>();
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void }>();
  private nextId = 1;
  private nextCache = 1;
  private disposed = false;
  private queue: Promise<unknown> = Promise.resolve();
  /** A cache the caller drops without forget()/dispose(): its replicas go when it is collected. */
  private readonly finalizer = new FinalizationRegistry<number>((id) => this.dropReplicas(id));

  private constructor(private readonly workers: NodeWorker[], build: WasmBuild, private readonly integer: boolean) {
    this.description = `${wasmBuildLabel(build)}, ${workers.length} worker threads${integer ? ', integer-domain KIVI and SKVQ kernels' : ''}`;
    for (const w of workers) {
      w.on('message', (msg) => {
        const r = msg as WorkerReply;
        const p = this.pending.get(r.id);
        if (p) { this.pending.delete(r.id); p.resolve(r); }
      });
      w.on('error', (err: Error) => {
        for (const [id, p] of this.pending) {
          this.pending.delete(id);
          p.resolve({ id, error: { code: 'BACKEND_UNAVAILABLE', message: `worker failed: ${err.message}` } });
        }
      });
    }
  }

  static async create(opts: WasmThreadsOptions = {}): Promise<WasmThreadsBackend> {
    checkWasmBackendOptions(opts);
    if (!wasmSimdSupported()) throw new KvpackError('BACKEND_UNAVAILABLE', 'this runtime has no WebAssembly SIMD', 'wasm');
    let wt: { Worker: new (url: URL, opts: unknown) => NodeWorker };
    let os: { availableParallelism?: () => number; cpus: () => unknown[] };
    try {
      wt = await importNode<typeof wt>('worker_threads');
      os = await importNode<typeof os>('os');
    } catch {
      throw new KvpackError('BACKEND_UNAVAILABLE', 'worker threads need Node (node:worker_threads); use the single-threaded WASM backend', 'threads');
    }
    const cpus = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
    const threads = opts.threads ?? Math.min(8, Math.max(1, cpus));
    check(Number.isInteger(threads) && threads >= 1 && threads <= 64, 'BAD_PARAM', `must be an integer in 1..64, got ${threads}`, 'threads');
    const workerUrl = String(opts.workerModule ?? import.meta.url);
    if (workerUrl.endsWith('.ts')) {
      throw new KvpackError('BACKEND_UNAVAILABLE', 'WASM worker threads load the bundle (dist/index.js), not the TS sources: pass workerModule', 'threads');
    }
    let module: WebAssembly.Module;
    try {
      // without bytes, the process's compiled default module (shared with WasmBackend, D44)
      module = opts.wasm instanceof WebAssembly.Module ? opts.wasm
        : opts.wasm !== undefined ? await WebAssembly.compile(opts.wasm) : await defaultWasmModule(chooseWasmBuild());
    } catch (e) {
      if (e instanceof KvpackError) throw e;
      throw new KvpackError('BACKEND_UNAVAILABLE', `cannot compile kvpack.wasm: ${(e as Error).message}`, 'wasm');
    }
    // one instance here: the module's own report of its build (and its ABI check) before any worker starts
    const probe = new KvpackWasm(await WebAssembly.instantiate(module, {}));
    const { build } = probe;
    // as WasmBackend: an explicit request needs the kernels; the default takes them where present
    if (opts.integerAttention === true) probe.fn('set_integer_attention');
    const integer = opts.integerAttention !== false && typeof probe.exports.set_integer_attention === 'function';
    const boot = `import { parentPort, workerData } from 'node:worker_threads';
const m = await import(workerData.url);
await m.runWasmAttentionWorker(parentPort, workerData.wasm, workerData.options);
parentPort.postMessage({ id: 0 });`;
    const workers: NodeWorker[] = [];
    const ready: Promise<void>[] = [];
    for (let i = 0; i < threads; i++) {
      const w = new wt.Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), { workerData: { url: workerUrl, wasm: module, options: { integerAttention: integer } } });
      w.unref(); // an idle pool does not keep the process alive (ref'd while a call waits, send())
      ready.push(new Promise((resolve, reject) => {
        const onMsg = (msg: unknown): void => { if ((msg as WorkerReply).id === 0) resolve(); };
        w.on('message', onMsg);
        w.on('error', (e: Error) => reject(new KvpackError('BACKEND_UNAVAILABLE', `WASM worker failed to start: ${e.message}`, 'threads')));
      }));
      workers.push(w);
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    return new WasmThreadsBackend(workers, build, integer);
  }

  get threads(): number {
    return this.workers.length;
  }

  /** Whether the workers run the integer-domain KIVI kernels (WasmBackendOptions.integerAttention). */
  get integerAttention(): boolean {
    return this.integer;
  }

  /**
   * The bound attend holds to attendReference (ATTENTION_TOLERANCE), as WasmBackend's: the same
   * kernels; the tile parts' f64 merge (D55) stays within the `exact` tier.
   */
  attentionTolerance(cache: PackedKvCache, nHeads: number): number {
    return wasmAttentionTolerance(this.integer, cache, nHeads);
  }

  /** Post a request and wait for its reply; the worker keeps the process alive meanwhile. */
  private send(w: NodeWorker, req: AttendRequest | ForgetRequest): Promise<WorkerReply> {
    return new Promise<WorkerReply>((resolve) => {
      w.ref();
      this.pending.set(req.id, { resolve: (r) => { w.unref(); resolve(r); } });
      w.postMessage(req);
    });
  }

  attend(cache: PackedKvCache, seqs: readonly number[], q: Float32Array, nHeads: number): Promise<Float32Array> {
    // Validated and snapshotted now (PackedKvCache.snapshot), run in call order: the workers'
    // replicas advance call by call, and each call sees the tokens appended before it was made.
    try {
      check(!this.disposed, 'BACKEND_UNAVAILABLE', 'backend was disposed', 'backend');
      checkAttendArgs(cache, seqs, q, nHeads);
      check(nHeads % cache.nKvHeads === 0, 'BAD_SHAPE', `nHeads=${nHeads} must be a positive multiple of nKvHeads=${cache.nKvHeads}`, 'nHeads');
      checkQueries(cache, seqs, q, nHeads);
      for (const c of [kernelCodec(cache.key), kernelCodec(cache.value)]) {
        if (codecInfo(c.name).needsCalibration && c.calibration === undefined) {
          throw new KvpackError('BACKEND_UNAVAILABLE', `codec '${c.name}' does not expose the calibration it was built from, which the WASM threads need to rebuild it; use the single-threaded WASM backend`, 'cache');
        }
      }
    } catch (e) {
      return Promise.reject(e);
    }
    const origin = cacheOrigin(cache), snap = cache.snapshot(seqs), ids = [...seqs], qc = q.slice();
    const run = this.queue.then(() => this.attendNow(origin, snap, ids, qc, nHeads));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async attendNow(origin: PackedKvCache, cache: PackedKvCache, seqs: readonly number[], q: Float32Array, nHeads: number): Promise<Float32Array> {
    check(!this.disposed, 'BACKEND_UNAVAILABLE', 'backend was disposed before this call ran', 'backend');
    const d = cache.headDim;
    let state = this.sent.get(origin);
    let spec: CacheSpec | undefined;
    if (!state) {
      state = { id: this.nextCache++, seqs: new Map() };
      this.sent.set(origin, state);
      this.finalizer.register(origin, state.id, state);
      forgetOnDispose(this, origin);
      const key = kernelCodec(cache.key), value = kernelCodec(cache.value);
      const keyRot = rotationOf(cache.key), valueRot = rotationOf(cache.value);
      spec = {
        key: key.name, value: value.name, headDim: d, nKvHeads: cache.nKvHeads, sinks: cache.sinks, window: cache.window,
        keyTileWords: key.tileWords, valueTileWords: value.tileWords, keyParams: key.paramWords, valueParams: value.paramWords,
        keyCalibration: key.calibration, valueCalibration: value.calibration,
        ...(keyRot ? { keyRotation: keyRot.seed } : {}), ...(valueRot ? { valueRotation: valueRot.seed } : {}),
      };
    }
    const updates = [...new Set(seqs)].map((seq) => this.updateFor(cache, state!, seq));

    // contiguous KV head ranges, one per worker (bit for bit the one-thread output); with fewer KV
    // heads than workers, every worker takes all heads over a contiguous part of each sequence's
    // tiles and the parts are merged by their softmax statistics (flash-decoding)
    const n = this.workers.length, nKv = cache.nKvHeads, byTiles = nKv < n;
    const replies = await Promise.all(this.workers.map((w, i) => {
      const a = byTiles ? 0 : Math.floor((i * nKv) / n), b = byTiles ? nKv : Math.floor(((i + 1) * nKv) / n);
      const req: AttendRequest = { id: this.nextId++, cacheId: state!.id, updates, seqs: b > a ? [...seqs] : null, q, nHeads, kvHeads: [a, b] };
      if (byTiles) req.part = [i, n];
      if (spec) req.spec = spec;
      return this.send(w, req);
    }));
    for (const r of replies) {
      if (r.error) {
        // the replicas may now disagree with what was sent: start this cache over next time
        this.sent.delete(origin);
        throw new KvpackError(r.error.code as KvpackError['code'], r.error.message, 'threads');
      }
    }
    if (byTiles) return mergeTileParts(replies, seqs.length * nHeads, d);
    const out = new Float32Array(q.length);
    for (const r of replies) if (r.out) for (let i = 0; i < out.length; i++) out[i]! += r.out[i]!;
    return out;
  }

  private updateFor(cache: PackedKvCache, state: SentState, seq: number): SeqUpdate {
    const view = cache.view(seq);
    let s = state.seqs.get(seq);
    const reset = !s || s.view !== viewOrigin(view);
    if (reset) {
      s = { view: viewOrigin(view), tiles: 0, sinkCount: -1, tailCount: 0 };
      state.seqs.set(seq, s);
    }
    const slot = cache.tileSlotWords, tf = cache.tokenFloats;
    const from = s!.tiles;
    const words = new Uint32Array((view.tiles - from) * slot);
    for (let t = from; t < view.tiles; t++) {
      const p = Math.floor(t / TILES_PER_PAGE), o = (t % TILES_PER_PAGE) * slot;
      words.set(view.pages[p]!.subarray(o, o + slot), (t - from) * slot);
    }
    const u: SeqUpdate = {
      seq, reset, fromTile: from, tiles: view.tiles, words,
      // only the tail tokens the replica lacks (decisions.md#D46): what it had, less the tokens
      // of the tiles sealed since, stays; while sinks still fill, the whole tail travels
      tailCount: view.tailCount, tailKeep: 0, tailK: new Float32Array(0), tailV: new Float32Array(0),
    };
    if (view.sinkCount !== s!.sinkCount) {
      u.sinks = { count: view.sinkCount, k: view.sinkK.slice(0, view.sinkCount * tf), v: view.sinkV.slice(0, view.sinkCount * tf) };
    }
    const keep = reset || u.sinks ? 0 : Math.min(view.tailCount, Math.max(0, s!.tailCount - (view.tiles - from) * TILE_TOKENS));
    u.tailKeep = keep;
    u.tailK = view.tailK.slice(keep * tf, view.tailCount * tf);
    u.tailV = view.tailV.slice(keep * tf, view.tailCount * tf);
    s!.tiles = view.tiles;
    s!.sinkCount = view.sinkCount;
    s!.tailCount = view.tailCount;
    return u;
  }

  /** Drop the workers' replicas of a cache now (also dropped with the backend). */
  async forget(cache: PackedKvCache): Promise<void> {
    const state = this.sent.get(cacheOrigin(cache));
    if (!state) return;
    this.sent.delete(cacheOrigin(cache));
    this.finalizer.unregister(state);
    await this.dropReplicas(state.id);
  }

  private async dropReplicas(id: number): Promise<void> {
    if (this.disposed) return;
    await Promise.all(this.workers.map((w) => this.send(w, { id: this.nextId++, forget: id })));
  }

  dispose(): void {
    this.disposed = true;
    for (const w of this.workers) void w.terminate();
  }
}

addSymbolDispose(WasmThreadsBackend);

/** cache.dispose() drops the workers' replicas (a function of its own: see wasm.ts forgetOnDispose). */
function forgetOnDispose(backend: WasmThreadsBackend, cache: PackedKvCache): void {
  cache.onDispose(() => void backend.forget(cache));
}

/**
 * Merge of tile parts: for each (sequence, query head) row, out = sum_w c_w out_w / sum_w c_w with
 * c_w = l_w exp(m_w - max m) over the parts that attended any token (l_w > 0), in f64.
 */
function mergeTileParts(replies: WorkerReply[], rows: number, d: number): Float32Array {
  const out = new Float32Array(rows * d);
  const acc = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    let M = -Infinity;
    for (const p of replies) if (p.stats![2 * r + 1]! > 0) M = Math.max(M, p.stats![2 * r]!);
    if (M === -Infinity) continue;
    acc.fill(0);
    let L = 0;
    for (const p of replies) {
      const l = p.stats![2 * r + 1]!;
      if (!(l > 0)) continue;
      const c = l * Math.exp(p.stats![2 * r]! - M);
      L += c;
      for (let i = 0; i < d; i++) acc[i]! += c * p.out![r * d + i]!;
    }
    for (let i = 0; i < d; i++) out[r * d + i] = acc[i]! / L;
  }
  return out;
}
