/**
 * One smoke run of kvpack in whatever runtime executes this file (Node, Deno, Bun):
 *   node|deno run -A|bun --no-install smoke.mjs <module> [--precompiled]
 * <module>: what to import as kvpack (`kvpack` from an installed package, or a path to
 * dist/index.js). With --precompiled the WASM backend is made the way workerd and bundlers do it:
 * the `kvpack/wasm/<build>` file (package export) compiled to a WebAssembly.Module by the caller
 * and passed to createWasmBackend(module); otherwise from the bundle's inlined bytes.
 * Runs the conformance subset (conformance.mjs) on that backend and the backend probe
 * (chooseBackend probeAll), and prints one JSON line last: runtime, version, build, results.
 */
import { runConformance } from './conformance.mjs';

const args = typeof Deno !== 'undefined' ? Deno.args : process.argv.slice(2);
const spec = args.find((a) => !a.startsWith('--'));
const precompiled = args.includes('--precompiled');
const kv = await import(spec.startsWith('.') || spec.startsWith('/') ? new URL(spec, `file://${cwd()}/`).href : spec);

function cwd() {
  return typeof Deno !== 'undefined' ? Deno.cwd() : process.cwd();
}

function runtime() {
  if (typeof Bun !== 'undefined') return { runtime: 'bun', version: Bun.version };
  if (typeof Deno !== 'undefined') return { runtime: 'deno', version: Deno.version.deno };
  return { runtime: 'node', version: process.versions.node };
}

let backend;
let source = 'inline';
if (precompiled) {
  const build = kv.relaxedSimdSupported() ? 'relaxed' : 'base';
  const url = import.meta.resolve(`kvpack/wasm/${build}`);
  const { readFile } = await import('node:fs/promises');
  const module = await WebAssembly.compile(await readFile(new URL(url)));
  backend = await kv.createWasmBackend(module);
  source = `kvpack/wasm/${build} -> ${url.split('/').slice(-2).join('/')}`;
} else {
  backend = await kv.createWasmBackend();
}
// each case's tolerance as the backend reports it (exact 1e-5, or the integer tier: conformance.mjs)
const conf = await runConformance(kv, backend, { log: (l) => console.error(l) });
backend.dispose();

// The probe report: which backends work here and why the others do not (WebGPU in Bun: Dawn).
const { backend: chosen, report } = await kv.chooseBackend({ probeAll: true, probeTimeoutMs: 30_000 });
chosen.dispose();
console.log(JSON.stringify({
  ...runtime(), source, build: backend.wasm.build, description: backend.description,
  passed: conf.passed, failed: conf.failed, results: conf.results,
  probe: report.attempts.map((a) => ({ name: a.name, ok: a.ok, reason: a.reason })),
}));
// Dawn's instance keeps the event loop alive in some runtimes: the run is over.
if (typeof Deno !== 'undefined') Deno.exit(conf.failed ? 1 : 0);
process.exit(conf.failed ? 1 : 0);
