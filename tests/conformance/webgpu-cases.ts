/**
 * WebGPU conformance cases, shared by the vitest run on Dawn (tests/conformance/webgpu.test.ts)
 * and the Deno run on wgpu (tests/deno/matrix.ts). No test-framework imports here.
 *
 * Each case builds the same tokens into (a) a host PackedKvCache (TS reference encoders) and
 * (b) a GpuKvCache filled by GpuKvCache.append (WGSL encoders), with different append chunking,
 * then checks:
 *  - words: every sealed tile of every sequence is bit-identical between (a) and (b) (sequence 0
 *    appended from host arrays, sequence 1 from GPU buffers with appendFromGpu);
 *  - mirror: WebGpuBackend.attend over (a) vs attendReference, per sequence;
 *  - resident: WebGpuBackend.attendResident over (b), sequences in another order, vs the same.
 *
 * Tolerance: |gpu - ref| <= ATTEND_TOL * max(1, max |ref|) per sequence. The packed values are
 * identical, so the difference is only float evaluation: f32 dot products and exp() in another
 * order (reference: f64 exp/scores, f32 accumulators), the online-softmax rescaling and the
 * split merge; outlier channels (x30) make scores large, so errors scale with |score| * 2^-24.
 * Observed max ~3e-7 on llvmpipe and lavapipe; 2e-4 leaves room for GPU exp/fma approximations.
 */
import '../../ts/codecs/index.js';
import { PackedKvCache, type CacheOptions } from '../../ts/cache/kv-cache.js';
import { attendReference } from '../../ts/reference/attention.js';
import { toleranceError } from '../../ts/conformance/matrix.js';
import { TILES_PER_PAGE } from '../../ts/format/constants.js';
import { GpuKvCache } from '../../ts/backends/webgpu/gpu-cache.js';
import { WebGpuBackend } from '../../ts/backends/webgpu/backend.js';
import { BufferUsage, writeArray } from '../../ts/backends/webgpu/device.js';
import type { AttendDriverFn, AttendKernel } from '../../ts/backends/webgpu/shaders.js';
import { gaussianKv, outlierKeys, randomQuery } from '../helpers/data.js';

export const ATTEND_TOL = 2e-4;

export interface WebGpuCase {
  name: string;
  key: string;
  value: string;
  nKvHeads: number;
  headDim: number;
  nHeads: number;
  window: number;
  sinks: number;
  /** Tokens of each sequence (2 sequences: ids 0 and 1). */
  lengths: [number, number];
  data: 'gaussian' | 'outlier';
  /** GPU buffer and split settings that force multi-buffer caches and many partials. */
  pagesPerBuffer?: number;
  tilesPerSplit?: number;
  /** Split GPU appends into steps of this many tokens (as a large prefill is split). */
  appendChunkTokens?: number;
  /** Backend option kernel: force a tile kernel (default: the automatic choice). */
  kernel?: AttendKernel;
  /** Backend option driver: a driver composed outside the library (bench/gpu/matrix/driver.ts). */
  driver?: AttendDriverFn;
}

export interface WebGpuCaseResult {
  name: string;
  /** Tiles compared (both sequences) and how many differed in any word. */
  tiles: number;
  tileMismatches: number;
  /** First mismatch, for the report. */
  firstMismatch?: string;
  mirrorErr: number;
  residentErr: number;
  tol: number;
  pass: boolean;
  ms: number;
}

/**
 * The WGSL drivers' and GpuKvCache's own cases (every codec on the shared shapes is the
 * conformance matrix's: ts/conformance/matrix.ts, tests/conformance/matrix.test.ts and
 * tests/deno/matrix.ts): head_dim 40 and 256, head blocks, mixed widths in one shader, each
 * attention kernel forced, several GPU buffers, appends from GPU buffers, resident attention.
 */
