/**
 * SKVQ on WebGPU (Dawn in Node; no adapter FAILS unless KVPACK_ALLOW_NO_GPU=1, then it says so):
 * 1. quantize-on-append: GpuKvCache.append seals tiles with wgsl/skvq/encode.wgsl; the pages
 *    read back equal the TS reference's (PackedKvCache.append) word for word;
 * 2. attention: WebGpuBackend (model-order decode through the slot table) vs attendReference.
 * Shapes: head_dim 8/24/64/128, GQA, random permutations with variable groups, clip < 1,
 * window/sinks, contexts crossing tiles.
 */
import { afterAll, describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { PackedKvCache, type CacheOptions } from '../../ts/cache/kv-cache.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { attendReference } from '../../ts/reference/attention.js';
import { getGpuDevice, GpuKvCache, WebGpuBackend, type GpuContext } from '../../ts/backends/webgpu/index.js';
import { plainSkvqCalibration, type SkvqBits, type SkvqCalibration } from '../../ts/codecs/skvq/index.js';
import { heavyTailedKv, makeRng, outlierKeys, randomQuery } from '../helpers/data.js';

/**
 * max |gpu - ref| <= ATTN_TOL * max |V|: both decode the same codes and f16 metadata; the GPU may
 * fuse code*scale+zero into an FMA, sums in another order and uses its own exp (a few ulp);
 * observed <= 1e-7 on llvmpipe; a wrong code or group is off by ~1e-2 or more.
 */
const ATTN_TOL = 1e-5;
const ran: string[] = [];
afterAll(() => console.log(`webgpu skvq conformance:\n${ran.join('\n')}`));

let gpu: GpuContext | undefined;
let unavailable: string | undefined;
try {
  gpu = await getGpuDevice();
} catch (e) {
  unavailable = (e as Error).message;
}
const allowNoGpu = process.env.KVPACK_ALLOW_NO_GPU === '1';
if (unavailable && allowNoGpu) console.warn(`webgpu: unavailable (${unavailable}); SKVQ WebGPU conformance NOT RUN`);

function randomCalibration(kind: 'key' | 'value', nKv: number, d: number, bits: SkvqBits, seed: number, clip: number): SkvqCalibration {
  const cal = plainSkvqCalibration(kind, nKv, d, bits);
  const rng = makeRng(seed);
  cal.clip = clip;
  cal.heads = cal.heads.map(() => {
    const perm = Array.from({ length: d }, (_, c) => c);
    for (let i = d - 1; i > 0; i--) { const j = rng.int(i + 1); [perm[i], perm[j]] = [perm[j]!, perm[i]!]; }
    const cuts = new Set<number>();
    while (cuts.size < cal.clusters - 1) cuts.add(1 + rng.int(d - 1));
    return { perm, groupStart: [0, ...[...cuts].sort((a, b) => a - b), d] };
  });
  return cal;
}

const bitsOf = (name: string): SkvqBits => (name.endsWith('1.5') ? 1.5 : name.endsWith('4') ? 4 : 2);

const cases: [string, string, number, number, number, number, number, number][] = [
  // key, value, d, nKv, group, window, sinks, tokens
  ['skvq-k2', 'skvq-v1.5', 8, 4, 2, 0, 0, 100],
  ['skvq-k4', 'skvq-v2', 64, 2, 4, 32, 5, 140],
  ['skvq-k2', 'skvq-v2', 128, 2, 8, 0, 4, 70],
  ['skvq-k4', 'skvq-v1.5', 24, 1, 1, 32, 0, 97],
  ['skvq-k2', 'skvq-v1.5', 8, 4, 2, 128, 5, 2300], // > 64 tiles: crosses a page
];

describe.skipIf(unavailable !== undefined && allowNoGpu)('SKVQ WebGPU (Dawn)', () => {
  it('has an adapter', () => {
    expect(unavailable, 'no WebGPU adapter (set KVPACK_ALLOW_NO_GPU=1 to allow)').toBeUndefined();
  });

  for (const [key, value, d, nKv, group, window, sinks, n] of cases) {
    const name = `${key}/${value} d=${d} nKv=${nKv} group=${group} window=${window} sinks=${sinks} n=${n}`;
    const opts = (): CacheOptions => ({
      nKvHeads: nKv, headDim: d, key, value, window, sinks,
      calibration: { key: randomCalibration('key', nKv, d, bitsOf(key), d, 0.9), value: randomCalibration('value', nKv, d, bitsOf(value), d + 1, 0.75) },
    });
    const K = outlierKeys(n, nKv, d, n), V = heavyTailedKv(n, nKv, d, n + 1);

    it(`encode on append: ${name}`, async () => {
      const host = new PackedKvCache(opts());
      host.append(0, K, V);
      const gc = new GpuKvCache(gpu!, new PackedKvCache(opts()));
      try {
        await gc.append(0, K, V);
        const tiles = host.view(0).tiles;
        expect(tiles).toBeGreaterThan(0);
        for (let pg = 0; pg < host.view(0).pages.length; pg++) {
          const page = await gc.readPage(0, pg);
          const used = Math.min(64, tiles - 64 * pg) * host.tileSlotWords;
          expect(Array.from(page.subarray(0, used)), `page ${pg}`).toEqual(Array.from(host.view(0).pages[pg]!.subarray(0, used)));
        }
        ran.push(`encode ${name}: ${tiles} tiles x ${nKv} heads identical`);
      } finally {
        gc.destroy();
      }
    });

    it(`attention: ${name}`, async () => {
      const cache = new PackedKvCache(opts());
      cache.append(0, K, V);
      cache.append(1, K.subarray(0, (n - 40) * nKv * d), V.subarray(0, (n - 40) * nKv * d));
      const nHeads = nKv * group;
      const q = new Float32Array(2 * nHeads * d);
      q.set(randomQuery(nHeads, d, 1, 0.2), 0);
      q.set(randomQuery(nHeads, d, 2, 0.2), nHeads * d);
      const backend = new WebGpuBackend(gpu!);
      try {
        const got = await backend.attend(cache, [0, 1], q, nHeads);
        let vmax = 0;
        for (const v of V) vmax = Math.max(vmax, Math.abs(v));
        let worst = 0;
        for (const [i, seq] of [0, 1].entries()) {
          const ref = attendReference(cache, seq, q.subarray(i * nHeads * d, (i + 1) * nHeads * d), nHeads);
          for (let k = 0; k < ref.length; k++) worst = Math.max(worst, Math.abs(got[i * nHeads * d + k]! - ref[k]!) / vmax);
        }
        expect(worst).toBeLessThanOrEqual(ATTN_TOL);
        ran.push(`attend ${name}: max err/max|V| ${worst.toExponential(1)} (${TILE_TOKENS}-token tiles: ${cache.view(0).tiles})`);
      } finally {
        backend.dispose();
      }
    });
  }
});
