/**
 * Quantize+pack through kvpack.wasm's encoders for a PackedKvCache: a codec view whose
 * encodeTile runs the codec's WASM `encode_*` kernel (words identical to the TS reference, see
 * tests/conformance/wasm-encoder.test.ts), used by `new PackedKvCache({ encodeWith: wasmBackend })`
 * and by the CPU benchmark. The TS encoders stay the reference; these are 3-10x faster
 * (decisions.md#D6).
 */
import { TILE_TOKENS } from '../format/constants.js';
import type { StreamCodec } from '../codecs/types.js';
import { wasmKernelsFor } from './wasm-kernels.js';
import type { KvpackWasm } from './wasm-loader.js';

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

