/**
 * CPU benchmark (issue 6, CPU half): decode attention over packed caches on WebAssembly SIMD vs
 * the plain-TS reference vs onnxruntime-node over an fp32 cache, LLaMA-2-7B head shape, batch 1,
 * contexts 4K..32K; plus quantize+pack throughput WASM vs TS reference per codec.
 * Everything is measured in one process, one run, so the ratios share the machine's state.
 *
 *   npm run bench:cpu                      # full run (~10 min on 2 cores), overwrites bench/results/cpu.json
 *   npm run bench:cpu -- --quick           # 4K only, few repeats (a smoke run)
 *   npm run bench:cpu -- --contexts 4096,32768 --shapes gqa --codecs fp32,kivi2   # partial: build/bench/cpu-partial.json
 *   node build/bench/cpu-attention.js --wasm /tmp/other.wasm ...   # A/B a kernel build
 *   node build/bench/cpu-attention.js --exact ...   # float kernels only (integerAttention: false; default: integer for GQA)
 *   node --experimental-wasm-relaxed-simd build/bench/cpu-attention.js ...  # the relaxed-SIMD build on Node 20
 *
 * Method (bench/README.md "CPU benchmark" says why):
 *  - Data: seeded LLaMA-like keys with outlier channels, Gaussian values and queries
 *    (tests/helpers/data.ts); every token of the context is packed (window 0, no sinks).
 *  - onnxruntime peer: bench/cpu/onnx-attention.ts, both graphs (MatMul/Softmax and the
 *    Attention operator) at onnxruntime's default threads, the faster one is the peer; that
 *    graph is also timed with 1 thread (WASM runs on one thread).
 *  - Error: relative L2 error of the WASM output vs onnxruntime's fp32 output (= exact fp32
 *    attention), and max |WASM - TS reference| for the same packed cache (conformance).
 *  - Bytes per step: packed tiles (K+V, all heads) + codec params + fp32 regions, i.e. what one
 *    decode step must read; GB/s = those bytes / median time.
 */
import { parseArgs } from 'node:util';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { codecInfo, createCodec, tileBitsPerElement } from '../../ts/codecs/index.js';
import type { StreamCodec, StreamKind } from '../../ts/codecs/types.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { attendReference } from '../../ts/reference/attention.js';
import { WasmBackend, loadKvpackWasm } from '../../ts/backends/wasm.js';
import { chooseWasmBuild, WASM_BUILD_FILES } from '../../ts/backends/wasm-loader.js';
import { WasmThreadsBackend } from '../../ts/backends/wasm-threads.js';
import { wasmKernelsFor } from '../../ts/backends/wasm-kernels.js';
import { gaussianKv, outlierKeys, randomQuery } from '../../tests/helpers/data.js';
import { maxAbsError, relativeError } from '../../tests/helpers/metrics.js';
import { describeMachine } from './machine.js';
import { OnnxAttention, headMajor, type OnnxAttentionGraph, type OrtModule } from './onnx-attention.js';
import { timeInterleaved, timeIt, type Timing } from './timing.js';
import { gatherTiles, measurePack, withWasmEncoder, WasmTileEncoder, type PackThroughput } from './wasm-encode.js';
import { formatTargets, printAttentionTable, printPackTable, printScalingTable, summarizeTargets } from './report.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface BenchShape {
  name: string;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

const SHAPES: Record<string, BenchShape> = {
  mha: { name: 'mha', nHeads: 32, nKvHeads: 32, headDim: 128 },
  gqa: { name: 'gqa', nHeads: 32, nKvHeads: 8, headDim: 128 },
};

/** Every codec with WASM kernels for both of its streams; SKVQ as its K2/V1.5 pairing. */
const DEFAULT_CODECS = ['fp32', 'fp16', 'q8_0', 'q4_0', 'kivi4', 'kivi2', 'skvq-k2:skvq-v1.5', 'cq-4c8b'];

/** Repeats by context: fewer where one step takes longer (the full run must stay ~10 minutes). */
function repeats(ctx: number, quick: boolean): { warmup: number; runs: number; tsRuns: number } {
  if (quick) return { warmup: 1, runs: 3, tsRuns: 1 };
  if (ctx <= 4096) return { warmup: 2, runs: 7, tsRuns: 2 };
  if (ctx <= 8192) return { warmup: 1, runs: 5, tsRuns: 1 };
  return { warmup: 1, runs: 3, tsRuns: 1 };
}

