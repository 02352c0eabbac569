/**
 * The packed cache the edge worker serves, and the decode workload bench/runtimes.mjs runs in
 * every runtime: one layer, GQA (16 query heads over 4 KV heads), head_dim 128, 2,048 tokens of
 * seeded keys (with outlier channels, like real keys) and values, KIVI 2-bit keys and values with
 * a 32-token fp32 window and 4 sinks. Plain ESM without imports: the worker, the CI test and the
 * bench build bit-identical caches from it, given the kvpack module.
 */
export const WORKLOAD = Object.freeze({
  tokens: 2048, nKvHeads: 4, headDim: 128, nHeads: 16, key: 'kivi2', value: 'kivi2', window: 32, sinks: 4, seed: 7,
});

/** mulberry32: the same numbers in every runtime. */
export function seededRandom(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Builds the workload's cache (sequence 0) with `kv` (the kvpack module). */
export function buildCache(kv, w = WORKLOAD) {
  const rnd = seededRandom(w.seed);
  const n = w.tokens * w.nKvHeads * w.headDim;
  const k = new Float32Array(n);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    k[i] = (rnd() * 2 - 1) * (i % w.headDim === 5 ? 10 : 1);
    v[i] = rnd() * 2 - 1;
  }
  const cache = new kv.PackedKvCache({ nKvHeads: w.nKvHeads, headDim: w.headDim, key: w.key, value: w.value, window: w.window, sinks: w.sinks });
  cache.append(0, k, v);
  return cache;
}

/** Query `step` of the decode loop (nHeads * headDim floats). */
export function decodeQuery(step, w = WORKLOAD) {
  const rnd = seededRandom(1000 + step);
  return Float32Array.from({ length: w.nHeads * w.headDim }, () => rnd() * 2 - 1);
}
