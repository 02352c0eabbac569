/**
 * WebGPU conformance in Deno (wgpu; on CI Vulkan over Mesa lavapipe), one process and one device:
 * 1. the conformance matrix (ts/conformance/matrix.ts): every registered codec on Deno's WebGPU,
 *    WASM and TS, tile words bit for bit and attention vs attendReference, on the shapes small
 *    enough for a software adapter;
 * 2. the same case lists the vitest runs use on Dawn: the WGSL drivers' and GpuKvCache's own cases
 *    (tests/conformance/webgpu-cases.ts) and the subgroup kernel compiled with stand-ins
 *    (fold-sg-compile.ts), then the codec-specific ones: SKVQ's group layouts and folded kernels,
 *    CQ's encoder and attention pipeline, QAQ's records and partials (tests/conformance/
 *    <codec>-webgpu-cases.ts).
 * Run through `node tests/deno/run.mjs [filter]` (a filter: substring of pair or case names).
 * Prints the matrix, a table per case list and `N passed, N failed`; exits non-zero on any failure
 * or when WebGPU or WASM cannot run.
 */
import { formatConformance, runConformance, SOFTWARE_GPU_SHAPES } from '../../ts/conformance/matrix.js';
import { conformanceBackends } from '../../ts/conformance/backends.js';
import { getGpuDevice, type GpuContext } from '../../ts/backends/webgpu/device.js';
import { WebGpuBackend } from '../../ts/backends/webgpu/backend.js';
import { CqWebGpuAttention } from '../../ts/codecs/cq/webgpu.js';
import { QaqGpu } from '../../ts/codecs/qaq/webgpu.js';
import { formatWebGpuResults, runWebGpuCase, webGpuCases } from '../conformance/webgpu-cases.js';
import { compileFoldSg, FOLD_SG_COMPILE_CASES } from '../conformance/fold-sg-compile.js';
import { formatSkvqGpuResults, skvqGpuCases } from '../conformance/skvq-webgpu-cases.js';
import { cqGpuCases, formatCqGpuResults } from '../conformance/cq-webgpu-cases.js';
import { formatQaqGpuResults, qaqGpuCases, runQaqGpuCase } from '../conformance/qaq-webgpu-cases.js';

declare const Deno: { exit(code: number): never; args: string[] };

const filter = Deno.args[0];
let passed = 0, failed = 0;

// 1. the matrix (its own device, released at its end)
const started = performance.now();
const report = await runConformance({
  backends: conformanceBackends(['wasm', 'webgpu']),
  shapes: SOFTWARE_GPU_SHAPES,
  mixed: false,
  ...(filter ? { codecs: [filter] } : {}),
});
console.log(`${formatConformance(report)}\nmatrix: ${((performance.now() - started) / 1000).toFixed(1)} s`);
const cells = report.cells.filter((c) => c.status === 'pass' || c.status === 'fail');
const cellFailures = cells.filter((c) => c.status === 'fail').length + report.backends.filter((b) => !b.ran).length;
passed += cells.length - cells.filter((c) => c.status === 'fail').length;
failed += cellFailures;
if (!filter && cells.length === 0) failed++;

// 2. the case lists, on one device
let gpu: GpuContext;
try {
  gpu = await getGpuDevice();
} catch (e) {
  console.error(`webgpu (deno): no adapter: ${(e as Error).message}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  Deno.exit(1);
}
console.log(`\ncase lists on ${gpu.description}`);

/** Runs the cases whose names pass the filter; an exception fails its case. */
async function runList<C extends { name: string }, R extends { pass: boolean }>(title: string, cases: readonly C[],
  run: (c: C) => Promise<R>, onError: (c: C, message: string) => R, format: (rs: R[]) => string): Promise<void> {
  const results: R[] = [];
  const t0 = performance.now();
  for (const c of cases) {
    if (filter && !c.name.includes(filter)) continue;
    try {
      results.push(await run(c));
    } catch (e) {
      console.error(`${c.name}: ${(e as Error).stack ?? e}`);
      results.push(onError(c, `error: ${(e as Error).message.split('\n')[0]}`));
    }
  }
  if (!results.length) return;
  console.log(`\n${title}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n${format(results)}`);
  const ok = results.filter((r) => r.pass).length;
  passed += ok;
  failed += results.length - ok;
}

const backend = new WebGpuBackend(gpu);
await runList('WGSL drivers and GpuKvCache (webgpu-cases.ts)', webGpuCases(), (c) => runWebGpuCase(c, backend),
  (c, msg) => ({ name: c.name, tiles: 0, tileMismatches: 0, firstMismatch: msg, mirrorErr: NaN, residentErr: NaN, tol: 0, pass: false, ms: 0 }),
  formatWebGpuResults);
// the subgroup kernel cannot run on a software adapter (no subgroups): compiled with stand-ins
const compileCases = FOLD_SG_COMPILE_CASES.map((c) => ({ ...c, name: `compile fold-sg ${c.key}/${c.value} d${c.headDim} group ${c.group}` }));
await runList('fold-sg compiled with stand-ins (fold-sg-compile.ts)', compileCases, async (c) => {
  const errs = await compileFoldSg(gpu.device, c).catch((e: Error) => [e.message]);
  return { name: c.name, pass: errs.length === 0, detail: errs.join('; ') };
}, (c, detail) => ({ name: c.name, pass: false, detail }), (rs) => rs.map((r) => `${r.name.padEnd(50)} ${r.pass ? 'pass' : `FAIL ${r.detail}`}`).join('\n'));
await runList('SKVQ (skvq-webgpu-cases.ts)', skvqGpuCases(), (c) => c.run(gpu), (c, detail) => ({ name: c.name, pass: false, detail }), formatSkvqGpuResults);
const cq = new CqWebGpuAttention(gpu);
await runList('CQ (cq-webgpu-cases.ts)', cqGpuCases(), (c) => c.run(cq), (c, detail) => ({ name: c.name, pass: false, detail }), formatCqGpuResults);
const qaq = new QaqGpu(gpu);
await runList('QAQ (qaq-webgpu-cases.ts)', qaqGpuCases(), (c) => runQaqGpuCase(qaq, c),
  (c, detail) => ({ name: c.name, pass: false, checks: 0, mismatches: 0, worst: NaN, detail }), formatQaqGpuResults);
qaq.dispose();
backend.dispose();

console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed > 0 || passed === 0 ? 1 : 0);
