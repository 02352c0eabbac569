/**
 * QAQ's per-token bit widths (Dong et al. 2024, arXiv 2403.04643, Sec. 3; the formulas exactly
 * as the reference code computes them, src/quantizer.py `_calc_quantization_bits`).
 *
 * A b-bit uniform quantizer over a range `range` has a worst-case element error
 * e = range / (2 (2^b - 1)), so the fewest bits meeting a tolerated error e are
 * b = ceil(log2(range / (2e) + 1)), clamped to [bitsMin, bitsMax].
 *
 * Values act linearly: o = sum_i a_i v_i, so an error on v_i moves the output by a_i times it.
 * Spreading the quality target T_v over n tokens gives e_i = sqrt(T_v) / n / a_i.
 *
 * Keys act through the softmax: a score error ds_i moves the weights by J ds with
 * J = diag(a) - a a^T, and |ds_i| <= qMax * |dk_i| per channel. The strongest effect of token
 * i's score on any weight is x_i = max_j |J_ij| = a_i * max(1 - a_i, max_{j != i} a_j), giving
 * e_i = sqrt(T_k / headDim) / n / (qMax x_i).
 *
 * `a` is the attention-window prediction of the token's importance: the largest weight it got
 * from the last `attentionWindow` queries (all query heads of its group), see attention-window.ts.
 */

/** Fewest bits whose worst-case error on `range` is <= maxError, clamped to [lo, hi]. */
export function bitsForError(range: number, maxError: number, lo: number, hi: number): number {
  if (!(range > 0) || !(maxError < Infinity)) return lo;
  if (!(maxError > 0)) return hi;
  const b = Math.ceil(Math.log2(range / (2 * maxError) + 1));
  return b < lo ? lo : b > hi ? hi : b;
}

/**
 * Value bits of one token: `a` = its predicted attention weight, `n` = tokens in the sequence,
 * `range` = max - min of its non-outlier elements.
 */
export function valueBits(range: number, a: number, n: number, targetValueError: number, lo: number, hi: number): number {
  const maxError = a > 0 ? Math.sqrt(targetValueError) / n / a : Infinity;
  return bitsForError(range, maxError, lo, hi);
}

/**
 * Key bits of one token: `a` its predicted weight, `other` = the largest predicted weight of any
 * other token (max_{j != i} a_j), `headDim` the head size, `qMax` the largest query element.
 */
export function keyBits(range: number, a: number, other: number, n: number, headDim: number,
  qMax: number, targetKeyError: number, lo: number, hi: number): number {
  const x = a * Math.max(1 - a, other);
  const maxError = x > 0 ? Math.sqrt(targetKeyError / headDim) / n / (qMax * x) : Infinity;
  return bitsForError(range, maxError, lo, hi);
}
