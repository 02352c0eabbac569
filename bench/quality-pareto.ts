/**
 * One perplexity-vs-bits plot (Pareto front in red) from several `kvpack eval` / quality-selfcal
 * JSON files of one context length, with bits counted WITHOUT calibration parameters (codebooks):
 * the per-model constants that bench/quality-codebooks.ts amortizes separately. The title says so.
 *
 *   npx esbuild bench/quality-pareto.ts --bundle --platform=node --format=esm --outfile=build/bench/quality-pareto.mjs
 *   node build/bench/quality-pareto.mjs out.svg a.json b.json ...
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { paretoSvg, type ParetoPoint } from '../ts/model/pareto-svg.js';

const [out, ...files] = process.argv.slice(2);
if (!out || files.length === 0) throw new Error('usage: quality-pareto.mjs out.svg eval.json [more.json]');
const seen = new Map<string, ParetoPoint>();
let ctx = 0, base = 0, predictions = 0;
for (const f of files) {
  const doc = JSON.parse(readFileSync(f, 'utf8')) as {
    ctx: number; results: { label: string; perplexity: number; predicted: number; cache: { bitsWithoutParams: number } }[];
  };
  if (ctx && doc.ctx !== ctx) throw new Error(`${f}: ctx ${doc.ctx}, others ${ctx}: one context per plot`);
  ctx = doc.ctx;
  for (const r of doc.results) {
    if (r.label === 'fp32') { base = r.perplexity; predictions = r.predicted; }
    if (!seen.has(r.label)) seen.set(r.label, { label: r.label, bits: r.cache.bitsWithoutParams, perplexity: r.perplexity });
  }
}
writeFileSync(out, paretoSvg([...seen.values()],
  `stories260K, ctx ${ctx} (${predictions} tokens), CQ calibrated on 50K self-generated tokens: perplexity vs bits w/o codebooks`, base || undefined));
console.log(`wrote ${out}: ${seen.size} rows`);
