// Plot of bench/results/e2e.json (bench/gpu/decoder-step.ts + torch_decoder_step.py rows):
// tokens/s against context (log scale), one panel per model, one line per cache codec.
// usage: node bench/gpu/plot-e2e.mjs bench/results/e2e.json  (writes the .svg beside it)
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) { console.error('usage: node bench/gpu/plot-e2e.mjs FILE.json'); process.exit(2); }
const data = JSON.parse(readFileSync(file, 'utf8'));
const rows = data.rows.filter((r) => typeof r.tokensPerSecond === 'number');
const models = [...new Set(rows.map((r) => r.model))];
const codecs = [...new Set(rows.map((r) => r.codec))];
const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];
const W = 460, H = 320, M = { l: 56, r: 12, t: 28, b: 44 };
const ctxs = rows.map((r) => r.context);
const x0 = Math.log2(Math.min(...ctxs)), x1 = Math.log2(Math.max(...ctxs));
const yMax = Math.max(...rows.map((r) => r.tokensPerSecond)) * 1.08;
const sx = (c) => M.l + ((Math.log2(c) - x0) / (x1 - x0 || 1)) * (W - M.l - M.r);
const sy = (v) => H - M.b - (v / yMax) * (H - M.t - M.b);
const fmtCtx = (c) => (c >= 1048576 ? `${(c / 1048576).toFixed(c % 1048576 ? 1 : 0)}M` : `${Math.round(c / 1024)}K`);
let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W * models.length}" height="${H + 24 * Math.ceil(codecs.length / 3)}" font-family="sans-serif" font-size="11">\n`;
models.forEach((model, mi) => {
  const ox = mi * W;
  svg += `<g transform="translate(${ox},0)">\n<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">${model}: tokens/s, batch 1 (${data.adapter ?? ''})</text>\n`;
  svg += `<line x1="${M.l}" y1="${H - M.b}" x2="${W - M.r}" y2="${H - M.b}" stroke="#000"/><line x1="${M.l}" y1="${M.t}" x2="${M.l}" y2="${H - M.b}" stroke="#000"/>\n`;
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    svg += `<text x="${M.l - 4}" y="${sy(v) + 4}" text-anchor="end">${v.toFixed(0)}</text><line x1="${M.l}" y1="${sy(v)}" x2="${W - M.r}" y2="${sy(v)}" stroke="#eee"/>\n`;
  }
  for (const c of [...new Set(rows.filter((r) => r.model === model).map((r) => r.context))]) {
    svg += `<text x="${sx(c)}" y="${H - M.b + 14}" text-anchor="middle">${fmtCtx(c)}</text>\n`;
  }
  svg += `<text x="${(W + M.l) / 2}" y="${H - 8}" text-anchor="middle">context (tokens, log scale)</text>\n`;
  codecs.forEach((codec, ci) => {
    const pts = rows.filter((r) => r.model === model && r.codec === codec).sort((a, b) => a.context - b.context);
    if (!pts.length) return;
    const col = colors[ci % colors.length];
    const dash = codec.startsWith('torch') ? ' stroke-dasharray="5,3"' : '';
    svg += `<polyline fill="none" stroke="${col}" stroke-width="2"${dash} points="${pts.map((p) => `${sx(p.context).toFixed(1)},${sy(p.tokensPerSecond).toFixed(1)}`).join(' ')}"/>\n`;
    for (const p of pts) svg += `<circle cx="${sx(p.context).toFixed(1)}" cy="${sy(p.tokensPerSecond).toFixed(1)}" r="3" fill="${col}"/>\n`;
  });
  svg += '</g>\n';
});
codecs.forEach((codec, ci) => {
  const x = 20 + (ci % 3) * 220, y = H + 14 + 20 * Math.floor(ci / 3);
  svg += `<rect x="${x}" y="${y - 9}" width="14" height="4" fill="${colors[ci % colors.length]}"/><text x="${x + 20}" y="${y - 4}">${codec}</text>\n`;
});
svg += '</svg>\n';
const out = file.replace(/\.json$/, '.svg');
writeFileSync(out, svg);
console.log(`wrote ${out}`);
