import type { PackedKvCache } from '../cache/kv-cache.js';

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
