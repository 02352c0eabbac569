import { check } from '../../errors.js';
import { f16BitsToF32 } from '../../format/f16.js';
import { TILE_TOKENS } from '../../format/constants.js';
import { affineCode, affineDecode, affineParams, metaF16Bits, packAffineMeta, unpackAffineMeta } from '../uniform.js';
import { selectOutliers } from './outliers.js';

/**
 * One QAQ record: TILE_TOKENS tokens x one quantization row of `rowWidth` elements of one
 * stream, every token with its own code width (docs/FORMAT.md, "QAQ"). Words, in order:
 *
 *   [0, 4)            widths: 4 bits per token, token t at bits 4(t % 8) of word t / 8 (1..8)
 *   [4, 36)           meta: word 4 + t = f16 pair (scale, zero) of token t
 *   [36, 36 + 32 m)   outliers, m per token: word 36 + t m + j = column (bits 0-15) | f16 value
 *                     (bits 16-31, saturated to +-65504), columns ascending within a token
 *   [36 + 32 m, ...)  codes: one little-endian bit stream; token t starts at bit
 *                     rowWidth * (b_0 + ... + b_{t-1}), element c of it at + c b_t
 *
 * Outlier positions also hold a code (of the clamped value) so that a token's codes stay one
 * uniform run; the decoder overwrites them with the exact values.
 */
export const QAQ_WIDTH_WORDS = TILE_TOKENS / 8;
export const QAQ_META_OFFSET = QAQ_WIDTH_WORDS;
export const QAQ_OUTLIER_OFFSET = QAQ_META_OFFSET + TILE_TOKENS;

export function recordOutlierWords(outliersPerRow: number): number {
  return TILE_TOKENS * outliersPerRow;
}

/** Word offset of the code stream inside a record. */
export function recordCodeOffset(outliersPerRow: number): number {
  return QAQ_OUTLIER_OFFSET + recordOutlierWords(outliersPerRow);
}

/** Total words of a record with the given per-token widths. */
export function recordWords(rowWidth: number, outliersPerRow: number, bits: ArrayLike<number>): number {
  let sum = 0;
  for (let t = 0; t < TILE_TOKENS; t++) sum += bits[t]!;
  return recordCodeOffset(outliersPerRow) + Math.ceil((rowWidth * sum) / 32);
}

/** Largest record (every token at 8 bits): pages must hold at least this. */
export function maxRecordWords(rowWidth: number, outliersPerRow: number): number {
  return recordCodeOffset(outliersPerRow) + rowWidth * 8;
}

/** Width of token t as stored. */
export function recordTokenBits(words: Uint32Array, off: number, t: number): number {
  return (words[off + (t >>> 3)]! >>> ((t & 7) * 4)) & 15;
}

function putBits(words: Uint32Array, base: number, bit: number, bits: number, code: number): void {
  const w = base + (bit >>> 5), shift = bit & 31;
  words[w] = (words[w]! | (code << shift)) >>> 0;
  if (shift + bits > 32) words[w + 1] = (words[w + 1]! | (code >>> (32 - shift))) >>> 0;
}

function getBits(words: Uint32Array, base: number, bit: number, bits: number): number {
  const w = base + (bit >>> 5), shift = bit & 31;
  let v = words[w]! >>> shift;
  if (shift + bits > 32) v |= words[w + 1]! << (32 - shift);
  return v & ((1 << bits) - 1);
}

/**
 * Encodes rows[t * rowWidth + c] (t < TILE_TOKENS) with widths bits[t] into out[off ..
 * off + recordWords); the region must be zeroed. `outliers[t]` are token t's outlier columns
 * (selectOutliers), all of the same length `outliersPerRow`.
 */
