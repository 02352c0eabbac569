/**
 * Quantize+pack throughput for the CPU benchmark, WASM vs TS reference (the WASM tile encoder
 * and codec view are the library's, ts/backends/wasm-encoder.ts; the bench also fills its
 * 32K-token caches through them: seconds instead of minutes of TS reference packing).
 */
import { TILE_TOKENS } from '../../ts/format/constants.js';
import type { StreamCodec } from '../../ts/codecs/types.js';
import type { KvpackWasm } from '../../ts/backends/wasm-loader.js';
import { WasmTileEncoder } from '../../ts/backends/wasm-encoder.js';
import { timeInterleaved, type Timing } from './timing.js';

export { WasmTileEncoder, withWasmEncoder } from '../../ts/backends/wasm-encoder.js';

/** Tiles [tiles][TILE_TOKENS][headDim] from a [T][nKvHeads][headDim] tensor, tile i = head i % nKvHeads. */
export function gatherTiles(x: Float32Array, nKvHeads: number, headDim: number, tiles: number): Float32Array {
  const tf = nKvHeads * headDim, n = TILE_TOKENS * headDim;
  const out = new Float32Array(tiles * n);
  for (let i = 0; i < tiles; i++) {
    const h = i % nKvHeads, t0 = Math.floor(i / nKvHeads) * TILE_TOKENS;
    for (let t = 0; t < TILE_TOKENS; t++) {
      out.set(x.subarray((t0 + t) * tf + h * headDim, (t0 + t) * tf + (h + 1) * headDim), i * n + t * headDim);
    }
  }
  return out;
}

export interface PackThroughput {
  codec: string;
  kind: 'key' | 'value';
  tiles: number;
  ts: Timing;
  /** JS tile in -> WASM encode -> words back in a JS array, per tile (what a cache would do). */
  wasm: Timing;
  /** The kernel alone over tiles already in WASM memory. */
  wasmKernel: Timing;
  /** Tiles whose WASM words differ from the TS reference's (must be 0). */
  mismatchedTiles: number;
}

/** Packs `tiles` (see gatherTiles) with the TS reference and with WASM; checks the words agree. */
export async function measurePack(wasm: KvpackWasm, codec: StreamCodec, tiles: Float32Array,
  warmup: number, runs: number): Promise<PackThroughput> {
  const n = TILE_TOKENS * codec.headDim, count = tiles.length / n, W = codec.tileWords;
  const tsOut = new Uint32Array(count * W), wasmOut = new Uint32Array(count * W);
  const enc = new WasmTileEncoder(wasm, codec);
  const a = wasm.arena;
  const xBase = a.alloc(tiles.length * 4), outBase = a.alloc(count * W * 4);
  const packTs = (): void => {
    for (let i = 0; i < count; i++) {
      const out = tsOut.subarray(i * W, (i + 1) * W);
      out.fill(0); // PackedKvCache hands encoders a zeroed tile
      codec.encodeTile(tiles.subarray(i * n, (i + 1) * n), i % codec.nKvHeads, out);
    }
  };
  // slow TS encoders (CQ's nearest-centroid search: seconds per pass) get fewer repeats
  const probe = performance.now();
  packTs();
  if (performance.now() - probe > 1000) runs = Math.min(runs, 3);
  try {
    a.f32(xBase, tiles.length).set(tiles);
    const [ts, wasmT, kernel] = await timeInterleaved([
      packTs,
      () => {
        for (let i = 0; i < count; i++) {
          enc.encodeTile(tiles.subarray(i * n, (i + 1) * n), i % codec.nKvHeads, wasmOut.subarray(i * W, (i + 1) * W));
        }
      },
      () => enc.encodeResident(xBase, outBase, count, codec.nKvHeads),
    ], warmup, runs);
    let mismatched = 0;
    const resident = a.u32(outBase, count * W);
    for (let i = 0; i < count; i++) {
      for (let w = i * W; w < (i + 1) * W; w++) {
        if (tsOut[w] !== wasmOut[w] || tsOut[w] !== resident[w]) { mismatched++; break; }
      }
    }
    return { codec: codec.name, kind: codec.kind, tiles: count, ts: ts!, wasm: wasmT!, wasmKernel: kernel!, mismatchedTiles: mismatched };
  } finally {
    a.release(xBase);
    a.release(outBase);
    enc.release();
  }
}
