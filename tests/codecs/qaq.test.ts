import { describe, expect, it } from 'vitest';
import { KvpackError } from '../../ts/errors.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { f16BitsToF32 } from '../../ts/format/f16.js';
import { metaF16 } from '../../ts/codecs/uniform.js';
import { bitsForError, keyBits, valueBits } from '../../ts/codecs/qaq/allocation.js';
import { AttentionWindow } from '../../ts/codecs/qaq/attention-window.js';
import { resolveQaqOptions } from '../../ts/codecs/qaq/options.js';
import { outlierCount, outlierSplit, selectOutliers } from '../../ts/codecs/qaq/outliers.js';
import {
  decodeRecord, encodeRecordFresh, QAQ_META_OFFSET, QAQ_OUTLIER_OFFSET, recordCodeOffset, recordTokenBits, recordWords,
} from '../../ts/codecs/qaq/record.js';
import { gaussianKv, heavyTailedKv, makeRng } from '../helpers/data.js';

function expectKvpackError(fn: () => unknown, code: string, arg?: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KvpackError);
    expect((e as KvpackError).code).toBe(code);
    if (arg !== undefined) expect((e as KvpackError).arg).toBe(arg);
    return;
  }
  throw new Error('expected a KvpackError');
}

describe('QAQ options', () => {
  it('accepts the defaults and expands qMax per KV head', () => {
    const o = resolveQaqOptions(undefined, 3);
    expect([...o.qMax]).toEqual([3, 3, 3]);
    expect(resolveQaqOptions({ qMax: [1, 2] }, 2).qMax[1]).toBe(2);
    // level 'auto': one row per token over all heads when a head's row would be metadata-bound
    expect(resolveQaqOptions(undefined, 4, 8).level).toBe('layer');
    expect(resolveQaqOptions(undefined, 4, 64).level).toBe('head');
    expect(resolveQaqOptions({ level: 'head' }, 4, 8).level).toBe('head');
  });

  it.each([
    [{ targetKeyError: 0 }, 'targetKeyError'],
    [{ targetKeyError: -1 }, 'targetKeyError'],
    [{ targetKeyError: Infinity }, 'targetKeyError'],
    [{ targetValueError: NaN }, 'targetValueError'],
    [{ targetValueError: '1' }, 'targetValueError'],
    [{ bitsMin: 0 }, 'bitsMin'],
    [{ bitsMin: 2.5 }, 'bitsMin'],
    [{ bitsMin: 5, bitsMax: 4 }, 'bitsMax'],
    [{ bitsMax: 9 }, 'bitsMax'],
    [{ attentionWindow: 0 }, 'attentionWindow'],
    [{ attentionWindow: 1.5 }, 'attentionWindow'],
    [{ outlierRatio: 1 }, 'outlierRatio'],
    [{ outlierRatio: -0.01 }, 'outlierRatio'],
    [{ outlierRatio: NaN }, 'outlierRatio'],
    [{ qMax: 0 }, 'qMax'],
    [{ qMax: [1] }, 'qMax'],
    [{ qMax: [1, -1] }, 'qMax'],
    [{ level: 'token' }, 'level'],
    [{ targetError: 1 }, 'targetError'],
  ])('rejects %j naming %s', (opts, arg) => {
    expectKvpackError(() => resolveQaqOptions(opts as Record<string, unknown>, 2), 'BAD_PARAM', arg);
  });
});

describe('QAQ bit allocation (paper Sec. 3, reference _calc_quantization_bits)', () => {
  it('bitsForError is the fewest bits whose half step is within the error', () => {
    // range 1, error 1/(2*3) -> 2^b - 1 = 3 -> b = 2
    expect(bitsForError(1, 1 / 6, 1, 8)).toBe(2);
    expect(bitsForError(1, 1 / 6 - 1e-9, 1, 8)).toBe(3);
    expect(bitsForError(1, 1e-9, 1, 8)).toBe(8);
    expect(bitsForError(0, 1e-9, 2, 8)).toBe(2);
    expect(bitsForError(1, Infinity, 2, 8)).toBe(2);
  });

  it('value bits: e = sqrt(T_v) / n / a, fewer bits for less attended tokens', () => {
    const range = 4, n = 100, T = 1;
    // a = 0.5 -> e = 1 / 100 / 0.5 = 0.02 -> log2(4 / 0.04 + 1) = log2(101) -> 7
    expect(valueBits(range, 0.5, n, T, 1, 8)).toBe(7);
    const bits = [0.5, 0.1, 0.01, 0.001, 0].map((a) => valueBits(range, a, n, T, 1, 8));
    for (let i = 1; i < bits.length; i++) expect(bits[i]!).toBeLessThanOrEqual(bits[i - 1]!);
    expect(bits[bits.length - 1]).toBe(1);
  });

  it('key bits: e = sqrt(T_k / d) / n / (qMax * a * max(1 - a, other))', () => {
    const range = 2, n = 50, d = 64, qMax = 3, T = 64;
    const a = 0.2, other = 0.9; // x = 0.2 * 0.9 = 0.18
    const e = Math.sqrt(T / d) / n / (qMax * 0.18);
    expect(keyBits(range, a, other, n, d, qMax, T, 1, 8)).toBe(Math.ceil(Math.log2(range / (2 * e) + 1)));
    // a token with all the weight (a = 1, others 0) does not move the softmax: x = 0
    expect(keyBits(range, 1, 0, n, d, qMax, T, 2, 8)).toBe(2);
    // more weight on a token -> at least as many bits (for a <= 1/2 with a fixed rival)
    expect(keyBits(range, 0.4, 0.5, n, d, qMax, T, 1, 8)).toBeGreaterThanOrEqual(keyBits(range, 0.01, 0.5, n, d, qMax, T, 1, 8));
  });
});

