// f32 <-> IEEE binary16 by integer code, a bit-for-bit mirror of ts/format/f16.ts (round to
// nearest even), so WASM-packed tiles equal the TS reference's words.

/** Largest finite f16: codec metadata saturates here (ts/codecs/uniform.ts metaF16Bits). */
export const F16_MAX: f32 = 65504.0;

export function f32ToF16Bits(x: f32): u32 {
  const b = reinterpret<u32>(x);
  const sign = (b >>> 16) & 0x8000;
  const exp = <i32>((b >>> 23) & 0xff);
  let man = b & 0x7fffff;
  if (exp == 0xff) return sign | 0x7c00 | (man != 0 ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> signed zero
    man |= 0x800000;
    const shift = <u32>(14 - e); // 14..24
    const half: u32 = 1 << (shift - 1);
    let m = man >>> shift;
    const rest = man & ((<u32>1 << shift) - 1);
    if (rest > half || (rest == half && (m & 1) == 1)) m += 1;
    return sign | m; // a carry into the exponent field is still the right encoding
  }
  const m = man >>> 13;
  const rest = man & 0x1fff;
  let out = sign | (<u32>e << 10) | m;
  if (rest > 0x1000 || (rest == 0x1000 && (m & 1) == 1)) out += 1;
  return out;
}

/** Exact f16 -> f32 (every f16 value is an f32 value). */
export function f16BitsToF32(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp == 0) {
    // subnormal or zero: man * 2^-24 is exact in f32
    const mag = <f32>man * reinterpret<f32>(<u32>0x33800000);
    return reinterpret<f32>(reinterpret<u32>(mag) | sign);
  }
  if (exp == 0x1f) return reinterpret<f32>(sign | 0x7f800000 | (man << 13));
  return reinterpret<f32>(sign | ((exp + 112) << 23) | (man << 13));
}

/** f16 bits of a codec metadata scalar, saturated to +-F16_MAX (never Inf). */
@inline
export function metaF16Bits(x: f32): u32 {
  return f32ToF16Bits(min(max(x, -F16_MAX), F16_MAX));
}

/**
 * Four f16 (low 16 bits of each i32 lane) -> four f32, exact, with SIMD: shift the 15 magnitude
 * bits into f32 position and multiply by 2^112 (rebiases the exponent; subnormals come out
 * right because the product is exact), then force Inf/NaN lanes to an all-ones exponent.
 */
@inline
export function f16x4ToF32x4(h: v128): v128 {
  const mag = v128.and(h, i32x4.splat(0x7fff));
  let f = f32x4.mul(i32x4.shl(mag, 13), f32x4.splat(reinterpret<f32>(<u32>0x77800000))); // 2^112
  const infNan = i32x4.ge_u(mag, i32x4.splat(0x7c00));
  f = v128.or(f, v128.and(infNan, i32x4.splat(0x7f800000)));
  return v128.or(f, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

/**
 * metaF16Bits of four f32 lanes (saturate to +-F16_MAX, then round to nearest even), bit for bit,
 * as i32 lanes holding the f16 bits (F. Giesen's float_to_half_fast3_rtne, branch-free): below
 * 2^-14 the f16 is subnormal or zero and the FPU's own round-to-nearest-even does it (add 0.5,
 * whose ulp is the f16 subnormal step, and keep the low mantissa bits); above, add the exponent
 * rebias + 0xfff + the mantissa's lowest kept bit (ties to even) and shift. Finite inputs only
 * (callers' data are checked); pmax/pmin keep -0 and clamp like the scalar min(max()).
 */
@inline
export function f32x4ToF16x4Sat(x: v128): v128 {
  const v = f32x4.pmin(f32x4.splat(F16_MAX), f32x4.pmax(f32x4.splat(-F16_MAX), x));
  const sign = v128.and(v, i32x4.splat(0x80000000));
  const a = v128.xor(v, sign);
  const sub = i32x4.sub(f32x4.add(a, f32x4.splat(0.5)), i32x4.splat(126 << 23));
  const odd = v128.and(i32x4.shr_u(a, 13), i32x4.splat(1));
  const nrm = i32x4.shr_u(i32x4.add(i32x4.add(a, i32x4.splat(((15 - 127) << 23) + 0xfff)), odd), 13);
  const isSub = i32x4.lt_s(a, i32x4.splat(113 << 23)); // a >= 0 as i32 (sign cleared)
  return v128.or(v128.bitselect(sub, nrm, isSub), i32x4.shr_u(sign, 16));
}
