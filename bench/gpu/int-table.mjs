// Issue 19's integer-key call (bench/gpu/issue19b-device-call.sh): one table per batch of the float
// kernels ('base'), the integer-key kernels ('int' = two int8 limbs, 'int-xKINT_LIMBS=1u' = one)
// and PyTorch SDPA fp16 (best of its backends), ms and fraction of the call's streaming read;
// then the 128K batch-1 A/B sweep (min over rounds). Also joins both files into OUT.json.
// usage: node bench/gpu/int-table.mjs WEBGPU.json TORCH.json OUT.json [run.log]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const [webgpuPath, torchPath, outPath, logPath] = process.argv.slice(2);
if (!outPath) { console.error('usage: node bench/gpu/int-table.mjs WEBGPU.json TORCH.json OUT.json [run.log]'); process.exit(2); }
const w = JSON.parse(readFileSync(webgpuPath, 'utf8'));
const t = existsSync(torchPath) ? JSON.parse(readFileSync(torchPath, 'utf8')) : { cases: [] };
const gpu = logPath && existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').find((l) => /NVIDIA|H100|H200/.test(l) && !l.startsWith('name')) : undefined;
writeFileSync(outPath, JSON.stringify({ date: w.date, gpu, webgpu: w, torch: t }, null, 1));
const ceiling = w.streamCeilingGbps ?? Math.max(...(w.streamRead ?? []).map((r) => r.gbps));
console.log(`GPU: ${gpu ?? w.adapter}; dot4I8Packed: ${w.packedDot4}; streaming read ceiling ${ceiling?.toFixed(0)} GB/s; PyTorch ${t.torch ?? '?'}`);
const torchMs = (shape, batch, context) => {
  const [h, kv, d] = shape.split('x').map(Number);
  const m = (t.cases ?? []).filter((r) => r.heads === h && r.kv_heads === kv && r.head_dim === d && r.batch === batch && r.context === context && typeof r.ms === 'number');
  return m.length ? Math.min(...m.map((r) => r.ms)) : undefined;
};
const f = (ms) => (ms === undefined ? '-' : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3));
const pct = (x) => `${Math.round(100 * x)}%`;
const cases = (w.cases ?? []).filter((c) => typeof c.ms === 'number');
const V = ['base', 'int', 'int-xKINT_LIMBS=1u'];
for (const batch of [...new Set(cases.map((c) => c.batch))]) {
  console.log(`\nbatch ${batch}: ms (fraction of the stream read); SDPA fp16; float/int speedup`);
  console.log('| codec | shape | context | stream read | float | int (2 limbs) | int (1 limb) | SDPA fp16 | SDPA / float | SDPA / int2 | SDPA / int1 | relErr float / int2 / int1 (4K) |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  const keys = [...new Set(cases.filter((c) => c.batch === batch).map((c) => `${c.codec}|${c.shape}|${c.context}`))];
  for (const k of keys) {
    const [codec, shape, context] = k.split('|');
    const row = V.map((v) => cases.find((c) => c.batch === batch && c.codec === codec && c.shape === shape && c.context === Number(context) && c.variant === v));
    const bytes = row.find(Boolean)?.bytes;
    const stream = bytes / (ceiling * 1e9) * 1e3;
    const sd = torchMs(shape, batch, Number(context));
    const cell = (r) => (r ? `${f(r.ms)} (${pct(stream / r.ms)})` : '-');
    const ratio = (r) => (r && sd ? (sd / r.ms).toFixed(2) : '-');
    const err = row.map((r) => (r?.relErr === undefined ? '-' : r.relErr.toExponential(1))).join(' / ');
    console.log(`| ${codec} | ${shape} | ${Number(context) / 1024}K | ${f(stream)} | ${row.map(cell).join(' | ')} | ${f(sd)} | ${row.map(ratio).join(' | ')} | ${err} |`);
  }
}
const sweeps = w.sweeps ?? [];
if (sweeps.length) {
  console.log('\nA/B sweep (128K batch 1; ms per round, min):');
  for (const k of [...new Set(sweeps.map((r) => `${r.codec}|${r.shape}`))]) {
    const [codec, shape] = k.split('|');
    const parts = V.map((v) => {
      const ms = sweeps.filter((r) => r.codec === codec && r.shape === shape && r.variant === v).map((r) => r.ms);
      return ms.length ? `${v} ${ms.map(f).join(' / ')} (min ${f(Math.min(...ms))})` : `${v} -`;
    });
    console.log(`${codec} ${shape}: ${parts.join('; ')}`);
  }
}