export interface OrtRow {
  shape: string;
  context: number;
  graph: OnnxAttentionGraph;
  threads: number | 'default';
  ms: number;
  bytesPerStep: number;
  gbPerS: number;
  /** Relative L2 error vs the 'matmul' graph output at default threads (the fp32 reference). */
  relErrVsMatmul: number;
}

export interface AttentionRow {
  shape: string;
  context: number;
  codec: string;
  keyBits: number;
  valueBits: number;
  bytesPerStep: number;
  wasm: Timing;
  ts: Timing | null;
  ortMs: number;
  ortGraph: OnnxAttentionGraph;
  ort1tMs: number;
  /** onnxruntime at 1 thread, process CPU time (see Timing.cpuMedianMs). */
  ort1tCpuMs: number;
  wasmGBs: number;
  /** Wall-time ratios: onnxruntime (default threads, faster graph) / WASM, and at 1 thread. */
  speedupVsOrt: number;
  speedupVsOrt1t: number;
  /** CPU-time ratio onnxruntime 1 thread / WASM: both single-threaded, robust to other load. */
  speedupVsOrt1tCpu: number;
  /** CPU-time ratio TS reference / WASM (both single-threaded). */
  speedupVsTs: number | null;
  relErrVsFp32: number;
  maxAbsErrVsFp32: number;
  /** max |WASM - TS reference| over the same packed cache; null when the TS run was skipped. */
  wasmVsTsMaxAbs: number | null;
  /**
   * The same kernels on worker threads (WasmThreadsBackend): wall time, thread count. Null only in
   * result files from before the threads carried calibrated codecs (SKVQ, CQ rows up to 2026-11-26).
   */
  wasmThreads: Timing | null;
  threads: number;
  /** Wall-time ratio onnxruntime (default threads) / WASM threads (or / WASM where null). */
  speedupVsOrtThreads: number;
  /** max |WASM threads - WASM 1 thread|: 0 (same kernels, same words); null without threads. */
  threadsVsWasmMaxAbs: number | null;
}

/** One codec at one thread count (--scaling): WASMt and onnxruntime (same graph as ORT) wall times. */
export interface ScalingRow {
  shape: string;
  context: number;
  codec: string;
  threads: number;
  wasmThreads: Timing;
  ort: Timing;
  /** WASM 1 thread (the main row's, same run) / WASMt at this count: wall-time scaling. */
  speedupVsOne: number;
  /** onnxruntime 1 thread / onnxruntime at this count. */
  ortSpeedupVsOne: number;
  /** onnxruntime / WASMt at the same thread count. */
  speedupVsOrtSameThreads: number;
  maxAbsVsOneThread: number;
}

interface Pairing { label: string; key: string; value: string }

function parsePairing(spec: string): Pairing {
  const [key, value = key] = spec.split(':');
  if (!key || !value) throw new Error(`bad codec spec '${spec}'`);
  return { label: spec, key, value };
}

/** Calibrated codecs (SKVQ, CQ) calibrate on the first tokens of the same data. */
function makeCodec(name: string, kind: StreamKind, shape: BenchShape, data: Float32Array, calibTokens: number): StreamCodec {
  const info = codecInfo(name);
  const ctx = { kind, headDim: shape.headDim, nKvHeads: shape.nKvHeads };
  if (!info.needsCalibration) return createCodec(name, ctx);
  if (!info.calibrate) throw new Error(`codec '${name}' needs calibration but has no calibrate hook`);
  const sample = data.subarray(0, calibTokens * shape.nKvHeads * shape.headDim);
  const calibration = info.calibrate({ kind, headDim: shape.headDim, nKvHeads: shape.nKvHeads, data: sample });
  return createCodec(name, { ...ctx, calibration });
}

/** Kernel table lookup by name (a calibrated codec's instance is checked again once built). */
function hasWasm(name: string, kind: StreamKind): boolean {
  try {
    const info = codecInfo(name);
    return info.streams.includes(kind) && !info.createCache && info.kernels?.wasm !== undefined;
  } catch {
    return false;
  }
}

