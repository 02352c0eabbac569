#!/usr/bin/env node
/**
 * Runs the Deno test scripts (tests/deno/*.ts except helpers) with the repo's pinned Deno
 * (npm package `deno`), importing the TS sources directly. `--sloppy-imports` lets Deno resolve
 * the sources' Node-style `./x.js` specifiers to `./x.ts`. wgpu's Vulkan loader wants
 * XDG_RUNTIME_DIR; a private temp dir is provided when it is unset.
 * Exit code: non-zero if any script fails (each prints `N passed, N failed`).
 * Usage: node tests/deno/run.mjs [case-name-filter]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const deno = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'deno.cmd' : 'deno');
const env = { ...process.env };
if (!env.XDG_RUNTIME_DIR) env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'kvpack-xdg-'));

const scripts = readdirSync(here).filter((f) => f.endsWith('.ts')).sort();
let failed = 0;
for (const s of scripts) {
  console.log(`deno: ${s}`);
  // a time limit per script, against hangs (wgpu's requestAdapter where no driver answers), not a
  // speed check: conformance.ts alone took over 300 s on the shared 2-core machine
  const r = spawnSync(deno, ['run', '-A', '--sloppy-imports', join(here, s), ...process.argv.slice(2)],
    { cwd: root, env, stdio: 'inherit', timeout: 1_200_000, killSignal: 'SIGKILL' });
  if (r.error?.code === 'ETIMEDOUT') {
    console.error(`deno: ${s} ran past 1200 s and was killed`);
    failed++;
  } else if (r.error) {
    console.error(`deno: cannot run ${deno}: ${r.error.message}`);
    failed++;
  } else if (r.status !== 0) {
    console.error(`deno: ${s} failed (exit ${r.status ?? r.signal})`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
