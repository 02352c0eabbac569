import { TILE_TOKENS } from '../../format/constants.js';
import { checkCodecContext, TileCodec } from '../base.js';
import { packCodes, unpackCodes } from '../bitpack.js';
import { registerCodec } from '../registry.js';
import type { CodecContext } from '../types.js';
import { dequantizeAffineGroup, packAffineMeta, quantizeAffineGroup, unpackAffineMeta, F16_MAX } from '../uniform.js';
import { kiviKernels } from './kernels.js';

/**
 * KIVI (Liu et al., "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache", ICML 2024,
 * arXiv 2402.02750): asymmetric b-bit quantization with f16 scale/zero, keys grouped
 * per-channel (the tile's 32 tokens of one channel: the paper's group size G = 32 along tokens),
 * values per-token (groups of min(32, d) channels). The paper's full-precision residual R is the
 * cache's `window`. Layouts: docs/FORMAT.md "KIVI".
 */
export class KiviCodec extends TileCodec {
  readonly name: string;
  readonly tileWords: number;
  readonly bits: number;
  /** Values: channels per group, min(32, headDim); keys: tokens per group, TILE_TOKENS. */
  readonly groupSize: number;
  /** Metadata words (one f16 scale/zero pair per group); the codes follow them. */
  readonly metaWords: number;
  private readonly codes: Uint8Array;

  constructor(ctx: CodecContext, bits: number) {
    checkCodecContext(ctx);
    super(ctx);
    const d = ctx.headDim;
    this.bits = bits;
    this.name = `kivi${bits}`;
    this.groupSize = ctx.kind === 'key' ? TILE_TOKENS : Math.min(32, d);
    this.metaWords = ctx.kind === 'key' ? d : (TILE_TOKENS * d) / this.groupSize;
    this.tileWords = this.metaWords + bits * d; // 32 d codes of b bits = b d words
    this.codes = new Uint8Array(TILE_TOKENS * d);
  }

  protected encode(x: Float32Array, _head: number, out: Uint32Array): void {
    const d = this.headDim;
    if (this.kind === 'key') {
      for (let c = 0; c < d; c++) {
        out[c] = packAffineMeta(quantizeAffineGroup(x, c, d, TILE_TOKENS, this.bits, this.codes));
      }
    } else {
      const G = this.groupSize;
      for (let g = 0; g < this.metaWords; g++) {
        // group g = token floor(g / (d/G)), channel group g % (d/G): G consecutive elements at g*G
        out[g] = packAffineMeta(quantizeAffineGroup(x, g * G, 1, G, this.bits, this.codes));
      }
    }
    packCodes(this.codes, this.bits, out, this.metaWords);
  }

  protected decode(words: Uint32Array, _head: number, out: Float32Array): void {
    const d = this.headDim;
    unpackCodes(words, this.metaWords, this.bits, this.codes);
    if (this.kind === 'key') {
      for (let c = 0; c < d; c++) dequantizeAffineGroup(this.codes, c, d, TILE_TOKENS, unpackAffineMeta(words[c]!), out);
    } else {
      const G = this.groupSize;
      for (let g = 0; g < this.metaWords; g++) dequantizeAffineGroup(this.codes, g * G, 1, G, unpackAffineMeta(words[g]!), out);
    }
  }
}

for (const bits of [2, 4, 8]) {
  registerCodec({
    name: `kivi${bits}`,
    summary: `KIVI ${bits}-bit: keys per-channel (32 tokens), values per-token (32 channels), f16 scale/zero`,
    streams: ['key', 'value'],
    needsCalibration: false,
    create: (ctx) => new KiviCodec(ctx, bits),
    kernels: kiviKernels(bits),
    maxAbs: F16_MAX, // f16 zero point = the group's minimum (saturates past it)
  });
}
