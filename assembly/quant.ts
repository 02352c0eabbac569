// Scalar quantizer math, a mirror of ts/codecs/uniform.ts: the same f32 operations in the same
// order (docs/FORMAT.md "Quantizer arithmetic"), so WASM-packed words equal the TS reference's.
// Codec kernels of other helpers (SKVQ, QAQ) reuse these.
import { f16BitsToF32, f16x4ToF32x4, metaF16Bits } from './f16';

/** Scale and zero of the last affineParams call (AS functions return one value). */
export let affineScale: f32 = 0;
export let affineZero: f32 = 0;

/**
 * Asymmetric b-bit quantizer over [min, max] clipped by alpha in (0, 1]: sets affineScale /
 * affineZero (exact f16 values) and returns the metadata word (scale bits 0-15, zero 16-31).
 */
export function affineParams(mn: f32, mx: f32, bits: i32, alpha: f32): u32 {
  const beta: f32 = (<f32>1 - alpha) * <f32>0.5;
  const cut: f32 = (mx - mn) * beta;
  const lo: f32 = mn + cut;
  const hi: f32 = mx - cut;
  // each f16 encoded once (re-encoding the stored value gives the same bits; the conversions are
  // most of a value group's scalar work)
  const zeroBits = metaF16Bits(lo);
  const scaleBits = metaF16Bits((hi - lo) / <f32>((1 << bits) - 1));
  affineZero = f16BitsToF32(zeroBits);
  affineScale = f16BitsToF32(scaleBits);
  return scaleBits | (zeroBits << 16);
}

/** clamp(floor((x - zero) / scale + 0.5), 0, 2^b - 1); 0 when scale is 0. */
@inline
export function affineCode(x: f32, scale: f32, zero: f32, bits: i32): u32 {
  if (scale == 0) return 0;
  const c = Mathf.floor((x - zero) / scale + <f32>0.5);
  const top = <f32>((1 << bits) - 1);
  return c < 0 ? 0 : c > top ? <u32>top : <u32>c;
}

/** Scale of an f16 (scale, zero) metadata word. */
@inline
export function metaScale(word: u32): f32 {
  return f16BitsToF32(word & 0xffff);
}

@inline
export function metaZero(word: u32): f32 {
  return f16BitsToF32(word >>> 16);
}

/** metaScale / metaZero of four metadata words (i32 lanes) at once. */
@inline
export function metaScale4(words: v128): v128 {
  return f16x4ToF32x4(v128.and(words, i32x4.splat(0xffff)));
}

@inline
export function metaZero4(words: v128): v128 {
  return f16x4ToF32x4(i32x4.shr_u(words, 16));
}

/** q8_0 code in [-127, 127]: clamp(floor(x / s + 0.5)); 0 when s is 0. */
@inline
export function q8Code(x: f32, s: f32): i32 {
  if (s == 0) return 0;
  const c = Mathf.floor(x / s + <f32>0.5);
  return c < -127 ? -127 : c > 127 ? 127 : <i32>c;
}

/** q4_0 code in [0, 15] (8 = zero): clamp(floor(x / s + 8.5)); 8 when s is 0. */
@inline
export function q4Code(x: f32, s: f32): u32 {
  if (s == 0) return 8;
  const c = Mathf.floor(x / s + <f32>8.5);
  return c < 0 ? 0 : c > 15 ? 15 : <u32>c;
}
