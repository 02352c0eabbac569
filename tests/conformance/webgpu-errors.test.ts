/**
 * WebGPU backend error paths: bad input is a typed KvpackError naming the argument, thrown
 * before any state changes or GPU work; a lost device gives DEVICE_LOST on later calls instead
 * of a hang. Needs an adapter like webgpu.test.ts (fails without one unless KVPACK_ALLOW_NO_GPU=1).
 */
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { KvpackError } from '../../ts/errors.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { createCodec } from '../../ts/codecs/registry.js';
import { BufferUsage, GpuContext, getGpuDevice } from '../../ts/backends/webgpu/device.js';
import { WebGpuBackend } from '../../ts/backends/webgpu/backend.js';
import { GpuKvCache } from '../../ts/backends/webgpu/gpu-cache.js';
import { gaussianKv, randomQuery } from '../helpers/data.js';
import { useGpu } from '../helpers/gpu.js';

const gpu = useGpu();

async function expectKvpack(p: Promise<unknown> | (() => unknown), code: string, arg?: string): Promise<void> {
  let err: unknown;
  try { await (typeof p === 'function' ? p() : p); } catch (e) { err = e; }
  expect(err, `expected KvpackError ${code}`).toBeInstanceOf(KvpackError);
  expect((err as KvpackError).code).toBe(code);
  if (arg !== undefined) expect((err as KvpackError).arg).toBe(arg);
}

const shape = { nKvHeads: 2, headDim: 16, key: 'q4_0', value: 'kivi2', window: 4, sinks: 1 } as const;

describe('webgpu bad input', () => {
  it('attend rejects bad q, nHeads, sequences with typed errors', async ({ skip }) => {
    const c = gpu(); if (!c) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)');
    const be = new WebGpuBackend(c);
    const host = new PackedKvCache(shape);
    host.append(0, gaussianKv(40, 2, 16, 1), gaussianKv(40, 2, 16, 2));
    const q = randomQuery(4, 16, 3);
    await expectKvpack(be.attend(host, [0], q.subarray(1), 4), 'BAD_SHAPE', 'q');
    await expectKvpack(be.attend(host, [0], randomQuery(3, 16, 3), 3), 'BAD_SHAPE', 'nHeads');
    const nan = q.slice(); nan[5] = NaN;
    await expectKvpack(be.attend(host, [0], nan, 4), 'NON_FINITE', 'q');
    await expectKvpack(be.attend(host, [7], q, 4), 'UNKNOWN_SEQUENCE', 'seq');
    // still works afterwards
    expect((await be.attend(host, [0], q, 4)).length).toBe(4 * 16);
    be.dispose();
  });

  it('a codec without WGSL kernels is BACKEND_UNAVAILABLE naming the stream', async ({ skip }) => {
    const c = gpu(); if (!c) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)');
    const fp32 = createCodec('fp32', { kind: 'value', headDim: 16, nKvHeads: 2 });
    const mystery = Object.create(fp32, { name: { value: 'mystery' } }) as typeof fp32;
    const host = new PackedKvCache({ ...shape, value: mystery });
    host.append(0, gaussianKv(3, 2, 16, 1), gaussianKv(3, 2, 16, 2));
    const be = new WebGpuBackend(c);
    expect(be.supports(host)).toBe(false);
    expect(be.supports(new PackedKvCache(shape))).toBe(true);
    await expectKvpack(be.attend(host, [0], randomQuery(2, 16, 3), 2), 'BACKEND_UNAVAILABLE', 'value');
    be.dispose();
  });

  it('GpuKvCache.append validates before changing state', async ({ skip }) => {
    const c = gpu(); if (!c) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)');
    const g = await GpuKvCache.create({ ...shape, gpu: c });
    await g.append(0, gaussianKv(37, 2, 16, 1), gaussianKv(37, 2, 16, 2));
    expect(g.length(0)).toBe(37);
    const bad = gaussianKv(40, 2, 16, 5); bad[100] = Infinity;
    await expectKvpack(g.append(0, bad, gaussianKv(40, 2, 16, 6)), 'NON_FINITE', 'keys');
    await expectKvpack(g.append(0, gaussianKv(2, 2, 16, 5).subarray(3), gaussianKv(2, 2, 16, 6)), 'BAD_SHAPE', 'keys');
    await expectKvpack(g.append(0, gaussianKv(2, 2, 16, 5), gaussianKv(3, 2, 16, 6)), 'BAD_SHAPE', 'values');
    await expectKvpack(g.append(-1, gaussianKv(2, 2, 16, 5), gaussianKv(2, 2, 16, 6)), 'BAD_PARAM', 'seq');
    const dev = c.device, rowBytes = 2 * 16 * 4;
    const src = dev.createBuffer({ size: 10 * rowBytes, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC });
    const noCopy = dev.createBuffer({ size: 10 * rowBytes, usage: BufferUsage.STORAGE });
    await expectKvpack(g.appendFromGpu(0, { buffer: src }, { buffer: src }, 0), 'BAD_SHAPE', 'n');
    await expectKvpack(g.appendFromGpu(0, { buffer: src, offset: 2 }, { buffer: src }, 1), 'BAD_PARAM', 'keys');
    await expectKvpack(g.appendFromGpu(0, { buffer: src }, { buffer: src, offset: 5 * rowBytes }, 6), 'BAD_SHAPE', 'values');
    await expectKvpack(g.appendFromGpu(0, { buffer: src }, { buffer: noCopy }, 1), 'BAD_PARAM', 'values');
    src.destroy(); noCopy.destroy();
    expect(g.length(0)).toBe(37);
    expect(g.sequence(0)!.tiles).toBe(1);
    await expectKvpack(g.readPage(3, 0), 'UNKNOWN_SEQUENCE', 'seq');
    await expectKvpack(GpuKvCache.create({ ...shape, headDim: 12, gpu: c }), 'BAD_PARAM', 'headDim');
    await expectKvpack(GpuKvCache.create({ ...shape, pagesPerBuffer: 0, gpu: c }), 'BAD_PARAM', 'pagesPerBuffer');
    const be = new WebGpuBackend(c);
    await expectKvpack(be.attendResident(g, [0], randomQuery(4, 16, 1).subarray(16), 4), 'BAD_SHAPE', 'q');
    await expectKvpack(be.attendResident(g, [], new Float32Array(0), 4), 'BAD_SHAPE', 'seqs');
    await expectKvpack(be.attendResident(g, [0, 2], randomQuery(8, 16, 1), 4), 'UNKNOWN_SEQUENCE', 'seqs');
    g.destroy();
  });
});

