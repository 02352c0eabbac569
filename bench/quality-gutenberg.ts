/**
 * The realistic-model study (issue #20): reads `kvpack eval` JSON files (one per context length,
 * run by bench/quality-gutenberg.sh), prints one markdown table per context with calibration
 * parameters (CQ codebooks, SKVQ permutations) charged three ways, and writes one Pareto SVG per
 * context with the parameters amortized over N sequences.
 *
 *   npx esbuild bench/quality-gutenberg.ts --bundle --platform=node --format=esm --outfile=build/bench/quality-gutenberg.mjs
 *   node build/bench/quality-gutenberg.mjs --amortize 16 bench/results/quality-gutenberg-ctx*.json
 *
 * Bits: `bits w/o params` counts packed tiles with their metadata and fp16 for the fp regions
 * (sinks, windows, the unsealed tail), as the papers count; `N=1` charges the parameters in full
 * to one window of ctx tokens (the conservative single-sequence figure); `N=n` spreads them over
 * n sequences of ctx tokens held at once (or one context n times as long).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { paretoSvg } from '../ts/model/pareto-svg.js';

interface Row {
  label: string; perplexity: number; nll: number; predicted: number; mode?: string; windows?: number;
  /** Merged job files (quality-gutenberg-job.ts merge): delta against fp32 on the same windows. */
  deltaVsFp32Percent?: number;
  cache: { bitsWithoutParams: number; effectiveBits: number; paramBytes: number; elements: number };
}
interface Doc { ctx: number; windows: number; results: Row[]; machine?: unknown; calibration?: { tokens?: number } }

const args = process.argv.slice(2);
let amortize = 16;
const files: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--amortize') amortize = Number(args[++i]);
  else files.push(args[i]!);
}
if (!files.length || !(amortize >= 1)) throw new Error('usage: quality-gutenberg.mjs [--amortize N] eval.json...');

const bitsOver = (r: Row, n: number): number => r.cache.bitsWithoutParams + (r.cache.paramBytes * 8) / (n * r.cache.elements);
for (const f of files) {
  const doc = JSON.parse(readFileSync(f, 'utf8')) as Doc;
  const base = doc.results.find((r) => r.label === 'fp32');
  if (!base) throw new Error(`${f}: no fp32 row`);
  const lines = [
    `### ctx ${doc.ctx}: up to ${doc.windows} window(s), ${base.predicted} tokens scored by fp32 (${f})`, '',
    `| config (K:V@window@sinks@group) | tokens scored | bits w/o params | bits, params N=1 | bits, params N=${amortize} | perplexity | delta vs fp32 (same windows) |`,
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  const rows = [...doc.results].sort((a, b) => bitsOver(a, amortize) - bitsOver(b, amortize));
  for (const r of rows) {
    const d = r.deltaVsFp32Percent ?? 100 * (r.perplexity / base.perplexity - 1);
    lines.push(`| ${r.label} | ${r.predicted} | ${r.cache.bitsWithoutParams.toFixed(2)} | ${bitsOver(r, 1).toFixed(2)} | ${bitsOver(r, amortize).toFixed(2)} | ` +
      `${r.perplexity.toFixed(4)} | ${d >= 0 ? '+' : ''}${d.toFixed(2)}% |`);
  }
  console.log(lines.join('\n') + '\n');
  const svg = f.replace(/\.json$/, '.svg');
  // plotted at fp32's perplexity times (1 + delta on the same windows), so rows measured on fewer windows sit where they compare
  writeFileSync(svg, paretoSvg(doc.results.map((r) => ({
    label: r.label, bits: bitsOver(r, amortize),
    perplexity: r.deltaVsFp32Percent !== undefined ? base.perplexity * (1 + r.deltaVsFp32Percent / 100) : r.perplexity,
  })), `gutenberg-bytes-9M on frankenstein.txt, ctx ${doc.ctx} (${base.predicted} tokens): perplexity vs bits (params over ${amortize} sequences)`,
  base.perplexity));
  console.error(`wrote ${svg}`);
}
