/**
 * Integer-domain KIVI kernels (WasmBackend `integerAttention`, on by default; docs/decisions.md
 * D50-D52, D43) vs attendReference over the same packed cache: KIVI-2/4 keys and values, head_dim
 * 64/128 (where the integer path runs) and 40 (where it must fall back to the float kernels, bit
 * for bit, as MHA does), GQA groups 2/4/6 (6 = a block of 4 heads and one of 2), outlier-channel
 * keys, contexts crossing a page, sinks and a window. A missing build FAILS (loadKvpackWasm throws).
 *
 * Each output is held to the tolerance the backend reports for its cache (attentionTolerance:
 * ATTENTION_TOLERANCE.integer where the integer kernels run, `exact` elsewhere and with
 * integerAttention: false), in the conformance measure max |out - ref| / max(1, max |ref|). The
 * integer tier's reasoning is in ts/backends/types.ts; the error is also printed x max|V| (D52's
 * measure, observed up to 8.9e-4 over these cases).
 */
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { attendReference } from '../../ts/reference/attention.js';
import { integerKernelsRun, WasmBackend, loadKvpackWasm } from '../../ts/backends/wasm.js';
import { WasmThreadsBackend } from '../../ts/backends/wasm-threads.js';
import { ATTENTION_TOLERANCE } from '../../ts/backends/types.js';
import { toleranceError } from '../../ts/conformance/matrix.js';
import { gaussianKv, outlierKeys, randomQuery } from '../helpers/data.js';

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
  const float = new WasmBackend(wasm, { integerAttention: false });
  const byDefault = new WasmBackend(wasm);

  for (const [i, c] of CASES.entries()) {
    it(`${c.key}/${c.value} d=${c.d} nKv=${c.nKv} group=${c.group} ctx=${c.ctx}`, () => {
      const cache = new PackedKvCache({ nKvHeads: c.nKv, headDim: c.d, key: c.key, value: c.value, window: c.window, sinks: c.sinks });
      const V = gaussianKv(c.ctx, c.nKv, c.d, 100 + i);
      cache.append(0, outlierKeys(c.ctx, c.nKv, c.d, 200 + i), V);
      const nHeads = c.nKv * c.group;
      const q = randomQuery(nHeads, c.d, 300 + i);
      const want = attendReference(cache, 0, q, nHeads);
      const got = integer.attendSync(cache, [0], q, nHeads);
      // the tiers the backends report for this cache
      expect(integer.attentionTolerance(cache, nHeads)).toBe(ATTENTION_TOLERANCE.integer);
      expect(float.attentionTolerance(cache, nHeads)).toBe(ATTENTION_TOLERANCE.exact);
      const e = toleranceError(got, want);
      expect(e, 'integer vs reference').toBeLessThanOrEqual(integer.attentionTolerance(cache, nHeads));
      // the integer path ran: its rounding shows against the float kernels (which stay within the exact tier)
      const f = float.attendSync(cache, [0], q, nHeads);
      expect(toleranceError(f, want)).toBeLessThanOrEqual(float.attentionTolerance(cache, nHeads));
      expect(maxDiff(got, f)).toBeGreaterThan(ATTENTION_TOLERANCE.exact);
      // the default is the integer path, bit for bit
      expect(maxDiff(byDefault.attendSync(cache, [0], q, nHeads), got)).toBe(0);
      console.log(`${c.key}/${c.value} d=${c.d} group=${c.group} ctx=${c.ctx}: integer ${e.toExponential(2)} (tier ${ATTENTION_TOLERANCE.integer}), ${(maxDiff(got, want) / maxAbs(V)).toExponential(2)} x max|V|`);
    });
  }

  it('reports the integer tier exactly where the integer kernels run (a grid of head_dim, group and bits)', () => {
    // the TS description of the kernels' shapes (kiviKernels `integer`) must say what the WASM
    // kernels do: where it says integer, the output differs from the float kernels'; elsewhere it
    // is the float kernels' bit for bit
    let integerShapes = 0;
    for (const codec of ['kivi2', 'kivi4']) {
      for (const d of [32, 40, 64, 96, 128]) {
        for (const group of [1, 2, 3, 16, 17]) {
          const cache = new PackedKvCache({ nKvHeads: 1, headDim: d, key: codec, value: codec, window: 0, sinks: 0 });
          cache.append(0, outlierKeys(70, 1, d, d + group), gaussianKv(70, 1, d, 7 * d + group));
          const q = randomQuery(group, d, 11 + d + group);
          const runs = integerKernelsRun(cache, group);
          const diff = maxDiff(integer.attendSync(cache, [0], q, group), float.attendSync(cache, [0], q, group));
          expect(diff > 0, `${codec} d=${d} group=${group}: integer kernels ${runs ? '' : 'not '}expected`).toBe(runs);
          expect(integer.attentionTolerance(cache, group)).toBe(runs ? ATTENTION_TOLERANCE.integer : ATTENTION_TOLERANCE.exact);
          if (runs) integerShapes++;
        }
      }
    }
    expect(integerShapes).toBeGreaterThan(10);
  });

  it('integerAttention must be a boolean: BAD_PARAM before anything is built', async () => {
    expect(() => new WasmBackend(wasm, { integerAttention: 'yes' as unknown as boolean })).toThrow(expect.objectContaining({ code: 'BAD_PARAM', arg: 'integerAttention' }));
    await expect(WasmThreadsBackend.create({ integerAttention: 1 as unknown as boolean })).rejects.toMatchObject({ code: 'BAD_PARAM', arg: 'integerAttention' });
    expect(integer.integerAttention && byDefault.integerAttention && !float.integerAttention).toBe(true);
  });

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
