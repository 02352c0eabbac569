import type { KvpackWasm } from '../../backends/wasm-loader.js';
import type { SkvqCalibrationMath } from './calibrate.js';
import { TILE_TOKENS } from '../../format/constants.js';
import { checkWasmInstance } from '../../util/args.js';

/** Exports of assembly/codecs/skvq/calibrate.ts. */
interface SkvqCalibrateExports {
  skvq_channel_minmax(data: number, n: number, nKv: number, d: number, head: number, pts: number): void;
  skvq_kmeans_work_bytes(n: number, k: number): number;
  skvq_kmeans2d(pts: number, n: number, k: number, restarts: number, seed: number, labels: number, centroids: number, work: number): void;
  skvq_tile_sq_error(params: number, data: number, tiles: number, nKv: number, d: number, tileWords: number, work: number): number;
}

/**
 * SKVQ's calibration math running in the given kvpack.wasm instance: statistics, k-means and the
 * clip search's tile error, identical to tsSkvqMath (same f64 operations, PRNG and order).
 * Pass it as `calibrateSkvq(capture, options, skvqMathWasm(await loadKvpackWasm()))`.
 */
export function skvqMathWasm(wasm: KvpackWasm): SkvqCalibrationMath {
  checkWasmInstance(wasm);
  const ex = {
    skvq_channel_minmax: wasm.fn('skvq_channel_minmax'), skvq_kmeans_work_bytes: wasm.fn('skvq_kmeans_work_bytes'),
    skvq_kmeans2d: wasm.fn('skvq_kmeans2d'), skvq_tile_sq_error: wasm.fn('skvq_tile_sq_error'),
  } as unknown as SkvqCalibrateExports;
  const a = wasm.arena;
  /** Runs fn with arena blocks of the given byte sizes, always released. */
  const withBlocks = <T>(sizes: number[], fn: (ptrs: number[]) => T): T => {
    const ptrs: number[] = [];
    try {
      for (const s of sizes) ptrs.push(a.alloc(Math.max(16, s)));
      return fn(ptrs);
    } finally {
      for (const p of ptrs) a.release(p);
    }
  };
  return {
    channelMinMax(data, nKvHeads, headDim, head) {
      const n = data.length / (nKvHeads * headDim);
      return withBlocks([data.length * 4, 16 * headDim], ([x, pts]) => {
        a.f32(x!, data.length).set(data);
        ex.skvq_channel_minmax(x!, n, nKvHeads, headDim, head, pts!);
        return new Float64Array(wasm.memory.buffer, pts!, 2 * headDim).slice();
      });
    },
    kmeans2d(pts, k, restarts, seed) {
      const n = pts.length / 2;
      return withBlocks([pts.length * 8, n * 4, 16 * k, ex.skvq_kmeans_work_bytes(n, k)], ([p, labels, cen, work]) => {
        new Float64Array(wasm.memory.buffer, p!, pts.length).set(pts);
        ex.skvq_kmeans2d(p!, n, k, restarts, seed >>> 0, labels!, cen!, work!);
        return {
          labels: new Int32Array(wasm.memory.buffer, labels!, n).slice(),
          centroids: new Float64Array(wasm.memory.buffer, cen!, 2 * k).slice(),
        };
      });
    },
    tileSquaredError(codec, data, tiles) {
      const d = codec.headDim, nKv = codec.nKvHeads;
      const floats = tiles * TILE_TOKENS * nKv * d;
      return withBlocks([codec.paramWords.length * 4, floats * 4, 8 * TILE_TOKENS * d + 4 * codec.tileWords],
        ([params, x, work]) => {
          a.u32(params!, codec.paramWords.length).set(codec.paramWords);
          a.f32(x!, floats).set(data.subarray(0, floats));
          return ex.skvq_tile_sq_error(params!, x!, tiles, nKv, d, codec.tileWords, work!);
        });
    },
  };
}
