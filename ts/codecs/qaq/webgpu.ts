import { check, KvpackError } from '../../errors.js';
import { TILE_TOKENS } from '../../format/constants.js';
import { BufferUsage, getGpuDevice, MAP_READ_MODE, writeArray, type GpuContext } from '../../backends/webgpu/device.js';
import { wgslFile } from '../../backends/webgpu/shaders.js';
import type { PackedPartials, QaqPackedView } from './attend.js';
import { outlierSplit } from './outliers.js';

/** Query heads per workgroup (wgsl/qaq/attend.wgsl QAQ_MAX_G); larger GQA groups use more blocks. */
const MAX_G = 8;
/** Tiles per workgroup: flash-decoding splits so long sequences spread over many workgroups. */
const TILES_PER_SPLIT = 8;

function source(paths: string[]): string {
  return paths.map((p) => `// ---- wgsl/${p}\n${wgslFile(p)}`).join('\n');
}

interface GpuMirror {
  pages: GPUBuffer | undefined;
  pagesCap: number;
  /** Words mirrored: the arena is append-only, so pages [0, n-1) full + pageUsed of the last. */
  copied: number;
  offsets: GPUBuffer | undefined;
  offsetsCap: number;
  offsetsCopied: number;
}

/**
 * QAQ on WebGPU: fused attention over the packed records (wgsl/qaq/attend.wgsl) for
 * QaqKvCache's async attend, and the record encoder (wgsl/qaq/encode.wgsl). The arena pages of
 * a sequence are mirrored into one storage buffer (word address = record address), appended
 * incrementally; one buffer limits a sequence to maxStorageBufferBindingSize bytes of records.
 */
export class QaqGpu {
  private readonly mirrors = new WeakMap<readonly Uint32Array[], GpuMirror>();
  private readonly live = new Set<GpuMirror>();
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  /** Calls between their start and their last GPU use; buffers dropped meanwhile wait in `retired`. */
  private inFlight = 0;
  private retired: GPUBuffer[] = [];

  constructor(readonly ctx: GpuContext) {
    const c = ctx as unknown as { device?: unknown } | null;
    check(c !== null && typeof c === 'object' && c.device !== null && typeof c.device === 'object', 'BAD_PARAM', 'must be a GpuContext (getGpuDevice())', 'ctx');
  }

  static async create(): Promise<QaqGpu> {
    return new QaqGpu(await getGpuDevice());
  }

  /** For QaqCacheOptions.packedAttention (QaqKvCache.attend awaits it). */
  get packedAttention(): (view: QaqPackedView, q: Float32Array, nHeads: number) => Promise<PackedPartials> {
    return Object.assign((view: QaqPackedView, q: Float32Array, nHeads: number) => this.partials(view, q, nHeads),
      { release: (pages: readonly Uint32Array[]) => this.release(pages) });
  }

  /** Sequences mirrored on the GPU now (their buffers live until release or dispose). */
  get liveMirrors(): number {
    return this.live.size;
  }

  /** Frees one sequence's mirror (QaqKvCache calls it on delete and dispose). */
  release(pages: readonly Uint32Array[]): void {
    const m = this.mirrors.get(pages);
    if (!m) return;
    this.mirrors.delete(pages);
    this.live.delete(m);
    this.drop(m);
  }

  /** Destroys a buffer now, or once the calls in flight (which may have bound it) are done. */
  private destroy(b: GPUBuffer | undefined): void {
    if (!b) return;
    if (this.inFlight > 0) this.retired.push(b);
    else b.destroy();
  }

  private drop(m: GpuMirror): void {
    this.destroy(m.pages);
    this.destroy(m.offsets);
    m.pages = undefined; m.offsets = undefined; m.pagesCap = 0; m.copied = 0; m.offsetsCap = 0; m.offsetsCopied = 0;
  }

