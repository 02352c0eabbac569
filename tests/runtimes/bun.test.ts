/**
 * Bun (npm `@oven/bun-linux-x64`, the binary inside the package), always with --no-install so a
 * probe never downloads a missing import: the dist bundle's WASM conformance subset and probe
 * report; WebGPU through Dawn (the npm `webgpu` addon) with EGL_PLATFORM set before Bun starts,
 * and the exact reason when it is not (Bun's process.env writes do not reach libc getenv, so
 * the value kvpack sets inside the process never reaches Mesa's EGL).
 * Needs dist/ (npm run build). Results feed the README runtime table (scripts/runtime-table.mjs).
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haveRuntime, lastJson, recordRuntime, root, RUNTIMES, runLimited } from './record.js';

const bun = RUNTIMES.bun.path;
const present = haveRuntime('bun');
const allowNoGpu = process.env.KVPACK_ALLOW_NO_GPU === '1';

function runBun(script: string, env: Record<string, string | undefined>) {
  const childEnv: Record<string, string | undefined> = { ...process.env, XDG_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'kvpack-bun-')), ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const r = runLimited(bun, ['--no-install', join(root, 'tests', 'runtimes', script), join(root, 'dist', 'index.js')],
    { cwd: root, env: childEnv as NodeJS.ProcessEnv, timeoutMs: 120_000 });
  expect(r.timedOut, `bun ${script} ran past 120 s`).toBe(false);
  return r;
}

describe.skipIf(!present)('Bun', () => {
  it('WASM conformance subset from the dist bundle (relaxed build), and the probe report', () => {
    const r = runBun('smoke.mjs', {});
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson<{ version: string; build: string; description: string; passed: number; failed: number; probe: { name: string; ok: boolean; reason: string }[] }>(r.stdout);
    expect(out.failed).toBe(0);
    expect(out.passed).toBeGreaterThanOrEqual(7);
    expect(out.build).toBe('relaxed');
    expect(out.probe.find((p) => p.name === 'wasm')?.ok).toBe(true);
    recordRuntime({ runtime: 'bun', version: out.version, backend: 'wasm', status: 'pass',
      detail: `${out.description}; ${out.passed} cases`, test: 'tests/runtimes/bun.test.ts, package.test.ts' });
  }, 300_000);

  it('WebGPU (Dawn addon) with EGL_PLATFORM=surfaceless set before start: the conformance subset', () => {
    // KVPACK_DAWN=opengl: Mesa's GL (llvmpipe) adapter directly, as bench/gpu does
    const r = runBun('webgpu-smoke.mjs', { EGL_PLATFORM: 'surfaceless', KVPACK_DAWN: 'opengl' });
    const out = lastJson<{ version: string; adapter?: string; error?: string; passed: number; failed: number }>(r.stdout);
    if (out.error && allowNoGpu) {
      console.warn(`bun webgpu: unavailable (${out.error}); allowed by KVPACK_ALLOW_NO_GPU=1`);
      recordRuntime({ runtime: 'bun', version: out.version, backend: 'webgpu', status: 'unavailable', detail: out.error, test: 'tests/runtimes/bun.test.ts' });
      return;
    }
    expect(out.error, 'no adapter (set KVPACK_ALLOW_NO_GPU=1 on machines without Mesa)').toBeUndefined();
    expect(r.code, r.stderr).toBe(0);
    expect(out.failed).toBe(0);
    expect(out.passed).toBeGreaterThanOrEqual(7);
    recordRuntime({ runtime: 'bun', version: out.version, backend: 'webgpu', status: 'pass',
      detail: `${out.adapter}; ${out.passed} cases; needs EGL_PLATFORM in the environment before Bun starts on a machine without a display`, test: 'tests/runtimes/bun.test.ts' });
  }, 300_000);

  it('without EGL_PLATFORM in its environment, the WebGPU failure says why (Bun env writes do not reach getenv)', () => {
    const r = runBun('webgpu-smoke.mjs', { EGL_PLATFORM: undefined, KVPACK_DAWN: 'opengl', WAYLAND_DISPLAY: undefined, DISPLAY: undefined });
    const out = lastJson<{ error?: string; adapter?: string }>(r.stdout);
    // a machine with a real display or GPU finds an adapter anyway: then there is nothing to explain
    if (out.adapter) return;
    expect(out.error).toMatch(/Bun: EGL_PLATFORM=surfaceless set inside the process does not reach Dawn's EGL/);
  }, 300_000);
});
