/**
 * QAQ caches saved and restored: records, offsets, the attention-window state (which drives
 * the widths of tokens sealed later) and the stats counters travel, so a restored cache decodes
 * on exactly as the never-saved one: 1,000 tokens with an attend per token, saved at 700.
 */
import { describe, expect, it } from 'vitest';
import { loadKvpackWasm, QaqKvCache } from '../../ts/index.js';
import { QaqWasmAttention } from '../../ts/codecs/qaq/wasm.js';
import { gaussianKv, outlierKeys } from '../helpers/data.js';

const shapes = [
  { kv: 2, d: 32, group: 2, level: 'head' as const, ratio: 0.05 },
  { kv: 2, d: 16, group: 1, level: 'layer' as const, ratio: 0 },
];

function decode(cache: QaqKvCache, from: number, to: number, K: Float32Array, V: Float32Array, Q: Float32Array, nHeads: number, outs: Float32Array[]): void {
  const tf = cache.tokenFloats, qf = nHeads * cache.headDim;
  for (let t = from; t < to; t++) {
    cache.append(0, K.subarray(t * tf, (t + 1) * tf), V.subarray(t * tf, (t + 1) * tf));
    outs.push(cache.attendSync([0], Q.subarray(t * qf, (t + 1) * qf), nHeads));
  }
}

describe('QaqKvCache save and restore', () => {
  for (const s of shapes) {
    it(`kv=${s.kv} d=${s.d} ${s.level}: saved at 700, restored (TS and WASM attention), +300: same records, stats and outputs`, async () => {
      const nHeads = s.kv * s.group, n = 1000;
      const opts = { nKvHeads: s.kv, headDim: s.d, qaq: { level: s.level, outlierRatio: s.ratio, bitsMin: 2, targetKeyError: 10, targetValueError: 0.01, attentionWindow: 8 } };
      const K = outlierKeys(n, s.kv, s.d, 1), V = gaussianKv(n, s.kv, s.d, 2), Q = gaussianKv(n, nHeads, s.d, 3, 0.5);
      const never = new QaqKvCache(opts), saved = new QaqKvCache(opts);
      const a: Float32Array[] = [], b: Float32Array[] = [];
      decode(never, 0, n, K, V, Q, nHeads, a);
      decode(saved, 0, 700, K, V, Q, nHeads, b);
      const bytes = saved.serialize();
      const restored = QaqKvCache.deserialize(bytes);
      expect(restored.stats()).toEqual(saved.stats());
      expect(restored.serialize()).toEqual(bytes);
      decode(restored, 700, n, K, V, Q, nHeads, b);
      expect(b).toEqual(a);
      expect(restored.stats()).toEqual(never.stats());
      expect(restored.serialize()).toEqual(never.serialize());
      // the same with the WASM packed attention: a restored cache answers bit for bit as the saved one
      const attn = new QaqWasmAttention(await loadKvpackWasm()).packedAttention;
      const savedW = new QaqKvCache({ ...opts, packedAttention: attn });
      decode(savedW, 0, 700, K, V, Q, nHeads, []);
      const restoredW = QaqKvCache.deserialize(savedW.serialize(), { packedAttention: attn });
      const outS: Float32Array[] = [], outR: Float32Array[] = [];
      decode(savedW, 700, 760, K, V, Q, nHeads, outS);
      decode(restoredW, 700, 760, K, V, Q, nHeads, outR);
      expect(outR).toEqual(outS);
      expect(restoredW.serialize()).toEqual(savedW.serialize());
    }, 60_000);
  }
});
