import { check, KvpackError } from '../../errors.js';
import { mulberry32Next } from '../../util/random.js';
import { checkNumbers, checkOptionalFn, checkOptionalNumber, checkOptionalObject } from '../../util/args.js';

/**
 * Weighted k-means with k-means++ seeding: the calibration math of CQ (docs/codecs/cq.md,
 * "Calibration"). This plain-TS version is the oracle; assembly/codecs/cq/kmeans.ts is the
 * same algorithm step for step, and both must return bit-identical centroids:
 * - all arithmetic is f64 in a fixed order (JS numbers and WASM f64 are both IEEE binary64 with
 *   no fused multiply-add, so the same sequence of operations gives the same bits);
 * - the random stream is mulberry32 on u32 integer math, u = state / 2^32.
 */

export interface KmeansOptions {
  /** Per-sample weights >= 0 (Fisher-guided centroids: the sum of squared gradients of the sample). */
  weights?: ArrayLike<number>;
  /** Seed of the k-means++ draws (u32). Default 0. */
  seed?: number;
  /** Lloyd iterations at most (stops earlier when no assignment changes). Default 20. */
  maxIterations?: number;
  /** Called after seeding (iteration 0) and after each Lloyd iteration. */
  onProgress?: (iteration: number, maxIterations: number, inertia: number) => void;
}

export interface KmeansResult {
  /** [k][dim], f64. */
  centroids: Float64Array;
  /** Lloyd iterations run. */
  iterations: number;
  /** Weighted sum of squared distances to the assigned centroid, after the last update's assignment. */
  inertia: number;
}

// mulberry32Next lives in ts/util/random.ts (mirrored in AS); re-exported for callers of this module.
export { mulberry32Next };

/** Validates k-means inputs; throws before any work. Shared by the TS and WASM entry points. */
export function checkKmeansInput(samples: ArrayLike<number>, n: number, dim: number, k: number,
  opts: KmeansOptions, arg = 'samples'): void {
  checkNumbers(samples, arg);
  checkOptionalObject(opts, 'opts');
  checkOptionalNumber(opts.maxIterations, 'maxIterations');
  checkOptionalNumber(opts.seed, 'seed');
  if (opts.weights !== undefined) checkNumbers(opts.weights, 'weights');
  checkOptionalFn(opts.onProgress, 'onProgress');
  check(Number.isInteger(dim) && dim > 0, 'BAD_PARAM', `must be a positive integer, got ${dim}`, 'dim');
  check(Number.isInteger(k) && k > 0, 'BAD_PARAM', `must be a positive integer, got ${k}`, 'k');
  check(Number.isInteger(n) && n >= 0 && samples.length === n * dim, 'BAD_SHAPE',
    `length ${samples.length} != n*dim = ${n}*${dim}`, arg);
  if (n < k) {
    throw new KvpackError('BAD_CALIBRATION', `${n} calibration samples for ${k} centroids: need at least as many samples as centroids`, arg);
  }
  for (let i = 0; i < samples.length; i++) {
    if (!Number.isFinite(samples[i])) throw new KvpackError('NON_FINITE', `element ${i} is ${samples[i]}`, arg);
  }
  const it = opts.maxIterations ?? 20;
  check(Number.isInteger(it) && it >= 0, 'BAD_PARAM', `must be a non-negative integer, got ${it}`, 'maxIterations');
  const seed = opts.seed ?? 0;
  check(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff, 'BAD_PARAM', `must be a u32, got ${seed}`, 'seed');
  const w = opts.weights;
  if (w !== undefined) {
    check(w.length === n, 'BAD_SHAPE', `length ${w.length} != samples ${n}`, 'weights');
    let positive = 0;
    for (let i = 0; i < n; i++) {
      const x = w[i]!;
      if (!(Number.isFinite(x) && x >= 0)) throw new KvpackError('BAD_PARAM', `element ${i} is ${x}: weights must be finite and >= 0`, 'weights');
      if (x > 0) positive++;
    }
    check(positive >= k, 'BAD_CALIBRATION', `${positive} samples have a positive weight, fewer than ${k} centroids`, 'weights');
  }
}

/**
 * k-means++ seeding (Arthur & Vassilvitskii 2007), weighted: the first centre is drawn with
 * probability proportional to w_i, each next one proportional to w_i * D(x_i)^2 (D = distance to
 * the nearest centre so far). If every remaining weighted D^2 is 0 (fewer distinct points than k),
 * the next centre is a weighted draw as for the first, possibly a duplicate: duplicates are
 * harmless (nearest-centroid ties go to the lowest index).
 */
