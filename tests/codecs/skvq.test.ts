import { describe, expect, it } from 'vitest';
import { KvpackError } from '../../ts/errors.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { createCodec, tileBitsPerElement } from '../../ts/codecs/index.js';
import {
  plainSkvqCalibration, skvqGeometry, SkvqCodec, type SkvqCalibration,
} from '../../ts/codecs/skvq/index.js';
import { readTrit, packTrits } from '../../ts/codecs/skvq/ternary.js';
import { clippedCode, clippedParams } from '../../ts/codecs/skvq/quantizer.js';
import { unpackAffineMeta } from '../../ts/codecs/uniform.js';
import { gaussianKv, makeRng, outlierKeys } from '../helpers/data.js';
import { randomSkvqCalibration } from '../helpers/skvq-calibration.js';


function codecFor(cal: SkvqCalibration, options?: Record<string, unknown>): SkvqCodec {
  return new SkvqCodec('skvq', cal.bits, { kind: cal.kind, headDim: cal.headDim, nKvHeads: cal.nKvHeads, calibration: cal, options });
}


function tileOf(data: Float32Array, nKvHeads: number, d: number, head: number, tile = 0): Float32Array {
  const x = new Float32Array(TILE_TOKENS * d), tf = nKvHeads * d;
  for (let t = 0; t < TILE_TOKENS; t++) {
    const src = (tile * TILE_TOKENS + t) * tf + head * d;
    x.set(data.subarray(src, src + d), t * d);
  }
  return x;
}

function encode(codec: SkvqCodec, x: Float32Array, head: number): Uint32Array {
  const w = new Uint32Array(codec.tileWords);
  codec.encodeTile(x, head, w);
  return w;
}

describe('SKVQ geometry and effective bits (docs/codecs/skvq.md tables)', () => {
  it.each([
    [8, 2, 32, 2, 8, 3.0], [64, 2, 32, 2, 1, 3.0], [128, 2, 32, 4, 1, 3.0], [128, 4, 32, 4, 1, 5.0],
    [8, 1.5, 32, 2, 8, 2.625], [128, 2, 128, 2, 2, 2.25], [64, 2, 128, 2, 4, 2.25],
  ] as const)('d=%i bits=%s groupSize=%i -> C=%i m=%i, %f bits/element', (d, bits, gs, C, m, eff) => {
    const g = skvqGeometry(d, bits, gs);
    expect([g.clusters, g.tokensPerGroup]).toEqual([C, m]);
    const codec = codecFor(plainSkvqCalibration('value', 1, d, bits, gs));
    expect(tileBitsPerElement(codec)).toBeCloseTo(eff, 10);
  });

  it('clusters override: d=8 C=8 -> per-channel groups over the whole tile (m=32); too many groups rejected', () => {
    const g = skvqGeometry(8, 2, 32, 8);
    expect([g.clusters, g.tokensPerGroup, g.metaWords]).toEqual([8, 32, 8]);
    expect(skvqGeometry(128, 2, 16, 32).metaWords).toBe(8 * 32); // m = 4
    expect(() => skvqGeometry(256, 2, 16, 255)).toThrowError(/groups per tile/); // m = 8: 1020 groups
    expect(() => skvqGeometry(8, 2, 32, 0)).toThrowError(KvpackError);
  });

  it('ternary code region is ceil(32 d / 20) words (1.6 stored bits per code)', () => {
    for (const d of [8, 64, 128]) expect(skvqGeometry(d, 1.5).codeWords).toBe(Math.ceil((32 * d) / 20));
  });
});

