/**
 * Seeded fuzzing of every kvpack parser of bytes or untrusted objects (issue 18: "every parser of
 * bytes fuzzed, >= 1M inputs, only typed errors"):
 *
 * | parser      | entry                                                  | input                       |
 * | ----------- | ------------------------------------------------------ | --------------------------- |
 * | kvpk        | deserializeCaches / deserializeCachesFrom, then use     | saved cache (.kvpk)          |
 * | inspect     | inspectSavedCache (`kvpack inspect`)                   | saved cache (.kvpk)          |
 * | kvcap       | parseKvCapture                                         | capture file (.kvcap)        |
 * | checkpoint  | parseLlama2cCheckpoint, then one dense forward step    | llama2.c checkpoint (.bin)   |
 * | tokenizer   | parseLlama2cTokenizer, then encode / decode            | llama2.c tokenizer (.bin)    |
 * | values      | the tagged-value reader (META, saved calibrations)     | encoded values, read as SKVQ |
 * |             | then the value as an SKVQ / CQ calibration of a cache  | and CQ calibrations          |
 * | calibration | PackedKvCache with a mutated SKVQ / CQ calibration     | calibration objects (JSON)   |
 *
 * Every input must parse (and the result work) or end in a KvpackError; anything else is a
 * failure. The saved-cache mutations are tests/serialize/fuzz-harness.ts's (they know sections
 * and checksums); the other byte formats get generic mutations aimed at their header fields.
 * Used by tests/reliability/fuzz-parsers.test.ts (CI, bounded) and scripts/fuzz.ts (`npm run fuzz`).
 */
import {
  attendReference, denseForward, inspectSavedCache, KvpackError, makeCqCalibration, PackedKvCache,
  parseKvCapture, parseLlama2cCheckpoint, parseLlama2cTokenizer, plainSkvqCalibration, serializeKvCapture,
  type KvCapture,
} from '../../ts/index.js';
import { ByteReader } from '../../ts/serialize/bytes.js';
import { encodeValue, readValue } from '../../ts/serialize/values.js';
import { makeRng, type Rng } from '../helpers/data.js';
import { randomSkvqCalibration } from '../helpers/skvq-calibration.js';
import { mutate as mutateSaved, newCounts, runOne as runSaved, seedFiles as savedSeeds, type FuzzCounts } from '../serialize/fuzz-harness.js';

export const PARSERS = ['kvpk', 'inspect', 'kvcap', 'checkpoint', 'tokenizer', 'values', 'calibration'] as const;
export type ParserName = typeof PARSERS[number];

const EDGE = [0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 33, 64, 255, 256, 65535, 65536, 2 ** 20, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32 - 4];
const F32_EDGE = [NaN, Infinity, -Infinity, 3e38, -3e38, 65504, 65505, 1e-45, -0, 0, 1, 1e6];

