/**
 * The conformance subset (conformance.mjs) on the WebGPU backend, in whatever runtime runs this
 * file (Bun and Node: Dawn through the npm `webgpu` addon; Deno: wgpu):
 *   bun --no-install webgpu-smoke.mjs <path to dist/index.js>
 * Prints one JSON line last: runtime, version, adapter, results; or { error } when no adapter.
 */
import { runConformance } from './conformance.mjs';

const args = typeof Deno !== 'undefined' ? Deno.args : process.argv.slice(2);
const kv = await import(new URL(args[0], `file://${typeof Deno !== 'undefined' ? Deno.cwd() : process.cwd()}/`).href);
const rt = typeof Bun !== 'undefined' ? { runtime: 'bun', version: Bun.version }
  : typeof Deno !== 'undefined' ? { runtime: 'deno', version: Deno.version.deno } : { runtime: 'node', version: process.versions.node };
const exit = (code) => (typeof Deno !== 'undefined' ? Deno.exit(code) : process.exit(code));
let backend;
try {
  backend = await kv.createWebGpuBackend();
} catch (e) {
  console.log(JSON.stringify({ ...rt, error: String(e.message) }));
  exit(2);
}
const conf = await runConformance(kv, backend, { log: (l) => console.error(l) });
console.log(JSON.stringify({ ...rt, adapter: backend.description, passed: conf.passed, failed: conf.failed, results: conf.results }));
backend.dispose();
exit(conf.failed ? 1 : 0);