describe('SKVQ quantizer', () => {
  it('hand-computed tile: d=8, identity order, one exact group per (8-token block, cluster)', () => {
    // d = 8 -> C = 2 clusters of 4 channels, m = 8 tokens per group; values 0..3 exact at 2 bits.
    const cal = plainSkvqCalibration('key', 1, 8, 2);
    const codec = codecFor(cal);
    const x = new Float32Array(TILE_TOKENS * 8);
    for (let t = 0; t < TILE_TOKENS; t++) for (let c = 0; c < 8; c++) x[t * 8 + c] = (t + c) % 4;
    const w = encode(codec, x, 0);
    expect(codec.geometry.metaWords).toBe(8);
    for (let g = 0; g < 8; g++) expect(unpackAffineMeta(w[g]!)).toEqual({ scale: 1, zero: 0 });
    // codes = values; element e at bits 2e: word 8 holds elements 0..15 (tokens 0, 1)
    let expected = 0;
    for (let e = 0; e < 16; e++) expected |= (x[e]! << (2 * e));
    expect(w[8]).toBe(expected >>> 0);
    const y = new Float32Array(x.length);
    codec.decodeTile(w, 0, y);
    expect(Array.from(y)).toEqual(Array.from(x));
  });

  it('clip scales both ends towards zero (reference quant.cuh): alpha 0.5 on [-4, 4] -> zero -2, scale 4/3', () => {
    const p = clippedParams(-4, 4, 4, 0.5);
    expect(p.zero).toBe(-2);
    expect(p.scale).toBeCloseTo(4 / 3, 3);
    expect(clippedCode(-4, p, 4)).toBe(0);
    expect(clippedCode(4, p, 4)).toBe(3);
  });

  it('code rule equals clamp(floor((x - zero)/scale + 0.5)) away from ties', () => {
    const rng = makeRng(5);
    for (let i = 0; i < 2000; i++) {
      const lo = rng.gaussian() * 3, hi = lo + Math.abs(rng.gaussian()) * 5 + 1e-3;
      const levels = [3, 4, 16][i % 3]!;
      const p = clippedParams(lo, hi, levels, 0.5 + rng.uniform() * 0.5);
      const x = lo + (hi - lo) * (rng.uniform() * 1.4 - 0.2);
      const y = (x - p.zero) / p.scale;
      if (Math.abs(y + 0.5 - Math.round(y + 0.5)) < 1e-4) continue;
      expect(clippedCode(x, p, levels)).toBe(Math.min(levels - 1, Math.max(0, Math.floor(y + 0.5))));
    }
  });

  it('ternary packing: 5 base-3 digits per byte, 20 per word, round trip', () => {
    const rng = makeRng(11);
    const codes = Array.from({ length: 53 }, () => rng.int(3));
    const w = new Uint32Array(3);
    packTrits(codes, codes.length, w, 0);
    expect(w[0]! & 0xff).toBe(codes[0]! + 3 * codes[1]! + 9 * codes[2]! + 27 * codes[3]! + 81 * codes[4]!);
    expect((w[0]! >>> 8) & 0xff).toBe(codes[5]! + 3 * codes[6]! + 9 * codes[7]! + 27 * codes[8]! + 81 * codes[9]!);
    for (let e = 0; e < codes.length; e++) expect(readTrit(w, 0, e)).toBe(codes[e]);
  });
});

