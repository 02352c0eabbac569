import { describe, expect, it } from 'vitest';
import { createCodec, listCodecs, tileBitsPerElement } from '../../ts/codecs/index.js';
import type { StreamCodec, StreamKind } from '../../ts/codecs/types.js';
import { unpackAffineMeta } from '../../ts/codecs/uniform.js';
import { KvpackError } from '../../ts/errors.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { f16BitsToF32, roundF16 } from '../../ts/format/f16.js';
import { gaussianKv, heavyTailedKv, outlierChannels, outlierKeys } from '../helpers/data.js';
import { relativeError } from '../helpers/metrics.js';

const BASELINES = ['fp32', 'fp16', 'q8_0', 'q4_0', 'kivi2', 'kivi4', 'kivi8'] as const;
const HEAD_DIMS = [8, 64, 128];
const KINDS: StreamKind[] = ['key', 'value'];

function make(name: string, kind: StreamKind, headDim: number, nKvHeads = 2): StreamCodec {
  return createCodec(name, { kind, headDim, nKvHeads });
}

function roundTrip(c: StreamCodec, x: Float32Array, head = 1): { words: Uint32Array; y: Float32Array } {
  const words = new Uint32Array(c.tileWords);
  c.encodeTile(x, head, words);
  const y = new Float32Array(x.length);
  c.decodeTile(words, head, y);
  return { words, y };
}

/** One tile of one head taken from generated [n][heads][d] data. */
function tileOf(data: Float32Array, nKvHeads: number, d: number, head: number): Float32Array {
  const x = new Float32Array(TILE_TOKENS * d);
  for (let t = 0; t < TILE_TOKENS; t++) x.set(data.subarray((t * nKvHeads + head) * d, (t * nKvHeads + head + 1) * d), t * d);
  return x;
}

/**
 * For every element: the quantization grid it was coded on (step and [lo, hi]), read back from
 * the tile's own metadata words per docs/FORMAT.md. A uniform quantizer's error is at most half
 * a step inside the grid and the distance to the grid's edge outside it.
 */
function grids(c: StreamCodec, words: Uint32Array): { step: Float64Array; lo: Float64Array; hi: Float64Array } {
  const d = c.headDim, n = TILE_TOKENS * d;
  const step = new Float64Array(n), lo = new Float64Array(n), hi = new Float64Array(n);
  const scaleOfBlock = (b: number): number => f16BitsToF32(b & 1 ? words[b >> 1]! >>> 16 : words[b >> 1]! & 0xffff);
  for (let e = 0; e < n; e++) {
    const t = Math.floor(e / d), ch = e % d;
    if (c.name === 'q8_0') {
      const s = scaleOfBlock(e >> 5);
      step[e] = s; lo[e] = -127 * s; hi[e] = 127 * s;
    } else if (c.name === 'q4_0') {
      const s = scaleOfBlock(e >> 5);
      step[e] = Math.abs(s); lo[e] = Math.min(-8 * s, 7 * s); hi[e] = Math.max(-8 * s, 7 * s);
    } else if (c.name.startsWith('kivi')) {
      const bits = Number(c.name.slice(4));
      const G = Math.min(32, d);
      const p = unpackAffineMeta(words[c.kind === 'key' ? ch : t * (d / G) + Math.floor(ch / G)]!);
      step[e] = p.scale; lo[e] = p.zero; hi[e] = p.zero + ((1 << bits) - 1) * p.scale;
    }
  }
  return { step, lo, hi };
}

function checkErrorBound(c: StreamCodec, x: Float32Array, words: Uint32Array, y: Float32Array): void {
  if (c.name === 'fp32') {
    expect(y).toEqual(x);
    return;
  }
  if (c.name === 'fp16') {
    // exactly the f16 rounding of x: within half an f16 ulp
    for (let e = 0; e < x.length; e++) if (y[e] !== roundF16(x[e]!)) expect.fail(`fp16 element ${e}: ${y[e]} != f16(${x[e]})`);
    return;
  }
  const { step, lo, hi } = grids(c, words);
  for (let e = 0; e < x.length; e++) {
    const v = x[e]!;
    const outside = Math.max(0, lo[e]! - v, v - hi[e]!);
    // 1e-6 relative slack: f32 rounding of (x - zero) / scale and of the decode
    const bound = Math.max(step[e]! / 2, outside) * (1 + 1e-6) + Math.abs(v) * 1e-6 + 1e-30;
    if (Math.abs(y[e]! - v) > bound) expect.fail(`${c.name} ${c.kind} element ${e}: |${y[e]} - ${v}| > ${bound}`);
  }
}

