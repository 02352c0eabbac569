/**
 * GpuCacheOptions.reserveTokens: the page pool's first buffer is sized for the reserved tokens,
 * so a cache that stays within them has one page buffer (one attention dispatch) where the
 * default pool grows by buffers of 1, 2, 4, ... pages (decisions.md#D151). Checks the buffer
 * counts, that attention over both caches is bit-identical (same split boundaries) and close to
 * attendReference, and the typed error for a bad value before any state change. Runs on
 * whatever adapter getGpuDevice finds (Dawn over llvmpipe here); fails without one unless
 * KVPACK_ALLOW_NO_GPU=1, like webgpu.test.ts.
 */
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { KvpackError } from '../../ts/errors.js';
import { GpuKvCache } from '../../ts/backends/webgpu/gpu-cache.js';
import { attendGpu } from '../../ts/backends/webgpu/attend.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { attendReference } from '../../ts/reference/attention.js';
import { ATTENTION_TOLERANCE } from '../../ts/backends/types.js';
import { toleranceError } from '../../ts/conformance/matrix.js';
import { TILE_TOKENS, TILES_PER_PAGE } from '../../ts/format/constants.js';
import { gaussianKv, randomQuery } from '../helpers/data.js';
import { useGpu } from '../helpers/gpu.js';

const gpu = useGpu();

const PAGE_TOKENS = TILE_TOKENS * TILES_PER_PAGE;

describe('GpuKvCache reserveTokens', () => {
  it('one page buffer for a reserved cache, bit-identical attention to the grown pool', async ({ skip }) => {
    const ctx = gpu(); if (!ctx) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)');
    const nKvHeads = 1, headDim = 8, nHeads = 2;
    // 3 pages and a partial tile: the grown pool needs buffers of 1 and 2 pages
    const n = 2 * PAGE_TOKENS + 5 * TILE_TOKENS + 7;
    const opts = { nKvHeads, headDim, key: 'kivi2', value: 'kivi2', window: 0, sinks: 0, gpu: ctx };
    const grown = await GpuKvCache.create(opts);
    const reserved = await GpuKvCache.create({ ...opts, reserveTokens: 3 * PAGE_TOKENS });
    const K = gaussianKv(n, nKvHeads, headDim, 3), V = gaussianKv(n, nKvHeads, headDim, 4);
    for (const c of [grown, reserved]) await c.append(0, K, V);
    expect(grown.pages.buffers.length).toBe(2);
    expect(reserved.pages.buffers.length).toBe(1);
    expect(reserved.pages.firstUnits).toBe(3);

    const q = randomQuery(nHeads, headDim, 9);
    // split boundaries at multiples of 8 tiles fall on the page boundaries of both pools
    const a = await attendGpu(grown, [0], q, nHeads, { tilesPerSplit: 8 });
    const b = await attendGpu(reserved, [0], q, nHeads, { tilesPerSplit: 8 });
    expect(Array.from(b)).toEqual(Array.from(a));
    const host = new PackedKvCache({ nKvHeads, headDim, key: 'kivi2', value: 'kivi2', window: 0, sinks: 0 });
    host.append(0, K, V);
    const ref = attendReference(host, 0, q, nHeads);
    expect(toleranceError(b, ref)).toBeLessThanOrEqual(ATTENTION_TOLERANCE.gpu);

    // past the reservation the pool grows by doubling the first buffer: 3 more pages -> 6
    const K2 = gaussianKv(PAGE_TOKENS + TILE_TOKENS, nKvHeads, headDim, 5);
    await reserved.append(0, K2, K2);
    expect(reserved.pages.buffers.length).toBe(2);
    expect(reserved.pages.buffers[1]!.size).toBe(2 * reserved.pages.buffers[0]!.size);
    grown.destroy(); reserved.destroy();
  });

  it('a bad reserveTokens is a typed BAD_PARAM naming it', async ({ skip }) => {
    const ctx = gpu(); if (!ctx) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)');
    for (const bad of [-1, 1.5, Number.NaN]) {
      const err = await GpuKvCache.create({ nKvHeads: 1, headDim: 8, key: 'kivi2', value: 'kivi2', gpu: ctx, reserveTokens: bad })
        .then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(KvpackError);
      expect((err as KvpackError).code).toBe('BAD_PARAM');
      expect((err as KvpackError).arg).toBe('reserveTokens');
    }
  });
});
