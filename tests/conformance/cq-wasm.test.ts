/**
 * CQ on WASM (build/kvpack.wasm; a missing build FAILS):
 * 1. tile words: WASM encode_cq === CqCodec.encodeTile bit for bit, every registered configuration
 *    plus 1- and 2-bit ones (the scalar K < 4 path), f16 and f32 codebooks, head_dim 8/64/128,
 *    gaussian, outlier-channel and extreme data;
 * 2. calibration: kmeansWasm returns the TS oracle's centroids bit for bit (weighted, unweighted,
 *    odd k, dims 1..8), and calibrateCqStream gives the same calibration object with either;
 * 3. attention: WasmBackend (LUT keys, histogram values) vs attendReference with an f32 value
 *    codebook of 10-bit codes (the shared shapes: the conformance matrix).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { CqCodec } from '../../ts/codecs/cq/codec.js';
import { makeCqCalibration, type CqCalibration } from '../../ts/codecs/cq/calibration-format.js';
import { kmeansWasm } from '../../ts/codecs/cq/wasm.js';
import { calibrateCqStream } from '../../ts/codecs/cq/calibrate.js';
import { kmeans } from '../../ts/codecs/cq/kmeans.js';
import { encodeTileWasm, loadKvpackWasm, WasmBackend, type KvpackWasm } from '../../ts/backends/wasm.js';
import { attendReference } from '../../ts/reference/attention.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { gaussianKv, makeRng, outlierKeys, randomQuery } from '../helpers/data.js';

/**
 * Attention tolerance, max |wasm - ref| <= 2e-5 * max |V|: both sides use the same f32
 * centroids; they differ in summation order and precision only (reference: f64 dot products
 * of decoded rows, f64 exp; WASM: f32 tables summed per group, f32 histogram bins, f32 exp).
 * A histogram bin sums up to thousands of f32 weights, hence 2x the baselines' 1e-5.
 */
const ATTN_TOL = 2e-5;

let wasm: KvpackWasm;
beforeAll(async () => { wasm = await loadKvpackWasm(); });

const matrix: string[] = [];
afterAll(() => console.log(['cq wasm conformance', ...matrix].join('\n')));

function randomCalibration(c: number, b: number, kind: 'key' | 'value', nKvHeads: number, d: number, seed: number,
  precision: 'f16' | 'f32'): CqCalibration {
  const rng = makeRng(seed);
  // centroids spread like the data (some outliers) so that nearest-centroid choices are non-trivial
  const floats = Array.from({ length: nKvHeads * d * 2 ** b }, (_, i) => rng.gaussian() * (i % 7 === 0 ? 8 : 1));
  return makeCqCalibration({ channelsPerGroup: c, bits: b }, kind, nKvHeads, d, floats, precision);
}

describe('CQ WASM encode', () => {
  const configs: [number, number][] = [[2, 8], [4, 8], [4, 9], [8, 8], [8, 10], [1, 1], [2, 2], [4, 5]];
  for (const [c, b] of configs) {
    for (const precision of ['f16', 'f32'] as const) {
      it(`cq-${c}c${b}b ${precision}: WASM words === TS words (head_dim 8/64/128, 3 data kinds)`, async () => {
        let tiles = 0;
        for (const d of [8, 64, 128]) {
          if (d === 128 && b >= 10) continue; // largest codebook: d = 64 covers the path
          const nKvHeads = 2;
          const cal = randomCalibration(c, b, 'value', nKvHeads, d, 100 + c * 13 + b + d, precision);
          const codec = new CqCodec({ channelsPerGroup: c, bits: b }, { kind: 'value', headDim: d, nKvHeads, calibration: cal });
          const data = [gaussianKv(TILE_TOKENS, 1, d, d + b), outlierKeys(TILE_TOKENS, 1, d, d + c)];
          const rng = makeRng(d);
          data.push(Float32Array.from({ length: TILE_TOKENS * d }, (_, i) => (rng.uniform() - 0.5) * (i % 5 === 0 ? 1e30 : 1e-3)));
          for (const x of data) {
            for (const head of [0, 1]) {
              const ref = new Uint32Array(codec.tileWords);
              codec.encodeTile(x, head, ref);
              const got = await encodeTileWasm(codec, 'value', d, x, head);
              expect(Array.from(got)).toEqual(Array.from(ref));
              tiles++;
            }
          }
        }
        matrix.push(`encode cq-${c}c${b}b ${precision}: ${tiles} tiles identical`);
      });
    }
  }
});

