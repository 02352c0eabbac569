import { metaF16 } from '../uniform.js';

/**
 * SKVQ's clipped asymmetric quantizer (docs/codecs/skvq.md, section 2), specified with only
 * correctly rounded f32 operations (+, -, *, compare) so that TS, WASM and WGSL agree bit for bit.
 */
const fr = Math.fround;

export interface ClippedParams {
  /** f16-exact values. */
  scale: number;
  zero: number;
}

/** f32(1 / L) for L = levels - 1: the scale is range * invL (a multiply, not a divide). */
export function invSteps(levels: number): number {
  return fr(1 / (levels - 1));
}

/**
 * lo = alpha*min, hi = alpha*max (the reference's `gmin *= clipping; gmax *= clipping`),
 * zero = f16(lo), scale = f16((hi - lo) * f32(1/L)).
 */
export function clippedParams(min: number, max: number, levels: number, alpha: number): ClippedParams {
  const a = fr(alpha);
  const lo = fr(a * min), hi = fr(a * max);
  return { zero: metaF16(lo), scale: metaF16(fr(fr(hi - lo) * invSteps(levels))) };
}

/** Number of thresholds f32((k + 0.5) * scale), k < L, that f32(x - zero) reaches; 0 when scale = 0. */
export function clippedCode(x: number, p: ClippedParams, levels: number): number {
  if (p.scale === 0) return 0;
  const d = fr(x - p.zero);
  let q = 0;
  for (let k = 0; k < levels - 1; k++) if (d >= fr((k + 0.5) * p.scale)) q++;
  return q;
}

export function clippedDecode(code: number, p: ClippedParams): number {
  return fr(fr(code * p.scale) + p.zero);
}
