/**
 * Integer-domain KIVI kernels (WasmBackend `integerAttention`, docs/decisions.md D50-D52) vs
 * attendReference over the same packed cache: KIVI-2/4 keys and values, head_dim 64/128 (where the
 * integer path runs) and 40 (where it must fall back to the float kernels, bit for bit, as MHA
 * does), GQA groups 2/4/6 (6 = a block of 4 heads and one of 2), outlier-channel keys, contexts crossing a
 * page, sinks and a window. A missing build FAILS (loadKvpackWasm throws).
 */
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { attendReference } from '../../ts/reference/attention.js';
import { WasmBackend, loadKvpackWasm } from '../../ts/backends/wasm.js';
import { gaussianKv, outlierKeys, randomQuery } from '../helpers/data.js';

/**
 * max |integer - reference| <= INT_TOL x max |V|. The query times the key scales is rounded to i16
 * per head and tile (step = its largest |element| / 32767) and so are the softmax weights times the
 * value scales per head, tile and 32-channel group; the score error is ~sum_c |code_c| x step / 2,
 * largest where outlier channels set the step (keys with 10-50x channels here), and a logit error e
 * moves the output by ~e x spread(V). Observed max 8.9e-4 over this file's cases (kivi2/kivi2 d=128,
 * GQA 4, 2100 tokens), 4.6e-5 with integer values alone (fp16 keys); 5e-3 leaves room for other seeds. The codes' own error is ~1e-1 to 9e-1 of the
 * output (bench/README.md "rel err"), so this is two orders below what the cache already costs.
 * A wrong code position, group or scale is off by O(1).
 */
const INT_TOL = 5e-3;
/** The float kernels' tolerance (tests/conformance/wasm.test.ts ATTN_TOL). */
const FLOAT_TOL = 1e-5;

function maxAbs(x: Float32Array): number {
  let m = 0;
  for (const v of x) m = Math.max(m, Math.abs(v));
  return m;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

interface Case { key: string; value: string; d: number; nKv: number; group: number; ctx: number; sinks: number; window: number }

const CASES: Case[] = [
  { key: 'kivi2', value: 'kivi2', d: 128, nKv: 2, group: 2, ctx: 2100, sinks: 0, window: 0 },
  { key: 'kivi2', value: 'kivi2', d: 128, nKv: 2, group: 4, ctx: 2100, sinks: 4, window: 32 },
  { key: 'kivi2', value: 'kivi2', d: 64, nKv: 1, group: 6, ctx: 2100, sinks: 0, window: 0 },
  { key: 'kivi4', value: 'kivi4', d: 128, nKv: 2, group: 4, ctx: 700, sinks: 0, window: 0 },
  { key: 'kivi4', value: 'kivi4', d: 64, nKv: 2, group: 2, ctx: 700, sinks: 4, window: 0 },
  { key: 'kivi4', value: 'kivi2', d: 128, nKv: 1, group: 6, ctx: 333, sinks: 0, window: 32 },
  { key: 'kivi2', value: 'fp16', d: 128, nKv: 2, group: 4, ctx: 333, sinks: 0, window: 0 },
  { key: 'fp16', value: 'kivi4', d: 64, nKv: 2, group: 4, ctx: 333, sinks: 0, window: 0 },
];

describe('integer-domain KIVI attention (WasmBackend integerAttention)', async () => {
  const wasm = await loadKvpackWasm();
  const integer = new WasmBackend(wasm, { integerAttention: true });
  const float = new WasmBackend(wasm);

  for (const [i, c] of CASES.entries()) {
    it(`${c.key}/${c.value} d=${c.d} nKv=${c.nKv} group=${c.group} ctx=${c.ctx}`, () => {
      const cache = new PackedKvCache({ nKvHeads: c.nKv, headDim: c.d, key: c.key, value: c.value, window: c.window, sinks: c.sinks });
      const V = gaussianKv(c.ctx, c.nKv, c.d, 100 + i);
      cache.append(0, outlierKeys(c.ctx, c.nKv, c.d, 200 + i), V);
      const nHeads = c.nKv * c.group;
      const q = randomQuery(nHeads, c.d, 300 + i);
      const want = attendReference(cache, 0, q, nHeads);
      const got = integer.attendSync(cache, [0], q, nHeads);
      const vmax = maxAbs(V);
      const e = maxDiff(got, want) / vmax;
      expect(e, 'integer vs reference, x max|V|').toBeLessThanOrEqual(INT_TOL);
      // the integer path ran: its rounding shows against the float kernels (which stay within their tolerance)
      const f = float.attendSync(cache, [0], q, nHeads);
      expect(maxDiff(f, want) / vmax).toBeLessThanOrEqual(FLOAT_TOL);
      expect(maxDiff(got, f)).toBeGreaterThan(0);
      console.log(`${c.key}/${c.value} d=${c.d} group=${c.group} ctx=${c.ctx}: integer ${e.toExponential(2)} x max|V|`);
    });
  }

  it('falls back to the float kernels where the integer path does not apply (d = 40, kivi8, MHA), bit for bit', () => {
    for (const [key, value, d, group] of [['kivi2', 'kivi4', 40, 4], ['kivi8', 'kivi8', 64, 4], ['kivi2', 'kivi2', 128, 1]] as const) {
      const cache = new PackedKvCache({ nKvHeads: 2, headDim: d, key, value, window: 0, sinks: 0 });
      cache.append(0, outlierKeys(300, 2, d, 1), gaussianKv(300, 2, d, 2));
      const q = randomQuery(2 * group, d, 3);
      expect(maxDiff(integer.attendSync(cache, [0], q, 2 * group), float.attendSync(cache, [0], q, 2 * group)), `${key}/${value} d=${d} group=${group}`).toBe(0);
    }
  });

  it('backends sharing one module keep their own mode', () => {
    const cache = new PackedKvCache({ nKvHeads: 1, headDim: 128, key: 'kivi2', value: 'kivi2', window: 0, sinks: 0 });
    cache.append(0, outlierKeys(64, 1, 128, 5), gaussianKv(64, 1, 128, 6));
    const q = randomQuery(4, 128, 7);
    const f1 = float.attendSync(cache, [0], q, 4);
    integer.attendSync(cache, [0], q, 4);
    expect(maxDiff(float.attendSync(cache, [0], q, 4), f1)).toBe(0);
  });
});
