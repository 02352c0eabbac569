import { check, checkFinite, KvpackError } from '../../errors.js';
import { TILE_TOKENS } from '../../format/constants.js';
import { BufferUsage, MAP_READ_MODE, writeArray } from './device.js';
import type { GpuKvCache, GpuSequence } from './gpu-cache.js';
import { kernelsFor } from './kernels.js';
import { ATTEND_MAX_ABS, checkRange } from '../../codecs/range.js';
import { bindGroupLayout, getPipeline } from './pipelines.js';
import { subgroupSize } from './subgroups.js';
import { packedDot4 } from './int-dot.js';
import { checkEncoder, checkObject, checkSeqIds, typeName } from '../../util/args.js';
import { attendRowsSource, chooseAttendKernel, foldSpan, mergeSource, rotateSource, TILES_MAX_HEADS, type AttendDriverFn, type AttendKernel, type ChooseAttendOptions } from './shaders.js';

/** Workgroups per dispatch dimension that every adapter allows (WebGPU default limit). */
const MAX_WORKGROUPS = 65535;

export interface GpuAttendOptions {
  /**
   * Tiles per workgroup (flash-decoding split size). Default: enough splits for ~1024
   * workgroups over the batch, at least 2 tiles each; tests set it small to exercise the merge.
   */
  tilesPerSplit?: number;
  /**
   * Force a tile kernel (A/B runs, tests): 'fold-sg' (wgsl/attend/fold-subgroup.wgsl: KIVI-2/4, q8_0/q4_0
   * and SKVQ at head_dim 64/128 on adapters with 32-wide subgroups; the automatic choice there),
   * 'fold' (wgsl/attend/fold.wgsl, same codecs, any adapter), 'words' (tiles.wgsl + KIVI word-load
   * hooks), 'generic' (tiles.wgsl + the codecs' hooks). Where the forced kernel does not apply,
   * the automatic choice runs.
   */
  kernel?: AttendKernel | 'auto';
  /**
   * Integer-domain KIVI keys (the WasmBackend option of the same name, same meaning): with
   * KIVI-2/4 keys at head_dim 64/128, on adapters whose WGSL has dot4I8Packed (int-dot.ts), the
   * folded kernels score keys by 8-bit integer dot products (wgsl/kivi/fold-int.wgsl; values
   * stay on the float path). The rounding moves outputs by more than the float kernels'
   * tolerance (bound and measurement: docs/decisions.md#D153), so it is opt-in; elsewhere the
   * float kernels run, unchanged.
   */
  integerAttention?: boolean;
  /**
   * A driver composed outside the library, tried before the chooser (bench experiments such as
   * bench/gpu/matrix/driver.ts; decisions.md#D27). Where it returns undefined the chooser decides.
   */
  driver?: AttendDriverFn;
}

/**
 * Tiles per work item (flash-decoding split) when not given, from the tiles of the largest
 * dispatch (the step's tiles in one page buffer; the buffers' dispatches run one after the
 * other, so each must fill the GPU on its own). tiles.wgsl: ~1024 workgroups fill a
 * big GPU, at least 2 tiles each so the partials (headDim + 2 floats per query head) stay small
 * next to the tile data they summarize. Folded KIVI kernels: ~1024 single-head workgroups' worth
 * of work (a workgroup of 4 heads counts 4), at least 4 tiles (one round of rows); long caches
 * on fold-sg take 256 (below). Measured: decisions.md#D18.
 */
export function autoTilesPerSplit(dispatchTiles: number, nKv: number, headBlocks: number,
  choice: { kernel: string; headsPerWorkgroup: number }): number {
  const units = dispatchTiles * nKv * headBlocks;
  // the integer-key kernels are the folded drivers with another key file: their rule
  const kernel = choice.kernel === 'fold-sg-int' ? 'fold-sg' : choice.kernel === 'fold-int' ? 'fold' : choice.kernel;
  const work = units * choice.headsPerWorkgroup; // single-head tile steps
  const folded = Math.max(4, Math.ceil(work / 1024));
  // fold-sg on long caches (>= 128K single-head tile steps): 256 tiles per item (16 per row of a
  // 16-row workgroup), or more for several heads when ~1024 steps per item asks more
  // (in-call A/Bs against the rule above: decisions.md#D18)
  if (kernel === 'fold-sg' && work >= 131072) return choice.headsPerWorkgroup > 1 ? Math.max(256, folded) : 256;
  if (kernel === 'fold' || kernel === 'fold-sg') return folded;
  return Math.max(2, Math.ceil(units / 1024));
}

