/**
 * Types at the boundary (issue 18): every public entry (ts/index.ts) given null, undefined,
 * plain arrays or other wrong types throws a KvpackError ('BAD_PARAM' or 'BAD_SHAPE', or the
 * entry's own data code) naming the argument, and leaves the cache as it was. Backends agree on
 * `seqs: []` (BAD_SHAPE everywhere).
 */
import { describe, expect, it } from 'vitest';
import * as kv from '../../ts/index.js';
import { QaqKvCache } from '../../ts/codecs/qaq/cache.js';
import { gaussianKv, randomQuery } from '../helpers/data.js';

const shape = { nKvHeads: 2, headDim: 16, key: 'q4_0', value: 'kivi2', window: 4, sinks: 1 } as const;
const TF = 32;
const junk: unknown[] = [null, undefined, 'x', 3, [1, 2], {}, new Float64Array(TF), NaN];

function state(c: { sequenceIds(): number[]; length(s: number): number; stats(): unknown }): string {
  return JSON.stringify({ ids: c.sequenceIds(), lens: c.sequenceIds().map((s) => c.length(s)), stats: c.stats() });
}

async function expectKvpack(fn: () => unknown, what: string, codes = ['BAD_PARAM', 'BAD_SHAPE']): Promise<void> {
  let err: unknown;
  try { await fn(); } catch (e) { err = e; }
  expect(err, `${what}: expected a KvpackError, got ${String(err)}`).toBeInstanceOf(kv.KvpackError);
  expect(codes, `${what}: ${(err as Error).message}`).toContain((err as kv.KvpackError).code);
}

type AnyFn = (...a: unknown[]) => unknown;

