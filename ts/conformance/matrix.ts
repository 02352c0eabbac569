/**
 * The conformance matrix: every registered codec (listCodecs()) x every backend that applies x a
 * shared list of shapes. Per cell: the tile words a backend's encoders write are compared bit for
 * bit with the TS reference's, and its attention over the reference-filled cache with
 * attendReference. Run by tests/conformance/matrix.test.ts and shipped as `kvpack conformance`.
 * A newly registered codec is in the matrix without editing any list here.
 *
 * Tolerances (|out - ref| <= tol * max(1, max |ref|), per batch): each cell's is the one its backend
 * reports for that cache and head count (AttentionBackend.attentionTolerance; the tiers and why:
 * ATTENTION_TOLERANCE in ts/backends/types.ts): TS 0 (the oracle), WASM `exact` 1e-5 (the words are
 * identical, only the f32 evaluation order differs) or `integer` where its integer-domain KIVI
 * kernels run (GQA groups, the CPU default), WebGPU `gpu` 2e-4.
 */
import { listCodecs, codecKernels, createCodec } from '../codecs/registry.js';
import type { CodecInfo, StreamCodec, StreamKind } from '../codecs/types.js';
import { kernelCodec, RotatedCodec, rotateCaptureRows } from '../codecs/rotation.js';
import { PackedKvCache, type CacheOptions } from '../cache/kv-cache.js';
import { KvpackError } from '../errors.js';
import { attendReference } from '../reference/attention.js';
import { TILES_PER_PAGE } from '../format/constants.js';
import type { AttentionBackend } from '../backends/types.js';
import { attentionToleranceOf, encodersOf } from '../backends/types.js';
import { gaussianKv, outlierKeys, randomQuery } from '../util/kv-data.js';

export interface ConformanceShape {
  name: string;
  headDim: number;
  nKvHeads: number;
  nHeads: number;
  /** Tokens of sequence 0 and 1 (not multiples of the 32-token tile). */
  lengths: [number, number];
  window: number;
  sinks: number;
  /** Keys with outlier channels (x30, like real keys after RoPE) or plain Gaussian. */
  keys: 'outlier' | 'gaussian';
  /** Small enough for software GPU adapters (llvmpipe, lavapipe): the tests run WebGPU on these. */
  softwareGpu: boolean;
}

/**
 * The shared shapes, each with a partial last tile: GQA, MQA and MHA; head_dim 24 and 40 (q8_0 /
 * q4_0 blocks and KIVI value groups of 32 cross tokens); a one-token sequence (tail only); a
 * sequence crossing a page (64 tiles); windows and sinks; outlier-channel or Gaussian keys.
 */
export const CONFORMANCE_SHAPES: readonly ConformanceShape[] = [
  { name: 'd8 kv4 h8', headDim: 8, nKvHeads: 4, nHeads: 8, lengths: [75, 33], window: 0, sinks: 0, keys: 'outlier', softwareGpu: true },
  { name: 'd64 kv2 h8 w16 s4', headDim: 64, nKvHeads: 2, nHeads: 8, lengths: [150, 61], window: 16, sinks: 4, keys: 'outlier', softwareGpu: true },
  { name: 'd128 kv2 h2 w8', headDim: 128, nKvHeads: 2, nHeads: 2, lengths: [97, 70], window: 8, sinks: 0, keys: 'gaussian', softwareGpu: true },
  { name: 'd24 kv1 h4 w32 s4', headDim: 24, nKvHeads: 1, nHeads: 4, lengths: [100, 1], window: 32, sinks: 4, keys: 'outlier', softwareGpu: true },
  { name: 'd40 kv1 h1 s4 2 pages', headDim: 40, nKvHeads: 1, nHeads: 1, lengths: [2100, 31], window: 0, sinks: 4, keys: 'gaussian', softwareGpu: false },
];

/** The shapes the tests run on software GPU adapters. */
export const SOFTWARE_GPU_SHAPES: readonly ConformanceShape[] = CONFORMANCE_SHAPES.filter((s) => s.softwareGpu);

