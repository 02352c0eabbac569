import { describe, expect, it } from 'vitest';
import {
  affineCode, affineDecode, affineParams, clipRange, F16_MAX, metaF16, packAffineMeta, q4Code, q4Scale, q8Code,
  q8Scale, quantizeAffineGroup, unpackAffineMeta, dequantizeAffineGroup,
} from '../../ts/codecs/uniform.js';
import { roundF16 } from '../../ts/format/f16.js';
import { makeRng } from '../helpers/data.js';

describe('asymmetric quantizer', () => {
  it('uses f16-rounded scale/zero and floor(y + 0.5) (hand-computed)', () => {
    // [0.1, 1.0], 2 bits: zero = f16(0.1) = 0.0999755859375, scale = f16(f32(0.9)/3)
    const p = affineParams(Math.fround(0.1), 1, 2);
    expect(p.zero).toBe(0.0999755859375);
    expect(p.scale).toBe(roundF16(Math.fround(Math.fround(1 - Math.fround(0.1)) / 3)));
    expect(p.scale).toBe(0.300048828125);
    expect(affineCode(Math.fround(0.1), p, 2)).toBe(0);
    expect(affineCode(1, p, 2)).toBe(3);
    // exactly halfway between codes 1 and 2 rounds up (not half-even)
    const half = Math.fround(p.zero + 1.5 * p.scale);
    expect(affineCode(half, p, 2)).toBe(2);
    expect(affineCode(-100, p, 2)).toBe(0);
    expect(affineCode(100, p, 2)).toBe(3);
    expect(affineDecode(3, p)).toBe(Math.fround(Math.fround(3 * p.scale) + p.zero));
  });

  it('constant group: scale 0, all codes 0, decode = f16(value)', () => {
    const x = new Float32Array(8).fill(3.3);
    const codes = new Uint8Array(8).fill(9);
    const p = quantizeAffineGroup(x, 0, 1, 8, 4, codes);
    expect(p.scale).toBe(0);
    expect([...codes]).toEqual(new Array(8).fill(0));
    expect(affineDecode(0, p)).toBe(roundF16(3.3));
  });

  it('clip ratio shrinks the range around its centre; alpha = 1 is the identity', () => {
    expect(clipRange(-1, 3, 1)).toEqual({ lo: -1, hi: 3 });
    expect(clipRange(-1, 3, 0.5)).toEqual({ lo: 0, hi: 2 });
    const r = clipRange(Math.fround(0.3), Math.fround(7.9), 0.8);
    expect(r.lo).toBeCloseTo(0.3 + 0.76, 5);
    expect(r.hi).toBeCloseTo(7.9 - 0.76, 5);
  });

  it('strided groups round-trip within half a step inside the grid, to the grid edge outside', () => {
    const rng = makeRng(3);
    for (const bits of [1, 2, 3, 4, 8]) {
      for (const alpha of [1, 0.9]) {
        const n = 40, stride = 3;
        const x = new Float32Array(n * stride);
        for (let i = 0; i < x.length; i++) x[i] = rng.studentT(3) * 5;
        const codes = new Int32Array(x.length), back = new Float32Array(x.length);
        const p = quantizeAffineGroup(x, 1, stride, n, bits, codes, alpha);
        dequantizeAffineGroup(codes, 1, stride, n, p, back);
        const top = p.zero + ((1 << bits) - 1) * p.scale;
        for (let i = 0; i < n; i++) {
          const v = x[1 + i * stride]!, e = Math.abs(back[1 + i * stride]! - v);
          const outside = Math.max(0, p.zero - v, v - top);
          expect(e).toBeLessThanOrEqual(Math.max(p.scale / 2, outside) * (1 + 1e-6) + 1e-6);
        }
      }
    }
  });

  it('metadata saturates at the largest finite f16 and packs scale low, zero high', () => {
    expect(metaF16(1e9)).toBe(F16_MAX);
    expect(metaF16(-1e9)).toBe(-F16_MAX);
    const p = affineParams(-1e6, 1e6, 2);
    expect(Number.isFinite(affineDecode(3, p))).toBe(true);
    const w = packAffineMeta({ scale: 1, zero: -2 });
    expect(w).toBe((0x3c00 | (0xc000 << 16)) >>> 0);
    expect(unpackAffineMeta(w)).toEqual({ scale: 1, zero: -2 });
  });
});

describe('symmetric block quantizers', () => {
  it('q8_0: s = f16(amax/127), codes clamp to +-127', () => {
    const s = q8Scale(127);
    expect(s).toBe(1);
    expect(q8Code(-127, s)).toBe(-127);
    expect(q8Code(0.5, s)).toBe(1);
    expect(q8Code(-0.5, s)).toBe(0);
    expect(q8Code(3, 0)).toBe(0);
  });
  it('q4_0: s = f16(m/-8), the signed max maps to code 0, opposite side clamps at 15', () => {
    const s = q4Scale(8);
    expect(s).toBe(-1);
    expect(q4Code(8, s)).toBe(0);
    expect(q4Code(0, s)).toBe(8);
    expect(q4Code(-8, s)).toBe(15);
    expect(q4Code(1, 0)).toBe(8);
  });
});
