/**
 * The golden saved-cache file (tests/fixtures/saved-cache-v1.kvpk) and the attention outputs it
 * must keep giving (saved-cache-v1.expected.json). Regenerate only on a deliberate format change
 * (bump SAVE_FORMAT_VERSION first): `npm run gen:golden-cache`.
 */
import { attendReference, PackedKvCache, QaqKvCache, type SavableCache } from '../../ts/index.js';
import { gaussianKv, outlierKeys, randomQuery } from '../helpers/data.js';
import { randomSkvqCalibration } from '../helpers/skvq-calibration.js';

export const GOLDEN_FILE = 'tests/fixtures/saved-cache-v1.kvpk';
export const GOLDEN_EXPECTED = 'tests/fixtures/saved-cache-v1.expected.json';

/** Three layers: KIVI with sinks and two sequences, SKVQ (calibrated, permuted), QAQ (attended). */
export function goldenCaches(): SavableCache[] {
  const kivi = new PackedKvCache({ nKvHeads: 2, headDim: 16, key: 'kivi2', value: 'kivi2', window: 8, sinks: 2 });
  kivi.append(0, outlierKeys(150, 2, 16, 1), gaussianKv(150, 2, 16, 2));
  kivi.append(7, outlierKeys(45, 2, 16, 3), gaussianKv(45, 2, 16, 4));
  const skvq = new PackedKvCache({
    nKvHeads: 1, headDim: 32, key: 'skvq-k2', value: 'skvq-v1.5', window: 16, sinks: 1,
    calibration: { key: randomSkvqCalibration('key', 1, 32, 2, 5, 0.9), value: randomSkvqCalibration('value', 1, 32, 1.5, 6) },
  });
  skvq.append(0, outlierKeys(120, 1, 32, 7), gaussianKv(120, 1, 32, 8));
  const qaq = new QaqKvCache({ nKvHeads: 2, headDim: 16, window: 8, qaq: { attentionWindow: 8, bitsMin: 2, outlierRatio: 0.1, targetKeyError: 10, targetValueError: 0.01 } });
  const K = outlierKeys(100, 2, 16, 9), V = gaussianKv(100, 2, 16, 10);
  for (let t = 0; t < 100; t++) {
    qaq.append(0, K.subarray(t * 32, (t + 1) * 32), V.subarray(t * 32, (t + 1) * 32));
    qaq.attendSync([0], randomQuery(4, 16, 100 + t), 4);
  }
  return [kivi, skvq, qaq];
}

/** Attention of every sequence of every layer (GQA: 2 query heads per KV head) to a fixed query, as f32 bits. */
export function goldenOutputs(caches: SavableCache[]): number[][] {
  return caches.flatMap((c, li) => c.sequenceIds().sort((a, b) => a - b).map((seq) => {
    const nHeads = 2 * c.nKvHeads, q = randomQuery(nHeads, c.headDim, 1000 + li);
    const out = c instanceof PackedKvCache ? attendReference(c, seq, q, nHeads) : c.attendSync([seq], q, nHeads, false);
    return [...new Uint32Array(out.buffer, out.byteOffset, out.length)];
  }));
}
