/**
 * Integer-domain SKVQ kernels (WasmBackend `integerAttention`): 2-bit keys (docs/decisions.md D47)
 * and ternary (1.5-bit, D48) or 2-bit (D171) values vs attendReference over the same packed cache,
 * each alone (the other stream fp16 or 4-bit SKVQ keys, which keep the float kernels) and together:
 * head_dim 64/128 (where the integer paths run) and 8 (where they fall back to the float kernels,
 * bit for bit, as do 4-bit keys and C = 8 groups); GQA groups 2/3/4/6 (4 + 2 and 2 + 1 heads per pass) and MHA (1 head x 4 tokens
 * per pass); random permutations with group boundaries anywhere (16-position key blocks cut by a
 * boundary get f32 corrections), a block holding parts of all 4 groups (cut3), 32-aligned groups
 * (no cut block), C = 2 with m = 2 tokens per scale block; contexts crossing a page, sinks, a
 * window. A missing build FAILS (loadKvpackWasm throws).
 */
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { attendReference } from '../../ts/reference/attention.js';
import { WasmBackend, loadKvpackWasm } from '../../ts/backends/wasm.js';
import { ATTENTION_TOLERANCE } from '../../ts/backends/types.js';
import { toleranceError } from '../../ts/conformance/matrix.js';
import type { SkvqCalibration } from '../../ts/codecs/skvq/index.js';
import { heavyTailedKv, outlierKeys, randomQuery } from '../helpers/data.js';
import { randomSkvqCalibration } from '../helpers/skvq-calibration.js';

/**
 * max |integer - reference| <= INT_TOL x max|V|, as tests/conformance/wasm-integer.test.ts (KIVI's
 * integer kernels). Keys: the permuted query is rounded to i16 once per call with step max|q| /
 * 32767 (the group scales multiply after the dot product, so they do not set the step as KIVI's
 * folded scales do); a score moves by ~ sum_c s_g |code_c| x step / 2, the output by that times
 * the spread of V. Values: the weights times the group scales are rounded to i16 per head, group
 * and tile (step = the tile's largest / 32767). Observed <= 1.3e-5 over this file's cases; 5e-3
 * is KIVI's integer tolerance. A wrong block, group, lane mask, pair or scale is off by O(1).
 */
const INT_TOL = 5e-3;
/** The float kernels' tolerance (tests/conformance/skvq-wasm.test.ts ATTN_TOL). */
const FLOAT_TOL = 1e-5;

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Calibration with the given group starts for every head (a shuffled permutation per head). */
function cutCalibration(nKv: number, d: number, bits: 2 | 4, groupStart: number[], seed: number): SkvqCalibration {
  const cal = randomSkvqCalibration('key', nKv, d, bits, seed, 0.9, 32, groupStart.length - 1);
  cal.heads = cal.heads.map((h) => ({ perm: h.perm, groupStart: groupStart.slice() }));
  return cal;
}

type Layout = 'random' | 'aligned' | 'cut3' | 'm2';
interface Case { key: string; value: string; d: number; nKv: number; group: number; ctx: number; sinks: number; window: number; layout: Layout }

