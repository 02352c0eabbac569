import { check } from '../../errors.js';
import { HEAD_DIM_MULTIPLE, MAX_HEAD_DIM, TILE_TOKENS } from '../../format/constants.js';
import { packCodes, unpackCodes } from '../bitpack.js';
import type { CodecContext, StreamCodec, StreamKind } from '../types.js';
import { codebookFloats, loadCqCalibration, type CqPrecision } from './calibration-format.js';
import { cqName, cqShape, type CqConfig, type CqShape } from './config.js';

const fr = Math.fround;

/**
 * Squared L2 distance of x[xOff..xOff+c) to centroid k of a group, in f32 arithmetic in channel
 * order (each op rounded to f32): the WASM and WGSL encoders do the same operations so that all
 * backends pick the same code.
 */
export function centroidDistanceF32(x: ArrayLike<number>, xOff: number, book: Float32Array, cOff: number, c: number): number {
  let d = 0;
  for (let i = 0; i < c; i++) {
    const diff = fr(x[xOff + i]! - book[cOff + i]!);
    d = fr(d + fr(diff * diff));
  }
  return d;
}

/**
 * Nearest centroid of one group vector: smallest f32 squared distance, ties to the lowest
 * index (centroid 0 when every distance overflows to Inf). `groupOff` = first float of the
 * group's codebook in `book`.
 */
export function nearestCentroid(x: ArrayLike<number>, xOff: number, book: Float32Array, groupOff: number,
  c: number, k: number): number {
  let best = 0;
  let bestD = centroidDistanceF32(x, xOff, book, groupOff, c);
  for (let j = 1; j < k; j++) {
    // partial distance search: f32 sums of squares never decrease, so once the partial sum
    // reaches bestD this centroid cannot win a strict `<`; the result is the full search's
    const off = groupOff + j * c;
    let d = 0;
    let i = 0;
    for (; i < c && d < bestD; i++) {
      const diff = fr(x[xOff + i]! - book[off + i]!);
      d = fr(d + fr(diff * diff));
    }
    if (i === c && d < bestD) { bestD = d; best = j; }
  }
  return best;
}

/** u32 words before the codebook in `paramWords`: c, b, precision (0 = f16, 1 = f32), 0. */
export const CQ_PARAM_HEADER_WORDS = 4;

/**
 * Kernel parameters: a 4-word header (so that one WASM/WGSL kernel serves every configuration)
 * followed by the codebook words (docs/FORMAT.md, "CQ"). Counted in effective bits as stored.
 */
export function cqParamWords(cfg: CqConfig, precision: CqPrecision, codebook: Uint32Array): Uint32Array {
  const out = new Uint32Array(CQ_PARAM_HEADER_WORDS + codebook.length);
  out[0] = cfg.channelsPerGroup;
  out[1] = cfg.bits;
  out[2] = precision === 'f32' ? 1 : 0;
  out.set(codebook, CQ_PARAM_HEADER_WORDS);
  return out;
}

/**
 * CQ stream codec: a tile of 32 tokens x G groups is 32*G codes of b bits, code of (token t,
 * group g) is element e = t*G + g of the tile's code stream (docs/FORMAT.md, "CQ"). No per-tile
 * metadata: everything else is in the codebook (`paramWords`).
 */
export class CqCodec implements StreamCodec {
  readonly name: string;
  /** Every configuration, registered or not, runs CQ's kernels (CQ_KERNELS). */
  readonly family = 'cq';
  readonly kind: StreamKind;
  readonly headDim: number;
  readonly nKvHeads: number;
  readonly tileWords: number;
  readonly paramWords: Uint32Array;
  readonly shape: CqShape;
  readonly precision: CqPrecision;
  /** The centroids as every backend decodes them, [nKvHeads][G][2^b][c]. */
  readonly codebook: Float32Array;
  /** The calibration object this codec was built from (StreamCodec.calibration). */
  readonly calibration: unknown;
  private readonly codes: Uint16Array;

