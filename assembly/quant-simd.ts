// f32x4 forms of quant.ts's code functions for the SIMD tile encoders. Every step is a per-lane
// IEEE f32 operation in the scalar order (sub, div, add, floor), so the codes equal the scalar
// ones and the TS reference's. The clamp and the f32 -> int step avoid the ops V8 lowers to long
// x64 sequences (f32x4.min/max with their NaN/-0 rules, trunc_sat): pmin/pmax are one minps/maxps,
// and an integral f32 c with |c| < 2^22 converts exactly as bits(c + 1.5 * 2^23) - bits(1.5 * 2^23).
// Inputs are finite (PackedKvCache.append and encodeTileWasm reject others), so no lane is NaN
// here; pmax(lo, c) would map one to lo anyway.

const MAGIC: f32 = 12582912.0; // 1.5 * 2^23
const MAGIC_BITS: i32 = 0x4b400000;

/** clamp(c, lo, hi) for an integral c, then exactly to i32 lanes. */
@inline
export function clampToInt(c: v128, lo: v128, hi: v128): v128 {
  const k = f32x4.pmin(hi, f32x4.pmax(lo, c)); // pmax(lo, c) = lo < c ? c : lo; pmin(hi, k) = k < hi ? k : hi
  return i32x4.sub(f32x4.add(k, f32x4.splat(MAGIC)), i32x4.splat(MAGIC_BITS));
}

/** KIVI / affineCode: clamp(floor((x - z) / s + 0.5), 0, top) per lane, 0 where s == 0. */
@inline
export function affineCode4(v: v128, s: v128, z: v128, sIsZero: v128, top: v128): v128 {
  const c = f32x4.floor(f32x4.add(f32x4.div(f32x4.sub(v, z), s), f32x4.splat(0.5)));
  return v128.andnot(clampToInt(c, f32x4.splat(0), top), sIsZero);
}
