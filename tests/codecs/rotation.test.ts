import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { createCodec } from '../../ts/codecs/registry.js';
import { RotatedCodec } from '../../ts/codecs/rotation.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { parsePairing } from '../../ts/model/codec-pairing.js';

const d = 64;
function tile(seed: number, outlier = 0): Float32Array {
  const x = new Float32Array(TILE_TOKENS * d);
  let s = seed;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    x[i] = (s / 2 ** 32 - 0.5) * 2 + (i % d === 5 ? outlier : 0); // channel 5: an outlier channel like real keys
  }
  return x;
}

describe('RotatedCodec (seeded randomized Hadamard before another codec)', () => {
  it('is orthogonal: around fp32 it returns its input (to f32 rounding)', () => {
    const inner = createCodec('fp32', { kind: 'key', headDim: d, nKvHeads: 2 });
    const rc = new RotatedCodec(inner, 7);
    const x = tile(1, 20), words = new Uint32Array(rc.tileWords), y = new Float32Array(x.length);
    rc.encodeTile(x, 1, words);
    rc.decodeTile(words, 1, y);
    for (let i = 0; i < x.length; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThan(1e-5);
    const raw = new Float32Array(x.length);
    inner.decodeTile(words, 1, raw); // the stored vectors are rotated: the outlier is spread out
    const peak = (v: Float32Array): number => v.reduce((m, t) => Math.max(m, Math.abs(t)), 0);
    expect(peak(raw)).toBeLessThan(peak(x) / 3);
  });

  it('lowers a per-token 4-bit codec\'s error on data with an outlier channel', () => {
    const mse = (codec: { encodeTile: RotatedCodec['encodeTile']; decodeTile: RotatedCodec['decodeTile']; tileWords: number }): number => {
      const x = tile(3, 30), w = new Uint32Array(codec.tileWords), y = new Float32Array(x.length);
      codec.encodeTile(x, 0, w);
      codec.decodeTile(w, 0, y);
      return x.reduce((s, v, i) => s + (v - y[i]!) ** 2, 0) / x.length;
    };
    const q4 = createCodec('q4_0', { kind: 'value', headDim: d, nKvHeads: 1 });
    expect(mse(new RotatedCodec(q4, 1))).toBeLessThan(mse(q4) / 2);
  });

  it('different seeds give different rotations; the name says what it wraps', () => {
    const inner = createCodec('fp32', { kind: 'key', headDim: d, nKvHeads: 1 });
    const a = new Uint32Array(inner.tileWords), b = new Uint32Array(inner.tileWords);
    new RotatedCodec(inner, 1).encodeTile(tile(2), 0, a);
    new RotatedCodec(inner, 2).encodeTile(tile(2), 0, b);
    expect(a).not.toEqual(b);
    expect(new RotatedCodec(inner).name).toBe('rot-fp32');
  });

  it('refuses head_dim that is not a power of two, and codecs that build their own cache in pairings', () => {
    const inner = createCodec('fp32', { kind: 'key', headDim: 24, nKvHeads: 1 });
    expect(() => new RotatedCodec(inner)).toThrow(expect.objectContaining({ code: 'BAD_PARAM', arg: 'headDim' }));
    expect(parsePairing('kivi2@rk@rv').rotate).toEqual({ key: true, value: true });
    // calibrated codecs calibrate on rotated rows (decisions.md#D31; tests/model/rotated-calibration.test.ts)
    expect(parsePairing('cq-4c8b@rk').rotate).toEqual({ key: true, value: false });
    expect(() => parsePairing('qaq@rv')).toThrow(expect.objectContaining({ code: 'BAD_PARAM' }));
  });
});
