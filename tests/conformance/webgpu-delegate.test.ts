/**
 * WebGpuBackend delegates caches whose codecs bring their own WebGPU attention
 * (CodecInfo.kernels.webgpuAttention; CQ's LUT attention) so one backend
 * serves every codec; mixed custom/generic caches are BACKEND_UNAVAILABLE. Tolerance 1e-4 as
 * tests/conformance/cq-webgpu-cases.ts (fixed-point value histograms).
 */
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { KvpackError } from '../../ts/errors.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { makeCqCalibration } from '../../ts/codecs/cq/calibration-format.js';
import { attendReference } from '../../ts/reference/attention.js';
import { WebGpuBackend } from '../../ts/backends/webgpu/backend.js';
import { gaussianKv, makeRng, outlierKeys, randomQuery } from '../helpers/data.js';
import { useGpu } from '../helpers/gpu.js';

const gpuDevice = useGpu();

function calibration(kind: 'key' | 'value', nKv: number, d: number, seed: number) {
  const rng = makeRng(seed);
  const floats = Array.from({ length: nKv * d * 2 ** 8 }, () => rng.gaussian());
  return makeCqCalibration({ channelsPerGroup: 4, bits: 8 }, kind, nKv, d, floats, 'f32');
}

describe('webgpu backend delegation', () => {
  it('a CQ cache runs through WebGpuBackend.attend (CQ LUT attention) within tolerance', async ({ skip }) => {
    const ctx = gpuDevice(); if (!ctx) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)');
    const nKv = 2, d = 16, nHeads = 4;
    const host = new PackedKvCache({ nKvHeads: nKv, headDim: d, key: 'cq-4c8b', value: 'cq-4c8b', window: 4,
      calibration: { key: calibration('key', nKv, d, 1), value: calibration('value', nKv, d, 2) } });
    host.append(0, outlierKeys(100, nKv, d, 3), gaussianKv(100, nKv, d, 4));
    const be = new WebGpuBackend(ctx);
    expect(be.supports(host)).toBe(true);
    const q = randomQuery(nHeads, d, 5);
    const got = await be.attend(host, [0], q, nHeads);
    const ref = attendReference(host, 0, q, nHeads);
    let m = 0, s = 1;
    for (let i = 0; i < ref.length; i++) { m = Math.max(m, Math.abs(got[i]! - ref[i]!)); s = Math.max(s, Math.abs(ref[i]!)); }
    expect(m / s).toBeLessThanOrEqual(1e-4);

    const mixed = new PackedKvCache({ nKvHeads: nKv, headDim: d, key: 'cq-4c8b', value: 'fp16', calibration: { key: calibration('key', nKv, d, 1) } });
    mixed.append(0, outlierKeys(40, nKv, d, 3), gaussianKv(40, nKv, d, 4));
    expect(be.supports(mixed)).toBe(false);
    const err = await be.attend(mixed, [0], q, nHeads).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KvpackError);
    expect((err as KvpackError).code).toBe('BACKEND_UNAVAILABLE');
    be.dispose();
  });
});