describe('baseline codecs: round trip error bounds', () => {
  for (const name of BASELINES) {
    for (const kind of KINDS) {
      it(`${name} ${kind}s: every element within half a step of its f16 scale (d = 8/64/128, 3 kinds of data)`, () => {
        for (const d of HEAD_DIMS) {
          const c = make(name, kind, d);
          const sets = [
            gaussianKv(TILE_TOKENS, 2, d, 11 + d),
            heavyTailedKv(TILE_TOKENS, 2, d, 12 + d, 2, 3),
            outlierKeys(TILE_TOKENS, 2, d, 13 + d),
          ];
          for (const data of sets) {
            const x = tileOf(data, 2, d, 1);
            const { words, y } = roundTrip(c, x);
            checkErrorBound(c, x, words, y);
          }
        }
      });
    }
  }

  it('q8_0 / q4_0 scales are the f16-rounded llama.cpp scales; q4_0 keeps the signed max exactly', () => {
    const d = 64, x = tileOf(heavyTailedKv(TILE_TOKENS, 1, d, 5), 1, d, 0);
    const q8 = make('q8_0', 'key', d, 1), q4 = make('q4_0', 'key', d, 1);
    const w8 = roundTrip(q8, x, 0).words, r4 = roundTrip(q4, x, 0);
    for (let b = 0; b < d; b++) {
      let amax = 0, m = 0;
      for (let i = 0; i < 32; i++) { const v = x[b * 32 + i]!; if (Math.abs(v) > amax) { amax = Math.abs(v); m = v; } }
      const half = (w: Uint32Array): number => (b & 1 ? w[b >> 1]! >>> 16 : w[b >> 1]! & 0xffff);
      expect(f16BitsToF32(half(w8))).toBe(roundF16(Math.fround(amax / 127)));
      const s4 = f16BitsToF32(half(r4.words));
      expect(s4).toBe(roundF16(Math.fround(m / -8)));
      const iMax = Array.from({ length: 32 }, (_, i) => x[b * 32 + i]).indexOf(m);
      expect(r4.y[b * 32 + iMax]).toBe(Math.fround(-8 * s4));
    }
  });

  it('tile sizes match the FORMAT.md table', () => {
    for (const d of HEAD_DIMS) {
      for (const kind of KINDS) {
        expect(tileBitsPerElement(make('fp32', kind, d))).toBe(32);
        expect(tileBitsPerElement(make('fp16', kind, d))).toBe(16);
        expect(tileBitsPerElement(make('q8_0', kind, d))).toBe(8.5);
        expect(tileBitsPerElement(make('q4_0', kind, d))).toBe(4.5);
        for (const b of [2, 4, 8]) {
          const c = make(`kivi${b}`, kind, d);
          expect(tileBitsPerElement(c)).toBe(kind === 'key' ? b + 1 : b + 32 / Math.min(32, d));
          expect(c.tileWords).toBe(kind === 'key' ? d + b * d : (32 * d) / Math.min(32, d) + b * d);
        }
      }
    }
  });
});

