/**
 * Lifetime (issue 18): 10^5 append / attend / dispose cycles on WASM and 10^3 on WebGPU (Dawn)
 * with flat memory, printed (scripts/soak.mjs; the long version is `node scripts/soak.mjs`).
 * Every tenth cache is dropped without dispose(): the backends' FinalizationRegistry frees it.
 * Before: the WebGPU backend kept every host cache alive (+1.4 MB each), the WASM arena grew.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain ES module without types
import { soak } from '../../scripts/soak.mjs';

const distUrl = new URL('../../dist/index.js', import.meta.url);
type Kvpack = typeof import('../../ts/index.js');
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Row { cycle: number; rssMiB: number; wasmMemoryMiB?: number; wasmInUseBytes?: number; gpuMirrors?: number }
type Soak = (kv: Kvpack, b: unknown, n: number, o: object) => Promise<{ rows: Row[]; cycles: number; seconds: number; checksum: number }>;

describe('soak: memory stays flat over many cache lifetimes', () => {
  it('WASM: 10^5 cycles', async () => {
    const kv = await import(distUrl.href) as Kvpack;
    const be = await kv.WasmBackend.create();
    const r = await (soak as Soak)(kv, be, 100_000, { samples: 10, gc, log: (l: string) => console.log(`soak wasm ${l}`) });
    console.log(`soak wasm: ${r.cycles} cycles in ${r.seconds.toFixed(1)} s`);
    expect(r.cycles).toBe(100_000);
    expect(Number.isFinite(r.checksum)).toBe(true);
    const half = r.rows.slice(Math.floor(r.rows.length / 2));
    // WASM memory never shrinks; freed blocks are reused, so it stops growing after warm-up
    expect(Math.max(...half.map((x) => x.wasmMemoryMiB!))).toBe(half[0]!.wasmMemoryMiB);
    expect(r.rows.at(-1)!.wasmInUseBytes).toBe(0);
    expect(r.rows.at(-1)!.rssMiB - half[0]!.rssMiB).toBeLessThan(64);
  }, 300_000);

  it('WebGPU (Dawn): 10^3 cycles', async () => {
    const kv = await import(distUrl.href) as Kvpack;
    const be = await kv.WebGpuBackend.create();
    const r = await (soak as Soak)(kv, be, 1000, { samples: 10, gc, log: (l: string) => console.log(`soak webgpu ${l}`) });
    console.log(`soak webgpu: ${r.cycles} cycles in ${r.seconds.toFixed(1)} s`);
    expect(r.cycles).toBe(1000);
    // the dropped caches' mirrors go when V8 collects them and runs the finalizers: a few rounds
    for (let i = 0; i < 40 && be.liveMirrors > 0; i++) { gc(); await new Promise((res) => setTimeout(res, 50)); }
    console.log(`soak webgpu: ${be.liveMirrors} mirrors alive after the drain`);
    expect(be.liveMirrors).toBe(0);
    const half = r.rows.slice(Math.floor(r.rows.length / 2));
    expect(r.rows.at(-1)!.rssMiB - half[0]!.rssMiB).toBeLessThan(64);
    be.dispose();
  }, 300_000);
});