  private pipeline(key: string, code: string, entry: string, constants: Record<string, number>): Promise<GPUComputePipeline> {
    let p = this.pipelines.get(key);
    if (!p) {
      const device = this.ctx.device;
      const module = device.createShaderModule({ code, label: key });
      p = device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: entry, constants }, label: key })
        .catch(async (e: unknown) => {
          this.pipelines.delete(key);
          const info = await module.getCompilationInfo();
          throw new KvpackError('BACKEND_UNAVAILABLE', `${key}: ${(e as Error).message} ${info.messages.map((m) => m.message).join('; ')}`, 'wgsl');
        });
      this.pipelines.set(key, p);
    }
    return p;
  }

  private buffer(words: number, usage: number): GPUBuffer {
    return this.ctx.device.createBuffer({ size: Math.max(16, words * 4), usage });
  }

  private async readback(src: GPUBuffer, words: number): Promise<Uint32Array> {
    const device = this.ctx.device;
    const rb = this.buffer(words, BufferUsage.MAP_READ | BufferUsage.COPY_DST);
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, rb, 0, words * 4);
    device.queue.submit([enc.finish()]);
    await this.ctx.guard(rb.mapAsync(MAP_READ_MODE));
    const out = new Uint32Array(rb.getMappedRange().slice(0, words * 4));
    rb.unmap();
    rb.destroy();
    return out;
  }

  private mirror(v: QaqPackedView): GpuMirror {
    const device = this.ctx.device;
    let m = this.mirrors.get(v.pages);
    if (!m) {
      m = { pages: undefined, pagesCap: 0, copied: 0, offsets: undefined, offsetsCap: 0, offsetsCopied: 0 };
      this.mirrors.set(v.pages, m);
      this.live.add(m);
    }
    const used = v.pages.length ? (v.pages.length - 1) * v.pageWords + v.pageUsed : 0;
    const usage = BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC;
    if (m.pagesCap < used) {
      const cap = Math.max(used, m.pagesCap * 2, 1 << 16);
      check(cap * 4 <= this.ctx.limits.maxStorageBufferBindingSize || used * 4 <= this.ctx.limits.maxStorageBufferBindingSize,
        'BACKEND_UNAVAILABLE', `QAQ records of one sequence (${used * 4} bytes) exceed maxStorageBufferBindingSize`, 'webgpu');
      const capped = Math.min(cap, Math.floor(this.ctx.limits.maxStorageBufferBindingSize / 4));
      const grown = this.buffer(capped, usage);
      if (m.pages) {
        const enc = device.createCommandEncoder();
        enc.copyBufferToBuffer(m.pages, 0, grown, 0, m.copied * 4);
        device.queue.submit([enc.finish()]);
        this.destroy(m.pages);
      }
      m.pages = grown;
      m.pagesCap = capped;
    }
    while (m.copied < used) {
      const page = Math.floor(m.copied / v.pageWords), off = m.copied % v.pageWords;
      const end = page === v.pages.length - 1 ? v.pageUsed : v.pageWords;
      writeArray(device.queue, m.pages!, m.copied * 4, v.pages[page]!, off, end - off);
      m.copied += end - off;
    }
    const n = v.offsets.length;
    if (m.offsetsCap < n) {
      const cap = Math.max(n * 2, 256), grown = this.buffer(cap, usage);
      if (m.offsets) {
        const enc = device.createCommandEncoder();
        enc.copyBufferToBuffer(m.offsets, 0, grown, 0, m.offsetsCopied * 4);
        device.queue.submit([enc.finish()]);
        this.destroy(m.offsets);
      }
      m.offsets = grown;
      m.offsetsCap = cap;
    }
    if (m.offsetsCopied < n) {
      writeArray(device.queue, m.offsets!, m.offsetsCopied * 4, v.offsets, m.offsetsCopied, n - m.offsetsCopied);
      m.offsetsCopied = n;
    }
    return m;
  }

  /** Destroys every mirrored sequence's GPU buffers (mirrors are rebuilt on the next call). */
  dispose(): void {
    for (const m of this.live) this.drop(m);
    this.live.clear();
  }

  /** Partial softmax of every query head over the packed records (oracle: packedPartialsReference). */
  async partials(v: QaqPackedView, q: Float32Array, nHeads: number): Promise<PackedPartials> {
    // everything the call reads is taken before its first await: the mirror is synced now (the
    // arena only grows), the query copied (the caller may reuse its buffer), and buffers a later
    // call replaces stay alive until this one is done
    this.inFlight++;
    try {
      return await this.partialsInFlight(v, q.slice(), nHeads);
    } finally {
      if (--this.inFlight === 0) {
        for (const b of this.retired) b.destroy();
        this.retired = [];
      }
    }
  }

  private async partialsInFlight(v: QaqPackedView, q: Float32Array, nHeads: number): Promise<PackedPartials> {
    this.ctx.assertAlive();
    const d = v.headDim, group = nHeads / v.nKvHeads;
    check(Number.isInteger(group) && group > 0, 'BAD_SHAPE', `nHeads=${nHeads} not a multiple of nKvHeads=${v.nKvHeads}`, 'nHeads');
    check(q.length === nHeads * d, 'BAD_SHAPE', `length ${q.length} != nHeads*headDim`, 'q');
    const m = new Float64Array(nHeads).fill(-Infinity), l = new Float64Array(nHeads), acc = new Float64Array(nHeads * d);
    if (v.tiles === 0) return { m, l, acc };
    const device = this.ctx.device;
    const mir = this.mirror(v);
    const pagesBuf = mir.pages!, offsetsBuf = mir.offsets!;
    const splits = Math.ceil(v.tiles / TILES_PER_SPLIT);
    const constants = { HEAD_DIM: d, N_HEADS: nHeads, GROUP: group, GROUPS: v.groups, ROW_WIDTH: v.rowWidth, OUTLIERS: v.outliersPerRow };
    const pipe = await this.pipeline(`qaq-attend ${JSON.stringify(constants)}`,
      source(['constants.wgsl', 'common/f16.wgsl', 'qaq/record.wgsl', 'qaq/attend.wgsl']), 'attend_qaq', constants);
    const job = new Uint32Array(4 + q.length);
    job[0] = v.tiles;
    job[1] = TILES_PER_SPLIT;
    job.set(new Uint32Array(q.buffer, q.byteOffset, q.length), 4);
    const jobBuf = this.buffer(job.length, BufferUsage.STORAGE | BufferUsage.COPY_DST);
    writeArray(device.queue, jobBuf, 0, job);
    const partWords = splits * nHeads * (d + 2);
    const partBuf = this.buffer(partWords, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
    const bind = device.createBindGroup({
      layout: pipe.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: pagesBuf } }, { binding: 1, resource: { buffer: offsetsBuf } },
        { binding: 2, resource: { buffer: jobBuf } }, { binding: 3, resource: { buffer: partBuf } },
      ],
    });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(v.nKvHeads, splits, Math.ceil(group / MAX_G));
    pass.end();
    device.queue.submit([enc.finish()]);
    const words = await this.readback(partBuf, partWords);
    jobBuf.destroy();
    partBuf.destroy();
    const f = new Float32Array(words.buffer);
    // merge the splits (flash-decoding), as ts/reference/attention.ts mergePartials
    for (let s = 0; s < splits; s++) {
      for (let h = 0; h < nHeads; h++) {
        const o = (s * nHeads + h) * (d + 2);
        const ms = f[o]!, ls = f[o + 1]!;
        if (!(ls > 0)) continue;
        const M = Math.max(m[h]!, ms);
        const ca = m[h] === -Infinity ? 0 : Math.exp(m[h]! - M), cb = Math.exp(ms - M);
        l[h] = l[h]! * ca + ls * cb;
        for (let c = 0; c < d; c++) acc[h * d + c] = acc[h * d + c]! * ca + f[o + 2 + c]! * cb;
        m[h] = M;
      }
    }
    return { m, l, acc };
  }

  /** Encodes records on the GPU (conformance: identical to encodeRecord). rows: TILE_TOKENS x rowWidth per record. */
  async encodeRecords(records: { rows: Float32Array; bits: ArrayLike<number> }[], rowWidth: number, outlierRatio: number): Promise<Uint32Array[]> {
    this.ctx.assertAlive();
    const device = this.ctx.device;
    const [low, high] = outlierSplit(rowWidth, outlierRatio);
    const constants = { ROW_WIDTH: rowWidth, LOW: low, HIGH: high };
    const pipe = await this.pipeline(`qaq-encode ${JSON.stringify(constants)}`,
      source(['constants.wgsl', 'common/f16.wgsl', 'common/f32div.wgsl', 'qaq/encode.wgsl']), 'encode_qaq', constants);
    const rows = new Float32Array(records.length * TILE_TOKENS * rowWidth);
    const jobs = new Uint32Array(records.length * 8);
    const sizes: number[] = [];
    let outWords = 0;
    records.forEach((r, i) => {
      check(r.rows.length === TILE_TOKENS * rowWidth, 'BAD_SHAPE', `record ${i}: length ${r.rows.length} != ${TILE_TOKENS}*${rowWidth}`, 'rows');
      rows.set(r.rows, i * TILE_TOKENS * rowWidth);
      let sum = 0;
      const widths = [0, 0, 0, 0];
      for (let t = 0; t < TILE_TOKENS; t++) {
        const b = r.bits[t]!;
        check(Number.isInteger(b) && b >= 1 && b <= 8, 'BAD_PARAM', `record ${i} token ${t}: width ${b} not in [1, 8]`, 'bits');
        sum += b;
        widths[t >> 3] = (widths[t >> 3]! | (b << ((t & 7) * 4))) >>> 0;
      }
      const words = 36 + TILE_TOKENS * (low + high) + Math.ceil((rowWidth * sum) / 32);
      jobs.set([i * TILE_TOKENS * rowWidth, rowWidth, outWords, 0, ...widths], i * 8);
      sizes.push(words);
      outWords += words;
    });
    const rowsBuf = this.buffer(rows.length, BufferUsage.STORAGE | BufferUsage.COPY_DST);
    const outBuf = this.buffer(outWords, BufferUsage.STORAGE | BufferUsage.COPY_SRC); // created zeroed
    const jobBuf = this.buffer(jobs.length, BufferUsage.STORAGE | BufferUsage.COPY_DST);
    writeArray(device.queue, rowsBuf, 0, rows);
    writeArray(device.queue, jobBuf, 0, jobs);
    const bind = device.createBindGroup({
      layout: pipe.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: rowsBuf } }, { binding: 1, resource: { buffer: outBuf } }, { binding: 2, resource: { buffer: jobBuf } }],
    });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(records.length);
    pass.end();
    device.queue.submit([enc.finish()]);
    const words = await this.readback(outBuf, outWords);
    rowsBuf.destroy(); outBuf.destroy(); jobBuf.destroy();
    const out: Uint32Array[] = [];
    let off = 0;
    for (const s of sizes) { out.push(words.slice(off, off + s)); off += s; }
    return out;
  }
}
