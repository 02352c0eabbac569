// Unit tests of the AssemblyScript helpers (run with `npm run test:as`); the bit-for-bit
// comparison against the TS reference lives in tests/conformance/wasm.test.ts.
import { f16BitsToF32, f16x4ToF32x4, f32ToF16Bits, f32x4ToF16x4Sat, metaF16Bits } from '../f16';
import { getCode, placeScale, placeUnscale, putCode, unpack8Codes, unpackPlacedWord } from '../bitpack';
import { affineCode, affineParams, affineScale, affineZero } from '../quant';
import { expf4 } from '../expf';

describe('f16', () => {
  it('converts known values with round-to-nearest-even', () => {
    expect<u32>(f32ToF16Bits(1.0)).toBe(0x3c00);
    expect<u32>(f32ToF16Bits(-2.0)).toBe(0xc000);
    expect<u32>(f32ToF16Bits(65504.0)).toBe(0x7bff);
    expect<u32>(f32ToF16Bits(65520.0)).toBe(0x7c00); // rounds up to Inf
    expect<u32>(metaF16Bits(1e9)).toBe(0x7bff); // metadata saturates
    expect<u32>(f32ToF16Bits(5.960464477539063e-8)).toBe(0x0001); // smallest subnormal
    expect<u32>(f32ToF16Bits(2.9802322387695312e-8)).toBe(0x0000); // half of it: tie to even (0)
    expect<u32>(f32ToF16Bits(1.0009765625 + 0.00048828125)).toBe(0x3c02); // tie 0x3c01.5 -> even
    expect<u32>(f32ToF16Bits(1.0 + 0.00048828125)).toBe(0x3c00); // tie 0x3c00.5 -> even
    expect<u32>(f32ToF16Bits(NaN) & 0x7e00).toBe(0x7e00);
  });

  it('round-trips every finite f16 through f32 exactly (scalar and SIMD)', () => {
    // count mismatches and assert once: 63488 expect() calls are slow in as-pect's debug build
    let badScalar = 0, badSimd = 0;
    for (let h: u32 = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) == 0x7c00) continue;
      const f = f16BitsToF32(h);
      if (f32ToF16Bits(f) != h) badScalar++;
      const v = f16x4ToF32x4(i32x4.splat(h));
      if (reinterpret<u32>(f32x4.extract_lane(v, 3)) != reinterpret<u32>(f)) badSimd++;
    }
    expect<i32>(badScalar).toBe(0);
    expect<i32>(badSimd).toBe(0);
    expect<f32>(f16BitsToF32(0x0001)).toBe(5.960464477539063e-8);
    expect<f32>(f16BitsToF32(0xfbff)).toBe(-65504.0);
  });

  it('f32x4ToF16x4Sat equals metaF16Bits lane by lane (the q8_0 encoder converts 4 scales at once)', () => {
    // every f16 value, the midpoints (ties) between neighbours and one f32 step around them, both
    // signs (up to the largest finite f16: inputs are finite), plus values past the saturation point
    let bad = 0;
    for (let h: u32 = 0; h < 0x7bff; h++) {
      const f = f16BitsToF32(h), g = f16BitsToF32(h + 1);
      const mid = reinterpret<u32>(f + (g - f) * 0.5);
      const xs = f32x4(f, reinterpret<f32>(mid), reinterpret<f32>(mid - 1), reinterpret<f32>(mid + 1));
      for (let sgn = 0; sgn < 2; sgn++) {
        const v = sgn == 0 ? xs : f32x4.neg(xs);
        const got = f32x4ToF16x4Sat(v);
        if (<u32>i32x4.extract_lane(got, 0) != metaF16Bits(f32x4.extract_lane(v, 0))) bad++;
        if (<u32>i32x4.extract_lane(got, 1) != metaF16Bits(f32x4.extract_lane(v, 1))) bad++;
        if (<u32>i32x4.extract_lane(got, 2) != metaF16Bits(f32x4.extract_lane(v, 2))) bad++;
        if (<u32>i32x4.extract_lane(got, 3) != metaF16Bits(f32x4.extract_lane(v, 3))) bad++;
      }
    }
    const big = f32x4ToF16x4Sat(f32x4(65519.0, 70000.0, -1e30, 1e-30));
    expect<u32>(<u32>i32x4.extract_lane(big, 0)).toBe(metaF16Bits(65519.0));
    expect<u32>(<u32>i32x4.extract_lane(big, 1)).toBe(0x7bff);
    expect<u32>(<u32>i32x4.extract_lane(big, 2)).toBe(0xfbff);
    expect<u32>(<u32>i32x4.extract_lane(big, 3)).toBe(metaF16Bits(1e-30));
    expect<i32>(bad).toBe(0);
  });
});

