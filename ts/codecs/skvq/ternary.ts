import { TRITS_PER_BYTE, TRITS_PER_WORD } from './geometry.js';

/**
 * Ternary code stream of SKVQ's 1.5-bit values: element e is base-3 digit e % 5 (weight 3^(e%5))
 * of byte (e % 20) / 5 of word floor(e / 20): 1.6 stored bits per code (docs/codecs/skvq.md, s. 5).
 */
const POW3 = [1, 3, 9, 27, 81];

/** Packs codes[0..count) (each 0..2) into out[wordOffset ..]; words are fully overwritten. */
export function packTrits(codes: ArrayLike<number>, count: number, out: Uint32Array, wordOffset: number): void {
  const words = Math.ceil(count / TRITS_PER_WORD);
  for (let w = 0; w < words; w++) {
    let word = 0;
    for (let byte = 0; byte < 4; byte++) {
      let v = 0;
      for (let i = 0; i < TRITS_PER_BYTE; i++) {
        const e = w * TRITS_PER_WORD + byte * TRITS_PER_BYTE + i;
        if (e < count) v += codes[e]! * POW3[i]!;
      }
      word |= v << (8 * byte);
    }
    out[wordOffset + w] = word >>> 0;
  }
}

/** Code of element e. */
export function readTrit(words: Uint32Array, wordOffset: number, e: number): number {
  const w = words[wordOffset + Math.floor(e / TRITS_PER_WORD)]!;
  const r = e % TRITS_PER_WORD;
  const byte = (w >>> (8 * Math.floor(r / TRITS_PER_BYTE))) & 0xff;
  return Math.floor(byte / POW3[r % TRITS_PER_BYTE]!) % 3;
}
