/**
 * Save and restore (docs/FORMAT.md, "Saved caches"): a restored cache is the same cache, word
 * for word, and keeps growing as the never-saved one does; attention over it is bit-identical on
 * the TS reference and the WASM backend (WebGPU: gpu-save-restore.test.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  attendReference, codecInfo, KvpackError, PackedKvCache, WasmBackend, SAVE_FORMAT_VERSION,
} from '../../ts/index.js';
import { crc32c } from '../../ts/serialize/crc32c.js';
import { crc32c as awsCrc32c } from '@aws-crypto/crc32c';
import { makeRng, randomQuery } from '../helpers/data.js';
import { randomSkvqCalibration } from '../helpers/skvq-calibration.js';
import { createCodec, makeCqCalibration } from '../../ts/index.js';
import { RotatedCodec } from '../../ts/codecs/rotation.js';
import { appendRange, caseData, saveCases, sequenceWords, type SaveCase } from './cases.js';
import { fixCrc, sectionsOf } from './fuzz-harness.js';

/** Reference attention of sequences 0 and 3 (q: [2][nHeads][headDim]). */
function refAll(cache: PackedKvCache, q: Float32Array, nHeads: number): Float32Array {
  const per = nHeads * cache.headDim, out = new Float32Array(2 * per);
  [0, 3].forEach((seq, i) => out.set(attendReference(cache, seq, q.subarray(i * per, (i + 1) * per), nHeads), i * per));
  return out;
}

function fail(f: () => unknown): KvpackError {
  try { f(); } catch (e) { if (e instanceof KvpackError) return e; throw e; }
  throw new Error('did not throw');
}

describe('CRC-32C', () => {
  it('matches @aws-crypto/crc32c and the standard check value', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    let seed = 1;
    for (let n = 0; n < 300; n += 7) {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) { seed = (seed * 1103515245 + 12345) >>> 0; b[i] = seed >>> 24; }
      expect(crc32c(b)).toBe(awsCrc32c(b));
      expect(crc32c(b.subarray(n >> 1), crc32c(b.subarray(0, n >> 1)))).toBe(awsCrc32c(b));
    }
  });
});

/** Saved at 700 of 1,000 tokens, restored, +300: the restored cache is the never-saved one, word for word. */
async function roundTrip(c: SaveCase): Promise<void> {
  const d = caseData(c, 1000, 31);
  const d2 = caseData(c, 300, 77);
  const never = new PackedKvCache(c.opts);
  const saved = new PackedKvCache(c.opts);
  appendRange(never, 0, d, 0, 1000);
  appendRange(never, 3, d2, 0, 300);
  appendRange(saved, 0, d, 0, 700);
  appendRange(saved, 3, d2, 0, 300);
  const bytes = saved.serialize();
  const restored = PackedKvCache.deserialize(bytes);
  expect(restored.sequenceIds().sort()).toEqual([0, 3]);
  for (const seq of [0, 3]) expect(sequenceWords(restored, seq)).toEqual(sequenceWords(saved, seq));
  expect(restored.stats()).toEqual(saved.stats());

  // attention over the restored cache: bit-identical on TS and WASM
  const q = randomQuery(2 * c.nHeads, c.opts.headDim, 9);
  expect(refAll(restored, q, c.nHeads)).toEqual(refAll(saved, q, c.nHeads));
  const wasm = await WasmBackend.create();
  try {
    expect(await wasm.attend(restored, [0, 3], q, c.nHeads)).toEqual(await wasm.attend(saved, [0, 3], q, c.nHeads));
  } finally { wasm.dispose(); }

  appendRange(restored, 0, d, 700, 1000);
  expect(sequenceWords(restored, 0)).toEqual(sequenceWords(never, 0));
  expect(sequenceWords(restored, 3)).toEqual(sequenceWords(never, 3));
  expect(refAll(restored, q, c.nHeads)).toEqual(refAll(never, q, c.nHeads));
  // the restored cache saves to the same bytes as the never-saved one
  expect(restored.serialize()).toEqual(never.serialize());
}

