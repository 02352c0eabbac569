import { f16BitsToF32 } from '../../format/f16.js';
import { TILE_TOKENS } from '../../format/constants.js';
import { checkCodecContext, TileCodec } from '../base.js';
import { registerCodec } from '../registry.js';
import type { CodecContext } from '../types.js';
import { blockAbsMax, metaF16Bits, q8Code, q8Scale, F16_MAX } from '../uniform.js';
import { Q8_0_KERNELS } from './kernels.js';

/** Scale of block b: f16 in the low (b even) or high (b odd) half of word b / 2. */
export function writeBlockScale(out: Uint32Array, b: number, s: number): void {
  const w = b >> 1;
  out[w] = b & 1 ? ((out[w]! & 0xffff) | (metaF16Bits(s) << 16)) >>> 0 : ((out[w]! & 0xffff0000) | metaF16Bits(s)) >>> 0;
}

export function readBlockScale(words: Uint32Array, b: number): number {
  const w = words[b >> 1]!;
  return f16BitsToF32(b & 1 ? w >>> 16 : w & 0xffff);
}

/** Elements per q8_0 / q4_0 block, as llama.cpp (QK8_0 = QK4_0 = 32). */
export const Q_BLOCK = 32;

/**
 * q8_0 (docs/FORMAT.md "q8_0"): blocks of 32 consecutive tile elements, one f16 scale each
 * (amax / 127), int8 codes. Scale region d/2 words (f16 pairs), then 8d code words holding the
 * codes as 8-bit two's complement, element e in byte e % 4 of word e / 4.
 */
export class Q8_0Codec extends TileCodec {
  readonly name = 'q8_0';
  readonly tileWords: number;
  /** Blocks per tile (= headDim) and the word where the codes start (= headDim / 2). */
  readonly blocks: number;
  readonly codeOffset: number;

  constructor(ctx: CodecContext) {
    checkCodecContext(ctx);
    super(ctx);
    this.blocks = (TILE_TOKENS * ctx.headDim) / Q_BLOCK;
    this.codeOffset = this.blocks / 2;
    this.tileWords = this.codeOffset + (TILE_TOKENS * ctx.headDim) / 4;
  }

  protected encode(x: Float32Array, _head: number, out: Uint32Array): void {
    for (let b = 0; b < this.blocks; b++) {
      const s = q8Scale(blockAbsMax(x, b * Q_BLOCK, Q_BLOCK));
      writeBlockScale(out, b, s);
      // one block = 32 bytes = 8 whole words, so each block's codes are written word by word
      for (let w = 0; w < Q_BLOCK / 4; w++) {
        let word = 0;
        for (let k = 0; k < 4; k++) word |= (q8Code(x[b * Q_BLOCK + w * 4 + k]!, s) & 0xff) << (8 * k);
        out[this.codeOffset + b * (Q_BLOCK / 4) + w] = word >>> 0;
      }
    }
  }

  protected decode(words: Uint32Array, _head: number, out: Float32Array): void {
    for (let b = 0; b < this.blocks; b++) {
      const s = readBlockScale(words, b);
      for (let w = 0; w < Q_BLOCK / 4; w++) {
        const word = words[this.codeOffset + b * (Q_BLOCK / 4) + w]!;
        for (let k = 0; k < 4; k++) {
          const code = ((word >>> (8 * k)) << 24) >> 24; // sign-extend the byte
          out[b * Q_BLOCK + w * 4 + k] = Math.fround(code * s);
        }
      }
    }
  }
}

registerCodec({
  name: 'q8_0',
  summary: 'llama.cpp q8_0: 32-element blocks, f16 scale, int8 codes (8.5 bits/element)',
  streams: ['key', 'value'],
  needsCalibration: false,
  create: (ctx) => new Q8_0Codec(ctx),
  kernels: Q8_0_KERNELS,
  maxAbs: 127 * F16_MAX, // f16 scale = amax / 127
});
