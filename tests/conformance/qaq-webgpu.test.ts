/**
 * QAQ on WebGPU (Dawn in Node; CI: OpenGL over Mesa llvmpipe): GPU-encoded records === TS words,
 * fused GPU attention partials vs the TS oracle, and a QaqKvCache driven by the GPU kernel.
 * Without an adapter this file FAILS, unless KVPACK_ALLOW_NO_GPU=1 (as tests/conformance/webgpu.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QaqKvCache } from '../../ts/codecs/qaq/cache.js';
import { QaqGpu } from '../../ts/codecs/qaq/webgpu.js';
import { gaussianKv, heavyTailedKv, outlierKeys } from '../helpers/data.js';
import { relativeError } from '../helpers/metrics.js';
import { formatQaqGpuResults, QAQ_GPU_TOL, qaqGpuCases, runQaqGpuCase, type QaqGpuResult } from './qaq-webgpu-cases.js';

const allowNoGpu = process.env.KVPACK_ALLOW_NO_GPU === '1';
let gpu: QaqGpu | undefined;
let unavailable: string | undefined;

beforeAll(async () => {
  try {
    gpu = await QaqGpu.create();
  } catch (e) {
    unavailable = (e as Error).message;
  }
});

/** The GPU, or undefined when allowed to run without one (loudly). */
function device(): QaqGpu | undefined {
  if (unavailable !== undefined && allowNoGpu) {
    console.warn(`*** webgpu: unavailable (${unavailable}); KVPACK_ALLOW_NO_GPU=1, QAQ WebGPU conformance NOT run ***`);
    return undefined;
  }
  expect(unavailable, `no WebGPU adapter: ${unavailable}`).toBeUndefined();
  return gpu!;
}

const results: QaqGpuResult[] = [];
afterAll(() => {
  if (results.length) console.log(`QAQ webgpu conformance on ${gpu?.ctx.description}\n${formatQaqGpuResults(results)}`);
});

describe('QAQ WebGPU conformance (Dawn): identical encoded words, attention partials within tolerance', () => {
  for (const c of qaqGpuCases()) {
    it(c.name, async () => {
      const g = device();
      if (!g) return;
      const r = await runQaqGpuCase(g, c);
      results.push(r);
      expect(r.mismatches, r.detail).toBe(0);
      expect(r.worst).toBeLessThan(QAQ_GPU_TOL);
      expect(r.pass, r.detail).toBe(true);
    }, 120_000);
  }

  it('QaqKvCache.attend through the GPU kernel equals the TS path on the same state', async () => {
    const g = device();
    if (!g) return;
    const d = 64, kv = 2, nHeads = 4, n = 200, tf = kv * d, qf = nHeads * d;
    const cache = new QaqKvCache({ nKvHeads: kv, headDim: d, packedAttention: g.packedAttention,
      qaq: { outlierRatio: 0.02, targetKeyError: 10, targetValueError: 0.01 } });
    const K = outlierKeys(n, kv, d, 5), V = heavyTailedKv(n, kv, d, 6), Q = gaussianKv(n, nHeads, d, 7, 0.5);
    for (let t = 0; t < n; t++) cache.append(0, K.subarray(t * tf, (t + 1) * tf), V.subarray(t * tf, (t + 1) * tf));
    const q = Q.subarray(0, qf);
    const got = await cache.attend([0], q, nHeads, false);
    const ts = new QaqKvCache({ nKvHeads: kv, headDim: d, qaq: { outlierRatio: 0.02, targetKeyError: 10, targetValueError: 0.01 } });
    for (let t = 0; t < n; t++) ts.append(0, K.subarray(t * tf, (t + 1) * tf), V.subarray(t * tf, (t + 1) * tf));
    expect(relativeError(got, ts.attendSync([0], q, nHeads, false))).toBeLessThan(QAQ_GPU_TOL);
    expect(cache.view(0).tiles).toBeGreaterThan(4);
    // a synchronous attend cannot use the GPU: typed error, nothing recorded
    expect(() => cache.attendSync([0], q, nHeads)).toThrow(/asynchronous/);
    // after dispose the mirror is rebuilt from the cache's pages: same result
    g.dispose();
    expect(relativeError(await cache.attend([0], q, nHeads, false), got)).toBe(0);
  }, 120_000);
});
