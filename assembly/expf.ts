// exp for four f32 lanes at once (the softmax's inner loop). Cephes expf: x = n ln2 + r with
// |r| <= ln2/2 (ln2 split in two constants, so n * C1 is exact), a degree-6 polynomial for e^r,
// then 2^n through the exponent bits. Peak relative error ~1.7e-7 (Cephes); lanes below
// -87.34 (e^x < 2^-126) return exactly 0, so -Infinity padding weighs nothing.

const LOG2E: f32 = 1.44269504088896341;
const C1: f32 = 0.693359375;
const C2: f32 = -2.12194440e-4;
const LO: f32 = -87.33654;
const HI: f32 = 88.3762626647949;

@inline
export function expf4(x: v128): v128 {
  const under = f32x4.lt(x, f32x4.splat(LO));
  x = f32x4.min(f32x4.max(x, f32x4.splat(LO)), f32x4.splat(HI));
  const fx = f32x4.floor(f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(0.5)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(C1)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(C2)));
  const z = f32x4.mul(x, x);
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(y, z), x), f32x4.splat(1));
  const pow2n = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(fx), i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(y, pow2n), under);
}

/** Scalar convenience (same result as one lane of expf4). */
@inline
export function expf1(x: f32): f32 {
  return f32x4.extract_lane(expf4(f32x4.splat(x)), 0);
}
