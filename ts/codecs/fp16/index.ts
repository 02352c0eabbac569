import { f16BitsToF32 } from '../../format/f16.js';
import { TILE_TOKENS } from '../../format/constants.js';
import { checkCodecContext, TileCodec } from '../base.js';
import { registerCodec } from '../registry.js';
import type { CodecContext } from '../types.js';
import { metaF16Bits as saturatingF16Bits, F16_MAX } from '../uniform.js';
import { FP16_KERNELS } from './kernels.js';

/**
 * fp16: word i = f16 pair (element 2i, element 2i+1), round-to-nearest-even, saturating at
 * +-65504 like all kvpack f16 conversions (docs/FORMAT.md "fp16"): WGSL's pack2x16float leaves
 * out-of-range results undefined, and a saturated key keeps attention finite.
 */
export class Fp16Codec extends TileCodec {
  readonly name = 'fp16';
  readonly tileWords: number;

  constructor(ctx: CodecContext) {
    checkCodecContext(ctx);
    super(ctx);
    this.tileWords = (TILE_TOKENS * ctx.headDim) / 2;
  }

  protected encode(x: Float32Array, _head: number, out: Uint32Array): void {
    for (let i = 0; i < this.tileWords; i++) {
      out[i] = (saturatingF16Bits(x[2 * i]!) | (saturatingF16Bits(x[2 * i + 1]!) << 16)) >>> 0;
    }
  }

  protected decode(words: Uint32Array, _head: number, out: Float32Array): void {
    for (let i = 0; i < this.tileWords; i++) {
      const w = words[i]!;
      out[2 * i] = f16BitsToF32(w & 0xffff);
      out[2 * i + 1] = f16BitsToF32(w >>> 16);
    }
  }
}

registerCodec({
  name: 'fp16',
  summary: 'IEEE f16 (16 bits/element), saturating at +-65504',
  streams: ['key', 'value'],
  needsCalibration: false,
  create: (ctx) => new Fp16Codec(ctx),
  kernels: FP16_KERNELS,
  maxAbs: F16_MAX, // f16 elements
});
