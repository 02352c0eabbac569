/**
 * WebGPU conformance in Deno (wgpu; on CI: Vulkan over Mesa lavapipe), the same cases as the
 * vitest run on Dawn (tests/conformance/webgpu-cases.ts). Run through `node tests/deno/run.mjs`
 * (sets up the environment and Deno's flags). Prints a per-case table and a final line
 * `N passed, N failed`; exits non-zero on any failure or when there is no adapter.
 */
import { getGpuDevice } from '../../ts/backends/webgpu/device.js';
import { WebGpuBackend } from '../../ts/backends/webgpu/backend.js';
import { formatWebGpuResults, runWebGpuCase, webGpuCases, type WebGpuCaseResult } from '../conformance/webgpu-cases.js';
import { compileFoldSg, FOLD_SG_COMPILE_CASES } from '../conformance/fold-sg-compile.js';

declare const Deno: { exit(code: number): never; args: string[] };

let backend: WebGpuBackend;
try {
  backend = new WebGpuBackend(await getGpuDevice());
} catch (e) {
  console.error(`webgpu (deno): no adapter: ${(e as Error).message}`);
  console.log('0 passed, 1 failed');
  Deno.exit(1);
}
console.log(`webgpu conformance on ${backend.description}`);
// optional filter: substring of case names
const filter = Deno.args[0];
const results: WebGpuCaseResult[] = [];
const errors: string[] = [];
for (const c of webGpuCases()) {
  if (filter && !c.name.includes(filter)) continue;
  try {
    results.push(await runWebGpuCase(c, backend));
  } catch (e) {
    errors.push(`${c.name}: ${(e as Error).stack ?? e}`);
    results.push({ name: c.name, tiles: 0, tileMismatches: 0, firstMismatch: `error: ${(e as Error).message.split('\n')[0]}`,
      mirrorErr: NaN, residentErr: NaN, tol: 0, pass: false, ms: 0 });
  }
}
console.log(formatWebGpuResults(results));
for (const e of errors) console.error(e);
// the subgroup kernel cannot run here (no subgroups): compile it with stand-ins (fold-sg-compile.ts)
let compiled = 0;
const compileFailures: string[] = [];
for (const c of FOLD_SG_COMPILE_CASES) {
  const name = `compile fold-sg ${c.key}/${c.value} d${c.headDim} group ${c.group}`;
  if (filter && !name.includes(filter)) continue;
  const errs = await compileFoldSg(backend.gpu.device, c).catch((e: Error) => [e.message]);
  console.log(`${name.padEnd(50)} ${errs.length ? `FAIL ${errs.join('; ')}` : 'pass'}`);
  if (errs.length) compileFailures.push(name); else compiled++;
}
const passed = results.filter((r) => r.pass).length + compiled;
const failed = results.length - results.filter((r) => r.pass).length + compileFailures.length;
console.log(`${passed} passed, ${failed} failed`);
backend.dispose();
Deno.exit(failed > 0 || passed + failed === 0 ? 1 : 0);
