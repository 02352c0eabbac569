/**
 * The long fuzz run of the saved-cache reader: `npm run fuzz [-- --inputs N --seed S]` (default
 * 1,000,000 inputs). Same mutations as the CI test (tests/serialize/fuzz-harness.ts); prints
 * progress every 50,000 inputs and the final counts as JSON. Exit code 1 when any input ended
 * in an exception other than KvpackError or took longer than 2 s twice in a row (a hang; once
 * is counted as `slow`: a shared machine's pauses).
 */
import { makeRng } from '../tests/helpers/data.js';
import { mutate, newCounts, runOne, seedFiles } from '../tests/serialize/fuzz-harness.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const inputs = arg('inputs', 1_000_000), seed = arg('seed', 1);
const seeds = seedFiles();
const rng = makeRng(seed);
const counts = newCounts();
const t0 = performance.now();
let heapMax = 0;
for (let i = 0; i < inputs; i++) {
  const { bytes, kind } = mutate(seeds, rng);
  await runOne(bytes, kind, counts, i % 50 === 0);
  if ((i + 1) % 50_000 === 0) {
    heapMax = Math.max(heapMax, process.memoryUsage().rss);
    console.log(`${i + 1} inputs, ${((performance.now() - t0) / 1000).toFixed(0)} s: restored ${counts.restored}, ` +
      `KvpackError ${JSON.stringify(counts.kvpackErrors)}, other ${counts.otherErrors}, slow ${counts.slow} (hangs ${counts.hangs}), max ${counts.maxMs.toFixed(0)} ms, rss ${(heapMax / 2 ** 20).toFixed(0)} MiB`);
  }
}
console.log(JSON.stringify({ seed, seconds: (performance.now() - t0) / 1000, maxRssMiB: heapMax / 2 ** 20, ...counts }, null, 1));
process.exit(counts.otherErrors === 0 && counts.hangs === 0 ? 0 : 1);
