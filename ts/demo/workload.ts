import { mulberry32 } from '../util/random.js';
/**
 * A synthetic, LLaMA-shaped decode workload that needs no downloads: keys with the outlier-channel
 * structure real models show (a few fixed channels per head with a large, persistent offset and
 * larger spread: KIVI, Liu et al. 2024, arXiv:2402.02750, Fig. 2; SKVQ, Duanmu et al. 2024,
 * arXiv:2405.06219, Sec. 3), values without channel outliers but with per-token scale variation,
 * and queries that put weight on the outlier channels (so quantization error there matters).
 * RoPE is not applied: it only rotates channel pairs and does not change the quantization story.
 * Everything is a deterministic function of the seed.
 */

class Gaussian {
  private readonly u: () => number;
  private spare: number | undefined;
  constructor(seed: number) { this.u = mulberry32(seed); }
  uniform(): number { return this.u(); }
  next(): number {
    if (this.spare !== undefined) { const s = this.spare; this.spare = undefined; return s; }
    const r = Math.sqrt(-2 * Math.log(1 - this.u())); // 1 - u in (0, 1]: finite log
    const a = 2 * Math.PI * this.u();
    this.spare = r * Math.sin(a);
    return r * Math.cos(a);
  }
}

export interface WorkloadShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

/** Per-head channel statistics: the "model" that every sequence of the workload shares. */
export interface ChannelStats {
  /** [nKvHeads][headDim] key channel means (non-zero on outlier channels). */
  keyMean: Float32Array;
  /** [nKvHeads][headDim] key channel standard deviations. */
  keyStd: Float32Array;
  /** [nKvHeads][k] outlier channel indices. */
  outlierChannels: number[][];
}

/** Outlier channels per head: 1 per 32 channels, at least 1 (real 128-dim heads show ~2-6). */
export function outlierCount(headDim: number): number {
  return Math.max(1, Math.round(headDim / 32));
}

export function makeChannelStats(shape: WorkloadShape, seed: number): ChannelStats {
  const { nKvHeads, headDim: d } = shape;
  const rng = new Gaussian(seed ^ 0x5bd1e995);
  const keyMean = new Float32Array(nKvHeads * d);
  const keyStd = new Float32Array(nKvHeads * d);
  const outlierChannels: number[][] = [];
  for (let g = 0; g < nKvHeads; g++) {
    for (let c = 0; c < d; c++) keyStd[g * d + c] = 0.5 + rng.uniform(); // ordinary spread 0.5..1.5
    const chosen = new Set<number>();
    while (chosen.size < outlierCount(d)) chosen.add(Math.floor(rng.uniform() * d));
    const list = [...chosen].sort((a, b) => a - b);
    for (const c of list) {
      // Offset 8..20 with a random sign and spread 2..5: the outlier channels dominate the
      // per-token range (what hurts per-token key quantization) and persist across tokens.
      keyMean[g * d + c] = (8 + 12 * rng.uniform()) * (rng.uniform() < 0.5 ? -1 : 1);
      keyStd[g * d + c] = 2 + 3 * rng.uniform();
    }
    outlierChannels.push(list);
  }
  return { keyMean, keyStd, outlierChannels };
}

/** Keys and values [tokens][nKvHeads][headDim] of one sequence drawn from the channel statistics. */
export function makeKv(shape: WorkloadShape, stats: ChannelStats, tokens: number, seed: number): { keys: Float32Array; values: Float32Array } {
  const tf = shape.nKvHeads * shape.headDim;
  const keys = new Float32Array(tokens * tf);
  const values = new Float32Array(tokens * tf);
  const rk = new Gaussian(seed), rv = new Gaussian(seed ^ 0x27d4eb2f);
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < tf; i++) keys[t * tf + i] = stats.keyMean[i]! + stats.keyStd[i]! * rk.next();
    for (let g = 0; g < shape.nKvHeads; g++) {
      // Per-token value scale, log-normal (sigma 0.5): some tokens carry much larger values.
      const s = Math.exp(0.5 * rv.next());
      for (let c = 0; c < shape.headDim; c++) values[t * tf + g * shape.headDim + c] = s * rv.next();
    }
  }
  return { keys, values };
}

/**
 * Decode queries [n][nHeads][headDim]: N(0, 1) plus a component along each KV head's outlier
 * channels (sign matching the key offset) so scores vary by a few units across tokens: a peaked
 * but not one-hot softmax, like real decode steps.
 */
export function makeQueries(shape: WorkloadShape, stats: ChannelStats, n: number, seed: number): Float32Array {
  const { nHeads, nKvHeads, headDim: d } = shape;
  const group = nHeads / nKvHeads;
  const rng = new Gaussian(seed ^ 0x165667b1);
  const q = new Float32Array(n * nHeads * d);
  for (let i = 0; i < n; i++) {
    for (let h = 0; h < nHeads; h++) {
      const g = Math.floor(h / group);
      const o = (i * nHeads + h) * d;
      for (let c = 0; c < d; c++) q[o + c] = 1.5 * rng.next();
      for (const c of stats.outlierChannels[g]!) q[o + c]! += Math.sign(stats.keyMean[g * d + c]!) * (0.5 + rng.uniform());
    }
  }
  return q;
}