const CASES: Case[] = [
  { key: 'skvq-k2', value: 'skvq-v1.5', d: 128, nKv: 2, group: 4, ctx: 2100, sinks: 0, window: 0, layout: 'random' },
  { key: 'skvq-k2', value: 'fp16', d: 128, nKv: 2, group: 4, ctx: 700, sinks: 4, window: 32, layout: 'random' },
  { key: 'fp16', value: 'skvq-v1.5', d: 128, nKv: 2, group: 4, ctx: 700, sinks: 4, window: 32, layout: 'random' },
  { key: 'skvq-k2', value: 'skvq-v1.5', d: 64, nKv: 1, group: 3, ctx: 2100, sinks: 0, window: 0, layout: 'random' },
  { key: 'skvq-k2', value: 'skvq-v1.5', d: 128, nKv: 1, group: 6, ctx: 700, sinks: 0, window: 16, layout: 'cut3' },
  { key: 'skvq-k2', value: 'fp16', d: 128, nKv: 2, group: 2, ctx: 333, sinks: 0, window: 0, layout: 'aligned' },
  { key: 'skvq-k2', value: 'skvq-v1.5', d: 128, nKv: 4, group: 1, ctx: 2100, sinks: 2, window: 0, layout: 'random' },
  { key: 'skvq-k2', value: 'fp16', d: 64, nKv: 2, group: 1, ctx: 333, sinks: 0, window: 0, layout: 'cut3' },
  { key: 'fp16', value: 'skvq-v1.5', d: 64, nKv: 2, group: 1, ctx: 333, sinks: 0, window: 0, layout: 'cut3' },
  { key: 'skvq-k2', value: 'skvq-v1.5', d: 128, nKv: 2, group: 4, ctx: 700, sinks: 0, window: 0, layout: 'm2' },
  // 2-bit values (D171): GQA 2/4 and MHA, d 64/128, with 2-bit, 4-bit (float) or fp16 keys
  { key: 'skvq-k2', value: 'skvq-v2', d: 128, nKv: 2, group: 4, ctx: 2100, sinks: 0, window: 0, layout: 'random' },
  { key: 'skvq-k2', value: 'skvq-v2', d: 64, nKv: 2, group: 2, ctx: 700, sinks: 4, window: 32, layout: 'random' },
  { key: 'skvq-k4', value: 'skvq-v2', d: 128, nKv: 2, group: 2, ctx: 2100, sinks: 0, window: 0, layout: 'random' },
  { key: 'skvq-k4', value: 'skvq-v2', d: 64, nKv: 1, group: 4, ctx: 700, sinks: 0, window: 16, layout: 'cut3' },
  { key: 'fp16', value: 'skvq-v2', d: 128, nKv: 2, group: 4, ctx: 333, sinks: 0, window: 0, layout: 'cut3' },
  { key: 'fp16', value: 'skvq-v2', d: 64, nKv: 2, group: 1, ctx: 700, sinks: 2, window: 0, layout: 'random' },
  { key: 'skvq-k2', value: 'skvq-v2', d: 128, nKv: 4, group: 1, ctx: 700, sinks: 0, window: 0, layout: 'aligned' },
  { key: 'skvq-k2', value: 'skvq-v2', d: 64, nKv: 2, group: 4, ctx: 700, sinks: 0, window: 0, layout: 'm2' },
  // d 96: 24 code bytes a row, 3 steps of 8 (keys on the float kernels: d % 64 != 0)
  { key: 'skvq-k2', value: 'skvq-v2', d: 96, nKv: 2, group: 4, ctx: 700, sinks: 0, window: 0, layout: 'random' },
];

function calibrationOf(c: Case, seed: number): { key?: SkvqCalibration; value?: SkvqCalibration } {
  const kb = c.key === 'skvq-k4' ? 4 : 2, vb = c.value === 'skvq-v2' ? 2 : 1.5;
  const key = c.layout === 'random' ? randomSkvqCalibration('key', c.nKv, c.d, kb, seed, 0.9)
    : c.layout === 'aligned' ? randomSkvqCalibration('key', c.nKv, c.d, kb, seed, 0.9, 32, c.d / 32) // shuffled, cuts below
    : c.layout === 'm2' ? randomSkvqCalibration('key', c.nKv, c.d, kb, seed, 0.9, c.d)
    // cut3: positions 16..31 (block 1 of chunk 0) hold parts of all 4 groups
    : cutCalibration(c.nKv, c.d, kb, [0, 17, 21, 30, c.d], seed);
  if (c.layout === 'aligned') key.heads = key.heads.map((h) => ({ perm: h.perm, groupStart: Array.from({ length: c.d / 32 + 1 }, (_, i) => 32 * i) }));
  // values: the same group layouts (cut3: one 4-position vector across 3 groups), as ternary or 2-bit codes
  let value: SkvqCalibration | undefined;
  if (c.value.startsWith('skvq')) {
    value = c.layout === 'm2' ? randomSkvqCalibration('value', c.nKv, c.d, vb, seed + 1, 0.8, c.d)
      : randomSkvqCalibration('value', c.nKv, c.d, vb, seed + 1, 0.8, 32, key.clusters);
    value.heads = value.heads.map((h, i) => ({ perm: h.perm, groupStart: key.heads[i]!.groupStart.slice() }));
  }
  return { key: c.key.startsWith('skvq') ? key : undefined, value };
}

