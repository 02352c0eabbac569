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

describe('PackedKvCache with WASM encoders (encodeWith)', () => {
  const cases: { key: string; value: string; d: number; nKv: number; extra?: Partial<CacheOptions> }[] = [
    { key: 'fp16', value: 'fp32', d: 8, nKv: 3 },
    { key: 'q8_0', value: 'q4_0', d: 64, nKv: 2 },
    { key: 'kivi2', value: 'kivi4', d: 128, nKv: 2 },
    { key: 'kivi8', value: 'kivi2', d: 40, nKv: 1 },
    { key: 'skvq-k2', value: 'skvq-v1.5', d: 64, nKv: 2, extra: { calibration: {
      key: randomSkvqCalibration('key', 2, 64, 2, 1), value: randomSkvqCalibration('value', 2, 64, 1.5, 2) } } },
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

  it('SKVQ: groups whose min or max is a zero of either sign keep the TS encoder\'s f16 bits', async () => {
    // ReLU-like rows with -0 and +0 at the zeros: the SIMD min/max scan must keep the element
    // order's choice between them (they compare equal), as the scalar scan does
    const signedZeros = (n: number, nKv: number, d: number, seed: number): Float32Array => {
      const x = gaussianKv(n, nKv, d, seed);
      for (let i = 0; i < x.length; i++) if (x[i]! <= 0) x[i] = (i * 7) % 3 === 0 ? -0 : 0;
      return x;
    };
    const wasm = await WasmBackend.create();
    try {
      for (const [key, value] of [['skvq-k2', 'skvq-v1.5'], ['skvq-k4', 'skvq-v2']] as const) {
        const base = { key, value, nKvHeads: 2, headDim: 64, window: 0, sinks: 0, calibration: {
          key: randomSkvqCalibration('key', 2, 64, key === 'skvq-k2' ? 2 : 4, 5, 1, 32, 8),
          value: randomSkvqCalibration('value', 2, 64, value === 'skvq-v2' ? 2 : 1.5, 6, 1, 32, 8) } };
        const ts = new PackedKvCache(base);
        const fast = new PackedKvCache({ ...base, encodeWith: wasm });
        for (const cache of [ts, fast]) cache.append(0, signedZeros(96, 2, 64, 21), signedZeros(96, 2, 64, 22));
        const a = ts.view(0), b = fast.view(0);
        let minusZeroMeta = 0;
        for (let p = 0; p < a.pages.length; p++) {
          expect(b.pages[p]).toEqual(a.pages[p]);
          for (const w of a.pages[p]!) if ((w >>> 16) === 0x8000) minusZeroMeta++;
        }
        expect(minusZeroMeta, 'the data gives some groups a -0 zero point').toBeGreaterThan(0);
      }
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
