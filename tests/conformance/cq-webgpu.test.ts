/**
 * CQ on WebGPU, Dawn in Node: the cases of tests/conformance/cq-webgpu-cases.ts (also run on wgpu by
 * tests/deno/matrix.ts). No adapter FAILS unless KVPACK_ALLOW_NO_GPU=1, then it says so loudly.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { CqWebGpuAttention } from '../../ts/codecs/cq/webgpu.js';
import { getGpuDevice } from '../../ts/backends/webgpu/device.js';
import { cqGpuCases, formatCqGpuResults, type CqGpuResult } from './cq-webgpu-cases.js';

let gpu: CqWebGpuAttention | undefined;
let unavailable: string | undefined;
try {
  gpu = new CqWebGpuAttention(await getGpuDevice());
} catch (e) {
  unavailable = (e as Error).message;
}
const allowNoGpu = process.env.KVPACK_ALLOW_NO_GPU === '1';
if (unavailable && allowNoGpu) console.warn(`webgpu: unavailable (${unavailable}); CQ WebGPU conformance NOT RUN`);

const results: CqGpuResult[] = [];
afterAll(() => { if (results.length) console.log(`CQ WebGPU on ${gpu?.gpu.description}\n${formatCqGpuResults(results)}`); });

describe.skipIf(unavailable !== undefined && allowNoGpu)('CQ WebGPU (Dawn)', () => {
  it('has an adapter', () => {
    expect(unavailable, 'no WebGPU adapter (set KVPACK_ALLOW_NO_GPU=1 to allow)').toBeUndefined();
  });
  for (const c of cqGpuCases()) {
    it(c.name, async () => {
      const r = await c.run(gpu!);
      results.push(r);
      expect(r.pass, r.detail).toBe(true);
    });
  }
});