describe('integer-domain SKVQ keys and values (WasmBackend integerAttention)', async () => {
  const wasm = await loadKvpackWasm();
  const integer = new WasmBackend(wasm, { integerAttention: true });
  const float = new WasmBackend(wasm, { integerAttention: false });
  const byDefault = new WasmBackend(wasm);

  for (const [i, c] of CASES.entries()) {
    it(`${c.key}/${c.value} d=${c.d} nKv=${c.nKv} group=${c.group} ctx=${c.ctx} ${c.layout}`, () => {
      const calibration = calibrationOf(c, 40 + i);
      if (c.layout === 'm2') expect([calibration.key?.tokensPerGroup, calibration.value?.tokensPerGroup]).toEqual([2, 2]);
      const cache = new PackedKvCache({ nKvHeads: c.nKv, headDim: c.d, key: c.key, value: c.value, calibration, window: c.window, sinks: c.sinks });
      const V = heavyTailedKv(c.ctx, c.nKv, c.d, 100 + i);
      cache.append(0, outlierKeys(c.ctx, c.nKv, c.d, 200 + i), V);
      const nHeads = c.nKv * c.group;
      const q = randomQuery(nHeads, c.d, 300 + i, 0.2);
      const want = attendReference(cache, 0, q, nHeads);
      const got = integer.attendSync(cache, [0], q, nHeads);
      // max|V| over what the reference attends: the decoded cache (values the codec rounded)
      let vmax = 0;
      for (const v of want) vmax = Math.max(vmax, Math.abs(v));
      for (const v of V) vmax = Math.max(vmax, Math.abs(v));
      const e = maxDiff(got, want) / vmax;
      expect(e, 'integer vs reference, x max|V|').toBeLessThanOrEqual(INT_TOL);
      // the tier the backends report for this cache (ATTENTION_TOLERANCE), held in the conformance measure
      expect(integer.attentionTolerance(cache, nHeads)).toBe(ATTENTION_TOLERANCE.integer);
      expect(float.attentionTolerance(cache, nHeads)).toBe(ATTENTION_TOLERANCE.exact);
      expect(toleranceError(got, want)).toBeLessThanOrEqual(integer.attentionTolerance(cache, nHeads));
      // the default is the integer path, bit for bit
      expect(maxDiff(byDefault.attendSync(cache, [0], q, nHeads), got)).toBe(0);
      // the integer path ran: its rounding shows against the float kernels (which stay within their tolerance)
      const f = float.attendSync(cache, [0], q, nHeads);
      expect(maxDiff(f, want) / vmax).toBeLessThanOrEqual(FLOAT_TOL);
      expect(maxDiff(got, f)).toBeGreaterThan(0);
      console.log(`${c.key}/${c.value} d=${c.d} group=${c.group} ${c.layout} ctx=${c.ctx}: integer ${e.toExponential(2)} x max|V|`);
    });
  }

  it('falls back to the float kernels where the integer paths do not apply (d = 8, 4-bit keys, C = 8), bit for bit', () => {
    for (const [key, value, d, gsz] of [['skvq-k2', 'skvq-v1.5', 8, 32], ['skvq-k2', 'skvq-v2', 8, 32],
      ['skvq-k4', 'skvq-v2', 128, 16], ['skvq-k2', 'skvq-v2', 128, 16], ['skvq-k2', 'skvq-v1.5', 128, 16]] as const) {
      const kb = key === 'skvq-k4' ? 4 : 2, vb = value === 'skvq-v2' ? 2 : 1.5;
      const calibration = { key: randomSkvqCalibration('key', 2, d, kb, 9, 0.9, gsz), value: randomSkvqCalibration('value', 2, d, vb, 10, 0.9, gsz) };
      const cache = new PackedKvCache({ nKvHeads: 2, headDim: d, key, value, calibration, window: 0, sinks: 0 });
      cache.append(0, outlierKeys(300, 2, d, 1), heavyTailedKv(300, 2, d, 2));
      const q = randomQuery(8, d, 3);
      expect(maxDiff(integer.attendSync(cache, [0], q, 8), float.attendSync(cache, [0], q, 8)), `${key}/${value} d=${d} g${gsz}`).toBe(0);
      // and the backend reports the exact tier there (neither stream's integer kernel runs)
      expect(integer.attentionTolerance(cache, 8), `${key}/${value} d=${d} g${gsz}`).toBe(ATTENTION_TOLERANCE.exact);
    }
  });
});
