import { TILE_TOKENS } from '../../format/constants.js';
import { checkCodecContext, TileCodec } from '../base.js';
import { registerCodec } from '../registry.js';
import type { CodecContext } from '../types.js';
import { FP32_KERNELS } from './kernels.js';

/** fp32: the tile's f32 bits verbatim (docs/FORMAT.md "fp32"). The exact baseline. */
export class Fp32Codec extends TileCodec {
  readonly name = 'fp32';
  readonly tileWords: number;

  constructor(ctx: CodecContext) {
    checkCodecContext(ctx);
    super(ctx);
    this.tileWords = TILE_TOKENS * ctx.headDim;
  }

  protected encode(x: Float32Array, _head: number, out: Uint32Array): void {
    out.set(new Uint32Array(x.buffer, x.byteOffset, x.length));
  }

  protected decode(words: Uint32Array, _head: number, out: Float32Array): void {
    out.set(new Float32Array(words.buffer, words.byteOffset, out.length));
  }
}

registerCodec({
  name: 'fp32',
  summary: 'f32 verbatim (32 bits/element), the exact reference',
  streams: ['key', 'value'],
  needsCalibration: false,
  create: (ctx) => new Fp32Codec(ctx),
  kernels: FP32_KERNELS,
});
