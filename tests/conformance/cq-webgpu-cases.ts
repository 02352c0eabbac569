/**
 * CQ WebGPU conformance cases, shared by vitest on Dawn (tests/conformance/cq-webgpu.test.ts) and
 * Deno on wgpu (tests/deno/matrix.ts). No test-framework imports here.
 * - encode: cq_encode words === CqCodec.encodeTile words (configurations up to 10 bits, f16/f32
 *   codebooks, head_dim 8/64/128, 4 tiles of two heads);
 * - attend: cq_attend + cq_attend_fp + cq_merge vs attendReference, two sequences, GQA, window,
 *   sinks, contexts crossing a split (2048 tokens; 8192 above 16K tokens) and a page (64 tiles); then 40 more tokens on
 *   one sequence (the page mirror re-syncs).
 * Tolerance, max |gpu - ref| <= ATTN_TOL * max(|o|, 1): the same f32 centroids on both sides; the
 * GPU sums table entries in f32, takes f32 exp, and adds weights to the value histogram in fixed
 * point with 2^31 / (split tokens) per unit (relative to its split's largest weight, 1): at most
 * 8192 roundings per split. Observed max 2.2e-6 on llvmpipe (Dawn, OpenGL).
 */
import '../../ts/codecs/index.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { CqCodec } from '../../ts/codecs/cq/codec.js';
import { makeCqCalibration, type CqCalibration } from '../../ts/codecs/cq/calibration-format.js';
import type { CqWebGpuAttention } from '../../ts/codecs/cq/webgpu.js';
import { attendReference } from '../../ts/reference/attention.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { gaussianKv, makeRng, outlierKeys, randomQuery } from '../helpers/data.js';

export const ATTN_TOL = 1e-4;

export interface CqGpuResult { name: string; pass: boolean; detail: string }

function randomCalibration(c: number, b: number, kind: 'key' | 'value', nKvHeads: number, d: number, seed: number,
  precision: 'f16' | 'f32'): CqCalibration {
  const rng = makeRng(seed);
  const floats = Array.from({ length: nKvHeads * d * 2 ** b }, (_, i) => rng.gaussian() * (i % 7 === 0 ? 8 : 1));
  return makeCqCalibration({ channelsPerGroup: c, bits: b }, kind, nKvHeads, d, floats, precision);
}

export interface CqGpuCase { name: string; run(gpu: CqWebGpuAttention): Promise<CqGpuResult> }

