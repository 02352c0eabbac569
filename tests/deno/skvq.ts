/**
 * SKVQ WebGPU conformance in Deno (wgpu; CI: Vulkan over Mesa lavapipe): the cases of
 * tests/conformance/skvq-webgpu-cases.ts, also run on Dawn by vitest. Run through
 * `node tests/deno/run.mjs`. Prints a table and `N passed, N failed`; exits non-zero on any
 * failure or when there is no adapter.
 */
import { getGpuDevice } from '../../ts/backends/webgpu/device.js';
import type { GpuContext } from '../../ts/backends/webgpu/device.js';
import { formatSkvqGpuResults, skvqGpuCases, type SkvqGpuResult } from '../conformance/skvq-webgpu-cases.js';

declare const Deno: { exit(code: number): never; args: string[] };

let gpu: GpuContext;
try {
  gpu = await getGpuDevice();
} catch (e) {
  console.error(`skvq webgpu (deno): no adapter: ${(e as Error).message}`);
  console.log('0 passed, 1 failed');
  Deno.exit(1);
}
console.log(`SKVQ webgpu conformance on ${gpu.description}`);
const filter = Deno.args[0];
const results: SkvqGpuResult[] = [];
for (const c of skvqGpuCases()) {
  if (filter && !c.name.includes(filter)) continue;
  try {
    results.push(await c.run(gpu));
  } catch (e) {
    console.error(`${c.name}: ${(e as Error).stack ?? e}`);
    results.push({ name: c.name, pass: false, detail: `error: ${(e as Error).message.split('\n')[0]}` });
  }
}
console.log(formatSkvqGpuResults(results));
const passed = results.filter((r) => r.pass).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
Deno.exit(results.length - passed > 0 || results.length === 0 ? 1 : 0);
