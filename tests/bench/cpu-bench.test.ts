/**
 * The CPU benchmark's own machinery (bench/cpu/), so its numbers compare like with like:
 * - the onnxruntime-node peer (ONNX graphs written in code) computes the same attention as
 *   attendDense, for MHA and GQA, head_dim 8/64/128, token counts not dividing the tile size;
 *   onnxruntime-node is a devDependency: if it is missing this FAILS, it does not skip;
 * - the layout change for the peer ([T][H][d] -> [H][T][d]) is a permutation;
 * - caches filled through the WASM encoder view hold the same words as TS-filled caches, so
 *   the bench's fast fill measures the same cache the reference would build;
 * - the pack-throughput measurement checks WASM words against the TS reference;
 * - interleaved timing alternates its functions.
 * No timing assertions (the machine is shared).
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { createCodec } from '../../ts/codecs/registry.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { attendDense, attendReference } from '../../ts/reference/attention.js';
import { WasmBackend } from '../../ts/backends/wasm.js';
import { toleranceError } from '../../ts/conformance/matrix.js';
import { attentionModelBytes, headMajor, OnnxAttention, type OrtModule } from '../../bench/cpu/onnx-attention.js';
import { gatherTiles, measurePack, withWasmEncoder, WasmTileEncoder } from '../../bench/cpu/wasm-encode.js';
import { median, timeInterleaved } from '../../bench/cpu/timing.js';
import { printScalingTable, summarizeTargets } from '../../bench/cpu/report.js';
import { gaussianKv, outlierKeys, randomQuery } from '../helpers/data.js';
import { maxAbsError } from '../helpers/metrics.js';

const ort = createRequire(import.meta.url)('onnxruntime-node') as OrtModule;

describe('onnxruntime peer', () => {
  // [nHeads, nKvHeads, headDim, tokens]: MHA, GQA 4:1 and 8:1 (LLaMA 32 over 8 KV heads)
  const shapes = [[4, 4, 8, 37], [8, 2, 64, 100], [32, 8, 128, 70], [6, 6, 128, 1]] as const;
  for (const graph of ['matmul', 'attention'] as const) {
    for (const [nHeads, nKvHeads, headDim, tokens] of shapes) {
      it(`${graph} graph = attendDense, ${nHeads}/${nKvHeads} heads x ${headDim}, ${tokens} tokens`, async () => {
        const seed = nHeads * 1000 + headDim + tokens;
        const K = outlierKeys(tokens, nKvHeads, headDim, seed);
        const V = gaussianKv(tokens, nKvHeads, headDim, seed + 1);
        const q = randomQuery(nHeads, headDim, seed + 2);
        const a = await OnnxAttention.create(ort, graph, { nHeads, nKvHeads, headDim, tokens },
          headMajor(K, nKvHeads, headDim), headMajor(V, nKvHeads, headDim), 1);
        const out = await a.step(q);
        await a.release();
        const ref = attendDense(K, V, nKvHeads, headDim, q, nHeads);
        // outputs are convex combinations of N(0,1) value rows (|v| < ~6): 1e-5 absolute is
        // f32 summation order (onnxruntime's blocked GEMM vs a sequential loop), not a wrong head
        expect(out.length).toBe(ref.length);
        expect(maxAbsError(out, ref)).toBeLessThan(1e-5);
      });
    }
  }

  it('the query is fed in place: a second step with another query gives that query\'s output', async () => {
    const [nHeads, nKvHeads, headDim, tokens] = [8, 2, 64, 50];
    const K = gaussianKv(tokens, nKvHeads, headDim, 5), V = gaussianKv(tokens, nKvHeads, headDim, 6);
    const a = await OnnxAttention.create(ort, 'matmul', { nHeads, nKvHeads, headDim, tokens },
      headMajor(K, nKvHeads, headDim), headMajor(V, nKvHeads, headDim), 1);
    for (const seed of [7, 8]) {
      const q = randomQuery(nHeads, headDim, seed);
      expect(maxAbsError(await a.step(q), attendDense(K, V, nKvHeads, headDim, q, nHeads))).toBeLessThan(1e-5);
    }
    await a.release();
  });

  it('rejects shapes that are not GQA-compatible before building a graph', () => {
    expect(() => attentionModelBytes('matmul', { nHeads: 6, nKvHeads: 4, headDim: 8, tokens: 4 })).toThrow(/multiple/);
  });
});

describe('bench helpers', () => {
  it('headMajor moves element (t, g, c) to (g, t, c)', () => {
    const T = 5, H = 3, d = 8;
    const x = Float32Array.from({ length: T * H * d }, (_, i) => i);
    const y = headMajor(x, H, d);
    for (let t = 0; t < T; t++) for (let g = 0; g < H; g++) for (let c = 0; c < d; c++) {
      expect(y[(g * T + t) * d + c]).toBe(x[(t * H + g) * d + c]);
    }
  });

  it('gatherTiles: tile i is head i % H of token block floor(i / H)', () => {
    const H = 3, d = 8, tiles = 7;
    const x = Float32Array.from({ length: 3 * TILE_TOKENS * H * d }, (_, i) => i);
    const g = gatherTiles(x, H, d, tiles);
    const i = 5, h = i % H, t0 = Math.floor(i / H) * TILE_TOKENS, t = 9, c = 3;
    expect(g[i * TILE_TOKENS * d + t * d + c]).toBe(x[((t0 + t) * H + h) * d + c]);
  });

  it('median and interleaved timing: functions alternate, one result per function', async () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    const calls: string[] = [];
    const r = await timeInterleaved([() => calls.push('a'), () => calls.push('b')], 1, 2);
    expect(calls.join('')).toBe('ababab');
    expect(r).toHaveLength(2);
    expect(r[0]!.runs).toBe(2);
  });

  it('summarizeTargets ignores fp32 and picks the best packed codec at 32K, on threads vs onnxruntime threads', () => {
    const row = (codec: string, context: number, speedupVsOrtThreads: number) => ({ shape: "gqa", context, codec, speedupVsOrtThreads, threads: 2,
      speedupVsOrt: speedupVsOrtThreads / 2, speedupVsOrt1t: speedupVsOrtThreads / 2, speedupVsOrt1tCpu: speedupVsOrtThreads / 2 });
    const rows = [row('fp32', 32768, 9), row('kivi2', 32768, 3.5), row('q4_0', 32768, 2), row('kivi2', 4096, 8)];
    const t = summarizeTargets(rows as never, []);
    expect(t.attention32k[0]!.best!.codec).toBe('kivi2');
    expect(t.attention32k[0]!.meeting).toEqual(['kivi2']);
  });

  it('printScalingTable: one row per codec and thread count with its ratios', () => {
    const timing = (ms: number) => ({ medianMs: ms, minMs: ms, cpuMedianMs: ms, runs: 3 });
    const row = (threads: number, ms: number) => ({ shape: 'gqa', context: 32768, codec: 'kivi2', threads, wasmThreads: timing(ms),
      ort: timing(40 / threads), speedupVsOne: 20 / ms, ortSpeedupVsOne: threads, speedupVsOrtSameThreads: 40 / threads / ms, maxAbsVsOneThread: 0 });
    let text = '';
    printScalingTable([row(1, 20), row(4, 6.25)], (s) => { text += s; });
    const lines = text.trim().split('\n');
    expect(lines.at(-2)!.split(/\s+/)).toEqual(['gqa', '32K', 'kivi2', '1', '20.0', '1.00', '40.0', '1.00', '2.00', '0.0e+0']);
    expect(lines.at(-1)!.split(/\s+/)).toEqual(['gqa', '32K', 'kivi2', '4', '6.25', '3.20', '10.0', '4.00', '1.60', '0.0e+0']);
  });
});

describe('WASM encoder view and pack measurement', () => {
  for (const [codecName, headDim, nKvHeads] of [['kivi2', 64, 2], ['q4_0', 128, 1], ['fp16', 8, 3]] as const) {
    it(`${codecName}, ${nKvHeads}x${headDim}: a cache filled through WASM holds the TS cache's words and attends the same`, async () => {
      const backend = await WasmBackend.create();
      const mk = (kind: 'key' | 'value') => createCodec(codecName, { kind, headDim, nKvHeads });
      const key = mk('key'), value = mk('value');
      const kEnc = new WasmTileEncoder(backend.wasm, key), vEnc = new WasmTileEncoder(backend.wasm, value);
      const n = 3 * TILE_TOKENS + 5; // a partial tail too
      const K = outlierKeys(n, nKvHeads, headDim, 11), V = gaussianKv(n, nKvHeads, headDim, 12);
      const viaWasm = new PackedKvCache({ nKvHeads, headDim, key: withWasmEncoder(key, kEnc), value: withWasmEncoder(value, vEnc) });
      const viaTs = new PackedKvCache({ nKvHeads, headDim, key: codecName, value: codecName });
      viaWasm.append(0, K, V);
      viaTs.append(0, K, V);
      expect(viaWasm.key.name).toBe(codecName);
      const a = viaWasm.view(0), b = viaTs.view(0);
      expect(a.tiles).toBe(3);
      expect(a.pages.length).toBe(b.pages.length);
      a.pages.forEach((p, i) => expect(Array.from(p)).toEqual(Array.from(b.pages[i]!)));
      const q = randomQuery(nKvHeads * 2, headDim, 13);
      const out = backend.attendSync(viaWasm, [0], q, nKvHeads * 2);
      // groups of 2 query heads: KIVI takes the integer kernels by default (the backend's tier)
      expect(toleranceError(out, attendReference(viaTs, 0, q, nKvHeads * 2))).toBeLessThanOrEqual(backend.attentionTolerance(viaWasm, nKvHeads * 2));
      backend.forget(viaWasm);
      kEnc.release();
      vEnc.release();
    });
  }

  it('measurePack reports zero differing tiles for codecs whose WASM encoder matches', async () => {
    const backend = await WasmBackend.create();
    const codec = createCodec('q8_0', { kind: 'value', headDim: 64, nKvHeads: 2 });
    const tiles = gatherTiles(gaussianKv(2 * TILE_TOKENS, 2, 64, 21), 2, 64, 4);
    const r = await measurePack(backend.wasm, codec, tiles, 0, 1);
    expect(r.tiles).toBe(4);
    expect(r.mismatchedTiles).toBe(0);
  });

  it('measurePack counts a tile whose words differ (an encoder view that lies)', async () => {
    const backend = await WasmBackend.create();
    const codec = createCodec('q8_0', { kind: 'value', headDim: 64, nKvHeads: 2 });
    const broken = Object.create(codec) as typeof codec;
    Object.defineProperty(broken, 'encodeTile', {
      value: (x: Float32Array, head: number, out: Uint32Array) => { codec.encodeTile(x, head, out); if (head === 1) out[0]! ^= 1; },
    });
    const tiles = gatherTiles(gaussianKv(2 * TILE_TOKENS, 2, 64, 22), 2, 64, 4);
    const r = await measurePack(backend.wasm, broken, tiles, 0, 1);
    expect(r.mismatchedTiles).toBe(2); // tiles 1 and 3 are head 1
  });
});
