import { check, KvpackError } from '../../errors.js';
import { checkWasmInstance } from '../../util/args.js';
import { TILE_TOKENS } from '../../format/constants.js';
import { loadKvpackWasm, type KvpackWasm } from '../../backends/wasm-loader.js';
import type { PackedPartials, QaqPackedView } from './attend.js';
import { outlierSplit } from './outliers.js';

/** Field count of qaq_packed_partials' argument block (assembly/codecs/qaq/kernels.ts A_*). */
export const QAQ_ARG_COUNT = 15;

interface PageMirror {
  ptr: number;
  /** Words copied so far (records are only ever appended). */
  copied: number;
}

interface SequenceMirror {
  pages: PageMirror[];
  pageTable: number;
  pageTableCap: number;
  offsets: number;
  offsetsCap: number;
  offsetsCopied: number;
}

/**
 * QAQ's packed attention on WebAssembly SIMD (assembly/codecs/qaq/kernels.ts): a drop-in for
 * QaqCacheOptions.packedAttention. Pages are mirrored into WASM memory incrementally (only words
 * appended since the last call, keyed by the sequence's page list), the offset table likewise;
 * one kernel call computes every head's partial softmax over all records. The fp32 tail and the
 * attention bookkeeping stay in QaqKvCache.
 */
export class QaqWasmAttention {
  private readonly mirrors = new WeakMap<readonly Uint32Array[], SequenceMirror>();
  private readonly live = new Set<SequenceMirror>();

  constructor(readonly wasm: KvpackWasm) {
    checkWasmInstance(wasm);
    const n = wasm.fn('qaq_arg_count')();
    if (n !== QAQ_ARG_COUNT) {
      throw new KvpackError('BACKEND_UNAVAILABLE', `kvpack.wasm qaq_packed_partials takes ${n} arguments, host ${QAQ_ARG_COUNT}: stale build?`, 'wasm');
    }
  }

  static async create(source?: BufferSource | WebAssembly.Module): Promise<QaqWasmAttention> {
    return new QaqWasmAttention(await loadKvpackWasm(source));
  }

  /** The function to pass as QaqCacheOptions.packedAttention. */
  get packedAttention(): (view: QaqPackedView, q: Float32Array, nHeads: number) => PackedPartials {
    return Object.assign((view: QaqPackedView, q: Float32Array, nHeads: number) => this.partials(view, q, nHeads),
      { release: (pages: readonly Uint32Array[]) => this.releasePages(pages) });
  }

  /** Sequences mirrored in WASM memory now. */
  get liveMirrors(): number {
    return this.live.size;
  }

  /** Frees one sequence's mirror (QaqKvCache calls it on delete and dispose). */
  releasePages(pages: readonly Uint32Array[]): void {
    const m = this.mirrors.get(pages);
    if (!m) return;
    this.mirrors.delete(pages);
    this.live.delete(m);
    this.release(m);
  }

  partials(v: QaqPackedView, q: Float32Array, nHeads: number): PackedPartials {
    const d = v.headDim, group = nHeads / v.nKvHeads;
    check(Number.isInteger(group) && group > 0, 'BAD_SHAPE', `nHeads=${nHeads} not a multiple of nKvHeads=${v.nKvHeads}`, 'nHeads');
    check(q.length === nHeads * d, 'BAD_SHAPE', `length ${q.length} != nHeads*headDim`, 'q');
    const a = this.wasm.arena;
    const mir = this.mirror(v);
    const blocks = [
      a.alloc(QAQ_ARG_COUNT * 4), a.alloc(q.length * 4), a.alloc(nHeads * 4), a.alloc(nHeads * 4),
      a.alloc(nHeads * d * 4), a.alloc(this.wasm.fn('qaq_work_bytes')(group, d)),
    ];
    const [args, qp, mp, lp, accp, work] = blocks as [number, number, number, number, number, number];
    try {
      a.f32(qp, q.length).set(q);
      a.u32(args, QAQ_ARG_COUNT).set([
        mir.pageTable, v.pageWords, mir.offsets, v.tiles, v.groups, v.rowWidth, v.outliersPerRow,
        v.nKvHeads, d, nHeads, qp, mp, lp, accp, work,
      ]);
      this.wasm.fn('qaq_packed_partials')(args);
      return {
        m: Float64Array.from(a.f32(mp, nHeads)),
        l: Float64Array.from(a.f32(lp, nHeads)),
        acc: Float64Array.from(a.f32(accp, nHeads * d)),
      };
    } finally {
      for (const b of blocks) a.release(b);
    }
  }

