import { describe, expect, it } from 'vitest';
import {
  attendDense, attendReference, createCodec, KvpackError, PackedKvCache, TILE_TOKENS, TILES_PER_PAGE,
} from '../../ts/index.js';
import type { CacheOptions } from '../../ts/index.js';
import { gaussianKv, outlierKeys, randomQuery } from '../helpers/data.js';
import { relativeError } from '../helpers/metrics.js';

function cache(o: Partial<CacheOptions> = {}): PackedKvCache {
  return new PackedKvCache({ nKvHeads: 2, headDim: 8, key: 'fp32', value: 'fp32', ...o });
}

/** Tokens [from, to) of [n][nKvHeads][headDim] data. */
function rows(x: Float32Array, tf: number, from: number, to: number): Float32Array {
  return x.subarray(from * tf, to * tf);
}

/** Expected (sinks, tiles, tail) after n tokens: the tail is sealed whenever it reaches window + 32. */
function expectedCounts(n: number, window: number, sinks: number): { sink: number; tiles: number; tail: number } {
  const sink = Math.min(n, sinks), rest = n - sink;
  const tiles = Math.max(0, Math.floor((rest - window) / TILE_TOKENS));
  return { sink, tiles, tail: rest - tiles * TILE_TOKENS };
}

function fail(f: () => void): KvpackError {
  try { f(); } catch (e) { if (e instanceof KvpackError) return e; throw e; }
  throw new Error('did not throw');
}

/** Everything observable about a cache, deep-copied, to prove a rejected call changed nothing. */
function snapshot(c: PackedKvCache): unknown {
  return c.sequenceIds().map((id) => {
    const v = c.view(id);
    return {
      id, tiles: v.tiles, sinkCount: v.sinkCount, tailCount: v.tailCount,
      pages: v.pages.map((p) => [...p]), sinkK: [...v.sinkK], sinkV: [...v.sinkV], tailK: [...v.tailK], tailV: [...v.tailV],
    };
  });
}

describe('PackedKvCache sealing', () => {
  it('keeps sinks, >= window tail tokens, and seals 32-token tiles (one at a time and in chunks)', () => {
    for (const window of [0, 5, 32, 40]) {
      for (const sinks of [0, 3]) {
        const one = cache({ window, sinks }), chunked = cache({ window, sinks });
        const K = gaussianKv(200, 2, 8, 1), V = gaussianKv(200, 2, 8, 2);
        for (let n = 1; n <= 200; n++) {
          one.append(0, rows(K, 16, n - 1, n), rows(V, 16, n - 1, n));
          const v = one.view(0), e = expectedCounts(n, window, sinks);
          expect([v.sinkCount, v.tiles, v.tailCount]).toEqual([e.sink, e.tiles, e.tail]);
          expect(one.length(0)).toBe(n);
          if (n >= sinks + window) expect(v.tailCount).toBeGreaterThanOrEqual(window);
          expect(v.tailCount).toBeLessThan(window + TILE_TOKENS);
        }
        // uneven chunks: 1, 7, 33, 64, 95 tokens
        let at = 0;
        for (const size of [1, 7, 33, 64, 95]) { chunked.append(0, rows(K, 16, at, at + size), rows(V, 16, at, at + size)); at += size; }
        expect(snapshot(chunked)).toEqual(snapshot(one));
      }
    }
  });

  it('fills pages of TILES_PER_PAGE tiles, never reallocates them, and stores each token where FORMAT.md says', () => {
    const nKvHeads = 2, d = 8, tf = nKvHeads * d, sinks = 2, window = 3;
    const c = cache({ nKvHeads, headDim: d, sinks, window });
    const n = sinks + (TILES_PER_PAGE + 1) * TILE_TOKENS + window + 5;
    const K = gaussianKv(n, nKvHeads, d, 3), V = gaussianKv(n, nKvHeads, d, 4);
    c.append(1, rows(K, tf, 0, 100), rows(V, tf, 0, 100));
    const firstPage = c.view(1).pages[0];
    c.append(1, rows(K, tf, 100, n), rows(V, tf, 100, n));
    const v = c.view(1);
    expect(v.tiles).toBe(TILES_PER_PAGE + 1);
    expect(v.pages.length).toBe(2);
    expect(v.pages[0]).toBe(firstPage);
    expect(v.pages[0]!.length).toBe(c.pageWords);
    expect(c.pageWords).toBe(TILES_PER_PAGE * nKvHeads * 2 * TILE_TOKENS * d);
    // fp32 words are the f32 bits: read tile i, head h, stream s straight from the page by the FORMAT offset
    for (const tile of [0, 1, TILES_PER_PAGE - 1, TILES_PER_PAGE]) {
      const page = v.pages[Math.floor(tile / TILES_PER_PAGE)]!, tip = tile % TILES_PER_PAGE;
      for (let h = 0; h < nKvHeads; h++) {
        for (const [stream, src] of [['key', K], ['value', V]] as const) {
          const off = tip * c.tileSlotWords + h * (c.key.tileWords + c.value.tileWords) + (stream === 'value' ? c.key.tileWords : 0);
          expect(c.tileOffset(tip, h, stream)).toBe(off);
          const got = new Float32Array(page.buffer, page.byteOffset + off * 4, TILE_TOKENS * d);
          for (let t = 0; t < TILE_TOKENS; t++) {
            const tok = sinks + tile * TILE_TOKENS + t;
            expect([...got.subarray(t * d, (t + 1) * d)]).toEqual([...src.subarray(tok * tf + h * d, tok * tf + h * d + d)]);
          }
        }
      }
    }
    // the tail holds the newest tokens, oldest first; sinks the first ones
    expect([...v.tailK.subarray(0, v.tailCount * tf)]).toEqual([...rows(K, tf, n - v.tailCount, n)]);
    expect([...v.sinkV]).toEqual([...rows(V, tf, 0, sinks)]);
  });
});

