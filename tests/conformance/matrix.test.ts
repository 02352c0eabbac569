/**
 * The conformance matrix (ts/conformance/matrix.ts): every registered codec x every backend that
 * runs here x the shared shapes, tile words bit for bit and attention vs attendReference within
 * the tier each backend reports (ATTENTION_TOLERANCE); the same run as `kvpack conformance`. Prints the matrix of what ran. Every backend but
 * wasm-relaxed must run (Node 20 validates relaxed SIMD only with a flag: scripts/test-relaxed.mjs
 * reruns the WASM suites on that build); KVPACK_ALLOW_NO_GPU=1 lets WebGPU be missing outside CI.
 * WebGPU runs the codecs' own pairs on the shapes marked softwareGpu (llvmpipe is slow); WASM
 * and TS every pair, mixed ones included, on every shape.
 */
import { describe, expect, it } from 'vitest';
import { listCodecs } from '../../ts/codecs/index.js';
import { relaxedSimdSupported } from '../../ts/backends/wasm-loader.js';
import { CONFORMANCE_SHAPES, conformancePairs, hasWasm, SOFTWARE_GPU_SHAPES, formatConformance, runConformance,
  type ConformanceBackend, type ConformanceCell, type ConformanceReport } from '../../ts/conformance/matrix.js';
import { ATTENTION_TOLERANCE } from '../../ts/backends/types.js';
import { WasmBackend } from '../../ts/backends/wasm.js';
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

  it('TS and WASM (base, relaxed where validated, exact, threads): words bit-identical, attention within tolerance', async () => {
    const names = ['ts', 'wasm', 'wasm-exact', 'wasm-threads', ...(relaxedSimdSupported() ? ['wasm-relaxed'] : [])];
    // the workers import the bundle (npm test builds dist/ first)
    const report = await runConformance({ backends: conformanceBackends(names, { workerModule: new URL('../../dist/index.js', import.meta.url) }) });
    console.log(formatConformance(report));
    for (const n of names) mustRun(report, n);
    expect(report.cells.filter((c) => c.status === 'fail').map((c) => `${c.pair} ${c.shape} ${c.backend}: ${c.detail ?? c.err}`)).toEqual([]);
    // every codec pair with WASM kernels ran on WASM on at least one shape, with tiles compared
    const ran = report.cells.filter((c) => c.backend === 'wasm' && c.status === 'pass');
    expect(ran.some((c) => (c.tiles ?? 0) > 0)).toBe(true);
    expect(report.pass).toBe(true);
    // each cell was held to its backend's tier: the integer one only where the integer kernels run
    // (KIVI in a GQA group at head_dim 64: 'd64 kv2 h8'), the exact one on the opt-out everywhere
    const kiviGqa = (c: ConformanceCell): boolean => c.shape.startsWith('d64 kv2 h8') && /kivi[24]/.test(c.pair) && c.status === 'pass';
    const intCells = report.cells.filter((c) => c.backend === 'wasm' && kiviGqa(c));
    expect(intCells.length).toBeGreaterThan(0);
    for (const c of intCells) expect(c.tol, `${c.pair} ${c.shape}`).toBe(ATTENTION_TOLERANCE.integer);
    // the integer path ran: its rounding shows where the exact kernels stay within 1e-5
    expect(Math.max(...intCells.map((c) => c.err!))).toBeGreaterThan(ATTENTION_TOLERANCE.exact);
    for (const c of report.cells.filter((x) => x.backend === 'wasm-exact' && x.status === 'pass')) expect(c.tol).toBe(ATTENTION_TOLERANCE.exact);
    // SKVQ's integer kernels (2-bit keys, ternary or 2-bit values, any group): their cells take the integer tier
    const skvqInt = report.cells.filter((c) => c.backend === 'wasm' && c.status === 'pass' && c.pair.includes('skvq') && c.tol === ATTENTION_TOLERANCE.integer);
    expect(skvqInt.length).toBeGreaterThan(0);
    for (const c of report.cells.filter((x) => x.backend === 'wasm' && x.status === 'pass' && !kiviGqa(x) && !x.pair.includes('skvq'))) {
      expect(c.tol, `${c.pair} ${c.shape}`).toBe(ATTENTION_TOLERANCE.exact);
    }
  }, 600_000);

  it('fails wrong answers under the integer tier: one head off by one, or off by 1.5x the tier', async () => {
    const base = await WasmBackend.create();
    const shapes = CONFORMANCE_SHAPES.filter((s) => s.name.startsWith('d64 kv2 h8'));
    const wrong = (name: string, corrupt: (out: Float32Array, d: number, tol: number) => void): ConformanceBackend => ({
      name, applies: hasWasm,
      create: async () => ({
        name: 'wasm', description: name, dispose: () => {},
        attentionTolerance: (cache, nHeads) => base.attentionTolerance(cache, nHeads),
        attend: async (cache, seqs, q, nHeads) => {
          const out = await base.attend(cache, seqs, q, nHeads);
          corrupt(out, cache.headDim, base.attentionTolerance(cache, nHeads));
          return out;
        },
      }),
    });
    const report = await runConformance({
      shapes, codecs: ['kivi2', 'kivi4'], mixed: false,
      backends: [
        // query head 1 answered with head 0's output (a head-offset bug)
        wrong('head-off-by-one', (out, d) => out.copyWithin(d, 0, d)),
        // one element moved by 1.5x the tier, on the matrix's scale max(1, max |out|)
        wrong('off-by-1.5-tier', (out, _d, tol) => { out[3] = out[3]! + 1.5 * tol * Math.max(1, ...out.map(Math.abs)); }),
      ],
    });
    const cells = report.cells.filter((c) => c.status !== 'no kernels' && c.status !== 'shape n/a');
    expect(cells.length).toBeGreaterThanOrEqual(4);
    for (const c of cells) {
      expect(c.tol, `${c.pair} ${c.backend}`).toBe(ATTENTION_TOLERANCE.integer);
      expect(c.status, `${c.pair} ${c.backend}: err ${c.err}`).toBe('fail');
    }
    // the head bug is far outside the tier, as a code or scale bug would be
    expect(Math.min(...cells.filter((c) => c.backend === 'head-off-by-one').map((c) => c.err!))).toBeGreaterThan(10 * ATTENTION_TOLERANCE.integer);
    base.dispose();
  }, 120_000);

  it('WebGPU (Dawn here; Deno runs wgpu): words bit-identical, attention within tolerance', async () => {
    const report = await runConformance({ backends: conformanceBackends(['webgpu']), shapes: SOFTWARE_GPU_SHAPES, mixed: false });
    console.log(formatConformance(report));
    if (allowNoGpu && !report.backends[0]!.ran) return;
    mustRun(report, 'webgpu');
    expect(report.cells.filter((c) => c.status === 'fail').map((c) => `${c.pair} ${c.shape}: ${c.detail ?? c.err}`)).toEqual([]);
    expect(report.cells.some((c) => c.status === 'pass' && (c.tiles ?? 0) > 0)).toBe(true);
  }, 600_000);
});
