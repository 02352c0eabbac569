/**
 * GPU decode attention over packed caches at LLM scale (issue 6): time per decode step, bytes read,
 * GB/s and the fraction of the streaming-read ceiling measured in the same run, per codec, head
 * shape (32x128 MHA, 32q/8kv GQA), batch and context (4K .. 1M); quantize-on-append tokens/s; one
 * LLaMA-2-7B-shaped 1M-token cache of 32 layers at 2-bit keys / 1.5-bit values on the GPU.
 *
 * Caches are built on the GPU only: random rows from bench/gpu/random-rows.wgsl (keys with outlier
 * channels) sealed by each codec's quantize-on-append kernel (the same encode.wgsl the backend
 * uses), so every word is valid and nothing is zero. The attention step is the backend's own
 * (chooseAttendKernel: the folded drivers wgsl/attend/fold(-sg).wgsl for KIVI, SKVQ, q8_0/q4_0,
 * else tiles.wgsl with the codec hooks) plus the merge pass; variants force kernels and shapes. Window 0 and no sinks: contexts are whole tiles, so
 * the fp rows pass of the backend has nothing to do and is not dispatched.
 *
 * Build + run (see bench/README.md):
 *   npx esbuild bench/gpu/attention.ts --bundle --platform=node --format=esm --external:webgpu \
 *     --outfile=build/bench/gpu-attention.js && node build/bench/gpu-attention.js --json out.json
 * flags: --contexts 4096,32768,131072,1048576 --batches 1,8 --shapes 32x32x128,32x8x128
 *        --codecs fp32,fp16,q8_0,q4_0,kivi2,kivi4,skvq,skvq128 --variants auto --mem-gib 40 --layers 32
 *        --sweep (split-size sweep at a few cases) --check-tokens 4096 (reference check size)
 *        --variants base:auto,int:auto,int-xKINT_LIMBS=1u:auto (integer KIVI keys, two / one int8 limbs)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import '../../ts/codecs/index.js';
import { codecInfo, createCodec } from '../../ts/codecs/registry.js';
import type { StreamCodec } from '../../ts/codecs/types.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { kernelsFor } from '../../ts/backends/webgpu/kernels.js';
import { attendTilesSource, chooseAttendKernel, encodeSource, foldSpan, mergeSource, type AttendKernel } from '../../ts/backends/webgpu/shaders.js';
import { gaussianKv, outlierKeys, randomQuery } from '../../tests/helpers/data.js';
import { openBenchDevice } from './bench-device.js';
import { autoTilesPerSplit } from '../../ts/backends/webgpu/attend.js';
import { subgroupSize } from '../../ts/backends/webgpu/subgroups.js';
import { packedDot4 } from '../../ts/backends/webgpu/int-dot.js';
import { composeMatrix, int8MatrixColumns, matrixTilesPerSplit } from './matrix/driver.js';
import { measureStreamRead } from './stream-read.js';
import { timeSteps } from './gpu-timer.js';

const MAX_WORKGROUPS = 65535;
const GiB = 2 ** 30;

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const has = (name: string): boolean => process.argv.includes(`--${name}`);
const list = (s: string): number[] => s.split(',').filter(Boolean).map(Number);
const log = (m: string): void => { console.error(m); };

interface Shape { name: string; nHeads: number; nKv: number; d: number }
interface Pair { name: string; key: string; value: string; options?: Record<string, unknown> }

const PAIRS: Record<string, Pair> = {
  fp32: { name: 'fp32', key: 'fp32', value: 'fp32' },
  fp16: { name: 'fp16', key: 'fp16', value: 'fp16' },
  q8_0: { name: 'q8_0', key: 'q8_0', value: 'q8_0' },
  q4_0: { name: 'q4_0', key: 'q4_0', value: 'q4_0' },
  kivi2: { name: 'kivi2', key: 'kivi2', value: 'kivi2' },
  kivi4: { name: 'kivi4', key: 'kivi4', value: 'kivi4' },
  skvq: { name: 'skvq-k2v1.5', key: 'skvq-k2', value: 'skvq-v1.5' },
  // the paper's group size (C = 2 groups per token at head_dim 128, m = 2 tokens per group)
  skvq128: { name: 'skvq-k2v1.5-g128', key: 'skvq-k2', value: 'skvq-v1.5', options: { groupSize: 128 } },
};

/**
 * Split policy: tiles per work item from the tile-head count of the step's largest dispatch. 'auto' is the backend's own
 * rule (autoTilesPerSplit in ts/backends/webgpu/attend.ts); 'wgN' targets N
 * workgroups; 'tN' fixes N tiles per work item.
 */
function tilesPerSplit(policy: string, totalTiles: number, nKv: number, headBlocks: number, pipes: Pipes): number {
  const units = totalTiles * nKv * headBlocks;
  if (policy === 'auto' && pipes.kernel.startsWith('mx')) return matrixTilesPerSplit(units);
  if (policy === 'auto') return autoTilesPerSplit(totalTiles, nKv, headBlocks, { kernel: pipes.kernel, headsPerWorkgroup: pipes.heads });
  if (policy.startsWith('wg')) return Math.max(1, Math.ceil(units / Number(policy.slice(2))));
  if (policy.startsWith('t')) return Number(policy.slice(1));
  throw new Error(`unknown split policy ${policy}`);
}

