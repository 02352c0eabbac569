/**
 * The shared Dawn device for WebGPU test files. `KVPACK_ALLOW_NO_GPU=1` lets a machine without an
 * adapter report those tests as skipped instead of failing, outside CI only: in CI a missing
 * adapter is an error.
 */
import { beforeAll } from 'vitest';
import { getGpuDevice, type GpuContext } from '../../ts/backends/webgpu/device.js';

export const allowNoGpu = process.env.KVPACK_ALLOW_NO_GPU === '1' && process.env.CI !== 'true';

/**
 * Opens the device before the file's tests (call at module level). The returned function gives
 * the device, throws when there is none, or returns undefined when `allowNoGpu` says a test may
 * skip.
 */
export function useGpu(): () => GpuContext | undefined {
  let ctx: GpuContext | undefined;
  let unavailable: string | undefined;
  beforeAll(async () => {
    try { ctx = await getGpuDevice(); } catch (e) { unavailable = (e as Error).message; }
  });
  return () => {
    if (!ctx && !allowNoGpu) throw new Error(`no WebGPU adapter: ${unavailable}`);
    return ctx;
  };
}
