import { beforeAll, describe, expect, it } from 'vitest';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { loadKvpackWasm, type KvpackWasm } from '../../ts/backends/wasm-loader.js';
import { QaqKvCache } from '../../ts/codecs/qaq/cache.js';
import { packedPartialsReference } from '../../ts/codecs/qaq/attend.js';
import { encodeRecordFresh } from '../../ts/codecs/qaq/record.js';
import { encodeRecordWasm, QaqWasmAttention } from '../../ts/codecs/qaq/wasm.js';
import { gaussianKv, heavyTailedKv, makeRng, outlierKeys } from '../helpers/data.js';
import { relativeError } from '../helpers/metrics.js';

// No skip when build/kvpack.wasm is missing: CI builds it first (npm test = build + ...), and a
// missing module must fail loudly here.
let wasm: KvpackWasm;
beforeAll(async () => { wasm = await loadKvpackWasm(); });

describe('QAQ WASM encoder = TS record words', () => {
  const cases: { R: number; ratio: number; data: string }[] = [
    { R: 8, ratio: 0, data: 'gauss' }, { R: 8, ratio: 0.3, data: 'ties' }, { R: 32, ratio: 0.01, data: 'outlier' },
    { R: 64, ratio: 0.05, data: 'heavy' }, { R: 128, ratio: 0.01, data: 'outlier' }, { R: 96, ratio: 0, data: 'heavy' },
    { R: 256, ratio: 0.02, data: 'ties' },
  ];
  for (const { R, ratio, data } of cases) {
    it(`row ${R}, outliers ${ratio}, ${data} data, widths 1..8`, () => {
      const rng = makeRng(R * 7 + data.length);
      let rows: Float32Array;
      if (data === 'gauss') rows = gaussianKv(TILE_TOKENS, 1, R, R);
      else if (data === 'heavy') rows = heavyTailedKv(TILE_TOKENS, 1, R, R);
      else if (data === 'outlier') rows = outlierKeys(TILE_TOKENS, 1, R, R);
      else rows = Float32Array.from({ length: TILE_TOKENS * R }, () => rng.int(4) - 1.5); // many ties, one constant row below
      if (data === 'ties') rows.fill(0.25, 0, R);
      const bits = Array.from({ length: TILE_TOKENS }, () => 1 + rng.int(8));
      const ts = encodeRecordFresh(rows, R, bits, ratio).words;
      const w = encodeRecordWasm(wasm, rows, R, bits, ratio);
      expect(w.length).toBe(ts.length);
      expect([...w]).toEqual([...ts]);
    });
  }
});

describe('QAQ WASM fused attention = TS reference partials', () => {
  const shapes = [
    { d: 8, kv: 4, group: 2, n: 150, level: 'layer' as const, ratio: 0 },
    { d: 64, kv: 2, group: 4, n: 120, level: 'head' as const, ratio: 0.02 },
    { d: 128, kv: 1, group: 1, n: 90, level: 'head' as const, ratio: 0.01 },
    { d: 64, kv: 2, group: 1, n: 70, level: 'layer' as const, ratio: 0.01 },
  ];
  for (const { d, kv, group, n, level, ratio } of shapes) {
    it(`d=${d} kv=${kv} GQA ${group} ${level} r=${ratio}: partials and outputs within f32 tolerance`, () => {
      const nHeads = kv * group, tf = kv * d, qf = nHeads * d;
      const accel = new QaqWasmAttention(wasm);
      const cache = new QaqKvCache({ nKvHeads: kv, headDim: d, packedAttention: accel.packedAttention,
        qaq: { level, outlierRatio: ratio, bitsMin: 2, targetKeyError: 10, targetValueError: 0.01 } });
      const K = outlierKeys(n, kv, d, d), V = heavyTailedKv(n, kv, d, d + 1), Q = gaussianKv(n, nHeads, d, 3, 0.5);
      for (let t = 0; t < n; t++) {
        cache.append(0, K.subarray(t * tf, (t + 1) * tf), V.subarray(t * tf, (t + 1) * tf));
        const q = Q.subarray(t * qf, (t + 1) * qf);
        cache.attendSync([0], q, nHeads); // records the weights: widths vary like in real use
        if (cache.view(0).tiles > 0) {
          const v = cache.view(0);
          const ref = packedPartialsReference(v, q, nHeads), got = accel.partials(v, q, nHeads);
          for (let h = 0; h < nHeads; h++) {
            // f32 dot products and exp in WASM vs f64 in the oracle: ~1e-6 relative on scores
            expect(Math.abs(got.m[h]! - ref.m[h]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.m[h]!)));
            expect(Math.abs(got.l[h]! - ref.l[h]!) / ref.l[h]!).toBeLessThan(1e-4);
          }
          expect(relativeError(got.acc, ref.acc)).toBeLessThan(1e-4);
        }
      }
      expect(cache.view(0).tiles).toBeGreaterThan(0);
      const st = cache.stats();
      expect(st.keyWidthHistogram.filter((c) => c > 0).length + st.valueWidthHistogram.filter((c) => c > 0).length).toBeGreaterThan(2);
      accel.dispose();
    });
  }
});
