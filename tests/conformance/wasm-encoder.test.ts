/**
 * PackedKvCache packing through kvpack.wasm's encoders (`encodeWith: wasmBackend`,
 * ts/backends/wasm-encoder.ts). Every codec pair's words through encodeWith, bit for bit, are the
 * conformance matrix's `wasm` column (ts/conformance/matrix.ts, encoderWords); here: signed-zero
 * group bounds, SKVQ's 4-bit thresholds, and one encoder per codec instance.
 */
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { WasmBackend } from '../../ts/backends/wasm.js';
import { gaussianKv } from '../helpers/data.js';
import { randomSkvqCalibration } from '../helpers/skvq-calibration.js';
import { plainSkvqCalibration } from '../../ts/codecs/skvq/index.js';
import { roundF16 } from '../../ts/format/f16.js';

describe('PackedKvCache with WASM encoders (encodeWith)', () => {
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
