import { check } from '../errors.js';
import { TILE_TOKENS } from '../format/constants.js';
import type { StreamCodec, StreamKind } from './types.js';

/**
 * A seeded randomized Hadamard rotation R = H diag(s) / sqrt(d) (H the Sylvester Hadamard
 * matrix, s random signs from `seed`) applied to every token's head vector before another codec
 * packs it, and undone (R^T) after it unpacks. R is orthogonal, so attention over the rotated
 * cache equals attention over the decoded one: q . R^T k' = (R q) . k', which is how a kernel
 * would fold it into the query (and, for values, into the output) instead of rotating every
 * token back. Rotation spreads an outlier channel's energy over all channels, the idea of
 * QuaRot (Ashkboos et al. 2024) and QuIP# (Tseng et al. 2024), so per-token groups see no
 * single huge channel; per-channel schemes (KIVI keys) lose the channel structure instead.
 *
 * The backends fold it at their boundary with the inner codec's kernels unchanged
 * (docs/decisions.md#D135): encoders rotate rows then run the inner encoder; attention runs in
 * the rotated space (query R q, fp32 sinks and tail rotated like the tiles, output R^T o').
 * headDim must be a power of two (64, 128).
 */
export class RotatedCodec implements StreamCodec {
  readonly name: string;
  readonly kind: StreamCodec['kind'];
  readonly headDim: number;
  readonly nKvHeads: number;
  readonly tileWords: number;
  readonly paramWords: Uint32Array;
  /** Signs per head: [nKvHeads][headDim] of +-1 (read by the WGSL rotation pass, attendInto). */
  readonly signs: Float32Array;
  private readonly buf: Float32Array;

  constructor(readonly inner: StreamCodec, readonly seed = 1) {
    const d = inner.headDim;
    check(d > 0 && (d & (d - 1)) === 0, 'BAD_PARAM', `rotation needs a power-of-two head_dim, got ${d}`, 'headDim');
    this.name = `rot-${inner.name}`;
    this.kind = inner.kind;
    this.headDim = d;
    this.nKvHeads = inner.nKvHeads;
    this.tileWords = inner.tileWords;
    this.paramWords = inner.paramWords; // the signs follow from the seed: one u32, not counted
    this.signs = rotationSigns(inner.kind, inner.nKvHeads, d, seed);
    this.buf = new Float32Array(TILE_TOKENS * d);
  }

  encodeTile(x: Float32Array, head: number, out: Uint32Array): void {
    this.buf.set(x.subarray(0, TILE_TOKENS * this.headDim));
    for (let t = 0; t < TILE_TOKENS; t++) this.rotate(this.buf, t * this.headDim, head, false);
    this.inner.encodeTile(this.buf, head, out);
  }

  /**
   * In place, `rows` consecutive rows of `group` head vectors each laid out [row][kvHead][group][d]
   * from `off` (tokens: group 1; queries / outputs of GQA: group = nHeads / nKvHeads): R_h x
   * (forward) or R_h^T x (inverse), h the KV head. Bit for bit the rotation encodeTile applies.
   */
  rotateRows(v: Float32Array, rows: number, group: number, inverse: boolean, off = 0): void {
    rotateHeadRows(v, rows, group, this.nKvHeads, this.headDim, this.signs, inverse, off);
  }

  decodeTile(words: Uint32Array, head: number, out: Float32Array): void {
    this.inner.decodeTile(words, head, out);
    for (let t = 0; t < TILE_TOKENS; t++) this.rotate(out, t * this.headDim, head, true);
  }

  private rotate(v: Float32Array, off: number, head: number, inverse: boolean): void {
    hadamardRotate(v, off, this.headDim, this.signs, head * this.headDim, inverse);
  }
}

/**
 * The +-1 signs of a stream's rotation, [nKvHeads][headDim], from `seed` and the stream's kind
 * (keys and values of one seed get different signs). RotatedCodec.signs; the calibration of a
 * rotated calibrated codec rotates its capture rows with the same signs (rotateCaptureRows).
 */
