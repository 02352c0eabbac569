/**
 * WASM SIMD vs TS reference decode attention, time per decode step, one layer, one sequence.
 * Shape: 32 query heads x head_dim 128 over 8 KV heads (GQA 4, LLaMA-3-8B-like), window 0,
 * sinks 0; contexts 4K and 32K tokens; each baseline codec for keys and values. Small on purpose:
 * the full benchmark (every backend, JSON for plots) is another script.
 *
 * Run (no tsx in Node 20; esbuild bundles the TS; build the module first with npm run build:wasm):
 *   npx esbuild bench/wasm-attention.ts --bundle --platform=node --format=esm --outfile=/tmp/wasm-attention.mjs \
 *     && node /tmp/wasm-attention.mjs [--tokens 4096,32768] [--codecs fp32,kivi2] [--kv-heads 8] [--heads 32] [--json FILE]
 *
 * Method: the cache is filled with seeded outlier-channel keys and gaussian values (TS encoder);
 * WASM: one warm-up call (it also copies the pages into WASM memory), then 7 calls (the
 * incremental mirror copies nothing more: the cache does not change); TS reference
 * (attendReference: decode tile + f64 online softmax): 3 calls at <= 4K, 1 call above.
 * Reports per step the process CPU time (median) and the wall time (minimum, median); ratios
 * TS / WASM use CPU time (robust on a shared machine), measured in the same run, with the
 * machine and its load average.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import '../ts/codecs/index.js';
import { PackedKvCache } from '../ts/cache/kv-cache.js';
import { attendReference } from '../ts/reference/attention.js';
import { WasmBackend } from '../ts/backends/wasm.js';
import { gaussianKv, outlierKeys, randomQuery } from '../tests/helpers/data.js';

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

const tokensList = flag('tokens', '4096,32768').split(',').map(Number);
const codecs = flag('codecs', 'fp32,fp16,q8_0,q4_0,kivi8,kivi4,kivi2').split(',');
const nKvHeads = Number(flag('kv-heads', '8'));
const nHeads = Number(flag('heads', '32'));
const headDim = 128;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * Wall time (min, median) and CPU time of this process (median): on a shared machine the CPU
 * time is the robust number (time spent descheduled is not counted), so ratios use it.
 */
function time(f: () => void, reps: number): { min: number; median: number; cpu: number } {
  const wall: number[] = [], cpu: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    f();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { min: Math.min(...wall), median: median(wall), cpu: median(cpu) };
}

const bytes = readFileSync('build/kvpack.wasm'); // run from the repository root
const machine = `${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}, Node ${process.version}`;
console.log(`machine: ${machine}, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(`shape: ${nHeads} query heads x ${headDim} over ${nKvHeads} KV heads, window 0, sinks 0, one sequence`);
console.log('codec | tokens | packed MiB | wasm ms/step: cpu, wall min (median) | ts ms/step: cpu, wall min (median) | ts/wasm (cpu) | wasm GB/s of packed tiles (cpu)');
const rows: Record<string, unknown>[] = [];
for (const tokens of tokensList) {
  // one K/V workload per context, shared by the codecs
  const K = outlierKeys(tokens, nKvHeads, headDim, 1);
  const V = gaussianKv(tokens, nKvHeads, headDim, 2);
  const q = randomQuery(nHeads, headDim, 3);
  for (const codec of codecs) {
    const cache = new PackedKvCache({ nKvHeads, headDim, key: codec, value: codec });
    cache.append(0, K, V);
    const backend = await WasmBackend.create(bytes);
    backend.attendSync(cache, [0], q, nHeads); // warm-up + page copy
    const wasm = time(() => backend.attendSync(cache, [0], q, nHeads), 9);
    const ts = time(() => attendReference(cache, 0, q, nHeads), tokens <= 4096 ? 3 : 1);
    const packed = cache.stats().packedBytes;
    const ratio = ts.cpu / wasm.cpu;
    console.log([codec, tokens, (packed / 2 ** 20).toFixed(1), `${wasm.cpu.toFixed(2)}, ${wasm.min.toFixed(2)} (${wasm.median.toFixed(2)})`,
      `${ts.cpu.toFixed(1)}, ${ts.min.toFixed(1)} (${ts.median.toFixed(1)})`, ratio.toFixed(1) + 'x', (packed / wasm.cpu / 1e6).toFixed(2)].join(' | '));
    rows.push({ codec, tokens, packedBytes: packed, wasmMs: wasm, tsMs: ts, tsOverWasm: ratio });
    backend.forget(cache);
  }
}
const json = flag('json', '');
if (json) {
  writeFileSync(json, JSON.stringify({ machine, loadavg: os.loadavg(), nHeads, nKvHeads, headDim, rows }, null, 2));
  console.log(`wrote ${json}`);
}
