/**
 * Representable range (issue 18): each codec states the largest |x| it encodes within its error
 * (CodecInfo.maxAbs, capped by ATTEND_MAX_ABS for the f32 kernels); beyond it an append is
 * OUT_OF_RANGE naming the value and the codec, with the cache unchanged; q beyond the kernels'
 * bound is OUT_OF_RANGE on every backend. Within range, at the extremes, WASM and WebGPU stay
 * finite and agree with the TS reference (before: all-NaN on WASM for q = 3e38 or fp32 K/V ~ 1.5e38).
 */
import { describe, expect, it } from 'vitest';
import * as kv from '../../ts/index.js';
import { gaussianKv, randomQuery } from '../helpers/data.js';

function code(fn: () => unknown): string | undefined {
  try { fn(); } catch (e) { return e instanceof kv.KvpackError ? `${e.code}: ${e.message}` : `other: ${String(e)}`; }
  return undefined;
}
async function codeAsync(p: Promise<unknown>): Promise<string | undefined> {
  try { await p; } catch (e) { return e instanceof kv.KvpackError ? `${e.code}: ${e.message}` : `other: ${String(e)}`; }
  return undefined;
}

function relErr(got: Float32Array, want: Float32Array): number {
  let d = 0, m = 0;
  for (let i = 0; i < got.length; i++) { d = Math.max(d, Math.abs(got[i]! - want[i]!)); m = Math.max(m, Math.abs(want[i]!)); }
  return d / m;
}

const codecs = ['fp32', 'fp16', 'q8_0', 'q4_0', 'kivi2', 'kivi4', 'kivi8'] as const;

describe('codec ranges', () => {
  it('every built-in tile codec states a range; fp16-metadata codecs stop at 65504 (x levels)', () => {
    const want: Record<string, number> = { fp32: kv.ATTEND_MAX_ABS, fp16: 65504, q8_0: 127 * 65504, q4_0: 8 * 65504, kivi2: 65504, kivi4: 65504, kivi8: 65504 };
    for (const c of codecs) expect(kv.codecMaxAbs(kv.createCodec(c, { kind: 'value', headDim: 16, nKvHeads: 1 })), c).toBe(want[c]);
  });

  for (const c of codecs) {
    it(`${c}: an append past the range is OUT_OF_RANGE naming value and codec, cache unchanged`, () => {
      const cache = new kv.PackedKvCache({ nKvHeads: 1, headDim: 16, key: c, value: c });
      cache.append(0, gaussianKv(40, 1, 16, 1), gaussianKv(40, 1, 16, 2));
      const before = JSON.stringify(cache.stats());
      const max = c === 'fp32' ? kv.ATTEND_MAX_ABS : kv.codecMaxAbs(cache.key);
      const bad = gaussianKv(3, 1, 16, 3);
      bad[17] = max * 1.01;
      expect(code(() => cache.append(0, bad, gaussianKv(3, 1, 16, 4)))).toMatch(new RegExp(`^OUT_OF_RANGE: keys: element 17 is [0-9.e+]+, beyond key codec '${c}'`));
      expect(code(() => cache.append(1, gaussianKv(3, 1, 16, 4), bad.map((x) => -x)))).toMatch(/^OUT_OF_RANGE: values: element 17/);
      expect(JSON.stringify(cache.stats())).toBe(before);
      expect(cache.hasSequence(1)).toBe(false);
      bad[17] = max; // the bound itself is in range
      expect(code(() => cache.append(0, bad, gaussianKv(3, 1, 16, 4)))).toBeUndefined();
    });

    it(`${c}: attention error at a quarter of the range equals the error at unit scale`, async () => {
      // V scaled by s, K by s and q by 1/s (same scores): a codec encoding its range correctly
      // has the same relative error at any scale (f16 metadata: relative precision is constant)
      const s = Math.min(kv.codecMaxAbs(kv.createCodec(c, { kind: 'value', headDim: 64, nKvHeads: 2 })), 1e15) / 8;
      const errAt = async (scale: number): Promise<number> => {
        const cache = new kv.PackedKvCache({ nKvHeads: 2, headDim: 64, key: c, value: c });
        const exact = new kv.PackedKvCache({ nKvHeads: 2, headDim: 64, key: 'fp32', value: 'fp32' });
        const K = gaussianKv(200, 2, 64, 5, 0.5 * scale), V = gaussianKv(200, 2, 64, 6, 0.5 * scale);
        cache.append(0, K, V);
        exact.append(0, K, V);
        const q = randomQuery(4, 64, 7, 1 / scale);
        return relErr(await new kv.TsBackend().attend(cache, [0], q, 4), await new kv.TsBackend().attend(exact, [0], q, 4));
      };
      const unit = await errAt(1), big = await errAt(s);
      expect(big, `unit ${unit}, at ${s}: ${big}`).toBeLessThan(unit * 1.5 + 1e-6);
    });
  }
});

