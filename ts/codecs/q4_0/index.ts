import { TILE_TOKENS } from '../../format/constants.js';
import { checkCodecContext, TileCodec } from '../base.js';
import { Q_BLOCK, readBlockScale, writeBlockScale } from '../q8_0/index.js';
import { registerCodec } from '../registry.js';
import type { CodecContext } from '../types.js';
import { blockSignedAbsMax, q4Code, q4Scale, F16_MAX } from '../uniform.js';
import { Q4_0_KERNELS } from './kernels.js';

/**
 * q4_0 (docs/FORMAT.md "q4_0"): llama.cpp block math (s = m / -8, codes 0..15 with 8 = zero),
 * scale region as q8_0, then 4d code words with nibble e at bits 4(e % 8) of word e / 8: the
 * generic code-stream rule, not llama.cpp's low/high-half nibble split.
 */
export class Q4_0Codec extends TileCodec {
  readonly name = 'q4_0';
  readonly tileWords: number;
  readonly blocks: number;
  readonly codeOffset: number;

  constructor(ctx: CodecContext) {
    checkCodecContext(ctx);
    super(ctx);
    this.blocks = (TILE_TOKENS * ctx.headDim) / Q_BLOCK;
    this.codeOffset = this.blocks / 2;
    this.tileWords = this.codeOffset + (TILE_TOKENS * ctx.headDim) / 8;
  }

  protected encode(x: Float32Array, _head: number, out: Uint32Array): void {
    for (let b = 0; b < this.blocks; b++) {
      const s = q4Scale(blockSignedAbsMax(x, b * Q_BLOCK, Q_BLOCK));
      writeBlockScale(out, b, s);
      // one block = 32 nibbles = 4 whole words
      for (let w = 0; w < Q_BLOCK / 8; w++) {
        let word = 0;
        for (let k = 0; k < 8; k++) word |= q4Code(x[b * Q_BLOCK + w * 8 + k]!, s) << (4 * k);
        out[this.codeOffset + b * (Q_BLOCK / 8) + w] = word >>> 0;
      }
    }
  }

  protected decode(words: Uint32Array, _head: number, out: Float32Array): void {
    for (let b = 0; b < this.blocks; b++) {
      const s = readBlockScale(words, b);
      for (let w = 0; w < Q_BLOCK / 8; w++) {
        const word = words[this.codeOffset + b * (Q_BLOCK / 8) + w]!;
        for (let k = 0; k < 8; k++) out[b * Q_BLOCK + w * 8 + k] = Math.fround((((word >>> (4 * k)) & 15) - 8) * s);
      }
    }
  }
}

registerCodec({
  name: 'q4_0',
  summary: 'llama.cpp q4_0: 32-element blocks, f16 scale, 4-bit codes (4.5 bits/element)',
  streams: ['key', 'value'],
  needsCalibration: false,
  create: (ctx) => new Q4_0Codec(ctx),
  kernels: Q4_0_KERNELS,
  maxAbs: 8 * F16_MAX, // f16 scale = m / -8
});
