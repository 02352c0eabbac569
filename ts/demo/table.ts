import type { DemoResult } from './run.js';

/** Right-aligned plain-text table; column 0 left-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

function fmtErr(x: number): string {
  if (x === 0) return '0';
  return x < 1e-4 ? x.toExponential(1) : x.toPrecision(3);
}

function fmtMs(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export function formatDemo(r: DemoResult): string {
  const c = r.config;
  const header = ['codec (K/V)', 'bits/elem', 'x fp16', 'x fp32', 'rel err', 'max err', 'ms/step', 'backend', 'pack s'];
  const rows = r.rows.map((x) => [
    x.label, x.effectiveBits.toFixed(2), x.ratioVsFp16.toFixed(2), x.ratioVsFp32.toFixed(2),
    fmtErr(x.relError), fmtErr(x.relErrorMax), fmtMs(x.msPerStep), x.backend + (x.note ? '*' : ''),
    (x.packMs / 1000).toFixed(1),
  ]);
  const lines = [
    `kvpack demo: synthetic LLaMA-shaped cache, ${c.tokens} tokens, ${c.nHeads} query heads / ${c.nKvHeads} KV heads x head_dim ${c.headDim}` +
      `, window ${c.window}, sinks ${c.sinks}, seed ${c.seed}`,
    `backend: ${r.backend.name} (${r.backend.description})`,
    '',
    formatTable(header, rows),
    '',
    'bits/elem: cache bits per element incl. metadata and calibration params, fp32 window/sinks counted at 16 bits (as the papers);',
    `rel err: ||o - o_fp32||/||o_fp32|| of the attention output over all heads and ${c.steps} decode steps vs dense fp32 attention;`,
    `ms/step: median decode-step time${c.steps > 1 ? ' after one warm-up step' : ''}; pack s: appending all tokens (${r.encoders === 'wasm' ? 'WASM encoders' : 'TS reference encoders'}).`,
  ];
  for (const x of r.rows) if (x.note) lines.push(`* ${x.label}: ${x.note}`);
  for (const s of r.skipped) lines.push(`skipped ${s.label}: ${s.reason}`);
  return lines.join('\n');
}