describe('PackedKvCache save and restore', () => {
  for (const c of saveCases()) {
    it(`${c.name}: 1,000 tokens, saved at 700, restored, +300: every word equal to the never-saved cache`, () => roundTrip(c));
  }

  it('size: serialized bytes = accounted size (packed + params + fp32 rows) + a small header; printed', () => {
    const lines: string[] = [];
    const overheads: [string, number][] = [];
    for (const c of saveCases()) {
      const cache = new PackedKvCache(c.opts);
      appendRange(cache, 0, caseData(c, 4096, 3), 0, 4096);
      const s = cache.stats();
      const accounted = s.packedBytes + s.paramBytes + s.fpTokens * cache.tokenFloats * 2 * 4;
      const bytes = cache.serialize().length;
      const overhead = bytes - accounted;
      lines.push(`${c.name.padEnd(26)} serialized ${String(bytes).padStart(8)} B, stats() accounted ${String(accounted).padStart(8)} B, header+sections ${overhead} B`);
      overheads.push([c.name, overhead]);
    }
    console.log(`save-restore sizes (4,096 tokens, one sequence):\n${lines.join('\n')}`);
    for (const [name, overhead] of overheads) {
      expect(overhead, name).toBeGreaterThan(0);
      // every codec, CQ included: what the param words hold (CQ's codebook) is stored once (D123)
      expect(overhead, name).toBeLessThanOrEqual(4096);
    }
  });

  it('CQ: the codebook is stored once (param words); files that also hold it in the calibration still load', () => {
    const c = saveCases().find((x) => x.name.startsWith('cq'))!;
    const cache = new PackedKvCache(c.opts);
    appendRange(cache, 0, caseData(c, 300, 21), 0, 300);
    const bytes = cache.serialize();
    const text = new TextDecoder('latin1').decode(bytes);
    const cal = c.opts.calibration as { key: { codebook: string }; value: { codebook: string } };
    expect(text.includes(cal.key.codebook)).toBe(false);
    expect(text.includes(cal.value.codebook)).toBe(false);
    const restored = PackedKvCache.deserialize(bytes);
    expect(sequenceWords(restored, 0)).toEqual(sequenceWords(cache, 0));
    expect(restored.serialize()).toEqual(bytes);
    // files written before D123 carry the base64 codebook in the calibration too: written here
    // by turning the registry hook off for the writer
    const info = codecInfo('cq-4c8b') as { savedCalibration?: unknown };
    const hook = info.savedCalibration;
    let old: Uint8Array;
    try { info.savedCalibration = undefined; old = cache.serialize(); } finally { info.savedCalibration = hook; }
    expect(new TextDecoder('latin1').decode(old).includes(cal.key.codebook)).toBe(true);
    expect(old.length - bytes.length).toBeGreaterThan(cal.key.codebook.length + cal.value.codebook.length - 100);
    const fromOld = PackedKvCache.deserialize(old);
    expect(sequenceWords(fromOld, 0)).toEqual(sequenceWords(cache, 0));
    expect(fromOld.serialize()).toEqual(bytes);
  });

  it('chunked: the reader takes chunks of any size (async iterable, ReadableStream)', async () => {
    const c = saveCases()[0]!;
    const cache = new PackedKvCache(c.opts);
    appendRange(cache, 1, caseData(c, 2200, 4), 0, 2200);
    const chunks = [...cache.serializeChunks()];
    expect(chunks.length).toBeGreaterThan(3);
    const whole = cache.serialize();
    // re-cut into odd sizes
    async function* odd(): AsyncGenerator<Uint8Array> {
      for (let o = 0, i = 0; o < whole.length; i++) { const n = 1 + ((i * 997) % 5003); yield whole.slice(o, o + n); o += n; }
    }
    const a = await PackedKvCache.deserializeFrom(odd());
    expect(sequenceWords(a, 1)).toEqual(sequenceWords(cache, 1));
    const stream = new ReadableStream<Uint8Array>({ start(ctl) { for (const ch of chunks) ctl.enqueue(ch); ctl.close(); } });
    const b = await PackedKvCache.deserializeFrom(stream);
    expect(sequenceWords(b, 1)).toEqual(sequenceWords(cache, 1));
    const short = (async function* () { yield whole.subarray(0, whole.length - 5); })();
    await expect(PackedKvCache.deserializeFrom(short)).rejects.toMatchObject({ code: 'CORRUPT_DATA' });
  });

  it('rejects a newer format version with UNSUPPORTED_VERSION naming both versions', () => {
    const cache = new PackedKvCache({ nKvHeads: 1, headDim: 8, key: 'fp32', value: 'fp32' });
    cache.append(0, new Float32Array(8), new Float32Array(8));
    const bytes = cache.serialize();
    new DataView(bytes.buffer).setUint32(4, SAVE_FORMAT_VERSION + 1, true);
    const e = fail(() => PackedKvCache.deserialize(bytes));
    expect(e.code).toBe('UNSUPPORTED_VERSION');
    expect(e.message).toContain(`version ${SAVE_FORMAT_VERSION + 1}`);
    expect(e.message).toContain(`version ${SAVE_FORMAT_VERSION}`);
  });

  it('detects a flipped bit by checksum, and refuses codecs it cannot rebuild', () => {
    const cache = new PackedKvCache({ nKvHeads: 1, headDim: 8, key: 'kivi2', value: 'kivi2' });
    cache.append(0, new Float32Array(8 * 40).map((_, i) => Math.sin(i)), new Float32Array(8 * 40).map((_, i) => Math.cos(i)));
    const bytes = cache.serialize();
    for (const at of [20, 100, bytes.length - 30]) {
      const b = bytes.slice();
      b[at]! ^= 4;
      const e = fail(() => PackedKvCache.deserialize(b));
      expect(e.code).toBe('CORRUPT_DATA');
      expect(e.arg).toMatch(/crc32c|length|tag/);
    }
  });
});

