/**
 * Cost of QaqKvCache's call-time snapshot (issue 18, docs/reliability.md "QAQ"): an attend whose
 * kernel is asynchronous (WebGPU) copies the fp32 tails and the query at the call, so that it
 * answers what sequential execution answers. This measures that copy (the cache's own
 * `tailCopy`, at its largest: window + 31 tail tokens) against whole attends in the same run:
 * QaqKvCache.attend with the WASM kernel and with the WebGPU kernel.
 * Shape: 32 query heads x head_dim 128 over 8 KV heads, default QAQ window (32 tokens), one
 * sequence of 1K or 4K tokens (filled by appends only: widths are bitsMax, which does not change
 * the copy; the attend reads the widest records).
 *
 * Run (npm run build:wasm first):
 *   npx esbuild bench/qaq-snapshot.ts --bundle --platform=node --format=esm --external:webgpu \
 *       --outfile=node_modules/.cache/qaq-snapshot.mjs \
 *     && EGL_PLATFORM=surfaceless node node_modules/.cache/qaq-snapshot.mjs [--tokens 1024,4096] [--json FILE]
 *
 * Times are CPU time of the process (process.cpuUsage, user + system, which includes Dawn's
 * threads) over repeated calls, best of 5 rounds; the ratio is snapshot / attend, same run.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import '../ts/codecs/index.js';
import { QaqKvCache, type QaqCacheOptions } from '../ts/codecs/qaq/cache.js';
import { QaqWasmAttention } from '../ts/codecs/qaq/wasm.js';
import { QaqGpu } from '../ts/codecs/qaq/webgpu.js';
import { gaussianKv, outlierKeys, randomQuery } from '../tests/helpers/data.js';

const flag = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
};
const nKv = 8, nHeads = 32, d = 128, tf = nKv * d;

/** CPU milliseconds per call: best of 5 rounds of `reps` calls. */
async function cpuMs(fn: () => unknown | Promise<unknown>, reps: number): Promise<number> {
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) await fn();
    const t = process.cpuUsage(t0);
    best = Math.min(best, (t.user + t.system) / 1000 / reps);
  }
  return best;
}

const wasmBytes = readFileSync(flag('wasm', 'build/kvpack.wasm'));
const wasmQaq = await QaqWasmAttention.create(wasmBytes);
let gpu: QaqGpu | undefined;
try { gpu = await QaqGpu.create(); } catch (e) { console.error(`webgpu unavailable: ${(e as Error).message}`); }

const rows: Record<string, unknown>[] = [];
for (const tokens of flag('tokens', '1024,4096').split(',').map(Number)) {
  const q = randomQuery(nHeads, d, 7);
  const make = (packedAttention: QaqCacheOptions["packedAttention"]): QaqKvCache => {
    const c = new QaqKvCache({ nKvHeads: nKv, headDim: d, ...(packedAttention ? { packedAttention } : {}) });
    // the tail at its largest: window + 31 tokens after the last seal
    const n = tokens - (tokens % 32) + c.window + 31;
    c.append(0, outlierKeys(n, nKv, d, 1), gaussianKv(n, nKv, d, 2));
    return c;
  };
  const wasmCache = make(wasmQaq.packedAttention);
  const internals = wasmCache as unknown as { seqs: Map<number, unknown>; tailCopy(s: unknown): { tailCount: number } };
  const s = internals.seqs.get(0)!;
  const tail = internals.tailCopy(s).tailCount;
  const snapshot = await cpuMs(() => { internals.tailCopy(s); q.slice(); }, 2000);
  const wasmAttend = await cpuMs(() => wasmCache.attend([0], q, nHeads, false), 20);
  const row: Record<string, unknown> = { tokens: wasmCache.length(0), tailTokens: tail, snapshotMs: snapshot, wasmAttendMs: wasmAttend, snapshotOverWasm: snapshot / wasmAttend };
  if (gpu) {
    const gpuCache = make(gpu.packedAttention);
    const gpuAttend = await cpuMs(() => gpuCache.attend([0], q, nHeads, false), 10);
    Object.assign(row, { webgpuAttendMs: gpuAttend, snapshotOverWebgpu: snapshot / gpuAttend });
    gpuCache.dispose();
  }
  wasmCache.dispose();
  rows.push(row);
  console.log(JSON.stringify(row));
}
const out = { bench: 'qaq-snapshot', date: new Date().toISOString().slice(0, 10), machine: `${os.cpus()[0]?.model} (${os.cpus().length} cores)`,
  node: process.version, webgpu: gpu ? 'Dawn (webgpu npm), software adapter on this machine' : 'unavailable', shape: { nKvHeads: nKv, nHeads, headDim: d }, rows };
const json = flag('json', '');
if (json) writeFileSync(json, JSON.stringify(out, null, 1) + '\n');
gpu?.dispose();
wasmQaq.dispose();
process.exit(0);