export function encodeRecord(rows: Float32Array, rowWidth: number, bits: ArrayLike<number>,
  outliers: readonly (readonly number[])[], outliersPerRow: number, out: Uint32Array, off: number): number {
  check(rows.length === TILE_TOKENS * rowWidth, 'BAD_SHAPE', `length ${rows.length} != ${TILE_TOKENS}*${rowWidth}`, 'rows');
  const total = recordWords(rowWidth, outliersPerRow, bits);
  check(out.length >= off + total, 'BAD_SHAPE', `needs ${total} words at ${off}, has ${out.length}`, 'out');
  const codeBase = off + recordCodeOffset(outliersPerRow);
  let bit = 0;
  for (let t = 0; t < TILE_TOKENS; t++) {
    const b = bits[t]!;
    check(Number.isInteger(b) && b >= 1 && b <= 8, 'BAD_PARAM', `token ${t}: width ${b} not in [1, 8]`, 'bits');
    const cols = outliers[t]!;
    check(cols.length === outliersPerRow, 'BAD_SHAPE', `token ${t}: ${cols.length} outliers, expected ${outliersPerRow}`, 'outliers');
    out[off + (t >>> 3)] = (out[off + (t >>> 3)]! | (b << ((t & 7) * 4))) >>> 0;
    // min/max over the non-outliers only: the tighter range the outliers leave behind
    let min = Infinity, max = -Infinity, k = 0;
    const r0 = t * rowWidth;
    for (let c = 0; c < rowWidth; c++) {
      if (k < cols.length && cols[k] === c) { k++; continue; }
      const v = rows[r0 + c]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (min > max) { min = 0; max = 0; } // every element is an outlier
    const p = affineParams(min, max, b);
    out[off + QAQ_META_OFFSET + t] = packAffineMeta(p);
    for (let j = 0; j < cols.length; j++) {
      const c = cols[j]!;
      out[off + QAQ_OUTLIER_OFFSET + t * outliersPerRow + j] = (c | (metaF16Bits(rows[r0 + c]!) << 16)) >>> 0;
    }
    for (let c = 0; c < rowWidth; c++) {
      putBits(out, codeBase, bit, b, affineCode(rows[r0 + c]!, p, b));
      bit += b;
    }
  }
  return total;
}

/**
 * Decodes columns [col0, col0 + width) of every token of the record at `off` into
 * out[t * width + i] (one head's slice of a 'layer' record, or the whole row).
 */
export function decodeRecord(words: Uint32Array, off: number, rowWidth: number, outliersPerRow: number,
  col0: number, width: number, out: Float32Array): void {
  const codeBase = off + recordCodeOffset(outliersPerRow);
  let bit = 0;
  for (let t = 0; t < TILE_TOKENS; t++) {
    const b = recordTokenBits(words, off, t);
    const p = unpackAffineMeta(words[off + QAQ_META_OFFSET + t]!);
    for (let i = 0; i < width; i++) {
      out[t * width + i] = affineDecode(getBits(words, codeBase, bit + (col0 + i) * b, b), p);
    }
    for (let j = 0; j < outliersPerRow; j++) {
      const w = words[off + QAQ_OUTLIER_OFFSET + t * outliersPerRow + j]!;
      const c = w & 0xffff;
      if (c >= col0 && c < col0 + width) out[t * width + c - col0] = f16BitsToF32(w >>> 16);
    }
    bit += b * rowWidth;
  }
}

/** Convenience for tests: selects outliers per row and encodes into a fresh array. */
export function encodeRecordFresh(rows: Float32Array, rowWidth: number, bits: ArrayLike<number>,
  outlierRatio: number): { words: Uint32Array; outliersPerRow: number } {
  const outliers: number[][] = [];
  for (let t = 0; t < TILE_TOKENS; t++) outliers.push(selectOutliers(rows, t * rowWidth, rowWidth, outlierRatio));
  const m = outliers[0]!.length;
  const words = new Uint32Array(recordWords(rowWidth, m, bits));
  encodeRecord(rows, rowWidth, bits, outliers, m, words, 0);
  return { words, outliersPerRow: m };
}
