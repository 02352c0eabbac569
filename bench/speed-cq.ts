/**
 * CQ lookup-table attention vs fp32 attention, time per decode step, one layer, one sequence,
 * on WASM SIMD and on WGSL (whatever adapter getGpuDevice finds: on a machine without a GPU that
 * is llvmpipe, a CPU rasterizer, so the WGSL numbers are then only relative), plus the TS LUT and
 * TS reference as a baseline. Shape: 32 query heads x head_dim 128 over 8 KV heads (GQA 4);
 * contexts 4K and 32K tokens; window 0, sinks 0.
 *
 * Run (esbuild bundles the TS; build the WASM module first: npm run build:wasm):
 *   npx esbuild bench/speed-cq.ts --bundle --platform=node --format=esm --outfile=/tmp/speed-cq.mjs \
 *     --external:webgpu && node /tmp/speed-cq.mjs [--tokens 4096,32768] [--configs 8c8b,4c8b,2c8b] \
 *     [--json bench/results/speed-cq.json] [--no-gpu]
 *
 * Method: CQ caches are filled through a CqCodec whose encodeTile writes seeded random codes
 * (attention time does not depend on which centroid a code names, and encoding 32K tokens x 8
 * heads with the TS reference would take minutes); the codebooks are random f16. fp32 caches hold
 * outlier-channel keys and gaussian values. Each backend: one warm-up call (copies/uploads the
 * pages), then 5 timed calls (3 for TS; 1 above 4K tokens); min and median per step.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import '../ts/codecs/index.js';
import { PackedKvCache } from '../ts/cache/kv-cache.js';
import type { AttentionBackend } from '../ts/backends/types.js';
import { attendReference } from '../ts/reference/attention.js';
import { loadKvpackWasm, WasmBackend } from '../ts/backends/wasm.js';
import { WebGpuBackend } from '../ts/backends/webgpu/backend.js';
import { getGpuDevice } from '../ts/backends/webgpu/device.js';
import { CqCodec } from '../ts/codecs/cq/codec.js';
import { makeCqCalibration } from '../ts/codecs/cq/calibration-format.js';
import { attendCqLut } from '../ts/codecs/cq/lut-attention.js';
import { CqWebGpuAttention } from '../ts/codecs/cq/webgpu.js';
import { TILE_TOKENS } from '../ts/format/constants.js';
import { gaussianKv, makeRng, mulberry32, outlierKeys, randomQuery } from '../tests/helpers/data.js';

const flag = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
};
const tokensList = flag('tokens', '4096,32768').split(',').map(Number);
const configs = flag('configs', '8c8b,4c8b,2c8b').split(',').map((s) => {
  const m = /^(\d+)c(\d+)b$/.exec(s)!;
  return { c: Number(m[1]), b: Number(m[2]) };
});
const useGpu = !process.argv.includes('--no-gpu');
const nKvHeads = 8, nHeads = 32, d = 128;

/** Timing-only codec: random codes instead of nearest-centroid search (see the header). */
class RandomCodeCq extends CqCodec {
  private readonly next = mulberry32(12345);
  override encodeTile(_x: Float32Array, _head: number, out: Uint32Array): void {
    for (let i = 0; i < this.tileWords; i++) out[i] = (this.next() * 4294967296) >>> 0;
  }
}

function cqCodec(c: number, b: number, kind: 'key' | 'value'): CqCodec {
  const rng = makeRng(b * 10 + c + (kind === 'key' ? 0 : 1));
  const floats = Array.from({ length: nKvHeads * d * 2 ** b }, () => rng.gaussian() * 0.5);
  return new RandomCodeCq({ channelsPerGroup: c, bits: b }, {
    kind, headDim: d, nKvHeads, calibration: makeCqCalibration({ channelsPerGroup: c, bits: b }, kind, nKvHeads, d, floats, 'f16'),
  });
}

