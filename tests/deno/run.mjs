#!/usr/bin/env node
/**
 * Runs the Deno test scripts (tests/deno/*.ts except helpers) with the repo's pinned Deno
 * (npm package `deno`), importing the TS sources directly. `--sloppy-imports` lets Deno resolve
 * the sources' Node-style `./x.js` specifiers to `./x.ts`. wgpu's Vulkan loader wants
 * XDG_RUNTIME_DIR; a private temp dir is provided when it is unset.
 *
 * No hangs (issue 18): on Linux the scripts need a Vulkan driver (Mesa lavapipe on a machine
 * without a GPU). Without one, wgpu found an adapter some other way and a script ran for 28
 * minutes with no output; so a missing loader or ICD fails at once, naming the packages
 * (KVPACK_DENO_SKIP_VULKAN_CHECK=1 runs anyway), and each script has a time limit
 * (KVPACK_DENO_TIMEOUT_S, default 1200 s: matrix.ts, every WebGPU case list in one process, and
 * saved-cache.ts took 212 s together on the shared 2-core machine at load ~10).
 * Exit code: non-zero if any script fails (each prints `N passed, N failed`).
 * Usage: node tests/deno/run.mjs [case-name-filter]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const deno = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'deno.cmd' : 'deno');
const env = { ...process.env };
if (!env.XDG_RUNTIME_DIR) env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'kvpack-xdg-'));
const timeoutS = Number(env.KVPACK_DENO_TIMEOUT_S ?? 1200);

/** What is missing for wgpu's Vulkan path on Linux, or undefined when a loader and an ICD exist. */
export function missingVulkan(e = process.env) {
  if (process.platform !== 'linux') return undefined;
  const libDirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/lib64',
    ...(e.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)];
  const loader = libDirs.some((d) => existsSync(join(d, 'libvulkan.so.1')));
  const listed = [e.VK_ICD_FILENAMES, e.VK_DRIVER_FILES].filter(Boolean).join(':').split(':').filter(Boolean);
  const icdDirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d',
    ...(e.XDG_DATA_DIRS ?? '').split(':').filter(Boolean).map((d) => join(d, 'vulkan', 'icd.d'))];
  const icd = listed.some((f) => existsSync(f)) ||
    icdDirs.some((d) => existsSync(d) && readdirSync(d).some((f) => f.endsWith('.json')));
  const missing = [];
  if (!loader) missing.push('the Vulkan loader libvulkan.so.1 (Debian/Ubuntu package libvulkan1)');
  if (!icd) missing.push('a Vulkan driver ICD, e.g. Mesa lavapipe (package mesa-vulkan-drivers: /usr/share/vulkan/icd.d/lvp_icd.*.json)');
  return missing.length ? missing : undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const missing = env.KVPACK_DENO_SKIP_VULKAN_CHECK === '1' ? undefined : missingVulkan(env);
  if (missing) {
    console.error(`deno: WebGPU tests need Vulkan on Linux; missing ${missing.join(' and ')}.\n` +
      'Install: sudo apt-get install -y mesa-vulkan-drivers libvulkan1 (README.md "Install"), ' +
      'or set KVPACK_DENO_SKIP_VULKAN_CHECK=1 to try anyway (each script still stops after KVPACK_DENO_TIMEOUT_S).');
    process.exit(1);
  }
  const scripts = readdirSync(here).filter((f) => f.endsWith('.ts')).sort();
  let failed = 0;
  for (const s of scripts) {
    console.log(`deno: ${s}`);
    const t0 = Date.now();
    const r = spawnSync(deno, ['run', '-A', '--sloppy-imports', join(here, s), ...process.argv.slice(2)],
      { cwd: root, env, stdio: 'inherit', timeout: timeoutS * 1000, killSignal: 'SIGKILL' });
    if (r.error && r.error.code !== 'ETIMEDOUT') {
      console.error(`deno: cannot run ${deno}: ${r.error.message}`);
      failed++;
    } else if (r.signal || r.status !== 0) {
      const timedOut = r.signal && Date.now() - t0 >= timeoutS * 1000 - 100;
      console.error(timedOut
        ? `deno: ${s} did not finish within ${timeoutS} s (KVPACK_DENO_TIMEOUT_S) and was killed: is the adapter a slow fallback? (deno: navigator.gpu adapter info is printed at the start)`
        : `deno: ${s} failed (exit ${r.status ?? r.signal})`);
      failed++;
    }
  }
  process.exit(failed ? 1 : 0);
}
