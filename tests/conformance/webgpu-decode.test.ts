/**
 * WebGPU backend over a growing cache, as in generation: one token appended then one attend per
 * step, on the host-mirror path (incremental upload) and the GPU-resident path (GPU sealing),
 * with concurrent calls and a host sequence deleted and re-created (the mirror must notice).
 * Tolerance as tests/conformance/webgpu-cases.ts. Needs an adapter (fails without one unless
 * KVPACK_ALLOW_NO_GPU=1).
 */
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { attendReference } from '../../ts/reference/attention.js';
import { WebGpuBackend } from '../../ts/backends/webgpu/backend.js';
import { GpuKvCache } from '../../ts/backends/webgpu/gpu-cache.js';
import { gaussianKv, outlierKeys, randomQuery } from '../helpers/data.js';
import { ATTEND_TOL } from './webgpu-cases.js';
import { useGpu } from '../helpers/gpu.js';

const gpuDevice = useGpu();

function relErr(got: Float32Array, ref: Float32Array): number {
  let m = 0, s = 1;
  for (let i = 0; i < ref.length; i++) { m = Math.max(m, Math.abs(got[i]! - ref[i]!)); s = Math.max(s, Math.abs(ref[i]!)); }
  return m / s;
}

describe('webgpu decode loop', () => {
  it('append one token, attend, repeat: mirror and resident agree with the reference at every step', async ({ skip }) => {
    const ctx = gpuDevice(); if (!ctx) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)');
    const nKv = 2, d = 64, nHeads = 4, steps = 60;
    const opts = { nKvHeads: nKv, headDim: d, key: 'kivi4', value: 'q8_0', window: 6, sinks: 2 } as const;
    const host = new PackedKvCache(opts);
    const gpu = await GpuKvCache.create({ ...opts, gpu: ctx });
    const be = new WebGpuBackend(ctx, { tilesPerSplit: 1 });
    const K = outlierKeys(steps + 20, nKv, d, 3), V = gaussianKv(steps + 20, nKv, d, 4);
    const tf = nKv * d;
    host.append(0, K.subarray(0, 20 * tf), V.subarray(0, 20 * tf));
    await gpu.append(0, K.subarray(0, 20 * tf), V.subarray(0, 20 * tf));
    let worst = 0;
    for (let i = 20; i < 20 + steps; i++) {
      host.append(0, K.subarray(i * tf, (i + 1) * tf), V.subarray(i * tf, (i + 1) * tf));
      await gpu.append(0, K.subarray(i * tf, (i + 1) * tf), V.subarray(i * tf, (i + 1) * tf));
      const q = randomQuery(nHeads, d, 100 + i);
      const ref = attendReference(host, 0, q, nHeads);
      // two calls in flight on each cache: they share scratch buffers and must serialize
      const [m, r] = await Promise.all([be.attend(host, [0], q, nHeads), be.attendResident(gpu, [0], q, nHeads)]);
      worst = Math.max(worst, relErr(m, ref), relErr(r, ref));
      expect(gpu.length(0)).toBe(host.length(0));
      expect(gpu.sequence(0)!.tiles).toBe(host.view(0).tiles);
    }
    expect(host.view(0).tiles).toBeGreaterThanOrEqual(2);
    expect(worst).toBeLessThanOrEqual(ATTEND_TOL);
    be.dispose();
    gpu.destroy();
  });

  it('mirror notices a host sequence deleted and re-created with other tokens', async ({ skip }) => {
    const ctx = gpuDevice(); if (!ctx) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)');
    const nKv = 1, d = 8, nHeads = 2;
    const host = new PackedKvCache({ nKvHeads: nKv, headDim: d, key: 'q4_0', value: 'q4_0' });
    const be = new WebGpuBackend(ctx);
    const q = randomQuery(nHeads, d, 1);
    host.append(5, gaussianKv(100, nKv, d, 1), gaussianKv(100, nKv, d, 2));
    expect(relErr(await be.attend(host, [5], q, nHeads), attendReference(host, 5, q, nHeads))).toBeLessThanOrEqual(ATTEND_TOL);
    host.delete(5);
    host.append(5, gaussianKv(130, nKv, d, 7), gaussianKv(130, nKv, d, 8));
    expect(relErr(await be.attend(host, [5], q, nHeads), attendReference(host, 5, q, nHeads))).toBeLessThanOrEqual(ATTEND_TOL);
    host.delete(5);
    host.append(5, gaussianKv(40, nKv, d, 9), gaussianKv(40, nKv, d, 10));
    expect(relErr(await be.attend(host, [5], q, nHeads), attendReference(host, 5, q, nHeads))).toBeLessThanOrEqual(ATTEND_TOL);
    // same length, different tokens, tail only: length alone cannot tell
    host.delete(5);
    host.append(5, gaussianKv(40, nKv, d, 11), gaussianKv(40, nKv, d, 12));
    expect(relErr(await be.attend(host, [5], q, nHeads), attendReference(host, 5, q, nHeads))).toBeLessThanOrEqual(ATTEND_TOL);
    host.delete(5);
    host.append(5, gaussianKv(20, nKv, d, 13), gaussianKv(20, nKv, d, 14));
    await be.attend(host, [5], q, nHeads);
    host.delete(5);
    host.append(5, gaussianKv(20, nKv, d, 15), gaussianKv(20, nKv, d, 16));
    expect(relErr(await be.attend(host, [5], q, nHeads), attendReference(host, 5, q, nHeads))).toBeLessThanOrEqual(ATTEND_TOL);
    be.dispose();
  });
});
