import { describe, expect, it } from 'vitest';
import { KvpackError } from '../../ts/errors.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { codecInfo, createCodec } from '../../ts/codecs/index.js';
import { QaqKvCache } from '../../ts/codecs/qaq/cache.js';
import { attendDense } from '../../ts/reference/attention.js';
import {
  calibrateQaq, calibrateQaqSample, qaqOptionsFromCalibration, QAQ_CALIBRATION_FORMAT,
} from '../../ts/codecs/qaq/calibrate.js';
import { gaussianKv, outlierKeys, randomQuery } from '../helpers/data.js';
import { relativeError } from '../helpers/metrics.js';

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

/** Decode-style run: append token t, attend with query t; returns the per-step relative errors vs dense fp32. */
function runDecode(cache: QaqKvCache, seq: number, K: Float32Array, V: Float32Array, Q: Float32Array, nHeads: number): number[] {
  const tf = cache.tokenFloats, qf = nHeads * cache.headDim, n = K.length / tf, errs: number[] = [];
  for (let t = 0; t < n; t++) {
    cache.append(seq, K.subarray(t * tf, (t + 1) * tf), V.subarray(t * tf, (t + 1) * tf));
    const q = Q.subarray(t * qf, (t + 1) * qf);
    const got = cache.attendSync([seq], q, nHeads);
    const want = attendDense(K.subarray(0, (t + 1) * tf), V.subarray(0, (t + 1) * tf), cache.nKvHeads, cache.headDim, q, nHeads);
    errs.push(relativeError(got, want));
  }
  return errs;
}

