#!/usr/bin/env node
// PackedKvCache.append with the TS reference encoders vs kvpack.wasm's (`encodeWith`), process CPU
// time, median of 3 after one warm-up append: what filling a cache costs a user on CPU (bench/README.md "Quantize+pack").
// usage: npm run build && node bench/cpu/append-encoders.mjs [tokens=4096]
import { PackedKvCache, WasmBackend } from '../../dist/index.js';

const n = Number(process.argv[2] ?? 4096), nKv = 32, d = 128;
const rnd = (len, seed) => { let x = seed; const a = new Float32Array(len); for (let i = 0; i < len; i++) { x = (x * 1103515245 + 12345) >>> 0; a[i] = (x / 2 ** 32) * 2 - 1; } return a; };
const K = rnd(n * nKv * d, 1), V = rnd(n * nKv * d, 2);
const wasm = await WasmBackend.create();
for (const codec of ['fp16', 'q8_0', 'q4_0', 'kivi4', 'kivi2']) {
  const t = {};
  for (const [name, extra] of [['ts', {}], ['wasm', { encodeWith: wasm }]]) {
    const times = [];
    for (let r = -1; r < 3; r++) {
      const cache = new PackedKvCache({ key: codec, value: codec, nKvHeads: nKv, headDim: d, ...extra });
      const u0 = process.cpuUsage();
      cache.append(0, K, V);
      const u = process.cpuUsage(u0);
      if (r >= 0) times.push((u.user + u.system) / 1e3);
    }
    t[name] = times.sort((a, b) => a - b)[1];
  }
  console.log(`${codec.padEnd(6)} append ${n} tokens x ${nKv}x${d} (keys and values): TS ${t.ts.toFixed(0)} ms, WASM encoders ${t.wasm.toFixed(0)} ms, x${(t.ts / t.wasm).toFixed(1)}`);
}
wasm.dispose();
