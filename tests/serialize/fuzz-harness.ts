/**
 * Seeded fuzzing of the saved-cache reader (docs/FORMAT.md, "Saved caches"): mutations of valid
 * files (truncations, bit flips, length fields at 0 / 2^31 / 2^32-1, unknown codec names, shapes
 * that disagree with sizes, and the same with every checksum recomputed so the content checks
 * must catch them). Every input must end in a restored cache that attends and appends, or in a
 * KvpackError; anything else is counted as a failure. Used by tests/serialize/fuzz.test.ts (CI,
 * bounded) and scripts/fuzz.ts (`npm run fuzz`, >= 1,000,000 inputs; tests/reliability/fuzz-parsers.ts covers the other parsers).
 */
import {
  deserializeCaches, deserializeCachesFrom, KvpackError, PackedKvCache, QaqKvCache, serializeCaches, attendReference,
  makeCqCalibration,
} from '../../ts/index.js';
import { crc32c } from '../../ts/serialize/crc32c.js';
import { gaussianKv, makeRng, outlierKeys, type Rng } from '../helpers/data.js';
import { randomSkvqCalibration } from '../helpers/skvq-calibration.js';

/** Small valid files, one per layer kind and codec family, and one with several layers. */
export function seedFiles(): Uint8Array[] {
  const fill = (c: PackedKvCache | QaqKvCache, n: number, seed: number, seq = 0): void => {
    const tf = c.nKvHeads * c.headDim;
    c.append(seq, outlierKeys(n, c.nKvHeads, c.headDim, seed), gaussianKv(n, c.nKvHeads, c.headDim, seed + 1));
    if (c instanceof QaqKvCache) c.attendSync([seq], new Float32Array(2 * c.nKvHeads * c.headDim).fill(0.1), 2 * c.nKvHeads);
    void tf;
  };
  const kivi = new PackedKvCache({ nKvHeads: 2, headDim: 16, key: 'kivi2', value: 'kivi4', window: 8, sinks: 2 });
  fill(kivi, 90, 1); fill(kivi, 20, 2, 5);
  const skvq = new PackedKvCache({
    nKvHeads: 1, headDim: 16, key: 'skvq-k2', value: 'skvq-v1.5', window: 4, sinks: 1,
    calibration: { key: randomSkvqCalibration('key', 1, 16, 2, 3, 0.9), value: randomSkvqCalibration('value', 1, 16, 1.5, 4) },
  });
  fill(skvq, 70, 3);
  const rng = makeRng(9);
  const cq = new PackedKvCache({
    nKvHeads: 1, headDim: 8, key: 'cq-4c8b', value: 'fp16',
    calibration: { key: makeCqCalibration({ channelsPerGroup: 4, bits: 8 }, 'key', 1, 8, Array.from({ length: 8 * 256 }, () => rng.gaussian())) },
  });
  fill(cq, 40, 5);
  const qaq = new QaqKvCache({ nKvHeads: 2, headDim: 8, window: 4, qaq: { attentionWindow: 4, bitsMin: 2, bitsMax: 8, outlierRatio: 0.15, level: 'head' } });
  for (let i = 0; i < 12; i++) fill(qaq, 6, 10 + i);
  const q4 = new PackedKvCache({ nKvHeads: 1, headDim: 8, key: 'q4_0', value: 'q8_0' });
  fill(q4, 33, 7);
  return [kivi.serialize(), skvq.serialize(), cq.serialize(), qaq.serialize(), serializeCaches([q4, qaq, kivi], { meta: { prompt: 'fuzz', tokens: [1, 2, 3], f: new Float32Array([1.5, -0]) } })];
}

interface Section { at: number; tag: string; len: number }

/** Section boundaries of a valid file (preamble 8 bytes, then tag u32, len u32, payload, crc u32). */
export function sectionsOf(b: Uint8Array): Section[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: Section[] = [];
  for (let at = 8; at + 8 <= b.length;) {
    const len = dv.getUint32(at + 4, true);
    out.push({ at, tag: String.fromCharCode(...b.subarray(at, at + 4)), len });
    at += 12 + len;
  }
  return out;
}

export function fixCrc(b: Uint8Array, s: Section): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (s.at + 12 + s.len > b.length) return;
  dv.setUint32(s.at + 8 + s.len, crc32c(b.subarray(s.at, s.at + 8 + s.len)), true);
}

const EDGE = [0, 1, 2, 3, 4, 7, 31, 32, 33, 64, 255, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32 - 4];

