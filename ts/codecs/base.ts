import { check, KvpackError } from '../errors.js';
import { HEAD_DIM_MULTIPLE, MAX_HEAD_DIM, TILE_TOKENS } from '../format/constants.js';
import type { CodecContext, StreamCodec, StreamKind } from './types.js';

/** Validates the shape part of a CodecContext (the cache checks it too; codecs can be built alone). */
export function checkCodecContext(ctx: CodecContext, allowedOptions: readonly string[] = []): void {
  check(ctx.kind === 'key' || ctx.kind === 'value', 'BAD_PARAM', `must be 'key' or 'value', got ${String(ctx.kind)}`, 'kind');
  check(Number.isInteger(ctx.nKvHeads) && ctx.nKvHeads > 0, 'BAD_PARAM', `must be a positive integer, got ${ctx.nKvHeads}`, 'nKvHeads');
  check(Number.isInteger(ctx.headDim) && ctx.headDim > 0 && ctx.headDim % HEAD_DIM_MULTIPLE === 0 && ctx.headDim <= MAX_HEAD_DIM,
    'BAD_PARAM', `must be a multiple of ${HEAD_DIM_MULTIPLE} in [${HEAD_DIM_MULTIPLE}, ${MAX_HEAD_DIM}], got ${ctx.headDim}`, 'headDim');
  for (const key of Object.keys(ctx.options ?? {})) {
    if (!allowedOptions.includes(key)) {
      throw new KvpackError('BAD_PARAM', `unknown option '${key}'${allowedOptions.length ? `; known: ${allowedOptions.join(', ')}` : ''}`, 'options');
    }
  }
}

/**
 * Common shell of a tile codec: validates the arguments of encodeTile/decodeTile (so a codec's
 * own code only deals with a well-formed tile) and carries the descriptor fields.
 */
export abstract class TileCodec implements StreamCodec {
  readonly kind: StreamKind;
  readonly headDim: number;
  readonly nKvHeads: number;
  readonly paramWords: Uint32Array = new Uint32Array(0);
  abstract readonly name: string;
  abstract readonly tileWords: number;

  constructor(ctx: CodecContext) {
    this.kind = ctx.kind;
    this.headDim = ctx.headDim;
    this.nKvHeads = ctx.nKvHeads;
  }

  /** Elements of one tile: TILE_TOKENS * headDim. */
  get tileElements(): number {
    return TILE_TOKENS * this.headDim;
  }

  encodeTile(x: Float32Array, head: number, out: Uint32Array): void {
    this.checkHead(head);
    check(x.length === this.tileElements, 'BAD_SHAPE', `length ${x.length} != TILE_TOKENS*headDim=${this.tileElements}`, 'x');
    check(out.length >= this.tileWords, 'BAD_SHAPE', `length ${out.length} < tileWords=${this.tileWords}`, 'out');
    this.encode(x, head, out);
  }

  decodeTile(words: Uint32Array, head: number, out: Float32Array): void {
    this.checkHead(head);
    check(words.length >= this.tileWords, 'BAD_SHAPE', `length ${words.length} < tileWords=${this.tileWords}`, 'words');
    check(out.length === this.tileElements, 'BAD_SHAPE', `length ${out.length} != TILE_TOKENS*headDim=${this.tileElements}`, 'out');
    this.decode(words, head, out);
  }

  /** x is exactly one tile, out has at least tileWords words. */
  protected abstract encode(x: Float32Array, head: number, out: Uint32Array): void;
  protected abstract decode(words: Uint32Array, head: number, out: Float32Array): void;

  private checkHead(head: number): void {
    check(Number.isInteger(head) && head >= 0 && head < this.nKvHeads, 'BAD_PARAM', `must be in [0, ${this.nKvHeads}), got ${head}`, 'head');
  }
}
