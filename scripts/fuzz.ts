/**
 * The long fuzz run of kvpack's parsers (tests/reliability/fuzz-parsers.ts lists them):
 *   npm run fuzz -- [--parser kvpk|inspect|kvcap|checkpoint|tokenizer|values|calibration]
 *                   [--inputs N] [--seed S]
 * (defaults: kvpk, 1,000,000 inputs, seed 1; `--parser all` runs each parser in turn). Prints
 * progress every 50,000 inputs and the final counts as JSON: inputs that parsed and worked
 * (`restored`), KvpackErrors by code, other exceptions (must be 0), inputs slower than 2 s once
 * (`slow`) and twice in a row (`hangs`, must be 0), the slowest input and the peak RSS. Exit
 * code 1 when any input ended in another exception or hung.
 */
import { makeFuzzer, newCounts, PARSERS, type ParserName } from '../tests/reliability/fuzz-parsers.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
};
const inputs = Number(arg('inputs', '1000000')), seed = Number(arg('seed', '1')), which = arg('parser', 'kvpk');
const list = which === 'all' ? [...PARSERS] : [which as ParserName];
for (const p of list) {
  if (!PARSERS.includes(p)) {
    console.error(`unknown --parser ${p}; one of ${PARSERS.join(', ')}, all`);
    process.exit(2);
  }
}
let failed = false;
for (const parser of list) {
  const fuzzer = makeFuzzer(parser, seed);
  const counts = newCounts();
  const t0 = performance.now();
  let rssMax = process.memoryUsage().rss;
  for (let i = 0; i < inputs; i++) {
    await fuzzer.step(i, counts);
    if ((i + 1) % 5_000 === 0) rssMax = Math.max(rssMax, process.memoryUsage().rss);
    if ((i + 1) % 50_000 === 0) {
      console.log(`${parser} seed ${seed}: ${i + 1} inputs, ${((performance.now() - t0) / 1000).toFixed(0)} s: ok ${counts.restored}, ` +
        `KvpackError ${JSON.stringify(counts.kvpackErrors)}, other ${counts.otherErrors}, slow ${counts.slow} (hangs ${counts.hangs}), ` +
        `max ${counts.maxMs.toFixed(0)} ms, rss ${(rssMax / 2 ** 20).toFixed(0)} MiB`);
    }
  }
  rssMax = Math.max(rssMax, process.memoryUsage().rss);
  const { byKind, ...rest } = counts;
  console.log(JSON.stringify({ parser, seed, seconds: +((performance.now() - t0) / 1000).toFixed(1), maxRssMiB: +(rssMax / 2 ** 20).toFixed(0), ...rest, byKind }));
  if (counts.otherErrors !== 0 || counts.hangs !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
