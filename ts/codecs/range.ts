import { KvpackError } from '../errors.js';
import { F16_MAX } from './uniform.js';
import { codecInfo } from './registry.js';
import type { StreamCodec } from './types.js';

/**
 * Largest |x| of q, K and V the attention kernels take (2^56 ~ 7.2e16): they compute in f32,
 * so a score q.k over headDim <= 256 channels stays below 2^8 * 2^112 = 2^120 and an output
 * accumulated over up to 2^32 tokens below 2^88, both under f32's 2^128. The TS reference
 * (f64) would be finite further out, WASM and WGSL would not: past it every backend throws
 * OUT_OF_RANGE instead (docs/reliability.md).
 */
export const ATTEND_MAX_ABS = 2 ** 56;

/** Codecs whose only metadata is f16 (scale and zero, or a scale of amax / levels). */
export const F16_META_MAX_ABS = F16_MAX;

/** The |x| bound a cache enforces for this codec: its own range, at most ATTEND_MAX_ABS. */
export function codecMaxAbs(codec: StreamCodec): number {
  let info;
  try { info = codecInfo(codec.name); } catch { return ATTEND_MAX_ABS; }
  const m = typeof info.maxAbs === 'function' ? info.maxAbs(codec) : info.maxAbs ?? ATTEND_MAX_ABS;
  return Math.min(m, ATTEND_MAX_ABS);
}

/** Throws OUT_OF_RANGE naming the first element with |x| > maxAbs, its index, and `what` (codec or kernel). */
export function checkRange(x: ArrayLike<number>, maxAbs: number, arg: string, what: string): void {
  let amax = 0;
  for (let i = 0; i < x.length; i++) { const a = Math.abs(x[i]!); if (a > amax) amax = a; }
  if (amax <= maxAbs) return;
  for (let i = 0; i < x.length; i++) {
    if (Math.abs(x[i]!) > maxAbs) {
      throw new KvpackError('OUT_OF_RANGE', `element ${i} is ${x[i]}, beyond ${what}'s range |x| <= ${maxAbs}`, arg);
    }
  }
}
