import { check, checkFinite, KvpackError } from '../../errors.js';
import { TILE_TOKENS, TILES_PER_PAGE } from '../../format/constants.js';
import { cacheOrigin, viewOrigin, type PackedKvCache } from '../../cache/kv-cache.js';
import { checkQueries } from '../../reference/attention.js';
import type { AttentionBackend } from '../../backends/types.js';
import { BufferUsage, getGpuDevice, MAP_READ_MODE, writeArray, type GpuContext, type GpuDeviceOptions } from '../../backends/webgpu/device.js';
import { WGSL_SOURCES } from '../../backends/webgpu/shaders.generated.js';
import { kernelCodec, rotationOf } from '../rotation.js';
import { CqCodec } from './codec.js';

/**
 * CQ on WebGPU (wgsl/cq/): encode-on-append (cq_encode) and decode attention by lookup tables
 * (cq_attend over splits of 256 * TPT tokens + one split for the fp32 rows, then cq_merge).
 * Its own small pipeline rather than the generic tile driver's per-8-channel unpack hooks, because
 * LUT attention needs per-query tables and per-split histograms in workgroup memory.
 * Limits: codes of at most 10 bits (2^b <= LUT_CAP = 1024 in wgsl/cq/attend.wgsl).
 */

/**
 * Tokens per invocation in a split (override TPT): a split is 256 * TPT tokens. Each split rebuilds
 * its query head's tables (d * 2^b multiply-adds), so long contexts use longer splits (fewer
 * rebuilds) and short ones shorter splits (more workgroups in flight).
 */
function tokensPerInvocation(tokens: number): number {
  return tokens > 16384 ? 32 : 8;
}
export const CQ_WGSL_MAX_BITS = 10;

function source(...paths: string[]): string {
  return paths.map((p) => {
    const s = WGSL_SOURCES[p];
    if (s === undefined) throw new KvpackError('BACKEND_UNAVAILABLE', `WGSL file '${p}' is not embedded; run node scripts/gen-wgsl.mjs`, 'wgsl');
    return `// ---- wgsl/${p}\n${s}`;
  }).join('\n');
}

interface SeqMirror { tiles: number; pages: GPUBuffer | undefined; origin?: object }
interface CacheMirror { kparams: GPUBuffer; vparams: GPUBuffer; seqs: Map<number, SeqMirror> }

/**
 * AttentionBackend for caches whose keys and values are both CQ-coded. Pages are mirrored per
 * (cache, sequence) and re-uploaded only when tiles were sealed since the last call; the fp32
 * rows (sinks + tail) are uploaded every call (at most window + 31 + sinks tokens). Rotated CQ
 * streams (`@rk` / `@rv`) run on their inner codec's words with the rotation folded on the host
 * around the passes, as WebGpuBackend's attendGpu does (decisions.md#D135).
 */
export class CqWebGpuAttention implements AttentionBackend {
  readonly name = 'webgpu' as const;
  readonly description: string;
  private readonly pipelines = new Map<string, { attend: GPUComputePipeline; fp: GPUComputePipeline; merge: GPUComputePipeline }>();
  private readonly encoders = new Map<number, GPUComputePipeline>();
  private readonly mirrors = new Map<PackedKvCache, CacheMirror>();

  constructor(readonly gpu: GpuContext) {
    this.description = `WebGPU CQ LUT attention: ${gpu.description}`;
  }

  static async create(opts: GpuDeviceOptions = {}): Promise<CqWebGpuAttention> {
    return new CqWebGpuAttention(await getGpuDevice(opts));
  }

  private buffer(data: Uint32Array | Float32Array, usage = BufferUsage.STORAGE | BufferUsage.COPY_DST): GPUBuffer {
    const b = this.gpu.device.createBuffer({ size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage });
    if (data.length) writeArray(this.gpu.device.queue, b, 0, data);
    return b;
  }