/**
 * Rotated streams (`@rk` / `@rv`, decisions.md#D32): saved as the inner codec plus the rotation's
 * seed, uncalibrated and calibrated alike; restored as the same RotatedCodec.
 */
describe('PackedKvCache save and restore: rotated streams', () => {
  const rng = makeRng(8);
  const cqCal = (kind: 'key' | 'value', nKv: number, d: number) =>
    makeCqCalibration({ channelsPerGroup: 4, bits: 8 }, kind, nKv, d, Array.from({ length: nKv * d * 256 }, () => rng.gaussian()));
  const rot = (name: string, kind: 'key' | 'value', nKvHeads: number, headDim: number, calibration?: unknown, seed = 1) =>
    new RotatedCodec(createCodec(name, { kind, headDim, nKvHeads, ...(calibration !== undefined ? { calibration } : {}) }), seed);
  const cases: SaveCase[] = [
    { name: 'q4_0@rk@rv GQA w8 s2', nHeads: 6, opts: { nKvHeads: 2, headDim: 64, key: rot('q4_0', 'key', 2, 64), value: rot('q4_0', 'value', 2, 64), window: 8, sinks: 2 } },
    {
      name: 'skvq-k2/skvq-v1.5@rk@rv w16 s5 (seed 7)', nHeads: 4, opts: {
        nKvHeads: 2, headDim: 64, window: 16, sinks: 5,
        key: rot('skvq-k2', 'key', 2, 64, randomSkvqCalibration('key', 2, 64, 2, 11, 0.95), 7),
        value: rot('skvq-v1.5', 'value', 2, 64, randomSkvqCalibration('value', 2, 64, 1.5, 12), 7),
      },
    },
    { name: 'cq-4c8b@rk (CQ values plain)', nHeads: 2, opts: { nKvHeads: 1, headDim: 32, key: rot('cq-4c8b', 'key', 1, 32, cqCal('key', 1, 32)), value: 'cq-4c8b', window: 4, calibration: { value: cqCal('value', 1, 32) } } },
  ];
  for (const c of cases) {
    it(`${c.name}: round trip word for word; the restored codecs are the same rotations`, async () => {
      await roundTrip(c);
      const saved = new PackedKvCache(c.opts);
      appendRange(saved, 0, caseData(c, 100, 3), 0, 100);
      const restored = PackedKvCache.deserialize(saved.serialize());
      for (const kind of ['key', 'value'] as const) {
        const a = saved[kind], b = restored[kind];
        expect(b.name).toBe(a.name);
        expect(b instanceof RotatedCodec).toBe(a instanceof RotatedCodec);
        if (a instanceof RotatedCodec) expect((b as RotatedCodec).signs).toEqual(a.signs);
      }
    });
  }

  it('a rotation of a rotation is refused with BAD_PARAM naming the stream', () => {
    const twice = new RotatedCodec(rot('q4_0', 'key', 1, 32));
    const cache = new PackedKvCache({ nKvHeads: 1, headDim: 32, key: twice, value: 'q4_0' });
    cache.append(0, new Float32Array(32 * 40).map((_, i) => Math.sin(i)), new Float32Array(32 * 40).map((_, i) => Math.cos(i)));
    const e = fail(() => cache.serialize());
    expect(e.code).toBe('BAD_PARAM');
    expect(e.arg).toBe('key');
  });
});