/** A generic mutation of a byte format whose header is `headerBytes` long (u32/i32 fields). */
export function mutateBytes(src: Uint8Array, rng: Rng, headerBytes: number): { bytes: Uint8Array; kind: string } {
  const b = src.slice();
  const dv = new DataView(b.buffer);
  const m = rng.int(10);
  switch (m) {
    case 0: return { bytes: b.subarray(0, rng.int(b.length + 1)), kind: 'truncate' };
    case 1: {
      const n = 1 + rng.int(8);
      for (let i = 0; i < n; i++) b[rng.int(b.length)]! ^= 1 << rng.int(8);
      return { bytes: b, kind: 'bitflip' };
    }
    case 2: case 3: { // a header field at an edge value, +-1 or random
      if (b.length < 4) return { bytes: b, kind: 'noop' };
      const off = 4 * rng.int(Math.max(1, Math.min(headerBytes, b.length) >> 2));
      const old = dv.getUint32(off, true), r = rng.int(4);
      dv.setUint32(off, r === 0 ? EDGE[rng.int(EDGE.length)]! : r === 1 ? (old + 1) >>> 0 : r === 2 ? (old - 1) >>> 0 : (rng.uniform() * 2 ** 32) >>> 0, true);
      return { bytes: b, kind: 'header-field' };
    }
    case 4: { // any aligned u32 / i32 field past the header
      if (b.length < 4) return { bytes: b, kind: 'noop' };
      const off = 4 * rng.int(b.length >> 2);
      dv.setUint32(off, rng.int(2) ? EDGE[rng.int(EDGE.length)]! : (-1 - rng.int(1000)) >>> 0, true);
      return { bytes: b, kind: 'field' };
    }
    case 5: { // a float at an edge (NaN, Inf, past f16, ...)
      if (b.length < 4) return { bytes: b, kind: 'noop' };
      const n = 1 + rng.int(3);
      for (let i = 0; i < n; i++) dv.setFloat32(4 * rng.int(b.length >> 2), F32_EDGE[rng.int(F32_EDGE.length)]!, true);
      return { bytes: b, kind: 'float' };
    }
    case 6: { // bytes inserted
      const at = rng.int(b.length + 1), n = 1 + rng.int(8);
      const out = new Uint8Array(b.length + n);
      out.set(b.subarray(0, at));
      for (let i = 0; i < n; i++) out[at + i] = rng.int(256);
      out.set(b.subarray(at), at + n);
      return { bytes: out, kind: 'insert' };
    }
    case 7: { // bytes removed
      const at = rng.int(b.length + 1), n = 1 + rng.int(8);
      const out = new Uint8Array(Math.max(0, b.length - n));
      out.set(b.subarray(0, at).subarray(0, out.length));
      if (at < out.length) out.set(b.subarray(at + n, at + n + out.length - at), at);
      return { bytes: out, kind: 'remove' };
    }
    case 8: { // random bytes overwrite a run
      const at = rng.int(b.length + 1), n = 1 + rng.int(16);
      for (let i = at; i < Math.min(b.length, at + n); i++) b[i] = rng.int(256);
      return { bytes: b, kind: 'overwrite' };
    }
    default: { // several header fields at once (shapes that disagree with the size)
      const k = 2 + rng.int(3);
      for (let i = 0; i < k && b.length >= 4; i++) dv.setUint32(4 * rng.int(Math.max(1, Math.min(headerBytes, b.length) >> 2)), EDGE[rng.int(EDGE.length)]!, true);
      return { bytes: b, kind: 'multi-field' };
    }
  }
}

// ---- seeds -----------------------------------------------------------------------------------

function captureSeeds(): Uint8Array[] {
  const rng = makeRng(3);
  const mk = (nLayers: number, nTokens: number, nHeads: number, nKvHeads: number, headDim: number, fisher: boolean): Uint8Array => {
    const f = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.gaussian());
    const c: KvCapture = {
      nLayers, nTokens, nHeads, nKvHeads, headDim,
      tokens: Uint32Array.from({ length: nTokens }, (_, i) => i + 1), positions: Uint32Array.from({ length: nTokens }, (_, i) => i % 5),
      layers: Array.from({ length: nLayers }, () => {
        const kv = nTokens * nKvHeads * headDim;
        return { queries: f(nTokens * nHeads * headDim), keys: f(kv), values: f(kv), ...(fisher ? { keysFisher: f(kv), valuesFisher: f(kv) } : {}) };
      }),
    };
    return serializeKvCapture(c);
  };
  return [mk(1, 3, 2, 1, 4, false), mk(2, 2, 4, 2, 2, true)];
}

/** A tiny legacy llama2.c checkpoint (dim 8, 1 layer, vocab 12): header + weights. */
export function checkpointSeeds(): Uint8Array[] {
  return [tinyCheckpoint(true, 2), tinyCheckpoint(false, 1)];
}