describe('SKVQ codec', () => {
  for (const d of [8, 64, 128]) {
    for (const bits of [2, 4, 1.5] as const) {
      it(`d=${d} ${bits}-bit: decode within half a step of the (unclipped) group, model channel order`, () => {
        const nKv = 2;
        const data = outlierKeys(TILE_TOKENS, nKv, d, 100 + d);
        const cal = randomSkvqCalibration('key', nKv, d, bits, d + bits * 10);
        const codec = codecFor(cal);
        for (let h = 0; h < nKv; h++) {
          const x = tileOf(data, nKv, d, h);
          const w = encode(codec, x, h);
          const y = new Float32Array(x.length);
          codec.decodeTile(w, h, y);
          const { perm, groupStart } = cal.heads[h]!;
          const m = codec.geometry.tokensPerGroup;
          for (let b = 0; b < TILE_TOKENS / m; b++) {
            for (let j = 0; j < cal.clusters; j++) {
              const q = unpackAffineMeta(w[b * cal.clusters + j]!);
              for (let t = b * m; t < (b + 1) * m; t++) {
                for (let p = groupStart[j]!; p < groupStart[j + 1]!; p++) {
                  const i = t * d + perm[p]!;
                  // half a step plus f16 rounding of the scale/zero accumulated over <= 15 steps
                  expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(q.scale * 0.5 + 1e-3 * (Math.abs(x[i]!) + q.scale * 16) + 1e-6);
                }
              }
            }
          }
        }
      });
    }
  }

  it('a permuted calibration stores exactly what the identity codec stores for pre-permuted input', () => {
    const d = 64, nKv = 1;
    const cal = randomSkvqCalibration('value', nKv, d, 2, 3, 0.9);
    const plain: SkvqCalibration = { ...cal, heads: [{ perm: Array.from({ length: d }, (_, c) => c), groupStart: cal.heads[0]!.groupStart }] };
    const x = tileOf(gaussianKv(TILE_TOKENS, nKv, d, 8), nKv, d, 0);
    const xp = new Float32Array(x.length);
    const perm = cal.heads[0]!.perm;
    for (let t = 0; t < TILE_TOKENS; t++) for (let p = 0; p < d; p++) xp[t * d + p] = x[t * d + perm[p]!]!;
    expect(Array.from(encode(codecFor(cal), x, 0))).toEqual(Array.from(encode(codecFor(plain), xp, 0)));
  });

  it('reorder + clip lower the error of plain group quantization on outlier-channel keys (2-bit)', () => {
    const d = 64, nKv = 2;
    const data = outlierKeys(TILE_TOKENS * 4, nKv, d, 21, { outliers: 6 });
    // a "calibration" that puts the outlier channels in their own group
    const err = (cal: SkvqCalibration): number => {
      const codec = codecFor(cal);
      let e = 0;
      for (let tile = 0; tile < 4; tile++) for (let h = 0; h < nKv; h++) {
        const x = tileOf(data, nKv, d, h, tile), y = new Float32Array(x.length);
        codec.decodeTile(encode(codec, x, h), h, y);
        for (let i = 0; i < x.length; i++) e += (x[i]! - y[i]!) ** 2;
      }
      return e;
    };
    const plain = plainSkvqCalibration('key', nKv, d, 2);
    const sorted = plainSkvqCalibration('key', nKv, d, 2);
    sorted.heads = sorted.heads.map((_, h) => {
      // sort channels by range over the data: the ideal reorder for this toy check
      const range = Array.from({ length: d }, (_, c) => {
        let lo = Infinity, hi = -Infinity;
        for (let t = 0; t < TILE_TOKENS * 4; t++) { const v = data[t * nKv * d + h * d + c]!; lo = Math.min(lo, v); hi = Math.max(hi, v); }
        return hi - lo;
      });
      const perm = Array.from({ length: d }, (_, c) => c).sort((a, b) => range[a]! - range[b]!);
      return { perm, groupStart: [0, d - 6, d] };
    });
    expect(err(sorted)).toBeLessThan(0.2 * err(plain));
  });

  it('is created through the registry with a JSON round-tripped calibration', () => {
    const cal = randomSkvqCalibration('value', 4, 8, 1.5, 9, 0.93);
    const codec = createCodec('skvq-v1.5', { kind: 'value', headDim: 8, nKvHeads: 4, calibration: JSON.parse(JSON.stringify(cal)) });
    expect(codec.paramWords).toEqual(codecFor(cal).paramWords);
    expect(codec.paramWords[0]).toBe(3);
    expect(new Float32Array(codec.paramWords.buffer, 12, 1)[0]).toBeCloseTo(0.93, 6);
  });

  it('paramWords: per-head perm, groupStart and slot (model channel -> permuted position | group << 16)', () => {
    const d = 64, nKv = 3;
    const cal = randomSkvqCalibration('key', nKv, d, 4, 12, 0.95, 16);
    const w = codecFor(cal).paramWords;
    const C = cal.clusters;
    expect(w.length).toBe(4 + nKv * (2 * d + C + 1));
    cal.heads.forEach((h, i) => {
      const base = 4 + i * (2 * d + C + 1);
      expect(Array.from(w.subarray(base, base + d))).toEqual(h.perm);
      expect(Array.from(w.subarray(base + d, base + d + C + 1))).toEqual(h.groupStart);
      for (let c = 0; c < d; c++) {
        const slot = w[base + d + C + 1 + c]!, p = slot & 0xffff, j = slot >>> 16;
        expect(h.perm[p]).toBe(c);
        expect(p >= h.groupStart[j]! && p < h.groupStart[j + 1]!).toBe(true);
      }
    });
  });

  it('options: reorder false -> identity/equal groups; clip false -> alpha 1; clip number overrides', () => {
    const cal = randomSkvqCalibration('key', 1, 64, 2, 4, 0.8);
    const a = codecFor(cal, { reorder: false, clip: false });
    expect(a.calibration.heads[0]!.perm).toEqual(Array.from({ length: 64 }, (_, c) => c));
    expect(a.calibration.heads[0]!.groupStart).toEqual([0, 32, 64]);
    expect(a.calibration.clip).toBe(1);
    expect(codecFor(cal, { clip: 0.7 }).calibration.clip).toBe(0.7);
    expect(cal.clip).toBe(0.8); // the caller's object is not modified
  });
});