describe('CQ WASM k-means', () => {
  it('same centroids bit for bit as the TS oracle (weights, odd k, dims 1..8)', () => {
    const run = kmeansWasm(wasm);
    const rng = makeRng(5);
    let cases = 0;
    for (const [n, dim, k] of [[300, 1, 2], [500, 2, 16], [700, 4, 33], [1000, 8, 256], [64, 3, 64]] as const) {
      const x = Float64Array.from({ length: n * dim }, (_, i) => rng.gaussian() * (i % dim === 0 ? 5 : 1));
      for (const weighted of [false, true]) {
        const opts = { seed: 17 + k, maxIterations: 12, ...(weighted ? { weights: Float64Array.from({ length: n }, () => rng.uniform() ** 3) } : {}) };
        const a = kmeans(x, n, dim, k, opts);
        const b = run(x, n, dim, k, opts);
        expect(b.iterations).toBe(a.iterations);
        expect(b.inertia).toBe(a.inertia);
        expect(Array.from(b.centroids)).toEqual(Array.from(a.centroids));
        cases++;
      }
    }
    matrix.push(`k-means: ${cases} runs bit-identical to TS`);
  });

  it('calibrateCqStream gives the same calibration object with the WASM k-means, and the same typed errors', () => {
    const data = outlierKeys(900, 2, 8, 3);
    const opts = { channelsPerGroup: 4, bits: 8, seed: 3, maxIterations: 6 };
    const ts = calibrateCqStream(data, { kind: 'key', nKvHeads: 2, headDim: 8 }, opts);
    const progress: number[] = [];
    const wa = calibrateCqStream(data, { kind: 'key', nKvHeads: 2, headDim: 8 }, {
      ...opts, kmeans: kmeansWasm(wasm), onProgress: (p) => progress.push(p.task),
    });
    expect(wa).toEqual(ts);
    expect(progress[progress.length - 1]).toBe(2 * 2 - 1);
    const bad = new Float64Array(10 * 2);
    expect(() => kmeansWasm(wasm)(bad, 10, 2, 16, {})).toThrow(expect.objectContaining({ code: 'BAD_CALIBRATION' }));
    bad[3] = NaN;
    expect(() => kmeansWasm(wasm)(bad, 10, 2, 4, {})).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
  });
});

describe('CQ WASM attention (LUT keys, histogram values)', () => {
  // f16 key and f32 value codebooks (calibrated CQ on the shared shapes, mixed pairs included, is
  // the conformance matrix's: ts/conformance/matrix.ts), 10-bit value histograms, a page crossed
  const cases = [
    { kc: 'cq-4c8b', vc: 'cq-8c10b', d: 8, nKv: 4, group: 2, lens: [2100, 33], window: 32, sinks: 4 },
  ];
  for (const cs of cases) {
    it(`${cs.kc}/${cs.vc} d=${cs.d} nKv=${cs.nKv} group=${cs.group} lens=${cs.lens.join(',')} window=${cs.window} sinks=${cs.sinks}`, async () => {
      const parse = (name: string) => { const m = /cq-(\d+)c(\d+)b/.exec(name)!; return [Number(m[1]), Number(m[2])] as const; };
      const [kcC, kcB] = parse(cs.kc), [vcC, vcB] = parse(cs.vc);
      const calibration = {
        key: randomCalibration(kcC, kcB, 'key', cs.nKv, cs.d, 7, 'f16'),
        value: randomCalibration(vcC, vcB, 'value', cs.nKv, cs.d, 8, 'f32'),
      };
      const cache = new PackedKvCache({ nKvHeads: cs.nKv, headDim: cs.d, key: cs.kc, value: cs.vc, calibration, window: cs.window, sinks: cs.sinks });
      cs.lens.forEach((n, s) => cache.append(s, outlierKeys(n, cs.nKv, cs.d, 20 + s), gaussianKv(n, cs.nKv, cs.d, 30 + s)));
      const nHeads = cs.nKv * cs.group;
      const q = randomQuery(2 * nHeads, cs.d, 9, 0.3);
      const backend = await WasmBackend.create();
      const got = await backend.attend(cache, [0, 1], q, nHeads);
      let maxV = 0, maxErr = 0;
      for (let s = 0; s < 2; s++) {
        const qs = q.subarray(s * nHeads * cs.d, (s + 1) * nHeads * cs.d);
        const ref = attendReference(cache, s, qs, nHeads);
        for (let i = 0; i < ref.length; i++) {
          maxErr = Math.max(maxErr, Math.abs(got[s * ref.length + i]! - ref[i]!));
          maxV = Math.max(maxV, Math.abs(ref[i]!));
        }
      }
      expect(maxErr).toBeLessThanOrEqual(ATTN_TOL * Math.max(maxV, 1));
      matrix.push(`attend ${cs.kc}/${cs.vc} d=${cs.d}: max err ${maxErr.toExponential(2)}`);
    });
  }
});
