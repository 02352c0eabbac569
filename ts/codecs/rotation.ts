import { check } from '../errors.js';
import { TILE_TOKENS } from '../format/constants.js';
import type { StreamCodec } from './types.js';

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
 * TS reference only: the WASM and WGSL backends have no kernels for it (they report
 * BACKEND_UNAVAILABLE and `kvpack eval` falls back to TS), the whole-window evaluation runs it.
 * headDim must be a power of two (64, 128).
 */
export class RotatedCodec implements StreamCodec {
  readonly name: string;
  readonly kind: StreamCodec['kind'];
  readonly headDim: number;
  readonly nKvHeads: number;
  readonly tileWords: number;
  readonly paramWords: Uint32Array;
  /** Signs per head: [nKvHeads][headDim] of +-1. */
  private readonly signs: Float32Array;
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
    this.signs = new Float32Array(this.nKvHeads * d);
    let s = (seed * 2654435761 + (inner.kind === 'key' ? 1 : 2)) >>> 0 || 1;
    for (let i = 0; i < this.signs.length; i++) {
      s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; // xorshift32
      this.signs[i] = s & 1 ? 1 : -1;
    }
    this.buf = new Float32Array(TILE_TOKENS * d);
  }

  encodeTile(x: Float32Array, head: number, out: Uint32Array): void {
    this.buf.set(x.subarray(0, TILE_TOKENS * this.headDim));
    for (let t = 0; t < TILE_TOKENS; t++) this.rotate(this.buf, t * this.headDim, head, false);
    this.inner.encodeTile(this.buf, head, out);
  }

  decodeTile(words: Uint32Array, head: number, out: Float32Array): void {
    this.inner.decodeTile(words, head, out);
    for (let t = 0; t < TILE_TOKENS; t++) this.rotate(out, t * this.headDim, head, true);
  }

  /** In place: forward y = H (s . x) / sqrt(d); inverse x = s . (H y) / sqrt(d) (H symmetric, H H = d I). */
  private rotate(v: Float32Array, off: number, head: number, inverse: boolean): void {
    const d = this.headDim, s = this.signs, so = head * d;
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
}
