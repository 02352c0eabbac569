import { plainSkvqCalibration, type SkvqBits, type SkvqCalibration } from '../../ts/codecs/skvq/index.js';
import { makeRng } from './data.js';

/**
 * An SKVQ calibration with a random channel permutation and random non-empty groups per head,
 * clip ratio `clip`: exercises the permuted layouts that real calibration produces, seeded.
 * Shared by the SKVQ codec tests and the WASM/WebGPU conformance cases.
 */
export function randomSkvqCalibration(kind: 'key' | 'value', nKvHeads: number, d: number, bits: SkvqBits,
  seed: number, clip = 1, groupSize?: number, clusters?: number): SkvqCalibration {
  const cal = plainSkvqCalibration(kind, nKvHeads, d, bits, groupSize, clusters);
  const rng = makeRng(seed);
  cal.clip = clip;
  cal.heads = cal.heads.map(() => {
    const perm = Array.from({ length: d }, (_, c) => c);
    for (let i = d - 1; i > 0; i--) { const j = rng.int(i + 1); [perm[i], perm[j]] = [perm[j]!, perm[i]!]; }
    const cuts = new Set<number>();
    while (cuts.size < cal.clusters - 1) cuts.add(1 + rng.int(d - 1));
    return { perm, groupStart: [0, ...[...cuts].sort((a, b) => a - b), d] };
  });
  return cal;
}