export function webGpuCases(): WebGpuCase[] {
  const cases: WebGpuCase[] = [];
  // head_dim 40: not a multiple of 32, so KIVI value groups and q8_0/q4_0 blocks span tokens
  cases.push({ name: 'kivi2 d40 kv2 h4', key: 'kivi2', value: 'kivi2', nKvHeads: 2, headDim: 40, nHeads: 4, window: 2, sinks: 0, lengths: [90, 64], data: 'outlier' });
  cases.push({ name: 'q4_0/kivi8 d40 kv1 h2', key: 'q4_0', value: 'kivi8', nKvHeads: 1, headDim: 40, nHeads: 2, window: 0, sinks: 3, lengths: [100, 45], data: 'outlier' });
  // head_dim 256 (MAX_HEAD_DIM): the driver's workgroup arrays at their largest
  cases.push({ name: 'kivi4 d256 kv1 h2', key: 'kivi4', value: 'kivi4', nKvHeads: 1, headDim: 256, nHeads: 2, window: 3, sinks: 0, lengths: [70, 35], data: 'outlier' });
  cases.push({ name: 'q8_0/fp32 d256 kv2 h16', key: 'q8_0', value: 'fp32', nKvHeads: 2, headDim: 256, nHeads: 16, window: 0, sinks: 1, lengths: [66, 40], data: 'outlier' });
  // GQA group 12 > 8: two head blocks per KV head
  cases.push({ name: 'q4_0 d64 kv1 h12', key: 'q4_0', value: 'q4_0', nKvHeads: 1, headDim: 64, nHeads: 12, window: 0, sinks: 0, lengths: [96, 50], data: 'outlier' });
  // keys and values with different codecs and widths in one shader (K_BITS != V_BITS)
  cases.push({ name: 'kivi2/kivi8 d64 kv2 h4', key: 'kivi2', value: 'kivi8', nKvHeads: 2, headDim: 64, nHeads: 4, window: 32, sinks: 0, lengths: [130, 90], data: 'outlier' });
  cases.push({ name: 'q4_0/fp16 d128 kv1 h4', key: 'q4_0', value: 'fp16', nKvHeads: 1, headDim: 128, nHeads: 4, window: 0, sinks: 2, lengths: [100, 70], data: 'outlier' });
  // KIVI word-load path (wgsl/kivi/words.wgsl, forced: the folded kernel is the automatic
  // choice at these head sizes) on the benchmark's shape class: head_dim 128 GQA 4 with a
  // partial last tile, and group 12 (two head blocks) at head_dim 64
  cases.push({ name: 'kivi2 d128 kv2 h8 GQA words', key: 'kivi2', value: 'kivi2', nKvHeads: 2, headDim: 128, nHeads: 8, window: 0, sinks: 0, lengths: [141, 77], data: 'outlier', tilesPerSplit: 2, kernel: 'words' });
  cases.push({ name: 'kivi4 d64 kv1 h12 words', key: 'kivi4', value: 'kivi4', nKvHeads: 1, headDim: 64, nHeads: 12, window: 0, sinks: 1, lengths: [110, 66], data: 'outlier', kernel: 'words' });
  // the folded KIVI kernel (wgsl/attend/fold.wgsl with kivi/fold.wgsl, the automatic choice): GQA 4 (4 heads per
  // workgroup), MHA (1), group 12 (3 head blocks), group 3, group 6 (4 + 2: the second block
  // repeats its last head), mixed 2/4-bit keys and values, split sizes that leave rows of a
  // round idle (5, 6 tiles per work item over 4 rows), many tiles per work item, 2 pages
  cases.push({ name: 'kivi2 d128 kv2 h8 GQA fold', key: 'kivi2', value: 'kivi2', nKvHeads: 2, headDim: 128, nHeads: 8, window: 0, sinks: 0, lengths: [141, 77], data: 'outlier', tilesPerSplit: 2 });
  cases.push({ name: 'kivi4 d64 kv1 h12 fold', key: 'kivi4', value: 'kivi4', nKvHeads: 1, headDim: 64, nHeads: 12, window: 0, sinks: 1, lengths: [110, 66], data: 'outlier' });
  cases.push({ name: 'kivi2 d128 kv3 h3 MHA fold', key: 'kivi2', value: 'kivi2', nKvHeads: 3, headDim: 128, nHeads: 3, window: 5, sinks: 2, lengths: [420, 199], data: 'outlier', tilesPerSplit: 5 });
  cases.push({ name: 'kivi4 d128 kv1 h4 fold', key: 'kivi4', value: 'kivi4', nKvHeads: 1, headDim: 128, nHeads: 4, window: 0, sinks: 0, lengths: [700, 64], data: 'gaussian', tilesPerSplit: 6 });
  cases.push({ name: 'kivi2/kivi4 d64 kv2 h6 fold', key: 'kivi2', value: 'kivi4', nKvHeads: 2, headDim: 64, nHeads: 6, window: 0, sinks: 0, lengths: [333, 97], data: 'outlier', tilesPerSplit: 3 });
  cases.push({ name: 'kivi4/kivi2 d128 kv1 h3 fold', key: 'kivi4', value: 'kivi2', nKvHeads: 1, headDim: 128, nHeads: 3, window: 9, sinks: 0, lengths: [260, 40], data: 'outlier', tilesPerSplit: 64 });
  cases.push({ name: 'kivi2 d64 kv2 h4 2 pages fold', key: 'kivi2', value: 'kivi2', nKvHeads: 2, headDim: 64, nHeads: 4, window: 0, sinks: 0,
    lengths: [TILES_PER_PAGE * 32 + 100, 130], data: 'outlier', pagesPerBuffer: 1, tilesPerSplit: 7 });
  // the folded q8_0/q4_0 kernel (wgsl/q-block/fold.wgsl): 8-bit keys with 4-bit values and the
  // reverse (q4_0's -8 on either side), GQA 4 and MHA, a generic fallback forced for comparison
  cases.push({ name: 'q8_0/q4_0 d128 kv2 h8 GQA fold', key: 'q8_0', value: 'q4_0', nKvHeads: 2, headDim: 128, nHeads: 8, window: 0, sinks: 1, lengths: [141, 77], data: 'outlier', tilesPerSplit: 2 });
  cases.push({ name: 'q4_0/q8_0 d64 kv2 h2 MHA fold', key: 'q4_0', value: 'q8_0', nKvHeads: 2, headDim: 64, nHeads: 2, window: 7, sinks: 0, lengths: [260, 99], data: 'gaussian', tilesPerSplit: 3 });
  cases.push({ name: 'q8_0 d128 kv1 h4 generic', key: 'q8_0', value: 'q8_0', nKvHeads: 1, headDim: 128, nHeads: 4, window: 0, sinks: 0, lengths: [150, 40], data: 'outlier', kernel: 'generic' });
  // crosses a page (64 tiles) with one page per GPU buffer: the cache spans 2 buffers
  cases.push({ name: 'kivi2 d8 kv2 h4 2 pages', key: 'kivi2', value: 'kivi2', nKvHeads: 2, headDim: 8, nHeads: 4, window: 16, sinks: 0,
    lengths: [TILES_PER_PAGE * 32 + 200, 300], data: 'outlier', pagesPerBuffer: 1, tilesPerSplit: 16, appendChunkTokens: 45 });
  return cases;
}

