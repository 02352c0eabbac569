/**
 * Node's WebGPU (Dawn, npm `webgpu`) on the dist bundle: the same conformance subset the other
 * runtimes run (tests/runtimes/webgpu-smoke.mjs), for the README runtime table. The full WebGPU
 * conformance on Dawn is tests/conformance/webgpu*.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { lastJson, recordRuntime, root, runLimited } from './record.js';

const allowNoGpu = process.env.KVPACK_ALLOW_NO_GPU === '1';

describe('Node WebGPU from the bundle', () => {
  it('conformance subset on Dawn', () => {
    const r = runLimited(process.execPath, [join(root, 'tests', 'runtimes', 'webgpu-smoke.mjs'), join(root, 'dist', 'index.js')],
      { cwd: root, env: { ...process.env, EGL_PLATFORM: process.env.EGL_PLATFORM ?? 'surfaceless', KVPACK_DAWN: 'opengl' }, timeoutMs: 120_000 });
    expect(r.timedOut, 'node webgpu-smoke.mjs ran past 120 s').toBe(false);
    const out = lastJson<{ version: string; adapter?: string; error?: string; passed: number; failed: number }>(r.stdout);
    if (out.error && allowNoGpu) {
      console.warn(`node webgpu: unavailable (${out.error}); allowed by KVPACK_ALLOW_NO_GPU=1`);
      recordRuntime({ runtime: 'node', version: out.version, backend: 'webgpu', status: 'unavailable', detail: out.error, test: 'tests/runtimes/node-webgpu.test.ts' });
      return;
    }
    expect(out.error, 'no adapter (set KVPACK_ALLOW_NO_GPU=1 on machines without Mesa)').toBeUndefined();
    expect(r.code, r.stderr).toBe(0);
    expect(out.failed).toBe(0);
    expect(out.passed).toBeGreaterThanOrEqual(7);
    recordRuntime({ runtime: 'node', version: out.version, backend: 'webgpu', status: 'pass', detail: `${out.adapter}; ${out.passed} cases`, test: 'tests/runtimes/node-webgpu.test.ts' });
  }, 200_000);
});
