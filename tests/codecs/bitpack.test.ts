import { describe, expect, it } from 'vitest';
import { CODE_BITS, codeWords, packCodes, readCode, unpackCodes, writeCode } from '../../ts/codecs/bitpack.js';
import { KvpackError } from '../../ts/errors.js';
import { makeRng } from '../helpers/data.js';

describe('bitpack', () => {
  it('places element e at bit e*b of the little-endian stream (hand-computed words)', () => {
    const w = new Uint32Array(2);
    packCodes([1, 2, 3, 0, 3, 1, 2, 1], 2, w, 0);
    // codes at bits 0,2,4,...: 0b01_10_01_11_00_11_10_01 read from the top
    expect(w[0]).toBe(0b0110011100111001);
    // 3-bit: element 10 starts at bit 30 and straddles: low 2 bits end word 0, high bit starts word 1
    const s = new Uint32Array(3);
    writeCode(s, 0, 10, 3, 0b101);
    expect(s[0]).toBe(0b01 << 30 >>> 0);
    expect(s[1]).toBe(0b1);
    expect(readCode(s, 0, 10, 3)).toBe(0b101);
    // 5-bit, offset region: element 6 at bits 30..34 of the region starting at word 1
    const f = new Uint32Array(4).fill(0xffffffff);
    writeCode(f, 1, 6, 5, 0);
    expect(f[0]).toBe(0xffffffff);
    expect(f[1]).toBe(0x3fffffff);
    expect(f[2]).toBe(0xfffffff8);
    expect(f[3]).toBe(0xffffffff);
  });

  it('round-trips random codes for every width, including straddling ones, at an offset', () => {
    const rng = makeRng(7);
    for (const b of CODE_BITS) {
      for (const count of [1, 31, 32, 33, 77, 256]) {
        const codes = Array.from({ length: count }, () => rng.int(2 ** b));
        const words = new Uint32Array(3 + codeWords(count, b) + 2).fill(0xa5a5a5a5);
        packCodes(codes, b, words, 3);
        expect(words[2]).toBe(0xa5a5a5a5); // nothing before the region changes
        expect(words[3 + codeWords(count, b)]).toBe(0xa5a5a5a5); // nor after it
        const back = new Array<number>(count);
        unpackCodes(words, 3, b, back);
        expect(back).toEqual(codes);
        for (let e = 0; e < count; e += 7) expect(readCode(words, 3, e, b)).toBe(codes[e]);
      }
    }
  });

  it('codeWords rounds up partial words', () => {
    expect(codeWords(32, 3)).toBe(3);
    expect(codeWords(33, 3)).toBe(4);
    expect(codeWords(256, 2)).toBe(16);
    expect(codeWords(3, 16)).toBe(2);
  });

  it('rejects bad widths, codes and short regions with typed errors', () => {
    const w = new Uint32Array(1);
    const err = (f: () => void): KvpackError => {
      try { f(); } catch (e) { return e as KvpackError; }
      throw new Error('did not throw');
    };
    expect(err(() => packCodes([1], 13, w, 0))).toMatchObject({ code: 'BAD_PARAM', arg: 'bits' });
    expect(err(() => packCodes([4], 2, w, 0))).toMatchObject({ code: 'BAD_PARAM', arg: 'codes' });
    expect(err(() => packCodes([1.5], 2, w, 0))).toMatchObject({ code: 'BAD_PARAM', arg: 'codes' });
    expect(err(() => packCodes(new Array(17).fill(0), 2, w, 0))).toMatchObject({ code: 'BAD_SHAPE', arg: 'out' });
    expect(err(() => readCode(w, 0, 11, 3))).toMatchObject({ code: 'BAD_SHAPE', arg: 'words' });
    expect(w[0]).toBe(0); // rejected writes change nothing
  });
});
