import { describe, expect, it } from 'vitest';
import { checkFinite, KvpackError } from '../../ts/errors.js';

// checkFinite's fast pass (sums of v - v) must catch every non-finite value in every position,
// for typed arrays and plain arrays, and name the first one.
describe('checkFinite', () => {
  for (const n of [1, 3, 4, 5, 8, 1001]) {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      it(`length ${n}, ${bad} at every position (Float32Array and number[])`, () => {
        for (let pos = 0; pos < n; pos += Math.max(1, Math.floor(n / 7))) {
          for (const make of [(a: number[]) => Float32Array.from(a), (a: number[]) => a]) {
            const x = Array.from({ length: n }, (_, i) => (i % 5) - 2.5 + 1e30 * (i % 2));
            x[pos] = bad;
            if (pos + 2 < n) x[pos + 2] = bad; // a later one too: the first is named
            let err: unknown;
            try { checkFinite(make(x), 'x'); } catch (e) { err = e; }
            expect(err).toBeInstanceOf(KvpackError);
            expect(err).toMatchObject({ code: 'NON_FINITE', arg: 'x' });
            expect((err as Error).message).toContain(`element ${pos} `);
          }
        }
      });
    }
  }
  it('accepts finite values, extremes and empty arrays', () => {
    expect(() => checkFinite(new Float32Array([3.4e38, -3.4e38, 1e-45, -0, 0]), 'x')).not.toThrow();
    expect(() => checkFinite([Number.MAX_VALUE, -Number.MAX_VALUE], 'x')).not.toThrow();
    expect(() => checkFinite(new Float32Array(0), 'x')).not.toThrow();
  });
});