describe('SKVQ bad input: typed errors', () => {
  const good = (): SkvqCalibration => randomSkvqCalibration('key', 2, 8, 2, 1, 0.9);
  const create = (cal: unknown, name = 'skvq-k2', headDim = 8, nKvHeads = 2, options?: Record<string, unknown>) =>
    () => createCodec(name, { kind: 'key', headDim, nKvHeads, calibration: cal, options });
  const expectErr = (fn: () => unknown, code: string, arg: string) => {
    try { fn(); } catch (e) {
      expect(e).toBeInstanceOf(KvpackError);
      expect((e as KvpackError).code).toBe(code);
      expect((e as KvpackError).arg).toBe(arg);
      return;
    }
    throw new Error('did not throw');
  };

  it('calibration from another shape, version, kind or bit width', () => {
    expectErr(create(undefined), 'BAD_CALIBRATION', 'calibration');
    expectErr(create(good(), 'skvq-k2', 16), 'BAD_CALIBRATION', 'calibration.headDim');
    expectErr(create(good(), 'skvq-k2', 8, 4), 'BAD_CALIBRATION', 'calibration.nKvHeads');
    expectErr(create({ ...good(), version: 2 }), 'BAD_CALIBRATION', 'calibration.version');
    expectErr(create({ ...good(), format: 'kvpack-cq' }), 'BAD_CALIBRATION', 'calibration.format');
    expectErr(create(good(), 'skvq-k4'), 'BAD_CALIBRATION', 'calibration.bits');
    expectErr(create({ ...good(), kind: 'value' }), 'BAD_CALIBRATION', 'calibration.kind');
    expectErr(create({ ...good(), groupSize: 48 }), 'BAD_CALIBRATION', 'calibration.groupSize');
    expectErr(create({ ...good(), clusters: 9 }), 'BAD_CALIBRATION', 'calibration.clusters');
    expectErr(create({ ...good(), clusters: 1.5 }), 'BAD_CALIBRATION', 'calibration.clusters');
    expectErr(create({ ...good(), clusters: 3 }), 'BAD_CALIBRATION', 'calibration.heads[0].groupStart');
    expectErr(create({ ...good(), tokensPerGroup: 4 }), 'BAD_CALIBRATION', 'calibration.tokensPerGroup');
    expectErr(create('{"format":"kvpack-skvq"}'), 'BAD_CALIBRATION', 'calibration.format');
  });

  it('permutations that are not permutations, bad groups', () => {
    const dup = good(); dup.heads[1]!.perm = [0, 1, 2, 3, 4, 5, 6, 6];
    expectErr(create(dup), 'BAD_CALIBRATION', 'calibration.heads[1].perm');
    const range = good(); range.heads[0]!.perm = [0, 1, 2, 3, 4, 5, 6, 8];
    expectErr(create(range), 'BAD_CALIBRATION', 'calibration.heads[0].perm');
    const short = good(); short.heads[0]!.perm = [0, 1, 2];
    expectErr(create(short), 'BAD_CALIBRATION', 'calibration.heads[0].perm');
    const frac = good(); frac.heads[0]!.perm = [0.5, 1, 2, 3, 4, 5, 6, 7];
    expectErr(create(frac), 'BAD_CALIBRATION', 'calibration.heads[0].perm');
    const empty = good(); empty.heads[0]!.groupStart = [0, 0, 8];
    expectErr(create(empty), 'BAD_CALIBRATION', 'calibration.heads[0].groupStart');
    const open = good(); open.heads[0]!.groupStart = [0, 4, 7];
    expectErr(create(open), 'BAD_CALIBRATION', 'calibration.heads[0].groupStart');
    expectErr(create({ ...good(), heads: [good().heads[0]] }), 'BAD_CALIBRATION', 'calibration.heads');
  });

  it('clip ratios outside (0, 1]', () => {
    for (const clip of [0, -0.5, 1.01, NaN, Infinity, '0.9']) expectErr(create({ ...good(), clip }), 'BAD_CALIBRATION', 'calibration.clip');
    expectErr(create(good(), 'skvq-k2', 8, 2, { clip: 1.5 }), 'BAD_PARAM', 'options.clip');
    expectErr(create(good(), 'skvq-k2', 8, 2, { clip: 0 }), 'BAD_PARAM', 'options.clip');
    expectErr(create(good(), 'skvq-k2', 8, 2, { reorder: 'yes' }), 'BAD_PARAM', 'options.reorder');
    expectErr(create(good(), 'skvq-k2', 8, 2, { window: 3 }), 'BAD_PARAM', 'options.window');
  });

  it('encode/decode shapes', () => {
    const codec = codecFor(good());
    expectErr(() => codec.encodeTile(new Float32Array(10), 0, new Uint32Array(codec.tileWords)), 'BAD_SHAPE', 'x');
    expectErr(() => codec.encodeTile(new Float32Array(256), 2, new Uint32Array(codec.tileWords)), 'BAD_PARAM', 'head');
    expectErr(() => codec.encodeTile(new Float32Array(256), 0, new Uint32Array(3)), 'BAD_SHAPE', 'out');
    expectErr(() => codec.decodeTile(new Uint32Array(codec.tileWords), 0, new Float32Array(3)), 'BAD_SHAPE', 'out');
  });
});