/** A backend the matrix can run: its name, how to make it, and which codec pairs it has kernels for. */
export interface ConformanceBackend {
  name: string;
  create(): Promise<AttentionBackend>;
  /** Whether the backend has kernels for this codec pair (else the cell reads 'no kernels'). */
  applies(key: StreamCodec, value: StreamCodec): boolean;
  /** Tile words written by this backend's own encoders for the cache's tokens, when it has any. */
  words?: (backend: AttentionBackend, opts: CacheOptions, data: KvSeq[]) => Promise<Uint32Array[][] | undefined>;
}

export interface KvSeq { K: Float32Array; V: Float32Array }

/** One cell: a codec pair on one shape on one backend. */
export interface ConformanceCell {
  pair: string;
  shape: string;
  backend: string;
  status: 'pass' | 'fail' | 'no kernels' | 'shape n/a';
  /** Tiles compared and how many differed (absent: the backend has no encoders of its own). */
  tiles?: number;
  tileMismatches?: number;
  /** Relative max error of the attention vs attendReference, and the tolerance. */
  err?: number;
  tol?: number;
  detail?: string;
}

export interface ConformanceReport {
  backends: { name: string; ran: boolean; description?: string; reason?: string }[];
  cells: ConformanceCell[];
  pass: boolean;
}

/** A codec pair of the matrix: the names, and the registered infos of both streams. */
export interface CodecPair {
  name: string;
  key: CodecInfo;
  value: CodecInfo;
  /** Keys and values of different codecs (widths, metadata, value-state order) in one kernel call. */
  mixed: boolean;
  /** Streams wrapped in the seeded Hadamard rotation (RotatedCodec, seed 1; `@rk` / `@rv`). */
  rotate?: { key: boolean; value: boolean };
}

/**
 * Rotated pairs (`@rk` / `@rv`, decisions.md#D135), when their codecs are registered: KIVI keys
 * rotated with plain values (the fold on one stream only), q4_0 with both streams rotated, and
 * the calibrated codecs calibrated on rotated rows (decisions.md#D31): SKVQ (channels permuted
 * per head) with both streams rotated, CQ (groups of channels coded together) on keys only.
 */
const ROTATED_PAIRS: readonly { key: string; value: string; rk: boolean; rv: boolean }[] = [
  { key: 'kivi2', value: 'kivi2', rk: true, rv: false },
  { key: 'q4_0', value: 'q4_0', rk: true, rv: true },
  { key: 'skvq-k2', value: 'skvq-v1.5', rk: true, rv: true },
  { key: 'cq-4c8b', value: 'cq-4c8b', rk: true, rv: false },
];

/**
 * Every codec pair to check: a codec coding both streams with itself; a keys-only codec with
 * every values-only codec (and a values-only codec with fp32 keys when no keys-only codec
 * exists). Mixed pairs (keys and values of different codecs in one kernel call): each uncalibrated
 * both-streams codec's keys with the next one's values (registration order, the last with the
 * first); the first calibrated both-streams codec's keys with the last one's values (calibration
 * makes those the matrix's costly cells, so one pair); the second both-streams codec (fp16) with
 * each single-stream codec; the rotated pairs (ROTATED_PAIRS). Codecs that build their own cache (createCache) are listed apart.
 */