describe('f32 extremes: no NaN where the reference is finite', () => {
  it('q beyond ATTEND_MAX_ABS (3e38) and fp32 K/V ~ 1.5e38 are OUT_OF_RANGE on every backend', async () => {
    const cache = new kv.PackedKvCache({ nKvHeads: 2, headDim: 16, key: 'fp32', value: 'fp32' });
    cache.append(0, gaussianKv(40, 2, 16, 1), gaussianKv(40, 2, 16, 2));
    expect(code(() => cache.append(0, new Float32Array(32).fill(-1.5e38), gaussianKv(1, 2, 16, 2)))).toMatch(/^OUT_OF_RANGE: keys/);
    expect(code(() => cache.append(0, gaussianKv(1, 2, 16, 1), new Float32Array(32).fill(1.5e38)))).toMatch(/^OUT_OF_RANGE: values/);
    const q = randomQuery(4, 16, 3);
    q[0] = 3e38;
    const backends: kv.AttentionBackend[] = [new kv.TsBackend(), await kv.WasmBackend.create(), await kv.WebGpuBackend.create()];
    for (const b of backends) {
      expect(await codeAsync(b.attend(cache, [0], q, 4)), b.name).toMatch(/^OUT_OF_RANGE: q: element 0 is 3[0-9.]*e\+38, beyond the f32 attention kernels/);
      b.dispose();
    }
  });

  const extremes = [
    { key: 'fp32', value: 'fp32', d: 256, kScale: kv.ATTEND_MAX_ABS / 5, vScale: kv.ATTEND_MAX_ABS / 5, qScale: kv.ATTEND_MAX_ABS / 5 },
    { key: 'q8_0', value: 'fp32', d: 128, kScale: 127 * 65504 / 5, vScale: kv.ATTEND_MAX_ABS / 5, qScale: kv.ATTEND_MAX_ABS / 5 },
    { key: 'kivi4', value: 'kivi2', d: 64, kScale: 65504 / 5, vScale: 65504 / 5, qScale: kv.ATTEND_MAX_ABS / 5 },
    { key: 'fp16', value: 'q4_0', d: 32, kScale: 1e-30, vScale: 8 * 65504 / 5, qScale: 1e-30 },
  ] as const;
  for (const c of extremes) {
    it(`${c.key}/${c.value} d=${c.d}, K ${c.kScale.toExponential(1)}, V ${c.vScale.toExponential(1)}, q ${c.qScale.toExponential(1)}: WASM, WebGPU finite and equal to TS`, async () => {
      const cache = new kv.PackedKvCache({ nKvHeads: 2, headDim: c.d, key: c.key, value: c.value, window: 4, sinks: 1 });
      // gaussians clipped to 4 sigma so every element stays inside the codec's range
      const clip = (x: Float32Array, s: number): Float32Array => x.map((v) => Math.max(-4 * s, Math.min(4 * s, v)));
      cache.append(0, clip(gaussianKv(150, 2, c.d, 1, c.kScale), c.kScale), clip(gaussianKv(150, 2, c.d, 2, c.vScale), c.vScale));
      const q = clip(randomQuery(4, c.d, 3, c.qScale), c.qScale);
      const want = await new kv.TsBackend().attend(cache, [0], q, 4);
      expect(want.every(Number.isFinite)).toBe(true);
      for (const b of [await kv.WasmBackend.create(), await kv.WebGpuBackend.create()]) {
        const got = await b.attend(cache, [0], q, 4);
        expect(got.every(Number.isFinite), `${b.name}: ${got.slice(0, 4).join(', ')}`).toBe(true);
        // f32 kernels vs the f64 reference on one-hot-ish softmax: agree to f32 rounding
        expect(relErr(got, want), b.name).toBeLessThan(1e-3);
        b.dispose();
      }
    });
  }
});
