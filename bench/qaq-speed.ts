/**
 * QAQ decode-attention speed, one layer, one sequence: the packed part through the TS oracle,
 * the WASM SIMD kernel and the WebGPU kernel, against KIVI-4 (WasmBackend and TS reference) on
 * the same shape. Shape: 32 query heads x head_dim 128 over 8 KV heads (GQA 4); contexts 1K and
 * 4K tokens (QAQ needs an attend per appended token to choose widths, so filling the cache is
 * itself a decode run; the fill uses the WASM kernel).
 *
 * Run (build the module first: npm run build:wasm):
 *   npx esbuild bench/qaq-speed.ts --bundle --platform=node --format=esm --external:webgpu \
 *       --outfile=node_modules/.cache/qaq-speed.mjs \
 *     && EGL_PLATFORM=surfaceless node node_modules/.cache/qaq-speed.mjs [--tokens 1024,4096] [--json FILE]
 * (the bundle sits under node_modules so that Node resolves the `webgpu` addon; run from the repo root)
 *
 * Reports the minimum per step over repeated calls on the filled cache (the minimum is the
 * better estimate on a shared machine) and ratios measured in the same run.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import '../ts/codecs/index.js';
import { PackedKvCache } from '../ts/cache/kv-cache.js';
import { QaqKvCache } from '../ts/codecs/qaq/cache.js';
import { packedPartialsReference } from '../ts/codecs/qaq/attend.js';
import { QaqWasmAttention } from '../ts/codecs/qaq/wasm.js';
import { QaqGpu } from '../ts/codecs/qaq/webgpu.js';
import { attendReference } from '../ts/reference/attention.js';
import { WasmBackend } from '../ts/backends/wasm.js';
import { gaussianKv, outlierKeys, randomQuery } from '../tests/helpers/data.js';

const flag = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
};
const nKv = 8, nHeads = 32, d = 128, tf = nKv * d;

async function minTime(fn: () => unknown | Promise<unknown>, reps: number): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

const wasmBytes = readFileSync(flag('wasm', 'build/kvpack.wasm'));
const wasmQaq = await QaqWasmAttention.create(wasmBytes);
const wasmBackend = await WasmBackend.create(wasmBytes);
let gpu: QaqGpu | undefined;
try { gpu = await QaqGpu.create(); } catch (e) { console.error(`webgpu unavailable: ${(e as Error).message}`); }
const rows: Record<string, number | string>[] = [];
for (const n of flag('tokens', '1024,4096').split(',').map(Number)) {
  const K = outlierKeys(n, nKv, d, 1), V = gaussianKv(n, nKv, d, 2), Q = gaussianKv(n, nHeads, d, 3, 0.25);
  const qaq = new QaqKvCache({ nKvHeads: nKv, headDim: d, packedAttention: wasmQaq.packedAttention,
    qaq: { outlierRatio: 0.01, targetKeyError: 1e3, targetValueError: 0.1, attentionWindow: 5, bitsMin: 2 } });
  const t0 = performance.now();
  for (let t = 0; t < n; t++) {
    qaq.append(0, K.subarray(t * tf, (t + 1) * tf), V.subarray(t * tf, (t + 1) * tf));
    qaq.attendSync([0], Q.subarray(t * nHeads * d, (t + 1) * nHeads * d), nHeads);
  }
  const fillMs = performance.now() - t0;
  const kivi = new PackedKvCache({ nKvHeads: nKv, headDim: d, key: 'kivi4', value: 'kivi4' });
  kivi.append(0, K, V);
  const q = randomQuery(nHeads, d, 9, 0.25);
  const view = qaq.view(0);
  const wasmMs = await minTime(() => qaq.attendSync([0], q, nHeads, false), 20);
  const tsPackedMs = await minTime(() => packedPartialsReference(view, q, nHeads), n > 2048 ? 1 : 3);
  let gpuMs = NaN;
  if (gpu) {
    await gpu.partials(view, q, nHeads); // warm-up: pipeline + mirror upload
    gpuMs = await minTime(() => gpu!.partials(view, q, nHeads), 5);
  }
  await wasmBackend.attend(kivi, [0], q, nHeads);
  const kiviWasmMs = await minTime(() => wasmBackend.attend(kivi, [0], q, nHeads), 20);
  const kiviTsMs = await minTime(() => attendReference(kivi, 0, q, nHeads), n > 2048 ? 1 : 3);
  const st = qaq.stats();
  const row = {
    tokens: n, qaqEffectiveBits: +st.effectiveBits.toFixed(3), kivi4EffectiveBits: +kivi.stats().effectiveBits.toFixed(3),
    qaqWasmMs: +wasmMs.toFixed(3), qaqTsPackedMs: +tsPackedMs.toFixed(2), qaqGpuMs: +gpuMs.toFixed(2),
    kivi4WasmMs: +kiviWasmMs.toFixed(3), kivi4TsMs: +kiviTsMs.toFixed(2),
    qaqTsOverWasm: +(tsPackedMs / wasmMs).toFixed(1), qaqWasmOverKivi4Wasm: +(wasmMs / kiviWasmMs).toFixed(2),
    fillSecondsWasm: +(fillMs / 1000).toFixed(1),
  };
  rows.push(row);
  console.error(JSON.stringify(row));
}
const machine = `${os.cpus()[0]?.model} x${os.cpus().length}, load ${os.loadavg()[0]!.toFixed(2)}, node ${process.version}; gpu: ${gpu?.ctx.description ?? 'none'}`;
console.log(`\nQAQ decode attention, one layer, ${nHeads} heads x ${d} over ${nKv} KV heads; ${machine}\n`);
console.log('| tokens | QAQ bits | KIVI-4 bits | QAQ WASM ms | QAQ TS ms (packed part) | QAQ WebGPU ms | KIVI-4 WASM ms | KIVI-4 TS ms | TS/WASM (QAQ) | QAQ/KIVI-4 (WASM) |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  console.log(`| ${r.tokens} | ${r.qaqEffectiveBits} | ${r.kivi4EffectiveBits} | ${r.qaqWasmMs} | ${r.qaqTsPackedMs} | ${r.qaqGpuMs} | ${r.kivi4WasmMs} | ${r.kivi4TsMs} | ${r.qaqTsOverWasm}x | ${r.qaqWasmOverKivi4Wasm}x |`);
}
const out = flag('json', 'bench/results/qaq-speed.json');
writeFileSync(out, JSON.stringify({ machine, date: new Date().toISOString(), rows }, null, 1));
console.error(`wrote ${out}`);
wasmQaq.dispose();
wasmBackend.dispose();
