/**
 * Save and restore on WebGPU (Dawn): a GpuKvCache saves by downloading its pages (the same bytes
 * as the host cache holding the same tokens), restores by uploading them, and keeps sealing
 * tiles on the GPU word for word as the never-saved cache; attention over restored caches is
 * bit-identical (GPU-resident attendGpu, and the WebGpuBackend mirroring a restored host cache).
 * Needs an adapter (fails without one unless KVPACK_ALLOW_NO_GPU=1).
 */
import { describe, expect, it } from 'vitest';
import { PackedKvCache } from '../../ts/index.js';
import { WebGpuBackend } from '../../ts/backends/webgpu/backend.js';
import { GpuKvCache } from '../../ts/backends/webgpu/gpu-cache.js';
import { attendGpu } from '../../ts/backends/webgpu/attend.js';
import { randomQuery } from '../helpers/data.js';
import { appendRange, caseData, saveCases } from './cases.js';
import { useGpu } from '../helpers/gpu.js';

const gpuDevice = useGpu();

async function gpuAppend(g: GpuKvCache, seq: number, d: { k: Float32Array; v: Float32Array }, from: number, to: number): Promise<void> {
  const tf = g.layout.tokenFloats;
  for (let at = from; at < to;) {
    const n = Math.min(to - at, 1 + ((at * 7) % 45));
    await g.append(seq, d.k.subarray(at * tf, (at + n) * tf), d.v.subarray(at * tf, (at + n) * tf));
    at += n;
  }
}

describe('GpuKvCache save and restore (WebGPU, Dawn)', () => {
  for (const c of saveCases().filter((x) => /kivi2|skvq/.test(x.name))) {
    it(`${c.name}: GPU-saved bytes = host-saved bytes; restored on the GPU, +300 tokens, every word and output equal`, async ({ skip }) => {
      const ctx = gpuDevice(); if (!ctx) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)');
      const d = caseData(c, 1000, 31);
      const never = await GpuKvCache.create({ ...c.opts, gpu: ctx, pagesPerBuffer: 3 });
      const saved = await GpuKvCache.create({ ...c.opts, gpu: ctx, pagesPerBuffer: 3 });
      const host = new PackedKvCache(c.opts);
      await gpuAppend(never, 0, d, 0, 1000);
      await gpuAppend(saved, 0, d, 0, 700);
      appendRange(host, 0, d, 0, 700);
      const bytes = await saved.serialize();
      // the GPU encoders write the TS words, so the GPU's file is the host's, byte for byte
      expect(bytes).toEqual(host.serialize());
      const restored = await GpuKvCache.deserialize(bytes, { gpu: ctx, pagesPerBuffer: 2 });
      const q = randomQuery(c.nHeads, c.opts.headDim, 9);
      expect(await attendGpu(restored, [0], q, c.nHeads)).toEqual(await attendGpu(saved, [0], q, c.nHeads));
      await gpuAppend(restored, 0, d, 700, 1000);
      expect(restored.length(0)).toBe(1000);
      expect(await restored.serialize()).toEqual(await never.serialize());
      expect(await attendGpu(restored, [0], q, c.nHeads)).toEqual(await attendGpu(never, [0], q, c.nHeads));

      // a host cache restored from the bytes, attended through the WebGPU backend (mirror)
      const be = new WebGpuBackend(ctx);
      try {
        const hostRestored = PackedKvCache.deserialize(bytes);
        expect(await be.attend(hostRestored, [0], q, c.nHeads)).toEqual(await be.attend(host, [0], q, c.nHeads));
      } finally { be.dispose(); }
      for (const g of [never, saved, restored]) g.destroy();
    }, 120_000);
  }
});
