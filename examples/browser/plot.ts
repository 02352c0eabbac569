import type { DemoRow } from '../../ts/demo/run.js';

const W = 460;
const H = 300;
const M = { l: 56, r: 16, t: 24, b: 40 };

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
}

/**
 * Two inline SVG charts: relative attention error (log scale) against bits per element, one
 * labelled point per codec; and ms per decode step, one bar per codec.
 */
export function plotSvg(rows: readonly DemoRow[]): string {
  return scatter(rows) + bars(rows);
}

function scatter(rows: readonly DemoRow[]): string {
  const pts = rows.filter((r) => r.relError > 0);
  const xMax = Math.max(...rows.map((r) => r.effectiveBits), 1) * 1.05;
  const lo = Math.floor(Math.log10(Math.min(...pts.map((r) => r.relError), 1e-3)));
  const hi = Math.ceil(Math.log10(Math.max(...pts.map((r) => r.relError), 1e-1)));
  const x = (b: number) => M.l + (b / xMax) * (W - M.l - M.r);
  const y = (e: number) => M.t + ((hi - Math.log10(e)) / (hi - lo)) * (H - M.t - M.b);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="attention error vs bits per element">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">attention error vs bits per element</text>`];
  for (let p = lo; p <= hi; p++) {
    parts.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${y(10 ** p)}" y2="${y(10 ** p)}" stroke="#ddd"/>`,
      `<text x="${M.l - 6}" y="${y(10 ** p) + 4}" text-anchor="end" font-size="11">1e${p}</text>`);
  }
  for (let b = 0; b <= xMax; b += 4) {
    parts.push(`<text x="${x(b)}" y="${H - M.b + 16}" text-anchor="middle" font-size="11">${b}</text>`);
  }
  parts.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${H - M.b}" y2="${H - M.b}" stroke="#333"/>`,
    `<line x1="${M.l}" x2="${M.l}" y1="${M.t}" y2="${H - M.b}" stroke="#333"/>`,
    `<text x="${W / 2}" y="${H - 6}" text-anchor="middle" font-size="12">bits per element (incl. metadata)</text>`);
  // labels placed greedily next to their point, avoiding those already placed
  const placed: { x0: number; x1: number; y: number }[] = [];
  for (const r of [...pts].sort((a, b) => y(a.relError) - y(b.relError))) {
    const px = x(r.effectiveBits);
    const py = y(r.relError);
    const w = r.label.length * 5.6;
    // right-above, right-below, left-above, left-below of the point; the first free one wins
    const spots = [[px + 6, py - 5], [px + 6, py + 12], [px - 6 - w, py - 5], [px - 6 - w, py + 12]] as const;
    const free = spots.find(([lx, ly]) => lx > M.l && !placed.some((p) => Math.abs(p.y - ly) < 11 && lx < p.x1 && lx + w > p.x0));
    const [lx, ly] = free ?? spots[0];
    placed.push({ x0: lx, x1: lx + w, y: ly });
    parts.push(`<circle cx="${px}" cy="${py}" r="4" fill="#1f6feb"/>`,
      `<text x="${lx}" y="${ly}" font-size="10">${esc(r.label)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

function bars(rows: readonly DemoRow[]): string {
  const max = Math.max(...rows.map((r) => r.msPerStep), 1e-3);
  const rowH = 18;
  const h = M.t + rows.length * rowH + 10;
  const x = (ms: number) => (ms / max) * (W - 180);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" role="img" aria-label="ms per decode step">`,
    `<rect width="${W}" height="${h}" fill="#fff"/>`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">ms per decode step</text>`];
  rows.forEach((r, i) => {
    const top = M.t + i * rowH;
    parts.push(`<text x="116" y="${top + 12}" text-anchor="end" font-size="10">${esc(r.label)}</text>`,
      `<rect x="120" y="${top + 2}" width="${Math.max(1, x(r.msPerStep))}" height="${rowH - 5}" fill="#2da44e"/>`,
      `<text x="${124 + x(r.msPerStep)}" y="${top + 12}" font-size="10">${r.msPerStep.toFixed(2)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