describe('QaqKvCache', () => {
  const shapes = [
    { d: 8, kv: 4, group: 2, n: 70, level: 'layer' as const },
    { d: 64, kv: 1, group: 4, n: 100, level: 'head' as const },
    { d: 128, kv: 2, group: 1, n: 45, level: 'head' as const },
    { d: 64, kv: 2, group: 2, n: 33, level: 'layer' as const },
  ];
  for (const { d, kv, group, n, level } of shapes) {
    it(`8-bit ceiling matches dense fp32 attention (d=${d}, kv=${kv}, GQA ${group}, ${n} tokens, level ${level})`, () => {
      const nHeads = kv * group;
      const cache = new QaqKvCache({ nKvHeads: kv, headDim: d, qaq: { bitsMin: 8, bitsMax: 8, outlierRatio: 0.02, level, attentionWindow: 5 } });
      const K = outlierKeys(n, kv, d, d + n), V = gaussianKv(n, kv, d, d + n + 1);
      const Q = gaussianKv(n, nHeads, d, 5, 0.3);
      const errs = runDecode(cache, 3, K, V, Q, nHeads);
      // per-token rows of outlier-channel keys span ~100 units: an 8-bit step is ~0.4, hence a few % on scores
      expect(Math.max(...errs)).toBeLessThan(5e-2);
      expect(cache.length(3)).toBe(n);
      const s = cache.stats();
      expect(s.tokens).toBe(n);
      expect(s.fpTokens).toBe(n - Math.floor(Math.max(0, n - cache.window) / TILE_TOKENS) * TILE_TOKENS);
      expect(s.keyWidthHistogram[8]).toBe((n - s.fpTokens) * (level === 'head' ? kv : 1));
    });
  }

  it('chooses non-uniform widths in one cache, more bits for attended tokens, and compresses', () => {
    const d = 64, kv = 2, nHeads = 4, n = 200;
    const cache = new QaqKvCache({ nKvHeads: kv, headDim: d, qaq: { targetKeyError: 1, targetValueError: 0.01, bitsMin: 1, bitsMax: 8, qMax: 2, attentionWindow: 5 } });
    const K = gaussianKv(n, kv, d, 11), V = gaussianKv(n, kv, d, 12);
    const Q = gaussianKv(n, nHeads, d, 13, 0.5);
    // token 7 is what every query looks for: its key points along all queries' common direction
    for (let t = 0; t < n; t++) for (let h = 0; h < nHeads; h++) Q[(t * nHeads + h) * d] = 3;
    for (let g = 0; g < kv; g++) K[(7 * kv + g) * d] = 4;
    const errs = runDecode(cache, 0, K, V, Q, nHeads);
    const s = cache.stats();
    const used = s.valueWidthHistogram.filter((c) => c > 0).length;
    expect(used).toBeGreaterThanOrEqual(3);
    expect(s.effectiveBits).toBeLessThan(8);
    expect(errs[errs.length - 1]!).toBeLessThan(0.3);
    // token 7's value width vs the median packed token: read the first record's width field
    const v = cache.view(0);
    const rec = v.offsets[1]!; // tile 0, group 0, V
    const page = v.pages[Math.floor(rec / v.pageWords)]!, off = rec % v.pageWords;
    const widths = Array.from({ length: TILE_TOKENS }, (_, t) => (page[off + (t >>> 3)]! >>> ((t & 7) * 4)) & 15);
    const sorted = [...widths].sort((a, b) => a - b);
    expect(widths[7]!).toBeGreaterThan(sorted[16]!);
    // per-group stats add up to the totals
    expect(s.groups.length).toBe(kv);
    for (const g of s.groups) expect(g.keyBitsPerElement).toBeGreaterThan(g.meanKeyWidth);
  });

  it('tokens never seen by a full attention window get bitsMax (reference rule)', () => {
    const cache = new QaqKvCache({ nKvHeads: 1, headDim: 8, window: 0, qaq: { bitsMin: 1, bitsMax: 6, targetValueError: 1e6, targetKeyError: 1e9 } });
    cache.append(0, gaussianKv(TILE_TOKENS, 1, 8, 1), gaussianKv(TILE_TOKENS, 1, 8, 2)); // no attend in between
    expect(cache.stats().keyWidthHistogram[6]).toBe(TILE_TOKENS);
    expect(cache.stats().valueWidthHistogram[6]).toBe(TILE_TOKENS);
  });

  it('keeps sequences apart and matches dense attention for each', () => {
    const d = 64, kv = 2, nHeads = 4;
    const cache = new QaqKvCache({ nKvHeads: kv, headDim: d, qaq: { bitsMin: 8, bitsMax: 8, outlierRatio: 0 } });
    const A = gaussianKv(80, kv, d, 1), B = gaussianKv(50, kv, d, 2);
    cache.append(1, A, A);
    cache.append(2, B, B);
    const q = randomQuery(2 * nHeads, d, 9);
    const out = cache.attendSync([1, 2], q, nHeads);
    const qf = nHeads * d;
    expect(relativeError(out.subarray(0, qf), attendDense(A, A, kv, d, q.subarray(0, qf), nHeads))).toBeLessThan(1e-2);
    expect(relativeError(out.subarray(qf), attendDense(B, B, kv, d, q.subarray(qf), nHeads))).toBeLessThan(1e-2);
    cache.delete(1);
    expect(cache.hasSequence(1)).toBe(false);
    expect(cache.length(2)).toBe(50);
  });

  it('a rejected append or attend changes nothing', () => {
    const d = 8, kv = 4, nHeads = 8, tf = kv * d;
    const cache = new QaqKvCache({ nKvHeads: kv, headDim: d, qaq: { level: 'layer', bitsMin: 2, attentionWindow: 5, outlierRatio: 0.05 } });
    const K = outlierKeys(60, kv, d, 4), V = gaussianKv(60, kv, d, 5), Q = gaussianKv(60, nHeads, d, 6);
    runDecode(cache, 0, K, V, Q, nHeads);
    const snapshot = (): string => {
      const v = cache.view(0);
      return JSON.stringify([cache.stats(), [...v.offsets], v.pages.map((p) => [...p.subarray(0, 2000)]),
        [...v.tailK.subarray(0, v.tailCount * tf)], [...cache.attendSync([0], Q.subarray(0, nHeads * d), nHeads, false)]]);
    };
    const before = snapshot();
    const bad = new Float32Array(2 * tf).fill(1);
    bad[tf + 3] = NaN;
    expectKvpackError(() => cache.append(0, bad, new Float32Array(2 * tf)), 'NON_FINITE', 'keys');
    expectKvpackError(() => cache.append(0, new Float32Array(2 * tf), bad), 'NON_FINITE', 'values');
    expectKvpackError(() => cache.append(0, new Float32Array(tf + 1), new Float32Array(tf + 1)), 'BAD_SHAPE', 'keys');
    expectKvpackError(() => cache.append(0, new Float32Array(tf), new Float32Array(2 * tf)), 'BAD_SHAPE', 'values');
    expectKvpackError(() => cache.append(-1, new Float32Array(tf), new Float32Array(tf)), 'BAD_PARAM', 'seq');
    expectKvpackError(() => cache.attendSync([0], new Float32Array(nHeads * d + 1), nHeads), 'BAD_SHAPE', 'q');
    expectKvpackError(() => cache.attendSync([0], new Float32Array(nHeads * d), 6), 'BAD_SHAPE', 'nHeads');
    expectKvpackError(() => cache.attendSync([0, 9], new Float32Array(2 * nHeads * d), nHeads), 'UNKNOWN_SEQUENCE', 'seqs');
    const nanQ = new Float32Array(nHeads * d);
    nanQ[1] = Infinity;
    expectKvpackError(() => cache.attendSync([0], nanQ, nHeads), 'NON_FINITE', 'q');
    expect(snapshot()).toBe(before);
    expect(cache.hasSequence(7)).toBe(false);
  });

  it('rejects bad construction parameters with typed errors', () => {
    expectKvpackError(() => new QaqKvCache({ nKvHeads: 0, headDim: 8 }), 'BAD_PARAM', 'nKvHeads');
    expectKvpackError(() => new QaqKvCache({ nKvHeads: 1, headDim: 12 }), 'BAD_PARAM', 'headDim');
    expectKvpackError(() => new QaqKvCache({ nKvHeads: 1, headDim: 8, window: -1 }), 'BAD_PARAM', 'window');
    expectKvpackError(() => new QaqKvCache({ nKvHeads: 1, headDim: 8, qaq: { outlierRatio: 1 } }), 'BAD_PARAM', 'outlierRatio');
    expectKvpackError(() => new QaqKvCache({ nKvHeads: 1, headDim: 8, qaq: { targetKeyError: 0 } }), 'BAD_PARAM', 'targetKeyError');
  });
});