describe('PackedKvCache attention and stats', () => {
  it('fp32 codec: attendReference equals dense attention within 1e-5 relative (GQA, sinks, window, several shapes)', () => {
    const shapes = [
      { nKvHeads: 1, headDim: 8, group: 1 }, { nKvHeads: 4, headDim: 8, group: 2 },
      { nKvHeads: 2, headDim: 64, group: 4 }, { nKvHeads: 1, headDim: 128, group: 8 },
    ];
    for (const { nKvHeads, headDim, group } of shapes) {
      for (const [sinks, window, n] of [[0, 0, 70], [4, 16, 131], [1, 0, 3]] as const) {
        const c = cache({ nKvHeads, headDim, sinks, window });
        const tf = nKvHeads * headDim;
        const K = outlierKeys(n, nKvHeads, headDim, n + headDim), V = gaussianKv(n, nKvHeads, headDim, n);
        c.append(5, K, V);
        const nHeads = nKvHeads * group;
        const q = randomQuery(nHeads, headDim, 9, 0.3);
        const got = attendReference(c, 5, q, nHeads);
        const want = attendDense(K, V, nKvHeads, headDim, q, nHeads);
        expect(relativeError(got, want)).toBeLessThan(1e-5);
        expect(c.length(5)).toBe(K.length / tf);
      }
    }
  });

  it('quantized codecs: attention error orders with bits, and each sequence only sees its own tokens', () => {
    const nKvHeads = 2, d = 64, n = 160;
    const K = outlierKeys(n, nKvHeads, d, 31), V = gaussianKv(n, nKvHeads, d, 32);
    const K2 = gaussianKv(n, nKvHeads, d, 33), V2 = gaussianKv(n, nKvHeads, d, 34);
    const q = randomQuery(8, d, 35, 0.2);
    const err = (codec: string): number => {
      const c = cache({ nKvHeads, headDim: d, key: codec, value: codec });
      // interleave two sequences
      for (let i = 0; i < n; i += 20) {
        c.append(0, rows(K, nKvHeads * d, i, i + 20), rows(V, nKvHeads * d, i, i + 20));
        c.append(3, rows(K2, nKvHeads * d, i, i + 20), rows(V2, nKvHeads * d, i, i + 20));
      }
      const other = relativeError(attendReference(c, 3, q, 8), attendDense(K2, V2, nKvHeads, d, q, 8));
      expect(other).toBeLessThan(codec === 'kivi2' ? 0.5 : 0.1);
      return relativeError(attendReference(c, 0, q, 8), attendDense(K, V, nKvHeads, d, q, 8));
    };
    const e = { fp16: err('fp16'), q8: err('q8_0'), k4: err('kivi4'), k2: err('kivi2') };
    // measured (seeded): fp16 3.6e-4, q8_0 0.024, kivi4 0.13, kivi2 0.60 with no fp window: the
    // 10-50x outlier key channels make the 2-bit per-channel steps large in score units
    expect(e.fp16).toBeLessThan(1e-3);
    expect(e.fp16).toBeLessThan(e.q8);
    expect(e.q8).toBeLessThan(e.k4);
    expect(e.k4).toBeLessThan(e.k2);
    expect(e.k2).toBeLessThan(1);
  });

  it('stats count packed tiles, fp regions at 16 (effectiveBits) and 32 bits (effectiveBitsStored)', () => {
    const nKvHeads = 2, d = 64, tf = nKvHeads * d;
    const c = cache({ nKvHeads, headDim: d, key: 'kivi2', value: 'kivi2', sinks: 2, window: 8 });
    expect(c.stats()).toMatchObject({ tokens: 0, packedBytes: 0, effectiveBits: 0 });
    const n = 2 + 64 + 8 + 5; // 2 sinks, 2 tiles, 13 tail tokens
    c.append(0, gaussianKv(n, nKvHeads, d, 1), gaussianKv(n, nKvHeads, d, 2));
    c.append(1, gaussianKv(3, nKvHeads, d, 3), gaussianKv(3, nKvHeads, d, 4)); // 2 sinks + 1 tail
    const s = c.stats();
    // kivi2 at d = 64: keys d + 2d words, values 32d/32 + 2d words per tile and head
    const slotWords = nKvHeads * (3 * d + 3 * d);
    expect(s.tokens).toBe(n + 3);
    expect(s.packedBytes).toBe(2 * slotWords * 4);
    expect(s.fpTokens).toBe(n + 3 - 64);
    expect(s.paramBytes).toBe(0);
    const elements = (n + 3) * tf * 2, fp = (n + 3 - 64) * tf * 2;
    expect(s.effectiveBits).toBeCloseTo((2 * slotWords * 32 + fp * 16) / elements, 12);
    expect(s.effectiveBitsStored).toBeCloseTo((2 * slotWords * 32 + fp * 32) / elements, 12);
    // only packed tokens: exactly b + 1 = 3 bits for both streams
    const packedOnly = cache({ nKvHeads, headDim: d, key: 'kivi2', value: 'kivi2' });
    packedOnly.append(0, gaussianKv(64, nKvHeads, d, 5), gaussianKv(64, nKvHeads, d, 6));
    expect(packedOnly.stats().effectiveBits).toBe(3);
    c.delete(1);
    expect(c.stats().tokens).toBe(n);
    expect(c.hasSequence(1)).toBe(false);
  });
});