  private async read(src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    const dev = this.gpu.device;
    const staging = dev.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    const enc = dev.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, staging, 0, bytes);
    dev.queue.submit([enc.finish()]);
    await this.gpu.guard(staging.mapAsync(MAP_READ_MODE));
    const out = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Pack tiles on the GPU. x: [tiles][TILE_TOKENS][headDim]; heads: KV head of each tile. */
  async encodeTiles(codec: CqCodec, x: Float32Array, heads: readonly number[]): Promise<Uint32Array> {
    const d = codec.headDim, n = heads.length;
    check(x.length === n * TILE_TOKENS * d, 'BAD_SHAPE', `length ${x.length} != tiles*TILE_TOKENS*headDim = ${n * TILE_TOKENS * d}`, 'x');
    checkFinite(x, 'x');
    for (const h of heads) check(Number.isInteger(h) && h >= 0 && h < codec.nKvHeads, 'BAD_PARAM', `head ${h} outside [0, ${codec.nKvHeads})`, 'heads');
    this.gpu.assertAlive();
    const dev = this.gpu.device;
    let pipe = this.encoders.get(d);
    if (!pipe) {
      const module = dev.createShaderModule({ code: source('constants.wgsl', 'cq/common.wgsl', 'cq/encode.wgsl') });
      pipe = await dev.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'cq_encode', constants: { HEAD_DIM: d } } });
      this.encoders.set(d, pipe);
    }
    const outBytes = n * codec.tileWords * 4;
    const out = dev.createBuffer({ size: Math.max(16, outBytes), usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC });
    const xb = this.buffer(x), pb = this.buffer(codec.paramWords), hb = this.buffer(Uint32Array.from(heads));
    const bind = dev.createBindGroup({
      layout: pipe.getBindGroupLayout(0),
      entries: [out, xb, pb, hb].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const enc = dev.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(Math.ceil(codec.tileWords / 64), n);
    pass.end();
    dev.queue.submit([enc.finish()]);
    const words = new Uint32Array(await this.read(out, outBytes));
    for (const b of [out, xb, pb, hb]) b.destroy();
    return words;
  }

  private async pipelinesFor(d: number, group: number, tpt: number): Promise<{ attend: GPUComputePipeline; fp: GPUComputePipeline; merge: GPUComputePipeline }> {
    const id = `${d}/${group}/${tpt}`;
    let p = this.pipelines.get(id);
    if (!p) {
      const dev = this.gpu.device;
      const module = dev.createShaderModule({ code: source('constants.wgsl', 'cq/common.wgsl', 'cq/attend.wgsl') });
      const constants = { HEAD_DIM: d, GROUP: group, TPT: tpt };
      const [attend, fp, merge] = await Promise.all([
        dev.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'cq_attend', constants } }),
        dev.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'cq_attend_fp', constants: { HEAD_DIM: d, GROUP: group } } }),
        dev.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'cq_merge', constants: { HEAD_DIM: d } } }),
      ]);
      p = { attend, fp, merge };
      this.pipelines.set(id, p);
    }
    return p;
  }

  async attend(cache: PackedKvCache, seqs: readonly number[], q: Float32Array, nHeads: number): Promise<Float32Array> {
    const d = cache.headDim;
    // rotated CQ streams (@rk / @rv): the inner codec's words, attention in the rotated space
    // (decisions.md#D135, D31): query R q, fp rows rotated like the tiles, output R^T o'
    const key = kernelCodec(cache.key), value = kernelCodec(cache.value);
    const keyRot = rotationOf(cache.key), valueRot = rotationOf(cache.value);
    check(key instanceof CqCodec && value instanceof CqCodec, 'BACKEND_UNAVAILABLE',
      `CQ LUT attention needs CQ keys and values, got ${cache.key.name}/${cache.value.name}`, 'cache');
    for (const c of [key, value] as CqCodec[]) {
      check(c.shape.bits <= CQ_WGSL_MAX_BITS, 'BACKEND_UNAVAILABLE', `${c.name}: WGSL LUT attention supports codes of at most ${CQ_WGSL_MAX_BITS} bits`, 'cache');
    }
    checkQueries(cache, seqs, q, nHeads);
    this.gpu.assertAlive();
    const dev = this.gpu.device;
    const group = nHeads / cache.nKvHeads;
    // keyed on the cache a snapshot was taken of (WebGpuBackend passes snapshots)
    let m = this.mirrors.get(cacheOrigin(cache));
    if (!m) {
      m = { kparams: this.buffer(cache.key.paramWords), vparams: this.buffer(cache.value.paramWords), seqs: new Map() };
      this.mirrors.set(cacheOrigin(cache), m);
    }
    const out = new Float32Array(q.length);
    const tf = cache.tokenFloats;
    for (let b = 0; b < seqs.length; b++) {
      const view = cache.view(seqs[b]!);
      let sm = m.seqs.get(seqs[b]!);
      if (!sm) { sm = { tiles: -1, pages: undefined }; m.seqs.set(seqs[b]!, sm); }
      // a sequence deleted and re-created since the last call is new data even at equal length
      if (sm.tiles !== view.tiles || sm.origin !== viewOrigin(view)) {
        sm.origin = viewOrigin(view);
        // tiles are contiguous slots across pages (pageWords = TILES_PER_PAGE * tileSlotWords)
        sm.pages?.destroy();
        const flat = new Uint32Array(Math.max(1, view.tiles * cache.tileSlotWords));
        for (let p = 0; p < view.pages.length; p++) {
          const words = Math.min(TILES_PER_PAGE, view.tiles - p * TILES_PER_PAGE) * cache.tileSlotWords;
          flat.set(view.pages[p]!.subarray(0, words), p * cache.pageWords);
        }
        sm.pages = this.buffer(flat);
        sm.tiles = view.tiles;
      }
      const rows = view.sinkCount + view.tailCount;
      const fp = new Float32Array(Math.max(1, 2 * rows * tf));
      fp.set(view.sinkK.subarray(0, view.sinkCount * tf), 0);
      fp.set(view.tailK.subarray(0, view.tailCount * tf), view.sinkCount * tf);
      fp.set(view.sinkV.subarray(0, view.sinkCount * tf), rows * tf);
      fp.set(view.tailV.subarray(0, view.tailCount * tf), (rows + view.sinkCount) * tf);
      keyRot?.rotateRows(fp, rows, 1, false, 0);
      valueRot?.rotateRows(fp, rows, 1, false, rows * tf);
      const qs = q.slice(b * nHeads * d, (b + 1) * nHeads * d);
      keyRot?.rotateRows(qs, 1, group, false);
      const tpt = tokensPerInvocation(view.tiles * TILE_TOKENS);
      const { attend, fp: fpPipe, merge } = await this.pipelinesFor(d, group, tpt);
      const nSplits = Math.ceil((view.tiles * TILE_TOKENS) / (256 * tpt));
      const info = Uint32Array.of(view.tiles, view.sinkCount, view.tailCount, cache.tileSlotWords,
        cache.key.tileWords, cache.value.tileWords, nSplits, cache.nKvHeads);
      const fpb = this.buffer(fp), qb = this.buffer(qs), ib = this.buffer(info);
      const partials = dev.createBuffer({ size: nHeads * (nSplits + 1) * (d + 2) * 4, usage: BufferUsage.STORAGE });
      const ob = dev.createBuffer({ size: nHeads * d * 4, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC });
      const bindA = dev.createBindGroup({
        layout: attend.getBindGroupLayout(0),
        entries: [[0, sm.pages!], [1, m.kparams], [2, m.vparams], [4, qb], [5, partials], [6, ib]]
          .map(([binding, buffer]) => ({ binding: binding as number, resource: { buffer: buffer as GPUBuffer } })),
      });
      const bindF = dev.createBindGroup({
        layout: fpPipe.getBindGroupLayout(0),
        entries: [[3, fpb], [4, qb], [5, partials], [6, ib]].map(([binding, buffer]) => ({ binding: binding as number, resource: { buffer: buffer as GPUBuffer } })),
      });
      const bindM = dev.createBindGroup({
        layout: merge.getBindGroupLayout(0),
        entries: [{ binding: 5, resource: { buffer: partials } }, { binding: 6, resource: { buffer: ib } }, { binding: 7, resource: { buffer: ob } }],
      });
      const enc = dev.createCommandEncoder();
      const pass = enc.beginComputePass();
      if (nSplits > 0) {
        pass.setPipeline(attend);
        pass.setBindGroup(0, bindA);
        pass.dispatchWorkgroups(nSplits, nHeads);
      }
      pass.setPipeline(fpPipe);
      pass.setBindGroup(0, bindF);
      pass.dispatchWorkgroups(nHeads);
      pass.setPipeline(merge);
      pass.setBindGroup(0, bindM);
      pass.dispatchWorkgroups(nHeads);
      pass.end();
      dev.queue.submit([enc.finish()]);
      out.set(new Float32Array(await this.read(ob, nHeads * d * 4)), b * nHeads * d);
      valueRot?.rotateRows(out, 1, group, true, b * nHeads * d);
      for (const x of [fpb, qb, ib, partials, ob]) x.destroy();
    }
    return out;
  }

  forget(cache: PackedKvCache): void {
    cache = cacheOrigin(cache);
    const m = this.mirrors.get(cache);
    if (!m) return;
    m.kparams.destroy();
    m.vparams.destroy();
    for (const s of m.seqs.values()) s.pages?.destroy();
    this.mirrors.delete(cache);
  }

  dispose(): void {
    for (const c of [...this.mirrors.keys()]) this.forget(c);
  }
}