/** A legacy llama2.c checkpoint with small random weights (dim 8: head size 4; 16: 8, a cache's minimum). */
export function tinyCheckpoint(shared: boolean, nKvHeads: number, dim = 8): Uint8Array {
  {
    const hidden = 16, nLayers = 1, nHeads = 2, vocab = 12, seqLen = 8, hd = dim / nHeads, kvDim = nKvHeads * hd;
    const floats = vocab * dim + nLayers * (2 * dim + 2 * dim * dim + 2 * kvDim * dim + 3 * dim * hidden) + dim + seqLen * hd + (shared ? 0 : vocab * dim);
    const b = new Uint8Array(28 + 4 * floats);
    const dv = new DataView(b.buffer);
    [dim, hidden, nLayers, nHeads, nKvHeads, shared ? vocab : -vocab, seqLen].forEach((v, i) => dv.setInt32(4 * i, v, true));
    const rng = makeRng(5);
    for (let i = 0; i < floats; i++) dv.setFloat32(28 + 4 * i, rng.gaussian() * 0.3, true);
    return b;
  }
}

/** A llama2.c tokenizer file of `vocab` pieces (the 256 byte tokens and a few merges). */
function tokenizerSeed(): { bytes: Uint8Array; vocab: number } {
  const pieces = ['<unk>', '<s>', '</s>', ...Array.from({ length: 256 }, (_, i) => `<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`), 'a', 'b', 'ab', ' ', ' ab', 'hello', '\u00e9'];
  const enc = new TextEncoder();
  const parts = pieces.map((p) => enc.encode(p));
  const b = new Uint8Array(4 + parts.reduce((n, p) => n + 8 + p.length, 0));
  const dv = new DataView(b.buffer);
  dv.setInt32(0, 8, true);
  let off = 4;
  parts.forEach((p, i) => { dv.setFloat32(off, -i, true); dv.setInt32(off + 4, p.length, true); b.set(p, off + 8); off += 8 + p.length; });
  return { bytes: b, vocab: pieces.length };
}

const SKVQ_SHAPE = { nKvHeads: 2, headDim: 16 };
const CQ_SHAPE = { nKvHeads: 1, headDim: 8 };
type CalKind = 'skvq' | 'cq';

function calibrationSeeds(): { kind: CalKind; cal: unknown }[] {
  const rng = makeRng(9);
  return [
    { kind: 'skvq', cal: randomSkvqCalibration('key', SKVQ_SHAPE.nKvHeads, SKVQ_SHAPE.headDim, 2, 3, 0.9) },
    { kind: 'skvq', cal: plainSkvqCalibration('key', SKVQ_SHAPE.nKvHeads, SKVQ_SHAPE.headDim, 2) },
    { kind: 'cq', cal: makeCqCalibration({ channelsPerGroup: 4, bits: 8 }, 'key', 1, 8, Array.from({ length: 8 * 256 }, () => rng.gaussian())) },
    { kind: 'cq', cal: makeCqCalibration({ channelsPerGroup: 4, bits: 8 }, 'key', 1, 8, Array.from({ length: 8 * 256 }, () => rng.gaussian()), 'f32') },
  ];
}

/** A cache built with the calibration (the public path that validates it), then used once. */
function useCalibration(kind: CalKind, cal: unknown): void {
  const shape = kind === 'skvq' ? SKVQ_SHAPE : CQ_SHAPE;
  const c = new PackedKvCache({ ...shape, key: kind === 'skvq' ? 'skvq-k2' : 'cq-4c8b', value: 'fp16', calibration: { key: cal as never } });
  const tf = shape.nKvHeads * shape.headDim, n = 40;
  c.append(0, new Float32Array(n * tf).map((_, i) => Math.sin(i)), new Float32Array(n * tf).map((_, i) => Math.cos(i)));
  attendReference(c, 0, new Float32Array(shape.nKvHeads * shape.headDim).fill(0.3), shape.nKvHeads);
}

// ---- structural mutation of calibration objects ------------------------------------------------

const JUNK: unknown[] = [null, undefined, 0, -1, 1.5, NaN, Infinity, 2 ** 31, 1e300, '', 'x', 'f16', 'key', true, [], {}, [0], [NaN], { length: 3 }];