/** One dispatch of attend/tiles.wgsl over one bound buffer. */
interface Pass {
  /** Work items: (batch sequence, first tile entry, tile count, partial slot). */
  work: number[];
  /** Tile entries: (word offset in the buffer, valid tokens). */
  entries: number[];
}

/** A GpuKvCache (duck-typed: this module imports its type only). */
function checkGpuCache(cache: unknown): asserts cache is GpuKvCache {
  const c = cache as { layout?: unknown; serial?: unknown } | null;
  check(c !== null && typeof c === 'object' && typeof c.serial === 'function' && c.layout !== null && typeof c.layout === 'object',
    'BAD_PARAM', `must be a GpuKvCache, got ${typeName(cache)}`, 'cache');
}

function liveSequence(cache: GpuKvCache, id: number): GpuSequence {
  const s = cache.sequence(id);
  if (!s || cache.length(id) === 0) throw new KvpackError('UNKNOWN_SEQUENCE', `no tokens cached for sequence ${id}`, 'seqs');
  return s;
}

function passFor(map: Map<number, Pass>, buffer: number): Pass {
  let p = map.get(buffer);
  if (!p) { p = { work: [], entries: [] }; map.set(buffer, p); }
  return p;
}

/**
 * Decode attention for a batch of sequences of a GpuKvCache: q [seqs.length][nHeads][headDim]
 * -> the same shape. Flash-decoding: every (sequence, run of tiles, KV head, head block) is a
 * workgroup writing a partial (m, l, acc); the sinks + tail rows are one more run; a merge pass
 * combines each sequence's partials. Validates everything before touching the GPU.
 */
export function attendGpu(cache: GpuKvCache, seqs: readonly number[], q: Float32Array, nHeads: number,
  opts: GpuAttendOptions = {}): Promise<Float32Array> {
  // validated and copied at call time, run after the cache's earlier appends and attends
  try {
    checkGpuCache(cache);
    checkSeqIds(seqs);
    checkObject(opts, 'opts');
    check(q instanceof Float32Array, 'BAD_PARAM', 'must be a Float32Array', 'q');
    validateAttend(cache, seqs, q, nHeads, opts);
  } catch (e) {
    return Promise.reject(e);
  }
  const ids = [...seqs], qc = q.slice();
  return cache.serial(() => attendGpuNow(cache, ids, qc, nHeads, opts));
}

function validateAttend(cache: GpuKvCache, seqs: readonly number[], q: Float32Array, nHeads: number, opts: GpuAttendOptions): void {
  const L = cache.layout, d = L.headDim, nKv = L.nKvHeads;
  check(Array.isArray(seqs) && seqs.length > 0, 'BAD_SHAPE', 'must be a non-empty array of sequence ids', 'seqs');
  check(Number.isInteger(nHeads) && nHeads > 0 && nHeads % nKv === 0, 'BAD_SHAPE',
    `nHeads=${nHeads} must be a positive multiple of nKvHeads=${nKv}`, 'nHeads');
  check(q.length === seqs.length * nHeads * d, 'BAD_SHAPE',
    `length ${q.length} != seqs.length*nHeads*headDim=${seqs.length * nHeads * d}`, 'q');
  checkFinite(q, 'q');
  checkRange(q, ATTEND_MAX_ABS, 'q', 'the f32 attention kernels');
  for (const id of seqs) liveSequence(cache, id);
  check(opts.integerAttention === undefined || typeof opts.integerAttention === 'boolean', 'BAD_PARAM',
    `must be a boolean, got ${typeName(opts.integerAttention)}`, 'integerAttention');
  if (opts.tilesPerSplit !== undefined) {
    check(Number.isInteger(opts.tilesPerSplit) && opts.tilesPerSplit >= 1, 'BAD_PARAM', `must be a positive integer, got ${opts.tilesPerSplit}`, 'tilesPerSplit');
  }
}

/** Where the queries of a recorded attention come from. */
type QuerySource = { kind: 'host'; bits: Uint32Array } | { kind: 'gpu'; buffer: GPUBuffer; offset: number };

/** Pipelines and kernel choice of one (cache, nHeads, options), validated and built. */
interface Prepared {
  nHeads: number;
  headBlocks: number;
  rowHeadBlocks: number;
  choice: ReturnType<typeof chooseAttendKernel>;
  tilesPipe: GPUComputePipeline;
  rowsPipe: GPUComputePipeline;
  mergePipe: GPUComputePipeline;
  tilesPerSplitOpt: number | undefined;
}