export function cqGpuCases(): CqGpuCase[] {
  const cases: CqGpuCase[] = [];
  const encodeCases: [number, number, number, 'f16' | 'f32'][] = [
    [8, 8, 8, 'f16'], [8, 10, 8, 'f32'], [4, 8, 64, 'f16'], [2, 8, 64, 'f32'], [4, 9, 128, 'f16'], [8, 8, 128, 'f32'], [1, 3, 8, 'f16'],
  ];
  for (const [c, b, d, precision] of encodeCases) {
    const name = `encode cq-${c}c${b}b d=${d} ${precision}`;
    cases.push({
      name,
      async run(gpu) {
        const nKv = 2;
        const cal = randomCalibration(c, b, 'key', nKv, d, c * 100 + b + d, precision);
        const codec = new CqCodec({ channelsPerGroup: c, bits: b }, { kind: 'key', headDim: d, nKvHeads: nKv, calibration: cal });
        const x = new Float32Array(4 * TILE_TOKENS * d);
        x.set(outlierKeys(TILE_TOKENS, 1, d, 1), 0);
        x.set(gaussianKv(TILE_TOKENS, 1, d, 2), TILE_TOKENS * d);
        x.set(gaussianKv(2 * TILE_TOKENS, 1, d, 3, 3), 2 * TILE_TOKENS * d);
        const heads = [0, 1, 1, 0];
        const got = await gpu.encodeTiles(codec, x, heads);
        const ref = new Uint32Array(4 * codec.tileWords);
        for (let i = 0; i < 4; i++) {
          codec.encodeTile(x.subarray(i * TILE_TOKENS * d, (i + 1) * TILE_TOKENS * d), heads[i]!, ref.subarray(i * codec.tileWords, (i + 1) * codec.tileWords));
        }
        let mismatches = 0;
        for (let i = 0; i < ref.length; i++) if (got[i] !== ref[i]) mismatches++;
        return { name, pass: mismatches === 0, detail: `${ref.length} words, ${mismatches} differ` };
      },
    });
  }
  const attendCases = [
    // (calibrated CQ on the shared shapes: the conformance matrix, ts/conformance/matrix.ts)
    { kc: [4, 8], vc: [8, 10], d: 8, nKv: 4, group: 2, lens: [2300, 33], window: 32, sinks: 4 },
    { kc: [8, 8], vc: [4, 8], d: 128, nKv: 1, group: 1, lens: [4200, 200], window: 32, sinks: 0 },
    // > 16384 tokens: splits of 8192 tokens (TPT = 32)
    { kc: [8, 8], vc: [8, 8], d: 8, nKv: 1, group: 4, lens: [17000, 5], window: 0, sinks: 2 },
  ];
  for (const cs of attendCases) {
    const name = `attend cq-${cs.kc[0]}c${cs.kc[1]}b/cq-${cs.vc[0]}c${cs.vc[1]}b d=${cs.d} nKv=${cs.nKv} group=${cs.group} lens=${cs.lens.join(',')} window=${cs.window} sinks=${cs.sinks}`;
    cases.push({
      name,
      async run(gpu) {
        const key = new CqCodec({ channelsPerGroup: cs.kc[0]!, bits: cs.kc[1]! }, { kind: 'key', headDim: cs.d, nKvHeads: cs.nKv,
          calibration: randomCalibration(cs.kc[0]!, cs.kc[1]!, 'key', cs.nKv, cs.d, 7, 'f16') });
        const value = new CqCodec({ channelsPerGroup: cs.vc[0]!, bits: cs.vc[1]! }, { kind: 'value', headDim: cs.d, nKvHeads: cs.nKv,
          calibration: randomCalibration(cs.vc[0]!, cs.vc[1]!, 'value', cs.nKv, cs.d, 8, 'f32') });
        const cache = new PackedKvCache({ nKvHeads: cs.nKv, headDim: cs.d, key, value, window: cs.window, sinks: cs.sinks });
        cs.lens.forEach((n, s) => cache.append(s, outlierKeys(n, cs.nKv, cs.d, 20 + s), gaussianKv(n, cs.nKv, cs.d, 30 + s)));
        const nHeads = cs.nKv * cs.group;
        const q = randomQuery(2 * nHeads, cs.d, 9, 0.3);
        const got = await gpu.attend(cache, [0, 1], q, nHeads);
        let maxV = 0, maxErr = 0;
        const compare = (out: Float32Array, off: number, seq: number, qs: Float32Array): void => {
          const ref = attendReference(cache, seq, qs, nHeads);
          for (let i = 0; i < ref.length; i++) {
            maxErr = Math.max(maxErr, Math.abs(out[off + i]! - ref[i]!));
            maxV = Math.max(maxV, Math.abs(ref[i]!));
          }
        };
        for (let s = 0; s < 2; s++) compare(got, s * nHeads * cs.d, s, q.subarray(s * nHeads * cs.d, (s + 1) * nHeads * cs.d));
        cache.append(1, outlierKeys(40, cs.nKv, cs.d, 99), gaussianKv(40, cs.nKv, cs.d, 98));
        const q1 = q.subarray(nHeads * cs.d);
        compare(await gpu.attend(cache, [1], q1, nHeads), 0, 1, q1);
        gpu.forget(cache);
        const tol = ATTN_TOL * Math.max(maxV, 1);
        return { name, pass: maxErr <= tol, detail: `max err ${maxErr.toExponential(2)} (tol ${tol.toExponential(1)})` };
      },
    });
  }
  return cases;
}

export function formatCqGpuResults(results: readonly CqGpuResult[]): string {
  return ['| case | result | detail |', '| --- | --- | --- |',
    ...results.map((r) => `| ${r.name} | ${r.pass ? 'pass' : 'FAIL'} | ${r.detail} |`)].join('\n');
}
