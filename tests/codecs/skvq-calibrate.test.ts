import { describe, expect, it } from 'vitest';
import { KvpackError } from '../../ts/errors.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { codecInfo, createCodec } from '../../ts/codecs/index.js';
import { plainSkvqCalibration, SkvqCodec, type SkvqCalibration } from '../../ts/codecs/skvq/index.js';
import { calibrateSkvq, calibrateSkvqStream, kmeans2d, tileSquaredError } from '../../ts/codecs/skvq/calibrate.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { attendDense, attendReference } from '../../ts/reference/attention.js';
import { gaussianKv, heavyTailedKv, outlierChannels, outlierKeys, randomQuery } from '../helpers/data.js';
import { relativeError } from '../helpers/metrics.js';

const codecOf = (cal: SkvqCalibration) =>
  new SkvqCodec('skvq', cal.bits, { kind: cal.kind, headDim: cal.headDim, nKvHeads: cal.nKvHeads, calibration: cal });

describe('SKVQ calibration: reorder by k-means of channel (min, max)', () => {
  it('k-means is deterministic for a seed and never leaves a cluster empty', () => {
    const pts = new Float64Array(16); // 8 identical points, 4 clusters
    const a = kmeans2d(pts, 4, 3, 1);
    expect(new Set(a.labels).size).toBe(4);
    const rnd = Float64Array.from(gaussianKv(1, 1, 64, 3));
    expect(kmeans2d(rnd, 4, 10, 5).labels).toEqual(kmeans2d(rnd, 4, 10, 5).labels);
  });

  it('puts the outlier channels of each head into their own group (d=64, 2 clusters)', () => {
    const nKv = 3, d = 64, seed = 42;
    const data = outlierKeys(512, nKv, d, seed, { outliers: 4, minScale: 30, maxScale: 40 });
    const cal = calibrateSkvqStream({ kind: 'key', headDim: d, nKvHeads: nKv, data }, { bits: 2, clip: false });
    const truth = outlierChannels(nKv, d, seed, { outliers: 4, minScale: 30, maxScale: 40 });
    cal.heads.forEach((h, i) => {
      expect(h.groupStart).toEqual([0, d - 4, d]);
      expect(h.perm.slice(d - 4).sort((a, b) => a - b)).toEqual(truth[i]);
    });
  });

  it('calibrated reorder beats plain groups on outlier keys at every bit width and shape', () => {
    for (const d of [8, 64, 128]) {
      for (const bits of [2, 4] as const) {
        const nKv = 2;
        const train = outlierKeys(256, nKv, d, 7 + d);
        const test = outlierKeys(256, nKv, d, 7 + d); // same channels, new tokens
        const cal = calibrateSkvqStream({ kind: 'key', headDim: d, nKvHeads: nKv, data: train }, { bits, clip: false });
        const plain = plainSkvqCalibration('key', nKv, d, bits);
        const tiles = 256 / TILE_TOKENS;
        expect(tileSquaredError(codecOf(cal), test, tiles)).toBeLessThan(0.5 * tileSquaredError(codecOf(plain), test, tiles));
      }
    }
  });
});

