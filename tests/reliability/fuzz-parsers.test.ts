/**
 * Seeded fuzz of every parser of bytes or untrusted objects, bounded for CI
 * (tests/reliability/fuzz-parsers.ts; the saved-cache reader's own CI fuzz is
 * tests/serialize/fuzz.test.ts; long runs: npm run fuzz -- --parser NAME).
 */
import { describe, expect, it } from 'vitest';
import { makeFuzzer, newCounts, PARSERS } from './fuzz-parsers.js';

const INPUTS = Number(process.env.KVPACK_FUZZ_INPUTS ?? 3000);

describe('parser fuzz: only KvpackErrors, no hang', () => {
  for (const parser of PARSERS.filter((p) => p !== 'kvpk')) {
    it(`${parser}: ${INPUTS} mutated inputs`, async () => {
      const fuzzer = makeFuzzer(parser, 20261207);
      const counts = newCounts();
      for (let i = 0; i < INPUTS; i++) await fuzzer.step(i, counts);
      console.log(`fuzz ${parser}: ok ${counts.restored}, ${JSON.stringify(counts.kvpackErrors)}, other ${counts.otherErrors}, max ${counts.maxMs.toFixed(0)} ms`);
      expect(counts.otherExamples).toEqual([]);
      expect(counts.hangs, counts.slowExamples.join('\n')).toBe(0);
      // the mutations reach both outcomes: some inputs parse and work, most are rejected
      expect(counts.restored).toBeGreaterThan(0);
      expect(Object.values(counts.kvpackErrors).reduce((a, b) => a + b, 0)).toBeGreaterThan(INPUTS / 2);
    }, 60_000);
  }
});