describe('QAQ outliers (reference _calc_outlier_mask)', () => {
  it('counts ceil(r/2 N) low and N - floor((1-r/2) N) high', () => {
    expect(outlierSplit(128, 0)).toEqual([0, 0]);
    expect(outlierSplit(128, 0.01)).toEqual([1, 1]);
    expect(outlierSplit(128, 0.1)).toEqual([7, 7]);
    expect(outlierSplit(8, 0.5)).toEqual([2, 2]);
    expect(outlierCount(1024, 0.01)).toBe(6 + 6);
  });

  it('selects the same set as the kth-value rule on distinct values', () => {
    const rng = makeRng(7);
    for (const [n, r] of [[64, 0.05], [128, 0.01], [8, 0.3], [200, 0.2]] as const) {
      const x = Float32Array.from({ length: n }, () => rng.gaussian());
      const sorted = [...x].sort((a, b) => a - b);
      const lo = sorted[Math.ceil((r / 2) * n) - 1]!, hi = sorted[Math.floor((1 - r / 2) * n) - 1]!;
      const ref = [...x.keys()].filter((i) => x[i]! <= lo || x[i]! > hi);
      expect(selectOutliers(x, 0, n, r)).toEqual(ref);
    }
  });

  it('keeps a fixed count on ties (a constant row)', () => {
    const x = new Float32Array(64).fill(1.5);
    expect(selectOutliers(x, 0, 64, 0.1)).toEqual([0, 1, 2, 3, 60, 61, 62, 63]);
  });
});

