/**
 * One runtime's decode-step time on the shared workload (examples/edge-worker/workload.js):
 *   node|bun --no-install|deno run -A step.mjs <dist/index.js> [steps]
 * Builds the cache, makes the WASM backend (the bundle's inlined module, the build the runtime
 * validates), runs 3 warm-up steps, then `steps` timed ones; prints one JSON line.
 */
import { measure } from './measure.mjs';

const args = typeof Deno !== 'undefined' ? Deno.args : process.argv.slice(2);
const kv = await import(new URL(args[0], `file://${typeof Deno !== 'undefined' ? Deno.cwd() : process.cwd()}/`).href);
const steps = Number(args[1] ?? 30);
const rt = typeof Bun !== 'undefined' ? { runtime: 'bun', version: Bun.version }
  : typeof Deno !== 'undefined' ? { runtime: 'deno', version: Deno.version.deno } : { runtime: 'node', version: process.versions.node };
console.log(JSON.stringify({ ...rt, ...(await measure(kv, steps)) }));

