import { check, checkFinite, KvpackError } from '../errors.js';
import { TILE_TOKENS, TILES_PER_PAGE } from '../format/constants.js';
import type { PackedKvCache } from '../cache/kv-cache.js';
import { ATTEND_MAX_ABS, checkRange } from '../codecs/range.js';

/**
 * Partial softmax state of one query head over a subset of tokens (flash-decoding):
 * m = max score, l = sum exp(s - m), acc = sum exp(s - m) v. Partials over disjoint token sets
 * merge exactly with mergePartials; the output is acc / l.
 */
export interface Partial {
  m: number;
  l: number;
  acc: Float32Array;
}

export function emptyPartial(headDim: number): Partial {
  return { m: -Infinity, l: 0, acc: new Float32Array(headDim) };
}

/** Fold one token (score s, value row v) into a partial. */
export function addToken(p: Partial, s: number, v: ArrayLike<number>, vOff: number): void {
  const d = p.acc.length;
  if (s > p.m) {
    const c = p.m === -Infinity ? 0 : Math.exp(p.m - s);
    p.l *= c;
    for (let i = 0; i < d; i++) p.acc[i]! *= c;
    p.m = s;
  }
  const w = Math.exp(s - p.m);
  p.l += w;
  for (let i = 0; i < d; i++) p.acc[i]! += w * v[vOff + i]!;
}

export function mergePartials(a: Partial, b: Partial): Partial {
  if (b.m === -Infinity) return a;
  if (a.m === -Infinity) return b;
  const m = Math.max(a.m, b.m);
  const ca = Math.exp(a.m - m), cb = Math.exp(b.m - m);
  const acc = new Float32Array(a.acc.length);
  for (let i = 0; i < acc.length; i++) acc[i] = a.acc[i]! * ca + b.acc[i]! * cb;
  return { m, l: a.l * ca + b.l * cb, acc };
}

export function finishPartial(p: Partial, out: Float32Array, off: number): void {
  for (let i = 0; i < p.acc.length; i++) out[off + i] = p.acc[i]! / p.l;
}

/**
 * Validates a batch of decode queries before any work (the AttentionBackend contract): q is
 * [seqs.length][nHeads][headDim] and every sequence's query passes checkQuery.
 */
export function checkQueries(cache: PackedKvCache, seqs: readonly number[], q: Float32Array, nHeads: number): void {
  const per = nHeads * cache.headDim;
  check(q.length === seqs.length * per, 'BAD_SHAPE', `length ${q.length} != seqs.length*nHeads*headDim=${seqs.length * per}`, 'q');
  seqs.forEach((seq, i) => checkQuery(cache, seq, q.subarray(i * per, (i + 1) * per), nHeads));
}

/** Validates a decode query: q is [nHeads][headDim], nHeads a multiple of the cache's nKvHeads. */
export function checkQuery(cache: PackedKvCache, seq: number, q: Float32Array, nHeads: number): void {
  check(Number.isInteger(nHeads) && nHeads > 0 && nHeads % cache.nKvHeads === 0, 'BAD_SHAPE',
    `nHeads=${nHeads} must be a positive multiple of nKvHeads=${cache.nKvHeads}`, 'nHeads');
  check(q.length === nHeads * cache.headDim, 'BAD_SHAPE', `length ${q.length} != nHeads*headDim=${nHeads * cache.headDim}`, 'q');
  checkFinite(q, 'q');
  checkRange(q, ATTEND_MAX_ABS, 'q', 'the f32 attention kernels');
  if (!cache.hasSequence(seq) || cache.length(seq) === 0) {
    throw new KvpackError('UNKNOWN_SEQUENCE', `no tokens cached for sequence ${seq}`, 'seq');
  }
}

/**
 * Reference decode attention for one sequence: for each query head h (KV head h / group),
 * softmax(q.k / sqrt(d)) over sinks, packed tiles (decoded with the codec's reference) and the
 * fp32 tail. Returns [nHeads][headDim]. Slow on purpose: it is the oracle.
 */
export function attendReference(cache: PackedKvCache, seq: number, q: Float32Array, nHeads: number): Float32Array {
  checkQuery(cache, seq, q, nHeads);
  const d = cache.headDim, tf = cache.tokenFloats, group = nHeads / cache.nKvHeads;
  const scale = 1 / Math.sqrt(d);
  const s = cache.view(seq);
  const out = new Float32Array(nHeads * d);
  const kTile = new Float32Array(TILE_TOKENS * d), vTile = new Float32Array(TILE_TOKENS * d);
  for (let g = 0; g < cache.nKvHeads; g++) {
    const parts = Array.from({ length: group }, () => emptyPartial(d));
    const dot = (h: number, k: ArrayLike<number>, off: number): number => {
      let acc = 0;
      for (let i = 0; i < d; i++) acc += q[h * d + i]! * k[off + i]!;
      return acc * scale;
    };
    const fpRegion = (K: Float32Array, V: Float32Array, count: number): void => {
      for (let t = 0; t < count; t++) {
        for (let j = 0; j < group; j++) {
          const h = g * group + j;
          addToken(parts[j]!, dot(h, K, t * tf + g * d), V, t * tf + g * d);
        }
      }
    };
    fpRegion(s.sinkK, s.sinkV, s.sinkCount);
    for (let tile = 0; tile < s.tiles; tile++) {
      const page = s.pages[Math.floor(tile / TILES_PER_PAGE)]!;
      const tip = tile % TILES_PER_PAGE;
      const ko = cache.tileOffset(tip, g, 'key'), vo = cache.tileOffset(tip, g, 'value');
      cache.key.decodeTile(page.subarray(ko, ko + cache.key.tileWords), g, kTile);
      cache.value.decodeTile(page.subarray(vo, vo + cache.value.tileWords), g, vTile);
      for (let t = 0; t < TILE_TOKENS; t++) {
        for (let j = 0; j < group; j++) addToken(parts[j]!, dot(g * group + j, kTile, t * d), vTile, t * d);
      }
    }
    fpRegion(s.tailK, s.tailV, s.tailCount);
    for (let j = 0; j < group; j++) finishPartial(parts[j]!, out, (g * group + j) * d);
  }
  return out;
}

/** Dense fp32 attention over plain arrays, for tests: K, V [n][nKvHeads][headDim]. */
export function attendDense(K: Float32Array, V: Float32Array, nKvHeads: number, headDim: number,
  q: Float32Array, nHeads: number): Float32Array {
  const d = headDim, tf = nKvHeads * d, n = K.length / tf, group = nHeads / nKvHeads;
  const out = new Float32Array(nHeads * d);
  for (let h = 0; h < nHeads; h++) {
    const g = Math.floor(h / group);
    const p = emptyPartial(d);
    for (let t = 0; t < n; t++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += q[h * d + i]! * K[t * tf + g * d + i]!;
      addToken(p, s / Math.sqrt(d), V, t * tf + g * d);
    }
    finishPartial(p, out, h * d);
  }
  return out;
}
