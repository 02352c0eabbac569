/**
 * Device loss (issue 18), on Dawn: device.destroy() in the middle of a decode loop. The WebGPU
 * backend answers DEVICE_LOST (the call in flight and every later one, no hang); the result of
 * chooseBackend({ failover: true }) moves to WASM with the host cache intact and from then on
 * returns exactly what a WASM backend returns, the interrupted call included.
 */
import { describe, expect, it } from 'vitest';
import * as kv from '../../ts/index.js';
import { gaussianKv, randomQuery } from '../helpers/data.js';

const shape = { nKvHeads: 2, headDim: 32, key: 'kivi4', value: 'q8_0', window: 8, sinks: 2 } as const;
const nHeads = 4;

/** max |a - ref| / max(1, max |ref|): the measure of the backends' tolerances (ATTENTION_TOLERANCE). */
function confErr(a: Float32Array, ref: Float32Array): number {
  let d = 0, m = 1;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i]! - ref[i]!)); m = Math.max(m, Math.abs(ref[i]!)); }
  return d / m;
}

describe('GPU device lost mid-decode', () => {
  it('WebGpuBackend: the call in flight and later calls reject with DEVICE_LOST', async () => {
    const be = await kv.WebGpuBackend.create();
    const cache = new kv.PackedKvCache(shape);
    cache.append(0, gaussianKv(100, 2, 32, 1), gaussianKv(100, 2, 32, 2));
    const q = randomQuery(nHeads, 32, 3);
    await be.attend(cache, [0], q, nHeads);
    const inFlight = be.attend(cache, [0], q, nHeads);
    be.gpu.device.destroy();
    await expect(inFlight).rejects.toMatchObject({ code: 'DEVICE_LOST' });
    cache.append(0, gaussianKv(1, 2, 32, 4), gaussianKv(1, 2, 32, 5));
    await expect(be.attend(cache, [0], q, nHeads)).rejects.toMatchObject({ code: 'DEVICE_LOST' });
  });

  it('chooseBackend({ failover: true }): WASM takes over with the same outputs as WASM', async () => {
    const log: string[] = [];
    const { backend } = await kv.chooseBackend({ env: {}, allowSoftwareGpu: true, failover: true, log: (l) => log.push(l) });
    expect(backend).toBeInstanceOf(kv.FailoverBackend);
    const fo = backend as kv.FailoverBackend;
    expect(fo.name).toBe('webgpu');
    const wasm = await kv.WasmBackend.create();
    const cache = new kv.PackedKvCache(shape);
    cache.append(0, gaussianKv(70, 2, 32, 1), gaussianKv(70, 2, 32, 2));
    cache.append(1, gaussianKv(45, 2, 32, 3), gaussianKv(45, 2, 32, 4));
    expect(wasm.attentionTolerance(cache, nHeads)).toBe(kv.ATTENTION_TOLERANCE.integer);
    const q = new Float32Array(2 * nHeads * 32);
    let lostAt = -1;
    for (let step = 0; step < 24; step++) {
      q.set(randomQuery(nHeads, 32, 100 + step), 0);
      q.set(randomQuery(nHeads, 32, 200 + step), nHeads * 32);
      const want = wasm.attendSync(cache, [0, 1], q, nHeads);
      const ref = new Float32Array(q.length);
      for (const s of [0, 1]) ref.set(kv.attendReference(cache, s, q.subarray(s * nHeads * 32, (s + 1) * nHeads * 32), nHeads), s * nHeads * 32);
      const p = backend.attend(cache, [0, 1], q, nHeads);
      if (step === 10) {
        (fo.current as kv.WebGpuBackend).gpu.device.destroy(); // lost with this step in flight
        lostAt = step;
      }
      const got = await p;
      // within the tolerance of the backend that answered (WebGPU's, then WASM's: its integer
      // kernels run for these KIVI-4 keys in groups of 2), taken from the failover backend
      const tol = fo.attentionTolerance(cache, nHeads);
      expect(tol).toBe(step < lostAt || lostAt < 0 ? kv.ATTENTION_TOLERANCE.gpu : wasm.attentionTolerance(cache, nHeads));
      expect(confErr(got, ref), `step ${step} (${fo.name}) vs the reference`).toBeLessThanOrEqual(tol);
      if (step >= lostAt && lostAt >= 0) expect(got, `step ${step} (after the loss: wasm)`).toEqual(want);
      // the decode goes on: one token per sequence and step
      cache.append(0, gaussianKv(1, 2, 32, 300 + step), gaussianKv(1, 2, 32, 400 + step));
      cache.append(1, gaussianKv(1, 2, 32, 500 + step), gaussianKv(1, 2, 32, 600 + step));
    }
    expect(fo.name).toBe('wasm');
    expect(fo.failovers).toHaveLength(1);
    expect(fo.failovers[0]!.reason).toMatch(/^DEVICE_LOST/);
    expect(log.some((l) => /backend webgpu lost .* continuing on wasm/.test(l))).toBe(true);
    backend.dispose();
  });
});
