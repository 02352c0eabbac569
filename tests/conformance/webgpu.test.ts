/**
 * WebGPU conformance on Dawn (Node's `webgpu` addon; on CI: OpenGL over Mesa llvmpipe, WebGPU
 * compatibility mode). Cases and tolerance: tests/conformance/webgpu-cases.ts (shared with the
 * Deno run). Without an adapter this file FAILS, unless KVPACK_ALLOW_NO_GPU=1, in which case it
 * prints "webgpu: unavailable" and runs nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getGpuDevice } from '../../ts/backends/webgpu/device.js';
import { WebGpuBackend } from '../../ts/backends/webgpu/backend.js';
import { formatWebGpuResults, runWebGpuCase, webGpuCases, type WebGpuCaseResult } from './webgpu-cases.js';

const allowNoGpu = process.env.KVPACK_ALLOW_NO_GPU === '1';
let backend: WebGpuBackend | undefined;
let unavailable: string | undefined;
const results: WebGpuCaseResult[] = [];

beforeAll(async () => {
  try {
    backend = new WebGpuBackend(await getGpuDevice());
  } catch (e) {
    unavailable = (e as Error).message;
  }
});

afterAll(() => {
  if (results.length) console.log(`webgpu conformance on ${backend?.description}\n${formatWebGpuResults(results)}`);
  backend?.dispose();
});

describe('webgpu conformance (Dawn)', () => {
  it('has a WebGPU adapter', () => {
    if (unavailable !== undefined && allowNoGpu) {
      console.warn(`\n*** webgpu: unavailable (${unavailable}); KVPACK_ALLOW_NO_GPU=1, WebGPU conformance NOT run ***\n`);
      return;
    }
    expect(unavailable, `no WebGPU adapter: ${unavailable}. CI must provide one (Mesa llvmpipe + EGL_PLATFORM=surfaceless); set KVPACK_ALLOW_NO_GPU=1 to run without`).toBeUndefined();
  });

  for (const c of webGpuCases()) {
    it(`${c.name}: GPU-encoded words === TS, attention within tolerance`, async ({ skip }) => {
      if (!backend) {
        if (allowNoGpu) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)'); // reported loudly above
        throw new Error(`no WebGPU adapter: ${unavailable}`);
      }
      const r = await runWebGpuCase(c, backend);
      results.push(r);
      expect(r.firstMismatch, 'first differing word').toBeUndefined();
      expect(r.tileMismatches).toBe(0);
      expect(r.tiles).toBeGreaterThan(0);
      expect(r.mirrorErr).toBeLessThanOrEqual(r.tol);
      expect(r.residentErr).toBeLessThanOrEqual(r.tol);
    });
  }
});
