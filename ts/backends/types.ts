import type { PackedKvCache, TileEncoderSource } from '../cache/kv-cache.js';

export type BackendName = 'webgpu' | 'wasm' | 'ts';

/**
 * Decode attention over a packed cache. Every backend must match `attendReference`
 * (ts/reference/attention.ts) within the tolerance documented in tests/conformance.
 */
export interface AttentionBackend {
  readonly name: BackendName;
  /** Human-readable description (adapter name, SIMD, ...), printed by the detector and benches. */
  readonly description: string;
  /**
   * One decode query per sequence. q: [seqs.length][nHeads][headDim]; returns the same shape.
   * Throws KvpackError (BAD_SHAPE, NON_FINITE, UNKNOWN_SEQUENCE) before doing any work.
   */
  attend(cache: PackedKvCache, seqs: readonly number[], q: Float32Array, nHeads: number): Promise<Float32Array>;
  /** Release GPU buffers / WASM memory. */
  dispose(): void;
}

/**
 * The backend's tile encoders, when it has faster ones than the TS reference writing the same
 * words (the WASM backend: `fastEncoder`), for `PackedKvCache`'s `encodeWith`; else undefined.
 */
export function encodersOf(backend: AttentionBackend): TileEncoderSource | undefined {
  return 'fastEncoder' in backend ? backend as unknown as TileEncoderSource : undefined;
}
