/**
 * WasmThreadsBackend (ts/backends/wasm-threads.ts): the same kernels on worker threads must give
 * the single-threaded WasmBackend's output bit for bit (KV heads split over the workers; with fewer KV
 * heads than workers, tile parts merged: within the float tolerance), across incremental appends (new tiles,
 * a moving tail), sinks, a sequence deleted and re-created, batches, GQA and calibrated codecs. The workers load
 * the bundle, so this runs against dist/index.js (`npm test` builds it first).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { gaussianKv, outlierKeys, randomQuery } from '../helpers/data.js';
import { randomSkvqCalibration } from '../helpers/skvq-calibration.js';

const distUrl = new URL('../../dist/index.js', import.meta.url);
type Kvpack = typeof import('../../ts/index.js');
const load = async (): Promise<Kvpack> => await import(distUrl.href) as Kvpack;

describe('WASM attention on worker threads', () => {
  it('dist/index.js exists (npm test builds it before vitest)', () => {
    expect(existsSync(fileURLToPath(distUrl)), 'run npm run build first').toBe(true);
  });

  // calibrated codecs (SKVQ with a random permutation and uneven groups, CQ) travel as their
  // calibration objects and are rebuilt in each worker
  const calibrationFor = (kv: Kvpack, name: string, kind: 'key' | 'value', nKv: number, d: number): unknown => {
    if (name.startsWith('skvq')) return randomSkvqCalibration(kind, nKv, d, name === 'skvq-v1.5' ? 1.5 : 2, 11, 0.9);
    if (name.startsWith('cq')) return kv.calibrateCqStream(outlierKeys(600, nKv, d, 13), { kind, nKvHeads: nKv, headDim: d }, { channelsPerGroup: 4, bits: 8, seed: 3, maxIterations: 4 });
    return undefined;
  };
  const cases = [
    { key: 'kivi2', value: 'kivi2', nKv: 8, d: 128, nH: 32, n: 2 * 32 * 64 + 45, sinks: 0, window: 0, threads: 2 },
    { key: 'q8_0', value: 'fp16', nKv: 4, d: 64, nH: 8, n: 700, sinks: 4, window: 32, threads: 3 },
    { key: 'q4_0', value: 'kivi4', nKv: 3, d: 40, nH: 6, n: 333, sinks: 2, window: 16, threads: 3 },
    { key: 'skvq-k2', value: 'skvq-v1.5', nKv: 4, d: 64, nH: 8, n: 500, sinks: 2, window: 16, threads: 2 },
    { key: 'cq-4c8b', value: 'kivi2', nKv: 2, d: 64, nH: 4, n: 300, sinks: 0, window: 0, threads: 2 },
  ] as const;
  for (const c of cases) {
    it(`${c.key}/${c.value} ${c.nKv}x${c.d}, ${c.nH} heads, ${c.threads} threads: equals 1 thread exactly`, async () => {
      const kv = await load();
      const calibration = { key: calibrationFor(kv, c.key, 'key', c.nKv, c.d), value: calibrationFor(kv, c.value, 'value', c.nKv, c.d) };
      const cache = new kv.PackedKvCache({ key: c.key, value: c.value, nKvHeads: c.nKv, headDim: c.d, sinks: c.sinks, window: c.window, calibration });
      cache.append(0, outlierKeys(c.n, c.nKv, c.d, 1), gaussianKv(c.n, c.nKv, c.d, 2));
      cache.append(1, outlierKeys(77, c.nKv, c.d, 3), gaussianKv(77, c.nKv, c.d, 4));
      const single = await kv.WasmBackend.create();
      const threads = await kv.WasmThreadsBackend.create({ threads: c.threads });
      try {
        expect(threads.threads).toBe(c.threads);
        const q = new Float32Array(2 * c.nH * c.d);
        q.set(randomQuery(c.nH, c.d, 5), 0);
        q.set(randomQuery(c.nH, c.d, 6), c.nH * c.d);
        const qs = (n: number): Float32Array => q.subarray(0, n * c.nH * c.d);
        const same = async (seqs: number[]): Promise<void> => {
          const want = single.attendSync(cache, seqs, qs(seqs.length), c.nH);
          const got = await threads.attend(cache, seqs, qs(seqs.length), c.nH);
          expect(got.length).toBe(want.length);
          let diff = 0;
          for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
          expect(diff).toBe(0);
          expect(got.some((x) => x !== 0)).toBe(true);
        };
        await same([0, 1]);
        // appends: new sealed tiles and a moving tail travel incrementally
        cache.append(0, outlierKeys(100, c.nKv, c.d, 7), gaussianKv(100, c.nKv, c.d, 8));
        cache.append(1, outlierKeys(3, c.nKv, c.d, 9), gaussianKv(3, c.nKv, c.d, 10));
        await same([1, 0]);
        // a sequence deleted and re-created with other data
        cache.delete(1);
        cache.append(1, outlierKeys(50, c.nKv, c.d, 11), gaussianKv(50, c.nKv, c.d, 12));
        await same([0, 1]);
        await same([1]);
        // concurrent calls are serialized and each is answered
        const [a, b] = await Promise.all([threads.attend(cache, [0], qs(1), c.nH), threads.attend(cache, [1], qs(1), c.nH)]);
        expect(a).toEqual(single.attendSync(cache, [0], qs(1), c.nH));
        expect(b).toEqual(single.attendSync(cache, [1], qs(1), c.nH));
      } finally {
        threads.dispose();
        single.dispose();
      }
    }, 60000);
  }

  // fewer KV heads than workers: tile parts merged by their softmax statistics, so not bit for
  // bit: within the float kernels' tolerance of one thread (tests/conformance/wasm.test.ts ATTN_TOL)
  const split = [
    { key: 'kivi2', value: 'kivi2', nKv: 1, d: 128, nH: 4, n: 3 * 2048 + 45, sinks: 4, window: 32, threads: 3, integer: false },
    { key: 'skvq-k2', value: 'skvq-v1.5', nKv: 2, d: 64, nH: 8, n: 900, sinks: 0, window: 0, threads: 4, integer: false },
    { key: 'kivi4', value: 'kivi2', nKv: 1, d: 64, nH: 4, n: 200, sinks: 0, window: 16, threads: 2, integer: true },
    { key: 'skvq-k2', value: 'skvq-v1.5', nKv: 1, d: 128, nH: 4, n: 2100, sinks: 2, window: 0, threads: 2, integer: true },
  ] as const;
  for (const c of split) {
    it(`${c.key}/${c.value} ${c.nKv} KV heads on ${c.threads} threads${c.integer ? ' (integer kernels)' : ''}: tile parts merged`, async () => {
      const kv = await load();
      const calibration = { key: calibrationFor(kv, c.key, 'key', c.nKv, c.d), value: calibrationFor(kv, c.value, 'value', c.nKv, c.d) };
      const cache = new kv.PackedKvCache({ key: c.key, value: c.value, nKvHeads: c.nKv, headDim: c.d, sinks: c.sinks, window: c.window, calibration });
      const V0 = gaussianKv(c.n, c.nKv, c.d, 2), V1 = gaussianKv(77, c.nKv, c.d, 4);
      cache.append(0, outlierKeys(c.n, c.nKv, c.d, 1), V0);
      cache.append(1, outlierKeys(77, c.nKv, c.d, 3), V1);
      let vmax = 0;
      for (const v of [...V0, ...V1]) vmax = Math.max(vmax, Math.abs(v));
      const single = await kv.WasmBackend.create(undefined, { integerAttention: c.integer });
      const threads = await kv.WasmThreadsBackend.create({ threads: c.threads, integerAttention: c.integer });
      try {
        const q = new Float32Array(2 * c.nH * c.d);
        q.set(randomQuery(c.nH, c.d, 5), 0);
        q.set(randomQuery(c.nH, c.d, 6), c.nH * c.d);
        for (let step = 0; step < 2; step++) {
          const want = single.attendSync(cache, [0, 1], q, c.nH);
          const got = await threads.attend(cache, [0, 1], q, c.nH);
          expect(got.length).toBe(want.length);
          let diff = 0;
          for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
          expect(diff / vmax).toBeLessThanOrEqual(1e-5);
          expect(got.some((x) => x !== 0)).toBe(true);
          cache.append(0, outlierKeys(40, c.nKv, c.d, 9 + step), gaussianKv(40, c.nKv, c.d, 10 + step));
        }
      } finally {
        threads.dispose();
      }
    });
  }

  it('a decode loop: one token per step, sinks filling, tiles sealing, only new tail tokens sent (D46): equals 1 thread exactly', async () => {
    const kv = await load();
    const nKv = 2, d = 64, nH = 8;
    const cache = new kv.PackedKvCache({ key: 'kivi2', value: 'q8_0', nKvHeads: nKv, headDim: d, sinks: 3, window: 16 });
    const single = await kv.WasmBackend.create();
    const threads = await kv.WasmThreadsBackend.create({ threads: 2 });
    try {
      cache.append(0, outlierKeys(1, nKv, d, 1), gaussianKv(1, nKv, d, 2));
      // 1 to 3 tokens a step: the tail crosses window + 32 (a seal) at varying offsets
      for (let step = 0; step < 90; step++) {
        const q = randomQuery(nH, d, 100 + step);
        expect(await threads.attend(cache, [0], q, nH), `step ${step}`).toEqual(single.attendSync(cache, [0], q, nH));
        const n = 1 + (step % 3);
        cache.append(0, outlierKeys(n, nKv, d, 200 + step), gaussianKv(n, nKv, d, 300 + step));
      }
      expect(cache.view(0).tiles).toBeGreaterThanOrEqual(4);
    } finally {
      threads.dispose();
      single.dispose();
    }
  }, 60000);

  it('rejects bad input with typed errors before any work, and a calibrated codec it cannot rebuild with BACKEND_UNAVAILABLE', async () => {
    const kv = await load();
    const threads = await kv.WasmThreadsBackend.create({ threads: 2 });
    try {
      const cache = new kv.PackedKvCache({ key: 'kivi2', value: 'kivi2', nKvHeads: 2, headDim: 64 });
      cache.append(0, outlierKeys(40, 2, 64, 1), gaussianKv(40, 2, 64, 2));
      await expect(threads.attend(cache, [0], new Float32Array(3), 4)).rejects.toMatchObject({ code: 'BAD_SHAPE' });
      await expect(threads.attend(cache, [5], randomQuery(4, 64, 1), 4)).rejects.toMatchObject({ code: 'UNKNOWN_SEQUENCE' });
      const q = randomQuery(4, 64, 1);
      q[3] = Number.NaN;
      await expect(threads.attend(cache, [0], q, 4)).rejects.toMatchObject({ code: 'NON_FINITE' });
      const skvq = new kv.PackedKvCache({ key: 'skvq-k2', value: 'kivi2', nKvHeads: 2, headDim: 64,
        calibration: { key: kv.plainSkvqCalibration('key', 2, 64, 2) } });
      skvq.append(0, outlierKeys(40, 2, 64, 1), gaussianKv(40, 2, 64, 2));
      // a codec object that hides its calibration: the workers could not rebuild it
      Object.defineProperty(skvq.key, 'calibration', { value: undefined });
      await expect(threads.attend(skvq, [0], randomQuery(4, 64, 1), 4)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
      // the failed call left the pool usable
      expect((await threads.attend(cache, [0], randomQuery(4, 64, 1), 4)).length).toBe(4 * 64);
      await expect(kv.WasmThreadsBackend.create({ threads: 0 })).rejects.toMatchObject({ code: 'BAD_PARAM' });
    } finally {
      threads.dispose();
    }
  }, 60000);
});
