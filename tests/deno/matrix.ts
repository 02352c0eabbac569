/**
 * The conformance matrix (ts/conformance/matrix.ts) in Deno: every registered codec on Deno's
 * WebGPU (wgpu; on CI Vulkan over Mesa lavapipe), WASM and TS, tile words bit for bit and
 * attention vs attendReference. Shapes: head_dim 8 and 64 (the software adapter is slow). Run
 * through `node tests/deno/run.mjs`. Prints the matrix and `N passed, N failed`; exits non-zero on
 * any failure or when WebGPU or WASM cannot run.
 */
import { CONFORMANCE_SHAPES, formatConformance, runConformance } from '../../ts/conformance/matrix.js';
import { conformanceBackends } from '../../ts/conformance/backends.js';

declare const Deno: { exit(code: number): never; args: string[] };

const filter = Deno.args[0];
const report = await runConformance({
  backends: conformanceBackends(['wasm', 'webgpu']),
  shapes: CONFORMANCE_SHAPES.slice(0, 2),
  ...(filter ? { codecs: [filter] } : {}),
});
console.log(formatConformance(report));
const run = report.cells.filter((c) => c.status === 'pass' || c.status === 'fail');
const failed = run.filter((c) => c.status === 'fail').length + report.backends.filter((b) => !b.ran).length;
console.log(`${run.length - run.filter((c) => c.status === 'fail').length} passed, ${failed} failed`);
Deno.exit(failed > 0 || run.length === 0 ? 1 : 0);