describe('webgpu device loss', () => {
  it('calls after the device is lost throw DEVICE_LOST instead of hanging', async ({ skip }) => {
    const c = gpu(); if (!c) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)');
    // a private device, so the shared one stays usable for other tests
    const adapter = await c.instance!.requestAdapter({ featureLevel: 'compatibility' });
    expect(adapter).not.toBeNull();
    const own = new GpuContext(await adapter!.requestDevice(), 'private test device');
    own.instance = c.instance;
    const be = new WebGpuBackend(own);
    const host = new PackedKvCache(shape);
    host.append(0, gaussianKv(50, 2, 16, 1), gaussianKv(50, 2, 16, 2));
    const q = randomQuery(4, 16, 3);
    expect((await be.attend(host, [0], q, 4)).length).toBe(64);
    own.device.destroy();
    await own.device.lost;
    await expectKvpack(be.attend(host, [0], q, 4), 'DEVICE_LOST', 'device');
    await expectKvpack(GpuKvCache.create({ ...shape, gpu: own }), 'DEVICE_LOST', 'device');
    // loss while a call is in flight: it settles (result or DEVICE_LOST), it does not hang
    const adapter2 = await c.instance!.requestAdapter({ featureLevel: 'compatibility' }); // an adapter makes one device
    const own2 = new GpuContext(await adapter2!.requestDevice(), 'private test device 2');
    own2.instance = c.instance;
    const be2 = new WebGpuBackend(own2);
    const inFlight = be2.attend(host, [0], q, 4).then((r) => r.length, (e: unknown) => e);
    own2.device.destroy();
    const settled = await inFlight;
    if (typeof settled !== 'number') {
      expect(settled).toBeInstanceOf(KvpackError);
      expect((settled as KvpackError).code).toBe('DEVICE_LOST');
    }
    await expectKvpack(be2.attend(host, [0], q, 4), 'DEVICE_LOST', 'device');
    // the shared context is unaffected and getGpuDevice still answers
    expect((await getGpuDevice()).lostReason).toBeUndefined();
  });
});