function fill(cache: PackedKvCache, n: number): void {
  const chunk = 1024;
  for (let t = 0; t < n; t += chunk) {
    const m = Math.min(chunk, n - t);
    cache.append(0, outlierKeys(m, nKvHeads, d, t + 1), gaussianKv(m, nKvHeads, d, t + 2));
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function time(f: () => Promise<unknown> | unknown, reps: number): Promise<{ min: number; median: number }> {
  await f(); // warm-up: mirrors/uploads, pipeline creation
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    ts.push(performance.now() - t0);
  }
  return { min: Math.min(...ts), median: median(ts) };
}

interface Row { tokens: number; cache: string; backend: string; minMs: number; medianMs: number; bytesPerStep: number }

async function main(): Promise<void> {
  const wasm = new WasmBackend(await loadKvpackWasm(readFileSync(flag('wasm', 'build/kvpack.wasm'))));
  let gpuGeneric: WebGpuBackend | undefined, gpuCq: CqWebGpuAttention | undefined, gpuName = 'none';
  if (useGpu) {
    try {
      const ctx = await getGpuDevice();
      gpuGeneric = new WebGpuBackend(ctx);
      gpuCq = new CqWebGpuAttention(ctx);
      gpuName = ctx.description;
    } catch (e) {
      console.error(`webgpu unavailable: ${(e as Error).message}`);
    }
  }
  const q = randomQuery(nHeads, d, 7, 0.3);
  const rows: Row[] = [];
  for (const n of tokensList) {
    const reps = n > 4096 ? 3 : 5;
    const tsReps = n > 4096 ? 1 : 3;
    const caches: { name: string; cache: PackedKvCache; lut: boolean }[] = [];
    const fp = new PackedKvCache({ nKvHeads, headDim: d, key: 'fp32', value: 'fp32' });
    fill(fp, n);
    caches.push({ name: 'fp32/fp32', cache: fp, lut: false });
    for (const { c, b } of configs) {
      const cache = new PackedKvCache({ nKvHeads, headDim: d, key: cqCodec(c, b, 'key'), value: cqCodec(c, b, 'value') });
      fill(cache, n);
      caches.push({ name: `cq-${c}c${b}b`, cache, lut: true });
    }
    for (const { name, cache, lut } of caches) {
      const st = cache.stats();
      const bytes = st.packedBytes + st.paramBytes;
      const run = async (backend: string, f: () => Promise<unknown> | unknown, r: number): Promise<void> => {
        const t = await time(f, r);
        rows.push({ tokens: n, cache: name, backend, minMs: t.min, medianMs: t.median, bytesPerStep: bytes });
        console.error(`${n} ${name} ${backend}: min ${t.min.toFixed(2)} ms, median ${t.median.toFixed(2)} ms`);
      };
      await run('wasm', () => wasm.attendSync(cache, [0], q, nHeads), reps);
      if (lut) await run('ts-lut', () => attendCqLut(cache, 0, q, nHeads), tsReps);
      else await run('ts-reference', () => attendReference(cache, 0, q, nHeads), tsReps);
      if (lut && gpuCq) await run('webgpu-lut', () => gpuCq!.attend(cache, [0], q, nHeads), reps);
      if (!lut && gpuGeneric) await run('webgpu', () => gpuGeneric!.attend(cache, [0], q, nHeads), reps);
      wasm.forget(cache);
      if (lut) gpuCq?.forget(cache); else gpuGeneric?.forget(cache);
    }
  }
  /** The fp32 row a CQ row is compared with: the same kind of backend. */
  const BASELINE: Record<string, string> = { wasm: 'wasm', 'ts-lut': 'ts-reference', 'webgpu-lut': 'webgpu' };
  const fpMin = (n: number, backend: string): number | undefined =>
    rows.find((r) => r.tokens === n && r.cache === 'fp32/fp32' && r.backend === BASELINE[backend])?.minMs;
  const lines = ['| tokens | cache (K/V) | backend | bytes/step | min ms | median ms | vs fp32 same backend |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    const base = r.cache === 'fp32/fp32' ? undefined : fpMin(r.tokens, r.backend);
    lines.push(`| ${r.tokens} | ${r.cache} | ${r.backend} | ${(r.bytesPerStep / 2 ** 20).toFixed(1)} MiB | ${r.minMs.toFixed(2)} | ${r.medianMs.toFixed(2)} | ` +
      `${base ? `${(base / r.minMs).toFixed(2)}x faster` : '-'} |`);
  }
  const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, load ${os.loadavg().map((x) => x.toFixed(1)).join('/')}, node ${process.version}; WebGPU: ${gpuName}`;
  console.log(`\n${machine}\nshape: ${nHeads} query heads / ${nKvHeads} KV heads x ${d}, one layer, one sequence\n`);
  console.log(lines.join('\n'));
  const out = flag('json', 'bench/results/speed-cq.json');
  writeFileSync(out, JSON.stringify({ machine, date: new Date().toISOString(), shape: { nHeads, nKvHeads, headDim: d }, rows }, null, 1));
  console.error(`wrote ${out}`);
  gpuGeneric?.dispose();
  gpuCq?.dispose();
  process.exit(0);
}

await main();