describe('saved-cache reader: inconsistent content under valid checksums names the field', () => {
  // a kivi2 file: SEQ payload = id, tiles, sinkCount, tailCount; LAYR = kind, nKvHeads, headDim, window, sinks, sequences, ...
  const cache = new PackedKvCache({ nKvHeads: 1, headDim: 8, key: 'kivi2', value: 'kivi2', window: 4, sinks: 1 });
  cache.append(0, new Float32Array(8 * 80).map((_, i) => Math.sin(i)), new Float32Array(8 * 80).map((_, i) => Math.cos(i)));
  const good = cache.serialize();
  const secs = sectionsOf(good);
  function withField(tag: string, word: number, value: number): Uint8Array {
    const b = good.slice();
    const s = secs.find((x) => x.tag === tag)!;
    new DataView(b.buffer).setUint32(s.at + 8 + 4 * word, value, true);
    fixCrc(b, s);
    return b;
  }
  const cases: [string, Uint8Array, string, RegExp][] = [
    ['headDim 0', withField('LAYR', 2, 0), 'CORRUPT_DATA', /^layer\[0\]\.headDim$/],
    ['headDim 2^32-1', withField('LAYR', 2, 2 ** 32 - 1), 'CORRUPT_DATA', /^layer\[0\]\.headDim$/],
    ['sequences 2^31 (more than the bytes hold)', withField('LAYR', 5, 2 ** 31), 'CORRUPT_DATA', /^layer\[0\]\.seq\[1\]/],
    ['tiles 2^32-1', withField('SEQ ', 1, 2 ** 32 - 1), 'CORRUPT_DATA', /^layer\[0\]\.seq\[0\]\.page\[0\]\.length$/],
    ['tiles 0 while pages follow', withField('SEQ ', 1, 0), 'CORRUPT_DATA', /^layer\[0\]\.seq\[0\]\.fp\.tag$/],
    ['sinkCount above sinks', withField('SEQ ', 2, 2), 'CORRUPT_DATA', /^layer\[0\]\.seq\[0\]\.sinkCount$/],
    ['tailCount above window + 31', withField('SEQ ', 3, 36), 'CORRUPT_DATA', /^layer\[0\]\.seq\[0\]\.tailCount$/],
    ['key tile words off by one', withField('LAYR', 6, 41), 'CORRUPT_DATA', /^layer\[0\]\.codecs\.key\.tileWords$/],
    ['file layers 0', withField('FILE', 1, 0), 'CORRUPT_DATA', /^file\.layers$/],
    ['tile format version + 1', withField('FILE', 0, 2), 'UNSUPPORTED_VERSION', /^file\.tileFormatVersion$/],
  ];
  for (const [name, bytes, code, arg] of cases) {
    it(name, () => {
      const e = fail(() => PackedKvCache.deserialize(bytes));
      expect(e.code).toBe(code);
      expect(e.arg).toMatch(arg);
    });
  }
  it('an unknown codec name is UNKNOWN_CODEC naming layer[0].codecs.key.name', () => {
    const b = good.slice();
    const s = secs.find((x) => x.tag === 'LAYR')!;
    // the key spec's name 'kivi2' sits after its "name" key; rewrite it to 'kivi9'
    const text = new TextDecoder().decode(b.subarray(s.at, s.at + 8 + s.len));
    const i = text.indexOf('kivi2');
    expect(i).toBeGreaterThan(0);
    b[s.at + i + 4] = '9'.charCodeAt(0);
    fixCrc(b, s);
    const e = fail(() => PackedKvCache.deserialize(b));
    expect(e.code).toBe('UNKNOWN_CODEC');
    expect(e.arg).toBe('layer[0].codecs.key.name');
  });
});