export function conformancePairs(codecs: readonly CodecInfo[] = listCodecs()): { pairs: CodecPair[]; ownCache: string[] } {
  const tile = codecs.filter((c) => !c.createCache);
  const both = tile.filter((c) => c.streams.includes('key') && c.streams.includes('value'));
  const keysOnly = tile.filter((c) => c.streams.length === 1 && c.streams[0] === 'key');
  const valuesOnly = tile.filter((c) => c.streams.length === 1 && c.streams[0] === 'value');
  const pair = (key: CodecInfo, value: CodecInfo, mixed: boolean): CodecPair =>
    ({ name: key === value ? key.name : `${key.name}/${value.name}`, key, value, mixed });
  const pairs: CodecPair[] = both.map((c) => pair(c, c, false));
  for (const k of keysOnly) for (const v of valuesOnly) pairs.push(pair(k, v, false));
  const fp32 = both.find((c) => c.name === 'fp32');
  if (!keysOnly.length && fp32) for (const v of valuesOnly) pairs.push(pair(fp32, v, false));
  const plain = both.filter((c) => !c.needsCalibration), calibrated = both.filter((c) => c.needsCalibration);
  if (plain.length > 1) plain.forEach((c, i) => pairs.push(pair(c, plain[(i + 1) % plain.length]!, true)));
  if (calibrated.length > 1) pairs.push(pair(calibrated[0]!, calibrated[calibrated.length - 1]!, true));
  const other = both[1] ?? both[0];
  if (other) {
    for (const k of keysOnly) pairs.push(pair(k, other, true));
    for (const v of valuesOnly) pairs.push(pair(other, v, true));
  }
  for (const r of ROTATED_PAIRS) {
    const k = tile.find((x) => x.name === r.key), v = tile.find((x) => x.name === r.value);
    if (k && v) pairs.push({ ...pair(k, v, false), name: `${pair(k, v, false).name}${r.rk ? '@rk' : ''}${r.rv ? '@rv' : ''}`, rotate: { key: r.rk, value: r.rv } });
  }
  return { pairs, ownCache: codecs.filter((c) => c.createCache).map((c) => c.name) };
}

function kvData(shape: ConformanceShape, n: number, seed: number): KvSeq {
  const K = shape.keys === 'outlier' ? outlierKeys(n, shape.nKvHeads, shape.headDim, seed) : gaussianKv(n, shape.nKvHeads, shape.headDim, seed);
  return { K, V: gaussianKv(n, shape.nKvHeads, shape.headDim, seed + 1000) };
}

/**
 * Codecs made for the matrix, per registered codec, stream and shape: calibration is most of the
 * matrix's time, and a process running it for several backends (matrix.test.ts) calibrates once.
 */
const madeCodecs = new WeakMap<CodecInfo, Map<string, StreamCodec>>();

/**
 * A stream codec for the shape, calibrated on separate seeded data where the codec needs it (once
 * per process). `rotation`: the seed of the RotatedCodec it will sit behind; a calibrated codec
 * then calibrates on that data rotated the same way (decisions.md#D31).
 */
function streamCodec(info: CodecInfo, kind: StreamKind, shape: ConformanceShape, rotation?: number): StreamCodec {
  let memo = madeCodecs.get(info);
  if (!memo) madeCodecs.set(info, memo = new Map());
  const id = `${kind} ${JSON.stringify(shape)}${info.needsCalibration && rotation !== undefined ? ` rot${rotation}` : ''}`;
  const known = memo.get(id);
  if (known) return known;
  let calibration: unknown;
  if (info.needsCalibration) {
    // 1024 tokens: CQ with 10-bit codes needs a sample per centroid
    const sample = kvData(shape, 1024, 7 + shape.headDim);
    const rows = kind === 'key' ? sample.K : sample.V;
    const data = rotation === undefined ? rows : rotateCaptureRows(rows, kind, shape.nKvHeads, shape.headDim, rotation);
    calibration = info.calibrate!({ kind, headDim: shape.headDim, nKvHeads: shape.nKvHeads, data });
  }
  const codec = createCodec(info.name, { kind, headDim: shape.headDim, nKvHeads: shape.nKvHeads, ...(calibration !== undefined ? { calibration } : {}) });
  memo.set(id, codec);
  return codec;
}

