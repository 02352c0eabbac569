// Hand-written SVG of a bench/results/gpu-*.json: time per decode step vs context (log-log), one
// panel per (shape, batch), one line per kvpack codec plus PyTorch SDPA fp16 (best backend).
// usage: node bench/gpu/plot-svg.mjs bench/results/gpu-sweep.json > bench/results/gpu-sweep.svg
import { readFileSync } from 'node:fs';

const r = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const panels = [['32x32x128', 1], ['32x8x128', 1], ['32x32x128', 8], ['32x8x128', 8]];
const colors = { fp32: '#888', fp16: '#1f77b4', q8_0: '#2ca02c', q4_0: '#98df8a', kivi2: '#d62728', kivi4: '#ff9896', 'skvq-k2v1.5': '#9467bd', 'skvq-k2v1.5-g128': '#17becf', torch: '#000' };
const W = 420, H = 300, M = { l: 55, r: 10, t: 28, b: 40 };
const ctxs = [4096, 32768, 131072, 1048576];
const x = (c) => M.l + (Math.log2(c / 4096) / Math.log2(1048576 / 4096)) * (W - M.l - M.r);
const lo = 0.01, hi = 3000;
const y = (ms) => M.t + (1 - Math.log10(ms / lo) / Math.log10(hi / lo)) * (H - M.t - M.b);
let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${2 * H + 40}" font-family="sans-serif" font-size="11">\n`;
svg += `<text x="8" y="16" font-size="13">kvpack WebGPU decode attention vs PyTorch SDPA fp16, ${r.torch.device}, ms per step (log), one layer</text>\n`;
panels.forEach(([shape, batch], i) => {
  const ox = (i % 2) * W, oy = 20 + Math.floor(i / 2) * H;
  const [h, kv] = shape.split('x');
  svg += `<g transform="translate(${ox},${oy})"><text x="${M.l}" y="18" font-weight="bold">${h}q/${kv}kv x128, batch ${batch}</text>\n`;
  for (let e = -2; e <= 3; e++) {
    const yy = y(10 ** e);
    svg += `<line x1="${M.l}" x2="${W - M.r}" y1="${yy}" y2="${yy}" stroke="#ddd"/><text x="${M.l - 4}" y="${yy + 4}" text-anchor="end">${10 ** e}</text>\n`;
  }
  for (const c of ctxs) svg += `<text x="${x(c)}" y="${H - M.b + 14}" text-anchor="middle">${c >= 1048576 ? '1M' : `${c / 1024}K`}</text>\n`;
  const series = {};
  for (const c of r.kvpack.cases) {
    if (c.shape !== shape || c.batch !== batch || c.ms === undefined) continue;
    (series[c.codec] ??= []).push([c.context, c.ms]);
  }
  const best = {};
  for (const c of r.torch.cases) {
    if (`${c.heads}x${c.kv_heads}x${c.head_dim}` !== shape || c.batch !== batch || c.ms === undefined) continue;
    best[c.context] = Math.min(best[c.context] ?? Infinity, c.ms);
  }
  series.torch = Object.entries(best).map(([c, ms]) => [Number(c), ms]);
  let li = 0;
  for (const [name, pts] of Object.entries(series)) {
    pts.sort((a, b) => a[0] - b[0]);
    const d = pts.map(([c, ms], k) => `${k ? 'L' : 'M'}${x(c).toFixed(1)},${y(Math.min(hi, ms)).toFixed(1)}`).join(' ');
    svg += `<path d="${d}" fill="none" stroke="${colors[name] ?? '#f0f'}" stroke-width="${name === 'torch' ? 2.5 : 1.5}"${name === 'torch' ? ' stroke-dasharray="5,3"' : ''}/>\n`;
    if (i === 0) {
      svg += `<text x="${M.l + 8}" y="${M.t + 12 + 12 * li}" fill="${colors[name] ?? '#f0f'}">${name === 'torch' ? 'PyTorch SDPA fp16' : name}</text>\n`;
    }
    li++;
  }
  svg += `</g>\n`;
});
svg += `<text x="8" y="${2 * H + 34}">GQA/MHA panels; missing points did not fit 40 GiB (kvpack) or GPU memory (torch). Source: ${process.argv[2]}</text>\n</svg>\n`;
process.stdout.write(svg);
