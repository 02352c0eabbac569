#!/usr/bin/env node
/**
 * The WASM conformance suites again on build/kvpack-relaxed.wasm (the relaxed-SIMD build of the
 * kernels, ts/backends/wasm-loader.ts): KVPACK_WASM_BUILD=relaxed forces it, so a runtime that
 * cannot run it fails every case instead of quietly testing the base build. Node 20 validates
 * relaxed SIMD only with --experimental-wasm-relaxed-simd; newer Node has it on by default (and
 * may not know the flag), so the flag is passed only where this process cannot validate it.
 * Usage: node scripts/test-relaxed.mjs [extra vitest args]   (after npm run build)
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// the loader's own probe, from the bundle (npm test builds dist/ first)
const { relaxedSimdSupported } = await import(new URL('../dist/index.js', import.meta.url).href);
const flag = relaxedSimdSupported() ? [] : ['--execArgv=--experimental-wasm-relaxed-simd'];
const suites = ['wasm', 'wasm-loader', 'wasm-threads', 'wasm-encoder', 'wasm-integer', 'skvq-wasm', 'skvq-integer', 'cq-wasm', 'qaq-wasm']
  .map((s) => `tests/conformance/${s}.test.ts`);
console.log(`test-relaxed: KVPACK_WASM_BUILD=relaxed${flag.length ? ' with --experimental-wasm-relaxed-simd' : ''}`);
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const r = spawnSync(process.execPath, [vitest, 'run', ...flag, ...suites, ...process.argv.slice(2)], {
  cwd: root, stdio: 'inherit', env: { ...process.env, KVPACK_WASM_BUILD: 'relaxed' },
  // every external process has a time limit (issue 18): these suites take ~2 min on 2 cores
  timeout: Number(process.env.KVPACK_TEST_TIMEOUT_S ?? 900) * 1000, killSignal: 'SIGKILL',
});
if (r.error || r.signal) console.error(`test-relaxed: vitest ${r.signal ? `killed (${r.signal}) after the time limit` : `failed: ${r.error?.message}`}`);
process.exit(r.status ?? 1);
