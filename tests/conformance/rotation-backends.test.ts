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
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { conformancePairs, formatConformance, runConformance, SOFTWARE_GPU_SHAPES, type ConformanceReport } from '../../ts/conformance/matrix.js';
import { conformanceBackends } from '../../ts/conformance/backends.js';
import { allowNoGpu, useGpu } from '../helpers/gpu.js';
import { attendInto, GpuKvCache } from '../../ts/backends/webgpu/index.js';
import { BufferUsage } from '../../ts/backends/webgpu/device.js';

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
  it('the matrix lists rotated pairs on both streams and on keys only', () => {
    const names = conformancePairs().pairs.filter((p) => p.rotate).map((p) => p.name);
    expect(names).toEqual(['kivi2@rk', 'q4_0@rk@rv']);
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

  it('WebGPU paths with no rotation pass (GPU-buffer queries and rows, serialize) throw BACKEND_UNAVAILABLE', async () => {
    const ctx = gpu();
    if (!ctx) return;
    const d = 64, nKvHeads = 1;
    const key = new RotatedCodec(createCodec('q4_0', { kind: 'key', headDim: d, nKvHeads }));
    const value = createCodec('q4_0', { kind: 'value', headDim: d, nKvHeads });
    const cache = await GpuKvCache.create({ gpu: ctx, headDim: d, nKvHeads, key, value });
    try {
      const buf = ctx.device.createBuffer({ size: 4 * d * 4, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST });
      const enc = ctx.device.createCommandEncoder();
      await expect(attendInto(enc, cache, [0], { queries: { buffer: buf }, output: { buffer: buf }, nHeads: 1 }))
        .rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
      await expect(cache.appendFromGpu(0, { buffer: buf }, { buffer: buf }, 1)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
      expect(cache.length(0)).toBe(0);
      await expect(cache.serialize()).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
      buf.destroy();
    } finally {
      cache.destroy();
    }
  });

  it('encodeTileWasm does not pack a rotated codec as its inner one: BACKEND_UNAVAILABLE', async () => {
    const rot = new RotatedCodec(createCodec('q4_0', { kind: 'key', headDim: 64, nKvHeads: 1 }));
    await expect(encodeTileWasm(rot, 'key', 64, new Float32Array(TILE_TOKENS * 64))).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });
});
