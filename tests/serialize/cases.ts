import { makeCqCalibration, PackedKvCache, type CacheOptions } from '../../ts/index.js';
import { gaussianKv, makeRng, outlierKeys } from '../helpers/data.js';
import { randomSkvqCalibration } from '../helpers/skvq-calibration.js';

/**
 * Save/restore cases shared by the TS/WASM, WebGPU and Deno checks: every codec family (plain,
 * KIVI, q-blocks, SKVQ with a permuted calibration, CQ with a codebook), windows and sinks,
 * a head_dim that is not a power of two, several sequences.
 */
export interface SaveCase { name: string; opts: CacheOptions; nHeads: number }

export function saveCases(): SaveCase[] {
  const rng = makeRng(5);
  const cq = (kind: 'key' | 'value', nKv: number, d: number) =>
    makeCqCalibration({ channelsPerGroup: 4, bits: 8 }, kind, nKv, d, Array.from({ length: nKv * d * 256 / 4 * 4 }, () => rng.gaussian()));
  return [
    { name: 'kivi2 GQA w32 s4', nHeads: 8, opts: { nKvHeads: 2, headDim: 64, key: 'kivi2', value: 'kivi2', window: 32, sinks: 4 } },
    { name: 'fp32/fp16 d40', nHeads: 2, opts: { nKvHeads: 1, headDim: 40, key: 'fp32', value: 'fp16' } },
    { name: 'q4_0/q8_0 w8', nHeads: 4, opts: { nKvHeads: 2, headDim: 32, key: 'q4_0', value: 'q8_0', window: 8 } },
    {
      name: 'skvq-k2/skvq-v1.5 w16 s5', nHeads: 4, opts: {
        nKvHeads: 2, headDim: 64, key: 'skvq-k2', value: 'skvq-v1.5', window: 16, sinks: 5,
        calibration: { key: randomSkvqCalibration('key', 2, 64, 2, 11, 0.95), value: randomSkvqCalibration('value', 2, 64, 1.5, 12) },
      },
    },
    {
      name: 'cq-4c8b', nHeads: 2, opts: {
        nKvHeads: 1, headDim: 32, key: 'cq-4c8b', value: 'cq-4c8b', window: 4,
        calibration: { key: cq('key', 1, 32), value: cq('value', 1, 32) },
      },
    },
  ];
}

/** Keys with outlier channels, values gaussian: tokens [n][nKvHeads][headDim]. */
export function caseData(c: SaveCase, n: number, seed: number): { k: Float32Array; v: Float32Array } {
  const { nKvHeads, headDim } = c.opts;
  return { k: outlierKeys(n, nKvHeads, headDim, seed), v: gaussianKv(n, nKvHeads, headDim, seed + 1) };
}

/** Appends tokens [from, to) of the data to sequence `seq` in uneven steps. */
export function appendRange(cache: PackedKvCache, seq: number, d: { k: Float32Array; v: Float32Array }, from: number, to: number): void {
  const tf = cache.tokenFloats;
  for (let at = from; at < to;) {
    const n = Math.min(to - at, 1 + ((at * 7) % 45));
    cache.append(seq, d.k.subarray(at * tf, (at + n) * tf), d.v.subarray(at * tf, (at + n) * tf));
    at += n;
  }
}

/** Every word of every sealed tile slot, sink and tail row of a sequence, as one u32 array. */
export function sequenceWords(cache: PackedKvCache, seq: number): Uint32Array {
  const v = cache.view(seq), tf = cache.tokenFloats, slot = cache.tileSlotWords;
  const parts: Uint32Array[] = [new Uint32Array([v.tiles, v.sinkCount, v.tailCount])];
  for (let t = 0; t < v.tiles; t += 64) parts.push(v.pages[t / 64]!.subarray(0, Math.min(64, v.tiles - t) * slot));
  for (const a of [v.sinkK, v.sinkV]) parts.push(new Uint32Array(a.buffer, a.byteOffset, v.sinkCount * tf));
  for (const a of [v.tailK, v.tailV]) parts.push(new Uint32Array(a.buffer, a.byteOffset, v.tailCount * tf));
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint32Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
