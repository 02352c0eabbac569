/**
 * SKVQ WebGPU conformance cases, shared by vitest on Dawn (tests/conformance/skvq-webgpu.test.ts)
 * and Deno on wgpu (tests/deno/matrix.ts). No test-framework imports here.
 * - encode: GpuKvCache.append seals tiles with wgsl/skvq/encode.wgsl; every page read back equals
 *   the TS reference's (PackedKvCache.append) word for word;
 * - attend: WebGpuBackend (model-order decode through the slot table) vs attendReference, two
 *   sequences.
 * Shapes: SKVQ's own group layouts (random permutations, one channel per group, clip < 1), a
 * context crossing a page (> 64 tiles), and at head_dim 64/128 group boundaries chosen for the
 * folded kernels (wgsl/skvq/fold.wgsl) and one that falls back. Calibrated SKVQ on the shared
 * shapes is the conformance matrix's (ts/conformance/matrix.ts).
 * Tolerance, max |gpu - ref| <= ATTN_TOL * max |V|: both decode the same codes and f16 metadata;
 * the GPU may fuse code*scale+zero into an FMA, sums in another order and uses its own exp;
 * observed <= 1e-7 on llvmpipe; a wrong code or group is off by ~1e-2 or more.
 */
import '../../ts/codecs/index.js';
import { PackedKvCache, type CacheOptions } from '../../ts/cache/kv-cache.js';
import { TILES_PER_PAGE } from '../../ts/format/constants.js';
import { attendReference } from '../../ts/reference/attention.js';
import { GpuKvCache } from '../../ts/backends/webgpu/gpu-cache.js';
import { WebGpuBackend } from '../../ts/backends/webgpu/backend.js';
import type { GpuContext } from '../../ts/backends/webgpu/device.js';
import type { SkvqBits, SkvqCalibration } from '../../ts/codecs/skvq/index.js';
import { skvqFoldSpan } from '../../ts/codecs/skvq/webgpu.js';
import { heavyTailedKv, outlierKeys, randomQuery } from '../helpers/data.js';
import { randomSkvqCalibration } from '../helpers/skvq-calibration.js';

export const ATTN_TOL = 1e-5;

export interface SkvqGpuResult { name: string; pass: boolean; detail: string }
export interface SkvqGpuCase { name: string; run(gpu: GpuContext): Promise<SkvqGpuResult> }


const bitsOf = (name: string): SkvqBits => (name.endsWith('1.5') ? 1.5 : name.endsWith('4') ? 4 : 2);

// clusters: default from the geometry, or cuts.length + 1 where the group boundaries are given
interface CaseShape { key: string; value: string; d: number; nKv: number; group: number; window: number; sinks: number; n: number; clusters?: number; groupSize?: number; cuts?: number[]; span?: number }

const SHAPES: [string, string, number, number, number, number, number, number, number?][] = [
  // key, value, d, nKv, group, window, sinks, tokens, clusters (default from the geometry)
  // (default groups on the shared shapes: the conformance matrix, ts/conformance/matrix.ts)
  ['skvq-k2', 'skvq-v1.5', 64, 2, 2, 0, 0, 70, 64], // one channel per group, m = 32
  ['skvq-k2', 'skvq-v1.5', 8, 4, 2, 128, 5, 2300], // > 64 tiles: crosses a page
];

/**
 * Shapes for the folded kernels (wgsl/skvq/fold.wgsl, head_dim 64/128): the group
 * boundaries (`cuts`, the same for every head; the permutation stays random) set how many groups
 * an 8-position chunk meets (`span`, checked against skvqFoldSpan): 1 to 4 runs folded, 5 falls
 * back to tiles.wgsl.
 */
const FOLD_SHAPES: CaseShape[] = [
  { key: 'skvq-k2', value: 'skvq-v1.5', d: 128, nKv: 2, group: 1, window: 0, sinks: 0, n: 100, cuts: [13, 64, 100], span: 2 },
  { key: 'skvq-k2', value: 'skvq-v1.5', d: 128, nKv: 2, group: 4, window: 32, sinks: 5, n: 140, cuts: [16, 40, 96], span: 1 },
  { key: 'skvq-k4', value: 'skvq-v2', d: 64, nKv: 1, group: 3, window: 0, sinks: 0, n: 97, groupSize: 128, cuts: [30], span: 2 }, // m = 4
  { key: 'skvq-k2', value: 'skvq-v1.5', d: 64, nKv: 2, group: 2, window: 0, sinks: 2, n: 90, cuts: [5, 11], span: 2 },
  { key: 'skvq-k2', value: 'skvq-v2', d: 128, nKv: 1, group: 2, window: 0, sinks: 0, n: 2200, groupSize: 128, cuts: [61], span: 2 }, // m = 2, 2 pages
  { key: 'skvq-k4', value: 'skvq-v1.5', d: 128, nKv: 1, group: 2, window: 0, sinks: 0, n: 70, cuts: [9, 12, 70], span: 3 },
  // outlier channels in small groups at the end of the order, as calibration makes them (span 4)
  { key: 'skvq-k2', value: 'skvq-v1.5', d: 128, nKv: 2, group: 4, window: 0, sinks: 0, n: 100, cuts: [121, 123, 126], span: 4 },
  // one head per workgroup (per-slot dot products instead of per-position selects), spans 1, 3, 4
  { key: 'skvq-k2', value: 'skvq-v2', d: 64, nKv: 2, group: 1, window: 0, sinks: 0, n: 80, cuts: [16, 40], span: 1 },
  { key: 'skvq-k4', value: 'skvq-v1.5', d: 64, nKv: 1, group: 1, window: 8, sinks: 1, n: 90, cuts: [9, 12, 40], span: 3 },
  { key: 'skvq-k2', value: 'skvq-v1.5', d: 128, nKv: 1, group: 1, window: 0, sinks: 0, n: 100, cuts: [121, 123, 126], span: 4 },
  { key: 'skvq-k2', value: 'skvq-v2', d: 64, nKv: 1, group: 1, window: 0, sinks: 0, n: 70, cuts: [17, 18, 19, 20], span: 5 }, // tiles.wgsl
];