/** Validates the batch (sequences live, nHeads a multiple of nKvHeads) without touching the GPU. */
function checkBatch(cache: GpuKvCache, seqs: readonly number[], nHeads: number, opts: GpuAttendOptions): void {
  const nKv = cache.layout.nKvHeads;
  check(Array.isArray(seqs) && seqs.length > 0, 'BAD_SHAPE', 'must be a non-empty array of sequence ids', 'seqs');
  check(Number.isInteger(nHeads) && nHeads > 0 && nHeads % nKv === 0, 'BAD_SHAPE',
    `nHeads=${nHeads} must be a positive multiple of nKvHeads=${nKv}`, 'nHeads');
  for (const id of seqs) liveSequence(cache, id);
  check(opts.integerAttention === undefined || typeof opts.integerAttention === 'boolean', 'BAD_PARAM',
    `must be a boolean, got ${typeName(opts.integerAttention)}`, 'integerAttention');
  const tilesPerSplitOpt = opts.tilesPerSplit;
  if (tilesPerSplitOpt !== undefined) {
    check(Number.isInteger(tilesPerSplitOpt) && tilesPerSplitOpt >= 1, 'BAD_PARAM', `must be a positive integer, got ${tilesPerSplitOpt}`, 'tilesPerSplit');
  }
}

async function prepare(cache: GpuKvCache, nHeads: number, opts: GpuAttendOptions): Promise<Prepared> {
  const L = cache.layout, d = L.headDim, nKv = L.nKvHeads;
  const ctx = cache.ctx;
  ctx.assertAlive();
  const group = nHeads / nKv;

  // ---- pipelines (built once per shape and codec pair, then cached)
  const kk = kernelsFor(L.key), vk = kernelsFor(L.value);
  const lanes = Math.min(4, d / 8);
  const common = { HEAD_DIM: d, N_HEADS: nHeads, GROUP: group, LANES: lanes };
  const tilesConstants: Record<string, number> = {
    ...common,
    HEAD_STRIDE: L.key.tileWords + L.value.tileWords,
    V_OFFSET: L.key.tileWords,
    K_PARAMS: 0,
    V_PARAMS: L.key.paramWords.length,
  };
  if (kk.bits !== undefined) tilesConstants.K_BITS = kk.bits;
  if (vk.bits !== undefined) tilesConstants.V_BITS = vk.bits;
  // the word-load hooks (KIVI) read pages as vec4s: every tile offset must be a multiple of 4
  // words (page offsets are multiples of the slot size, slots hold nKv (K, V) tile pairs)
  const vec4Aligned = [L.key.tileWords, L.value.tileWords, L.tileSlotWords].every((w) => w % 4 === 0);
  const sgSize = await subgroupSize(ctx.device);
  const span = foldSpan(kk, vk, L.key, L.value, d);
  const chooseOpts: ChooseAttendOptions = {
    headDim: d, group, maxWorkgroupBytes: ctx.limits.maxComputeWorkgroupStorageSize, vec4Aligned,
    maxInvocations: ctx.limits.maxComputeInvocationsPerWorkgroup,
    kernel: opts.kernel ?? 'auto',
    ...(sgSize !== undefined ? { subgroupSize: sgSize } : {}),
    ...(span !== undefined ? { foldSpan: span } : {}),
    ...(opts.integerAttention === true ? { integerAttention: true, packedDot4: await packedDot4(ctx.device) } : {}),
  };
  const choice = opts.driver?.(kk, vk, chooseOpts) ?? chooseAttendKernel(kk, vk, chooseOpts);
  // head blocks (dispatch z) of the tile kernel and of the fp rows pass (tiles.wgsl's MAX_G)
  const headBlocks = Math.ceil(group / choice.headsPerWorkgroup);
  const rowHeadBlocks = Math.ceil(group / TILES_MAX_HEADS);
  const [tilesPipe, rowsPipe, mergePipe] = await Promise.all([
    getPipeline(ctx, { label: `kvpack-attend-${choice.kernel}-${L.key.name}-${L.value.name}`, layout: 'attend', source: choice.source, entryPoint: 'attend_tiles', constants: tilesConstants }),
    getPipeline(ctx, {
      label: 'kvpack-attend-rows', layout: 'attend', source: attendRowsSource(), entryPoint: 'attend_tiles',
      constants: { ...common, HEAD_STRIDE: d, V_OFFSET: cache.fpRowCount * L.tokenFloats, ROW_WORDS: L.tokenFloats },
    }),
    getPipeline(ctx, { label: 'kvpack-merge', layout: 'merge', source: mergeSource(), entryPoint: 'merge', constants: { HEAD_DIM: d, N_HEADS: nHeads } }),
  ]);
  ctx.assertAlive();
  return { nHeads, headBlocks, rowHeadBlocks, choice, tilesPipe, rowsPipe, mergePipe, tilesPerSplitOpt: opts.tilesPerSplit };
}