async function loadOrt(): Promise<OrtModule> {
  const m = (await import('onnxruntime-node')) as unknown as { default?: OrtModule } & OrtModule;
  return m.default ?? m;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      contexts: { type: 'string' },
      shapes: { type: 'string', default: 'mha,gqa' },
      codecs: { type: 'string' },
      'ts-max-context': { type: 'string', default: '4096' },
      'pack-tokens': { type: 'string', default: '256' },
      'calib-tokens': { type: 'string', default: '256' },
      out: { type: 'string' },
      /** Another kernel build (A/B of a kernel change); default the loader's choice (chooseWasmBuild). */
      wasm: { type: 'string' },
      /** The integer-domain KIVI (GQA) and SKVQ kernels (WasmBackendOptions.integerAttention): the default since D43. */
      integer: { type: 'boolean', default: false },
      /** WASM and WASMt on the float kernels everywhere (integerAttention: false, the exact tier). */
      exact: { type: 'boolean', default: false },
      /** Thread counts for the scaling table (WASMt at each count vs onnxruntime at each count), e.g. 1,2,4,8,16. */
      scaling: { type: 'string' },
      /** Codecs of the scaling table (default: every benchmarked pairing). */
      'scaling-codecs': { type: 'string' },
    },
  });
  const quick = values.quick!;
  const contexts = (values.contexts ?? (quick ? '4096' : '4096,8192,16384,32768')).split(',').map(Number);
  if (contexts.some((c) => !Number.isInteger(c) || c <= 0 || c % TILE_TOKENS !== 0)) {
    throw new Error(`--contexts: positive multiples of ${TILE_TOKENS} expected`);
  }
  const shapes = values.shapes!.split(',').map((s) => {
    const sh = SHAPES[s];
    if (!sh) throw new Error(`--shapes: unknown shape '${s}' (known: ${Object.keys(SHAPES).join(', ')})`);
    return sh;
  });
  const pairings = (values.codecs ? values.codecs.split(',') : DEFAULT_CODECS).map(parsePairing);
  const packTokens = Number(values['pack-tokens']), calibTokens = Number(values['calib-tokens']);
  const tsMaxContext = Number(values['ts-max-context']);
  // bench/results keeps the latest full run of each benchmark (bench/README.md "Results");
  // partial runs (a subset, another kernel build) go to build/bench unless --out says otherwise
  if (values.integer && values.exact) throw new Error('--integer and --exact exclude each other');
  const name = values.exact ? 'cpu-exact' : 'cpu';
  const partial = quick || values.contexts !== undefined || values.codecs !== undefined || values.shapes !== 'mha,gqa' || values.wasm !== undefined;
  const outPath = values.out ?? (partial ? join(root, 'build', 'bench', `${name}-partial.json`) : join(root, 'bench', 'results', `${name}.json`));
  const maxCtx = Math.max(...contexts);
  const scalingThreads = values.scaling ? values.scaling.split(',').map(Number) : [];
  if (scalingThreads.some((t) => !Number.isInteger(t) || t < 1 || t > 64)) throw new Error('--scaling: thread counts in 1..64 expected');
  const scalingCodecs = values['scaling-codecs']?.split(',');

  const machine = describeMachine();
  const ort = await loadOrt();
  const wasmPath = values.wasm ?? join(root, 'build', WASM_BUILD_FILES[chooseWasmBuild()]);
  // compiled once: every backend of the run (one thread, the pools of every thread count) runs the
  // same module, so V8's optimized code of the kernels is shared; a pool compiled from bytes ran
  // its first steps in baseline code, inside the timed runs (decisions.md#D44)
  const wasmModule = await WebAssembly.compile(new Uint8Array(readFileSync(wasmPath)));
  const integerAttention = !values.exact;
  const backend = new WasmBackend(await loadKvpackWasm(wasmModule), { integerAttention });
  const wasm = backend.wasm;
  // the same kernels on worker threads (one per logical CPU); the workers load dist/index.js
  const threaded = await WasmThreadsBackend.create({ wasm: wasmModule, workerModule: pathToFileURL(join(root, 'dist', 'index.js')), integerAttention });
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  log(`machine: ${machine.cpuModel}, ${machine.logicalCpus} logical CPUs, node ${machine.node}, onnxruntime-node ${ort.env.versions?.node ?? '?'}`);
  log(`kernels: ${wasmPath} (${wasm.build} build, ${integerAttention ? 'integer-domain KIVI (GQA) and SKVQ kernels' : 'float kernels only (--exact)'})`);

  const ortRows: OrtRow[] = [];
  const rows: AttentionRow[] = [];
  const pack: PackThroughput[] = [];
  const scaling: ScalingRow[] = [];
  const skipped: string[] = [];
  const started = performance.now();
  const result = () => ({
    date: new Date().toISOString(), machine, onnxruntimeNode: ort.env.versions?.node ?? null,
    settings: { wasm: wasmPath, wasmBuild: wasm.build, integerAttention, contexts, shapes, codecs: pairings.map((p) => p.label), quick, window: 0, sinks: 0, batch: 1, packTokens, calibTokens, tsMaxContext },
    ort: ortRows, attention: rows, pack, scaling, skipped,
    targets: summarizeTargets(rows, pack),
    seconds: (performance.now() - started) / 1000,
  });
  const save = () => {
    mkdirSync(dirname(outPath), { recursive: true });
    writeFileSync(outPath, JSON.stringify(result(), null, 1) + '\n');
  };

  for (const shape of shapes) {
    const { nHeads, nKvHeads, headDim: d } = shape;
    const tf = nKvHeads * d;
    log(`[${shape.name}] generating ${maxCtx} tokens of ${nKvHeads}x${d} keys/values`);
    const K = outlierKeys(maxCtx, nKvHeads, d, 1000 + nKvHeads);
    const V = gaussianKv(maxCtx, nKvHeads, d, 2000 + nKvHeads);

    // codecs of this shape (calibrated ones once), and their quantize+pack throughput
    const prepared: { p: Pairing; key: StreamCodec; value: StreamCodec }[] = [];
    for (const p of pairings) {
      const skip = (why: string): void => {
        if (shape === shapes[0]) skipped.push(`${p.label}: ${why}`);
        log(`[${shape.name}] skip ${p.label}: ${why}`);
      };
      if (!hasWasm(p.key, 'key') || !hasWasm(p.value, 'value')) {
        skip('no WASM kernels for both streams');
        continue;
      }
      const tc = performance.now();
      const key = makeCodec(p.key, 'key', shape, K, calibTokens);
      const value = makeCodec(p.value, 'value', shape, V, calibTokens);
      if (!wasmKernelsFor(key) || !wasmKernelsFor(value)) {
        skip('no WASM kernels for this codec configuration');
        continue;
      }
      if (codecInfo(p.key).needsCalibration || codecInfo(p.value).needsCalibration) {
        log(`[${shape.name}] calibrated ${p.label} on ${calibTokens} tokens in ${((performance.now() - tc) / 1000).toFixed(1)} s`);
      }
      prepared.push({ p, key, value });
      // the tile shape (32 tokens x headDim) is the same in every shape: measure once
      if (shape !== shapes[0]) continue;
      const tiles = (packTokens / TILE_TOKENS) * nKvHeads;
      for (const [codec, data] of [[key, K], [value, V]] as const) {
        if (pack.some((x) => x.codec === codec.name && x.kind === codec.kind)) continue;
        const pr = await measurePack(wasm, codec, gatherTiles(data, nKvHeads, d, tiles), quick ? 1 : 2, quick ? 3 : 7);
        pack.push(pr);
        log(`[pack] ${codec.name} ${codec.kind}: TS ${pr.ts.medianMs.toFixed(1)} ms, WASM ${pr.wasm.medianMs.toFixed(1)} ms` +
          ` (kernel ${pr.wasmKernel.medianMs.toFixed(1)}) for ${tiles} tiles${pr.mismatchedTiles ? `, ${pr.mismatchedTiles} TILES DIFFER` : ''}`);
      }
    }

    for (const ctx of contexts) {
      const r = repeats(ctx, quick);
      const q = randomQuery(nHeads, d, 3000 + ctx);
      const ortShape = { nHeads, nKvHeads, headDim: d, tokens: ctx };
      const ortBytes = 2 * ctx * tf * 4;
      const kh = headMajor(K.subarray(0, ctx * tf), nKvHeads, d), vh = headMajor(V.subarray(0, ctx * tf), nKvHeads, d);

      // onnxruntime: both graphs at default threads; the 'matmul' output is the fp32 reference
      const sessions: OnnxAttention[] = [];
      for (const graph of ['matmul', 'attention'] as const) {
        try {
          sessions.push(await OnnxAttention.create(ort, graph, ortShape, kh, vh));
        } catch (e) {
          if (shape === shapes[0] && ctx === contexts[0]) skipped.push(`onnxruntime ${graph} graph: ${(e as Error).message.split('\n')[0]}`);
        }
      }
      if (sessions[0]?.kind !== 'matmul') throw new Error('the onnxruntime MatMul graph failed: no fp32 reference');
      const ref = (await sessions[0].step(q)).slice();
      const graphTimes = await timeInterleaved(sessions.map((s) => () => s.step(q)), r.warmup, r.runs);
      for (let i = 0; i < sessions.length; i++) {
        const s = sessions[i]!, t = graphTimes[i]!;
        const out = (await s.step(q)).slice();
        ortRows.push({ shape: shape.name, context: ctx, graph: s.kind, threads: 'default', ms: t.medianMs, bytesPerStep: ortBytes,
          gbPerS: ortBytes / t.medianMs / 1e6, relErrVsMatmul: relativeError(out, ref) });
        log(`[${shape.name} ${ctx}] onnxruntime ${s.kind}: ${t.medianMs.toFixed(2)} ms`);
      }
      const bestIdx = graphTimes.reduce((bi, t, i) => (t.medianMs < graphTimes[bi]!.medianMs ? i : bi), 0);
      const best = sessions[bestIdx]!;
      for (const s of sessions) if (s !== best) await s.release();
      const one = await OnnxAttention.create(ort, best.kind, ortShape, kh, vh, 1);
      // onnxruntime at each thread count of --scaling (its intra-op threads), same graph
      const ortScaling = new Map<number, Timing>();
      for (const n of scalingThreads) {
        const s = n === 1 ? one : await OnnxAttention.create(ort, best.kind, ortShape, kh, vh, n);
        ortScaling.set(n, await timeIt(() => s.step(q), r.warmup, r.runs));
        if (s !== one) await s.release();
        log(`[${shape.name} ${ctx}] onnxruntime ${best.kind} ${n} threads: ${ortScaling.get(n)!.medianMs.toFixed(2)} ms`);
      }

      for (const { p, key, value } of prepared) {
        const kEnc = new WasmTileEncoder(wasm, key), vEnc = new WasmTileEncoder(wasm, value);
        const cache = new PackedKvCache({
          nKvHeads, headDim: d, key: withWasmEncoder(key, kEnc), value: withWasmEncoder(value, vEnc), window: 0, sinks: 0,
        });
        try {
          cache.append(0, K.subarray(0, ctx * tf), V.subarray(0, ctx * tf));
          const wasmOut = backend.attendSync(cache, [0], q, nHeads).slice(); // also mirrors the pages
          const threadedOut = await threaded.attend(cache, [0], q, nHeads); // and fills the workers' replicas
          const runs: (() => unknown)[] = [() => best.step(q), () => one.step(q), () => backend.attendSync(cache, [0], q, nHeads),
            () => threaded.attend(cache, [0], q, nHeads)];
          const [ortT, ort1T, wasmT, wasmThreadsT] = await timeInterleaved(runs, r.warmup, r.runs);
          let tsT: Timing | null = null, tsDiff: number | null = null;
          if (ctx <= tsMaxContext) {
            let tsOut: Float32Array = new Float32Array(0);
            tsT = await timeIt(() => { tsOut = attendReference(cache, 0, q, nHeads); }, 0, r.tsRuns);
            tsDiff = maxAbsError(wasmOut, tsOut);
          }
          const st = cache.stats();
          const bytes = st.packedBytes + st.paramBytes + st.fpTokens * tf * 2 * 4;
          const row: AttentionRow = {
            shape: shape.name, context: ctx, codec: p.label,
            keyBits: tileBitsPerElement(key), valueBits: tileBitsPerElement(value),
            bytesPerStep: bytes, wasm: wasmT!, ts: tsT,
            ortMs: ortT!.medianMs, ortGraph: best.kind, ort1tMs: ort1T!.medianMs, ort1tCpuMs: ort1T!.cpuMedianMs,
            wasmGBs: bytes / wasmT!.medianMs / 1e6,
            speedupVsOrt: ortT!.medianMs / wasmT!.medianMs,
            speedupVsOrt1t: ort1T!.medianMs / wasmT!.medianMs,
            speedupVsOrt1tCpu: ort1T!.cpuMedianMs / wasmT!.cpuMedianMs,
            speedupVsTs: tsT ? tsT.cpuMedianMs / wasmT!.cpuMedianMs : null,
            relErrVsFp32: relativeError(wasmOut, ref),
            maxAbsErrVsFp32: maxAbsError(wasmOut, ref),
            wasmVsTsMaxAbs: tsDiff,
            wasmThreads: wasmThreadsT!, threads: threaded.threads,
            speedupVsOrtThreads: ortT!.medianMs / wasmThreadsT!.medianMs,
            threadsVsWasmMaxAbs: maxAbsError(threadedOut, wasmOut),
          };
          rows.push(row);
          if (scalingThreads.length && (!scalingCodecs || scalingCodecs.includes(p.label))) {
            for (const n of scalingThreads) {
              const tb = await WasmThreadsBackend.create({ threads: n, wasm: wasmModule, workerModule: pathToFileURL(join(root, 'dist', 'index.js')), integerAttention });
              try {
                const o = await tb.attend(cache, [0], q, nHeads); // mirrors the pages into the workers
                // new workers: a few more untimed steps than the one-thread row (their first
                // calls also page in the replicas and the arena)
                const t = await timeIt(() => tb.attend(cache, [0], q, nHeads), Math.max(3, r.warmup), r.runs);
                const ortN = ortScaling.get(n)!;
                scaling.push({ shape: shape.name, context: ctx, codec: p.label, threads: n, wasmThreads: t, ort: ortN,
                  speedupVsOne: wasmT!.medianMs / t.medianMs, ortSpeedupVsOne: ort1T!.medianMs / ortN.medianMs,
                  speedupVsOrtSameThreads: ortN.medianMs / t.medianMs, maxAbsVsOneThread: maxAbsError(o, wasmOut) });
                log(`[${shape.name} ${ctx}] ${p.label} ${n} threads: WASMt ${t.medianMs.toFixed(2)} ms (x${(wasmT!.medianMs / t.medianMs).toFixed(2)} vs 1), ORT ${ortN.medianMs.toFixed(2)} ms`);
              } finally {
                await tb.forget(cache);
                tb.dispose();
              }
            }
          }
          log(`[${shape.name} ${ctx}] ${p.label}: WASM ${wasmT!.medianMs.toFixed(2)} ms, ${threaded.threads} threads ${wasmThreadsT!.medianMs.toFixed(2)} ms, ORT ${ortT!.medianMs.toFixed(2)} ms` +
            (tsT ? `, TS ${tsT.medianMs.toFixed(1)} ms` : '') + `, x${row.speedupVsOrt.toFixed(2)} vs onnxruntime, err ${row.relErrVsFp32.toExponential(2)}`);
        } finally {
          backend.forget(cache);
          await threaded.forget(cache);
          kEnc.release();
          vEnc.release();
        }
      }
      await best.release();
      await one.release();
      save();
    }
  }
  threaded.dispose();
  const res = result();
  save();
  process.stdout.write(`\nkvpack CPU benchmark, ${new Date().toISOString().slice(0, 10)}: ${machine.cpuModel}, ${machine.logicalCpus} logical CPUs` +
    `${machine.physicalCores ? ` (${machine.physicalCores} cores)` : ''}, ${machine.simdFlags.join('/')}, node ${machine.node}, onnxruntime-node ${res.onnxruntimeNode}\n`);
  process.stdout.write(`WASM = kvpack WebAssembly SIMD, 1 thread; WASMt = the same on ${threaded.threads} worker threads; ORT = onnxruntime-node fp32 (default threads, faster graph); ORT1 = same, 1 thread; TS = kvpack TS reference.\n` +
    'ms = median wall time; cpu = median process CPU time (single-threaded runs: robust to other load); xORT, xORT1, xORTt (ORT / WASMt) wall ratios, xORT1c and xTS CPU-time ratios\n\n');
  printAttentionTable(rows, (s) => process.stdout.write(s));
  printPackTable(pack, packTokens, shapes[0]!, (s) => process.stdout.write(s));
  if (scaling.length) printScalingTable(scaling, (s) => process.stdout.write(s));
  process.stdout.write('\n' + formatTargets(res.targets));
  process.stdout.write(`wrote ${outPath} (${res.seconds.toFixed(0)} s)\n`);
}

await main();
