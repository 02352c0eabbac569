/**
 * Save and restore throughput (docs/FORMAT.md, "Saved caches"): one layer, one sequence of 32K
 * tokens, 8 KV heads x head_dim 128, for a kivi2 cache and an SKVQ K2/V1.5 cache. Measures, on
 * CPU time of this process (the machine is shared): serialize() (one buffer), serializeChunks()
 * (chunks only, no joining copy), deserialize() and deserializeFrom() (64 KiB chunks), and as
 * the baseline in the same run a plain copy of the same bytes into a buffer already touched. MB/s =
 * serialized bytes / CPU seconds; the best of several repetitions.
 *
 * Run: npm run bench:save-restore [-- --tokens 32768 --reps 5 --json bench/results/save-restore.json]
 */
import { writeFileSync } from 'node:fs';
import { PackedKvCache, plainSkvqCalibration, WasmBackend } from '../ts/index.js';
import { gaussianKv, outlierKeys } from '../tests/helpers/data.js';
import { describeMachine } from './cpu/machine.js';

const flag = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
};
const tokens = Number(flag('tokens', '32768')), reps = Number(flag('reps', '5')), json = flag('json', '');
const nKv = 8, d = 128, tf = nKv * d;

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function best(fn: () => unknown | Promise<unknown>): Promise<number> {
  let b = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = cpuMs();
    await fn();
    b = Math.min(b, cpuMs() - t0);
  }
  return b;
}

const wasm = await WasmBackend.create();
const cases = [
  { name: 'kivi2', opts: { nKvHeads: nKv, headDim: d, key: 'kivi2', value: 'kivi2', window: 32 } },
  {
    name: 'skvq-k2/skvq-v1.5', opts: {
      nKvHeads: nKv, headDim: d, key: 'skvq-k2', value: 'skvq-v1.5', window: 128, sinks: 5,
      calibration: { key: plainSkvqCalibration('key', nKv, d, 2), value: plainSkvqCalibration('value', nKv, d, 1.5) },
    },
  },
];
const machine = describeMachine();
console.log(`save/restore, ${tokens} tokens x ${nKv} KV heads x head_dim ${d}, one layer; CPU time, best of ${reps}; ${machine.cpuModel}, ${machine.logicalCpus} logical CPUs, node ${machine.node}`);
console.log('| cache | bytes | stats() accounted | serialize MB/s | serializeChunks MB/s | deserialize MB/s | deserializeFrom MB/s | copy (baseline) MB/s | serialize / copy | deserialize / copy |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
const results = [];
const K = outlierKeys(tokens, nKv, d, 1), V = gaussianKv(tokens, nKv, d, 2);
for (const c of cases) {
  const cache = new PackedKvCache({ ...c.opts, encodeWith: wasm });
  for (let at = 0; at < tokens; at += 4096) cache.append(0, K.subarray(at * tf, Math.min(tokens, at + 4096) * tf), V.subarray(at * tf, Math.min(tokens, at + 4096) * tf));
  const bytes = cache.serialize();
  const mb = bytes.length / 1e6;
  const s = cache.stats();
  const accounted = s.packedBytes + s.paramBytes + s.fpTokens * tf * 2 * 4;
  const dst = new Uint8Array(bytes.length);
  dst.set(bytes); // touch the pages once, so the baseline is the copy, not the first-touch page faults
  const tCopy = await best(() => dst.set(bytes));
  const tSer = await best(() => cache.serialize());
  const tChunks = await best(() => { let n = 0; for (const ch of cache.serializeChunks()) n += ch.length; return n; });
  const tDes = await best(() => PackedKvCache.deserialize(bytes));
  const tFrom = await best(() => PackedKvCache.deserializeFrom((function* () { for (let o = 0; o < bytes.length; o += 65536) yield bytes.subarray(o, o + 65536); })()));
  const r = {
    cache: c.name, tokens, bytes: bytes.length, accountedBytes: accounted,
    serializeMBs: mb / (tSer / 1000), serializeChunksMBs: mb / (tChunks / 1000), deserializeMBs: mb / (tDes / 1000),
    deserializeFromMBs: mb / (tFrom / 1000), copyMBs: mb / (tCopy / 1000),
  };
  results.push(r);
  const f = (x: number) => x.toFixed(0);
  console.log(`| ${c.name} | ${bytes.length} | ${accounted} | ${f(r.serializeMBs)} | ${f(r.serializeChunksMBs)} | ${f(r.deserializeMBs)} | ${f(r.deserializeFromMBs)} | ${f(r.copyMBs)} | ${(r.serializeMBs / r.copyMBs).toFixed(3)} | ${(r.deserializeMBs / r.copyMBs).toFixed(3)} |`);
}
wasm.dispose();
if (json) writeFileSync(json, JSON.stringify({ bench: 'save-restore', date: new Date().toISOString(), machine, reps, results }, null, 1) + '\n');