function clone(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(clone);
  if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, clone(v)]));
  return x;
}

/** Paths of every member (objects and arrays, depth first). */
function paths(x: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (x && typeof x === 'object') {
    for (const [k, v] of Object.entries(x)) {
      const p = [...at, Array.isArray(x) ? Number(k) : k];
      out.push(p);
      paths(v, p, out);
    }
  }
  return out;
}

export function mutateObject(src: unknown, rng: Rng): { value: unknown; kind: string } {
  const v = clone(src);
  const all = paths(v);
  const n = 1 + rng.int(3);
  let kind = '';
  for (let i = 0; i < n; i++) {
    const p = all[rng.int(all.length)]!;
    let parent = v as Record<string | number, unknown> | undefined;
    for (const k of p.slice(0, -1)) parent = parent && typeof parent === 'object' ? parent[k] as Record<string | number, unknown> : undefined;
    if (!parent || typeof parent !== 'object') continue; // an earlier mutation replaced an ancestor
    const key = p[p.length - 1]!, old = parent[key];
    const r = rng.int(7);
    if (r === 0) { parent[key] = JUNK[rng.int(JUNK.length)]; kind = 'junk'; }
    else if (r === 1) { delete parent[key]; kind = 'delete'; }
    else if (r === 2 && typeof old === 'number') { parent[key] = old + (rng.int(2) ? 1 : -1); kind = 'number+-1'; }
    else if (r === 3 && typeof old === 'string') {
      // base64 codebooks: one character changed, cut, or padded
      const s = old, at = rng.int(s.length + 1);
      parent[key] = rng.int(3) === 0 ? s.slice(0, at) : rng.int(2) ? s.slice(0, at) + '!*=A'[rng.int(4)] + s.slice(at + 1) : s + 'AAAA';
      kind = 'string';
    } else if (r === 4 && Array.isArray(old)) {
      const a = old as unknown[];
      if (rng.int(2)) a.pop(); else a.push(a[rng.int(a.length)] ?? 0);
      kind = 'array-length';
    } else if (r === 5 && Array.isArray(old) && old.length > 1) {
      const a = old as unknown[], x = rng.int(a.length), y = rng.int(a.length);
      a[x] = a[y]; kind = 'array-dup';
    } else { parent[key] = EDGE[rng.int(EDGE.length)]; kind = 'edge'; }
  }
  if (rng.int(20) === 0) (v as Record<string, unknown>)['extra'] = 1;
  return { value: v, kind: kind || 'noop' };
}

// ---- one fuzzer per parser ----------------------------------------------------------------------

export interface Fuzzer {
  /** Runs input i; counts its outcome in `counts`. */
  step(i: number, counts: FuzzCounts): Promise<void>;
}

function recordError(e: unknown, kind: string, counts: FuzzCounts): void {
  if (e instanceof KvpackError) counts.kvpackErrors[e.code] = (counts.kvpackErrors[e.code] ?? 0) + 1;
  else {
    counts.otherErrors++;
    if (counts.otherExamples.length < 5) counts.otherExamples.push(`${kind}: ${(e as Error)?.stack ?? String(e)}`);
  }
}

/** Times one synchronous run; over `slowMs` it is re-run once, and slow twice counts as a hang. */
function timed(counts: FuzzCounts, kind: string, size: number, fn: () => void, slowMs: number): void {
  counts.inputs++;
  counts.byKind[kind] = (counts.byKind[kind] ?? 0) + 1;
  const once = (count: boolean): number => {
    const t0 = performance.now();
    try {
      fn();
      if (count) counts.restored++;
    } catch (e) {
      if (count) recordError(e, kind, counts);
    }
    return performance.now() - t0;
  };
  const ms = once(true);
  if (ms > counts.maxMs) counts.maxMs = ms;
  if (ms > slowMs) {
    counts.slow++;
    const again = once(false);
    if (again > slowMs) counts.hangs++;
    if (counts.slowExamples.length < 5) counts.slowExamples.push(`input ${counts.inputs - 1} (${kind}, ${size} bytes): ${ms.toFixed(0)} ms, re-run ${again.toFixed(0)} ms`);
  }
}

