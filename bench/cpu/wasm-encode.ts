/**
 * Quantize+pack on WebAssembly for the CPU benchmark: a tile encoder over one codec's WASM
 * `encode_*` kernel, a codec view whose encodeTile runs it (so 32K-token LLaMA-shaped caches fill
 * in seconds instead of minutes of TS reference packing), and the throughput measurement
 * WASM vs TS reference.
 */
import { TILE_TOKENS } from '../../ts/format/constants.js';
import type { StreamCodec } from '../../ts/codecs/types.js';
import { wasmKernelsFor } from '../../ts/backends/wasm-kernels.js';
import type { KvpackWasm } from '../../ts/backends/wasm-loader.js';
import { timeInterleaved, type Timing } from './timing.js';

/** One codec's WASM encoder with its own input/output/params blocks in the module's memory. */
export class WasmTileEncoder {
  private readonly encode: (...args: number[]) => number;
  private readonly xPtr: number;
  private readonly outPtr: number;
  private readonly paramsPtr: number;
  private readonly tileFloats: number;

  constructor(private readonly wasm: KvpackWasm, readonly codec: StreamCodec) {
    const kernels = wasmKernelsFor(codec);
    if (!kernels) throw new Error(`no WASM kernels for ${codec.kind} codec '${codec.name}'`);
    this.encode = wasm.fn(kernels.encode);
    const a = wasm.arena;
    this.tileFloats = TILE_TOKENS * codec.headDim;
    this.xPtr = a.alloc(this.tileFloats * 4);
    this.outPtr = a.alloc(codec.tileWords * 4);
    this.paramsPtr = a.alloc(Math.max(1, codec.paramWords.length) * 4);
    a.u32(this.paramsPtr, codec.paramWords.length).set(codec.paramWords);
  }

  /** x: one tile (TILE_TOKENS x headDim, token-major) from JS memory; words land in `out`. */
  encodeTile(x: Float32Array, head: number, out: Uint32Array): void {
    const a = this.wasm.arena;
    a.f32(this.xPtr, this.tileFloats).set(x);
    this.encode(this.xPtr, this.outPtr, this.codec.headDim, head, this.paramsPtr);
    out.set(a.u32(this.outPtr, this.codec.tileWords));
  }

  /** The kernel alone over tiles already in WASM memory: x at xBase, tile i -> out at outBase. */
  encodeResident(xBase: number, outBase: number, tiles: number, nKvHeads: number): void {
    const xStride = this.tileFloats * 4, outStride = this.codec.tileWords * 4, d = this.codec.headDim;
    for (let i = 0; i < tiles; i++) {
      this.encode(xBase + i * xStride, outBase + i * outStride, d, i % nKvHeads, this.paramsPtr);
    }
  }

  release(): void {
    for (const p of [this.xPtr, this.outPtr, this.paramsPtr]) this.wasm.arena.release(p);
  }
}

/**
 * `codec` with encodeTile replaced by the WASM encoder; everything else (name, params, decodeTile,
 * fields kernel tables read) comes through the prototype, so caches and backends treat it as
 * the codec itself.
 */
export function withWasmEncoder(codec: StreamCodec, enc: WasmTileEncoder): StreamCodec {
  const view = Object.create(codec) as StreamCodec & { encodeTile: StreamCodec['encodeTile'] };
  Object.defineProperty(view, 'encodeTile', {
    value: (x: Float32Array, head: number, out: Uint32Array) => enc.encodeTile(x, head, out),
  });
  return view;
}

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