describe('public entries reject wrong argument types with KvpackError, state unchanged', () => {
  it('PackedKvCache constructor and append', async () => {
    for (const j of [null, undefined, 'x', 3, []]) await expectKvpack(() => new (kv.PackedKvCache as unknown as new (o: unknown) => unknown)(j), `new PackedKvCache(${String(j)})`);
    for (const j of [null, 3, {}]) await expectKvpack(() => new kv.PackedKvCache({ ...shape, key: j as string }), `key: ${String(j)}`, ['BAD_PARAM', 'BAD_SHAPE', 'UNKNOWN_CODEC']);
    await expectKvpack(() => new kv.PackedKvCache({ ...shape, encodeWith: {} as kv.TileEncoderSource }), 'encodeWith: {}');
    const cache = new kv.PackedKvCache(shape);
    cache.append(0, gaussianKv(40, 2, 16, 1), gaussianKv(40, 2, 16, 2));
    const before = state(cache);
    const good = gaussianKv(3, 2, 16, 3);
    for (const j of junk) {
      await expectKvpack(() => (cache.append as AnyFn)(1, j, good), `append keys ${String(j)}`);
      await expectKvpack(() => (cache.append as AnyFn)(1, good, j), `append values ${String(j)}`);
      await expectKvpack(() => (cache.append as AnyFn)(0, j, j), `append both ${String(j)}`);
      if (typeof j !== 'number' || Number.isNaN(j)) await expectKvpack(() => (cache.append as AnyFn)(j, good, good), `append seq ${String(j)}`);
    }
    await expectKvpack(() => (cache.append as AnyFn)(1, Array.from(good), Array.from(good)), 'append plain arrays');
    expect(state(cache)).toBe(before);
    expect(cache.hasSequence(1)).toBe(false);
  });

  it('every backend: attend with wrong types, and seqs: [] is BAD_SHAPE everywhere', async () => {
    const cache = new kv.PackedKvCache(shape);
    cache.append(0, gaussianKv(40, 2, 16, 1), gaussianKv(40, 2, 16, 2));
    const before = state(cache);
    const q = randomQuery(4, 16, 3);
    const backends: kv.AttentionBackend[] = [new kv.TsBackend(), await kv.WasmBackend.create(), await kv.WebGpuBackend.create()];
    for (const b of backends) {
      const attend = b.attend.bind(b) as AnyFn;
      for (const j of junk) {
        await expectKvpack(() => attend(j, [0], q, 4), `${b.name} cache ${String(j)}`);
        if (!Array.isArray(j)) await expectKvpack(() => attend(cache, j, q, 4), `${b.name} seqs ${String(j)}`);
        await expectKvpack(() => attend(cache, [0], j, 4), `${b.name} q ${String(j)}`);
        if (j !== 4) await expectKvpack(() => attend(cache, [0], q, j), `${b.name} nHeads ${String(j)}`);
      }
      await expectKvpack(() => attend(cache, [], new Float32Array(0), 4), `${b.name} seqs []`, ['BAD_SHAPE']);
      await expectKvpack(() => attend(cache, [0.5], q, 4), `${b.name} seqs [0.5]`);
      await expectKvpack(() => attend(cache, [0], Array.from(q), 4), `${b.name} q plain array`);
      expect(state(cache)).toBe(before);
      expect((await b.attend(cache, [0], q, 4)).length).toBe(64);
      b.dispose();
    }
  });

  it('QAQ cache, createCodec, chooseBackend, parsers', async () => {
    for (const j of [null, undefined, 5]) await expectKvpack(() => new (QaqKvCache as unknown as new (o: unknown) => unknown)(j), `new QaqKvCache(${String(j)})`);
    // the tail is allocated on first append: a huge window must fail up front (was a RangeError later)
    await expectKvpack(() => new QaqKvCache({ nKvHeads: 2, headDim: 16, window: 1e9 }), 'QAQ window 1e9');
    const qaq = new QaqKvCache({ nKvHeads: 2, headDim: 16 });
    qaq.append(0, gaussianKv(40, 2, 16, 1), gaussianKv(40, 2, 16, 2));
    const before = state(qaq);
    for (const j of junk) {
      await expectKvpack(() => (qaq.append as AnyFn)(1, j, gaussianKv(1, 2, 16, 1)), `qaq append ${String(j)}`);
      if (!Array.isArray(j)) await expectKvpack(() => (qaq.attend as AnyFn).call(qaq, j, randomQuery(4, 16, 1), 4), `qaq attend seqs ${String(j)}`);
      await expectKvpack(() => (qaq.attend as AnyFn).call(qaq, [0], j, 4), `qaq attend q ${String(j)}`);
    }
    expect(state(qaq)).toBe(before);
    expect(qaq.hasSequence(1)).toBe(false);

    for (const j of [null, undefined, 3]) {
      await expectKvpack(() => (kv.createCodec as AnyFn)(j, { kind: 'key', headDim: 16, nKvHeads: 1 }), `createCodec name ${String(j)}`, ['UNKNOWN_CODEC']);
      await expectKvpack(() => (kv.createCodec as AnyFn)('q8_0', j), `createCodec ctx ${String(j)}`);
    }
    await expectKvpack(() => (kv.chooseBackend as AnyFn)(null), 'chooseBackend(null)');
    await expectKvpack(() => (kv.chooseBackend as AnyFn)(5), 'chooseBackend(5)');
    for (const j of [null, undefined, [1, 2, 3], 'bytes']) {
      await expectKvpack(() => (kv.parseLlama2cCheckpoint as AnyFn)(j), `parseLlama2cCheckpoint(${String(j)})`);
      await expectKvpack(() => (kv.readLlama2cHeader as AnyFn)(j), `readLlama2cHeader(${String(j)})`);
      await expectKvpack(() => (kv.parseLlama2cTokenizer as AnyFn)(j, 32), `parseLlama2cTokenizer(${String(j)})`);
      await expectKvpack(() => (kv.parseKvCapture as AnyFn)(j), `parseKvCapture(${String(j)})`);
    }
  });
});