/** The fp-rows work of a plan: entries whose valid-token counts are filled in per call. */
interface RowPass extends Pass {
  /** Per entry: the batch index of its sequence and its first row. */
  rowSeqs: number[];
  rowStarts: number[];
}

/** A step's work split into dispatches, reused while no sequence seals a tile or opens a row block. */
interface Plan {
  key: string;
  tilePasses: Map<number, Pass>;
  rowPasses: Map<number, RowPass>;
  ranges: Uint32Array;
  slots: number;
  tileJobs?: Map<number, { jobBuf: GPUBuffer; qOff: number; bind: GPUBindGroup }>;
  tileJobsPartials?: GPUBuffer;
  tileJobsPages?: number;
}

const sequenceIds = new WeakMap<GpuSequence, number>();
let nextSequenceId = 1;
/** A number per sequence state object (a deleted and re-created sequence gets a new one). */
function sequenceId(s: GpuSequence): number {
  let id = sequenceIds.get(s);
  if (id === undefined) { id = nextSequenceId++; sequenceIds.set(s, id); }
  return id;
}

function buildPlan(cache: GpuKvCache, states: GpuSequence[], prep: Prepared, key: string): Plan {
  const L = cache.layout, nKv = L.nKvHeads;
  // ---- tiles of each sequence, grouped into runs that stay inside one page buffer
  const runs: { buffer: number; entries: number[] }[][] = states.map((s) => {
    const out: { buffer: number; entries: number[] }[] = [];
    for (let t = 0; t < s.tiles; t++) {
      const slot = cache.tileSlot(s, t);
      let run = out[out.length - 1];
      if (!run || run.buffer !== slot.buffer) { run = { buffer: slot.buffer, entries: [] }; out.push(run); }
      run.entries.push(slot.offsetWords, TILE_TOKENS);
    }
    return out;
  });
  // one dispatch per page buffer, one after the other: the split is sized for the largest one
  // (sized for all tiles, a batch of long caches over several buffers left each dispatch a few
  // big work items and most of the GPU idle: decisions.md#D18)
  const bufferTiles = new Map<number, number>();
  for (const r of runs.flat()) bufferTiles.set(r.buffer, (bufferTiles.get(r.buffer) ?? 0) + r.entries.length / 2);
  const dispatchTiles = Math.max(0, ...bufferTiles.values());
  const tilesPerSplit = prep.tilesPerSplitOpt ?? autoTilesPerSplit(dispatchTiles, nKv, prep.headBlocks, prep.choice);

  // ---- work items per page buffer and per fp-rows buffer, partial slots per sequence
  const tilePasses = new Map<number, Pass>();
  const rowPasses = new Map<number, RowPass>();
  const ranges = new Uint32Array(2 * states.length);
  let slots = 0;
  const addRun = (pass: Pass, b: number, entries: number[]): void => {
    for (let i = 0; i < entries.length / 2; i += tilesPerSplit) {
      const count = Math.min(tilesPerSplit, entries.length / 2 - i);
      pass.work.push(b, pass.entries.length / 2, count, slots++);
      for (let k = 0; k < 2 * count; k++) pass.entries.push(entries[2 * i + k]!);
    }
  };
  states.forEach((s, b) => {
    const first = slots;
    for (const run of runs[b]!) addRun(passFor(tilePasses, run.buffer), b, run.entries);
    // sinks + tail rows: contiguous rows [0, sinkCount + tailCount) of the fp region
    const rows = s.sinkCount + s.tailCount;
    const rowEntries: number[] = [];
    let rp: RowPass | undefined;
    for (let r = 0; r < rows; r += TILE_TOKENS) {
      rowEntries.push(s.fp.offsetWords + r * L.tokenFloats, Math.min(TILE_TOKENS, rows - r));
      rp ??= rowPasses.get(s.fp.buffer) ?? (rowPasses.set(s.fp.buffer, { work: [], entries: [], rowSeqs: [], rowStarts: [] }), rowPasses.get(s.fp.buffer)!);
      rp.rowSeqs.push(b);
      rp.rowStarts.push(r);
    }
    if (rowEntries.length) addRun(rp!, b, rowEntries);
    ranges[2 * b] = first;
    ranges[2 * b + 1] = slots - first;
  });
  for (const p of [...tilePasses.values(), ...rowPasses.values()]) {
    if (p.work.length / 4 > MAX_WORKGROUPS) {
      throw new KvpackError('BAD_PARAM', `${p.work.length / 4} work items in one dispatch exceed ${MAX_WORKGROUPS}; raise tilesPerSplit or split the batch`, 'tilesPerSplit');
    }
  }
  return { key, tilePasses, rowPasses, ranges, slots };
}

