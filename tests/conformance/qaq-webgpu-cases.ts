/**
 * QAQ WebGPU conformance cases, shared by the vitest run on Dawn (qaq-webgpu.test.ts) and the
 * Deno run on wgpu (tests/deno/matrix.ts). No test-framework imports: each case returns its
 * measurements and a pass flag; tolerances are written here with their reason.
 */
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { QaqKvCache } from '../../ts/codecs/qaq/cache.js';
import { packedPartialsReference, type PackedPartials } from '../../ts/codecs/qaq/attend.js';
import { encodeRecordFresh } from '../../ts/codecs/qaq/record.js';
import type { QaqGpu } from '../../ts/codecs/qaq/webgpu.js';
import { gaussianKv, heavyTailedKv, makeRng, outlierKeys } from '../helpers/data.js';
import { relativeError } from '../helpers/metrics.js';

/** f32 on the GPU (exp, summation order) vs f64 in the oracle. */
export const QAQ_GPU_TOL = 1e-4;

export type QaqGpuCase =
  | { kind: 'encode'; name: string; rowWidth: number; ratio: number }
  | { kind: 'attend'; name: string; d: number; kv: number; group: number; n: number; level: 'head' | 'layer'; ratio: number };

export interface QaqGpuResult {
  name: string;
  pass: boolean;
  /** encode: records compared / mismatching; attend: checks and the worst relative error. */
  checks: number;
  mismatches: number;
  worst: number;
  detail: string;
}

export function qaqGpuCases(): QaqGpuCase[] {
  return [
    { kind: 'encode', name: 'encode row 8 r=0.3', rowWidth: 8, ratio: 0.3 },
    { kind: 'encode', name: 'encode row 32 r=0', rowWidth: 32, ratio: 0 },
    { kind: 'encode', name: 'encode row 64 r=0.05', rowWidth: 64, ratio: 0.05 },
    { kind: 'encode', name: 'encode row 128 r=0.01', rowWidth: 128, ratio: 0.01 },
    { kind: 'attend', name: 'attend d8 kv4 g2 layer (2 splits)', d: 8, kv: 4, group: 2, n: 300, level: 'layer', ratio: 0 },
    { kind: 'attend', name: 'attend d64 kv2 g4 head r=0.02', d: 64, kv: 2, group: 4, n: 140, level: 'head', ratio: 0.02 },
    { kind: 'attend', name: 'attend d128 kv1 g12 head r=0.01', d: 128, kv: 1, group: 12, n: 100, level: 'head', ratio: 0.01 },
  ];
}

function partialsError(got: PackedPartials, ref: PackedPartials): number {
  let worst = relativeError(got.acc, ref.acc);
  for (let h = 0; h < ref.m.length; h++) {
    worst = Math.max(worst, Math.abs(got.m[h]! - ref.m[h]!) / Math.max(1, Math.abs(ref.m[h]!)),
      Math.abs(got.l[h]! - ref.l[h]!) / ref.l[h]!);
  }
  return worst;
}

export async function runQaqGpuCase(gpu: QaqGpu, c: QaqGpuCase): Promise<QaqGpuResult> {
  if (c.kind === 'encode') {
    const R = c.rowWidth, rng = makeRng(R);
    const records = [outlierKeys(TILE_TOKENS, 1, R, R), heavyTailedKv(TILE_TOKENS, 1, R, R + 1),
      Float32Array.from({ length: TILE_TOKENS * R }, () => rng.int(5) - 2)].map((rows) => ({
      rows, bits: Array.from({ length: TILE_TOKENS }, () => 1 + rng.int(8)),
    }));
    records[2]!.rows.fill(-0, 0, R); // a constant row of -0: the zero point must be +0 as in TS
    const got = await gpu.encodeRecords(records, R, c.ratio);
    let mismatches = 0, detail = '';
    records.forEach((r, i) => {
      const want = encodeRecordFresh(r.rows, R, r.bits, c.ratio).words;
      const g = got[i]!;
      const bad = g.length !== want.length ? -1 : want.findIndex((w, k) => w !== g[k]);
      if (bad !== -1) { mismatches++; detail ||= `record ${i}: first mismatch at word ${bad}`; }
    });
    return { name: c.name, pass: mismatches === 0, checks: records.length, mismatches, worst: 0, detail };
  }
  const { d, kv, group, n, level, ratio } = c;
  const nHeads = kv * group, tf = kv * d, qf = nHeads * d;
  const qaq = { level, outlierRatio: ratio, bitsMin: 2, targetKeyError: 10, targetValueError: 0.01 };
  // one cache; the allocation history is recorded through the TS path on every step so that
  // the GPU is only asked every 16th step (round trips are slow on a software adapter)
  const cache = new QaqKvCache({ nKvHeads: kv, headDim: d, qaq });
  const K = outlierKeys(n, kv, d, d), V = heavyTailedKv(n, kv, d, d + 1), Q = gaussianKv(n, nHeads, d, 3, 0.5);
  let checks = 0, worst = 0;
  for (let t = 0; t < n; t++) {
    cache.append(0, K.subarray(t * tf, (t + 1) * tf), V.subarray(t * tf, (t + 1) * tf));
    const q = Q.subarray(t * qf, (t + 1) * qf);
    cache.attendSync([0], q, nHeads);
    if (t % 16 === 15 && cache.view(0).tiles > 0) {
      const v = cache.view(0);
      worst = Math.max(worst, partialsError(await gpu.partials(v, q, nHeads), packedPartialsReference(v, q, nHeads)));
      checks++;
    }
  }
  const tiles = cache.view(0).tiles;
  const pass = worst < QAQ_GPU_TOL && checks > 0 && tiles >= 2;
  return { name: c.name, pass, checks, mismatches: 0, worst, detail: `${tiles} tiles` };
}

export function formatQaqGpuResults(results: readonly QaqGpuResult[]): string {
  const lines = ['| case | pass | checks | mismatches | worst rel. error | detail |', '| --- | --- | --- | --- | --- | --- |'];
  for (const r of results) lines.push(`| ${r.name} | ${r.pass ? 'yes' : 'NO'} | ${r.checks} | ${r.mismatches} | ${r.worst.toExponential(2)} | ${r.detail} |`);
  return lines.join('\n');
}
