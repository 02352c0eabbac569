#!/usr/bin/env node
/**
 * The WASM conformance suites again on build/kvpack-relaxed.wasm (the relaxed-SIMD build of the
 * kernels, ts/backends/wasm-loader.ts): KVPACK_WASM_BUILD=relaxed forces it, so a runtime that
 * cannot run it fails every case instead of quietly testing the base build. Node 20 validates
 * relaxed SIMD only with --experimental-wasm-relaxed-simd; newer Node has it on by default (and
 * may not know the flag), so the flag is passed only where this process cannot validate it.
 * Usage: node scripts/test-relaxed.mjs [extra vitest args]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// the loader's probe (RELAXED_SIMD_PROBE): one function, f32x4.relaxed_madd of three v128 params
const probe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0,
  10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11]);
const flag = WebAssembly.validate(probe) ? [] : ['--execArgv=--experimental-wasm-relaxed-simd'];
const suites = ['wasm', 'wasm-loader', 'wasm-threads', 'wasm-encoder', 'skvq-wasm', 'cq-wasm', 'qaq-wasm']
  .map((s) => `tests/conformance/${s}.test.ts`);
console.log(`test-relaxed: KVPACK_WASM_BUILD=relaxed${flag.length ? ' with --experimental-wasm-relaxed-simd' : ''}`);
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const r = spawnSync(process.execPath, [vitest, 'run', ...flag, ...suites, ...process.argv.slice(2)], {
  cwd: root, stdio: 'inherit', env: { ...process.env, KVPACK_WASM_BUILD: 'relaxed' },
});
process.exit(r.status ?? 1);