function kvData(c: WebGpuCase, n: number, seed: number): { K: Float32Array; V: Float32Array } {
  const K = c.data === 'outlier'
    ? outlierKeys(n, c.nKvHeads, c.headDim, seed)
    : gaussianKv(n, c.nKvHeads, c.headDim, seed);
  return { K, V: gaussianKv(n, c.nKvHeads, c.headDim, seed + 1000) };
}

/** Runs one case on `backend` (which owns the device); throws only on infrastructure errors. */
export async function runWebGpuCase(c: WebGpuCase, backend: WebGpuBackend): Promise<WebGpuCaseResult> {
  const t0 = performance.now();
  const opts: CacheOptions = { nKvHeads: c.nKvHeads, headDim: c.headDim, key: c.key, value: c.value, window: c.window, sinks: c.sinks };
  const host = new PackedKvCache(opts);
  const gpu = await GpuKvCache.create({ ...opts, gpu: backend.gpu, ...(c.pagesPerBuffer ? { pagesPerBuffer: c.pagesPerBuffer } : {}),
    ...(c.appendChunkTokens ? { appendChunkTokens: c.appendChunkTokens } : {}) });
  const tf = c.nKvHeads * c.headDim;
  const data = c.lengths.map((n, seq) => kvData(c, n, 17 + 31 * seq + c.headDim));
  try {
    // host: one append per sequence; GPU: uneven chunks (single tokens, then large batches),
    // sequence 0 from host arrays (append), sequence 1 from GPU buffers (appendFromGpu)
    for (let seq = 0; seq < 2; seq++) {
      const { K, V } = data[seq]!;
      host.append(seq, K, V);
      const n = c.lengths[seq]!;
      const cuts = [0, 1, 2, Math.min(n, 37), Math.min(n, 37 + Math.floor((n - 37) / 2)), n].filter((x, i, a) => x <= n && (i === 0 || x > a[i - 1]!));
      if (seq === 0) {
        for (let i = 1; i < cuts.length; i++) {
          await gpu.append(seq, K.subarray(cuts[i - 1]! * tf, cuts[i]! * tf), V.subarray(cuts[i - 1]! * tf, cuts[i]! * tf));
        }
      } else {
        // sequence 1 arrives from GPU buffers (keys and values in one buffer), as from a GPU forward pass
        const dev = backend.gpu.device;
        const src = dev.createBuffer({ size: K.byteLength * 2, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST });
        writeArray(dev.queue, src, 0, K);
        writeArray(dev.queue, src, K.byteLength, V);
        for (let i = 1; i < cuts.length; i++) {
          const at = cuts[i - 1]! * tf * 4;
          await gpu.appendFromGpu(seq, { buffer: src, offset: at }, { buffer: src, offset: K.byteLength + at }, cuts[i]! - cuts[i - 1]!);
        }
        src.destroy();
      }
    }
    // words
    let tiles = 0, tileMismatches = 0;
    let firstMismatch: string | undefined;
    for (let seq = 0; seq < 2; seq++) {
      const v = host.view(seq);
      const g = gpu.sequence(seq)!;
      if (g.tiles !== v.tiles) {
        tileMismatches += Math.abs(g.tiles - v.tiles);
        firstMismatch ??= `seq ${seq}: GPU sealed ${g.tiles} tiles, host ${v.tiles}`;
      }
      for (let p = 0; p < v.pages.length; p++) {
        const words = await gpu.readPage(seq, p);
        const hostPage = v.pages[p]!;
        const inPage = Math.min(TILES_PER_PAGE, v.tiles - p * TILES_PER_PAGE);
        for (let t = 0; t < inPage; t++) {
          tiles++;
          const o = t * host.tileSlotWords;
          for (let w = 0; w < host.tileSlotWords; w++) {
            if (words[o + w] !== hostPage[o + w]) {
              tileMismatches++;
              firstMismatch ??= `seq ${seq} tile ${p * TILES_PER_PAGE + t} word ${w}: gpu 0x${words[o + w]!.toString(16)} ts 0x${hostPage[o + w]!.toString(16)}`;
              break;
            }
          }
        }
      }
    }
    // attention: one query per sequence
    const d = c.headDim;
    const q = new Float32Array(2 * c.nHeads * d);
    q.set(randomQuery(c.nHeads, d, 5 + d), 0);
    q.set(randomQuery(c.nHeads, d, 6 + d), c.nHeads * d);
    const refs = [0, 1].map((seq) => attendReference(host, seq, q.subarray(seq * c.nHeads * d, (seq + 1) * c.nHeads * d), c.nHeads));
    const be = new WebGpuBackend(backend.gpu, {
      ...(c.tilesPerSplit ? { tilesPerSplit: c.tilesPerSplit } : {}),
      ...(c.pagesPerBuffer ? { pagesPerBuffer: c.pagesPerBuffer } : {}),
      ...(c.kernel ? { kernel: c.kernel } : {}),
      ...(c.driver ? { driver: c.driver } : {}),
    });
    let mirrorErr = 0, residentErr = 0;
    try {
      const mirror = await be.attend(host, [0, 1], q, c.nHeads);
      for (let seq = 0; seq < 2; seq++) mirrorErr = Math.max(mirrorErr, toleranceError(mirror.subarray(seq * c.nHeads * d, (seq + 1) * c.nHeads * d), refs[seq]!));
      // resident, batch in reverse order
      const qr = new Float32Array(q.length);
      qr.set(q.subarray(c.nHeads * d), 0);
      qr.set(q.subarray(0, c.nHeads * d), c.nHeads * d);
      const resident = await be.attendResident(gpu, [1, 0], qr, c.nHeads);
      residentErr = Math.max(toleranceError(resident.subarray(0, c.nHeads * d), refs[1]!), toleranceError(resident.subarray(c.nHeads * d), refs[0]!));
    } finally {
      be.dispose();
    }
    const pass = tileMismatches === 0 && tiles > 0 && mirrorErr <= ATTEND_TOL && residentErr <= ATTEND_TOL;
    const result: WebGpuCaseResult = { name: c.name, tiles, tileMismatches, mirrorErr, residentErr, tol: ATTEND_TOL, pass, ms: Math.round(performance.now() - t0) };
    if (firstMismatch !== undefined) result.firstMismatch = firstMismatch;
    return result;
  } finally {
    gpu.destroy();
  }
}

/** A fixed-width table of results, one line per case. */
export function formatWebGpuResults(results: readonly WebGpuCaseResult[]): string {
  const head = `${'case'.padEnd(30)} ${'tiles'.padStart(6)} ${'bad'.padStart(4)} ${'mirror err'.padStart(11)} ${'resident err'.padStart(12)} ${'ms'.padStart(6)}  result`;
  const lines = results.map((r) => `${r.name.padEnd(30)} ${String(r.tiles).padStart(6)} ${String(r.tileMismatches).padStart(4)} ${r.mirrorErr.toExponential(2).padStart(11)} ${r.residentErr.toExponential(2).padStart(12)} ${String(r.ms).padStart(6)}  ${r.pass ? 'pass' : `FAIL${r.firstMismatch ? ` (${r.firstMismatch})` : ''}`}`);
  return [head, ...lines].join('\n');
}
