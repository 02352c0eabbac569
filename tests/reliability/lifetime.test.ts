/**
 * Lifetime (issue 18): cache.dispose() / [Symbol.dispose] frees what every backend holds for it
 * at once; WASM memory freed by one cache is reused by the next (memory does not grow); the
 * 4 GiB ceiling error carries the numbers; a disposed cache refuses appends and attends.
 */
import { describe, expect, it } from 'vitest';
import * as kv from '../../ts/index.js';
import { gaussianKv, randomQuery } from '../helpers/data.js';

const shape = { nKvHeads: 2, headDim: 16, key: 'q4_0', value: 'kivi2', window: 4, sinks: 1 } as const;

describe('cache lifetime', () => {
  it('dispose and Symbol.dispose free WASM and WebGPU copies; a disposed cache refuses calls', async () => {
    const wasm = await kv.WasmBackend.create();
    const gpu = await kv.WebGpuBackend.create();
    const q = randomQuery(4, 16, 1);
    const a = new kv.PackedKvCache(shape), b = new kv.PackedKvCache(shape);
    for (const c of [a, b]) {
      c.append(0, gaussianKv(100, 2, 16, 1), gaussianKv(100, 2, 16, 2));
      await wasm.attend(c, [0], q, 4);
      await gpu.attend(c, [0], q, 4);
    }
    expect(wasm.bytesInUse).toBeGreaterThan(0);
    expect(gpu.liveMirrors).toBe(2);
    a.dispose();
    const dispose = (Symbol as unknown as { dispose: symbol }).dispose;
    (b as unknown as Record<symbol, () => void>)[dispose]!();
    expect(wasm.bytesInUse).toBe(0);
    await new Promise((r) => setTimeout(r, 10)); // WebGPU mirrors go once calls made on them settle
    expect(gpu.liveMirrors).toBe(0);
    expect(() => a.append(0, gaussianKv(1, 2, 16, 1), gaussianKv(1, 2, 16, 2))).toThrow(/cache was disposed/);
    await expect(wasm.attend(a, [0], q, 4)).rejects.toThrow(/cache was disposed/);
    await expect(gpu.attend(b, [0], q, 4)).rejects.toThrow(/cache was disposed/);
    gpu.dispose();
    // the backend refuses calls after dispose() (issue 18: it still answered)
    const c = new kv.PackedKvCache(shape);
    c.append(0, gaussianKv(40, 2, 16, 1), gaussianKv(40, 2, 16, 2));
    await expect(gpu.attend(c, [0], q, 4)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });

  it('forget() and dispose() during a WebGPU attend: the call completes correctly, later calls are refused', async () => {
    const gpu = await kv.WebGpuBackend.create();
    const ref = await kv.WasmBackend.create();
    const cache = new kv.PackedKvCache(shape);
    cache.append(0, gaussianKv(100, 2, 16, 1), gaussianKv(100, 2, 16, 2));
    const q = randomQuery(4, 16, 1);
    const want = ref.attendSync(cache, [0], q, 4);
    const a = gpu.attend(cache, [0], q, 4);
    gpu.forget(cache); // was: UNKNOWN_SEQUENCE for the call in flight
    const b = gpu.attend(cache, [0], q, 4);
    gpu.dispose();
    for (const got of [await a, await b]) {
      let d = 0;
      for (let i = 0; i < got.length; i++) d = Math.max(d, Math.abs(got[i]! - want[i]!));
      expect(d).toBeLessThan(1e-4);
    }
    await expect(gpu.attend(cache, [0], q, 4)).rejects.toThrow(/WebGpuBackend was disposed/);
    await new Promise((r) => setTimeout(r, 10));
    expect(gpu.liveMirrors).toBe(0);
  });

  it('WASM memory freed by a large cache is reused by the next one', async () => {
    const wasm = await kv.WasmBackend.create();
    const big = { nKvHeads: 8, headDim: 128, key: 'fp32', value: 'fp32' } as const;
    const fill = (): kv.PackedKvCache => {
      const c = new kv.PackedKvCache(big);
      c.append(0, gaussianKv(4096, 8, 128, 1), gaussianKv(4096, 8, 128, 2)); // 32 MiB of tiles
      return c;
    };
    const q = randomQuery(8, 128, 3);
    const first = fill();
    await wasm.attend(first, [0], q, 8);
    const grown = wasm.wasm.memory.buffer.byteLength;
    expect(grown).toBeGreaterThan(32 << 20);
    first.dispose();
    for (let i = 0; i < 3; i++) {
      const next = fill();
      await wasm.attend(next, [0], q, 8);
      next.dispose();
      expect(wasm.wasm.memory.buffer.byteLength).toBe(grown);
    }
    expect(wasm.bytesInUse).toBe(0);
  }, 60_000);

  it('the 4 GiB ceiling error says what was asked and what is held', async () => {
    const wasm = await kv.WasmBackend.create();
    let err: unknown;
    try { wasm.wasm.arena.alloc(2 ** 32); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(kv.KvpackError);
    expect((err as kv.KvpackError).code).toBe('BACKEND_UNAVAILABLE');
    expect((err as Error).message).toMatch(/exceed 4 GiB: a block of 4294967296 bytes needs \d+ bytes; \d+ bytes are held by caches and calls, \d+ free/);
  });
});
