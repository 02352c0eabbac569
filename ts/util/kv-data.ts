/**
 * Seeded K/V-like data shared by the tests, the benches and `kvpack conformance`: a small PRNG and generators for K/V-like
 * tensors, shape [n][nKvHeads][headDim] (token-major, as PackedKvCache.append takes them).
 * Deterministic across runs and machines: only integer math and Math.log/sqrt/cos on its output.
 */

import { mulberry32 } from './random.js';

export { mulberry32 };

export interface Rng {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal (Box-Muller). */
  gaussian(): number;
  /** Student-t with `nu` degrees of freedom (integer >= 1): heavy tails like real activations. */
  studentT(nu: number): number;
  /** Integer in [0, n). */
  int(n: number): number;
}

export function makeRng(seed: number): Rng {
  const u = mulberry32(seed);
  const gaussian = (): number => {
    // 1 - u() is in (0, 1], so the log is finite
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    return r * Math.cos(2 * Math.PI * u());
  };
  return {
    uniform: u,
    gaussian,
    studentT(nu: number): number {
      let chi2 = 0;
      for (let i = 0; i < nu; i++) { const g = gaussian(); chi2 += g * g; }
      return gaussian() / Math.sqrt(chi2 / nu);
    },
    int: (n: number) => Math.floor(u() * n),
  };
}

/** i.i.d. N(0, scale^2), [n][nKvHeads][headDim]. */
export function gaussianKv(n: number, nKvHeads: number, headDim: number, seed: number, scale = 1): Float32Array {
  const rng = makeRng(seed);
  const out = new Float32Array(n * nKvHeads * headDim);
  for (let i = 0; i < out.length; i++) out[i] = rng.gaussian() * scale;
  return out;
}

/** i.i.d. Student-t(nu) (default nu = 3: finite variance, heavy tails), [n][nKvHeads][headDim]. */
export function heavyTailedKv(n: number, nKvHeads: number, headDim: number, seed: number, nu = 3, scale = 1): Float32Array {
  const rng = makeRng(seed);
  const out = new Float32Array(n * nKvHeads * headDim);
  for (let i = 0; i < out.length; i++) out[i] = rng.studentT(nu) * scale;
  return out;
}

export interface OutlierKeyOptions {
  /** Outlier channels per head (default max(1, headDim / 16)). */
  outliers?: number;
  /** Outlier channels get a scale drawn uniformly in [minScale, maxScale] (default 10..50). */
  minScale?: number;
  maxScale?: number;
  /** Outlier channels also carry a constant offset of this many of their own scale (default 0.5), as real keys do. */
  offset?: number;
}

/** Channels (per head) that outlierKeys(…, seed, …) makes outliers: a pure function of its arguments. */
export function outlierChannels(nKvHeads: number, headDim: number, seed: number, opts: OutlierKeyOptions = {}): number[][] {
  const count = Math.min(headDim, opts.outliers ?? Math.max(1, headDim >> 4));
  const rng = makeRng(seed ^ 0x9e3779b9);
  const heads: number[][] = [];
  for (let h = 0; h < nKvHeads; h++) {
    const chosen = new Set<number>();
    while (chosen.size < count) chosen.add(rng.int(headDim));
    heads.push([...chosen].sort((a, b) => a - b));
  }
  return heads;
}

/**
 * Key-like data: N(0, 1) everywhere except a few channels per head (outlierChannels) scaled by
 * 10-50x and shifted by a constant offset, the structure that makes per-channel key
 * quantization (KIVI, SKVQ reordering) matter. [n][nKvHeads][headDim].
 */
export function outlierKeys(n: number, nKvHeads: number, headDim: number, seed: number, opts: OutlierKeyOptions = {}): Float32Array {
  const minScale = opts.minScale ?? 10, maxScale = opts.maxScale ?? 50, offset = opts.offset ?? 0.5;
  const channels = outlierChannels(nKvHeads, headDim, seed, opts);
  const rng = makeRng(seed);
  const scale = new Float32Array(nKvHeads * headDim).fill(1);
  const shift = new Float32Array(nKvHeads * headDim);
  channels.forEach((list, h) => {
    for (const c of list) {
      const s = minScale + (maxScale - minScale) * rng.uniform();
      scale[h * headDim + c] = s;
      shift[h * headDim + c] = (rng.uniform() < 0.5 ? -1 : 1) * offset * s;
    }
  });
  const tf = nKvHeads * headDim;
  const out = new Float32Array(n * tf);
  for (let t = 0; t < n; t++) {
    for (let i = 0; i < tf; i++) out[t * tf + i] = rng.gaussian() * scale[i]! + shift[i]!;
  }
  return out;
}

/** One decode query, [nHeads][headDim], N(0, scale^2). */
export function randomQuery(nHeads: number, headDim: number, seed: number, scale = 1): Float32Array {
  return gaussianKv(1, nHeads, headDim, seed, scale);
}