  constructor(cfg: CqConfig, ctx: CodecContext) {
    check(ctx.kind === 'key' || ctx.kind === 'value', 'BAD_PARAM', `must be 'key' or 'value', got ${String(ctx.kind)}`, 'kind');
    check(Number.isInteger(ctx.nKvHeads) && ctx.nKvHeads > 0, 'BAD_PARAM', `must be a positive integer, got ${ctx.nKvHeads}`, 'nKvHeads');
    check(Number.isInteger(ctx.headDim) && ctx.headDim > 0 && ctx.headDim % HEAD_DIM_MULTIPLE === 0 && ctx.headDim <= MAX_HEAD_DIM,
      'BAD_PARAM', `must be a multiple of ${HEAD_DIM_MULTIPLE} in [${HEAD_DIM_MULTIPLE}, ${MAX_HEAD_DIM}], got ${ctx.headDim}`, 'headDim');
    const unknown = Object.keys(ctx.options ?? {});
    check(unknown.length === 0, 'BAD_PARAM', `CQ takes no options (its configuration is in the name and the calibration), got '${unknown[0]}'`, 'options');
    this.shape = cqShape(cfg, ctx.headDim, ctx.nKvHeads);
    const { words, precision } = loadCqCalibration(ctx.calibration, { cfg, kind: ctx.kind, nKvHeads: ctx.nKvHeads, headDim: ctx.headDim });
    this.name = cqName(cfg);
    this.kind = ctx.kind;
    this.headDim = ctx.headDim;
    this.nKvHeads = ctx.nKvHeads;
    this.tileWords = this.shape.tileWords;
    this.paramWords = cqParamWords(cfg, precision, words);
    this.precision = precision;
    this.codebook = codebookFloats(words, precision);
    this.calibration = ctx.calibration;
    this.codes = new Uint16Array(TILE_TOKENS * this.shape.groups);
  }

  /** Float offset of (head, group)'s codebook in `codebook`. */
  groupOffset(head: number, group: number): number {
    return (head * this.shape.groups + group) * this.shape.centroids * this.shape.channelsPerGroup;
  }

  encodeTile(x: Float32Array, head: number, out: Uint32Array): void {
    this.checkHead(head);
    check(x.length === TILE_TOKENS * this.headDim, 'BAD_SHAPE', `length ${x.length} != TILE_TOKENS*headDim=${TILE_TOKENS * this.headDim}`, 'x');
    check(out.length >= this.tileWords, 'BAD_SHAPE', `length ${out.length} < tileWords=${this.tileWords}`, 'out');
    const { groups: G, channelsPerGroup: c, centroids: k, bits } = this.shape;
    for (let t = 0; t < TILE_TOKENS; t++) {
      for (let g = 0; g < G; g++) {
        this.codes[t * G + g] = nearestCentroid(x, t * this.headDim + g * c, this.codebook, this.groupOffset(head, g), c, k);
      }
    }
    packCodes(this.codes, bits, out, 0);
  }

  decodeTile(words: Uint32Array, head: number, out: Float32Array): void {
    this.checkHead(head);
    check(words.length >= this.tileWords, 'BAD_SHAPE', `length ${words.length} < tileWords=${this.tileWords}`, 'words');
    check(out.length === TILE_TOKENS * this.headDim, 'BAD_SHAPE', `length ${out.length} != TILE_TOKENS*headDim=${TILE_TOKENS * this.headDim}`, 'out');
    const { groups: G, channelsPerGroup: c } = this.shape;
    unpackCodes(words, 0, this.shape.bits, this.codes);
    for (let t = 0; t < TILE_TOKENS; t++) {
      for (let g = 0; g < G; g++) {
        const src = this.groupOffset(head, g) + this.codes[t * G + g]! * c;
        for (let i = 0; i < c; i++) out[t * this.headDim + g * c + i] = this.codebook[src + i]!;
      }
    }
  }

  /** Codes of one tile, [32][G], read from its words (for LUT attention and tests). */
  readCodes(words: Uint32Array, out: Uint16Array): void {
    unpackCodes(words, 0, this.shape.bits, out);
  }

  private checkHead(head: number): void {
    check(Number.isInteger(head) && head >= 0 && head < this.nKvHeads, 'BAD_PARAM', `must be in [0, ${this.nKvHeads}), got ${head}`, 'head');
  }
}
