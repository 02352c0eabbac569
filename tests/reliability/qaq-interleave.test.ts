/**
 * Concurrency and lifetime of QaqKvCache (issue 18): attend calls not awaited, then appends,
 * deletes and re-creates, must answer what sequential execution (await each call) gives, with
 * each packed-attention kernel (TS reference, WASM, WebGPU on Dawn). The caller reuses its
 * query buffer after each call. dispose() frees the kernels' copies; later calls throw.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { QaqKvCache, type QaqCacheOptions } from '../../ts/codecs/qaq/cache.js';
import { QaqWasmAttention } from '../../ts/codecs/qaq/wasm.js';
import { QaqGpu } from '../../ts/codecs/qaq/webgpu.js';
import { KvpackError } from '../../ts/errors.js';
import { gaussianKv, randomQuery } from '../helpers/data.js';
import { interleaveScript, type Op } from '../helpers/interleave.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const nKvHeads = 2, headDim = 16, nHeads = 4;
// window 4 with an attention window of 2: tiles seal after 36 tokens, widths follow the records
const opts = { nKvHeads, headDim, window: 4, qaq: { attentionWindow: 2 } };

/** Runs a script on a fresh cache; concurrent: no attend is awaited before the end. */
async function run(packedAttention: QaqCacheOptions['packedAttention'], ops: Op[], concurrent: boolean, record: boolean): Promise<Float32Array[]> {
  const cache = new QaqKvCache({ ...opts, ...(packedAttention ? { packedAttention } : {}) });
  const qBuf = new Float32Array(3 * nHeads * headDim);
  const results: (Float32Array | Promise<Float32Array>)[] = [];
  try {
    for (const o of ops) {
      if (o.op === 'append') {
        cache.append(o.seq, gaussianKv(o.n, nKvHeads, headDim, o.seed), gaussianKv(o.n, nKvHeads, headDim, o.seed + 7));
      } else if (o.op === 'delete') {
        cache.delete(o.seq);
      } else {
        const q = qBuf.subarray(0, o.seqs.length * nHeads * headDim);
        o.seqs.forEach((_, i) => q.set(randomQuery(nHeads, headDim, o.seed + i), i * nHeads * headDim));
        const p = cache.attend(o.seqs, q, nHeads, record);
        results.push(concurrent ? p : await p);
        q.fill(3); // the caller reuses its buffer: the call must have taken its copy
      }
    }
    return await Promise.all(results);
  } finally {
    cache.dispose();
  }
}

function compare(a: Float32Array[], b: Float32Array[]): { diff: number; differing: number } {
  let diff = 0, differing = 0;
  a.forEach((x, i) => {
    let d = 0;
    for (let j = 0; j < x.length; j++) d = Math.max(d, Math.abs(x[j]! - b[i]![j]!));
    if (!(d === 0)) differing++;
    diff = Math.max(diff, d);
  });
  return { diff, differing };
}

let wasm: QaqWasmAttention, gpu: QaqGpu;
beforeAll(async () => {
  wasm = await QaqWasmAttention.create();
  gpu = await QaqGpu.create();
});
afterAll(() => {
  wasm.dispose();
  gpu.dispose();
});

const kernels: [string, () => QaqCacheOptions['packedAttention']][] = [
  ['ts', () => undefined],
  ['wasm', () => wasm.packedAttention],
  ['webgpu (Dawn)', () => gpu.packedAttention],
];
/**
 * With recording on, the weights an attend records pick the bit widths of tiles sealed later. A
 * synchronous kernel records during the call; with WebGPU the record lands when the kernel
 * completes, so a seal waits for the records of the attends called before it, and attends
 * called after the seal wait for it (docs/reliability.md, "QAQ"): exact on every kernel.
 */
const recordModes: Record<string, boolean[]> = { 'ts': [true, false], 'wasm': [true, false], 'webgpu (Dawn)': [true, false] };