  /** Frees every mirrored sequence (the arena is not garbage collected). */
  dispose(): void {
    for (const m of this.live) this.release(m);
    this.live.clear();
  }

  private release(m: SequenceMirror): void {
    const a = this.wasm.arena;
    for (const p of m.pages) a.release(p.ptr);
    if (m.pageTableCap) a.release(m.pageTable);
    if (m.offsetsCap) a.release(m.offsets);
  }

  private mirror(v: QaqPackedView): SequenceMirror {
    const a = this.wasm.arena;
    let m = this.mirrors.get(v.pages);
    if (!m) {
      m = { pages: [], pageTable: 0, pageTableCap: 0, offsets: 0, offsetsCap: 0, offsetsCopied: 0 };
      this.mirrors.set(v.pages, m);
      this.live.add(m);
    }
    // pages: whole new pages, then the words appended to the last one
    for (let i = 0; i < v.pages.length; i++) {
      let p = m.pages[i];
      if (!p) { p = { ptr: a.alloc(v.pageWords * 4), copied: 0 }; m.pages.push(p); }
      const used = i === v.pages.length - 1 ? v.pageUsed : v.pageWords;
      if (p.copied < used) {
        a.u32(p.ptr, v.pageWords).set(v.pages[i]!.subarray(p.copied, used), p.copied);
        p.copied = used;
      }
    }
    if (m.pageTableCap < m.pages.length) {
      if (m.pageTableCap) a.release(m.pageTable);
      m.pageTableCap = Math.max(16, m.pages.length * 2);
      m.pageTable = a.alloc(m.pageTableCap * 4);
    }
    a.u32(m.pageTable, m.pages.length).set(m.pages.map((p) => p.ptr));
    const n = v.offsets.length;
    if (m.offsetsCap < n) {
      const cap = Math.max(64, n * 2), ptr = a.alloc(cap * 4);
      if (m.offsetsCap) { a.u32(ptr, m.offsetsCopied).set(a.u32(m.offsets, m.offsetsCopied)); a.release(m.offsets); }
      m.offsets = ptr;
      m.offsetsCap = cap;
    }
    if (m.offsetsCopied < n) {
      a.u32(m.offsets, m.offsetsCap).set(v.offsets.subarray(m.offsetsCopied, n), m.offsetsCopied);
      m.offsetsCopied = n;
    }
    return m;
  }
}

/**
 * Encodes one record with the WASM kernel (conformance: must equal encodeRecord's words).
 * rows: TILE_TOKENS x rowWidth f32; bits: TILE_TOKENS widths 1..8.
 */
export function encodeRecordWasm(wasm: KvpackWasm, rows: Float32Array, rowWidth: number, bits: ArrayLike<number>,
  outlierRatio: number): Uint32Array {
  check(rows.length === TILE_TOKENS * rowWidth, 'BAD_SHAPE', `length ${rows.length} != ${TILE_TOKENS}*${rowWidth}`, 'rows');
  const [low, high] = outlierSplit(rowWidth, outlierRatio);
  const a = wasm.arena;
  const maxWords = 36 + TILE_TOKENS * (low + high) + rowWidth * 8;
  const rp = a.alloc(rows.length * 4), bp = a.alloc(TILE_TOKENS), op = a.alloc(maxWords * 4);
  try {
    a.f32(rp, rows.length).set(rows);
    new Uint8Array(wasm.memory.buffer, bp, TILE_TOKENS).set(Array.from({ length: TILE_TOKENS }, (_, t) => bits[t]!));
    a.u32(op, maxWords).fill(0xdeadbeef); // the kernel must write every word it reports
    const n = wasm.fn('encode_qaq_record')(rp, rowWidth, bp, low, high, op);
    return a.u32(op, n).slice();
  } finally {
    a.release(rp); a.release(bp); a.release(op);
  }
}
