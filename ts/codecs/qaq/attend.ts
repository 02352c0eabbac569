import { TILE_TOKENS } from '../../format/constants.js';
import { decodeRecord } from './record.js';

/** Everything an attention kernel needs to read one sequence's packed QAQ records. */
export interface QaqPackedView {
  readonly headDim: number;
  readonly nKvHeads: number;
  /** Elements per record row: headDim ('head') or nKvHeads * headDim ('layer'). */
  readonly rowWidth: number;
  /** Record groups per tile: nKvHeads ('head') or 1 ('layer'). */
  readonly groups: number;
  readonly outliersPerRow: number;
  readonly pageWords: number;
  readonly tiles: number;
  readonly pages: readonly Uint32Array[];
  /** Words used in the last page (records are only appended, so mirrors copy incrementally). */
  readonly pageUsed: number;
  /** Word address (page * pageWords + offset) of record ((tile * groups + group) * 2 + stream), stream 0 = K, 1 = V. */
  readonly offsets: Uint32Array;
}

/**
 * Partial softmax (flash-decoding state) of every query head over the packed tiles of one
 * sequence: m[h] = max score (-Infinity if no tiles), l[h] = sum exp(s - m), acc[h*d + c] =
 * sum exp(s - m) v_c. The fp32 tail is folded in by the cache, which also needs m and l to
 * turn tail scores into weights. This is the oracle for the WASM and WGSL kernels.
 */
export interface PackedPartials {
  m: Float64Array;
  l: Float64Array;
  acc: Float64Array;
}

export function packedPartialsReference(v: QaqPackedView, q: Float32Array, nHeads: number): PackedPartials {
  const d = v.headDim, group = nHeads / v.nKvHeads, scale = 1 / Math.sqrt(d);
  const m = new Float64Array(nHeads).fill(-Infinity), l = new Float64Array(nHeads), acc = new Float64Array(nHeads * d);
  const kRows = new Float32Array(TILE_TOKENS * d), vRows = new Float32Array(TILE_TOKENS * d);
  for (let tile = 0; tile < v.tiles; tile++) {
    for (let g = 0; g < v.nKvHeads; g++) {
      const gr = v.groups === 1 ? 0 : g, col0 = v.groups === 1 ? g * d : 0;
      const rec = (tile * v.groups + gr) * 2;
      for (const [stream, rows] of [[0, kRows], [1, vRows]] as const) {
        const addr = v.offsets[rec + stream]!;
        const page = v.pages[Math.floor(addr / v.pageWords)]!;
        decodeRecord(page, addr % v.pageWords, v.rowWidth, v.outliersPerRow, col0, d, rows);
      }
      for (let j = 0; j < group; j++) {
        const h = g * group + j;
        for (let t = 0; t < TILE_TOKENS; t++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += q[h * d + c]! * kRows[t * d + c]!;
          s *= scale;
          if (s > m[h]!) {
            const corr = m[h] === -Infinity ? 0 : Math.exp(m[h]! - s);
            l[h] = l[h]! * corr;
            for (let c = 0; c < d; c++) acc[h * d + c] = acc[h * d + c]! * corr;
            m[h] = s;
          }
          const w = Math.exp(s - m[h]!);
          l[h] = l[h]! + w;
          for (let c = 0; c < d; c++) acc[h * d + c] = acc[h * d + c]! + w * vRows[t * d + c]!;
        }
      }
    }
  }
  return { m, l, acc };
}
