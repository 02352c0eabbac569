/**
 * The conformance matrix (ts/conformance/matrix.ts): every registered codec x every backend that
 * runs here x the shared shapes, tile words bit for bit and attention vs attendReference; the
 * same run as `kvpack conformance`. Prints the matrix of what ran. Every backend but
 * wasm-relaxed must run (Node 20 validates relaxed SIMD only with a flag: scripts/test-relaxed.mjs
 * reruns the WASM suites on that build); KVPACK_ALLOW_NO_GPU=1 lets WebGPU be missing outside CI.
 * WebGPU runs the codecs' own pairs on the shapes marked softwareGpu (llvmpipe is slow); WASM
 * and TS every pair, mixed ones included, on every shape.
 */
import { describe, expect, it } from 'vitest';
import { listCodecs } from '../../ts/codecs/index.js';
import { relaxedSimdSupported } from '../../ts/backends/wasm-loader.js';
import { conformancePairs, SOFTWARE_GPU_SHAPES, formatConformance, runConformance, type ConformanceReport } from '../../ts/conformance/matrix.js';
import { conformanceBackends } from '../../ts/conformance/backends.js';

const allowNoGpu = process.env.KVPACK_ALLOW_NO_GPU === '1' && process.env.CI !== 'true';

function mustRun(report: ConformanceReport, name: string): void {
  const b = report.backends.find((x) => x.name === name);
  expect(b, name).toBeDefined();
  expect(b!.ran, `${name}: ${b!.reason}`).toBe(true);
}

describe('conformance matrix', () => {
  it('lists every registered codec in a pair or as a self-attending cache', () => {
    const { pairs, ownCache } = conformancePairs();
    for (const c of listCodecs()) {
      expect(ownCache.includes(c.name) || pairs.some((p) => p.key.name === c.name || p.value.name === c.name), c.name).toBe(true);
    }
  });

  it('TS and WASM (base, relaxed where validated, threads): words bit-identical, attention within tolerance', async () => {
    const names = ['ts', 'wasm', 'wasm-threads', ...(relaxedSimdSupported() ? ['wasm-relaxed'] : [])];
    // the workers import the bundle (npm test builds dist/ first)
    const report = await runConformance({ backends: conformanceBackends(names, { workerModule: new URL('../../dist/index.js', import.meta.url) }) });
    console.log(formatConformance(report));
    for (const n of names) mustRun(report, n);
    expect(report.cells.filter((c) => c.status === 'fail').map((c) => `${c.pair} ${c.shape} ${c.backend}: ${c.detail ?? c.err}`)).toEqual([]);
    // every codec pair with WASM kernels ran on WASM on at least one shape, with tiles compared
    const ran = report.cells.filter((c) => c.backend === 'wasm' && c.status === 'pass');
    expect(ran.some((c) => (c.tiles ?? 0) > 0)).toBe(true);
    expect(report.pass).toBe(true);
  }, 600_000);

  it('WebGPU (Dawn here; Deno runs wgpu): words bit-identical, attention within tolerance', async () => {
    const report = await runConformance({ backends: conformanceBackends(['webgpu']), shapes: SOFTWARE_GPU_SHAPES, mixed: false });
    console.log(formatConformance(report));
    if (allowNoGpu && !report.backends[0]!.ran) return;
    mustRun(report, 'webgpu');
    expect(report.cells.filter((c) => c.status === 'fail').map((c) => `${c.pair} ${c.shape}: ${c.detail ?? c.err}`)).toEqual([]);
    expect(report.cells.some((c) => c.status === 'pass' && (c.tiles ?? 0) > 0)).toBe(true);
  }, 600_000);
});