describe('SKVQ calibration: clip ratio grid search', () => {
  it('chooses alpha < 1 on heavy-tailed data and lowers held-out error (2-bit and 1.5-bit)', () => {
    for (const bits of [2, 1.5] as const) {
      const d = 64, nKv = 2;
      const data = heavyTailedKv(512, nKv, d, 3);
      const held = heavyTailedKv(512, nKv, d, 4);
      const cal = calibrateSkvqStream({ kind: 'value', headDim: d, nKvHeads: nKv, data }, { bits, restarts: 2 });
      expect(cal.clip).toBeLessThan(1);
      expect(cal.clip).toBeGreaterThanOrEqual(0.5);
      const noClip = { ...cal, clip: 1 };
      expect(tileSquaredError(codecOf(cal), held, 16)).toBeLessThan(tileSquaredError(codecOf(noClip), held, 16));
    }
  });

  it('keeps alpha = 1 when clipping cannot help (values exactly on 4 levels)', () => {
    const d = 8, nKv = 1, n = 64;
    const data = new Float32Array(n * d);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 4;
    const cal = calibrateSkvqStream({ kind: 'value', headDim: d, nKvHeads: nKv, data }, { bits: 2, reorder: false });
    expect(cal.clip).toBe(1);
  });

  it('the object is JSON-safe and the registry hook builds a working codec from it', () => {
    const data = outlierKeys(128, 4, 8, 1);
    const cal = codecInfo('skvq-k2').calibrate!({ kind: 'key', headDim: 8, nKvHeads: 4, data });
    expect(JSON.parse(JSON.stringify(cal))).toEqual(cal);
    const codec = createCodec('skvq-k2', { kind: 'key', headDim: 8, nKvHeads: 4, calibration: JSON.parse(JSON.stringify(cal)) });
    expect(codec.name).toBe('skvq-k2');
  });

  it('calibrateSkvq(capture) gives one { key, value } per layer with the requested bits', () => {
    const layers = [0, 1].map((l) => ({ keys: outlierKeys(64, 2, 8, l), values: gaussianKv(64, 2, 8, 10 + l) }));
    const cals = calibrateSkvq({ nKvHeads: 2, headDim: 8, layers }, { keyBits: 4, valueBits: 1.5, restarts: 2 });
    expect(cals).toHaveLength(2);
    expect(cals.map((c) => [c.key.kind, c.key.bits, c.value.kind, c.value.bits])).toEqual([['key', 4, 'value', 1.5], ['key', 4, 'value', 1.5]]);
  });

  it('bad samples and options: typed errors', () => {
    const err = (fn: () => unknown): KvpackError => { try { fn(); } catch (e) { return e as KvpackError; } throw new Error('did not throw'); };
    const data = gaussianKv(64, 1, 8, 1);
    const s = { kind: 'key' as const, headDim: 8, nKvHeads: 1, data };
    const nan = data.slice(); nan[5] = NaN;
    expect(err(() => calibrateSkvqStream({ ...s, data: nan }, { bits: 2 }))).toMatchObject({ code: 'NON_FINITE', arg: 'data' });
    expect(err(() => calibrateSkvqStream({ ...s, data: data.subarray(0, 8 * 31) }, { bits: 2 }))).toMatchObject({ code: 'BAD_SHAPE', arg: 'data' });
    expect(err(() => calibrateSkvqStream(s, { bits: 3 as never }))).toMatchObject({ code: 'BAD_PARAM', arg: 'options.bits' });
    expect(err(() => calibrateSkvqStream(s, { bits: 2, clipGrid: [1, 0] }))).toMatchObject({ code: 'BAD_PARAM', arg: 'options.clipGrid' });
    expect(err(() => calibrateSkvqStream(s, { bits: 2, groupSize: 48 }))).toMatchObject({ code: 'BAD_PARAM', arg: 'groupSize' });
  });
});

describe('SKVQ in a PackedKvCache: window, sinks, GQA', () => {
  it.each([[8, 4, 2, 0, 0], [64, 2, 4, 32, 5], [128, 1, 8, 128, 5]])(
    'd=%i nKv=%i group=%i window=%i sinks=%i: reference attention = dense attention over decoded tiles',
    (d, nKv, group, window, sinks) => {
      const n = sinks + window + 3 * TILE_TOKENS + 7;
      const K = outlierKeys(n, nKv, d, d), V = heavyTailedKv(n, nKv, d, d + 1);
      const kCal = calibrateSkvqStream({ kind: 'key', headDim: d, nKvHeads: nKv, data: K }, { bits: 2, restarts: 2 });
      const vCal = calibrateSkvqStream({ kind: 'value', headDim: d, nKvHeads: nKv, data: V }, { bits: 1.5, restarts: 2 });
      const cache = new PackedKvCache({ nKvHeads: nKv, headDim: d, key: 'skvq-k2', value: 'skvq-v1.5', calibration: { key: kCal, value: vCal }, window, sinks });
      cache.append(0, K, V);
      const view = cache.view(0);
      expect(view.tiles).toBe(3);
      expect(view.sinkCount + view.tailCount).toBe(sinks + window + 7);
      // dense copies with the tile tokens replaced by their decoded values (model order)
      const Kd = K.slice(), Vd = V.slice(), tf = nKv * d;
      const kt = new Float32Array(TILE_TOKENS * d), vt = new Float32Array(TILE_TOKENS * d);
      for (let tile = 0; tile < 3; tile++) for (let h = 0; h < nKv; h++) {
        const ko = cache.tileOffset(tile, h, 'key'), vo = cache.tileOffset(tile, h, 'value');
        cache.key.decodeTile(view.pages[0]!.subarray(ko, ko + cache.key.tileWords), h, kt);
        cache.value.decodeTile(view.pages[0]!.subarray(vo, vo + cache.value.tileWords), h, vt);
        for (let t = 0; t < TILE_TOKENS; t++) {
          const dst = (sinks + tile * TILE_TOKENS + t) * tf + h * d;
          Kd.set(kt.subarray(t * d, t * d + d), dst);
          Vd.set(vt.subarray(t * d, t * d + d), dst);
        }
      }
      const q = randomQuery(nKv * group, d, 3, 0.3);
      const ref = attendReference(cache, 0, q, nKv * group);
      // 1e-5: summation order only (same decoded values, same softmax)
      expect(relativeError(ref, attendDense(Kd, Vd, nKv, d, q, nKv * group))).toBeLessThan(1e-5);
      // and it carries the signal (K2/V1.5 on heavy-tailed values is coarse; the bench measures how coarse)
      expect(relativeError(ref, attendDense(K, V, nKv, d, q, nKv * group))).toBeLessThan(0.9);
    });
});
