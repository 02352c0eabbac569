import { describe, expect, it } from 'vitest';
import { kmeans } from '../../ts/codecs/cq/kmeans.js';
import { KvpackError } from '../../ts/errors.js';
import { makeRng } from '../helpers/data.js';

function err(f: () => unknown): KvpackError {
  try { f(); } catch (e) { return e as KvpackError; }
  throw new Error('did not throw');
}

/** n points around each of `centres` (dim 2), spread `sd`. */
function blobs(centres: number[][], perBlob: number, sd: number, seed: number): Float64Array {
  const rng = makeRng(seed);
  const out = new Float64Array(centres.length * perBlob * 2);
  let o = 0;
  for (let i = 0; i < perBlob; i++) {
    for (const c of centres) { out[o++] = c[0]! + sd * rng.gaussian(); out[o++] = c[1]! + sd * rng.gaussian(); }
  }
  return out;
}

describe('k-means (TS reference)', () => {
  const centres = [[0, 0], [10, 0], [0, 10], [10, 10]];
  const x = blobs(centres, 50, 0.3, 1);

  it('finds well-separated clusters, deterministically by seed', () => {
    const a = kmeans(x, 200, 2, 4, { seed: 7 });
    const b = kmeans(x, 200, 2, 4, { seed: 7 });
    expect(Array.from(a.centroids)).toEqual(Array.from(b.centroids));
    for (const c of centres) {
      // every true centre has a learned centroid within 0.2 (sd 0.3, 50 points: the mean is within ~0.1)
      let best = Infinity;
      for (let k = 0; k < 4; k++) best = Math.min(best, Math.hypot(a.centroids[2 * k]! - c[0]!, a.centroids[2 * k + 1]! - c[1]!));
      expect(best).toBeLessThan(0.2);
    }
    expect(a.inertia).toBeLessThan(200 * 2 * 0.3 * 0.3 * 1.5);
  });

  it('different seeds can seed differently, both converge', () => {
    const y = blobs([[0, 0], [3, 0], [0, 3]], 40, 1.2, 2); // overlapping: seeds matter
    const a = kmeans(y, 120, 2, 5, { seed: 1 });
    const b = kmeans(y, 120, 2, 5, { seed: 2 });
    expect(Array.from(a.centroids)).not.toEqual(Array.from(b.centroids));
  });

  it('weights pull centroids (Fisher-guided): a heavy sample becomes its own centroid', () => {
    // 1-D: 100 points at 0..1 and one outlier at 5; k = 2. With zero weight the outlier can
    // neither be drawn as a seed nor move a mean, so both centroids stay inside [0, 1).
    const n = 101, y = new Float64Array(n);
    for (let i = 0; i < 100; i++) y[i] = i / 100;
    y[100] = 5;
    const w = new Float64Array(n).fill(1);
    w[100] = 0;
    const zero = kmeans(y, n, 1, 2, { seed: 3, weights: w });
    expect(Math.max(zero.centroids[0]!, zero.centroids[1]!)).toBeLessThan(1);
    // weighted mean: one cluster {0.9, 0.91} where 0.91 has weight 9 -> centroid 0.909
    const z = new Float64Array([0, 0.01, 0.9, 0.91]);
    const r = kmeans(z, 4, 1, 2, { seed: 0, weights: [1, 1, 1, 9] });
    expect(Math.max(r.centroids[0]!, r.centroids[1]!)).toBeCloseTo((0.9 + 9 * 0.91) / 10, 12);
  });

  it('duplicates: fewer distinct points than centroids still returns k centroids, no NaN', () => {
    const y = new Float64Array([1, 1, 1, 2, 2, 2]);
    const r = kmeans(y, 6, 1, 4, { seed: 5 });
    expect(r.centroids.every((v) => v === 1 || v === 2)).toBe(true);
  });

  it('reports progress per iteration', () => {
    const seen: number[] = [];
    kmeans(x, 200, 2, 4, { seed: 7, maxIterations: 3, onProgress: (it) => seen.push(it) });
    expect(seen[0]).toBe(0);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.length).toBeLessThanOrEqual(4);
  });

  it('rejects bad input with typed errors', () => {
    expect(err(() => kmeans(new Float64Array(6), 3, 2, 4))).toMatchObject({ code: 'BAD_CALIBRATION', arg: 'samples' });
    const bad = new Float64Array(x); bad[17] = NaN;
    expect(err(() => kmeans(bad, 200, 2, 4))).toMatchObject({ code: 'NON_FINITE', arg: 'samples' });
    expect(err(() => kmeans(x, 201, 2, 4))).toMatchObject({ code: 'BAD_SHAPE', arg: 'samples' });
    expect(err(() => kmeans(x, 200, 2, 4, { weights: [1, 2] }))).toMatchObject({ code: 'BAD_SHAPE', arg: 'weights' });
    expect(err(() => kmeans(x, 200, 2, 4, { weights: new Float64Array(200).fill(-1) }))).toMatchObject({ code: 'BAD_PARAM', arg: 'weights' });
    expect(err(() => kmeans(x, 200, 2, 4, { seed: -1 }))).toMatchObject({ code: 'BAD_PARAM', arg: 'seed' });
  });
});
