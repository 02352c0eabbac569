// Joins one device call's attention results (bench/gpu/attention.ts JSON + torch_sdpa.py JSON) into
// one file and prints the README tables: ms per step (fraction of the call's streaming read) per
// codec, PyTorch (best of its backends) and the 2-bit ratios, per batch; then the sweeps (in-call A/Bs).
// usage: node bench/gpu/attention-table.mjs WEBGPU.json TORCH.json OUT.json [gpu.txt] [WEBGPU2.json]
//   WEBGPU2.json: a second attention.ts run of the same call (e.g. KVPACK_DAWN_ENABLE=disable_robustness),
//   kept under `variantRun` and compared case by case.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const [webgpuPath, torchPath, outPath, gpuTxt, secondPath] = process.argv.slice(2);
if (!outPath) { console.error('usage: node bench/gpu/attention-table.mjs WEBGPU.json TORCH.json OUT.json [gpu.txt] [WEBGPU2.json]'); process.exit(2); }
const w = JSON.parse(readFileSync(webgpuPath, 'utf8'));
const t = existsSync(torchPath) ? JSON.parse(readFileSync(torchPath, 'utf8')) : { cases: [] };
const second = secondPath && existsSync(secondPath) ? JSON.parse(readFileSync(secondPath, 'utf8')) : undefined;
const out = {
  date: w.date, gpu: gpuTxt && existsSync(gpuTxt) ? readFileSync(gpuTxt, 'utf8').trim() : undefined,
  webgpu: w, torch: t, ...(second ? { variantRun: second } : {}),
};
writeFileSync(outPath, JSON.stringify(out, null, 1));

const ceiling = w.streamCeilingGbps;
console.log(`GPU: ${out.gpu?.split('\n')[1] ?? w.adapter}; streaming read ceiling ${ceiling?.toFixed(0)} GB/s; PyTorch ${t.torch ?? '?'} on ${t.device ?? '?'}`);
const cases = (w.cases ?? []).filter((c) => typeof c.ms === 'number');
const codecs = [...new Set(cases.map((c) => c.codec))];
const torchMs = (shape, batch, context) => {
  const [h, kv, d] = shape.split('x').map(Number);
  const m = (t.cases ?? []).filter((r) => r.heads === h && r.kv_heads === kv && r.head_dim === d && r.batch === batch && r.context === context && typeof r.ms === 'number');
  return m.length ? Math.min(...m.map((r) => r.ms)) : undefined;
};
const fmtMs = (ms) => (ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3));
const ctxName = (c) => (c >= 1048576 ? `${c / 1048576}M` : `${c / 1024}K`);
const shapeName = (s) => (s.split('x')[0] === s.split('x')[1] ? `MHA ${s.split('x')[0]}x${s.split('x')[2]}` : `GQA ${s.split('x')[0]}q/${s.split('x')[1]}kv`);
for (const batch of [...new Set(cases.map((c) => c.batch))]) {
  console.log(`\nBatch ${batch}:\n`);
  console.log(`| shape | context | ${codecs.join(' | ')} | PyTorch | kivi2 vs PyTorch | skvq g128 vs PyTorch |`);
  console.log(`| --- | --- |${codecs.map(() => ' ---: |').join('')} ---: | ---: | ---: |`);
  for (const shape of [...new Set(cases.map((c) => c.shape))]) {
    for (const cx of [...new Set(cases.filter((c) => c.batch === batch && c.shape === shape).map((c) => c.context))].sort((a, b) => a - b)) {
      const pick = (k) => cases.find((c) => c.codec === k && c.shape === shape && c.batch === batch && c.context === cx && c.variant === 'base');
      const cells = codecs.map((k) => { const c = pick(k); return c ? `${fmtMs(c.ms)} (${(100 * c.streamFraction).toFixed(0)}%)` : '-'; });
      const tm = torchMs(shape, batch, cx);
      const ratio = (k) => { const c = pick(k); return c && tm ? `${(tm / c.ms).toFixed(2)}x` : '-'; };
      console.log(`| ${shapeName(shape)} | ${ctxName(cx)} | ${cells.join(' | ')} | ${tm ? fmtMs(tm) : '-'} | ${ratio('kivi2')} | ${ratio('skvq-k2v1.5-g128')} |`);
    }
  }
}
const checks = cases.filter((c) => typeof c.relErr === 'number').map((c) => c.relErr);
if (checks.length) console.log(`\nfloat64 checks: ${checks.length}, max relErr ${Math.max(...checks).toExponential(2)}`);
const sweeps = w.sweeps ?? [];
if (sweeps.length) {
  console.log('\nSweeps (in-call A/B, ms per round):\n');
  const keys = [...new Set(sweeps.map((r) => `${r.codec}|${r.shape}|${r.batch}|${r.context}`))];
  for (const k of keys) {
    const rs = sweeps.filter((r) => `${r.codec}|${r.shape}|${r.batch}|${r.context}` === k);
    const vs = [...new Set(rs.map((r) => r.variant))];
    console.log(`${k}: ${vs.map((v) => `${v} ${rs.filter((r) => r.variant === v).map((r) => r.ms.toFixed(4)).join(' / ')}`).join('; ')}`);
  }
}
if (second) {
  console.log(`\nSecond run (${second.adapter ?? ''}; ${process.env.SECOND_LABEL ?? 'variant run'}), ms vs the first run:`);
  for (const c of (second.cases ?? []).filter((x) => typeof x.ms === 'number')) {
    const base = cases.find((x) => x.codec === c.codec && x.shape === c.shape && x.batch === c.batch && x.context === c.context && x.variant === c.variant);
    console.log(`${c.codec} ${c.shape} b${c.batch} ${ctxName(c.context)}: ${c.ms.toFixed(4)} vs ${base ? base.ms.toFixed(4) : '?'}${base ? ` (${(base.ms / c.ms).toFixed(3)}x)` : ''}`);
  }
}
