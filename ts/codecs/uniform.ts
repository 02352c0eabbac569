import { check } from '../errors.js';
import { f16BitsToF32, f32ToF16Bits } from '../format/f16.js';

/**
 * Scalar quantizer math shared by the codecs (docs/FORMAT.md, "Quantizer arithmetic").
 *
 * Every backend must produce the same codes, so the arithmetic is specified as f32 operations
 * in a fixed order; here each step is rounded with Math.fround (an f64 op on f32 operands
 * rounded once to f32 equals the f32 op for + - * /). Codes are computed from the f16-rounded
 * metadata the decoder will see, and rounded with floor(y + 0.5), not round-half-even.
 */
const fr = Math.fround;

/** Largest finite f16. Metadata saturates here so a decode never turns into Inf/NaN. */
export const F16_MAX = 65504;

/** f16 bits of a metadata scalar (scale, zero), saturating to +-F16_MAX instead of Inf. */
export function metaF16Bits(x: number): number {
  return f32ToF16Bits(Math.min(Math.max(x, -F16_MAX), F16_MAX));
}

/** The f16 value a metadata scalar is stored as, as a number. */
export function metaF16(x: number): number {
  return f16BitsToF32(metaF16Bits(x));
}

// ---------------------------------------------------------------------------------------------
// Asymmetric (min/max) quantization: KIVI, SKVQ, QAQ.

/** Scale and zero of one group, both exact f16 values. decode(code) = code * scale + zero. */
export interface AffineParams {
  scale: number;
  zero: number;
}

export function checkAffineBits(bits: number, arg = 'bits'): void {
  check(Number.isInteger(bits) && bits >= 1 && bits <= 8, 'BAD_PARAM', `must be an integer in [1, 8], got ${bits}`, arg);
}

export function checkClipRatio(alpha: number, arg = 'alpha'): void {
  check(Number.isFinite(alpha) && alpha > 0 && alpha <= 1, 'BAD_PARAM', `clip ratio must be in (0, 1], got ${alpha}`, arg);
}

/**
 * Clip a group's range [min, max] by ratio alpha in (0, 1] around its centre (SKVQ's clipped
 * dynamic quantization): the range keeps a fraction alpha of its width, cut equally from both
 * ends. In f32: beta = (1 - alpha) * 0.5, cut = (max - min) * beta, lo = min + cut,
 * hi = max - cut. alpha = 1 gives cut = 0, so [lo, hi] = [min, max] exactly.
 */
export function clipRange(min: number, max: number, alpha: number): { lo: number; hi: number } {
  const beta = fr(fr(1 - fr(alpha)) * 0.5);
  const cut = fr(fr(max - min) * beta);
  return { lo: fr(min + cut), hi: fr(max - cut) };
}

/**
 * Scale/zero of a b-bit asymmetric quantizer over [min, max] clipped by alpha:
 * zero = f16(lo), scale = f16((hi - lo) / (2^b - 1)) (f32 subtraction and division first).
 */
export function affineParams(min: number, max: number, bits: number, alpha = 1): AffineParams {
  const { lo, hi } = clipRange(min, max, alpha);
  return { zero: metaF16(lo), scale: metaF16(fr(fr(hi - lo) / ((1 << bits) - 1))) };
}

/** code = clamp(floor((x - zero) / scale + 0.5), 0, 2^b - 1); 0 when the f16 scale is 0. */
export function affineCode(x: number, p: AffineParams, bits: number): number {
  if (p.scale === 0) return 0;
  const c = Math.floor(fr(fr(fr(x - p.zero) / p.scale) + 0.5));
  const top = (1 << bits) - 1;
  return c < 0 ? 0 : c > top ? top : c;
}

/** x' = code * scale + zero, in f32 (two rounded ops; a backend's fused multiply-add may differ by 1 ulp). */
export function affineDecode(code: number, p: AffineParams): number {
  return fr(fr(code * p.scale) + p.zero);
}

/**
 * Quantize the group x[off + i*stride], i < count: writes codes[off + i*stride] (codes is laid
 * out like x, e.g. one code per tile element) and returns the group's scale/zero.
 */
export function quantizeAffineGroup(x: ArrayLike<number>, off: number, stride: number, count: number,
  bits: number, codes: { [i: number]: number }, alpha = 1): AffineParams {
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < count; i++) {
    const v = x[off + i * stride]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const p = affineParams(min, max, bits, alpha);
  for (let i = 0; i < count; i++) codes[off + i * stride] = affineCode(x[off + i * stride]!, p, bits);
  return p;
}

/** Inverse of quantizeAffineGroup: out[off + i*stride] = decode(codes[off + i*stride]). */
export function dequantizeAffineGroup(codes: ArrayLike<number>, off: number, stride: number, count: number,
  p: AffineParams, out: Float32Array): void {
  for (let i = 0; i < count; i++) out[off + i * stride] = affineDecode(codes[off + i * stride]!, p);
}

/** One metadata word: f16 scale in bits 0-15, f16 zero in bits 16-31. */
export function packAffineMeta(p: AffineParams): number {
  return (metaF16Bits(p.scale) | (metaF16Bits(p.zero) << 16)) >>> 0;
}

export function unpackAffineMeta(word: number): AffineParams {
  return { scale: f16BitsToF32(word & 0xffff), zero: f16BitsToF32(word >>> 16) };
}

// ---------------------------------------------------------------------------------------------
// Symmetric block quantization (llama.cpp q8_0 / q4_0 block math, f16-rounded scale).

/** q8_0 scale of a block with max |x| = amax: f16(amax / 127). */
export function q8Scale(amax: number): number {
  return metaF16(fr(amax / 127));
}

/** q8_0 code in [-127, 127]: clamp(floor(x / s + 0.5)); 0 when the f16 scale is 0. */
export function q8Code(x: number, s: number): number {
  if (s === 0) return 0;
  const c = Math.floor(fr(fr(x / s) + 0.5));
  return c < -127 ? -127 : c > 127 ? 127 : c;
}

/**
 * q4_0 scale: f16(m / -8) with m the element of largest magnitude, sign kept (the first one in
 * element order on ties, as llama.cpp). m itself maps to code 0, i.e. (0 - 8) * s = m.
 */
export function q4Scale(m: number): number {
  return metaF16(fr(m / -8));
}

/** q4_0 code in [0, 15] (8 = zero): clamp(floor(x / s + 8.5)); 8 when the f16 scale is 0. */
export function q4Code(x: number, s: number): number {
  if (s === 0) return 8;
  const c = Math.floor(fr(fr(x / s) + 8.5));
  return c < 0 ? 0 : c > 15 ? 15 : c;
}

/** Max |x| over x[off .. off+count). */
export function blockAbsMax(x: ArrayLike<number>, off: number, count: number): number {
  let amax = 0;
  for (let i = 0; i < count; i++) amax = Math.max(amax, Math.abs(x[off + i]!));
  return amax;
}

/** The element of largest |x| over x[off .. off+count), sign kept; first one on ties. */
export function blockSignedAbsMax(x: ArrayLike<number>, off: number, count: number): number {
  let amax = 0, m = 0;
  for (let i = 0; i < count; i++) {
    const v = x[off + i]!;
    if (Math.abs(v) > amax) { amax = Math.abs(v); m = v; }
  }
  return m;
}
