/**
 * SKVQ decode-attention speed on the WASM SIMD backend vs fp32 and KIVI-2, per decode step (all
 * query heads of one sequence), at 4K and 32K cached tokens, LLaMA-3-8B-like shape: 32 query heads
 * over 8 KV heads, head_dim 128; window 128 + 5 sinks for SKVQ (the paper's setting), none for the
 * others. Timings: median of 9 interleaved rounds (each round runs every configuration once) after
 * 2 warm-up steps each (the first call uploads the pages).
 *
 * Run: npx esbuild bench/quality-skvq-speed.ts --bundle --platform=node --format=esm \
 *        --outfile=/tmp/skvq-speed.mjs && cp build/kvpack.wasm /tmp/ && node /tmp/skvq-speed.mjs [--tokens 4096,32768]
 * (the bundle looks for kvpack.wasm next to itself; `npm run build:wasm` first).
 */
import { cpus } from 'node:os';
import '../ts/codecs/index.js';
import { PackedKvCache } from '../ts/cache/kv-cache.js';
import { WasmBackend } from '../ts/backends/wasm.js';
import { calibrateSkvqStream } from '../ts/codecs/skvq/calibrate.js';
import { heavyTailedKv, outlierKeys, randomQuery } from '../tests/helpers/data.js';

const nKv = 8, d = 128, nHeads = 32;
const arg = process.argv.indexOf('--tokens');
const lengths = arg >= 0 ? process.argv[arg + 1]!.split(',').map(Number) : [4096, 32768];
const pairs: [string, string, number, number][] = [
  ['fp32', 'fp32', 0, 0], ['kivi2', 'kivi2', 0, 0],
  ['skvq-k2', 'skvq-v2', 128, 5], ['skvq-k2', 'skvq-v1.5', 128, 5], ['skvq-k4', 'skvq-v2', 128, 5],
];
const calK = outlierKeys(1024, nKv, d, 1), calV = heavyTailedKv(1024, nKv, d, 2);
const cal = (kind: 'key' | 'value', name: string) => {
  if (!name.startsWith('skvq')) return undefined;
  const bits = name.endsWith('1.5') ? 1.5 : name.endsWith('4') ? 4 : 2;
  return calibrateSkvqStream({ kind, headDim: d, nKvHeads: nKv, data: kind === 'key' ? calK : calV }, { bits, restarts: 2, maxClipTokens: 512 });
};

const backend = await WasmBackend.create();
console.log(`machine: ${cpus()[0]?.model ?? '?'} x${cpus().length}, node ${process.version}; ${backend.description}`);
console.log('| tokens | K:V | effective bits | ms / decode step | vs fp32 |');
console.log('| --- | --- | --- | --- | --- |');
for (const n of lengths) {
  const chunk = 4096;
  const caches = pairs.map(([k, v, window, sinks]) => {
    const cache = new PackedKvCache({ nKvHeads: nKv, headDim: d, key: k, value: v, window, sinks, calibration: { key: cal('key', k), value: cal('value', v) } });
    for (let t0 = 0; t0 < n; t0 += chunk) {
      const m = Math.min(chunk, n - t0);
      cache.append(0, outlierKeys(m, nKv, d, 11 + t0), heavyTailedKv(m, nKv, d, 12 + t0));
    }
    return cache;
  });
  const q = randomQuery(nHeads, d, 3, 0.1);
  for (const cache of caches) for (let i = 0; i < 2; i++) await backend.attend(cache, [0], q, nHeads);
  // interleaved rounds: a load spike on this shared machine hits every configuration alike
  const times: number[][] = caches.map(() => []);
  for (let round = 0; round < 9; round++) {
    for (const [i, cache] of caches.entries()) {
      const t = performance.now();
      await backend.attend(cache, [0], q, nHeads);
      times[i]!.push(performance.now() - t);
    }
  }
  const med = times.map((ts) => ts.sort((a, b) => a - b)[4]!);
  pairs.forEach(([k, v, window, sinks], i) => {
    console.log(`| ${n} | ${k}:${v}${window ? `@w${window}@s${sinks}` : ''} | ${caches[i]!.stats().effectiveBits.toFixed(2)} | ${med[i]!.toFixed(2)} | ${(med[0]! / med[i]!).toFixed(2)}x |`);
  });
  for (const cache of caches) backend.forget(cache);
}
backend.dispose();