function makeCodecs(pair: Pair, s: Shape, options?: Record<string, unknown>): { key: StreamCodec; value: StreamCodec } {
  const mk = (name: string, kind: 'key' | 'value'): StreamCodec => {
    const info = codecInfo(name);
    let calibration: unknown;
    if (info.needsCalibration) {
      // small host sample for the calibration parameters only (permutation, clip); the cache
      // itself is generated on the GPU
      const data = kind === 'key' ? outlierKeys(512, s.nKv, s.d, 11) : gaussianKv(512, s.nKv, s.d, 12);
      calibration = info.calibrate!({ kind, headDim: s.d, nKvHeads: s.nKv, data, ...(options ? { options } : {}) });
    }
    return createCodec(name, { kind, headDim: s.d, nKvHeads: s.nKv, calibration, ...(options && info.needsCalibration ? { options } : {}) });
  };
  return { key: mk(pair.key, 'key'), value: mk(pair.value, 'value') };
}

/** Tile slots of one layer's cache in page buffers (each <= the binding limit), filled on the GPU. */
class SlotPool {
  readonly buffers: GPUBuffer[] = [];
  readonly slotWords: number;
  readonly slotsPerBuffer: number;
  constructor(readonly device: GPUDevice, readonly slots: number, key: StreamCodec, value: StreamCodec, nKv: number, maxBinding: number) {
    this.slotWords = nKv * (key.tileWords + value.tileWords);
    this.slotsPerBuffer = Math.floor(maxBinding / 4 / this.slotWords);
    for (let left = slots; left > 0; left -= this.slotsPerBuffer) {
      const n = Math.min(left, this.slotsPerBuffer);
      this.buffers.push(device.createBuffer({ size: n * this.slotWords * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST }));
    }
  }
  where(slot: number): { buffer: number; offsetWords: number } {
    return { buffer: Math.floor(slot / this.slotsPerBuffer), offsetWords: (slot % this.slotsPerBuffer) * this.slotWords };
  }
  get bytes(): number { return this.slots * this.slotWords * 4; }
  destroy(): void { for (const b of this.buffers) b.destroy(); }
}

interface Ctx {
  device: GPUDevice;
  maxBinding: number;
  randomPipe: GPUComputePipeline;
  /** The adapter's uniform subgroup size (ts/backends/webgpu/subgroups.ts), if any. */
  subgroupSize: number | undefined;
  /** The adapter's WGSL has dot4I8Packed (ts/backends/webgpu/int-dot.ts). */
  packedDot4: boolean;
}

/**
 * Explicit pipeline layouts (as ts/backends/webgpu/pipelines.ts): 'auto' would drop bindings a
 * variant does not use (params of codecs without parameters) and reject the common bind groups.
 */
function explicitLayout(device: GPUDevice, types: GPUBufferBindingType[]): GPUPipelineLayout {
  const bgl = device.createBindGroupLayout({ entries: types.map((type, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } })) });
  return device.createPipelineLayout({ bindGroupLayouts: [bgl] });
}
const RO: GPUBufferBindingType = 'read-only-storage', RW: GPUBufferBindingType = 'storage';

function storageBuffer(device: GPUDevice, data: Uint32Array | Float32Array, extra = 0): GPUBuffer {
  const b = device.createBuffer({ size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | extra });
  device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
  return b;
}

