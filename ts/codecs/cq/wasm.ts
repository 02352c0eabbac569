import { checkKmeansInput, type KmeansOptions, type KmeansResult } from './kmeans.js';
import type { KmeansFn } from './calibrate.js';
import type { KvpackWasm } from '../../backends/wasm-loader.js';
import { checkWasmInstance } from '../../util/args.js';

/**
 * The calibration k-means of CQ in WASM (assembly/codecs/cq/kmeans.ts), which returns the same centroids
 * as the TS oracle bit for bit (tests/conformance/cq-wasm.test.ts).
 */

interface CqKmeansExports {
  kmeans_seed(x: number, n: number, dim: number, k: number, w: number, seed: number, centroids: number, d2: number): void;
  kmeans_assign(x: number, n: number, dim: number, k: number, w: number, centroids: number, assign: number, ct: number): number;
  kmeans_update(x: number, n: number, dim: number, k: number, w: number, centroids: number, assign: number, sums: number, mass: number): void;
  kmeans_inertia(): number;
}

/** A k-means running in the given kvpack.wasm instance; same contract and result as kmeans(). */
export function kmeansWasm(wasm: KvpackWasm): KmeansFn {
  checkWasmInstance(wasm);
  const ex = {
    kmeans_seed: wasm.fn('kmeans_seed'), kmeans_assign: wasm.fn('kmeans_assign'),
    kmeans_update: wasm.fn('kmeans_update'), kmeans_inertia: wasm.fn('kmeans_inertia'),
  } as unknown as CqKmeansExports;
  return (samples: ArrayLike<number>, n: number, dim: number, k: number, opts: KmeansOptions = {}): KmeansResult => {
    checkKmeansInput(samples, n, dim, k, opts);
    const maxIt = opts.maxIterations ?? 20;
    const arena = wasm.arena;
    const blocks: number[] = [];
    const alloc = (bytes: number): number => { const p = arena.alloc(bytes); blocks.push(p); return p; };
    try {
      const x = alloc(n * dim * 8), c = alloc(k * dim * 8), d2 = alloc(n * 8), assign = alloc(n * 4);
      const ct = alloc(k * dim * 8), sums = alloc(k * dim * 8), mass = alloc(k * 8);
      const w = opts.weights ? alloc(n * 8) : 0;
      // views are made after every alloc: memory.grow detaches earlier ones
      new Float64Array(wasm.memory.buffer, x, n * dim).set(samples);
      if (opts.weights) new Float64Array(wasm.memory.buffer, w, n).set(opts.weights);
      new Int32Array(wasm.memory.buffer, assign, n).fill(-1);
      ex.kmeans_seed(x, n, dim, k, w, (opts.seed ?? 0) >>> 0, c, d2);
      let changed = ex.kmeans_assign(x, n, dim, k, w, c, assign, ct);
      opts.onProgress?.(0, maxIt, ex.kmeans_inertia());
      let iterations = 0;
      for (let it = 1; it <= maxIt; it++) {
        ex.kmeans_update(x, n, dim, k, w, c, assign, sums, mass);
        iterations = it;
        changed = ex.kmeans_assign(x, n, dim, k, w, c, assign, ct);
        opts.onProgress?.(it, maxIt, ex.kmeans_inertia());
        if (!changed) break;
      }
      return { centroids: new Float64Array(wasm.memory.buffer, c, k * dim).slice(), iterations, inertia: ex.kmeans_inertia() };
    } finally {
      for (const p of blocks) arena.release(p);
    }
  };
}
