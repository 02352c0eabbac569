import { check } from '../../errors.js';
import { TILE_TOKENS } from '../../format/constants.js';

/**
 * Group geometry of an SKVQ tile (docs/codecs/skvq.md, "Group geometry"): per KV head, `clusters`
 * channel groups (variable sizes, from calibration) times blocks of `tokensPerGroup` tokens.
 */

/** Bit widths SKVQ supports: 2 and 4 (keys, values), 1.5 = the paper's ternary values. */
export type SkvqBits = 2 | 4 | 1.5;
export const SKVQ_BITS: readonly SkvqBits[] = [2, 4, 1.5];

/** The paper's window (README tags `w128`) and attention-sink count (`sink5`). */
export const SKVQ_DEFAULT_WINDOW = 128;
export const SKVQ_DEFAULT_SINKS = 5;
/** Average elements per group; the paper studies 32/64/128. 32 keeps groups per token at d >= 64. */
export const SKVQ_DEFAULT_GROUP_SIZE = 32;
export const SKVQ_GROUP_SIZES: readonly number[] = [16, 32, 64, 128];

/** Ternary codes: 5 per byte (3^5 = 243 <= 256), 4 bytes per word. */
export const TRITS_PER_BYTE = 5;
export const TRITS_PER_WORD = 20;

export interface SkvqGeometry {
  headDim: number;
  bits: SkvqBits;
  /** Quantization levels: 3 (1.5 bits), 4 (2 bits), 16 (4 bits). */
  levels: number;
  groupSize: number;
  /** Channel clusters per head (C). */
  clusters: number;
  /** Tokens per group (m), a power of two dividing TILE_TOKENS. */
  tokensPerGroup: number;
  /** Meta words per tile: (TILE_TOKENS / m) * C f16 (scale, zero) pairs. */
  metaWords: number;
  codeWords: number;
  tileWords: number;
}

export function checkSkvqBits(bits: unknown, arg = 'bits'): asserts bits is SkvqBits {
  check(SKVQ_BITS.includes(bits as SkvqBits), 'BAD_PARAM', `must be one of ${SKVQ_BITS.join(', ')}, got ${String(bits)}`, arg);
}

export function levelsOf(bits: SkvqBits): number {
  return bits === 1.5 ? 3 : 1 << bits;
}

function pow2Floor(x: number): number {
  return x < 1 ? 0 : 2 ** Math.floor(Math.log2(x));
}

/** Upper bound of meta words (groups) per tile: the WGSL encoder keeps them in workgroup memory. */
export const SKVQ_MAX_GROUPS_PER_TILE = 512;

/**
 * Default C = max(2, round(d / groupSize)) (capped at d); `clusters` overrides it (1..d).
 * m = clamp(pow2floor(groupSize * C / d), 1, 32), so a group holds ~groupSize elements.
 */
export function skvqGeometry(headDim: number, bits: SkvqBits, groupSize = SKVQ_DEFAULT_GROUP_SIZE, clusters?: number): SkvqGeometry {
  checkSkvqBits(bits);
  check(SKVQ_GROUP_SIZES.includes(groupSize), 'BAD_PARAM', `must be one of ${SKVQ_GROUP_SIZES.join(', ')}, got ${groupSize}`, 'groupSize');
  const C = clusters ?? Math.min(headDim, Math.max(2, Math.round(headDim / groupSize)));
  check(Number.isInteger(C) && C >= 1 && C <= headDim, 'BAD_PARAM', `must be an integer in [1, headDim=${headDim}], got ${String(clusters)}`, 'clusters');
  const tokensPerGroup = Math.min(TILE_TOKENS, Math.max(1, pow2Floor((groupSize * C) / headDim)));
  const metaWords = (TILE_TOKENS / tokensPerGroup) * C;
  check(metaWords <= SKVQ_MAX_GROUPS_PER_TILE, 'BAD_PARAM',
    `${metaWords} groups per tile exceed ${SKVQ_MAX_GROUPS_PER_TILE}: fewer clusters or a larger group size`, 'clusters');
  const n = TILE_TOKENS * headDim;
  const codeWords = bits === 1.5 ? Math.ceil(n / TRITS_PER_WORD) : (n * bits) / 32;
  return {
    headDim, bits, levels: levelsOf(bits), groupSize, clusters: C, tokensPerGroup,
    metaWords, codeWords, tileWords: metaWords + codeWords,
  };
}
