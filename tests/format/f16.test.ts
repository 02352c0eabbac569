import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits, packF16Pair, roundF16 } from '../../ts/format/f16.js';
import { makeRng } from '../helpers/data.js';

/** Independent f16 rounding by arithmetic (no bit tricks): nearest representable, ties to even code. */
function slowF16(x: number): number {
  x = Math.fround(x);
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity; // 65520 = halfway to 2^16: rounds up to Inf
  const e = Math.max(Math.floor(Math.log2(a || 1)), -14);
  const ulp = 2 ** (e - 10);
  let q = a / ulp; // exact in f64
  const fl = Math.floor(q), r = q - fl;
  q = r > 0.5 || (r === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  const v = q * ulp;
  return x < 0 || Object.is(x, -0) ? -v : v;
}

describe('f32ToF16Bits / f16BitsToF32', () => {
  it('known encodings: normals, extremes, signed zero, subnormals', () => {
    const known: [number, number][] = [
      [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -15, 0x0200], // subnormal
      [1023 * 2 ** -24, 0x03ff], // largest subnormal
      [1 / 3, 0x3555], [0.1, 0x2e66], [Math.PI, 0x4248],
    ];
    for (const [x, bits] of known) {
      expect(f32ToF16Bits(x)).toBe(bits);
      expect(Object.is(f16BitsToF32(bits), x) || f16BitsToF32(bits) === roundF16(x)).toBe(true);
    }
    expect(f16BitsToF32(0x8000)).toBe(-0);
  });

  it('ties round to even, in normals and subnormals', () => {
    // 1 + 2^-11 is halfway between 1 (even, 0x3c00) and 1 + 2^-10 (odd): down
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00);
    // 1 + 3 * 2^-11 is halfway between 0x3c01 (odd) and 0x3c02 (even): up
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    // just above the tie rounds up
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    // subnormal ties: 0.5 * 2^-24 -> 0 (even); 1.5 * 2^-24 -> 2 * 2^-24 (even); 2.5 * 2^-24 -> 2
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000);
    expect(f32ToF16Bits(1.5 * 2 ** -24)).toBe(0x0002);
    expect(f32ToF16Bits(2.5 * 2 ** -24)).toBe(0x0002);
    expect(f32ToF16Bits(-(2 ** -25) * 1.0001)).toBe(0x8001);
    // the largest subnormal + half an ulp carries into the smallest normal
    expect(f32ToF16Bits(1023.5 * 2 ** -24)).toBe(0x0400);
    // a mantissa carry into the exponent: 2 - 2^-12 rounds up to 2
    expect(f32ToF16Bits(2 - 2 ** -12)).toBe(0x4000);
  });

  it('overflow to Inf, Inf and NaN', () => {
    expect(f32ToF16Bits(65519)).toBe(0x7bff); // below the halfway point 65520
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // halfway to 2^16 ties to even = Inf
    expect(f32ToF16Bits(1e6)).toBe(0x7c00);
    expect(f32ToF16Bits(-1e6)).toBe(0xfc00);
    expect(f32ToF16Bits(Infinity)).toBe(0x7c00);
    expect(f32ToF16Bits(-Infinity)).toBe(0xfc00);
    const nan = f32ToF16Bits(NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
    expect(f16BitsToF32(nan)).toBeNaN();
    expect(f16BitsToF32(0x7c00)).toBe(Infinity);
    expect(f16BitsToF32(0xfc00)).toBe(-Infinity);
    expect(f32ToF16Bits(1e-10)).toBe(0); // underflow to zero keeps the sign
    expect(f32ToF16Bits(-1e-10)).toBe(0x8000);
  });

  it('every f16 code round-trips through f32; random f32 round like an independent reference', () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = f16BitsToF32(h);
      if (Number.isNaN(x)) continue;
      expect(f32ToF16Bits(x)).toBe(h);
    }
    const rng = makeRng(99);
    for (let i = 0; i < 20000; i++) {
      const x = Math.fround((rng.uniform() - 0.5) * 2 ** (rng.int(48) - 30));
      const want = slowF16(x);
      const got = roundF16(x);
      if (!Object.is(got, want)) expect.fail(`f16(${x}) = ${got}, reference ${want}`);
    }
  });

  it('packF16Pair puts the first value in the low half', () => {
    expect(packF16Pair(1, -2)).toBe(0xc0003c00);
  });
});
