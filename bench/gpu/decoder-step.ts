/**
 * End-to-end decoder step on WebGPU (issue 19): a LLaMA-shaped model (synthetic seeded weights,
 * f16 pairs) runs whole decode steps at batch 1: per layer RMSNorm, QKV projection, RoPE,
 * append to the layer's packed cache (GpuKvCache.appendFromGpuInto), attention over it
 * (attendInto), output projection + residual, RMSNorm, SwiGLU FFN + residual; the position
 * advances on the GPU. One command buffer per step, nothing read back inside the loop. Tokens/s
 * per (model, cache codec, context); the attention share of the step from timestamps around
 * each layer's append + attention. No embedding lookup, final norm or LM head (the peer,
 * bench/gpu/torch_decoder_step.py, runs the same layers).
 *
 * Build + run (bench/README.md "End-to-end decoder step"):
 *   npx esbuild bench/gpu/decoder-step.ts --bundle --platform=node --format=esm --external:webgpu \
 *     --outfile=build/bench/gpu-decoder-step.js
 *   node build/bench/gpu-decoder-step.js --json e2e.json --mem-gib 79
 * flags: --models llama3-8b,llama2-7b (or NAME:layers:dim:heads:kvHeads:headDim:ffn[:theta])
 *        --codecs fp16,kivi2,kivi4,skvq --contexts 4096,32768,131072,524288,max --steps 12
 *        --mem-gib 79 (GPU memory: what "max" and the fit check assume) --wgsl PATH
 *        --pools grow,reserve (GpuKvCache page pools: grown 1, 2, 4, ... pages per buffer, the
 *        default, or reserved for the run's longest context: reserveTokens, one buffer per layer)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import '../../ts/codecs/index.js';
import { codecInfo, createCodec } from '../../ts/codecs/registry.js';
import type { StreamCodec } from '../../ts/codecs/types.js';
import { TILE_TOKENS, TILES_PER_PAGE } from '../../ts/format/constants.js';
import { getGpuDevice, type GpuContext } from '../../ts/backends/webgpu/device.js';
import { GpuKvCache } from '../../ts/backends/webgpu/gpu-cache.js';
import { attendInto } from '../../ts/backends/webgpu/attend.js';
import { gaussianKv, outlierKeys } from '../../tests/helpers/data.js';
import { openBenchDevice } from './bench-device.js';

const GiB = 2 ** 30;
function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const log = (m: string): void => { console.error(m); };

interface Model { name: string; layers: number; dim: number; nHeads: number; nKv: number; d: number; ffn: number; theta: number }
const MODELS: Record<string, Model> = {
  'llama3-8b': { name: 'llama3-8b', layers: 32, dim: 4096, nHeads: 32, nKv: 8, d: 128, ffn: 14336, theta: 500000 },
  // LLaMA-2-7B: 32 KV heads (no GQA), FFN 11008
  'llama2-7b': { name: 'llama2-7b', layers: 32, dim: 4096, nHeads: 32, nKv: 32, d: 128, ffn: 11008, theta: 10000 },
};
function parseModel(s: string): Model {
  if (MODELS[s]) return MODELS[s]!;
  const [name, ...n] = s.split(':');
  const [layers, dim, nHeads, nKv, d, ffn, theta] = n.map(Number);
  return { name: name!, layers: layers!, dim: dim!, nHeads: nHeads!, nKv: nKv!, d: d!, ffn: ffn!, theta: theta ?? 10000 };
}

interface Pair { name: string; key: string; value: string; options?: Record<string, unknown> }
const PAIRS: Record<string, Pair> = {
  fp16: { name: 'fp16', key: 'fp16', value: 'fp16' },
  fp32: { name: 'fp32', key: 'fp32', value: 'fp32' },
  kivi2: { name: 'kivi2', key: 'kivi2', value: 'kivi2' },
  kivi4: { name: 'kivi4', key: 'kivi4', value: 'kivi4' },
  q4_0: { name: 'q4_0', key: 'q4_0', value: 'q4_0' },
  // SKVQ K2/V1.5 at the paper's group size 128
  skvq: { name: 'skvq-k2v1.5-g128', key: 'skvq-k2', value: 'skvq-v1.5', options: { groupSize: 128 } },
};

function makeCodec(pair: Pair, m: Model, kind: 'key' | 'value'): StreamCodec {
  const name = kind === 'key' ? pair.key : pair.value;
  const info = codecInfo(name);
  let calibration: unknown;
  if (info.needsCalibration) {
    const data = kind === 'key' ? outlierKeys(512, m.nKv, m.d, 11) : gaussianKv(512, m.nKv, m.d, 12);
    calibration = info.calibrate!({ kind, headDim: m.d, nKvHeads: m.nKv, data, ...(pair.options ? { options: pair.options } : {}) });
  }
  return createCodec(name, { kind, headDim: m.d, nKvHeads: m.nKv, calibration, ...(pair.options && info.needsCalibration ? { options: pair.options } : {}) });
}

const models = flag('models', 'llama3-8b,llama2-7b').split(',').map(parseModel);
const codecNames = flag('codecs', 'fp16,kivi2,kivi4,skvq').split(',');
const contextSpec = flag('contexts', '4096,32768,131072,524288,max').split(',');
const steps = Number(flag('steps', '12'));
const memBytes = Number(flag('mem-gib', '79')) * GiB;
// kept free beside weights, caches and fill staging (Dawn's own allocations, fragmentation)
const marginBytes = Number(flag('margin-gib', '3')) * GiB;
const jsonPath = flag('json', '');
const poolModes = flag('pools', 'grow').split(',') as ('grow' | 'reserve')[];
for (const p of poolModes) if (p !== 'grow' && p !== 'reserve') throw new Error(`--pools: grow or reserve, got ${p}`);
const wgsl = readFileSync(flag('wgsl', 'bench/gpu/decoder-step.wgsl'), 'utf8');
const randomWgsl = readFileSync('bench/gpu/random-rows.wgsl', 'utf8');

const { device, description } = await openBenchDevice();
device.addEventListener?.('uncapturederror', (e) => log(`uncaptured: ${(e as GPUUncapturedErrorEvent).error.message}`));
// the bench's own device, handed to kvpack: the caller-owned-device path
const ctx: GpuContext = await getGpuDevice({ device });
log(`device: ${description}`);
const hasTimestamps = device.features.has('timestamp-query');
const module = device.createShaderModule({ code: wgsl });
const U = GPUBufferUsage;

/** Bytes a pool of `pages` units of `unitBytes` allocates (SlabPool: buffers of first, 2 first, 4 first, ... units up to the binding limit). */
function poolBytes(pages: number, unitBytes: number, first = 1): number {
  const maxUnits = Math.floor(Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize) / unitBytes);
  let bytes = 0;
  for (let b = 0, left = pages; left > 0; b++) {
    const cap = Math.min(maxUnits, first * 2 ** Math.min(b, 20));
    bytes += cap * unitBytes;
    left -= cap;
  }
  return bytes;
}

