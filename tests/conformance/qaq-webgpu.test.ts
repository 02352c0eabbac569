/**
 * QAQ on WebGPU (Dawn in Node; CI: OpenGL over Mesa llvmpipe): GPU-encoded records === TS words,
 * fused GPU attention partials vs the TS oracle, and a QaqKvCache driven by the GPU kernel.
 * Without an adapter this file FAILS, unless KVPACK_ALLOW_NO_GPU=1 (as tests/conformance/webgpu.test.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { QaqKvCache } from '../../ts/cache/qaq-cache.js';
import { packedPartialsReference } from '../../ts/codecs/qaq/attend.js';
import { encodeRecordFresh } from '../../ts/codecs/qaq/record.js';
import { QaqGpu } from '../../ts/codecs/qaq/webgpu.js';
import { gaussianKv, heavyTailedKv, makeRng, outlierKeys } from '../helpers/data.js';
import { relativeError } from '../helpers/metrics.js';

const allowNoGpu = process.env.KVPACK_ALLOW_NO_GPU === '1';
let gpu: QaqGpu | undefined;
let unavailable: string | undefined;

beforeAll(async () => {
  try {
    gpu = await QaqGpu.create();
  } catch (e) {
    unavailable = (e as Error).message;
  }
});

/** The GPU, or undefined when allowed to run without one (loudly). */
function device(): QaqGpu | undefined {
  if (unavailable !== undefined && allowNoGpu) {
    console.warn(`*** webgpu: unavailable (${unavailable}); KVPACK_ALLOW_NO_GPU=1, QAQ WebGPU conformance NOT run ***`);
    return undefined;
  }
  expect(unavailable, `no WebGPU adapter: ${unavailable}`).toBeUndefined();
  return gpu!;
}

describe('QAQ WebGPU encoder = TS record words', () => {
  for (const { R, ratio } of [{ R: 8, ratio: 0.3 }, { R: 32, ratio: 0 }, { R: 64, ratio: 0.05 }, { R: 128, ratio: 0.01 }]) {
    it(`row ${R}, outliers ${ratio}: 3 records, widths 1..8, ties and outlier channels`, async () => {
      const g = device();
      if (!g) return;
      const rng = makeRng(R);
      const records = [outlierKeys(TILE_TOKENS, 1, R, R), heavyTailedKv(TILE_TOKENS, 1, R, R + 1),
        Float32Array.from({ length: TILE_TOKENS * R }, () => rng.int(5) - 2)].map((rows) => ({
        rows, bits: Array.from({ length: TILE_TOKENS }, () => 1 + rng.int(8)),
      }));
      records[2]!.rows.fill(-0, 0, R); // a constant row of -0: zero point must be +0 as in TS
      const got = await g.encodeRecords(records, R, ratio);
      records.forEach((r, i) => expect([...got[i]!]).toEqual([...encodeRecordFresh(r.rows, R, r.bits, ratio).words]));
    });
  }
});

describe('QAQ WebGPU fused attention', () => {
  const shapes = [
    { d: 8, kv: 4, group: 2, n: 300, level: 'layer' as const, ratio: 0 },
    { d: 64, kv: 2, group: 4, n: 140, level: 'head' as const, ratio: 0.02 },
    { d: 128, kv: 1, group: 12, n: 100, level: 'head' as const, ratio: 0.01 },
  ];
  for (const { d, kv, group, n, level, ratio } of shapes) {
    it(`d=${d} kv=${kv} GQA ${group} ${level} r=${ratio}: partials vs TS oracle, cache attend vs TS path`, async () => {
      const g = device();
      if (!g) return;
      const nHeads = kv * group, tf = kv * d, qf = nHeads * d;
      const qaq = { level, outlierRatio: ratio, bitsMin: 2, targetKeyError: 10, targetValueError: 0.01 };
      const gpuCache = new QaqKvCache({ nKvHeads: kv, headDim: d, qaq, packedAttention: g.packedAttention });
      const K = outlierKeys(n, kv, d, d), V = heavyTailedKv(n, kv, d, d + 1), Q = gaussianKv(n, nHeads, d, 3, 0.5);
      for (let t = 0; t < n; t++) {
        gpuCache.append(0, K.subarray(t * tf, (t + 1) * tf), V.subarray(t * tf, (t + 1) * tf));
        const q = Q.subarray(t * qf, (t + 1) * qf);
        // every 16th step (GPU round trips are slow on a software adapter); other steps use the oracle
        if (t % 16 === 15 && gpuCache.view(0).tiles > 0) {
          const gotOut = await gpuCache.attend([0], q, nHeads);
          const v = gpuCache.view(0);
          const ref = packedPartialsReference(v, q, nHeads), got = await g.partials(v, q, nHeads);
          for (let h = 0; h < nHeads; h++) {
            // f32 on the GPU (exp, dot order) vs f64 in the oracle
            expect(Math.abs(got.m[h]! - ref.m[h]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.m[h]!)));
            expect(Math.abs(got.l[h]! - ref.l[h]!) / ref.l[h]!).toBeLessThan(1e-4);
          }
          expect(relativeError(got.acc, ref.acc)).toBeLessThan(1e-4);
          // the same cache state through the TS path (record = false leaves the history alone)
          const tsCache = gpuCache as unknown as { packedAttention: unknown };
          const saved = tsCache.packedAttention;
          tsCache.packedAttention = packedPartialsReference;
          const want = gpuCache.attendSync([0], q, nHeads, false);
          tsCache.packedAttention = saved;
          expect(relativeError(gotOut, want)).toBeLessThan(1e-4);
        } else {
          const tsCache = gpuCache as unknown as { packedAttention: unknown };
          const saved = tsCache.packedAttention;
          tsCache.packedAttention = packedPartialsReference;
          gpuCache.attendSync([0], q, nHeads);
          tsCache.packedAttention = saved;
        }
      }
      expect(gpuCache.view(0).tiles).toBeGreaterThanOrEqual(2);
    }, 120_000);
  }
});
