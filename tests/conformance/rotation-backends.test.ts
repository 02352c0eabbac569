/**
 * Rotated pairings (`@rk` / `@rv`, RotatedCodec) on the WASM and WebGPU backends: the rotation is
 * folded at the backend boundary around the inner codec's kernels (docs/decisions.md#D135). The
 * conformance matrix's rotated pairs only, on every backend here: words bit for bit against the
 * TS reference, attention against attendReference.
 */
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { createCodec } from '../../ts/codecs/registry.js';
import { RotatedCodec } from '../../ts/codecs/rotation.js';
import { encodeTileWasm } from '../../ts/backends/wasm.js';
import { WasmThreadsBackend } from '../../ts/backends/wasm-threads.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { conformancePairs, formatConformance, runConformance, SOFTWARE_GPU_SHAPES, toleranceError, type ConformanceReport } from '../../ts/conformance/matrix.js';
import { conformanceBackends } from '../../ts/conformance/backends.js';
import { allowNoGpu, useGpu } from '../helpers/gpu.js';
import { attendGpu, attendInto, GpuKvCache } from '../../ts/backends/webgpu/index.js';
import { BufferUsage, MAP_READ_MODE } from '../../ts/backends/webgpu/device.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { attendReference } from '../../ts/reference/attention.js';
import { gaussianKv, outlierKeys, randomQuery } from '../../ts/util/kv-data.js';

const gpu = useGpu();

const ROTATED = ['@rk', '@rv'];

function check(report: ConformanceReport, backend: string): void {
  const cells = report.cells.filter((c) => c.backend === backend);
  expect(cells.filter((c) => c.status === 'fail').map((c) => `${c.pair} ${c.shape}: ${c.detail ?? c.err}`)).toEqual([]);
  // every rotated pair ran (no 'no kernels' fallback) on the power-of-two shapes
  for (const pair of new Set(cells.map((c) => c.pair))) {
    const ran = cells.filter((c) => c.pair === pair && c.status === 'pass');
    expect(ran.length, `${pair} on ${backend}`).toBeGreaterThanOrEqual(2);
  }
  expect(cells.some((c) => c.status === 'no kernels')).toBe(false);
}

