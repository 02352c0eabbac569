import { check, KvpackError } from '../errors.js';

/**
 * b-bit code streams inside a Uint32Array region (docs/FORMAT.md, "Code streams").
 *
 * Rule for every width: the region is one little-endian bit stream; element `e` occupies bits
 * `[e*b, e*b + b)` of it, i.e. it starts at bit `(e*b) % 32` of word `floor(e*b / 32)`.
 * When b divides 32 (1, 2, 4, 8, 16) a code never crosses a word. For 3, 5, 6, 7 bits a code may
 * straddle two words: its low `32 - (e*b) % 32` bits end word w and its remaining high bits start
 * word w+1. One rule for all widths keeps one GPU/WASM unpack routine for every codec.
 */

/** Code widths kvpack packs: 1..8 (scalar quantizers), 9..12 (CQ codebook indices) and 16. */
export const CODE_BITS: readonly number[] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16];

export function checkCodeBits(bits: number, arg = 'bits'): void {
  check(CODE_BITS.includes(bits), 'BAD_PARAM', `code width must be one of ${CODE_BITS.join(', ')}, got ${bits}`, arg);
}

/** u32 words holding `count` codes of `bits` bits (the last word may be partly unused). */
export function codeWords(count: number, bits: number): number {
  checkCodeBits(bits);
  check(Number.isInteger(count) && count >= 0, 'BAD_PARAM', `must be a non-negative integer, got ${count}`, 'count');
  return Math.ceil((count * bits) / 32);
}

function checkRegion(words: Uint32Array, wordOffset: number, count: number, bits: number, arg: string): void {
  check(Number.isInteger(wordOffset) && wordOffset >= 0, 'BAD_PARAM', `must be a non-negative integer, got ${wordOffset}`, 'wordOffset');
  const need = wordOffset + codeWords(count, bits);
  check(words.length >= need, 'BAD_SHAPE', `needs ${need} words for ${count} ${bits}-bit codes at offset ${wordOffset}, has ${words.length}`, arg);
}

/** Unchecked write of one code (read-modify-write, so the region need not be zeroed). */
function putCode(words: Uint32Array, wordOffset: number, e: number, bits: number, code: number): void {
  const bit = e * bits;
  const w = wordOffset + (bit >>> 5);
  const shift = bit & 31;
  const mask = (1 << bits) - 1;
  words[w] = ((words[w]! & ~(mask << shift)) | (code << shift)) >>> 0;
  const spill = shift + bits - 32;
  if (spill > 0) {
    // the high `spill` bits of the code start the next word
    const hiMask = (1 << spill) - 1;
    words[w + 1] = ((words[w + 1]! & ~hiMask) | (code >>> (bits - spill))) >>> 0;
  }
}

/** Unchecked read of one code. */
function getCode(words: Uint32Array, wordOffset: number, e: number, bits: number): number {
  const bit = e * bits;
  const w = wordOffset + (bit >>> 5);
  const shift = bit & 31;
  const mask = (1 << bits) - 1;
  let v = words[w]! >>> shift;
  if (shift + bits > 32) v |= words[w + 1]! << (32 - shift);
  return v & mask;
}

/** Write code `code` (0 <= code < 2^bits) of element `e` into the stream at `wordOffset`. */
export function writeCode(words: Uint32Array, wordOffset: number, e: number, bits: number, code: number): void {
  checkRegion(words, wordOffset, e + 1, bits, 'words');
  check(Number.isInteger(code) && code >= 0 && code < 2 ** bits, 'BAD_PARAM', `${code} is not a ${bits}-bit code`, 'code');
  putCode(words, wordOffset, e, bits, code);
}

/** Read the code of element `e` from the stream at `wordOffset`. */
export function readCode(words: Uint32Array, wordOffset: number, e: number, bits: number): number {
  checkRegion(words, wordOffset, e + 1, bits, 'words');
  return getCode(words, wordOffset, e, bits);
}

/**
 * Write `codes.length` codes as elements 0.. of the stream at `wordOffset`. Bits of the region's
 * last word past the final code are left as they were (tiles start zeroed, so they stay 0).
 */
export function packCodes(codes: ArrayLike<number>, bits: number, out: Uint32Array, wordOffset: number): void {
  checkRegion(out, wordOffset, codes.length, bits, 'out');
  const limit = 2 ** bits;
  for (let e = 0; e < codes.length; e++) {
    const c = codes[e]!;
    if (!(Number.isInteger(c) && c >= 0 && c < limit)) {
      throw new KvpackError('BAD_PARAM', `element ${e}: ${c} is not a ${bits}-bit code`, 'codes');
    }
  }
  for (let e = 0; e < codes.length; e++) putCode(out, wordOffset, e, bits, codes[e]!);
}

/** Read `out.length` codes (elements 0..) of the stream at `wordOffset` into `out`. */
export function unpackCodes(words: Uint32Array, wordOffset: number, bits: number,
  out: { length: number; [i: number]: number }): void {
  checkRegion(words, wordOffset, out.length, bits, 'words');
  for (let e = 0; e < out.length; e++) out[e] = getCode(words, wordOffset, e, bits);
}