function weightBytes(m: Model): number {
  const perLayer = (m.nHeads + 2 * m.nKv) * m.d * m.dim + m.nHeads * m.d * m.dim + 3 * m.ffn * m.dim;
  return m.layers * perLayer * 2;
}

function pipe(entryPoint: string, constants: Record<string, number | boolean>): GPUComputePipeline {
  const c: Record<string, number> = {};
  for (const [k, v] of Object.entries(constants)) c[k] = typeof v === 'boolean' ? Number(v) : v;
  return device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint, constants: c } });
}
const bind = (p: GPUComputePipeline, buffers: GPUBuffer[]): GPUBindGroup =>
  device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });

interface Weights { qkv: GPUBuffer; o: GPUBuffer; gu: GPUBuffer; down: GPUBuffer; g1: GPUBuffer; g2: GPUBuffer }

async function makeWeights(m: Model): Promise<Weights[]> {
  const fill = pipe('fill_f16', {});
  const cfg = device.createBuffer({ size: 16, usage: U.STORAGE | U.COPY_DST });
  const ones = new Float32Array(m.dim).fill(1);
  const out: Weights[] = [];
  let seed = 1;
  const mat = (rows: number, cols: number): GPUBuffer => {
    const words = rows * cols / 2;
    const b = device.createBuffer({ size: words * 4, usage: U.STORAGE });
    const c = device.createBuffer({ size: 16, usage: U.STORAGE | U.COPY_DST });
    const cv = new ArrayBuffer(16);
    new Uint32Array(cv, 0, 2).set([seed++, words]);
    new Float32Array(cv, 8, 1)[0] = Math.sqrt(3 / cols); // unit-variance outputs for unit inputs
    device.queue.writeBuffer(c, 0, cv);
    const enc = device.createCommandEncoder();
    const p = enc.beginComputePass();
    p.setPipeline(fill); p.setBindGroup(0, bind(fill, [b, c])); p.dispatchWorkgroups(Math.min(65535, Math.ceil(words / 256)));
    p.end();
    device.queue.submit([enc.finish()]);
    c.destroy();
    return b;
  };
  for (let l = 0; l < m.layers; l++) {
    const g1 = device.createBuffer({ size: m.dim * 4, usage: U.STORAGE | U.COPY_DST });
    const g2 = device.createBuffer({ size: m.dim * 4, usage: U.STORAGE | U.COPY_DST });
    device.queue.writeBuffer(g1, 0, ones); device.queue.writeBuffer(g2, 0, ones);
    out.push({ qkv: mat((m.nHeads + 2 * m.nKv) * m.d, m.dim), o: mat(m.dim, m.nHeads * m.d), gu: mat(2 * m.ffn, m.dim), down: mat(m.dim, m.ffn), g1, g2 });
    await device.queue.onSubmittedWorkDone();
  }
  cfg.destroy();
  return out;
}

