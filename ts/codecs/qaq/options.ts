import { check, KvpackError } from '../../errors.js';

/**
 * QAQ hyper-parameters (Dong et al. 2024, arXiv 2403.04643; names of the reference code
 * ClubieDong/QAQ-KVCacheQuantization src/quantizer.py in brackets). See docs/codecs/qaq.md.
 */
export interface QaqOptions {
  /** Key quality target T_k > 0 [target_quantization_error of the key quantizer]. Larger = fewer bits. */
  targetKeyError: number;
  /** Value quality target T_v > 0 [target_quantization_error of the value quantizer]. */
  targetValueError: number;
  /** Smallest and largest per-token code width, 1 <= bitsMin <= bitsMax <= 8 [n_bits_min, n_bits_max]. */
  bitsMin: number;
  bitsMax: number;
  /** Recent queries whose attention predicts a token's importance, >= 1 [last_n_attentions]. */
  attentionWindow: number;
  /**
   * Largest query magnitude in the key formula, > 0 [max_q_value]: one number or one per KV head.
   * calibrateQaq measures it on real queries; the reference code's experiments use 3.
   */
  qMax: number | readonly number[];
  /** Fraction of each quantization group kept exactly (half each tail), in [0, 1) [outliers_ratio]. */
  outlierRatio: number;
  /**
   * Quantization group: 'head' = one KV head's headDim channels of a token (bits per token and
   * head), 'layer' = all KV heads of a token in this layer (bits per token) [level]. 'auto'
   * (default) = 'head' for headDim >= 32, else 'layer': a record costs 37 words of metadata per
   * 32 rows, 37/rowWidth bits per element, 4.6 bits at headDim 8 with 'head'.
   */
  level: 'head' | 'layer' | 'auto';
}

/**
 * Defaults: an operating point that keeps perplexity on stories260K (bench/quality-qaq.ts,
 * docs/codecs/qaq.md "Results"). The reference code's grid (src/experiments/grid_search.py) uses
 * W = 5, bitsMin 1-2, bitsMax 8, r in {0, 0.01}, qMax 3, T_k 1e3-1e6, T_v 1-1e3; on a streaming
 * decode those let tokens whose importance rises after sealing keep 2-bit keys (perplexity
 * +23% at 8 effective bits), so kvpack defaults to a longer window and a higher floor.
 */
export const QAQ_DEFAULTS: QaqOptions = {
  targetKeyError: 1e4,
  targetValueError: 1,
  bitsMin: 4,
  bitsMax: 8,
  attentionWindow: 32,
  qMax: 3,
  outlierRatio: 0,
  level: 'auto',
};

/** Largest attention window: the per-token history ring is attentionWindow floats per tail token. */
export const QAQ_MAX_ATTENTION_WINDOW = 4096;

/** Validated options with qMax expanded to one value per KV head. */
export interface ResolvedQaqOptions extends Omit<QaqOptions, 'qMax' | 'level'> {
  qMax: Float64Array;
  level: 'head' | 'layer';
}

const KNOWN = new Set(Object.keys(QAQ_DEFAULTS));

/**
 * Merges `opts` over the defaults and validates every field: BAD_PARAM naming the field.
 * Unknown fields are rejected too (a typo must not silently fall back to a default).
 */
export function resolveQaqOptions(opts: Record<string, unknown> | undefined, nKvHeads: number, headDim = 128): ResolvedQaqOptions {
  const o = { ...QAQ_DEFAULTS, ...(opts ?? {}) } as Record<string, unknown>;
  for (const k of Object.keys(opts ?? {})) {
    if (!KNOWN.has(k)) throw new KvpackError('BAD_PARAM', `unknown QAQ option (known: ${[...KNOWN].join(', ')})`, k);
  }
  const positive = (name: string): number => {
    const v = o[name];
    check(typeof v === 'number' && Number.isFinite(v) && v > 0, 'BAD_PARAM', `must be a finite number > 0, got ${String(v)}`, name);
    return v;
  };
  const targetKeyError = positive('targetKeyError');
  const targetValueError = positive('targetValueError');
  const bitsMin = o.bitsMin, bitsMax = o.bitsMax;
  check(typeof bitsMin === 'number' && Number.isInteger(bitsMin) && bitsMin >= 1 && bitsMin <= 8, 'BAD_PARAM',
    `must be an integer in [1, 8], got ${String(bitsMin)}`, 'bitsMin');
  check(typeof bitsMax === 'number' && Number.isInteger(bitsMax) && bitsMax >= bitsMin && bitsMax <= 8, 'BAD_PARAM',
    `must be an integer in [bitsMin=${bitsMin}, 8], got ${String(bitsMax)}`, 'bitsMax');
  const w = o.attentionWindow;
  check(typeof w === 'number' && Number.isInteger(w) && w >= 1 && w <= QAQ_MAX_ATTENTION_WINDOW, 'BAD_PARAM',
    `must be an integer in [1, ${QAQ_MAX_ATTENTION_WINDOW}], got ${String(w)}`, 'attentionWindow');
  const r = o.outlierRatio;
  check(typeof r === 'number' && Number.isFinite(r) && r >= 0 && r < 1, 'BAD_PARAM',
    `must be in [0, 1), got ${String(r)}`, 'outlierRatio');
  check(o.level === 'head' || o.level === 'layer' || o.level === 'auto', 'BAD_PARAM', `must be 'head', 'layer' or 'auto', got ${String(o.level)}`, 'level');
  const level = o.level === 'auto' ? (headDim >= 32 ? 'head' : 'layer') : o.level;
  const qMax = new Float64Array(nKvHeads);
  const q = o.qMax;
  if (typeof q === 'number') {
    check(Number.isFinite(q) && q > 0, 'BAD_PARAM', `must be a finite number > 0, got ${q}`, 'qMax');
    qMax.fill(q);
  } else {
    check(Array.isArray(q) && q.length === nKvHeads, 'BAD_PARAM',
      `must be a number or an array of nKvHeads=${nKvHeads} numbers`, 'qMax');
    (q as unknown[]).forEach((v, i) => {
      check(typeof v === 'number' && Number.isFinite(v) && v > 0, 'BAD_PARAM', `element ${i} must be a finite number > 0, got ${String(v)}`, 'qMax');
      qMax[i] = v;
    });
  }
  return {
    targetKeyError, targetValueError, bitsMin, bitsMax, attentionWindow: w, outlierRatio: r, level, qMax,
  };
}
