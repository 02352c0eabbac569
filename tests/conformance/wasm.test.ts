/**
 * WASM properties beyond the conformance matrix (ts/conformance/matrix.ts runs every codec pair x
 * shape on WASM: words and attention vs attendReference; tests/conformance/matrix.test.ts):
 * 1. tile words on adversarial data: WASM encoder === TS reference encodeTile, bit for bit, every
 *    baseline codec, both streams, head_dim 8/24/40/64/128, gaussian / outlier-channel / constant
 *    / zero / extreme / random-bit-pattern / rounding-tie / signed-zero / f16-midpoint data;
 * 2. WasmBackend's incremental mirror (growing, deleting, re-creating sequences) and its typed
 *    errors.
 * Prints what ran.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { listCodecs } from '../../ts/codecs/index.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { createCodec } from '../../ts/codecs/registry.js';
import type { StreamCodec, StreamKind } from '../../ts/codecs/types.js';
import { KvpackError } from '../../ts/errors.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { f16BitsToF32 } from '../../ts/format/f16.js';
import { attendReference } from '../../ts/reference/attention.js';
import { toleranceError } from '../../ts/conformance/matrix.js';
import { encodeTileWasm, WasmBackend, wasmSimdSupported } from '../../ts/backends/wasm.js';
import { gaussianKv, makeRng, outlierKeys, randomQuery } from '../helpers/data.js';

// every registered codec that needs no calibration and has WASM kernels (calibrated codecs: their own suites)
const CODECS = listCodecs().filter((c) => !c.needsCalibration && !c.createCache && c.kernels?.wasm).map((c) => c.name);

/**
 * Attention tolerance: the one the backend reports for the cache (attentionTolerance; the tiers in
 * ts/backends/types.ts ATTENTION_TOLERANCE, measured as max |wasm - ref| / max(1, max |ref|)).
 * Both sides dequantize to the same f32 values; the float kernels differ in summation order and
 * precision only (the `exact` tier; observed max 2.3e-6 with outlier keys, where one f32 ulp of a
 * score is ~1e-5 relative in exp(s - m)); the integer-domain kernels (KIVI in GQA groups) round the
 * query and weights to i16 (the `integer` tier). A wrong tile, scale or code is off by far more
 * (the packed cache's own error is ~1e-1).
 */

/** table -> row -> column -> cell, printed after the run: what ran, and how close it was. */
const tables = new Map<string, Map<string, Map<string, string>>>();
function record(table: string, row: string, col: string, cell: string): void {
  if (!tables.has(table)) tables.set(table, new Map());
  const t = tables.get(table)!;
  if (!t.has(row)) t.set(row, new Map());
  t.get(row)!.set(col, cell);
}

afterAll(() => {
  const out: string[] = [];
  for (const [name, rows] of tables) {
    const cols = [...new Set([...rows.values()].flatMap((r) => [...r.keys()]))];
    out.push('', [name, ...cols].join(' | '));
    for (const [row, cells] of rows) out.push([row, ...cols.map((c) => cells.get(c) ?? '-')].join(' | '));
  }
  console.log(out.join('\n'));
});

/**
 * The range M that makes a codec's f16 scale exactly 1 (kivi b: (M - 0) / (2^b - 1); q8_0:
 * amax / 127; q4_0: m / -8 with m = M = 8, s = -1), so half-integer inputs land
 * exactly on the rounding ties of floor(y + 0.5): an encoder that rounds differently fails.
 */
const TIE_RANGE: Record<string, number> = { kivi2: 3, kivi4: 15, kivi8: 255, q8_0: 127, q4_0: 8 };

