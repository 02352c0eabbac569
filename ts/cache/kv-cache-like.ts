/** What a cache holds and what it costs (PackedKvCache.stats, KvCacheLike.stats). */
export interface CacheStats {
  tokens: number;
  /** Bytes of packed tiles (K+V). */
  packedBytes: number;
  /** Tokens held in full precision (sinks + tail), all sequences. */
  fpTokens: number;
  /** Bytes of calibration parameters (codebooks, permutations), counted once per cache. */
  paramBytes: number;
  /** Bits per cached element, everything counted, fp regions at fp16 (as the papers count). */
  effectiveBits: number;
  /** The same with fp regions at fp32, as kvpack stores them on the host. */
  effectiveBitsStored: number;
}

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
