/**
 * QAQ outliers (Dong et al. 2024, arXiv 2403.04643, "outliers"; reference code
 * src/quantizer.py `_calc_outlier_mask`): in each quantization group of N elements the
 * `ceil(r/2 N)` lowest and the `N - floor((1 - r/2) N)` highest elements are kept exactly and
 * the rest is quantized over its own, tighter [min, max].
 *
 * The reference marks `x <= kth(ceil(r/2 N))` and `x > kth(floor((1 - r/2) N))`, which on ties
 * can take more (a constant row would be all outliers). kvpack ranks elements by (value, index)
 * instead, which is the same set when values are distinct and gives every row of a cache the
 * same outlier count, so a record's size depends on its bit widths only (docs/FORMAT.md, QAQ).
 */

/** Outliers per group of `n` elements at ratio r in [0, 1): [low count, high count]. */
export function outlierSplit(n: number, ratio: number): [number, number] {
  if (ratio <= 0) return [0, 0];
  const low = Math.ceil((ratio / 2) * n);
  const upRank = Math.max(low, Math.floor((1 - ratio / 2) * n));
  return [low, n - upRank];
}

export function outlierCount(n: number, ratio: number): number {
  const [lo, hi] = outlierSplit(n, ratio);
  return lo + hi;
}

/**
 * Columns of the outliers of x[off .. off+n), ascending. `scratch` (length >= n) avoids an
 * allocation per row.
 */
export function selectOutliers(x: ArrayLike<number>, off: number, n: number, ratio: number,
  scratch: Uint32Array = new Uint32Array(n)): number[] {
  const [lo, hi] = outlierSplit(n, ratio);
  if (lo + hi === 0) return [];
  const order = scratch.subarray(0, n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => (x[off + a]! - x[off + b]!) || (a - b));
  const cols: number[] = [];
  for (let i = 0; i < lo; i++) cols.push(order[i]!);
  for (let i = n - hi; i < n; i++) cols.push(order[i]!);
  return cols.sort((a, b) => a - b);
}
