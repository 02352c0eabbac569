import { check } from '../../errors.js';
import { TILE_TOKENS, TILES_PER_PAGE } from '../../format/constants.js';
import type { PackedKvCache } from '../../cache/kv-cache.js';
import { checkQuery } from '../../reference/attention.js';
import { CqCodec } from './codec.js';

/**
 * Decode attention over a CQ-coded cache without dequantizing (paper Sec. 3.4, kvpack
 * docs/codecs/cq.md "Attention by lookup tables"), plain TS: the algorithm the WASM and WGSL
 * kernels implement, and the TS baseline of the speed bench.
 * - keys: per query head, table T[g][k] = (q_g . C_g[k]) / sqrt(d) for every group g and
 *   centroid k; a token's score is sum_g T[g][code(t, g)]: G lookups instead of d multiplies;
 * - values: after an exact softmax over all tokens (two passes: scores, then weights), each
 *   token's weight is added to a histogram H[g][code(t, g)]; the output is sum_k H[g][k] C_g[k]
 *   computed once, plus the fp32 regions (sinks, tail) added directly.
 * Returns [nHeads][headDim], like attendReference.
 */
export function attendCqLut(cache: PackedKvCache, seq: number, q: Float32Array, nHeads: number): Float32Array {
  checkQuery(cache, seq, q, nHeads);
  const kc = cache.key, vc = cache.value;
  check(kc instanceof CqCodec && vc instanceof CqCodec, 'BAD_PARAM', 'LUT attention needs CQ codecs for keys and values', 'cache');
  const d = cache.headDim, tf = cache.tokenFloats, group = nHeads / cache.nKvHeads;
  const scale = 1 / Math.sqrt(d);
  const s = cache.view(seq);
  const nTile = s.tiles * TILE_TOKENS;
  const n = s.sinkCount + nTile + s.tailCount;
  const kShape = kc.shape, vShape = vc.shape;
  const kCodes = new Uint16Array(s.tiles * TILE_TOKENS * kShape.groups);
  const vCodes = new Uint16Array(s.tiles * TILE_TOKENS * vShape.groups);
  const table = new Float64Array(kShape.groups * kShape.centroids);
  const hist = new Float64Array(vShape.groups * vShape.centroids);
  const scores = new Float64Array(n);
  const out = new Float32Array(nHeads * d);
  for (let g = 0; g < cache.nKvHeads; g++) {
    // codes of every tile of this head, read once and shared by the GQA group's query heads
    for (let tile = 0; tile < s.tiles; tile++) {
      const page = s.pages[Math.floor(tile / TILES_PER_PAGE)]!;
      const tip = tile % TILES_PER_PAGE;
      const ko = cache.tileOffset(tip, g, 'key'), vo = cache.tileOffset(tip, g, 'value');
      kc.readCodes(page.subarray(ko, ko + kc.tileWords), kCodes.subarray(tile * TILE_TOKENS * kShape.groups, (tile + 1) * TILE_TOKENS * kShape.groups));
      vc.readCodes(page.subarray(vo, vo + vc.tileWords), vCodes.subarray(tile * TILE_TOKENS * vShape.groups, (tile + 1) * TILE_TOKENS * vShape.groups));
    }
    for (let j = 0; j < group; j++) {
      const h = g * group + j;
      const qo = h * d;
      const { groups: KG, channelsPerGroup: kc_, centroids: KK } = kShape;
      for (let grp = 0; grp < KG; grp++) {
        const base = kc.groupOffset(g, grp);
        for (let k = 0; k < KK; k++) {
          let dot = 0;
          for (let i = 0; i < kc_; i++) dot += q[qo + grp * kc_ + i]! * kc.codebook[base + k * kc_ + i]!;
          table[grp * KK + k] = dot * scale;
        }
      }
      const dense = (K: Float32Array, t: number): number => {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += q[qo + i]! * K[t * tf + g * d + i]!;
        return dot * scale;
      };
      let idx = 0;
      for (let t = 0; t < s.sinkCount; t++) scores[idx++] = dense(s.sinkK, t);
      for (let t = 0; t < nTile; t++) {
        let sc = 0;
        for (let grp = 0; grp < KG; grp++) sc += table[grp * KK + kCodes[t * KG + grp]!]!;
        scores[idx++] = sc;
      }
      for (let t = 0; t < s.tailCount; t++) scores[idx++] = dense(s.tailK, t);
      let m = -Infinity;
      for (let i = 0; i < n; i++) if (scores[i]! > m) m = scores[i]!;
      let l = 0;
      for (let i = 0; i < n; i++) { const p = Math.exp(scores[i]! - m); scores[i] = p; l += p; }
      const acc = new Float64Array(d);
      const addDense = (V: Float32Array, t: number, p: number): void => {
        for (let i = 0; i < d; i++) acc[i] = acc[i]! + p * V[t * tf + g * d + i]!;
      };
      idx = 0;
      for (let t = 0; t < s.sinkCount; t++) addDense(s.sinkV, t, scores[idx++]!);
      const { groups: VG, channelsPerGroup: vc_, centroids: VK } = vShape;
      hist.fill(0);
      for (let t = 0; t < nTile; t++) {
        const p = scores[idx++]!;
        for (let grp = 0; grp < VG; grp++) { const b = grp * VK + vCodes[t * VG + grp]!; hist[b] = hist[b]! + p; }
      }
      for (let t = 0; t < s.tailCount; t++) addDense(s.tailV, t, scores[idx++]!);
      for (let grp = 0; grp < VG; grp++) {
        const base = vc.groupOffset(g, grp);
        for (let k = 0; k < VK; k++) {
          const w = hist[grp * VK + k]!;
          if (w === 0) continue;
          for (let i = 0; i < vc_; i++) acc[grp * vc_ + i] = acc[grp * vc_ + i]! + w * vc.codebook[base + k * vc_ + i]!;
        }
      }
      for (let i = 0; i < d; i++) out[qo + i] = acc[i]! / l;
    }
  }
  return out;
}