describe('bitpack', () => {
  it('puts and gets codes of every width, straddling words', () => {
    const base = memory.data(256, 16);
    for (let bits = 1; bits <= 16; bits++) {
      if (bits == 13) bits = 16; // widths of ts/codecs/bitpack.ts: 1..12 and 16
      memory.fill(base, 0xff, 256); // putCode must not depend on a zeroed region
      for (let e = 0; e < 100; e++) putCode(base, e, bits, <u32>((e * 37 + bits) & ((1 << bits) - 1)));
      for (let e = 0; e < 100; e++) expect<u32>(getCode(base, e, bits)).toBe(<u32>((e * 37 + bits) & ((1 << bits) - 1)));
    }
  });

  it('unpacks 8 codes at once for widths 2, 4, 8', () => {
    const base = memory.data(256, 16);
    const dst = memory.data(32, 16);
    for (let bits = 2; bits <= 8; bits <<= 1) {
      for (let e = 0; e < 64; e++) putCode(base, e, bits, <u32>((e * 5 + 3) & ((1 << bits) - 1)));
      for (let e = 0; e < 64; e += 8) {
        unpack8Codes(base, e, bits, dst);
        for (let i = 0; i < 8; i++) expect<f32>(load<f32>(dst + (<usize>i << 2))).toBe(<f32>getCode(base, e + i, bits));
      }
    }
  });

  it('places codes in their word: code * 2^P per lane, placeScale / placeUnscale its inverse powers of two', () => {
    const base = memory.data(256, 16);
    const dst = memory.data(128, 16);
    for (let bits = 2; bits <= 4; bits <<= 1) {
      // codes (7 e + e / 16) mod 2^bits: every value in every lane position over 32-64 words
      for (let e = 0; e < 512; e++) putCode(base, e, bits, <u32>((e * 7 + (e >> 4)) & ((1 << bits) - 1)));
      const perWord = 32 / bits;
      for (let e = 0; e < 512; e += perWord) {
        const p = base + ((<usize>e * <usize>bits) >>> 3);
        unpackPlacedWord(p, bits, dst);
        for (let k = 0; k < perWord / 4; k++) {
          const placedV = v128.load(dst + (<usize>k << 4));
          const scale = k == 0 ? placeScale(0, bits) : k == 1 ? placeScale(1, bits) : k == 2 ? placeScale(2, bits) : placeScale(3, bits);
          const unscale = k == 0 ? placeUnscale(0, bits) : k == 1 ? placeUnscale(1, bits) : k == 2 ? placeUnscale(2, bits) : placeUnscale(3, bits);
          const codes = dst + 64, one = dst + 80;
          v128.store(codes, f32x4.mul(placedV, scale));
          v128.store(one, f32x4.mul(scale, unscale));
          for (let i = 0; i < 4; i++) {
            expect<f32>(load<f32>(codes + (<usize>i << 2))).toBe(<f32>getCode(base, e + 4 * k + i, bits));
            expect<f32>(load<f32>(one + (<usize>i << 2))).toBe(1.0);
          }
        }
      }
    }
  });
});

describe('quant', () => {
  it('affine params and codes follow docs/FORMAT.md', () => {
    const word = affineParams(-1.0, 2.0, 2, 1.0);
    expect<f32>(affineZero).toBe(-1.0);
    expect<f32>(affineScale).toBe(1.0);
    expect<u32>(word).toBe(0x3c00 | (<u32>0xbc00 << 16));
    expect<u32>(affineCode(0.49, affineScale, affineZero, 2)).toBe(1); // (0.49 + 1) / 1 + 0.5 = 1.99
    expect<u32>(affineCode(0.5, affineScale, affineZero, 2)).toBe(2); // floor(y + 0.5), not half-even
    expect<u32>(affineCode(9.0, affineScale, affineZero, 2)).toBe(3); // clamped
    affineParams(0.25, 0.25, 4, 1.0);
    expect<u32>(affineCode(0.25, affineScale, affineZero, 4)).toBe(0); // scale 0
  });
});

describe('expf4', () => {
  it('is within 3e-7 relative of exp over the softmax range, and exactly 0 far below', () => {
    let worst: f64 = 0;
    for (let i = 0; i <= 20000; i++) {
      const x = <f32>(-87.0 * <f64>i / 20000.0);
      const got = <f64>f32x4.extract_lane(expf4(f32x4.splat(x)), 2);
      const want = Math.exp(<f64>x);
      worst = Math.max(worst, Math.abs(got - want) / want);
    }
    expect<bool>(worst < 3e-7).toBe(true);
    expect<f32>(f32x4.extract_lane(expf4(f32x4.splat(0)), 0)).toBe(1.0);
    expect<f32>(f32x4.extract_lane(expf4(f32x4.splat(-Infinity)), 1)).toBe(0.0);
    expect<f32>(f32x4.extract_lane(expf4(f32x4.splat(-100)), 3)).toBe(0.0);
  });
});
