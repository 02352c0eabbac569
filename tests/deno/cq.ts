/**
 * CQ WebGPU conformance in Deno (wgpu; CI: Vulkan over Mesa lavapipe): the cases of
 * tests/conformance/cq-webgpu-cases.ts, also run on Dawn by vitest. Run through
 * `node tests/deno/run.mjs`. Prints a table and `N passed, N failed`; exits non-zero on any
 * failure or when there is no adapter.
 */
import { CqWebGpuAttention } from '../../ts/codecs/cq/webgpu.js';
import { cqGpuCases, formatCqGpuResults, type CqGpuResult } from '../conformance/cq-webgpu-cases.js';

declare const Deno: { exit(code: number): never; args: string[] };

let gpu: CqWebGpuAttention;
try {
  gpu = await CqWebGpuAttention.create();
} catch (e) {
  console.error(`cq webgpu (deno): no adapter: ${(e as Error).message}`);
  console.log('0 passed, 1 failed');
  Deno.exit(1);
}
console.log(`CQ webgpu conformance on ${gpu.gpu.description}`);
const filter = Deno.args[0];
const results: CqGpuResult[] = [];
for (const c of cqGpuCases()) {
  if (filter && !c.name.includes(filter)) continue;
  try {
    results.push(await c.run(gpu));
  } catch (e) {
    console.error(`${c.name}: ${(e as Error).stack ?? e}`);
    results.push({ name: c.name, pass: false, detail: `error: ${(e as Error).message.split('\n')[0]}` });
  }
}
console.log(formatCqGpuResults(results));
const passed = results.filter((r) => r.pass).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
Deno.exit(results.length - passed > 0 || results.length === 0 ? 1 : 0);
