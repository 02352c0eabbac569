// Joins the outputs of one device call (decoder-step.ts JSON + torch_decoder_step.py JSON) into
// bench/results/e2e.json and prints the README table (tokens/s, attention share).
// usage: node bench/gpu/e2e-table.mjs WEBGPU.json TORCH.json OUT.json [gpu.txt]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const [webgpuPath, torchPath, outPath, gpuTxt] = process.argv.slice(2);
if (!outPath) { console.error('usage: node bench/gpu/e2e-table.mjs WEBGPU.json TORCH.json OUT.json [gpu.txt]'); process.exit(2); }
const w = JSON.parse(readFileSync(webgpuPath, 'utf8'));
const t = existsSync(torchPath) ? JSON.parse(readFileSync(torchPath, 'utf8')) : { rows: [] };
const out = {
  date: w.date, adapter: w.adapter, gpu: gpuTxt && existsSync(gpuTxt) ? readFileSync(gpuTxt, 'utf8').trim() : undefined,
  torch: { version: t.torch, device: t.device },
  commands: [
    `node build/bench/gpu-decoder-step.js ${w.command}`,
    `python3 bench/gpu/torch_decoder_step.py ${t.command ?? '--steps 32'}`,
  ],
  steps: w.steps, memGiB: w.memGiB,
  // rows of reserved page pools (decoder-step --pools reserve) are told apart by their codec label
  rows: [...w.rows.map((r) => (r.pools === 'reserve' ? { ...r, codec: `${r.codec}+reserve` } : r)), ...t.rows],
};
writeFileSync(outPath, JSON.stringify(out, null, 1));

const codecs = [...new Set(out.rows.map((r) => r.codec))];
const fmt = (r) => {
  if (!r) return '-';
  if (r.skipped) return 'does not fit';
  const share = typeof r.attentionShare === 'number' ? ` (${(100 * r.attentionShare).toFixed(0)}%)` : '';
  return `${r.tokensPerSecond.toFixed(1)}${share}`;
};
const ctxName = (c) => (c >= 1048576 ? `${(c / 1048576).toFixed(2)}M` : c >= 1024 ? `${Math.round(c / 1024)}K` : `${c}`);
for (const model of [...new Set(out.rows.map((r) => r.model))]) {
  console.log(`\n${model}: tokens/s (attention share of the GPU step)\n`);
  console.log(`| context | ${codecs.join(' | ')} |`);
  console.log(`| --- |${codecs.map(() => ' ---: |').join('')}`);
  const ctxs = [...new Set(out.rows.filter((r) => r.model === model).map((r) => r.context))].sort((a, b) => a - b);
  for (const c of ctxs) {
    const cells = codecs.map((k) => fmt(out.rows.find((r) => r.model === model && r.codec === k && r.context === c)));
    const longest = out.rows.filter((r) => r.model === model && r.context === c && r.longestThatFits).map((r) => r.codec);
    console.log(`| ${ctxName(c)}${longest.length ? ` (longest for ${longest.join(', ')})` : ''} | ${cells.join(' | ')} |`);
  }
}