function tileData(kind: string, d: number, seed: number, codec = ''): Float32Array {
  const n = TILE_TOKENS * d;
  const rng = makeRng(seed);
  switch (kind) {
    case 'ties': {
      // every KIVI channel (over tokens) and every 32-element block / KIVI value group holds 0
      // and M, so min = 0 and max = M; the other elements are half-integers in (0, M)
      const M = TIE_RANGE[codec] ?? 1;
      const x = new Float32Array(n);
      for (let e = 0; e < n; e++) {
        const t = Math.floor(e / d);
        x[e] = t === 0 || e % 32 === 0 || e % d === 0 ? 0 : t === 1 || e % 32 === 1 || e % d === 1 ? M : rng.int(M) + 0.5;
      }
      return x;
    }
    case 'signs': {
      // the SIMD encoders' cross-lane cases: even tokens hold +M and -M ties spread over lanes
      // (q4_0 keeps the first in element order), odd tokens only +0/-0 (KIVI's max is the first
      // zero, whose sign reaches the f16 scale: (-0 - +0) / (2^b - 1) = -0)
      const M = TIE_RANGE[codec] ?? 1;
      const x = new Float32Array(n);
      const even = [0, -0, M, -M, M / 2, -M / 2], odd = [0, -0];
      for (let e = 0; e < n; e++) {
        const set = Math.floor(e / d) % 2 === 0 ? even : odd;
        x[e] = set[rng.int(set.length)]!;
      }
      return x;
    }
    case 'f16-ties': {
      // midpoints between neighbouring f16 values (exact in f32), and 1 f32 ulp either side, over
      // normal and subnormal f16 of both signs: the SIMD f32 -> f16 conversion's rounding cases
      const x = new Float32Array(n), u = new Uint32Array(x.buffer);
      for (let e = 0; e < n; e++) {
        const h = rng.int(0x7bff); // up to the largest finite f16 but one, so h + 1 is finite
        x[e] = (f16BitsToF32(h) + f16BitsToF32(h + 1)) / 2;
        if (e % 3 !== 0 && x[e] !== 0) u[e] = u[e]! + (e % 3 === 1 ? 1 : -1);
        if (rng.int(2)) x[e] = -x[e]!;
      }
      return x;
    }
    case 'gaussian': return gaussianKv(TILE_TOKENS, 1, d, seed);
    case 'outlier': return outlierKeys(TILE_TOKENS, 1, d, seed);
    case 'constant': return new Float32Array(n).fill(0.3);
    case 'zero': return new Float32Array(n);
    case 'extreme': {
      // beyond f16 range (saturation), and f16-subnormal magnitudes (scale rounding to 0)
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) x[i] = (rng.uniform() - 0.5) * (i % 3 === 0 ? 3e5 : i % 3 === 1 ? 1e-6 : 2);
      return x;
    }
    case 'bits': {
      // random finite f32 bit patterns with exponents around the f16 range: exercises every
      // f16 rounding path (ties to even, subnormals, overflow) of the converters
      const u = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        const exp = 127 - 26 + rng.int(46); // 2^-26 .. 2^19
        u[i] = ((rng.int(2) << 31) | (exp << 23) | (rng.int(1 << 23) & (i % 5 === 0 ? 0x7fe000 | 0x1000 : 0x7fffff))) >>> 0;
      }
      return new Float32Array(u.buffer);
    }
    default: throw new Error(kind);
  }
}

describe('wasm module', () => {
  it('runs here with SIMD (the CI machine must have it)', () => {
    expect(wasmSimdSupported()).toBe(true);
  });
});

describe('wasm tile encoders === TS reference words', () => {
  const DATA = ['gaussian', 'outlier', 'constant', 'zero', 'extreme', 'bits', 'ties', 'signs', 'f16-ties'];
  for (const name of CODECS) {
    for (const kind of ['key', 'value'] as StreamKind[]) {
      it(`${name} ${kind}s`, async () => {
        let tiles = 0;
        for (const d of [8, 24, 40, 64, 128]) {
          const codec = createCodec(name, { kind, headDim: d, nKvHeads: 1 });
          for (const [di, data] of DATA.entries()) {
            const x = tileData(data, d, 1000 * d + di, name);
            const want = new Uint32Array(codec.tileWords);
            codec.encodeTile(x, 0, want);
            const got = await encodeTileWasm(name, kind, d, x);
            const firstBad = got.findIndex((w, i) => w !== want[i]);
            expect(firstBad, `${name} ${kind} d=${d} ${data}: word ${firstBad} wasm ${got[firstBad]?.toString(16)} ts ${want[firstBad]?.toString(16)}`).toBe(-1);
            tiles++;
          }
        }
        record('wasm encoder words vs TS (head_dim 8/24/40/64/128 x 9 data kinds)', name, kind, `${tiles} tiles ===`);
      });
    }
  }
});

/** max |a - b| / scale */
function err(a: Float32Array, b: Float32Array, scale: number): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m / scale;
}

