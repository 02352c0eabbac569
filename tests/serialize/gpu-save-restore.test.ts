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
import { createCodec } from '../../ts/codecs/registry.js';
import { RotatedCodec } from '../../ts/codecs/rotation.js';
import { attendReference } from '../../ts/reference/attention.js';
import { ATTENTION_TOLERANCE } from '../../ts/backends/types.js';
import { toleranceError } from '../../ts/conformance/matrix.js';
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

  it('a host-saved rotated cache (q4_0@rk@rv, 4 sinks and a 32-token window) restored on the GPU: attention equals the host cache\'s, +tokens word for word', async ({ skip }) => {
    const ctx = gpuDevice(); if (!ctx) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)');
    const d = 64, nKvHeads = 2, nHeads = 6;
    const rot = (kind: 'key' | 'value') => new RotatedCodec(createCodec('q4_0', { kind, headDim: d, nKvHeads }));
    const opts = { nKvHeads, headDim: d, key: rot('key'), value: rot('value'), window: 32, sinks: 4 };
    const c = { name: 'q4_0@rk@rv', nHeads, opts };
    const data = caseData(c, 300, 41);
    const host = new PackedKvCache(opts), never = new PackedKvCache(opts);
    appendRange(host, 0, data, 0, 200);
    appendRange(never, 0, data, 0, 300);
    // the file's fp rows are in model space; the GPU cache holds them rotated (decisions.md#D32)
    const restored = await GpuKvCache.deserialize(host.serialize(), { gpu: ctx });
    try {
      const q = randomQuery(nHeads, d, 5);
      const ref = attendReference(host, 0, q, nHeads), got = await attendGpu(restored, [0], q, nHeads);
      expect(toleranceError(got, ref)).toBeLessThan(ATTENTION_TOLERANCE.gpu);
      await gpuAppend(restored, 0, data, 200, 300);
      for (let p = 0; p < never.view(0).pages.length; p++) {
        const tiles = Math.min(64, never.view(0).tiles - 64 * p);
        expect((await restored.readPage(0, p)).subarray(0, tiles * never.tileSlotWords)).toEqual(never.view(0).pages[p]!.subarray(0, tiles * never.tileSlotWords));
      }
      await expect(restored.serialize()).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    } finally { restored.destroy(); }
  }, 120_000);
});
