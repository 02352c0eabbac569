import type { CacheStats } from './kv-cache.js';

/**
 * What the model harness needs from a layer cache: the part of PackedKvCache's API that does
 * not depend on fixed-size tiles. PackedKvCache satisfies it as is.
 */
export interface KvCacheLike {
  readonly nKvHeads: number;
  readonly headDim: number;
  /** nKvHeads * headDim. */
  readonly tokenFloats: number;
  hasSequence(seq: number): boolean;
  length(seq: number): number;
  /** keys/values: [n][nKvHeads][headDim]; validated before any state changes. */
  append(seq: number, keys: Float32Array, values: Float32Array): void;
  delete(seq: number): void;
  stats(): CacheStats;
}

/**
 * A cache that computes its own decode attention, for methods whose storage depends on the
 * attention itself (QAQ: the weights each token receives choose its bits). Same contract as
 * AttentionBackend.attend (ts/backends/types.ts): q is [seqs.length][nHeads][headDim], the
 * result has the same shape, errors are thrown before any work.
 */
export interface SelfAttendingCache extends KvCacheLike {
  attend(seqs: readonly number[], q: Float32Array, nHeads: number): Promise<Float32Array>;
}