describe('rotated pairings on WASM and WebGPU', () => {
  it('the matrix lists rotated pairs on both streams and on keys only, calibrated codecs included', () => {
    const names = conformancePairs().pairs.filter((p) => p.rotate).map((p) => p.name);
    expect(names).toEqual(['kivi2@rk', 'q4_0@rk@rv', 'skvq-k2/skvq-v1.5@rk@rv', 'cq-4c8b@rk']);
  });

  it('TS, WASM and WASM threads: words bit-identical, attention within tolerance', async () => {
    const names = ['ts', 'wasm', 'wasm-threads'];
    const report = await runConformance({
      backends: conformanceBackends(names, { workerModule: new URL('../../dist/index.js', import.meta.url) }), codecs: ROTATED,
    });
    console.log(formatConformance(report));
    for (const n of names) {
      expect(report.backends.find((b) => b.name === n)?.ran, n).toBe(true);
      check(report, n);
    }
    expect(report.cells.some((c) => c.backend === 'wasm' && c.pair === 'q4_0@rk@rv' && (c.tiles ?? 0) > 0)).toBe(true);
  }, 300_000);

  it('WebGPU (Dawn here): words of the GPU encoders bit-identical, attention within tolerance', async () => {
    const report = await runConformance({ backends: conformanceBackends(['webgpu']), shapes: SOFTWARE_GPU_SHAPES, codecs: ROTATED });
    console.log(formatConformance(report));
    if (allowNoGpu && !report.backends[0]!.ran) return;
    expect(report.backends[0]!.ran, report.backends[0]!.reason).toBe(true);
    check(report, 'webgpu');
    expect(report.cells.filter((c) => c.status === 'pass' && (c.tiles ?? 0) > 0).length).toBeGreaterThanOrEqual(6);
  }, 300_000);

  it('WebGPU attendInto (the WGSL rotation pre- and post-pass) matches attendReference; GPU-buffer appends throw BACKEND_UNAVAILABLE', async () => {
    const ctx = gpu();
    if (!ctx) return;
    const d = 64, nKvHeads = 2, nHeads = 6, dev = ctx.device;
    const key = new RotatedCodec(createCodec('q4_0', { kind: 'key', headDim: d, nKvHeads }));
    const value = new RotatedCodec(createCodec('q4_0', { kind: 'value', headDim: d, nKvHeads }));
    const opts = { headDim: d, nKvHeads, key, value, window: 8, sinks: 2 };
    const cache = await GpuKvCache.create({ ...opts, gpu: ctx });
    const host = new PackedKvCache(opts);
    const lengths = [100, 45];
    try {
      for (const [s, n] of lengths.entries()) {
        const K = outlierKeys(n, nKvHeads, d, 3 + s), V = gaussianKv(n, nKvHeads, d, 9 + s);
        await cache.append(s, K, V);
        host.append(s, K, V);
      }
      const per = nHeads * d, bytes = lengths.length * per * 4;
      const q = new Float32Array(lengths.length * per);
      lengths.forEach((_, s) => q.set(randomQuery(nHeads, d, 40 + s), s * per));
      const qBuf = dev.createBuffer({ size: bytes, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST });
      const oBuf = dev.createBuffer({ size: bytes, usage: BufferUsage.COPY_SRC | BufferUsage.COPY_DST });
      const rb = dev.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
      dev.queue.writeBuffer(qBuf, 0, q);
      const enc = dev.createCommandEncoder();
      await attendInto(enc, cache, [0, 1], { queries: { buffer: qBuf }, output: { buffer: oBuf }, nHeads });
      enc.copyBufferToBuffer(oBuf, 0, rb, 0, bytes);
      dev.queue.submit([enc.finish()]);
      await rb.mapAsync(MAP_READ_MODE);
      const got = new Float32Array(rb.getMappedRange().slice(0));
      rb.unmap();
      let err = 0, scale = 1;
      for (const s of [0, 1]) {
        const ref = attendReference(host, s, q.subarray(s * per, (s + 1) * per), nHeads);
        for (let i = 0; i < per; i++) {
          err = Math.max(err, Math.abs(got[s * per + i]! - ref[i]!));
          scale = Math.max(scale, Math.abs(ref[i]!));
        }
      }
      expect(err / scale).toBeLessThan(2e-4);
      // the host-array path agrees too
      const viaHost = await attendGpu(cache, [0, 1], q, nHeads);
      for (let i = 0; i < got.length; i++) expect(Math.abs(viaHost[i]! - got[i]!)).toBeLessThan(2e-4 * scale);
      await expect(cache.appendFromGpu(0, { buffer: qBuf }, { buffer: qBuf }, 1)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
      expect(cache.length(0)).toBe(lengths[0]);
      await expect(cache.serialize()).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
      for (const b of [qBuf, oBuf, rb]) b.destroy();
    } finally {
      cache.destroy();
    }
  });

  it('WASM threads with one KV head (tiles split over workers, merged by softmax statistics) match attendReference', async () => {
    const d = 64, nKvHeads = 1, nHeads = 3;
    const key = new RotatedCodec(createCodec('kivi2', { kind: 'key', headDim: d, nKvHeads }));
    const value = new RotatedCodec(createCodec('q4_0', { kind: 'value', headDim: d, nKvHeads }));
    const cache = new PackedKvCache({ headDim: d, nKvHeads, key, value, window: 4, sinks: 1 });
    cache.append(0, outlierKeys(300, nKvHeads, d, 5), gaussianKv(300, nKvHeads, d, 6));
    const q = randomQuery(nHeads, d, 7);
    const threads = await WasmThreadsBackend.create({ threads: 2, workerModule: new URL('../../dist/index.js', import.meta.url) });
    try {
      const got = await threads.attend(cache, [0], q, nHeads);
      const ref = attendReference(cache, 0, q, nHeads);
      // rotated KIVI-2 keys in a group of 3: the integer kernels' tier (the backend's report)
      expect(toleranceError(got, ref)).toBeLessThanOrEqual(threads.attentionTolerance(cache, nHeads));
    } finally {
      threads.dispose();
    }
  });

  it('encodeTileWasm does not pack a rotated codec as its inner one: BACKEND_UNAVAILABLE', async () => {
    const rot = new RotatedCodec(createCodec('q4_0', { kind: 'key', headDim: 64, nKvHeads: 1 }));
    await expect(encodeTileWasm(rot, 'key', 64, new Float32Array(TILE_TOKENS * 64))).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });
});