describe('WasmBackend incremental mirror and errors', () => {
  // kivi4 keys in groups of 2 run the integer kernels (the default): the tolerance the backend
  // reports for the cache (ATTENTION_TOLERANCE.integer); a stale or missing tile is off by ~1e-1
  it('copies only new tiles: growing, deleting and re-creating sequences stay within tolerance', async () => {
    const backend = await WasmBackend.create();
    const d = 64, nKv = 2, nHeads = 4;
    const cache = new PackedKvCache({ nKvHeads: nKv, headDim: d, key: 'kivi4', value: 'q8_0', window: 32, sinks: 4 });
    const q = randomQuery(nHeads, d, 5);
    let total = 0;
    // 2047 + 2 + ... crosses the page boundary (64 tiles) between two calls
    for (const [i, n] of [100, 1947, 2, 1, 31, 64].entries()) {
      cache.append(0, outlierKeys(n, nKv, d, 50 + i), gaussianKv(n, nKv, d, 60 + i));
      total += n;
      const got = await backend.attend(cache, [0], q, nHeads);
      expect(toleranceError(got, attendReference(cache, 0, q, nHeads))).toBeLessThanOrEqual(backend.attentionTolerance(cache, nHeads));
    }
    const before = backend.bytesInUse;
    cache.delete(0);
    cache.append(0, gaussianKv(40, nKv, d, 70), gaussianKv(40, nKv, d, 71));
    const got = await backend.attend(cache, [0], q, nHeads);
    expect(toleranceError(got, attendReference(cache, 0, q, nHeads))).toBeLessThanOrEqual(backend.attentionTolerance(cache, nHeads));
    expect(backend.bytesInUse).toBeLessThan(before); // the old sequence's pages were released
    backend.forget(cache);
    expect(backend.bytesInUse).toBe(0);
    record('wasm backend', 'incremental mirror', 'result', `${total} tokens over 6 calls within tolerance; re-created sequence; memory released`);
  });

  it('rejects bad input with typed errors before any work', async () => {
    const backend = await WasmBackend.create();
    const d = 8;
    const cache = new PackedKvCache({ nKvHeads: 2, headDim: d, key: 'fp16', value: 'fp16' });
    cache.append(3, gaussianKv(40, 2, d, 1), gaussianKv(40, 2, d, 2));
    const q = randomQuery(4, d, 3);
    const code = async (f: () => Promise<unknown>): Promise<[string, string | undefined]> => {
      try { await f(); } catch (e) { expect(e).toBeInstanceOf(KvpackError); return [(e as KvpackError).code, (e as KvpackError).arg]; }
      return ['no error', undefined];
    };
    expect(await code(() => backend.attend(cache, [3], q.subarray(1), 4))).toEqual(['BAD_SHAPE', 'q']);
    expect(await code(() => backend.attend(cache, [3], q, 3))).toEqual(['BAD_SHAPE', 'nHeads']);
    expect(await code(() => backend.attend(cache, [3, 4], new Float32Array(2 * q.length), 4))).toEqual(['UNKNOWN_SEQUENCE', 'seq']);
    const bad = q.slice(); bad[5] = NaN;
    expect(await code(() => backend.attend(cache, [3], bad, 4))).toEqual(['NON_FINITE', 'q']);
    expect(backend.bytesInUse).toBe(0); // nothing was mirrored by the rejected calls
    const fp32 = createCodec('fp32', { kind: 'value', headDim: d, nKvHeads: 2 });
    const custom: StreamCodec = Object.assign(Object.create(Object.getPrototypeOf(fp32)), fp32, { name: 'no-wasm-kernels' });
    const other = new PackedKvCache({ nKvHeads: 2, headDim: d, key: 'fp16', value: custom });
    other.append(0, gaussianKv(40, 2, d, 1), gaussianKv(40, 2, d, 2));
    expect(await code(() => backend.attend(other, [0], q, 4))).toEqual(['BACKEND_UNAVAILABLE', 'cache']);
    expect(await code(() => encodeTileWasm('fp16', 'key', d, new Float32Array(5)))).toEqual(['BAD_SHAPE', 'x']);
    expect(await code(() => encodeTileWasm('nope', 'key', d, new Float32Array(TILE_TOKENS * d)))).toEqual(['UNKNOWN_CODEC', 'codec']);
    backend.dispose();
    expect(await code(() => backend.attend(cache, [3], q, 4))).toEqual(['BACKEND_UNAVAILABLE', 'backend']);
  });
});
