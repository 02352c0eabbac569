/**
 * mulberry32: a tiny full-period 32-bit PRNG. Integer math only, so every runtime (and the
 * AssemblyScript mirror in assembly/codecs/cq/kmeans.ts, skvq-calibrate.ts) draws the same
 * numbers from the same seed: calibration, demo workloads and test data stay reproducible.
 */

/** One step on a u32 state; returns [next state, uniform in [0, 1)]. */
export function mulberry32Next(state: number): [number, number] {
  const a = (state + 0x6d2b79f5) >>> 0;
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [a, ((t ^ (t >>> 14)) >>> 0) / 4294967296];
}

/** A generator of uniforms in [0, 1) seeded with `seed`. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    const [next, u] = mulberry32Next(state);
    state = next;
    return u;
  };
}