export function makeFuzzer(parser: ParserName, seed: number, slowMs = 2000): Fuzzer {
  const rng = makeRng(seed);
  switch (parser) {
    case 'kvpk': {
      const seeds = savedSeeds();
      return { step: async (i, counts) => { const { bytes, kind } = mutateSaved(seeds, rng); await runSaved(bytes, kind, counts, i % 50 === 0, slowMs); } };
    }
    case 'inspect': {
      const seeds = savedSeeds();
      return {
        step: async (_i, counts) => {
          const { bytes, kind } = mutateSaved(seeds, rng);
          timed(counts, kind, bytes.length, () => {
            // inspect never throws on bad bytes: it reports the error; the report must be typed
            const r = inspectSavedCache(bytes);
            if (r.status !== 'ok') throw new KvpackError((r.error?.code ?? 'CORRUPT_DATA') as never, r.error?.message ?? '');
          }, slowMs);
        },
      };
    }
    case 'kvcap': {
      const seeds = captureSeeds();
      return {
        step: async (_i, counts) => {
          const { bytes, kind } = mutateBytes(seeds[rng.int(seeds.length)]!, rng, 32);
          timed(counts, kind, bytes.length, () => {
            const c = parseKvCapture(bytes);
            serializeKvCapture(c); // what parsed is a consistent capture
          }, slowMs);
        },
      };
    }
    case 'checkpoint': {
      const seeds = checkpointSeeds();
      return {
        step: async (_i, counts) => {
          const { bytes, kind } = mutateBytes(seeds[rng.int(seeds.length)]!, rng, 28);
          timed(counts, kind, bytes.length, () => {
            const m = parseLlama2cCheckpoint(bytes);
            const logits = denseForward(m, [1, 2]);
            if (!logits.every((row) => row.every(Number.isFinite))) throw new Error('a loaded checkpoint gave non-finite logits');
          }, slowMs);
        },
      };
    }
    case 'tokenizer': {
      const { bytes: seedBytes, vocab } = tokenizerSeed();
      return {
        step: async (_i, counts) => {
          const { bytes, kind } = mutateBytes(seedBytes, rng, 4);
          // the vocabulary size comes from the model header: sometimes off by one
          const v = rng.int(8) === 0 ? vocab + rng.int(3) - 1 : vocab;
          timed(counts, kind, bytes.length, () => {
            const t = parseLlama2cTokenizer(bytes, v);
            t.decode(t.encode('hello ab\u00e9 abc', { bos: true, eos: true }));
          }, slowMs);
        },
      };
    }
    case 'values': {
      const seeds = [
        ...calibrationSeeds().map(({ kind, cal }) => ({ kind, bytes: encodeValue(cal, 'calibration') })),
        { kind: 'meta' as const, bytes: encodeValue({ prompt: 'fuzz', tokens: [1, 2, 3], f: new Float32Array([1.5, -0]), n: null, t: true, nest: [[{ a: new Uint16Array(3) }]] }, 'meta') },
      ];
      return {
        step: async (_i, counts) => {
          const s = seeds[rng.int(seeds.length)]!;
          const { bytes, kind } = mutateBytes(s.bytes, rng, 16);
          timed(counts, kind, bytes.length, () => {
            const r = new ByteReader(bytes, 'fuzz');
            const v = readValue(r, 'value');
            if (s.kind === 'skvq' || s.kind === 'cq') useCalibration(s.kind, v);
          }, slowMs);
        },
      };
    }
    case 'calibration': {
      const seeds = calibrationSeeds();
      return {
        step: async (_i, counts) => {
          const s = seeds[rng.int(seeds.length)]!;
          const { value, kind } = mutateObject(s.cal, rng);
          timed(counts, kind, 0, () => useCalibration(s.kind, value), slowMs);
        },
      };
    }
  }
}

export { newCounts };
export type { FuzzCounts };