/** Fills every slot of `pool` with GPU-random rows sealed by the codecs' encoders; returns encode tokens/s (one layer, all KV heads). */
async function fillPool(c: Ctx, pool: SlotPool, key: StreamCodec, value: StreamCodec, s: Shape, params: GPUBuffer, seed: number): Promise<{ tokensPerS: number; method: string }> {
  const dev = c.device;
  const rowFloats = s.nKv * s.d;
  const chunkTiles = Math.max(1, Math.min(256, Math.floor(64 * 2 ** 20 / (TILE_TOKENS * rowFloats * 4))));
  const vBase = chunkTiles * TILE_TOKENS * rowFloats;
  const rows = dev.createBuffer({ size: 2 * vBase * 4, usage: GPUBufferUsage.STORAGE });
  const cfg = dev.createBuffer({ size: 32, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const jobs = dev.createBuffer({ size: chunkTiles * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const kk = kernelsFor(key), vk = kernelsFor(value);
  const encPipe = (kind: 'key' | 'value'): GPUComputePipeline => {
    const k = kind === 'key' ? kk : vk;
    const constants: Record<string, number> = {
      HEAD_DIM: s.d, ROW_WORDS: rowFloats, OUT_HEAD_STRIDE: key.tileWords + value.tileWords,
      OUT_OFFSET: kind === 'key' ? 0 : key.tileWords, PARAMS: kind === 'key' ? 0 : key.paramWords.length,
    };
    if (k.bits !== undefined) constants.BITS = k.bits;
    return dev.createComputePipeline({ layout: explicitLayout(dev, [RO, RW, RO, RO]), compute: { module: dev.createShaderModule({ code: encodeSource(k) }), entryPoint: kind === 'key' ? 'encode_key' : 'encode_value', constants } });
  };
  const encK = encPipe('key'), encV = encPipe('value');
  const rand = dev.createBindGroup({ layout: c.randomPipe.getBindGroupLayout(0), entries: [
    { binding: 0, resource: { buffer: rows } }, { binding: 1, resource: { buffer: cfg } }] });
  const encBinds = pool.buffers.map((buf) => (pipe: GPUComputePipeline) => dev.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [
    { binding: 0, resource: { buffer: rows } }, { binding: 1, resource: { buffer: buf } },
    { binding: 2, resource: { buffer: params } }, { binding: 3, resource: { buffer: jobs } }] }));
  const bindCache = new Map<string, GPUBindGroup>();
  const encBind = (b: number, kind: 'k' | 'v'): GPUBindGroup => {
    const k = `${b}${kind}`;
    let g = bindCache.get(k);
    if (!g) { g = encBinds[b]!(kind === 'k' ? encK : encV); bindCache.set(k, g); }
    return g;
  };
  const groups = Math.min(MAX_WORKGROUPS, Math.ceil(2 * vBase / 256));
  let timed: { tokensPerS: number; method: string } | undefined;
  for (let first = 0, chunk = 0; first < pool.slots; chunk++) {
    const at = pool.where(first);
    const n = Math.min(chunkTiles, pool.slots - first, pool.slotsPerBuffer - (first % pool.slotsPerBuffer));
    const job = new Uint32Array(4 * n);
    for (let i = 0; i < n; i++) job.set([i * TILE_TOKENS * rowFloats, vBase + i * TILE_TOKENS * rowFloats, at.offsetWords + i * pool.slotWords, 0], 4 * i);
    dev.queue.writeBuffer(jobs, 0, job);
    // keys [0, vBase) with outlier channels, values behind them; a new seed per chunk
    dev.queue.writeBuffer(cfg, 0, new Uint32Array([seed * 7919 + chunk, 2 * vBase, s.d, 16, vBase, 0, 0, 0]));
    const enc = dev.createCommandEncoder();
    const p = enc.beginComputePass();
    p.setPipeline(c.randomPipe); p.setBindGroup(0, rand); p.dispatchWorkgroups(groups);
    p.setPipeline(encK); p.setBindGroup(0, encBind(at.buffer, 'k')); p.dispatchWorkgroups(n, s.nKv);
    p.setPipeline(encV); p.setBindGroup(0, encBind(at.buffer, 'v')); p.dispatchWorkgroups(n, s.nKv);
    p.end();
    dev.queue.submit([enc.finish()]);
    if (!timed) {
      // quantize-on-append throughput: both encoders over this chunk (rows already on the GPU)
      const t = await timeSteps(dev, (pass) => {
        pass.setPipeline(encK); pass.setBindGroup(0, encBind(at.buffer, 'k')); pass.dispatchWorkgroups(n, s.nKv);
        pass.setPipeline(encV); pass.setBindGroup(0, encBind(at.buffer, 'v')); pass.dispatchWorkgroups(n, s.nKv);
      }, 4);
      timed = { tokensPerS: (n * TILE_TOKENS) / (t.ms * 1e-3), method: t.method };
    }
    first += n;
    if (chunk % 64 === 63) await dev.queue.onSubmittedWorkDone();
  }
  await dev.queue.onSubmittedWorkDone();
  rows.destroy(); cfg.destroy(); jobs.destroy();
  return timed ?? { tokensPerS: NaN, method: 'none' };
}

interface StepPlan {
  record: (pass: GPUComputePassEncoder) => void;
  out: GPUBuffer;
  workgroups: number;
  tilesPerSplit: number;
  destroy: () => void;
}

/** The backend's decode step (tiles dispatch per page buffer + merge) for `batch` sequences of `tiles` tiles each. */
function planStep(c: Ctx, pool: SlotPool, s: Shape, batch: number, tiles: number, q: Float32Array,
  pipes: Pipes, params: GPUBuffer, policy: string): StepPlan {
  const dev = c.device;
  const group = s.nHeads / s.nKv, headBlocks = Math.ceil(group / pipes.heads);
  // the backend sizes the split for its largest dispatch: the step's tiles in one page buffer
  let S = tilesPerSplit(policy, Math.min(batch * tiles, pool.slotsPerBuffer), s.nKv, headBlocks, pipes);
  S = Math.max(S, Math.ceil(Math.min(tiles * batch, pool.slotsPerBuffer) / MAX_WORKGROUPS));
  const passes = new Map<number, { work: number[]; entries: number[] }>();
  const ranges = new Uint32Array(2 * batch);
  let slots = 0;
  for (let b = 0; b < batch; b++) {
    ranges[2 * b] = slots;
    for (let t = 0; t < tiles;) {
      const w = pool.where(b * tiles + t);
      const inBuf = pool.slotsPerBuffer - ((b * tiles + t) % pool.slotsPerBuffer);
      const n = Math.min(S, tiles - t, inBuf);
      let p = passes.get(w.buffer);
      if (!p) { p = { work: [], entries: [] }; passes.set(w.buffer, p); }
      p.work.push(b, p.entries.length / 2, n, slots++);
      for (let i = 0; i < n; i++) p.entries.push(w.offsetWords + i * pool.slotWords, TILE_TOKENS);
      t += n;
    }
    ranges[2 * b + 1] = slots - ranges[2 * b]!;
  }
  const qBits = new Uint32Array(q.buffer, q.byteOffset, q.length);
  const partials = dev.createBuffer({ size: slots * s.nHeads * (s.d + 2) * 4, usage: GPUBufferUsage.STORAGE });
  const out = dev.createBuffer({ size: batch * s.nHeads * s.d * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const temps: GPUBuffer[] = [partials, out];
  const binds: { bind: GPUBindGroup; items: number }[] = [];
  let workgroups = 0;
  for (const [buffer, p] of passes) {
    if (p.work.length / 4 > MAX_WORKGROUPS) throw new Error(`${p.work.length / 4} work items in one dispatch`);
    const entriesOff = 4 + p.work.length, qOff = entriesOff + p.entries.length;
    const job = new Uint32Array(qOff + qBits.length);
    job.set([p.work.length / 4, entriesOff, qOff, 0], 0); job.set(p.work, 4); job.set(p.entries, entriesOff); job.set(qBits, qOff);
    const jobBuf = storageBuffer(dev, job); temps.push(jobBuf);
    binds.push({ items: p.work.length / 4, bind: dev.createBindGroup({ layout: pipes.tiles.getBindGroupLayout(0), entries:
      [pool.buffers[buffer]!, jobBuf, params, partials].map((buf, binding) => ({ binding, resource: { buffer: buf } })) }) });
    workgroups += (p.work.length / 4) * s.nKv * headBlocks;
  }
  const rangesBuf = storageBuffer(dev, ranges); temps.push(rangesBuf);
  const mergeBind = dev.createBindGroup({ layout: pipes.merge.getBindGroupLayout(0), entries:
    [partials, rangesBuf, out].map((buf, binding) => ({ binding, resource: { buffer: buf } })) });
  return {
    out, workgroups, tilesPerSplit: S,
    record: (pass) => {
      pass.setPipeline(pipes.tiles);
      for (const b of binds) { pass.setBindGroup(0, b.bind); pass.dispatchWorkgroups(b.items, s.nKv, headBlocks); }
      pass.setPipeline(pipes.merge); pass.setBindGroup(0, mergeBind); pass.dispatchWorkgroups(batch, s.nHeads);
    },
    destroy: () => { for (const b of temps) b.destroy(); },
  };
}

async function readBuffer(dev: GPUDevice, src: GPUBuffer, offset: number, bytes: number): Promise<Uint32Array> {
  const rb = dev.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = dev.createCommandEncoder(); enc.copyBufferToBuffer(src, offset, rb, 0, bytes); dev.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const out = new Uint32Array(rb.getMappedRange().slice(0)); rb.unmap(); rb.destroy();
  return out;
}

/**
 * Checks the step's output for sequence 0 against a float64 softmax over the tiles decoded by
 * the codecs' TS reference (read back from the GPU): max |error| / max |output|.
 */
async function checkStep(c: Ctx, pool: SlotPool, plan: StepPlan, key: StreamCodec, value: StreamCodec, s: Shape, tiles: number, q: Float32Array): Promise<number> {
  const dev = c.device;
  const enc = dev.createCommandEncoder(); const p = enc.beginComputePass(); plan.record(p); p.end(); dev.queue.submit([enc.finish()]);
  const got = new Float32Array((await readBuffer(dev, plan.out, 0, s.nHeads * s.d * 4)).buffer);
  const n = tiles * TILE_TOKENS, group = s.nHeads / s.nKv;
  const K = new Float32Array(n * s.d * s.nKv), V = new Float32Array(n * s.d * s.nKv);
  const tileK = new Float32Array(TILE_TOKENS * s.d), tileV = new Float32Array(TILE_TOKENS * s.d);
  for (let t = 0; t < tiles; t++) {
    const w = pool.where(t);
    const words = await readBuffer(dev, pool.buffers[w.buffer]!, w.offsetWords * 4, pool.slotWords * 4);
    for (let h = 0; h < s.nKv; h++) {
      const o = h * (key.tileWords + value.tileWords);
      key.decodeTile(words.subarray(o, o + key.tileWords), h, tileK);
      value.decodeTile(words.subarray(o + key.tileWords, o + key.tileWords + value.tileWords), h, tileV);
      K.set(tileK, (h * n + t * TILE_TOKENS) * s.d); V.set(tileV, (h * n + t * TILE_TOKENS) * s.d);
    }
  }
  let maxErr = 0, maxOut = 0;
  const sc = new Float64Array(n);
  for (let h = 0; h < s.nHeads; h++) {
    const kv = Math.floor(h / group);
    let m = -Infinity;
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let ch = 0; ch < s.d; ch++) dot += q[h * s.d + ch]! * K[(kv * n + i) * s.d + ch]!;
      sc[i] = dot / Math.sqrt(s.d); m = Math.max(m, sc[i]!);
    }
    let l = 0;
    for (let i = 0; i < n; i++) { sc[i] = Math.exp(sc[i]! - m); l += sc[i]!; }
    for (let ch = 0; ch < s.d; ch++) {
      let a = 0;
      for (let i = 0; i < n; i++) a += sc[i]! * V[(kv * n + i) * s.d + ch]!;
      const ref = a / l;
      maxErr = Math.max(maxErr, Math.abs(ref - got[h * s.d + ch]!)); maxOut = Math.max(maxOut, Math.abs(ref));
    }
  }
  return maxErr / maxOut;
}

/** The step's pipelines and the kernel the backend's rule picked for the variant. */
interface Pipes { tiles: GPUComputePipeline; merge: GPUComputePipeline; kernel: string; heads: number }

/**
 * Variants: 'base' = the backend's automatic kernel choice; 'mx' (KIVI on subgroup matrices,
 * bench/gpu/matrix/; Dawn needs KVPACK_DAWN_ENABLE=allow_unsafe_apis; elsewhere the automatic
 * choice), 'mx-emulated' (else words/generic), 'fold-sg', 'fold', 'words', 'generic'
 * = that kernel forced where it applies (chooseAttendKernel falls back as the backend does), fold
 * kernels with shape suffixes (-wN rows, -gN heads, -pN prefetch) and @NAME (the kernel file
 * replaced by bench/gpu/experiments/NAME.wgsl); any other name = bench/gpu/experiments/<name>.wgsl
 * in place of tiles.wgsl (older driver versions kept as experiment records). 'int' (and int-xNAME=VALUE):
 * the automatic choice with integerAttention (KIVI keys by dot4I8Packed, kivi/fold-int.wgsl),
 * skipped where the integer kernel does not apply.
 */
function tilesPipelines(c: Ctx, key: StreamCodec, value: StreamCodec, s: Shape, variant: string): Pipes {
  const dev = c.device;
  const kk = kernelsFor(key), vk = kernelsFor(value);
  const constants: Record<string, number> = {
    HEAD_DIM: s.d, N_HEADS: s.nHeads, GROUP: s.nHeads / s.nKv, LANES: Math.min(4, s.d / 8),
    HEAD_STRIDE: key.tileWords + value.tileWords, V_OFFSET: key.tileWords, K_PARAMS: 0, V_PARAMS: key.paramWords.length,
  };
  if (kk.bits !== undefined) constants.K_BITS = kk.bits;
  if (vk.bits !== undefined) constants.V_BITS = vk.bits;
  const forced: Record<string, AttendKernel | 'auto'> = { base: 'auto', mx: 'auto', 'mx-emulated': 'words', 'fold-sg': 'fold-sg', fold: 'fold', words: 'words', generic: 'generic' };
  // mx / mx-emulated (with -xNAME=VALUE knobs): the bench's matrix kernel where it applies
  // fold shape overrides: fold-w8 (8 rows per workgroup), fold-g2 (at most 2 heads per workgroup),
  // fold-sg-p1 / -p0 (prefetch on / off), combinations such as fold-sg-w4-g2-p1
  // fold...@NAME: bench/gpu/experiments/NAME.wgsl in place of the driver wgsl/attend/fold(-sg).wgsl
  const [foldVariant, foldFile] = variant.split('@') as [string, string | undefined];
  const fm = /^fold(-sg)?((?:-[wgp]\d+)*)((?:-x\w+=[\w.]+)*)$/.exec(foldVariant);
  // mx-xNAME=VALUE: the matrix kernel with knobs
  const mxm = /^mx(-emulated)?(?:-x\w+=[\w.]+)*$/.exec(variant);
  if (mxm) forced[variant] = mxm[1] ? 'words' : 'auto';
  // int, int-xKINT_LIMBS=1u: the integer-key kernel (opt-in integerAttention)
  const integer = /^int(?:-x\w+=[\w.]+)*$/.test(variant);
  if (integer) forced[variant] = 'auto';
  const foldOpts: { foldRows?: number; foldMaxHeads?: number; foldPrefetch?: boolean } = {};
  if (fm) {
    forced[variant] = fm[1] ? 'fold-sg' : 'fold';
    for (const part of fm[2]!.split('-').filter(Boolean)) {
      const v = Number(part.slice(1));
      if (part[0] === 'w') foldOpts.foldRows = v; else if (part[0] === 'p') foldOpts.foldPrefetch = v === 1; else foldOpts.foldMaxHeads = v;
    }
  }
  const vec4Aligned = [key.tileWords, value.tileWords].every((w) => w % 4 === 0);
  const span = foldSpan(kk, vk, key, value, s.d);
  const chooseOpts = { headDim: s.d, group: s.nHeads / s.nKv, maxWorkgroupBytes: dev.limits.maxComputeWorkgroupStorageSize,
    maxInvocations: dev.limits.maxComputeInvocationsPerWorkgroup,
    vec4Aligned, kernel: forced[variant] ?? 'words', ...foldOpts, ...(c.subgroupSize !== undefined ? { subgroupSize: c.subgroupSize } : {}),
    ...(integer ? { integerAttention: true, packedDot4: c.packedDot4 } : {}),
    ...(span !== undefined ? { foldSpan: span } : {}) };
  const choice = (mxm ? composeMatrix(kk, vk, chooseOpts, mxm[1] !== undefined, int8MatrixColumns(dev)) : undefined) ?? chooseAttendKernel(kk, vk, chooseOpts);
  if (integer && !choice.kernel.endsWith('-int')) throw new Error(`variant ${variant}: the integer kernel does not apply (got ${choice.kernel}; dot4I8Packed: ${c.packedDot4})`);
  let src = choice.source;
  let kernel: string = choice.kernel;
  if (foldFile !== undefined && (choice.kernel === 'fold' || choice.kernel === 'fold-sg')) {
    const file = readFileSync(`bench/gpu/experiments/${foldFile}.wgsl`, 'utf8');
    src = src.replace(/\/\/ ---- wgsl\/attend\/fold(-sg)?\.wgsl\n[\s\S]*$/, `// ---- bench/gpu/experiments/${foldFile}.wgsl\n${file}\n`);
    kernel = choice.kernel; // the split rule follows the kernel kind; the file is in `variant`
  }
  // -xNAME=VALUE (any number): the source's `const NAME: T = ...;` set to VALUE (A/B knobs such as
  // skvq/fold.wgsl's SKVQ_META_PRELOAD)
  for (const [, name, val] of variant.matchAll(/-x(\w+)=([\w.]+)/g)) {
    const re = new RegExp(`const ${name}: (\\w+) = [^;]+;`);
    if (!re.test(src)) throw new Error(`variant ${variant}: no const ${name} in the kernel source`);
    src = src.replace(re, (_m, ty: string) => `const ${name}: ${ty} = ${val};`);
  }
  if (forced[variant] === undefined) {
    // a driver under test from bench/gpu/<variant>.wgsl in place of wgsl/attend/tiles.wgsl
    src = attendTilesSource(kk, vk);
    const file = readFileSync(`bench/gpu/experiments/${variant}.wgsl`, 'utf8');
    src = src.replace(/\/\/ ---- wgsl\/attend\/tiles\.wgsl\n[\s\S]*?(?=\/\/ ---- wgsl\/)/, `// ---- bench/gpu/experiments/${variant}.wgsl\n${file}\n`);
    // the experiment copies declare their own constants and bindings (tiles.wgsl did before attend/bindings.wgsl)
    src = src.replace(/\/\/ ---- wgsl\/attend\/bindings\.wgsl[^\n]*\n[\s\S]*?(?=\/\/ ---- wgsl\/)/, '');
    kernel = variant;
  }
  const tiles = dev.createComputePipeline({ layout: explicitLayout(dev, [RO, RO, RO, RW]), compute: { module: dev.createShaderModule({ code: src }), entryPoint: 'attend_tiles', constants } });
  const merge = dev.createComputePipeline({ layout: explicitLayout(dev, [RO, RO, RW]), compute: { module: dev.createShaderModule({ code: mergeSource() }), entryPoint: 'merge', constants: { HEAD_DIM: s.d, N_HEADS: s.nHeads } } });
  return { tiles, merge, kernel, heads: forced[variant] === undefined ? 8 : choice.headsPerWorkgroup };
}

function shapeOf(spec: string): Shape {
  const [h, kv, d] = spec.split('x').map(Number) as [number, number, number];
  return { name: spec, nHeads: h, nKv: kv, d };
}

const contexts = list(flag('contexts', '4096,32768,131072,1048576'));
const batches = list(flag('batches', '1,8'));
const shapes = flag('shapes', '32x32x128,32x8x128').split(',').map(shapeOf);
const codecs = flag('codecs', 'fp32,fp16,q8_0,q4_0,kivi2,kivi4,skvq,skvq128').split(',');
const variants = flag('variants', 'base:auto').split(',');
const memBytes = Number(flag('mem-gib', '40')) * GiB;
const layers = Number(flag('layers', '32'));
const layerContext = Number(flag('layer-context', '1048576'));
const checkTokens = Number(flag('check-tokens', '4096'));
const sweep = flag('sweep', '');
const repeat = Number(flag('repeat', '1'));
const jsonPath = flag('json', '');

const { device, description } = await openBenchDevice();
device.addEventListener?.('uncapturederror', (e) => log(`uncaptured: ${(e as GPUUncapturedErrorEvent).error.message}`));
const maxBinding = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
log(`device: ${description}`);
const randomModule = device.createShaderModule({ code: readFileSync('bench/gpu/random-rows.wgsl', 'utf8') });
const c: Ctx = { device, maxBinding, randomPipe: device.createComputePipeline({ layout: 'auto', compute: { module: randomModule, entryPoint: 'fill' } }),
  subgroupSize: await subgroupSize(device), packedDot4: await packedDot4(device) };
log(`subgroup size: ${c.subgroupSize ?? 'none (no subgroups feature or mixed sizes)'}; i8 subgroup matrices (N): ${int8MatrixColumns(device).join(',') || 'none'}; dot4I8Packed: ${c.packedDot4}`);
const streamSrc = readFileSync('bench/gpu/stream-read.wgsl', 'utf8');
const streamMib = Math.min(2048, Math.floor(maxBinding / 2 ** 20 / 2) * 2);
// the H100 behind the device tool has been seen at ~1770 GB/s streaming right after start and
// ~3060 GB/s later in the same call: --warmup N extra stream reads first (default 2)
const warmReads: { bytes: number; ms: number; gbps: number; method: string }[] = [];
for (let i = 0; i < Number(flag('warmup', '2')); i++) {
  const w = await measureStreamRead(device, streamSrc, streamMib);
  warmReads.push(w);
  log(`warm-up stream-read: ${w.gbps.toFixed(0)} GB/s`);
}
// the ceiling: the best of a 2 GiB and a 256 MiB buffer (both far beyond the 50 MB L2); the
// 2 GiB read alone has measured ~1770 GB/s on some calls and ~3060 on others
const streamBig = await measureStreamRead(device, streamSrc, streamMib);
const streamSmall = await measureStreamRead(device, streamSrc, Math.min(256, streamMib));
log(`stream-read ${Math.min(256, streamMib)} MiB: ${streamSmall.gbps.toFixed(0)} GB/s`);
const stream0 = streamSmall.gbps > streamBig.gbps ? streamSmall : streamBig;
log(`stream-read ceiling: ${stream0.gbps.toFixed(0)} GB/s (${stream0.bytes >> 20} MiB, ${stream0.method}); 2 GiB: ${streamBig.gbps.toFixed(0)} GB/s`);

const result: Record<string, unknown> = { date: new Date().toISOString(), adapter: description, packedDot4: c.packedDot4, maxBindingBytes: maxBinding, streamRead: [...warmReads, streamBig, streamSmall] };
const cases: Record<string, unknown>[] = [];
const encodes: Record<string, unknown>[] = [];
const sweeps: Record<string, unknown>[] = [];

async function runCase(pool: SlotPool, key: StreamCodec, value: StreamCodec, s: Shape, params: GPUBuffer, batch: number, ctxTokens: number,
  variant: string, policy: string, pipes: Pipes): Promise<Record<string, unknown>> {
  const tiles = ctxTokens / TILE_TOKENS;
  const q = randomQuery(batch * s.nHeads, s.d, 5 + batch);
  const plan = planStep(c, pool, s, batch, tiles, q, pipes, params, policy);
  const bytes = batch * tiles * pool.slotWords * 4;
  let relErr: number | undefined;
  if (ctxTokens <= checkTokens) relErr = await checkStep(c, pool, plan, key, value, s, tiles, q);
  const predictedMs = bytes / (stream0.gbps * 1e9) * 1e3 + 0.01;
  const reps = Math.max(1, Math.min(200, Math.round(2 / predictedMs)));
  const t = await timeSteps(device, plan.record, reps);
  plan.destroy();
  return { bytes, ms: t.ms, gbps: bytes / (t.ms * 1e-3) / 1e9, streamFraction: bytes / (t.ms * 1e-3) / 1e9 / stream0.gbps,
    method: t.method, reps, workgroups: plan.workgroups, tilesPerSplit: plan.tilesPerSplit, variant, kernel: pipes.kernel, headsPerWorkgroup: pipes.heads, split: policy, relErr };
}

for (const name of codecs) {
  const pair = PAIRS[name];
  if (!pair) throw new Error(`unknown codec ${name}`);
  for (const s of shapes) {
    const { key, value } = makeCodecs(pair, s, pair.options);
    const slotBytes = s.nKv * (key.tileWords + value.tileWords) * 4;
    const want = Math.max(...contexts.flatMap((cx) => batches.map((b) => (cx / TILE_TOKENS) * b)).filter((n) => n * slotBytes <= memBytes));
    const pool = new SlotPool(device, want, key, value, s.nKv, maxBinding);
    const pw = new Uint32Array(Math.max(4, key.paramWords.length + value.paramWords.length));
    pw.set(key.paramWords, 0); pw.set(value.paramWords, key.paramWords.length);
    const params = storageBuffer(device, pw);
    const t0 = performance.now();
    const enc = await fillPool(c, pool, key, value, s, params, codecs.indexOf(name) * 10 + shapes.indexOf(s));
    log(`${pair.name} ${s.name}: pool ${(pool.bytes / GiB).toFixed(2)} GiB (${want} tiles) filled in ${((performance.now() - t0) / 1e3).toFixed(1)} s; encode ${(enc.tokensPerS / 1e6).toFixed(2)} M tokens/s`);
    encodes.push({ codec: pair.name, shape: s.name, tokensPerS: enc.tokensPerS, method: enc.method,
      bitsPerElement: (key.tileWords + value.tileWords) * 32 / (2 * TILE_TOKENS * s.d) });
    const pipeCache = new Map<string, Pipes>();
    const pipesFor = (v: string) => { let p = pipeCache.get(v); if (!p) { p = tilesPipelines(c, key, value, s, v); pipeCache.set(v, p); } return p; };
    for (const batch of batches) {
      for (const cx of contexts) {
        const tiles = cx / TILE_TOKENS;
        for (const vp of variants) {
          const [variant, policy] = vp.split(':') as [string, string];
          const row: Record<string, unknown> = { codec: pair.name, shape: s.name, heads: s.nHeads, kvHeads: s.nKv, headDim: s.d, batch, context: cx };
          if (tiles * batch > pool.slots) {
            row.skipped = `needs ${((tiles * batch * slotBytes) / GiB).toFixed(1)} GiB > --mem-gib`;
          } else {
            let pipes: Pipes | undefined;
            // a variant that does not apply to this codec (e.g. a knob its kernel lacks) is recorded as skipped
            try { pipes = pipesFor(variant); } catch (e) { row.skipped = (e as Error).message; }
            if (pipes) Object.assign(row, await runCase(pool, key, value, s, params, batch, cx, variant, policy ?? 'auto', pipes));
          }
          cases.push(row);
          log(JSON.stringify(row));
        }
      }
    }
    // split-size sweep: one thing varied (tiles per work item) at the cases named by --sweep
    // --repeat R cycles through the variants R times (A/B/A/B...), so a drift of the GPU's
    // clocks hits every variant; each row records its round
    for (const spec of sweep ? sweep.split(';') : []) {
      const [sc, sShape, sBatch, sCtx, sVariants] = spec.split('/') as [string, string, string, string, string];
      if (sc !== name || sShape !== s.name) continue;
      for (let round = 0; round < repeat; round++) {
        for (const vp of sVariants.split(',')) {
          const [variant, policy] = vp.split(':') as [string, string];
          const r = await runCase(pool, key, value, s, params, Number(sBatch), Number(sCtx), variant, policy, pipesFor(variant));
          const row = { codec: pair.name, shape: s.name, batch: Number(sBatch), context: Number(sCtx), round, ...r };
          sweeps.push(row); log(`sweep ${JSON.stringify(row)}`);
        }
      }
    }
    pool.destroy(); params.destroy();
  }
  // partial results on disk after every codec: a call cut off by its time limit keeps them
  if (jsonPath) writeFileSync(jsonPath, JSON.stringify({ ...result, partial: true, encode: encodes, cases, sweeps }, null, 1));
}

// One LLaMA-2-7B-shaped cache (32 layers, 32 query heads over 32 KV heads x 128) at 2-bit keys /
// 1.5-bit values: every layer's pages allocated, layer 0 encoded on the GPU, the others GPU copies
// of it; one layer's attention timed (the last layer's buffers).
if (layers > 0) {
  // the codec pools above are destroyed; Dawn frees their memory once the queue has moved on
  await device.queue.onSubmittedWorkDone();
  const s = shapeOf(flag('layer-shape', '32x32x128'));
  const pair = PAIRS[flag('layer-codec', 'skvq')]!;
  // SKVQ groups of ~128 elements (the paper's g128): 2.25 bits/element for keys, 1.85 for values,
  // so 32 layers x 1M tokens x 32 heads x 128 take ~66 GiB
  const groupSize = Number(flag('layer-group-size', '128'));
  const { key, value } = makeCodecs(pair, s, pair.key.startsWith('skvq') ? { groupSize } : undefined);
  const tiles = layerContext / TILE_TOKENS;
  const pools: SlotPool[] = [];
  const pw = new Uint32Array(Math.max(4, key.paramWords.length + value.paramWords.length));
  pw.set(key.paramWords, 0); pw.set(value.paramWords, key.paramWords.length);
  const params = storageBuffer(device, pw);
  const row: Record<string, unknown> = { codec: pair.name, shape: s.name, layers, context: layerContext,
    groupSize: pair.key.startsWith('skvq') ? groupSize : undefined, bitsPerElement: (key.tileWords + value.tileWords) * 32 / (2 * TILE_TOKENS * s.d) };
  try {
    device.pushErrorScope('out-of-memory');
    for (let l = 0; l < layers; l++) pools.push(new SlotPool(device, tiles, key, value, s.nKv, maxBinding));
    const oom = await device.popErrorScope();
    if (oom) throw new Error(`out of memory: ${oom.message}`);
    const t0 = performance.now();
    const enc = await fillPool(c, pools[0]!, key, value, s, params, 99);
    const e = device.createCommandEncoder();
    for (let l = 1; l < layers; l++) pools[0]!.buffers.forEach((b, i) => e.copyBufferToBuffer(b, 0, pools[l]!.buffers[i]!, 0, b.size));
    device.queue.submit([e.finish()]);
    await device.queue.onSubmittedWorkDone();
    row.buildSeconds = (performance.now() - t0) / 1e3;
    row.encodeTokensPerS = enc.tokensPerS;
    row.totalBytes = pools.reduce((a, p) => a + p.bytes, 0);
    row.buffersPerLayer = pools[0]!.buffers.length;
    for (const vp of variants) {
      const [variant, policy] = vp.split(':') as [string, string];
      const r = await runCase(pools[layers - 1]!, key, value, s, params, 1, layerContext, variant, policy ?? 'auto', tilesPipelines(c, key, value, s, variant));
      row[`${variant}:${policy ?? 'auto'}`] = r;
    }
  } catch (err) {
    row.error = (err as Error).message;
  }
  for (const p of pools) p.destroy();
  params.destroy();
  result.layers1M = row;
  log(`layers: ${JSON.stringify(row)}`);
}

try {
  const stream1 = await measureStreamRead(device, streamSrc, streamMib);
  (result.streamRead as unknown[]).push(stream1);
  log(`stream-read again: ${stream1.gbps.toFixed(0)} GB/s`);
} catch (err) {
  log(`stream-read again: ${(err as Error).message} (not counted)`);
}
// The ceiling is the best streaming read of the run: on the H100 behind the device tool the
// same kernel has read ~1550-1780 GB/s early in a call and ~3060 GB/s later (or the reverse),
// while the attention timings stayed put; fractions against the best are the conservative ones.
const ceiling = Math.max(...(result.streamRead as { gbps: number }[]).map((r) => r.gbps));
result.streamCeilingGbps = ceiling;
for (const row of [...cases, ...sweeps]) {
  if (typeof row.gbps === 'number') row.streamFraction = row.gbps / ceiling;
}
Object.assign(result, { encode: encodes, cases, sweeps });
if (jsonPath) writeFileSync(jsonPath, JSON.stringify(result, null, 1));
process.exit(0);