describe('QAQ registry entry and calibration', () => {
  it('has no fixed-size tile codec but builds a cache through createCache', () => {
    expectKvpackError(() => createCodec('qaq', { kind: 'key', headDim: 8, nKvHeads: 1 }), 'BAD_PARAM', 'codec');
    const info = codecInfo('qaq');
    const cache = info.createCache!({ nKvHeads: 2, headDim: 8, options: { bitsMin: 3 } });
    cache.append(0, new Float32Array(16), new Float32Array(16));
    expect(cache.length(0)).toBe(1);
  });

  it('calibrates qMax per layer and KV head from queries, JSON-safe, validated on load', () => {
    const nHeads = 4, kv = 2, d = 8;
    const q = gaussianKv(10, nHeads, d, 3);
    q[(5 * nHeads + 3) * d + 2] = -7.5; // head 3 -> KV head 1
    const cal = calibrateQaq({ nHeads, nKvHeads: kv, headDim: d, layers: [{ queries: q }, { queries: q.map((x) => x / 2) }] });
    expect(cal.format).toBe(QAQ_CALIBRATION_FORMAT);
    expect(cal.layers[0]!.qMax[1]).toBe(7.5);
    expect(cal.layers[1]!.qMax[1]).toBe(3.75);
    let max0 = 0;
    for (let t = 0; t < 10; t++) for (let h = 0; h < 2; h++) for (let c = 0; c < d; c++) max0 = Math.max(max0, Math.abs(q[(t * nHeads + h) * d + c]!));
    expect(cal.layers[0]!.qMax[0]).toBe(Math.fround(max0));
    const back = JSON.parse(JSON.stringify(cal)) as unknown;
    expect(qaqOptionsFromCalibration(back, kv, d, 1).qMax).toEqual(cal.layers[1]!.qMax);
    const one = calibrateQaqSample({ kind: 'key', headDim: d, nKvHeads: kv, data: new Float32Array(0), queries: q, nHeads });
    expect(one.layers[0]!.qMax).toEqual(cal.layers[0]!.qMax);
    const cache = codecInfo('qaq').createCache!({ nKvHeads: kv, headDim: d, calibration: one }) as QaqKvCache;
    expect([...cache.options.qMax]).toEqual(cal.layers[0]!.qMax);

    expectKvpackError(() => qaqOptionsFromCalibration(null, kv, d), 'BAD_CALIBRATION', 'calibration');
    expectKvpackError(() => qaqOptionsFromCalibration({ ...cal, version: 2 }, kv, d), 'BAD_CALIBRATION', 'version');
    expectKvpackError(() => qaqOptionsFromCalibration({ ...cal, format: 'x' }, kv, d), 'BAD_CALIBRATION', 'format');
    expectKvpackError(() => qaqOptionsFromCalibration(cal, kv, 16), 'BAD_CALIBRATION', 'nKvHeads');
    expectKvpackError(() => qaqOptionsFromCalibration(cal, kv, d, 2), 'BAD_CALIBRATION', 'layer');
    expectKvpackError(() => qaqOptionsFromCalibration({ ...cal, layers: [{ qMax: [1, -2] }] }, kv, d), 'BAD_CALIBRATION', 'layers[0].qMax');
    expectKvpackError(() => calibrateQaqSample({ kind: 'key', headDim: d, nKvHeads: kv, data: new Float32Array(0) }), 'BAD_CALIBRATION', 'queries');
    expectKvpackError(() => calibrateQaq({ nHeads: 3, nKvHeads: kv, headDim: d, layers: [{ queries: q }] }), 'BAD_SHAPE', 'nHeads');
  });
});
