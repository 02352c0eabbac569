/**
 * Codebook accounting for `kvpack eval` results (docs/QUALITY.md, "Pushing quality").
 *
 * Calibration parameters (CQ codebooks, SKVQ permutations and clip ratios) are per-model
 * constants: one copy serves every cached token of every sequence. `kvpack eval` charges them in
 * full to one window (bits/elem) and also reports them left out (bits w/o params). This script
 * shows the amortized figure in between: the bits per cached element when N tokens are cached
 * in total (sequences x context), and the N at which the parameters fall under 0.1 bit/element.
 * Nothing is hidden: the parameters' bytes come from the eval's own cache statistics.
 *
 *   npx esbuild bench/quality-codebooks.ts --bundle --platform=node --format=esm --outfile=build/bench/quality-codebooks.mjs
 *   node build/bench/quality-codebooks.mjs bench/results/quality-selfcal-ctx512.json [more.json] [--json out.json]
 */
import { readFileSync, writeFileSync } from 'node:fs';

interface EvalRow {
  label: string;
  perplexity: number;
  deltaVsFp32Percent: number;
  cache: { tokens: number; elements: number; paramBytes: number; effectiveBits: number; bitsWithoutParams: number };
}

/** Cached tokens at which the amortized figure is computed: 1, 8, 64, 512 windows of 512 and 1M tokens. */
export const TOKEN_COUNTS = [512, 4096, 32768, 262144, 1048576];

export interface AmortizedRow {
  label: string;
  ctx: number;
  perplexity: number;
  deltaVsFp32Percent: number;
  bitsWithoutParams: number;
  paramBytes: number;
  /** Bits per element with the parameters spread over TOKEN_COUNTS[i] cached tokens. */
  bitsAt: number[];
  /** Cached tokens from which the parameters cost under 0.1 bit per element (0 when there are none). */
  tokensForTenthBit: number;
}

/**
 * Parameters' share per element for T cached tokens: paramBytes * 8 / (T * elementsPerToken).
 * For CQ with f16 centroids this is 16 * 2^b / T whatever the model's shape (per layer, stream,
 * head and group 2^b centroids of c channels against layers x 2 x heads x headDim elements per token).
 */
export function amortize(row: EvalRow, ctx: number): AmortizedRow {
  const perToken = row.cache.elements / row.cache.tokens;
  const paramBits = row.cache.paramBytes * 8;
  return {
    label: row.label, ctx, perplexity: row.perplexity, deltaVsFp32Percent: row.deltaVsFp32Percent,
    bitsWithoutParams: row.cache.bitsWithoutParams, paramBytes: row.cache.paramBytes,
    bitsAt: TOKEN_COUNTS.map((t) => row.cache.bitsWithoutParams + paramBits / (t * perToken)),
    tokensForTenthBit: paramBits === 0 ? 0 : Math.ceil(paramBits / (0.1 * perToken)),
  };
}

function main(argv: string[]): void {
  const jsonAt = argv.indexOf('--json');
  const out = jsonAt >= 0 ? argv[jsonAt + 1] : undefined;
  const files = argv.filter((_, i) => jsonAt < 0 || (i !== jsonAt && i !== jsonAt + 1));
  if (files.length === 0) throw new Error('usage: quality-codebooks.mjs eval.json [more.json] [--json out.json]');
  const rows: AmortizedRow[] = [];
  for (const f of files) {
    const doc = JSON.parse(readFileSync(f, 'utf8')) as { ctx: number; results: EvalRow[] };
    for (const r of doc.results) rows.push(amortize(r, doc.ctx));
  }
  const head = ['codec', 'ctx', 'delta vs fp32', 'w/o params', ...TOKEN_COUNTS.map((t) => `@${t >= 1024 ? `${t / 1024}K` : t} tok`), 'tokens for <0.1 bit'];
  const lines = rows.map((r) => [r.label, String(r.ctx), `${r.deltaVsFp32Percent >= 0 ? '+' : ''}${r.deltaVsFp32Percent.toFixed(2)}%`,
    r.bitsWithoutParams.toFixed(2), ...r.bitsAt.map((b) => b.toFixed(2)), r.tokensForTenthBit ? String(r.tokensForTenthBit) : '-']);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (c: string[]): string => `| ${c.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join(' | ')} |`;
  console.log([fmt(head), `|${w.map((n, i) => (i === 0 ? '-'.repeat(n + 2) : '-'.repeat(n + 1) + ':')).join('|')}|`, ...lines.map(fmt)].join('\n'));
  if (out) writeFileSync(out, JSON.stringify({ command: `node build/bench/quality-codebooks.mjs ${argv.join(' ')}`, date: new Date().toISOString(), tokenCounts: TOKEN_COUNTS, rows }, null, 2) + '\n');
}

if (process.argv[1] && /quality-codebooks\.(m?js|ts)$/.test(process.argv[1])) main(process.argv.slice(2));
