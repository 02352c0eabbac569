/**
 * SKVQ WASM conformance (build/kvpack.wasm; a missing build FAILS):
 * 1. tile words: encode_skvq === SkvqCodec.encodeTile bit for bit, skvq-k2/k4/v2/v1.5, head_dim
 *    8/24/64/128, random permutations and variable groups, clip 1 and < 1, gaussian / outlier /
 *    constant / extreme data;
 * 2. fused attention: WasmBackend (permuted query, permuted value state scattered back) vs
 *    attendReference on SKVQ's own group layouts: 16-channel groups at head_dim 128 (C = 8, the
 *    non-swizzle path) and the folded kernels (m = 1, m = 2), contexts crossing a page;
 *    default groups and mixed pairs are the conformance matrix's (ts/conformance/matrix.ts);
 * 3. calibration math in WASM === the TS oracle.
 */
import { afterAll, describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { attendReference } from '../../ts/reference/attention.js';
import { encodeTileWasm, loadKvpackWasm, WasmBackend } from '../../ts/backends/wasm.js';
import { calibrateSkvqStream, channelMinMax, kmeans2d, tileSquaredError } from '../../ts/codecs/skvq/calibrate.js';
import { skvqMathWasm } from '../../ts/codecs/skvq/wasm.js';
import { SkvqCodec } from '../../ts/codecs/skvq/index.js';
import { gaussianKv, heavyTailedKv, makeRng, outlierKeys, randomQuery } from '../helpers/data.js';
import { randomSkvqCalibration } from '../helpers/skvq-calibration.js';

/** Same bound and reasoning as tests/conformance/wasm.test.ts: summation order and f32 exp only. */
const ATTN_TOL = 1e-5;
const ran: string[] = [];
afterAll(() => console.log(`skvq wasm conformance:\n${ran.join('\n')}`));


function tileData(kind: string, d: number, seed: number): Float32Array {
  const rng = makeRng(seed), n = TILE_TOKENS * d;
  if (kind === 'gaussian') return gaussianKv(TILE_TOKENS, 1, d, seed);
  if (kind === 'outlier') return outlierKeys(TILE_TOKENS, 1, d, seed);
  if (kind === 'constant') return new Float32Array(n).fill(-0.7);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (rng.uniform() - 0.5) * (i % 3 === 0 ? 3e5 : i % 3 === 1 ? 1e-6 : 2);
  return x;
}

describe('SKVQ WASM encoder: identical words', () => {
  for (const [name, kind, bits] of [['skvq-k2', 'key', 2], ['skvq-k4', 'key', 4], ['skvq-v2', 'value', 2], ['skvq-v1.5', 'value', 1.5]] as const) {
    for (const d of [8, 24, 64, 128]) {
      it(`${name} d=${d}`, async () => {
        let checked = 0;
        for (const clip of [1, 0.83]) {
          // 16 at d=128: C = 8 (the non-swizzle path); 0: clusters = d (one channel per group, m = 32)
          for (const groupSize of [16, 32, 128, 0]) {
            const nKv = 3;
            const cal = groupSize ? randomSkvqCalibration(kind, nKv, d, bits, d * 7 + groupSize, clip, groupSize)
              : randomSkvqCalibration(kind, nKv, d, bits, d * 7, clip, 32, d);
            const codec = new SkvqCodec(name, bits, { kind, headDim: d, nKvHeads: nKv, calibration: cal });
            for (const data of ['gaussian', 'outlier', 'constant', 'extreme']) {
              for (let h = 0; h < nKv; h++) {
                const x = tileData(data, d, 31 * h + d);
                const ref = new Uint32Array(codec.tileWords);
                codec.encodeTile(x, h, ref);
                const got = await encodeTileWasm(codec, kind, d, x, h);
                expect(Array.from(got), `${data} head ${h} clip ${clip} g${groupSize}`).toEqual(Array.from(ref));
                checked++;
              }
            }
          }
        }
        ran.push(`encode ${name} d=${d}: ${checked} tiles identical`);
      });
    }
  }
});

describe('SKVQ WASM fused attention vs attendReference', () => {
  const cases: [string, string, number, number, number, number, number, number?][] = [
    // key, value, d, nKv, group, window, sinks, groupSize (16 at d=128: C = 8 groups, the non-swizzle path)
    // (default groups, mixed with other codecs, tail-only and page-crossing contexts: the
    // conformance matrix, ts/conformance/matrix.ts)
    ['skvq-k4', 'skvq-v1.5', 128, 2, 2, 0, 0, 16],
    // the folded kernels (C <= 4, d % 16 keys with one query head, d % 32 values): m = 1 and m = 2
    ['skvq-k2', 'skvq-v1.5', 128, 2, 1, 0, 0],
    ['skvq-k2', 'skvq-v1.5', 128, 1, 4, 16, 2, 128],
    ['skvq-k4', 'skvq-v1.5', 64, 2, 1, 32, 3, 128],
    // 2-bit keys by group (decisions.md#D105): 2 + 1 query heads per pass (group 3), 4 + 2 (group 6)
    // at d = 8 (m = 8 tokens per group block, 2-byte code rows)
    ['skvq-k2', 'skvq-v1.5', 64, 1, 3, 0, 0],
    ['skvq-k2', 'skvq-v2', 8, 2, 6, 0, 0],
  ];
  for (const [key, value, d, nKv, group, window, sinks, gsz] of cases) {
    for (const ctx of [33, 2100]) {
      it(`${key}/${value} d=${d} nKv=${nKv} group=${group} window=${window} sinks=${sinks} g${gsz ?? 32} ctx=${ctx}`, async () => {
        const calibration = {
          key: key.startsWith('skvq') ? randomSkvqCalibration('key', nKv, d, key === 'skvq-k4' ? 4 : 2, 5, 0.9, gsz) : undefined,
          value: value.startsWith('skvq') ? randomSkvqCalibration('value', nKv, d, value === 'skvq-v1.5' ? 1.5 : 2, 6, 0.8, gsz) : undefined,
        };
        const cache = new PackedKvCache({ nKvHeads: nKv, headDim: d, key, value, calibration, window, sinks });
        const ctx2 = Math.max(1, ctx - 7);
        cache.append(0, outlierKeys(ctx, nKv, d, ctx), heavyTailedKv(ctx, nKv, d, ctx + 1));
        cache.append(1, outlierKeys(ctx2, nKv, d, ctx2 + 2), heavyTailedKv(ctx2, nKv, d, ctx2 + 3));
        const nHeads = nKv * group;
        const q = new Float32Array(2 * nHeads * d);
        q.set(randomQuery(nHeads, d, 1, 0.2), 0);
        q.set(randomQuery(nHeads, d, 2, 0.2), nHeads * d);
        // the float kernels (the integer ones, on by default: skvq-integer.test.ts)
        const backend = await WasmBackend.create(undefined, { integerAttention: false });
        try {
          const got = await backend.attend(cache, [0, 1], q, nHeads);
          let worst = 0;
          for (const [i, seq] of [0, 1].entries()) {
            const ref = attendReference(cache, seq, q.subarray(i * nHeads * d, (i + 1) * nHeads * d), nHeads);
            const view = cache.view(seq);
            let vmax = 0;
            for (const a of [view.sinkV, view.tailV]) for (const v of a) vmax = Math.max(vmax, Math.abs(v));
            const dec = new Float32Array(TILE_TOKENS * d);
            for (let t = 0; t < view.tiles; t++) for (let h = 0; h < nKv; h++) {
              const o = cache.tileOffset(t % 64, h, 'value');
              cache.value.decodeTile(view.pages[Math.floor(t / 64)]!.subarray(o, o + cache.value.tileWords), h, dec);
              for (const v of dec) vmax = Math.max(vmax, Math.abs(v));
            }
            for (let k = 0; k < ref.length; k++) {
              const e = Math.abs(got[i * nHeads * d + k]! - ref[k]!);
              worst = Math.max(worst, e / vmax);
            }
          }
          expect(worst).toBeLessThanOrEqual(ATTN_TOL);
          ran.push(`attend ${key}/${value} d=${d} nKv=${nKv}x${group} w=${window} s=${sinks} ctx=${ctx}: max err/max|V| ${worst.toExponential(1)}`);
        } finally {
          backend.dispose();
        }
      });
    }
  }
});

describe('SKVQ calibration math in WASM === TS oracle', () => {
  for (const [d, nKv, bits, kind] of [[8, 4, 2, 'key'], [64, 2, 1.5, 'value'], [128, 2, 4, 'key'], [24, 1, 2, 'value']] as const) {
    it(`d=${d} nKv=${nKv} ${bits}-bit ${kind}s: identical permutation, groups and clip`, async () => {
      const wasm = await loadKvpackWasm();
      const math = skvqMathWasm(wasm);
      const data = kind === 'key' ? outlierKeys(320, nKv, d, d) : heavyTailedKv(320, nKv, d, d);
      const sample = { kind, headDim: d, nKvHeads: nKv, data } as const;
      // the pieces first (clearer failures), then the whole driver
      const pts = channelMinMax(data, nKv, d, 0);
      expect(Array.from(math.channelMinMax(data, nKv, d, 0))).toEqual(Array.from(pts));
      const km = kmeans2d(pts, Math.max(2, d / 32), 10, 77);
      const kmW = math.kmeans2d(pts, Math.max(2, d / 32), 10, 77);
      expect(Array.from(kmW.labels)).toEqual(Array.from(km.labels));
      expect(Array.from(kmW.centroids)).toEqual(Array.from(km.centroids));
      const ts = calibrateSkvqStream(sample, { bits, restarts: 4 });
      const wa = calibrateSkvqStream(sample, { bits, restarts: 4 }, math);
      expect(wa).toEqual(ts);
      const codec = new SkvqCodec('skvq', bits, { kind, headDim: d, nKvHeads: nKv, calibration: ts });
      expect(math.tileSquaredError(codec, data, 10)).toBe(tileSquaredError(codec, data, 10));
      ran.push(`calibrate d=${d} ${bits}-bit ${kind}s: WASM = TS (clip ${ts.clip})`);
    });
  }
});