export function skvqGpuCases(): SkvqGpuCase[] {
  const shapes: CaseShape[] = [
    ...SHAPES.map(([key, value, d, nKv, group, window, sinks, n, clusters]) => ({ key, value, d, nKv, group, window, sinks, n, ...(clusters ? { clusters } : {}) })),
    ...FOLD_SHAPES,
  ];
  const cases: SkvqGpuCase[] = [];
  for (const sh of shapes) {
    const { key, value, d, nKv, group, window, sinks, n, groupSize = 32, cuts } = sh;
    const C = cuts ? cuts.length + 1 : sh.clusters;
    const name = `${key}/${value} d=${d} nKv=${nKv}x${group} w=${window} s=${sinks} n=${n}${C ? ` C=${C}` : ''}${groupSize !== 32 ? ` g=${groupSize}` : ''}${cuts ? ` cuts=${cuts.join(',')}` : ''}`;
    const calibration = (kind: 'key' | 'value', bits: SkvqBits, seed: number, clip: number): SkvqCalibration => {
      const cal = randomSkvqCalibration(kind, nKv, d, bits, seed, clip, groupSize, C);
      if (cuts) cal.heads = cal.heads.map((h) => ({ perm: h.perm, groupStart: [0, ...cuts, d] }));
      return cal;
    };
    const opts = (): CacheOptions => ({
      nKvHeads: nKv, headDim: d, key, value, window, sinks,
      calibration: { key: calibration('key', bitsOf(key), d, 0.9), value: calibration('value', bitsOf(value), d + 1, 0.75) },
    });
    const K = outlierKeys(n, nKv, d, n), V = heavyTailedKv(n, nKv, d, n + 1);

    cases.push({
      name: `encode ${name}`,
      async run(gpu) {
        const host = new PackedKvCache(opts());
        host.append(0, K, V);
        const gc = new GpuKvCache(gpu, new PackedKvCache(opts()));
        try {
          await gc.append(0, K, V);
          const view = host.view(0);
          let bad = 0;
          for (let pg = 0; pg < view.pages.length; pg++) {
            const page = await gc.readPage(0, pg);
            const used = Math.min(TILES_PER_PAGE, view.tiles - TILES_PER_PAGE * pg) * host.tileSlotWords;
            for (let i = 0; i < used; i++) if (page[i] !== view.pages[pg]![i]) bad++;
          }
          return { name: `encode ${name}`, pass: bad === 0 && view.tiles > 0, detail: `${view.tiles} tiles x ${nKv} heads, ${bad} words differ` };
        } finally {
          gc.destroy();
        }
      },
    });

    cases.push({
      name: `attend ${name}`,
      async run(gpu) {
        const cache = new PackedKvCache(opts());
        cache.append(0, K, V);
        cache.append(1, K.subarray(0, (n - 40) * nKv * d), V.subarray(0, (n - 40) * nKv * d));
        const nHeads = nKv * group;
        const q = new Float32Array(2 * nHeads * d);
        q.set(randomQuery(nHeads, d, 1, 0.2), 0);
        q.set(randomQuery(nHeads, d, 2, 0.2), nHeads * d);
        const backend = new WebGpuBackend(gpu);
        try {
          const got = await backend.attend(cache, [0, 1], q, nHeads);
          let vmax = 0;
          for (const v of V) vmax = Math.max(vmax, Math.abs(v));
          let worst = 0;
          for (const [i, seq] of [0, 1].entries()) {
            const ref = attendReference(cache, seq, q.subarray(i * nHeads * d, (i + 1) * nHeads * d), nHeads);
            for (let k = 0; k < ref.length; k++) worst = Math.max(worst, Math.abs(got[i * nHeads * d + k]! - ref[k]!) / vmax);
          }
          // the folded shapes: the chunks meet as many groups as intended (so the kernel is the one meant)
          const span = skvqFoldSpan(cache.key, cache.value, d);
          const spanOk = sh.span === undefined || span === sh.span;
          return { name: `attend ${name}`, pass: worst <= ATTN_TOL && spanOk,
            detail: `max err/max|V| ${worst.toExponential(1)} (tol ${ATTN_TOL}), chunk span ${span}${spanOk ? '' : ` != ${sh.span}`}` };
        } finally {
          backend.dispose();
        }
      },
    });
  }
  return cases;
}

export function formatSkvqGpuResults(results: readonly SkvqGpuResult[]): string {
  const w = Math.max(4, ...results.map((r) => r.name.length));
  return [`${'case'.padEnd(w)} | pass | detail`, ...results.map((r) => `${r.name.padEnd(w)} | ${r.pass ? 'yes ' : 'NO  '} | ${r.detail}`)].join('\n');
}