interface Row { [k: string]: unknown }
const rows: Row[] = [];
const result: Record<string, unknown> = { date: new Date().toISOString(), adapter: description, command: process.argv.slice(2).join(' '), steps, memGiB: memBytes / GiB, rows };

for (const m of models) {
  log(`== ${m.name}: ${m.layers} layers, dim ${m.dim}, ${m.nHeads}q/${m.nKv}kv x ${m.d}, ffn ${m.ffn}`);
  const wBytes = weightBytes(m);
  const t0 = performance.now();
  const weights = await makeWeights(m);
  log(`weights: ${(wBytes / GiB).toFixed(2)} GiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const qkvFloats = (m.nHeads + 2 * m.nKv) * m.d;
  const act = (floats: number, extra = 0): GPUBuffer => device.createBuffer({ size: floats * 4, usage: U.STORAGE | U.COPY_SRC | U.COPY_DST | extra });
  const x = act(m.dim), xn = act(m.dim), qkv = act(qkvFloats), attn = act(m.nHeads * m.d), gu = act(2 * m.ffn), h = act(m.ffn);
  const pos = device.createBuffer({ size: 16, usage: U.STORAGE | U.COPY_DST });
  const xInit = new Float32Array(m.dim).map((_, i) => Math.sin(i * 0.37) + 0.1);
  const pRms = pipe('rmsnorm', { DIM: m.dim });
  const pQkv = pipe('matvec', { IN_LEN: m.dim, OUT_LEN: qkvFloats });
  const pO = pipe('matvec', { IN_LEN: m.nHeads * m.d, OUT_LEN: m.dim, ACCUMULATE: true });
  const pGu = pipe('matvec', { IN_LEN: m.dim, OUT_LEN: 2 * m.ffn });
  const pDown = pipe('matvec', { IN_LEN: m.ffn, OUT_LEN: m.dim, ACCUMULATE: true });
  const pRope = pipe('rope', { HEAD_DIM: m.d, ROPE_HEADS: m.nHeads + m.nKv, ROPE_THETA: m.theta });
  const pSw = pipe('swiglu', { FFN: m.ffn });
  const pAdv = pipe('advance', {});
  const binds = weights.map((w) => ({
    rms1: bind(pRms, [x, w.g1, xn]), qkv: bind(pQkv, [w.qkv, xn, qkv]), rope: bind(pRope, [qkv, pos]),
    o: bind(pO, [w.o, attn, x]), rms2: bind(pRms, [x, w.g2, xn]), gu: bind(pGu, [w.gu, xn, gu]),
    sw: bind(pSw, [gu, h]), down: bind(pDown, [w.down, h, x]),
  }));
  const advBind = bind(pAdv, [pos]);
  const groups = (rowsOut: number): number => Math.ceil(rowsOut / 4);

  // random K/V rows on the GPU (keys with outlier channels) appended repeatedly to fill caches
  const rowFloats = m.nKv * m.d;
  const fillTokens = 4096;
  const randRows = device.createBuffer({ size: 2 * fillTokens * rowFloats * 4, usage: U.STORAGE | U.COPY_SRC });
  {
    const rp = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: randomWgsl }), entryPoint: 'fill' } });
    const cfg = device.createBuffer({ size: 32, usage: U.STORAGE | U.COPY_DST });
    device.queue.writeBuffer(cfg, 0, new Uint32Array([7, 2 * fillTokens * rowFloats, m.d, 16, fillTokens * rowFloats, 0, 0, 0]));
    const enc = device.createCommandEncoder(); const p = enc.beginComputePass();
    p.setPipeline(rp); p.setBindGroup(0, bind(rp, [randRows, cfg])); p.dispatchWorkgroups(4096); p.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    cfg.destroy();
  }

  // per layer: pass a (begin, end), pass b (begin, end), and an empty marker pass between the
  // append and the attention (its begin): append = marker - end of a, attention = begin of b - marker
  const TS = 5;
  const querySlots = TS * m.layers;
  const qs = hasTimestamps ? device.createQuerySet({ type: 'timestamp', count: querySlots }) : undefined;
  const stepStride = Math.ceil(querySlots * 8 / 256) * 256;
  const resolve = hasTimestamps ? device.createBuffer({ size: stepStride * steps, usage: U.QUERY_RESOLVE | U.COPY_SRC }) : undefined;
  const readTs = hasTimestamps ? device.createBuffer({ size: stepStride * steps, usage: U.COPY_DST | U.MAP_READ }) : undefined;
  // layer 0's attention alone, 16 calls back to back on the same cache (warm, no other work between)
  const qsAlone = hasTimestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : undefined;
  const resAlone = hasTimestamps ? device.createBuffer({ size: 256, usage: U.QUERY_RESOLVE | U.COPY_SRC }) : undefined;
  const readAlone = hasTimestamps ? device.createBuffer({ size: 256, usage: U.COPY_DST | U.MAP_READ }) : undefined;
  const attendAlone = async (c: GpuKvCache): Promise<number | undefined> => {
    if (!qsAlone) return undefined;
    const N = 16, cbs: GPUCommandBuffer[] = [];
    for (let i = 0; i < N; i++) {
      const e = device.createCommandEncoder();
      if (i === 0) e.beginComputePass({ timestampWrites: { querySet: qsAlone, beginningOfPassWriteIndex: 0 } }).end();
      await attendInto(e, c, [0], { queries: { buffer: qkv, offset: 0 }, output: { buffer: attn, offset: 0 }, nHeads: m.nHeads });
      if (i === N - 1) {
        e.beginComputePass({ timestampWrites: { querySet: qsAlone, beginningOfPassWriteIndex: 1 } }).end();
        e.resolveQuerySet(qsAlone, 0, 2, resAlone!, 0);
        e.copyBufferToBuffer(resAlone!, 0, readAlone!, 0, 16);
      }
      cbs.push(e.finish());
    }
    device.queue.submit(cbs);
    await readAlone!.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(readAlone!.getMappedRange().slice(0, 16));
    readAlone!.unmap();
    return Number(t[1]! - t[0]!) / 1e6 / N;
  };

  for (const poolMode of poolModes) for (const codecName of codecNames) {
    const pair = PAIRS[codecName];
    if (!pair) throw new Error(`unknown codec ${codecName}`);
    const key = makeCodec(pair, m, 'key'), value = makeCodec(pair, m, 'value');
    const pageBytes = m.nKv * (key.tileWords + value.tileWords) * 4 * TILES_PER_PAGE;
    const bytesPerToken = m.layers * m.nKv * (key.tileWords + value.tileWords) * 4 / TILE_TOKENS;
    const pagesAt = (T: number): number => Math.ceil((T + 64 * steps) / (TILE_TOKENS * TILES_PER_PAGE));
    // reserve: the first buffer sized for the context itself (what an engine that knows its length asks for)
    const cacheBytesAt = (T: number): number => m.layers * poolBytes(pagesAt(T), pageBytes, poolMode === 'reserve' ? pagesAt(T) : 1);
    // what the step needs beside weights and caches: activations, scratch, fill staging (2 x fill rows)
    const budget = memBytes - wBytes - 4 * fillTokens * rowFloats * 4 - marginBytes;
    let maxT = 0;
    for (let T = 4096; cacheBytesAt(T) <= budget; T += 4096) maxT = T;
    const contexts = [...new Set(contextSpec.map((c) => (c === 'max' ? maxT : Number(c))))].sort((a, b) => a - b);
    const fitting = contexts.filter((T) => T > 0 && cacheBytesAt(T) <= budget);
    const reserveTokens = poolMode === 'reserve' && fitting.length ? pagesAt(Math.max(...fitting)) * TILE_TOKENS * TILES_PER_PAGE : undefined;
    log(`-- ${pair.name} (pools: ${poolMode}${reserveTokens ? `, reserveTokens ${reserveTokens}` : ''}): ${(bytesPerToken / 1024).toFixed(1)} KiB/token over ${m.layers} layers; longest that fits ${maxT} tokens (${(budget / GiB).toFixed(1)} GiB for caches)`);
    const caches: GpuKvCache[] = [];
    for (let l = 0; l < m.layers; l++) {
      caches.push(await GpuKvCache.create({ nKvHeads: m.nKv, headDim: m.d, key, value, window: 0, sinks: 0, gpu: ctx, ...(reserveTokens ? { reserveTokens } : {}) }));
    }
    const release = (): void => { for (const c of caches) c.destroy(); };
    let filled = 0;
    const encodeT0 = performance.now();
    let encodeMs = 0;
    for (const T of contexts) {
      if (T === 0 || cacheBytesAt(T) > budget) {
        rows.push({ model: m.name, codec: pair.name, context: T, skipped: `does not fit: caches ${(cacheBytesAt(T) / GiB).toFixed(1)} GiB + weights ${(wBytes / GiB).toFixed(1)} GiB > ${(memBytes / GiB).toFixed(0)} GiB` });
        log(`${pair.name} ${T}: does not fit`);
        continue;
      }
      // fill every layer to T tokens (the timed steps add a few more)
      const fillT0 = performance.now();
      for (const c of caches) {
        let n = filled, k = 0;
        while (n < T) {
          const add = Math.min(fillTokens, T - n);
          await c.appendFromGpu(0, { buffer: randRows }, { buffer: randRows, offset: fillTokens * rowFloats * 4 }, add);
          n += add;
          if (++k % 8 === 0) await device.queue.onSubmittedWorkDone();
        }
      }
      await device.queue.onSubmittedWorkDone();
      encodeMs += performance.now() - fillT0;
      filled = T;
      device.queue.writeBuffer(pos, 0, new Uint32Array([caches[0]!.length(0), 0, 0, 0]));
      device.queue.writeBuffer(x, 0, xInit);

      const record = async (step: number | undefined): Promise<GPUCommandBuffer> => {
        const enc = device.createCommandEncoder({ label: 'decoder-step' });
        for (let l = 0; l < m.layers; l++) {
          const b = binds[l]!;
          const ts = (i: number): GPUComputePassTimestampWrites | undefined => (qs && step !== undefined ? { querySet: qs, beginningOfPassWriteIndex: TS * l + i, endOfPassWriteIndex: TS * l + i + 1 } : undefined);
          const t1 = ts(0);
          const a = enc.beginComputePass(t1 ? { timestampWrites: t1 } : {});
          a.setPipeline(pRms); a.setBindGroup(0, b.rms1); a.dispatchWorkgroups(1);
          a.setPipeline(pQkv); a.setBindGroup(0, b.qkv); a.dispatchWorkgroups(groups(qkvFloats));
          a.setPipeline(pRope); a.setBindGroup(0, b.rope); a.dispatchWorkgroups(Math.ceil((m.nHeads + m.nKv) * m.d / 2 / 64));
          a.end();
          await caches[l]!.appendFromGpuInto(enc, 0, { buffer: qkv, offset: m.nHeads * m.d * 4 }, { buffer: qkv, offset: (m.nHeads + m.nKv) * m.d * 4 }, 1);
          if (qs && step !== undefined) enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: TS * l + 4 } }).end();
          await attendInto(enc, caches[l]!, [0], { queries: { buffer: qkv, offset: 0 }, output: { buffer: attn, offset: 0 }, nHeads: m.nHeads });
          const t2 = ts(2);
          const bp = enc.beginComputePass(t2 ? { timestampWrites: t2 } : {});
          bp.setPipeline(pO); bp.setBindGroup(0, b.o); bp.dispatchWorkgroups(groups(m.dim));
          bp.setPipeline(pRms); bp.setBindGroup(0, b.rms2); bp.dispatchWorkgroups(1);
          bp.setPipeline(pGu); bp.setBindGroup(0, b.gu); bp.dispatchWorkgroups(groups(2 * m.ffn));
          bp.setPipeline(pSw); bp.setBindGroup(0, b.sw); bp.dispatchWorkgroups(Math.ceil(m.ffn / 256));
          bp.setPipeline(pDown); bp.setBindGroup(0, b.down); bp.dispatchWorkgroups(groups(m.dim));
          if (l === m.layers - 1) { bp.setPipeline(pAdv); bp.setBindGroup(0, advBind); bp.dispatchWorkgroups(1); }
          bp.end();
        }
        if (qs && step !== undefined) enc.resolveQuerySet(qs, 0, querySlots, resolve!, step * stepStride);
        return enc.finish();
      };

      // warm-up (pipelines, first touch), then `steps` steps submitted back to back
      for (let i = 0; i < 3; i++) device.queue.submit([await record(undefined)]);
      await device.queue.onSubmittedWorkDone();
      const w0 = performance.now();
      let recordMs = 0;
      for (let i = 0; i < steps; i++) {
        const r0 = performance.now();
        const cb = await record(i);
        recordMs += performance.now() - r0;
        device.queue.submit([cb]);
      }
      await device.queue.onSubmittedWorkDone();
      const wallMs = (performance.now() - w0) / steps;
      let gpuMs: number | undefined, attnMs: number | undefined, appendMs: number | undefined, attendMs: number | undefined;
      if (resolve && readTs) {
        const enc = device.createCommandEncoder();
        enc.copyBufferToBuffer(resolve, 0, readTs, 0, stepStride * steps);
        device.queue.submit([enc.finish()]);
        await readTs.mapAsync(GPUMapMode.READ);
        const all = new BigUint64Array(readTs.getMappedRange().slice(0));
        readTs.unmap();
        const g: number[] = [], at: number[] = [], ap: number[] = [], ad: number[] = [];
        for (let s = 0; s < steps; s++) {
          const t = (i: number): number => Number(all[s * stepStride / 8 + i]!);
          g.push((t(TS * (m.layers - 1) + 3) - t(0)) / 1e6);
          let a = 0, a1 = 0, a2 = 0;
          for (let l = 0; l < m.layers; l++) {
            a += (t(TS * l + 2) - t(TS * l + 1)) / 1e6;
            a1 += (t(TS * l + 4) - t(TS * l + 1)) / 1e6;
            a2 += (t(TS * l + 2) - t(TS * l + 4)) / 1e6;
          }
          at.push(a); ap.push(a1); ad.push(a2);
        }
        const med = (v: number[]): number => v.sort((p, q) => p - q)[v.length >> 1]!;
        gpuMs = med(g); attnMs = med(at); appendMs = med(ap); attendMs = med(ad);
      }
      const attendAloneMs = await attendAlone(caches[0]!);
      // the residual stream after the steps: finite (a broken kernel would show NaN / Inf)
      const rb = device.createBuffer({ size: m.dim * 4, usage: U.COPY_DST | U.MAP_READ });
      const e2 = device.createCommandEncoder(); e2.copyBufferToBuffer(x, 0, rb, 0, m.dim * 4); device.queue.submit([e2.finish()]);
      await rb.mapAsync(GPUMapMode.READ);
      const xs = new Float32Array(rb.getMappedRange().slice(0)); rb.destroy();
      const finite = xs.every(Number.isFinite);
      const cacheGiB = cacheBytesAt(T) / GiB;
      const row: Row = {
        model: m.name, codec: pair.name, context: T, tokensPerSecond: 1000 / wallMs, stepMs: wallMs,
        gpuStepMs: gpuMs, appendAttentionMs: attnMs, attentionShare: gpuMs && attnMs ? attnMs / gpuMs : undefined,
        appendMs, attendMs, attendAloneMs, pools: poolMode, reserveTokens, pageBuffersPerLayer: caches[0]!.pages.buffers.length,
        hostRecordMs: recordMs / steps, cacheBytesPerToken: bytesPerToken, cacheGiB, weightsGiB: wBytes / GiB, finite,
        longestThatFits: T === maxT,
      };
      rows.push(row);
      log(`${m.name} ${pair.name} ${T}: ${wallMs.toFixed(2)} ms/step = ${(1000 / wallMs).toFixed(1)} tok/s; GPU ${gpuMs?.toFixed(2)} ms, append+attention ${attnMs?.toFixed(2)} ms (${gpuMs && attnMs ? (100 * attnMs / gpuMs).toFixed(0) : '?'}%; append ${appendMs?.toFixed(2)}, attention ${attendMs?.toFixed(2)}, layer 0 alone ${attendAloneMs?.toFixed(3)}; ${caches[0]!.pages.buffers.length} page buffers/layer, pools ${poolMode}), host record ${(recordMs / steps).toFixed(2)} ms; caches ${cacheGiB.toFixed(1)} GiB; finite ${finite}`);
      if (jsonPath) writeFileSync(jsonPath, JSON.stringify(result, null, 1));
    }
    log(`${pair.name}: cache fill (GPU encoders) ${(encodeMs / 1000).toFixed(1)} s of ${((performance.now() - encodeT0) / 1000).toFixed(1)} s`);
    release();
    await device.queue.onSubmittedWorkDone();
  }
  for (const w of weights) for (const b of Object.values(w)) b.destroy();
  for (const b of [x, xn, qkv, attn, gu, h, pos, randRows]) b.destroy();
  qs?.destroy(); resolve?.destroy(); readTs?.destroy(); qsAlone?.destroy(); resAlone?.destroy(); readAlone?.destroy();
  await device.queue.onSubmittedWorkDone();
}
if (jsonPath) writeFileSync(jsonPath, JSON.stringify(result, null, 1));
log('done');
process.exit(0);
