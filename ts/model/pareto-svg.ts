/** One point of the quality plot. */
export interface ParetoPoint {
  label: string;
  bits: number;
  perplexity: number;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Points no other point beats on both axes (fewer-or-equal bits and lower-or-equal perplexity). */
export function paretoFront(points: readonly ParetoPoint[]): ParetoPoint[] {
  return points
    .filter((p) => !points.some((q) => q !== p && q.bits <= p.bits && q.perplexity <= p.perplexity &&
      (q.bits < p.bits || q.perplexity < p.perplexity)))
    .sort((a, b) => a.bits - b.bits);
}

/**
 * Perplexity vs effective bits per element, hand-written SVG (no plotting dependency): every
 * pairing as a labelled dot, the Pareto front as a line, fp32 perplexity as a dashed reference.
 * Bits on a log2 axis, since the interesting codecs crowd between 1 and 8 bits; perplexity on a
 * log axis (equal steps of mean NLL).
 */
export function paretoSvg(points: readonly ParetoPoint[], title: string, baseline?: number): string {
  const W = 760, H = 480, L = 70, R = 30, T = 50, B = 60;
  const finite = points.filter((p) => Number.isFinite(p.perplexity) && p.bits > 0);
  const xs = finite.map((p) => Math.log2(p.bits));
  const ys = finite.map((p) => p.perplexity);
  const x0 = Math.floor(Math.min(0, ...xs)), x1 = Math.ceil(Math.max(5, ...xs));
  // log perplexity (= mean NLL) on y, capped at 1.6x the baseline: a collapsed codec must not
  // flatten the region where the codecs worth comparing sit; capped points are drawn at the top.
  const cap = baseline !== undefined ? baseline * 1.6 : Infinity;
  const yLo = Math.log(Math.min(...ys, baseline ?? Infinity)), yHi = Math.log(Math.min(cap, Math.max(...ys, baseline ?? -Infinity)));
  const pad = (yHi - yLo) * 0.06 || 0.05;
  const y0 = yLo - pad, y1 = yHi + pad;
  const px = (b: number): number => L + ((Math.log2(b) - x0) / (x1 - x0)) * (W - L - R);
  const py = (p: number): number => T + (1 - (Math.log(p) - y0) / (y1 - y0)) * (H - T - B);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  out.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`);
  for (let e = x0; e <= x1; e++) {
    const x = px(2 ** e);
    out.push(`<line x1="${x}" y1="${T}" x2="${x}" y2="${H - B}" stroke="#eee"/><text x="${x}" y="${H - B + 16}" text-anchor="middle">${2 ** e}</text>`);
  }
  for (let i = 0; i <= 6; i++) {
    const v = Math.exp(y0 + ((y1 - y0) * i) / 6), y = py(v);
    out.push(`<line x1="${L}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#eee"/><text x="${L - 6}" y="${y + 4}" text-anchor="end">${v.toFixed(2)}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 18}" text-anchor="middle">effective bits per element (metadata, fp32 window/sinks at 16 bits, calibration parameters included; log scale)</text>`);
  out.push(`<text x="18" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 18 ${(T + H - B) / 2})">perplexity (log scale, lower is better)</text>`);
  if (baseline !== undefined) {
    out.push(`<line x1="${L}" y1="${py(baseline)}" x2="${W - R}" y2="${py(baseline)}" stroke="#888" stroke-dasharray="5,4"/>` +
      `<text x="${W - R - 4}" y="${py(baseline) - 5}" text-anchor="end" fill="#666">fp32 ${baseline.toFixed(3)}</text>`);
  }
  const front = paretoFront(finite);
  out.push(`<polyline fill="none" stroke="#d62728" stroke-width="1.5" points="${front.filter((p) => p.perplexity <= cap).map((p) => `${px(p.bits).toFixed(1)},${py(p.perplexity).toFixed(1)}`).join(' ')}"/>`);
  finite.forEach((p, i) => {
    const onFront = front.includes(p);
    const x = px(p.bits);
    if (p.perplexity > cap) {
      out.push(`<path d="M${x.toFixed(1)},${T - 2} l-5,9 h10 z" fill="#9467bd"><title>${esc(p.label)}: ${p.bits.toFixed(2)} bits, ppl ${p.perplexity.toFixed(4)} (off scale)</title></path>` +
        `<text x="${(x + 7).toFixed(1)}" y="${T + 8 + (i % 2) * 11}" fill="#9467bd">${esc(p.label)} ${p.perplexity.toFixed(1)}</text>`);
      return;
    }
    const y = py(p.perplexity);
    out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4" fill="${onFront ? '#d62728' : '#1f77b4'}"><title>${esc(p.label)}: ${p.bits.toFixed(2)} bits, ppl ${p.perplexity.toFixed(4)}</title></circle>`);
    // alternate label sides so neighbours at similar bits stay readable
    out.push(`<text x="${(x + 6).toFixed(1)}" y="${(y + (i % 2 ? 12 : -6)).toFixed(1)}" fill="#333">${esc(p.label)}</text>`);
  });
  const off = points.filter((p) => !finite.includes(p));
  if (off.length) out.push(`<text x="${L + 6}" y="${T - 6}" fill="#a00">not plotted (infinite perplexity): ${esc(off.map((p) => p.label).join(', '))}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