/** max |got - ref| / max(1, max |ref|): the measure every attention tolerance tier bounds. */
export function toleranceError(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let m = 0, scale = 1;
  for (let i = 0; i < ref.length; i++) {
    m = Math.max(m, Math.abs(got[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return m / scale;
}

/** The sealed tiles' pages of each sequence of a host cache. */
export function hostPages(cache: PackedKvCache, seqs: number): Uint32Array[][] {
  return Array.from({ length: seqs }, (_, s) => cache.view(s).pages.slice());
}

/** WASM-style words: the same cache filled through the backend's tile encoders. */
export async function encoderWords(backend: AttentionBackend, opts: CacheOptions, data: KvSeq[]): Promise<Uint32Array[][]> {
  const encodeWith = encodersOf(backend);
  const cache = new PackedKvCache({ ...opts, ...(encodeWith ? { encodeWith } : {}) });
  data.forEach((d, s) => cache.append(s, d.K, d.V));
  return hostPages(cache, data.length);
}

function compareWords(ref: PackedKvCache, got: Uint32Array[][]): { tiles: number; mismatches: number; first?: string } {
  let tiles = 0, mismatches = 0;
  let first: string | undefined;
  got.forEach((pages, seq) => {
    const v = ref.view(seq);
    for (let p = 0; p < v.pages.length; p++) {
      const inPage = Math.min(TILES_PER_PAGE, v.tiles - p * TILES_PER_PAGE);
      for (let t = 0; t < inPage; t++) {
        tiles++;
        const o = t * ref.tileSlotWords;
        for (let w = 0; w < ref.tileSlotWords; w++) {
          if (pages[p]?.[o + w] !== v.pages[p]![o + w]) {
            mismatches++;
            first ??= `seq ${seq} tile ${p * TILES_PER_PAGE + t} word ${w}`;
            break;
          }
        }
      }
    }
  });
  return { tiles, mismatches, ...(first ? { first } : {}) };
}

export interface RunConformanceOptions {
  backends: readonly ConformanceBackend[];
  shapes?: readonly ConformanceShape[];
  /** Only pairs whose name contains one of these (default: every pair). */
  codecs?: readonly string[];
  /** Include the mixed pairs (conformancePairs; default true). */
  mixed?: boolean;
  /** Called with each cell as it completes (progress). */
  onCell?: (cell: ConformanceCell) => void;
}

/** Runs the matrix; backends that cannot start are reported (ran: false, reason), not thrown. */
export async function runConformance(opts: RunConformanceOptions): Promise<ConformanceReport> {
  const shapes = opts.shapes ?? CONFORMANCE_SHAPES;
  const pairs = conformancePairs().pairs.filter((p) => opts.mixed !== false || !p.mixed);
  const chosen = opts.codecs ? pairs.filter((p) => opts.codecs!.some((c) => p.name.includes(c))) : pairs;
  const report: ConformanceReport = { backends: [], cells: [], pass: true };
  const running: { spec: ConformanceBackend; backend: AttentionBackend }[] = [];
  try {
    for (const spec of opts.backends) {
      try {
        const backend = await spec.create();
        running.push({ spec, backend });
        report.backends.push({ name: spec.name, ran: true, description: backend.description });
      } catch (e) {
        report.backends.push({ name: spec.name, ran: false, reason: (e as Error).message });
      }
    }
    // codecs (calibration included), reference cache and reference attention once per pair and shape
    for (const pair of chosen) {
      for (const shape of shapes) {
        const setup = prepare(pair, shape);
        for (const { spec, backend } of running) {
          const base = { pair: pair.name, shape: shape.name, backend: spec.name };
          const cell: ConformanceCell = 'error' in setup ? { ...base, status: 'shape n/a', detail: setup.error }
            : !spec.applies(setup.key, setup.value) ? { ...base, status: 'no kernels' }
              : await runCell(spec, backend, setup, base);
          if (cell.status === 'fail') report.pass = false;
          report.cells.push(cell);
          opts.onCell?.(cell);
        }
      }
    }
  } finally {
    for (const r of running) r.backend.dispose();
  }
  return report;
}

interface CellSetup {
  key: StreamCodec;
  value: StreamCodec;
  shape: ConformanceShape;
  opts: CacheOptions;
  data: KvSeq[];
  ref: PackedKvCache;
  q: Float32Array;
  expected: Float32Array[];
}

function prepare(pair: CodecPair, shape: ConformanceShape): CellSetup | { error: string } {
  let key: StreamCodec, value: StreamCodec;
  try {
    // a power-of-two head_dim, else BAD_PARAM (before any calibration): the shape reads 'shape n/a'
    const d = shape.headDim;
    if ((pair.rotate?.key || pair.rotate?.value) && (d & (d - 1)) !== 0) throw new KvpackError('BAD_PARAM', `rotation needs a power-of-two head_dim, got ${d}`, 'headDim');
    key = streamCodec(pair.key, 'key', shape, pair.rotate?.key ? 1 : undefined);
    value = streamCodec(pair.value, 'value', shape, pair.rotate?.value ? 1 : undefined);
    if (pair.rotate?.key) key = new RotatedCodec(key, 1);
    if (pair.rotate?.value) value = new RotatedCodec(value, 1);
  } catch (e) {
    return { error: (e as Error).message };
  }
  const opts: CacheOptions = { nKvHeads: shape.nKvHeads, headDim: shape.headDim, key, value, window: shape.window, sinks: shape.sinks };
  const data = shape.lengths.map((n, s) => kvData(shape, n, 17 + 31 * s + shape.headDim));
  const ref = new PackedKvCache(opts);
  data.forEach((d, s) => ref.append(s, d.K, d.V));
  const d = shape.headDim, per = shape.nHeads * d;
  const q = new Float32Array(data.length * per);
  data.forEach((_, s) => q.set(randomQuery(shape.nHeads, d, 5 + d + s), s * per));
  const expected = data.map((_, s) => attendReference(ref, s, q.subarray(s * per, (s + 1) * per), shape.nHeads));
  return { key, value, shape, opts, data, ref, q, expected };
}

async function runCell(b: ConformanceBackend, backend: AttentionBackend, c: CellSetup,
  base: Pick<ConformanceCell, 'pair' | 'shape' | 'backend'>): Promise<ConformanceCell> {
  const cell: ConformanceCell = { ...base, status: 'pass' };
  try {
    // the backend's own tier for this cache (exact, integer, gpu: ATTENTION_TOLERANCE)
    cell.tol = attentionToleranceOf(backend, c.ref, c.shape.nHeads);
    const got = b.words ? await b.words(backend, c.opts, c.data) : undefined;
    if (got) {
      const w = compareWords(c.ref, got);
      cell.tiles = w.tiles;
      cell.tileMismatches = w.mismatches;
      if (w.first) cell.detail = `words differ at ${w.first}`;
    }
    const per = c.shape.nHeads * c.shape.headDim;
    const seqs = c.data.map((_, s) => s);
    const out = await backend.attend(c.ref, seqs, c.q, c.shape.nHeads);
    cell.err = Math.max(...seqs.map((s) => toleranceError(out.subarray(s * per, (s + 1) * per), c.expected[s]!)));
  } catch (e) {
    cell.status = 'fail';
    cell.detail = (e as Error).message;
    return cell;
  }
  if ((cell.tileMismatches ?? 0) > 0 || !(cell.err! <= cell.tol!)) cell.status = 'fail';
  return cell;
}

/** Whether both codecs name WASM exports in their kernel descriptors. */
export function hasWasm(key: StreamCodec, value: StreamCodec): boolean {
  return codecKernels(kernelCodec(key))?.wasm !== undefined && codecKernels(kernelCodec(value))?.wasm !== undefined;
}

/** The matrix as text: one row per codec pair, one column per backend, cells summarizing the shapes. */
export function formatConformance(report: ConformanceReport): string {
  const ran = report.backends.filter((b) => b.ran).map((b) => b.name);
  const pairs = [...new Set(report.cells.map((c) => c.pair))];
  const cellText = (pair: string, backend: string): string => {
    const cells = report.cells.filter((c) => c.pair === pair && c.backend === backend);
    const run = cells.filter((c) => c.status === 'pass' || c.status === 'fail');
    if (!run.length) return cells.some((c) => c.status === 'no kernels') ? '-' : 'n/a';
    const failed = run.filter((c) => c.status === 'fail').length;
    return failed ? `FAIL ${failed}/${run.length}` : `ok ${run.length}/${run.length}`;
  };
  const rows = [['codec', ...ran], ...pairs.map((p) => [p, ...ran.map((b) => cellText(p, b))])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  lines.push('', 'ok n/m: words bit-identical and attention within tolerance on n of m shapes; -: no kernels; n/a: no shape fits the codec');
  for (const b of report.backends) lines.push(`${b.name}: ${b.ran ? b.description : `did not run: ${b.reason}`}`);
  for (const c of report.cells.filter((x) => x.status === 'fail')) lines.push(`FAIL ${c.pair} ${c.shape} ${c.backend}: ${c.detail ?? `err ${c.err} > tol ${c.tol}`}`);
  return lines.join('\n');
}