describe('PackedKvCache bad input', () => {
  it('constructor: bad shapes, window, sinks, codecs', () => {
    const base = { nKvHeads: 2, headDim: 8, key: 'fp32', value: 'fp32' };
    expect(fail(() => new PackedKvCache({ ...base, headDim: 12 }))).toMatchObject({ code: 'BAD_PARAM', arg: 'headDim' });
    expect(fail(() => new PackedKvCache({ ...base, headDim: 264 }))).toMatchObject({ code: 'BAD_PARAM', arg: 'headDim' });
    expect(fail(() => new PackedKvCache({ ...base, nKvHeads: 0 }))).toMatchObject({ code: 'BAD_PARAM', arg: 'nKvHeads' });
    expect(fail(() => new PackedKvCache({ ...base, window: -1 }))).toMatchObject({ code: 'BAD_PARAM', arg: 'window' });
    expect(fail(() => new PackedKvCache({ ...base, window: 2.5 }))).toMatchObject({ code: 'BAD_PARAM', arg: 'window' });
    expect(fail(() => new PackedKvCache({ ...base, sinks: -3 }))).toMatchObject({ code: 'BAD_PARAM', arg: 'sinks' });
    expect(fail(() => new PackedKvCache({ ...base, key: 'nope' }))).toMatchObject({ code: 'UNKNOWN_CODEC', arg: 'codec' });
    const valueCodec = createCodec('q8_0', { kind: 'value', headDim: 8, nKvHeads: 2 });
    expect(fail(() => new PackedKvCache({ ...base, key: valueCodec }))).toMatchObject({ code: 'BAD_PARAM', arg: 'key' });
    const otherShape = createCodec('q8_0', { kind: 'value', headDim: 16, nKvHeads: 2 });
    expect(fail(() => new PackedKvCache({ ...base, value: otherShape }))).toMatchObject({ code: 'BAD_SHAPE', arg: 'value' });
    // a matching instance is accepted as is
    expect(new PackedKvCache({ ...base, value: valueCodec }).value).toBe(valueCodec);
  });

  it('append: rejects bad shapes, NaN/Inf and bad ids, and leaves the cache unchanged', () => {
    const c = cache({ window: 4, sinks: 1 });
    const K = gaussianKv(60, 2, 8, 1), V = gaussianKv(60, 2, 8, 2);
    c.append(0, rows(K, 16, 0, 30), rows(V, 16, 0, 30));
    const before = snapshot(c), statsBefore = c.stats();
    // 30 more tokens would seal a tile before reaching the bad element: still nothing may change
    const bad = rows(K, 16, 30, 60).slice();
    bad[bad.length - 3] = NaN;
    expect(fail(() => c.append(0, bad, rows(V, 16, 30, 60)))).toMatchObject({ code: 'NON_FINITE', arg: 'keys' });
    const inf = rows(V, 16, 30, 60).slice();
    inf[100] = -Infinity;
    expect(fail(() => c.append(0, rows(K, 16, 30, 60), inf))).toMatchObject({ code: 'NON_FINITE', arg: 'values' });
    expect(fail(() => c.append(0, K.subarray(0, 15), V.subarray(0, 15)))).toMatchObject({ code: 'BAD_SHAPE', arg: 'keys' });
    expect(fail(() => c.append(0, new Float32Array(0), new Float32Array(0)))).toMatchObject({ code: 'BAD_SHAPE', arg: 'keys' });
    expect(fail(() => c.append(0, K.subarray(0, 32), V.subarray(0, 16)))).toMatchObject({ code: 'BAD_SHAPE', arg: 'values' });
    expect(fail(() => c.append(-1, K.subarray(0, 16), V.subarray(0, 16)))).toMatchObject({ code: 'BAD_PARAM', arg: 'seq' });
    expect(fail(() => c.append(1.5, K.subarray(0, 16), V.subarray(0, 16)))).toMatchObject({ code: 'BAD_PARAM', arg: 'seq' });
    // a rejected first append must not create the sequence either
    expect(fail(() => c.append(9, bad, rows(V, 16, 30, 60)))).toMatchObject({ code: 'NON_FINITE' });
    expect(c.hasSequence(9)).toBe(false);
    expect(snapshot(c)).toEqual(before);
    expect(c.stats()).toEqual(statsBefore);
  });

  it('attention: unknown sequence, bad query shape, non-finite query', () => {
    const c = cache();
    c.append(0, gaussianKv(3, 2, 8, 1), gaussianKv(3, 2, 8, 2));
    const q = randomQuery(4, 8, 3);
    expect(fail(() => attendReference(c, 1, q, 4))).toMatchObject({ code: 'UNKNOWN_SEQUENCE', arg: 'seq' });
    expect(fail(() => c.view(1))).toMatchObject({ code: 'UNKNOWN_SEQUENCE', arg: 'seq' });
    expect(fail(() => attendReference(c, 0, q, 3))).toMatchObject({ code: 'BAD_SHAPE', arg: 'nHeads' });
    expect(fail(() => attendReference(c, 0, q.subarray(1), 4))).toMatchObject({ code: 'BAD_SHAPE', arg: 'q' });
    const nan = q.slice();
    nan[5] = NaN;
    expect(fail(() => attendReference(c, 0, nan, 4))).toMatchObject({ code: 'NON_FINITE', arg: 'q' });
  });
});
