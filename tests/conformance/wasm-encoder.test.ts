/**
 * PackedKvCache packing through kvpack.wasm's encoders (`encodeWith: wasmBackend`,
 * ts/backends/wasm-encoder.ts): every sealed tile holds the TS reference encoder's words, and
 * attention over the two caches is identical. Calibrated codecs (SKVQ, CQ) included.
 */
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { PackedKvCache, type CacheOptions } from '../../ts/cache/kv-cache.js';
import { WasmBackend } from '../../ts/backends/wasm.js';
import { makeCqCalibration } from '../../ts/codecs/cq/calibration.js';
import { gaussianKv, outlierKeys, randomQuery } from '../helpers/data.js';
import { randomSkvqCalibration } from '../helpers/skvq-calibration.js';
import { plainSkvqCalibration } from '../../ts/codecs/skvq/index.js';
import { roundF16 } from '../../ts/format/f16.js';

describe('PackedKvCache with WASM encoders (encodeWith)', () => {
  const cases: { key: string; value: string; d: number; nKv: number; extra?: Partial<CacheOptions> }[] = [
    { key: 'fp16', value: 'fp32', d: 8, nKv: 3 },
    { key: 'q8_0', value: 'q4_0', d: 64, nKv: 2 },
    { key: 'kivi2', value: 'kivi4', d: 128, nKv: 2 },
    { key: 'kivi8', value: 'kivi2', d: 40, nKv: 1 },
    { key: 'skvq-k2', value: 'skvq-v1.5', d: 64, nKv: 2, extra: { calibration: {
      key: randomSkvqCalibration('key', 2, 64, 2, 1), value: randomSkvqCalibration('value', 2, 64, 1.5, 2) } } },
    // 4-bit SKVQ codes take the WASM encoder's candidate-and-adjust path (15 thresholds)
    { key: 'skvq-k4', value: 'skvq-v2', d: 128, nKv: 2, extra: { calibration: {
      key: randomSkvqCalibration('key', 2, 128, 4, 3, 0.8), value: randomSkvqCalibration('value', 2, 128, 2, 4, 0.9) } } },
    { key: 'cq-4c8b', value: 'cq-2c8b', d: 64, nKv: 2, extra: { calibration: {
      key: makeCqCalibration({ channelsPerGroup: 4, bits: 8 }, 'key', 2, 64, gaussianKv(2 * 64 * 256 / 64, 1, 64, 3)),
      value: makeCqCalibration({ channelsPerGroup: 2, bits: 8 }, 'value', 2, 64, gaussianKv(2 * 64 * 256 / 64, 1, 64, 4)) } } },
  ];
  for (const c of cases) {
    it(`${c.key}/${c.value} ${c.nKv}x${c.d}: same words as the TS encoders, same attention`, async () => {
      const wasm = await WasmBackend.create();
      try {
        const base = { key: c.key, value: c.value, nKvHeads: c.nKv, headDim: c.d, window: 5, sinks: 2, ...c.extra };
        const ts = new PackedKvCache(base);
        const fast = new PackedKvCache({ ...base, encodeWith: wasm });
        expect(fast.key).not.toBe(ts.key);
        expect(fast.key.name).toBe(c.key);
        const n = 5 * 32 + 19;
        for (const cache of [ts, fast]) {
          cache.append(0, outlierKeys(n, c.nKv, c.d, 7), gaussianKv(n, c.nKv, c.d, 8));
          cache.append(0, outlierKeys(40, c.nKv, c.d, 9), gaussianKv(40, c.nKv, c.d, 10));
        }
        const a = ts.view(0), b = fast.view(0);
        expect(b.tiles).toBe(a.tiles);
        expect(a.tiles).toBeGreaterThan(4);
        for (let p = 0; p < a.pages.length; p++) expect(b.pages[p]).toEqual(a.pages[p]);
        const q = randomQuery(c.nKv * 2, c.d, 11);
        expect(wasm.attendSync(fast, [0], q, c.nKv * 2)).toEqual(wasm.attendSync(ts, [0], q, c.nKv * 2));
      } finally {
        wasm.dispose();
      }
    });
  }

  it('groups whose min or max is a zero of either sign keep the TS encoder\'s f16 bits (SKVQ, KIVI, q8_0/q4_0)', async () => {
    // ReLU-like rows with -0 and +0 at the zeros: the SIMD min/max scans (lane-wise, then across
    // lanes) must keep the element order's choice between them (they compare equal), as the scalar
    // scan does
    // every 5th token all zeros: groups whose max is a zero too (KIVI's scale then keeps its sign)
    const signedZeros = (n: number, nKv: number, d: number, seed: number): Float32Array => {
      const x = gaussianKv(n, nKv, d, seed);
      for (let i = 0; i < x.length; i++) {
        if (x[i]! <= 0 || Math.floor(i / (nKv * d)) % 5 === 0) x[i] = (i * 7) % 3 === 0 ? -0 : 0;
      }
      return x;
    };
    const wasm = await WasmBackend.create();
    try {
      for (const [key, value] of [['skvq-k2', 'skvq-v1.5'], ['skvq-k4', 'skvq-v2'], ['kivi2', 'kivi4'], ['q8_0', 'q4_0']] as const) {
        const skvq = key.startsWith('skvq');
        const base = { key, value, nKvHeads: 2, headDim: 64, window: 0, sinks: 0, ...(skvq ? { calibration: {
          key: randomSkvqCalibration('key', 2, 64, key === 'skvq-k2' ? 2 : 4, 5, 1, 32, 8),
          value: randomSkvqCalibration('value', 2, 64, value === 'skvq-v2' ? 2 : 1.5, 6, 1, 32, 8) } } : {}) };
        const ts = new PackedKvCache(base);
        const fast = new PackedKvCache({ ...base, encodeWith: wasm });
        for (const cache of [ts, fast]) cache.append(0, signedZeros(96, 2, 64, 21), signedZeros(96, 2, 64, 22));
        const a = ts.view(0), b = fast.view(0);
        let minusZeroMeta = 0;
        for (let p = 0; p < a.pages.length; p++) {
          expect(b.pages[p], `${key}/${value}`).toEqual(a.pages[p]);
          for (const w of a.pages[p]!) if ((w >>> 16) === 0x8000) minusZeroMeta++;
        }
        // (scale, zero) metadata: some groups get a -0 zero point from this data
        if (!key.startsWith('q')) expect(minusZeroMeta, `${key}/${value}: the data gives some groups a -0 zero point`).toBeGreaterThan(0);
      }
    } finally {
      wasm.dispose();
    }
  });

  it('SKVQ 4-bit codes at and one f32 step around every threshold equal the TS encoder\'s', async () => {
    // one group per token (clusters 1, groupSize 64: m = 1); each row holds its min lo and max hi
    // and, for every threshold (k + 0.5) s, the value z + that product and its f32 neighbours,
    // where the WASM encoder's candidate floor(dx / s + 0.5) is most likely one off the count
    const d = 64, rows = 64, L = 15;
    const f32 = new Float32Array(1), i32 = new Int32Array(f32.buffer);
    const step = (x: number, dir: number): number => { f32[0] = x; i32[0]! += x >= 0 ? dir : -dir; return f32[0]!; };
    const x = new Float32Array(rows * d);
    for (let t = 0; t < rows; t++) {
      const lo = Math.fround(-1.3 - 0.37 * t), hi = Math.fround(2.1 + 0.113 * t);
      const z = roundF16(lo), sc = roundF16(Math.fround(Math.fround(hi - lo) * Math.fround(1 / L)));
      const row = x.subarray(t * d, (t + 1) * d);
      row[0] = lo; row[1] = hi;
      let i = 2;
      for (let k = 0; k < L && i + 3 <= d; k++) {
        const v = Math.fround(z + Math.fround((k + 0.5) * sc));
        row[i++] = step(v, -1); row[i++] = v; row[i++] = step(v, 1);
      }
      for (; i < d; i++) row[i] = Math.fround(z + Math.fround(((i * 5) % L + 0.25) * sc));
    }
    const wasm = await WasmBackend.create();
    try {
      const base = { key: 'skvq-k4', value: 'skvq-v2', nKvHeads: 1, headDim: d, window: 0, sinks: 0, calibration: {
        key: plainSkvqCalibration('key', 1, d, 4, 64, 1), value: plainSkvqCalibration('value', 1, d, 2, 64, 1) } };
      const ts = new PackedKvCache(base);
      const fast = new PackedKvCache({ ...base, encodeWith: wasm });
      for (const cache of [ts, fast]) cache.append(0, x, x);
      const a = ts.view(0), b = fast.view(0);
      expect(a.tiles).toBe(2);
      for (let p = 0; p < a.pages.length; p++) expect(b.pages[p]).toEqual(a.pages[p]);
    } finally {
      wasm.dispose();
    }
  });

  it('one encoder per codec instance; a disposed backend refuses with BACKEND_UNAVAILABLE', async () => {
    const wasm = await WasmBackend.create();
    const cache = new PackedKvCache({ key: 'kivi2', value: 'kivi2', nKvHeads: 1, headDim: 8, encodeWith: wasm });
    expect(wasm.fastEncoder(cache.key)).toBe(wasm.fastEncoder(cache.key));
    wasm.dispose();
    expect(() => new PackedKvCache({ key: 'kivi2', value: 'kivi2', nKvHeads: 1, headDim: 8, encodeWith: wasm }))
      .toThrow(expect.objectContaining({ code: 'BACKEND_UNAVAILABLE' }));
  });
});