describe('QaqKvCache: attend calls issued without awaiting equal sequential execution', () => {
  for (const [name, kernel] of kernels) for (const record of recordModes[name]!) {
    it(`${name}, record ${record}: 3 random scripts of 80 ops`, async () => {
      const found: { seed: number; attends: number; differing: number; diff: number; error?: string }[] = [];
      // seals that waited for records in flight: only where records land late (WebGPU, recording)
      const deferred = vi.spyOn(QaqKvCache.prototype as unknown as { deferSeal(): void }, 'deferSeal');
      for (const seed of [1, 2, 3]) {
        const ops = interleaveScript(seed, 80);
        const attends = ops.filter((o) => o.op === 'attend').length;
        expect(attends).toBeGreaterThan(20);
        expect(ops.some((o) => o.op === 'delete')).toBe(true);
        const sequential = await run(kernel(), ops, false, record);
        expect(sequential.every((o) => o.every(Number.isFinite) && o.some((x) => x !== 0))).toBe(true);
        try {
          const concurrent = await run(kernel(), ops, true, record);
          found.push({ seed, attends, ...compare(concurrent, sequential) });
        } catch (e) {
          found.push({ seed, attends, differing: attends, diff: NaN, error: String(e) });
        }
      }
      // the same kernels over the same words and the same recorded weights: identical
      expect(found).toEqual(found.map(({ seed, attends }) => ({ seed, attends, differing: 0, diff: 0 })));
      if (name.startsWith('webgpu') && record) expect(deferred.mock.calls.length).toBeGreaterThan(10);
      else expect(deferred).not.toHaveBeenCalled();
      deferred.mockRestore();
    }, 120_000);
  }
});

describe('QaqKvCache on WebGPU: a call in flight keeps the mirror buffers it bound', () => {
  it('an append that grows the GPU offset table does not destroy the buffer a pending attend reads', async () => {
    const q = new Float32Array(nHeads * headDim).map((_, i) => Math.cos(i));
    const outputs = async (concurrent: boolean): Promise<Float32Array[]> => {
      const cache = new QaqKvCache({ ...opts, packedAttention: gpu.packedAttention });
      try {
        const res: (Float32Array | Promise<Float32Array>)[] = [];
        // 2000 tokens: 62 tiles, 248 offset words (the GPU table is made for 496); 4100: 512 words,
        // so the second call replaces the table the first one has yet to bind
        for (const [n, seed] of [[2000, 1], [2100, 2], [40, 3]] as const) {
          cache.append(0, gaussianKv(n, nKvHeads, headDim, seed), gaussianKv(n, nKvHeads, headDim, seed + 9));
          const p = cache.attend([0], q, nHeads, false);
          res.push(concurrent ? p : await p);
        }
        return await Promise.all(res);
      } finally {
        cache.dispose();
      }
    };
    const sequential = await outputs(false);
    expect(compare(await outputs(true), sequential)).toEqual({ diff: 0, differing: 0 });
  }, 120_000);
});

describe('QaqKvCache on WebGPU: saving while attends are in flight', () => {
  it('serialize() is BAD_PARAM until the records land; after settled() it equals the sequential file', async () => {
    const q = new Float32Array(nHeads * headDim).map((_, i) => Math.sin(i));
    const save = async (concurrent: boolean): Promise<Uint8Array> => {
      const cache = new QaqKvCache({ ...opts, packedAttention: gpu.packedAttention });
      try {
        const pending: Promise<Float32Array>[] = [];
        for (let i = 0; i < 6; i++) {
          cache.append(0, gaussianKv(20, nKvHeads, headDim, i), gaussianKv(20, nKvHeads, headDim, i + 50));
          const p = cache.attend([0], q, nHeads);
          if (concurrent) pending.push(p); else await p;
        }
        if (concurrent) {
          expect(() => cache.serialize()).toThrow(expect.objectContaining({ code: 'BAD_PARAM', message: expect.stringMatching(/in flight/) }));
          await cache.settled();
        }
        await Promise.all(pending);
        return cache.serialize();
      } finally {
        cache.dispose();
      }
    };
    expect(await save(true)).toEqual(await save(false));
  }, 60_000);
});

