/**
 * SKVQ on WebGPU, Dawn in Node: the cases of tests/conformance/skvq-webgpu-cases.ts (also run on
 * wgpu by tests/deno/matrix.ts). No adapter FAILS, unless KVPACK_ALLOW_NO_GPU=1, which says so loudly.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { getGpuDevice, type GpuContext } from '../../ts/backends/webgpu/index.js';
import { formatSkvqGpuResults, skvqGpuCases, type SkvqGpuResult } from './skvq-webgpu-cases.js';

const results: SkvqGpuResult[] = [];
afterAll(() => console.log(`SKVQ webgpu conformance (Dawn):\n${formatSkvqGpuResults(results)}`));

let gpu: GpuContext | undefined;
let unavailable: string | undefined;
try {
  gpu = await getGpuDevice();
} catch (e) {
  unavailable = (e as Error).message;
}
const allowNoGpu = process.env.KVPACK_ALLOW_NO_GPU === '1';
if (unavailable && allowNoGpu) console.warn(`webgpu: unavailable (${unavailable}); SKVQ WebGPU conformance NOT RUN`);

describe.skipIf(unavailable !== undefined && allowNoGpu)('SKVQ WebGPU (Dawn)', () => {
  it('has an adapter', () => {
    expect(unavailable, 'no WebGPU adapter (set KVPACK_ALLOW_NO_GPU=1 to allow)').toBeUndefined();
  });
  for (const c of skvqGpuCases()) {
    it(c.name, async () => {
      const r = await c.run(gpu!);
      results.push(r);
      expect(r.pass, r.detail).toBe(true);
    });
  }
});
