import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { TsBackend } from '../../ts/backends/ts-backend.js';
import { attendDense, attendReference } from '../../ts/reference/attention.js';
import { KvpackError } from '../../ts/errors.js';
import { gaussianKv } from '../helpers/data.js';

function cacheWith(lengths: number[], headDim: number, nKvHeads: number, codec = 'kivi4') {
  const cache = new PackedKvCache({ nKvHeads, headDim, key: codec, value: codec, window: 8, sinks: 2 });
  const raw = lengths.map((n, s) => {
    const k = gaussianKv(n, nKvHeads, headDim, 10 + s), v = gaussianKv(n, nKvHeads, headDim, 20 + s);
    cache.append(s, k, v);
    return { k, v };
  });
  return { cache, raw };
}

describe('TsBackend', () => {
  it('equals attendReference per sequence for a batch of 2 sequences with GQA', async () => {
    for (const d of [8, 64]) {
      const nKv = 2, nHeads = 8;
      const { cache } = cacheWith([45, 100], d, nKv);
      const q = gaussianKv(2, nHeads, d, 7);
      const out = await new TsBackend().attend(cache, [0, 1], q, nHeads);
      const per = nHeads * d;
      for (const s of [0, 1]) {
        expect(out.subarray(s * per, (s + 1) * per)).toEqual(attendReference(cache, s, q.subarray(s * per, (s + 1) * per), nHeads));
      }
    }
  });

  it('fp32 codec matches dense attention (summation order only)', async () => {
    const d = 64, nKv = 4, nHeads = 4;
    const { cache, raw } = cacheWith([77], d, nKv, 'fp32');
    const q = gaussianKv(1, nHeads, d, 3);
    const out = await new TsBackend().attend(cache, [0], q, nHeads);
    const ref = attendDense(raw[0]!.k, raw[0]!.v, nKv, d, q, nHeads);
    for (let i = 0; i < ref.length; i++) expect(Math.abs(out[i]! - ref[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(ref[i]!)));
  });

  it('validates every sequence before computing any', async () => {
    const d = 8, nKv = 2, nHeads = 2;
    const { cache } = cacheWith([40], d, nKv);
    const b = new TsBackend();
    const q2 = gaussianKv(2, nHeads, d, 1);
    const err = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as KvpackError);
    const e1 = await err(b.attend(cache, [0, 5], q2, nHeads));
    expect([e1?.code, e1?.arg]).toEqual(['UNKNOWN_SEQUENCE', 'seq']);
    const e2 = await err(b.attend(cache, [0], q2, nHeads));
    expect([e2?.code, e2?.arg]).toEqual(['BAD_SHAPE', 'q']);
    const e3 = await err(b.attend(cache, [], new Float32Array(0), nHeads));
    expect([e3?.code, e3?.arg]).toEqual(['BAD_SHAPE', 'seqs']);
    const bad = gaussianKv(1, nHeads, d, 1);
    bad[3] = NaN;
    const e4 = await err(b.attend(cache, [0], bad, nHeads));
    expect([e4?.code, e4?.arg]).toEqual(['NON_FINITE', 'q']);
    const e5 = await err(b.attend(cache, [0], gaussianKv(1, 3, d, 1), 3));
    expect([e5?.code, e5?.arg]).toEqual(['BAD_SHAPE', 'nHeads']);
  });
});