/**
 * Records one attention step into `enc`: the tile and fp-row passes, then the merge into the
 * scratch output buffer, which is returned (f32 [seqs.length][nHeads][headDim]). Job lists are
 * written with queue.writeBuffer into scratch buffers named `<prefix>...`: they must not be
 * rewritten before `enc` is submitted (attendGpu holds the scratch lock until its readback;
 * attendInto uses its own prefix and one call per cache per command buffer).
 */
function record(enc: GPUCommandEncoder, cache: GpuKvCache, seqs: readonly number[], queries: QuerySource,
  prep: Prepared, scratch: Scratch, prefix: string): { out: GPUBuffer; outBytes: number } {
  const L = cache.layout, d = L.headDim, nKv = L.nKvHeads, nHeads = prep.nHeads;
  const ctx = cache.ctx;
  // states are read only now: an append awaited in between must not leave a stale plan
  const states: GpuSequence[] = seqs.map((id) => liveSequence(cache, id));

  // ---- the plan (work items, tile entries, partial slots) depends only on each sequence's
  // tiles and fp row blocks: kept per scratch prefix and rebuilt only when one of them changes
  // (a decode step seals a tile every 32 tokens), so a long cache is not re-planned every step
  const rowBlocks = states.map((s) => Math.ceil((s.sinkCount + s.tailCount) / TILE_TOKENS));
  const planKey = [prep.choice.kernel, prep.headBlocks, prep.tilesPerSplitOpt ?? 'auto',
    ...states.map((s, b) => `${sequenceId(s)}:${s.tiles}:${rowBlocks[b]}`)].join(',');
  let plan = scratch.plans.get(prefix);
  if (!plan || plan.key !== planKey) {
    plan = buildPlan(cache, states, prep, planKey);
    scratch.plans.set(prefix, plan);
  }
  // fp rows: their valid-token counts change every step, so their entries are rewritten
  const rowPasses = new Map<number, Pass>();
  for (const [buffer, rp] of plan.rowPasses) {
    const entries = rp.entries.slice();
    for (let i = 0; i < rp.rowSeqs.length; i++) {
      const sq = states[rp.rowSeqs[i]!]!;
      entries[2 * i + 1] = Math.min(TILE_TOKENS, sq.sinkCount + sq.tailCount - rp.rowStarts[i]!);
    }
    rowPasses.set(buffer, { work: rp.work, entries });
  }
  const slots = plan.slots;
  const partialFloats = slots * nHeads * (d + 2);
  if (partialFloats * 4 > ctx.limits.maxStorageBufferBindingSize) {
    throw new KvpackError('BAD_PARAM', `${slots} partials of ${nHeads} heads exceed maxStorageBufferBindingSize; raise tilesPerSplit or split the batch`, 'tilesPerSplit');
  }

  const dev = ctx.device;
  const storage = (key: string, data: Uint32Array | Float32Array): GPUBuffer => {
    const buf = scratch.buffer(dev, prefix + key, data.byteLength, BufferUsage.STORAGE | BufferUsage.COPY_DST);
    writeArray(dev.queue, buf, 0, data);
    return buf;
  };
  const partials = scratch.buffer(dev, 'partials', partialFloats * 4, BufferUsage.STORAGE);
  const qWords = seqs.length * nHeads * d;
  const outBytes = qWords * 4;
  const out = scratch.buffer(dev, 'out', outBytes, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
  const attendLayout = bindGroupLayout(ctx, 'attend');

  // job lists (and, for GPU queries, the copies that put q into them) before the compute pass:
  // copies cannot be recorded inside one
  const dispatches: { pipe: GPUComputePipeline; bind: GPUBindGroup; items: number; blocks: number }[] = [];
  const jobFor = (kind: string, buffer: number, p: Pass, buffers: GPUBuffer[]): { jobBuf: GPUBuffer; qOff: number; bind: GPUBindGroup } => {
    const entriesOff = 4 + p.work.length;
    const qOff = entriesOff + p.entries.length;
    const job = new Uint32Array(qOff + qWords);
    job.set([p.work.length / 4, entriesOff, qOff, 0], 0);
    job.set(p.work, 4);
    job.set(p.entries, entriesOff);
    if (queries.kind === 'host') job.set(queries.bits, qOff);
    const jobBuf = storage(`job-${kind}-${buffer}`, job);
    const bind = dev.createBindGroup({
      layout: attendLayout,
      entries: [buffers[buffer]!, jobBuf, cache.params, partials].map((b, binding) => ({ binding, resource: { buffer: b } })),
    });
    return { jobBuf, qOff, bind };
  };
  const addDispatch = (job: { jobBuf: GPUBuffer; qOff: number; bind: GPUBindGroup }, items: number, pipe: GPUComputePipeline, blocks: number): void => {
    if (queries.kind === 'gpu') enc.copyBufferToBuffer(queries.buffer, queries.offset, job.jobBuf, job.qOff * 4, outBytes);
    dispatches.push({ pipe, bind: job.bind, items, blocks });
  };
  // tile jobs: written once per plan (the page buffers and partials they bind must be the same)
  if (!plan.tileJobs || plan.tileJobsPartials !== partials || plan.tileJobsPages !== cache.pages.buffers.length) {
    plan.tileJobs = new Map();
    for (const [buffer, p] of plan.tilePasses) plan.tileJobs.set(buffer, jobFor('tiles', buffer, p, cache.pages.buffers));
    plan.tileJobsPartials = partials;
    plan.tileJobsPages = cache.pages.buffers.length;
  } else if (queries.kind === 'host') {
    for (const job of plan.tileJobs.values()) writeArray(dev.queue, job.jobBuf, job.qOff * 4, queries.bits);
  }
  for (const [buffer, p] of plan.tilePasses) addDispatch(plan.tileJobs.get(buffer)!, p.work.length / 4, prep.tilesPipe, prep.headBlocks);
  for (const [buffer, p] of rowPasses) addDispatch(jobFor('rows', buffer, p, cache.fpRows.buffers), p.work.length / 4, prep.rowsPipe, prep.rowHeadBlocks);
  const mergeBind = dev.createBindGroup({
    layout: bindGroupLayout(ctx, 'merge'),
    entries: [partials, storage('kvpack-ranges', plan.ranges), out].map((b, binding) => ({ binding, resource: { buffer: b } })),
  });

  const pass = enc.beginComputePass({ label: 'kvpack-attend' });
  for (const dsp of dispatches) {
    pass.setPipeline(dsp.pipe);
    pass.setBindGroup(0, dsp.bind);
    pass.dispatchWorkgroups(dsp.items, nKv, dsp.blocks);
  }
  pass.end();
  // a second pass: WebGPU orders storage writes between passes, so the merge sees every partial
  const mpass = enc.beginComputePass({ label: 'kvpack-merge' });
  mpass.setPipeline(prep.mergePipe);
  mpass.setBindGroup(0, mergeBind);
  mpass.dispatchWorkgroups(seqs.length, nHeads);
  mpass.end();
  return { out, outBytes };
}

/**
 * attendGpu without the per-cache ordering: the caller (WebGpuBackend, which orders calls per
 * host cache itself) guarantees nothing else changes `cache` while this runs. The convenience
 * form of `attendInto` (same plan and kernels, so the same bits): uploads q, submits and reads
 * the output back.
 */
export async function attendGpuNow(cache: GpuKvCache, seqs: readonly number[], q: Float32Array, nHeads: number,
  opts: GpuAttendOptions = {}): Promise<Float32Array> {
  const d = cache.layout.headDim;
  checkBatch(cache, seqs, nHeads, opts);
  check(q.length === seqs.length * nHeads * d, 'BAD_SHAPE',
    `length ${q.length} != seqs.length*nHeads*headDim=${seqs.length * nHeads * d}`, 'q');
  checkFinite(q, 'q');
  const ctx = cache.ctx;
  const prep = await prepare(cache, nHeads, opts);
  // rotated keys / values (decisions.md#D135): queries R q on the host, output R^T o' below
  const group = nHeads / cache.layout.nKvHeads;
  if (cache.keyRot) {
    q = q.slice();
    cache.keyRot.rotateRows(q, seqs.length, group, false);
  }

  // ---- buffers and dispatches (scratch buffers reused across calls, calls serialized per cache)
  const scratch = scratchFor(cache);
  const release = await scratch.acquire();
  try {
    const dev = ctx.device;
    const enc = dev.createCommandEncoder({ label: 'kvpack-attend' });
    const { out, outBytes } = record(enc, cache, seqs, { kind: 'host', bits: new Uint32Array(q.buffer, q.byteOffset, q.length) }, prep, scratch, '');
    const readback = scratch.buffer(dev, 'readback', outBytes, BufferUsage.MAP_READ | BufferUsage.COPY_DST);
    enc.copyBufferToBuffer(out, 0, readback, 0, outBytes);
    dev.queue.submit([enc.finish()]);
    await ctx.guard(readback.mapAsync(MAP_READ_MODE, 0, outBytes));
    try {
      const o = new Float32Array(readback.getMappedRange(0, outBytes).slice(0));
      cache.valueRot?.rotateRows(o, seqs.length, group, true);
      return o;
    } finally {
      readback.unmap();
    }
  } finally {
    release();
  }
}

/** A byte range of a caller's GPUBuffer (attendInto). */
export interface GpuBufferSlice {
  buffer: GPUBuffer;
  /** Byte offset, a multiple of 4 (default 0). */
  offset?: number;
}

export interface AttendIntoOptions extends GpuAttendOptions {
  /**
   * f32 [seqs.length][nHeads][headDim] (row-major, sequence-major: query head h of batch entry
   * b at float (b * nHeads + h) * headDim), read at `offset`; needs COPY_SRC usage.
   */
  queries: GpuBufferSlice;
  /** Same layout as the queries, written at `offset`; needs COPY_DST usage. */
  output: GpuBufferSlice;
  nHeads: number;
}

/**
 * Records decode attention into the caller's command encoder (zero-copy: queries and output
 * stay in the caller's GPU buffers; nothing is read back and nothing waits on the GPU). The
 * output is valid once the caller submits `encoder`. Same kernels and plan as attendGpu, so
 * for the same cache and queries the output bits are the same.
 *
 * Rules: `encoder` comes from the cache's device; at most one attendInto per cache per
 * encoder (the job lists live in per-cache buffers written by queue.writeBuffer), and the
 * encoder is submitted before the next call on this cache (attendInto, attendGpu, append),
 * which may reuse or grow those buffers. The plan is taken at call time: tokens appended
 * after this call are not attended to by it (appendFromGpuInto recorded earlier in the same
 * encoder is). Resolves once recorded (pipelines are built on the first call of a shape).
 */
export async function attendInto(encoder: GPUCommandEncoder, cache: GpuKvCache, seqs: readonly number[],
  opts: AttendIntoOptions): Promise<void> {
  checkEncoder(encoder);
  checkGpuCache(cache);
  checkSeqIds(seqs);
  checkObject(opts, 'opts');
  const d = cache.layout.headDim;
  const nHeads = opts.nHeads;
  checkBatch(cache, seqs, nHeads, opts);
  const bytes = seqs.length * nHeads * d * 4;
  for (const [arg, slice, usage, usageName] of [['queries', opts.queries, BufferUsage.COPY_SRC, 'COPY_SRC'], ['output', opts.output, BufferUsage.COPY_DST, 'COPY_DST']] as const) {
    check(slice !== undefined && slice !== null && typeof slice.buffer === 'object' && slice.buffer !== null, 'BAD_PARAM', 'must be { buffer, offset? }', arg);
    const off = slice.offset ?? 0;
    check(Number.isInteger(off) && off >= 0 && off % 4 === 0, 'BAD_PARAM', `offset must be a non-negative multiple of 4, got ${off}`, arg);
    check(slice.buffer.size >= off + bytes, 'BAD_SHAPE', `buffer of ${slice.buffer.size} bytes cannot hold ${bytes} bytes (seqs.length*nHeads*headDim f32) at offset ${off}`, arg);
    check((slice.buffer.usage & usage) !== 0, 'BAD_PARAM', `buffer needs ${usageName} usage`, arg);
  }
  const scratch = scratchFor(cache);
  check(scratch.lastIntoEncoder !== encoder, 'BAD_PARAM', 'attendInto was already recorded into this encoder for this cache; submit it first (one call per cache per command buffer)', 'encoder');
  // recorded in call order with the cache's appends (appendFromGpuInto called before this on the
  // same encoder is recorded first, so its tokens are attended)
  return cache.serial(async () => {
    const prep = await prepare(cache, nHeads, opts);
    const rotQ = cache.keyRot ? await rotatePipeline(cache, nHeads, false) : undefined;
    const rotOut = cache.valueRot ? await rotatePipeline(cache, nHeads, true) : undefined;
    const release = await scratch.acquire();
    try {
      // checked again: another call may have recorded while the pipelines were built
      check(scratch.lastIntoEncoder !== encoder, 'BAD_PARAM', 'attendInto was already recorded into this encoder for this cache; submit it first (one call per cache per command buffer)', 'encoder');
      let queries: QuerySource = { kind: 'gpu', buffer: opts.queries.buffer, offset: opts.queries.offset ?? 0 };
      const vectors = seqs.length * nHeads;
      if (cache.keyRot && rotQ) {
        // rotated keys: R q into a scratch copy, by the WGSL pass in the same encoder (decisions.md#D135)
        const qr = scratch.buffer(cache.ctx.device, 'into-rot-q', bytes, BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC);
        encoder.copyBufferToBuffer(opts.queries.buffer, opts.queries.offset ?? 0, qr, 0, bytes);
        recordRotation(encoder, cache, scratch, qr, cache.keyRot.signs, rotQ, vectors, 'key');
        queries = { kind: 'gpu', buffer: qr, offset: 0 };
      }
      const { out, outBytes } = record(encoder, cache, seqs, queries, prep, scratch, 'into-');
      // rotated values: the merged output is R o; R^T in place before the copy out
      if (cache.valueRot && rotOut) recordRotation(encoder, cache, scratch, out, cache.valueRot.signs, rotOut, vectors, 'value');
      encoder.copyBufferToBuffer(out, 0, opts.output.buffer, opts.output.offset ?? 0, outBytes);
      scratch.lastIntoEncoder = encoder;
    } finally {
      release();
    }
  });
}

/** The rotation pass (attend/rotate.wgsl) for a cache's head_dim and nHeads, forward or inverse. */
function rotatePipeline(cache: GpuKvCache, nHeads: number, inverse: boolean): Promise<GPUComputePipeline> {
  const L = cache.layout;
  return getPipeline(cache.ctx, {
    label: 'kvpack-rotate', layout: 'rotate', source: rotateSource(), entryPoint: 'rotate',
    constants: { HEAD_DIM: L.headDim, N_HEADS: nHeads, GROUP: nHeads / L.nKvHeads, INVERSE: inverse ? 1 : 0 },
  });
}

/** Records the rotation of the first `vectors` head vectors of `buf` (and the scratch rest) in place. */
function recordRotation(enc: GPUCommandEncoder, cache: GpuKvCache, scratch: Scratch, buf: GPUBuffer, signs: Float32Array,
  pipe: GPUComputePipeline, vectors: number, stream: 'key' | 'value'): void {
  const dev = cache.ctx.device;
  const signBuf = scratch.buffer(dev, `into-rot-signs-${stream}`, signs.byteLength, BufferUsage.STORAGE | BufferUsage.COPY_DST);
  writeArray(dev.queue, signBuf, 0, signs);
  const bind = dev.createBindGroup({
    layout: bindGroupLayout(cache.ctx, 'rotate'),
    entries: [buf, signBuf].map((b, binding) => ({ binding, resource: { buffer: b } })),
  });
  const pass = enc.beginComputePass({ label: 'kvpack-rotate' });
  pass.setPipeline(pipe);
  pass.setBindGroup(0, bind);
  // every vector the buffer holds (the shader bounds by its length): scratch grows, never shrinks
  pass.dispatchWorkgroups(Math.ceil(Math.max(vectors, buf.size / 4 / cache.layout.headDim) / 64));
  pass.end();
}

/**
 * Grow-only scratch buffers of one cache's attention calls (job lists, partials, output,
 * readback), so a decode step allocates nothing once warm. Calls on one cache are serialized
 * because they share these buffers.
 */
class Scratch {
  /** The encoder of the last attendInto on this cache (one call per cache per encoder). */
  lastIntoEncoder: GPUCommandEncoder | undefined;
  /** The last plan per scratch prefix (attendGpu '', attendInto 'into-'). */
  readonly plans = new Map<string, Plan>();
  private readonly buffers = new Map<string, GPUBuffer>();
  private tail: Promise<void> = Promise.resolve();

  async acquire(): Promise<() => void> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => { release = r; });
    await prev;
    return release;
  }

  buffer(dev: GPUDevice, key: string, bytes: number, usage: number): GPUBuffer {
    const need = Math.max(16, Math.ceil(bytes / 16) * 16);
    const have = this.buffers.get(key);
    if (have && have.size >= need) return have;
    have?.destroy();
    // grow by 1.5x so a slowly growing context does not reallocate every step
    const size = have ? Math.max(need, Math.ceil((have.size * 1.5) / 16) * 16) : need;
    const buf = dev.createBuffer({ label: `kvpack-${key}`, size, usage });
    this.buffers.set(key, buf);
    return buf;
  }

  destroy(): void {
    this.plans.clear();
    for (const b of this.buffers.values()) b.destroy();
    this.buffers.clear();
  }
}

const scratches = new WeakMap<GpuKvCache, Scratch>();

function scratchFor(cache: GpuKvCache): Scratch {
  let s = scratches.get(cache);
  if (!s) {
    s = new Scratch();
    scratches.set(cache, s);
    const created = s;
    cache.onDestroy(() => created.destroy());
  }
  return s;
}
