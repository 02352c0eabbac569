/**
 * QAQ WebGPU conformance in Deno (wgpu; CI: Vulkan over Mesa lavapipe): the cases of
 * tests/conformance/qaq-webgpu-cases.ts, also run on Dawn by vitest. Run through
 * `node tests/deno/run.mjs`. Prints a table and `N passed, N failed`; exits non-zero on any
 * failure or when there is no adapter.
 */
import { QaqGpu } from '../../ts/codecs/qaq/webgpu.js';
import { formatQaqGpuResults, qaqGpuCases, runQaqGpuCase, type QaqGpuResult } from '../conformance/qaq-webgpu-cases.js';

declare const Deno: { exit(code: number): never; args: string[] };

let gpu: QaqGpu;
try {
  gpu = await QaqGpu.create();
} catch (e) {
  console.error(`qaq webgpu (deno): no adapter: ${(e as Error).message}`);
  console.log('0 passed, 1 failed');
  Deno.exit(1);
}
console.log(`QAQ webgpu conformance on ${gpu.ctx.description}`);
const filter = Deno.args[0];
const results: QaqGpuResult[] = [];
for (const c of qaqGpuCases()) {
  if (filter && !c.name.includes(filter)) continue;
  try {
    results.push(await runQaqGpuCase(gpu, c));
  } catch (e) {
    console.error(`${c.name}: ${(e as Error).stack ?? e}`);
    results.push({ name: c.name, pass: false, checks: 0, mismatches: 0, worst: NaN, detail: `error: ${(e as Error).message.split('\n')[0]}` });
  }
}
console.log(formatQaqGpuResults(results));
const passed = results.filter((r) => r.pass).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
Deno.exit(results.length - passed > 0 || results.length === 0 ? 1 : 0);