describe('baseline codecs: hand-computed words (head_dim 8)', () => {
  const d = 8;
  it('fp32 and fp16', () => {
    const x = new Float32Array(TILE_TOKENS * d);
    x[0] = 1; x[1] = -2; x[2] = 1e6; x[3] = 2 ** -24;
    const w32 = roundTrip(make('fp32', 'key', d), x).words;
    expect([...w32.subarray(0, 3)]).toEqual([0x3f800000, 0xc0000000, 0x49742400]);
    const w16 = roundTrip(make('fp16', 'value', d), x).words;
    expect(w16[0]).toBe(0xc0003c00);
    expect(w16[1]).toBe(0x00017bff); // 1e6 saturates to 65504 (0x7bff); 2^-24 is the smallest subnormal
    expect(w16[2]).toBe(0);
  });

  it('q8_0: scale pair, then int8 codes 4 per word', () => {
    const x = new Float32Array(TILE_TOKENS * d);
    x.set([127, -127, 0.5, -0.5, 0.49]); // block 0: amax 127 -> s = 1
    x.set([254], 32); // block 1: s = 2
    const w = roundTrip(make('q8_0', 'key', d), x).words;
    expect(w[0]).toBe(0x40003c00); // f16(1) | f16(2) << 16
    expect(w[1]).toBe(0); // blocks 2, 3: all zero -> scale 0
    expect(w[4]).toBe(0x0001817f); // codes 127, -127 (0x81), 1 (0.5 rounds up), 0 (-0.5 -> floor(0))
    expect(w[5]).toBe(0); // code of 0.49 is 0
    expect(w[4 + 8]).toBe(0x7f); // block 1 starts at code word 8
  });

  it('q4_0: nibble e at bits 4(e % 8), 8 = zero, signed max -> code 0', () => {
    const x = new Float32Array(TILE_TOKENS * d);
    x.set([8, -8, 1, 0]); // m = 8 -> s = -1; -8 -> 16.5 clamps to 15; 1 -> 7.5 -> 7
    const w = roundTrip(make('q4_0', 'value', d), x).words;
    // f16(-1); all-zero block 1 has s = 0 / -8 = -0 (0x8000), as llama.cpp stores it
    expect(w[0]).toBe(0x8000bc00);
    expect(w[4]).toBe(0x888887f0);
    expect(w[5]).toBe(0x88888888);
    expect(w[4 + 4]).toBe(0x88888888); // all-zero block 1: scale 0, codes 8
  });

  it('kivi2 keys: channel meta words then 2-bit codes', () => {
    const x = new Float32Array(TILE_TOKENS * d);
    for (let t = 0; t < TILE_TOKENS; t++) x[t * d] = t; // channel 0 = 0..31, others 0
    const c = make('kivi2', 'key', d);
    const { words: w } = roundTrip(c, x);
    // scale = f16(31/3) = 10.3359375 = 0x492b, zero = 0
    expect(w[0]).toBe(0x0000492b);
    for (let ch = 1; ch < d; ch++) expect(w[ch]).toBe(0);
    // element t*8 at bit 16t: word 8 + t/2, half t%2. Codes floor(t / 10.3359375 + 0.5):
    // t = 0, 1 -> 0; t = 6, 7 -> 1; t = 30, 31 -> 3
    expect(w[8]).toBe(0);
    expect(w[8 + 3]).toBe(0x00010001);
    expect(w[8 + 15]).toBe(0x00030003);
    expect(w.length).toBe(8 + 16);
  });

  it('kivi2 values: one (scale, zero) per token group of min(32, d) channels', () => {
    const x = new Float32Array(TILE_TOKENS * d);
    for (let ch = 0; ch < d; ch++) x[ch] = ch; // token 0 = 0..7
    x.fill(-1.5, d, 2 * d); // token 1 constant: scale 0, zero = -1.5
    const { words: w, y } = roundTrip(make('kivi2', 'value', d), x);
    expect(w[0]).toBe(0x000040ab); // scale f16(7/3) = 2.333984375, zero 0
    expect(w[1]).toBe((0xbe00 << 16) >>> 0); // scale 0, zero f16(-1.5)
    expect(w[32]).toBe(0x0000fa50); // codes 0,0,1,1,2,2,3,3
    expect([...y.subarray(d, 2 * d)]).toEqual(new Array(d).fill(-1.5));
  });
});

