/**
 * WebGPU decode attention vs the TS reference, time per decode step, one layer, one sequence,
 * plus GPU quantize-on-append throughput. Shape (defaults): 32 query heads x head_dim 128 over
 * 8 KV heads (GQA 4), window 0, sinks 0.
 *
 * Run (Node 20 has no TS runner; esbuild bundles, the output must sit inside the repo so the
 * `webgpu` addon resolves from node_modules):
 *   npx esbuild bench/webgpu-attention.ts --bundle --platform=node --format=esm --external:webgpu \
 *     --outfile=bench/out/webgpu-attention.mjs && node bench/out/webgpu-attention.mjs \
 *     [--tokens 4096] [--codecs fp16,q4_0,kivi2] [--kv-heads 8] [--heads 32] [--head-dim 128] [--json FILE]
 *
 * Method: resident cache filled by GpuKvCache.append (GPU encoders; timed: tokens/s including
 * the upload), one warm-up attend, then 7 timed attends (host clock around submit + readback,
 * so it includes the per-call job upload and the 4-byte-per-output readback); the minimum and
 * median are printed. TS reference: attendReference on a host cache with the same tokens, 1 call.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import '../ts/codecs/index.js';
import { PackedKvCache } from '../ts/cache/kv-cache.js';
import { attendReference } from '../ts/reference/attention.js';
import { GpuKvCache, WebGpuBackend } from '../ts/backends/webgpu/index.js';
import { gaussianKv, outlierKeys, randomQuery } from '../tests/helpers/data.js';

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

const tokens = Number(flag('tokens', '4096'));
const codecs = flag('codecs', 'fp16,q8_0,q4_0,kivi2,kivi4').split(',');
const nKv = Number(flag('kv-heads', '8'));
const nHeads = Number(flag('heads', '32'));
const d = Number(flag('head-dim', '128'));
const jsonPath = flag('json', '');

const backend = await WebGpuBackend.create();
console.log(`device: ${backend.description}`);
console.log(`host: ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(`shape: ${tokens} tokens, ${nHeads} heads over ${nKv} KV heads, head_dim ${d}`);

const K = outlierKeys(tokens, nKv, d, 1), V = gaussianKv(tokens, nKv, d, 2), q = randomQuery(nHeads, d, 3);
const rows: Record<string, unknown>[] = [];
console.log(`${'codec'.padEnd(8)} ${'append tok/s'.padStart(13)} ${'gpu min ms'.padStart(11)} ${'gpu med ms'.padStart(11)} ${'ts ms'.padStart(9)} ${'ts/gpu'.padStart(7)}`);
for (const codec of codecs) {
  const opts = { nKvHeads: nKv, headDim: d, key: codec, value: codec };
  const g = await GpuKvCache.create({ ...opts, gpu: backend.gpu });
  await g.append(0, K.subarray(0, 32 * nKv * d), V.subarray(0, 32 * nKv * d)); // pipelines compiled here
  await backend.gpu.device.queue.onSubmittedWorkDone();
  let t0 = performance.now();
  await g.append(0, K.subarray(32 * nKv * d), V.subarray(32 * nKv * d));
  await backend.gpu.device.queue.onSubmittedWorkDone();
  const appendTps = (tokens - 32) / ((performance.now() - t0) / 1000);
  await backend.attendResident(g, [0], q, nHeads);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    t0 = performance.now();
    await backend.attendResident(g, [0], q, nHeads);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const host = new PackedKvCache(opts);
  host.append(0, K, V);
  t0 = performance.now();
  attendReference(host, 0, q, nHeads);
  const tsMs = performance.now() - t0;
  g.destroy();
  const row = { codec, tokens, nKv, nHeads, headDim: d, appendTokensPerS: Math.round(appendTps), gpuMinMs: times[0]!, gpuMedianMs: times[3]!, tsMs, ratio: tsMs / times[0]! };
  rows.push(row);
  console.log(`${codec.padEnd(8)} ${String(row.appendTokensPerS).padStart(13)} ${row.gpuMinMs.toFixed(2).padStart(11)} ${row.gpuMedianMs.toFixed(2).padStart(11)} ${tsMs.toFixed(1).padStart(9)} ${row.ratio.toFixed(1).padStart(7)}`);
}
if (jsonPath) writeFileSync(jsonPath, JSON.stringify({ device: backend.description, host: os.cpus()[0]?.model, rows }, null, 2));
backend.dispose();