function seedPlusPlus(x: ArrayLike<number>, n: number, dim: number, k: number, w: ArrayLike<number> | undefined,
  seed: number, centroids: Float64Array): void {
  let state = seed >>> 0;
  let u: number;
  const d2 = new Float64Array(n).fill(Infinity);
  const weightOf = (i: number): number => (w === undefined ? 1 : w[i]!);
  const drawProportional = (mass: (i: number) => number, total: number, r: number): number => {
    let acc = 0, last = -1;
    for (let i = 0; i < n; i++) {
      const m = mass(i);
      if (m > 0) { acc += m; last = i; if (acc > r) return i; }
    }
    return last; // r landed at the top edge through rounding: the last sample with mass
  };
  let totalW = 0;
  for (let i = 0; i < n; i++) totalW += weightOf(i);
  for (let c = 0; c < k; c++) {
    [state, u] = mulberry32Next(state);
    let pick: number;
    let total = 0;
    if (c > 0) for (let i = 0; i < n; i++) total += weightOf(i) * d2[i]!;
    if (c === 0 || !(total > 0)) {
      pick = drawProportional(weightOf, totalW, u * totalW);
    } else {
      pick = drawProportional((i) => weightOf(i) * d2[i]!, total, u * total);
    }
    for (let j = 0; j < dim; j++) centroids[c * dim + j] = x[pick * dim + j]!;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < dim; j++) { const diff = x[i * dim + j]! - centroids[c * dim + j]!; s += diff * diff; }
      if (s < d2[i]!) d2[i] = s;
    }
  }
}

/** Index of the nearest centroid (squared L2, f64); ties go to the lowest index. */
function nearest(x: ArrayLike<number>, i: number, dim: number, centroids: Float64Array, k: number): [number, number] {
  let best = 0, bestD = Infinity;
  for (let c = 0; c < k; c++) {
    let s = 0;
    for (let j = 0; j < dim; j++) { const diff = x[i * dim + j]! - centroids[c * dim + j]!; s += diff * diff; }
    if (s < bestD) { bestD = s; best = c; }
  }
  return [best, bestD];
}

/**
 * Weighted Lloyd k-means of n samples of `dim` values (row-major) into k centroids.
 * Empty (or zero-weight) clusters keep their previous centroid.
 * Throws BAD_CALIBRATION when n < k, NON_FINITE on NaN/Inf samples.
 */
export function kmeans(samples: ArrayLike<number>, n: number, dim: number, k: number, opts: KmeansOptions = {}): KmeansResult {
  checkKmeansInput(samples, n, dim, k, opts);
  const maxIt = opts.maxIterations ?? 20;
  const w = opts.weights;
  const centroids = new Float64Array(k * dim);
  seedPlusPlus(samples, n, dim, k, w, opts.seed ?? 0, centroids);
  const assign = new Int32Array(n).fill(-1);
  const sums = new Float64Array(k * dim);
  const mass = new Float64Array(k);
  let inertia = 0;
  let iterations = 0;
  const assignAll = (): boolean => {
    let changed = false;
    inertia = 0;
    for (let i = 0; i < n; i++) {
      const [c, d] = nearest(samples, i, dim, centroids, k);
      inertia += (w === undefined ? 1 : w[i]!) * d;
      if (assign[i] !== c) { assign[i] = c; changed = true; }
    }
    return changed;
  };
  assignAll();
  opts.onProgress?.(0, maxIt, inertia);
  for (let it = 1; it <= maxIt; it++) {
    sums.fill(0);
    mass.fill(0);
    for (let i = 0; i < n; i++) {
      const c = assign[i]!;
      const wi = w === undefined ? 1 : w[i]!;
      mass[c] = mass[c]! + wi;
      for (let j = 0; j < dim; j++) sums[c * dim + j] = sums[c * dim + j]! + wi * samples[i * dim + j]!;
    }
    for (let c = 0; c < k; c++) {
      if (mass[c]! > 0) for (let j = 0; j < dim; j++) centroids[c * dim + j] = sums[c * dim + j]! / mass[c]!;
    }
    iterations = it;
    const changed = assignAll();
    opts.onProgress?.(it, maxIt, inertia);
    if (!changed) break;
  }
  return { centroids, iterations, inertia };
}