describe('baseline codecs: constant, zero and outlier tiles', () => {
  for (const name of BASELINES) {
    it(`${name}: zero tile decodes to exact zeros; constant tile within one step (scale 0 where codes are affine)`, () => {
      for (const kind of KINDS) {
        const c = make(name, kind, 64);
        const zero = roundTrip(c, new Float32Array(TILE_TOKENS * 64)).y;
        expect(zero.every((v) => v === 0)).toBe(true);
        const cst = new Float32Array(TILE_TOKENS * 64).fill(-3.3);
        const { words, y } = roundTrip(c, cst);
        if (name.startsWith('kivi')) {
          const meta = (c as unknown as { metaWords: number }).metaWords;
          for (let i = 0; i < meta; i++) expect(unpackAffineMeta(words[i]!)).toEqual({ scale: 0, zero: roundF16(-3.3) });
          expect(y.every((v) => v === roundF16(-3.3))).toBe(true);
        } else {
          checkErrorBound(c, cst, words, y);
        }
      }
    });
  }

  it('encoding ignores stale words in the output buffer', () => {
    for (const name of BASELINES) {
      for (const kind of KINDS) {
        const c = make(name, kind, 64);
        const x = tileOf(outlierKeys(TILE_TOKENS, 2, 64, 4), 2, 64, 0);
        const clean = new Uint32Array(c.tileWords), dirty = new Uint32Array(c.tileWords).fill(0xdeadbeef);
        c.encodeTile(x, 0, clean);
        c.encodeTile(x, 0, dirty);
        expect(dirty).toEqual(clean);
      }
    }
  });

  it('outlier key channels: KIVI per-channel keys beat per-token grouping, and bits order the error', () => {
    for (const d of [64, 128]) {
      const x = tileOf(outlierKeys(TILE_TOKENS, 1, d, 21 + d), 1, d, 0);
      const err = (name: string, kind: StreamKind): number => relativeError(roundTrip(make(name, kind, d, 1), x, 0).y, x);
      // the per-token layout shares one range between the 10-50x channels and the rest, so the
      // ordinary channels lose nearly everything; per-channel keys keep them
      const outliers = new Set(outlierChannels(1, d, 21 + d)[0]);
      const normalErr = (kind: StreamKind): number => {
        const y = roundTrip(make('kivi2', kind, d, 1), x, 0).y;
        const keep = (_: number, e: number): boolean => !outliers.has(e % d);
        return relativeError(y.filter(keep), x.filter(keep));
      };
      expect(normalErr('key')).toBeLessThan(0.6);
      expect(normalErr('value')).toBeGreaterThan(0.9);
      expect(err('kivi8', 'key')).toBeLessThan(err('kivi4', 'key'));
      expect(err('kivi4', 'key')).toBeLessThan(err('kivi2', 'key'));
      expect(err('q8_0', 'key')).toBeLessThan(err('q4_0', 'key'));
      expect(err('fp16', 'key')).toBeLessThan(err('q8_0', 'key'));
    }
  });
});

describe('baseline codecs: registry', () => {
  it('registers all seven baselines for both streams, without calibration', () => {
    const infos = new Map(listCodecs().map((i) => [i.name, i]));
    for (const name of BASELINES) {
      const info = infos.get(name);
      expect(info, name).toBeDefined();
      expect(info!.streams).toEqual(['key', 'value']);
      expect(info!.needsCalibration).toBe(false);
      expect(make(name, 'key', 8).name).toBe(name);
    }
  });
});

describe('baseline codecs: bad input', () => {
  const fail = (f: () => void): KvpackError => {
    try { f(); } catch (e) { if (e instanceof KvpackError) return e; throw e; }
    throw new Error('did not throw');
  };
  it('rejects bad shapes, heads and options with typed errors', () => {
    expect(fail(() => createCodec('kivi3', { kind: 'key', headDim: 64, nKvHeads: 1 }))).toMatchObject({ code: 'UNKNOWN_CODEC', arg: 'codec' });
    expect(fail(() => make('q4_0', 'key', 12))).toMatchObject({ code: 'BAD_PARAM', arg: 'headDim' });
    expect(fail(() => make('fp16', 'key', 64, 0))).toMatchObject({ code: 'BAD_PARAM', arg: 'nKvHeads' });
    expect(fail(() => createCodec('kivi2', { kind: 'key', headDim: 64, nKvHeads: 1, options: { group: 64 } })))
      .toMatchObject({ code: 'BAD_PARAM', arg: 'options' });
    for (const name of BASELINES) {
      const c = make(name, 'value', 8);
      const out = new Uint32Array(c.tileWords).fill(7);
      expect(fail(() => c.encodeTile(new Float32Array(255), 0, out))).toMatchObject({ code: 'BAD_SHAPE', arg: 'x' });
      expect(fail(() => c.encodeTile(new Float32Array(256), 2, out))).toMatchObject({ code: 'BAD_PARAM', arg: 'head' });
      expect(fail(() => c.encodeTile(new Float32Array(256), 0, out.subarray(1)))).toMatchObject({ code: 'BAD_SHAPE', arg: 'out' });
      expect(out.every((w) => w === 7)).toBe(true);
      expect(fail(() => c.decodeTile(out, 0, new Float32Array(10)))).toMatchObject({ code: 'BAD_SHAPE', arg: 'out' });
      expect(fail(() => c.decodeTile(out.subarray(1), 0, new Float32Array(256)))).toMatchObject({ code: 'BAD_SHAPE', arg: 'words' });
    }
  });
});