describe('QaqKvCache lifetime', () => {
  for (const [name, kernel] of kernels.filter(([n]) => n !== 'ts')) {
    it(`${name}: 40 caches dropped without dispose() free the kernel's copies once collected`, async () => {
      const live = (): number => (name === 'wasm' ? wasm.liveMirrors : gpu.liveMirrors);
      const before = live();
      // in a function of its own: no variable here keeps the last cache
      const one = async (i: number): Promise<void> => {
        const cache = new QaqKvCache({ ...opts, packedAttention: kernel()! });
        cache.append(0, gaussianKv(80, nKvHeads, headDim, i), gaussianKv(80, nKvHeads, headDim, i + 1));
        cache.append(1, gaussianKv(40, nKvHeads, headDim, i + 2), gaussianKv(40, nKvHeads, headDim, i + 3));
        await cache.attend([0, 1], new Float32Array(2 * nHeads * headDim).fill(0.5), nHeads);
      };
      for (let i = 0; i < 40; i++) await one(i);
      expect(live()).toBeGreaterThan(before);
      for (let i = 0; i < 40 && live() > before; i++) { gc(); await new Promise((r) => setTimeout(r, 25)); }
      expect(live()).toBe(before);
    }, 60_000);
  }

  for (const [name, kernel] of kernels) {
    it(`${name}: dispose() frees the kernel's copies; later calls throw KvpackError`, async () => {
      const before = name === 'wasm' ? wasm.liveMirrors : name === 'ts' ? 0 : gpu.liveMirrors;
      const pa = kernel();
      const cache = new QaqKvCache({ ...opts, ...(pa ? { packedAttention: pa } : {}) });
      cache.append(0, gaussianKv(100, nKvHeads, headDim, 1), gaussianKv(100, nKvHeads, headDim, 2));
      cache.append(1, gaussianKv(70, nKvHeads, headDim, 3), gaussianKv(70, nKvHeads, headDim, 4));
      const q = new Float32Array(2 * nHeads * headDim).map((_, i) => Math.sin(i));
      const pending = cache.attend([0, 1], q, nHeads);
      const live = name === 'wasm' ? wasm.liveMirrors : name === 'ts' ? 0 : gpu.liveMirrors;
      if (name !== 'ts') expect(live).toBe(before + 2);
      const dispose = (Symbol as unknown as { dispose: symbol }).dispose;
      (cache as unknown as Record<symbol, () => void>)[dispose]!();
      expect(cache.disposed).toBe(true);
      // an attend made before dispose still completes (it holds its snapshot)
      const out = await pending;
      expect(out.every(Number.isFinite) && out.some((x) => x !== 0)).toBe(true);
      await new Promise((r) => setTimeout(r, 10));
      expect(name === 'wasm' ? wasm.liveMirrors : name === 'ts' ? 0 : gpu.liveMirrors).toBe(before);
      const calls: [string, () => unknown][] = [
        ['append', () => cache.append(0, gaussianKv(1, nKvHeads, headDim, 1), gaussianKv(1, nKvHeads, headDim, 2))],
        ['attendSync', () => cache.attendSync([0], q.subarray(0, nHeads * headDim), nHeads)],
        ['serialize', () => cache.serialize()],
        ['stats', () => cache.stats()],
      ];
      for (const [what, call] of calls) {
        let err: unknown;
        try { call(); } catch (e) { err = e; }
        expect(err, what).toBeInstanceOf(KvpackError);
        expect((err as KvpackError).message, what).toMatch(/disposed/);
      }
      await expect(cache.attend([0], q.subarray(0, nHeads * headDim), nHeads)).rejects.toThrow(/disposed/);
      expect(cache.sequenceIds()).toEqual([]);
      cache.dispose(); // twice is fine
    });
  }
});