export function rotationSigns(kind: StreamKind, nKvHeads: number, headDim: number, seed: number): Float32Array {
  const signs = new Float32Array(nKvHeads * headDim);
  let s = (seed * 2654435761 + (kind === 'key' ? 1 : 2)) >>> 0 || 1;
  for (let i = 0; i < signs.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; // xorshift32
    signs[i] = s & 1 ? 1 : -1;
  }
  return signs;
}

/**
 * In place, `rows` consecutive rows of `group` head vectors each laid out [row][kvHead][group][d]
 * from `off`: R_h x (forward) or R_h^T x (inverse), h the KV head, `signs` from rotationSigns.
 */
export function rotateHeadRows(v: Float32Array, rows: number, group: number, nKvHeads: number, headDim: number,
  signs: Float32Array, inverse: boolean, off = 0): void {
  const d = headDim;
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < nKvHeads; h++) {
      for (let g = 0; g < group; g++) hadamardRotate(v, off + ((r * nKvHeads + h) * group + g) * d, d, signs, h * d, inverse);
    }
  }
}

/**
 * A copy of capture rows of one stream in the rotated space its RotatedCodec packs: keys or
 * values [tokens][nKvHeads][headDim] (group 1), or the queries [tokens][nHeads][headDim] of
 * rotated keys (group nHeads / nKvHeads: R_h q, so scores against the rotated keys are unchanged).
 * Bit for bit the rotation RotatedCodec.encodeTile applies (decisions.md#D31).
 */
export function rotateCaptureRows(rows: Float32Array, kind: StreamKind, nKvHeads: number, headDim: number, seed: number, group = 1): Float32Array {
  check(headDim > 0 && (headDim & (headDim - 1)) === 0, 'BAD_PARAM', `rotation needs a power-of-two head_dim, got ${headDim}`, 'headDim');
  const per = nKvHeads * group * headDim;
  check(rows.length % per === 0, 'BAD_SHAPE', `${rows.length} floats are not whole rows of ${per}`, 'rows');
  const out = rows.slice();
  rotateHeadRows(out, rows.length / per, group, nKvHeads, headDim, rotationSigns(kind, nKvHeads, headDim, seed), false);
  return out;
}

/** In place: forward y = H (s . x) / sqrt(d); inverse x = s . (H y) / sqrt(d) (H symmetric, H H = d I). */
function hadamardRotate(v: Float32Array, off: number, d: number, s: Float32Array, so: number, inverse: boolean): void {
  if (!inverse) for (let i = 0; i < d; i++) v[off + i] = v[off + i]! * s[so + i]!;
  for (let len = 1; len < d; len <<= 1) {
    for (let i = 0; i < d; i += len << 1) {
      for (let j = i; j < i + len; j++) {
        const a = v[off + j]!, b = v[off + j + len]!;
        v[off + j] = a + b;
        v[off + j + len] = a - b;
      }
    }
  }
  const n = 1 / Math.sqrt(d);
  for (let i = 0; i < d; i++) v[off + i] = v[off + i]! * n * (inverse ? s[so + i]! : 1);
}

/** The rotation wrapping `codec` (also through views made with Object.create), or undefined. */
export function rotationOf(codec: StreamCodec): RotatedCodec | undefined {
  return codec instanceof RotatedCodec ? codec : undefined;
}

/** The codec whose kernels pack a stream's words: the inner codec of a rotation, else the codec. */
export function kernelCodec(codec: StreamCodec): StreamCodec {
  return codec instanceof RotatedCodec ? codec.inner : codec;
}

/**
 * `rot` with its inner codec replaced by `inner` (e.g. the inner codec's WASM-encoder view):
 * encodeTile rotates as `rot` does, then packs through `inner`.
 */
export function withInnerCodec(rot: RotatedCodec, inner: StreamCodec): RotatedCodec {
  const view = Object.create(rot) as RotatedCodec;
  Object.defineProperty(view, 'inner', { value: inner });
  return view;
}