describe('QAQ record', () => {
  it('lays out widths, meta, outliers and codes as docs/FORMAT.md says (hand-checked tiny record)', () => {
    const R = 8;
    const rows = new Float32Array(TILE_TOKENS * R);
    // token 0: 0..7 with an outlier 100 at column 3; others constant 0
    for (let c = 0; c < R; c++) rows[c] = c;
    rows[3] = 100;
    const bits = new Array<number>(TILE_TOKENS).fill(1);
    bits[0] = 3;
    bits[1] = 2;
    const { words, outliersPerRow } = encodeRecordFresh(rows, R, bits, 0.2); // ceil(0.8)=1 low, 8-floor(7.2)=1 high
    expect(outliersPerRow).toBe(2);
    expect(words.length).toBe(recordWords(R, 2, bits));
    expect(words.length).toBe(36 + 64 + Math.ceil((8 * (3 + 2 + 30)) / 32));
    expect(words[0]).toBe(3 | (2 << 4) | (1 << 8) | (1 << 12) | (1 << 16) | (1 << 20) | (1 << 24) | (1 << 28));
    // token 0 outliers: column 0 (value 0, lowest) and column 3 (100)
    expect(words[QAQ_OUTLIER_OFFSET]! & 0xffff).toBe(0);
    expect(words[QAQ_OUTLIER_OFFSET + 1]! & 0xffff).toBe(3);
    expect(f16BitsToF32(words[QAQ_OUTLIER_OFFSET + 1]! >>> 16)).toBe(100);
    // the rest 1,2,4..7 -> zero 1, scale 6/7
    const meta = words[QAQ_META_OFFSET]!;
    expect(f16BitsToF32(meta >>> 16)).toBe(1);
    expect(f16BitsToF32(meta & 0xffff)).toBe(metaF16(6 / 7));
    // first code: column 0 (value 0 clamps to code 0); column 1 = 1 -> code 0; column 2 = 2 -> code 1
    const cb = recordCodeOffset(2);
    expect(words[cb]! & 7).toBe(0);
    expect((words[cb]! >>> 6) & 7).toBe(1);
    // token 1 starts at bit 24 with width 2
    expect(recordTokenBits(words, 0, 1)).toBe(2);
    const out = new Float32Array(TILE_TOKENS * R);
    decodeRecord(words, 0, R, 2, 0, R, out);
    expect(out[3]).toBe(100);
    expect(out[0]).toBe(0);
    expect(Math.abs(out[5]! - 5)).toBeLessThanOrEqual(metaF16(6 / 7) / 2 + 1e-6);
  });

  for (const R of [8, 64, 128, 96]) {
    it(`round trips within half a step, outliers exact to f16 (row ${R}, mixed widths 1..8)`, () => {
      const rng = makeRng(R);
      const rows = heavyTailedKv(TILE_TOKENS, 1, R, R + 1);
      const bits = Array.from({ length: TILE_TOKENS }, () => 1 + rng.int(8));
      const { words, outliersPerRow } = encodeRecordFresh(rows, R, bits, 0.05);
      const out = new Float32Array(rows.length);
      decodeRecord(words, 0, R, outliersPerRow, 0, R, out);
      for (let t = 0; t < TILE_TOKENS; t++) {
        const meta = words[QAQ_META_OFFSET + t]!;
        const scale = f16BitsToF32(meta & 0xffff);
        const outl = new Set<number>();
        for (let j = 0; j < outliersPerRow; j++) outl.add(words[QAQ_OUTLIER_OFFSET + t * outliersPerRow + j]! & 0xffff);
        for (let c = 0; c < R; c++) {
          const x = rows[t * R + c]!, y = out[t * R + c]!;
          if (outl.has(c)) expect(y).toBe(metaF16(x));
          // half a step + f16 rounding of the zero point
          else expect(Math.abs(x - y)).toBeLessThanOrEqual(scale / 2 + Math.abs(x) * 2 ** -10 + 1e-3 * scale);
        }
      }
      // a slice decodes the same as the whole
      const half = new Float32Array(TILE_TOKENS * (R / 2));
      decodeRecord(words, 0, R, outliersPerRow, R / 2, R / 2, half);
      for (let t = 0; t < TILE_TOKENS; t++) {
        for (let c = 0; c < R / 2; c++) expect(half[t * (R / 2) + c]).toBe(out[t * R + R / 2 + c]);
      }
    });
  }

  it('outliers tighten the range: lower error on the rest than without', () => {
    const R = 128, rows = gaussianKv(TILE_TOKENS, 1, R, 3);
    for (let t = 0; t < TILE_TOKENS; t++) rows[t * R + (t % R)] = 40; // one spike per token
    const bits = new Array<number>(TILE_TOKENS).fill(3);
    const err = (ratio: number): number => {
      const { words, outliersPerRow } = encodeRecordFresh(rows, R, bits, ratio);
      const out = new Float32Array(rows.length);
      decodeRecord(words, 0, R, outliersPerRow, 0, R, out);
      let s = 0;
      for (let i = 0; i < rows.length; i++) s += (rows[i]! - out[i]!) ** 2;
      return Math.sqrt(s / rows.length);
    };
    expect(err(0.02)).toBeLessThan(err(0) / 3);
  });
});

describe('QAQ attention window', () => {
  it('predicts the max weight over the last W rows and excludes the token itself from the rival max', () => {
    const w = new AttentionWindow(1, 3, 4);
    w.arrive(0);
    w.arrive(1);
    const rec = (a0: number, a1: number, outside: number): void =>
      w.record(Float64Array.of(a0, a1), 2, 2, Float64Array.of(outside), 100);
    rec(0.1, 0.2, 0.7);
    rec(0.6, 0.1, 0.3); // token 0 is the row's top
    rec(0.05, 0.05, 0.9);
    expect(w.seen(0)).toBe(3);
    let p = w.predict(0, 0, 100);
    expect(p.a).toBeCloseTo(0.6, 6);
    expect(p.other).toBeCloseTo(0.9, 6);
    // a token that only later becomes important: its max over the window wins
    rec(0.02, 0.8, 0.1);
    p = w.predict(1, 0, 101);
    expect(p.a).toBeCloseTo(0.8, 6);
    // token 0's spike (row 1) leaves the 3-row window after one more row
    expect(w.predict(0, 0, 100).a).toBeCloseTo(0.6, 6);
    rec(0.03, 0.01, 0.2);
    p = w.predict(0, 0, 100);
    expect(p.a).toBeCloseTo(0.05, 6);
    expect(p.other).toBeCloseTo(0.9, 6);
    // token 1 was the top of row 3: its rival there is the outside top 0.1, elsewhere row tops
    expect(w.predict(1, 0, 101).other).toBeCloseTo(0.9, 6);
  });
});
