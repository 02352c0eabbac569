/** Seeded fuzz of the saved-cache reader, bounded for CI (tests/serialize/fuzz-harness.ts; long run: npm run fuzz). */
import { describe, expect, it } from 'vitest';
import { makeRng } from '../helpers/data.js';
import { mutate, newCounts, runOne, seedFiles } from './fuzz-harness.js';

const INPUTS = Number(process.env.KVPACK_FUZZ_INPUTS ?? 8000);

describe('saved-cache reader fuzz', () => {
  it(`${INPUTS} mutated inputs: each restores and works, or fails with a KvpackError; none hangs (over 2 s twice in a row)`, async () => {
    const seeds = seedFiles();
    const rng = makeRng(20261207);
    const counts = newCounts();
    for (let i = 0; i < INPUTS; i++) {
      const { bytes, kind } = mutate(seeds, rng);
      await runOne(bytes, kind, counts, i % 50 === 0);
    }
    console.log(`fuzz: ${JSON.stringify(counts)}`);
    expect(counts.otherExamples).toEqual([]);
    expect(counts.otherErrors).toBe(0);
    expect(counts.hangs, counts.slowExamples.join('\n')).toBe(0);
    // the mutations reach past the checksums: content checks reject some inputs with valid CRCs
    expect(counts.kvpackErrors.CORRUPT_DATA).toBeGreaterThan(INPUTS / 4);
    expect(counts.kvpackErrors.UNKNOWN_CODEC ?? 0).toBeGreaterThan(0);
    expect(counts.kvpackErrors.UNSUPPORTED_VERSION ?? 0).toBeGreaterThan(0);
  }, 120_000);
});