/** One mutated input and the name of the mutation. */
export function mutate(seeds: Uint8Array[], rng: Rng): { bytes: Uint8Array; kind: string } {
  const src = seeds[rng.int(seeds.length)]!;
  let b = src.slice(); // (a copy per input: mutations write into it)
  const dv = () => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const secs = sectionsOf(src);
  const pick = () => secs[rng.int(secs.length)]!;
  const m = rng.int(10);
  switch (m) {
    case 0: return { bytes: b.subarray(0, rng.int(b.length)), kind: 'truncate' };
    case 1: {
      const n = 1 + rng.int(8);
      for (let i = 0; i < n; i++) b[rng.int(b.length)]! ^= 1 << rng.int(8);
      return { bytes: b, kind: 'bitflip' };
    }
    case 2: { // a length field at an edge value, checksum recomputed or not
      const s = pick();
      dv().setUint32(s.at + 4, EDGE[rng.int(EDGE.length)]!, true);
      if (rng.int(2)) fixCrc(b, { ...s });
      return { bytes: b, kind: 'section-length' };
    }
    case 3: case 4: case 5: { // a u32 of a payload at an edge or nearby value, checksum recomputed
      const s = pick();
      if (s.len < 4) return { bytes: b, kind: 'noop' };
      const off = s.at + 8 + 4 * rng.int(Math.min(s.len / 4, m === 3 ? 12 : s.len / 4));
      const old = dv().getUint32(off, true);
      const r = rng.int(4);
      const v = r === 0 ? EDGE[rng.int(EDGE.length)]! : r === 1 ? (old + 1) >>> 0 : r === 2 ? (old - 1) >>> 0 : (rng.uniform() * 2 ** 32) >>> 0;
      dv().setUint32(off, v, true);
      fixCrc(b, s);
      return { bytes: b, kind: 'field+crc' };
    }
    case 6: { // bytes of a header payload (codec names, value encoding) rewritten, checksum recomputed
      const s = secs.find((x) => x.tag === 'LAYR' && rng.int(2)) ?? pick();
      const n = 1 + rng.int(4);
      for (let i = 0; i < n && s.len > 0; i++) b[s.at + 8 + rng.int(s.len)] = rng.int(2) ? rng.int(256) : 'kivq0_sf'.charCodeAt(rng.int(8));
      fixCrc(b, s);
      return { bytes: b, kind: 'header-bytes+crc' };
    }
    case 7: { // a section dropped or duplicated
      const s = pick();
      const end = s.at + 12 + s.len;
      const join = (...parts: Uint8Array[]): Uint8Array => {
        const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let o = 0;
        for (const p of parts) { out.set(p, o); o += p.length; }
        return out;
      };
      const out = rng.int(2)
        ? join(src.subarray(0, s.at), src.subarray(end))
        : join(src.subarray(0, end), src.subarray(s.at, end), src.subarray(end));
      return { bytes: out, kind: 'section-splice' };
    }
    case 8: { // preamble / version
      dv().setUint32(rng.int(2) * 4, EDGE[rng.int(EDGE.length)]!, true);
      return { bytes: b, kind: 'preamble' };
    }
    default: { // several field mutations with checksums fixed: inconsistent shapes
      const k = 2 + rng.int(4);
      for (let i = 0; i < k; i++) {
        const s = pick();
        if (s.len < 4) continue;
        dv().setUint32(s.at + 8 + 4 * rng.int(Math.min(s.len / 4, 10)), EDGE[rng.int(EDGE.length)]!, true);
        fixCrc(b, s);
      }
      if (rng.int(4) === 0) b = b.subarray(0, b.length - 4 * (1 + rng.int(4)));
      return { bytes: b, kind: 'multi-field+crc' };
    }
  }
}

export interface FuzzCounts {
  inputs: number;
  restored: number;
  kvpackErrors: Record<string, number>;
  /** Exceptions other than KvpackError (must stay 0), with the first few messages. */
  otherErrors: number;
  otherExamples: string[];
  /** Inputs that took longer than `slowMs` once (a shared machine's pauses show here). */
  slow: number;
  /** Inputs that took longer than `slowMs` again when re-run at once: counted as hangs (must stay 0). */
  hangs: number;
  slowExamples: string[];
  maxMs: number;
  byKind: Record<string, number>;
}

export function newCounts(): FuzzCounts {
  return { inputs: 0, restored: 0, kvpackErrors: {}, otherErrors: 0, otherExamples: [], slow: 0, hangs: 0, slowExamples: [], maxMs: 0, byKind: {} };
}

/** A restored cache must be usable: attention over every sequence and one more append. */
async function exercise(caches: (PackedKvCache | QaqKvCache)[]): Promise<void> {
  for (const c of caches) {
    const seqs = c.sequenceIds().slice(0, 2);
    const nHeads = c.nKvHeads;
    const q = new Float32Array(nHeads * c.headDim).fill(0.25);
    for (const s of seqs) {
      if (c instanceof PackedKvCache) attendReference(c, s, q, nHeads);
      else c.attendSync([s], q, nHeads);
      c.append(s, new Float32Array(c.nKvHeads * c.headDim * 40).fill(0.5), new Float32Array(c.nKvHeads * c.headDim * 40).fill(-0.5));
    }
  }
}

/** Runs one input; `chunked` goes through the async chunk reader instead. */
export async function runOne(bytes: Uint8Array, kind: string, counts: FuzzCounts, chunked: boolean, slowMs = 2000): Promise<void> {
  counts.inputs++;
  counts.byKind[kind] = (counts.byKind[kind] ?? 0) + 1;
  const ms = await timeOne(bytes, kind, counts, chunked, true);
  if (ms > counts.maxMs) counts.maxMs = ms;
  if (ms > slowMs) {
    counts.slow++;
    const again = await timeOne(bytes, kind, counts, chunked, false);
    if (again > slowMs) counts.hangs++;
    if (counts.slowExamples.length < 5) counts.slowExamples.push(`input ${counts.inputs - 1} (${kind}, ${bytes.length} bytes): ${ms.toFixed(0)} ms, re-run ${again.toFixed(0)} ms`);
  }
}

async function timeOne(bytes: Uint8Array, kind: string, counts: FuzzCounts, chunked: boolean, count: boolean): Promise<number> {
  const t0 = performance.now();
  try {
    const caches = chunked
      ? await deserializeCachesFrom((function* () { for (let o = 0; o < bytes.length; o += 777) yield bytes.subarray(o, o + 777); })())
      : deserializeCaches(bytes);
    if (count) counts.restored++;
    await exercise(caches);
  } catch (e) {
    if (!count) return performance.now() - t0;
    if (e instanceof KvpackError) counts.kvpackErrors[e.code] = (counts.kvpackErrors[e.code] ?? 0) + 1;
    else {
      counts.otherErrors++;
      if (counts.otherExamples.length < 5) counts.otherExamples.push(`${kind}: ${(e as Error)?.stack ?? String(e)}`);
    }
  }
  return performance.now() - t0;
}
