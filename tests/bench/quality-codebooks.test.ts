/**
 * bench/quality-codebooks.ts: the amortized bits of calibration parameters. For CQ with f16
 * centroids on both streams the share per element is 16 * 2^b / T for T cached tokens, whatever
 * the model's shape (per head and group 2^b centroids of c channels, i.e. 2^b * headDim halves
 * per head and stream, against headDim elements per token, head and stream); checked on a real
 * CQ cache's statistics.
 */
import { describe, expect, it } from 'vitest';
import { amortize, TOKEN_COUNTS } from '../../bench/quality-codebooks.js';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import '../../ts/codecs/index.js';
import { codecInfo } from '../../ts/codecs/registry.js';
import { outlierKeys } from '../helpers/data.js';

describe('quality-codebooks amortization', () => {
  for (const [name, bits, nKvHeads, headDim] of [['cq-8c8b', 8, 2, 8], ['cq-4c9b', 9, 1, 16]] as const) {
    it(`${name} (${nKvHeads} heads x ${headDim}): parameters cost 16 * 2^b / T bits per element over T cached tokens`, () => {
      const tokens = 600; // not a multiple of the 32-token tile
      const data = outlierKeys(2 ** bits, nKvHeads, headDim, 5);
      const cal = (kind: 'key' | 'value'): unknown =>
        codecInfo(name).calibrate!({ kind, headDim, nKvHeads, data, nHeads: nKvHeads, options: { maxIterations: 2 } });
      const cache = new PackedKvCache({ key: name, value: name, nKvHeads, headDim, calibration: { key: cal('key'), value: cal('value') } });
      const row0 = data.subarray(0, nKvHeads * headDim);
      for (let t = 0; t < tokens; t++) cache.append(0, row0, row0);
      const s = cache.stats();
      const elements = tokens * nKvHeads * headDim * 2;
      const row = amortize({
        label: name, perplexity: 1, deltaVsFp32Percent: 0,
        cache: { tokens, elements, paramBytes: s.paramBytes, effectiveBits: s.effectiveBits, bitsWithoutParams: s.effectiveBits - (s.paramBytes * 8) / elements },
      }, tokens);
      // Within 1%: the codebook objects carry a few bytes of header besides the centroids.
      TOKEN_COUNTS.forEach((t, i) => expect((row.bitsAt[i]! - row.bitsWithoutParams) / ((16 * 2 ** bits) / t)).toBeCloseTo(1, 2));
      expect(row.tokensForTenthBit / (160 * 2 ** bits)).toBeCloseTo(1, 2);
    });
  }
  it('rows without parameters need no tokens', () => {
    const r = amortize({ label: 'kivi2', perplexity: 1, deltaVsFp32Percent: 0, cache: { tokens: 512, elements: 512 * 320, paramBytes: 0, effectiveBits: 4.5, bitsWithoutParams: 4.5 } }, 512);
    expect(r.tokensForTenthBit).toBe(0);
    expect(r.bitsAt.every((b) => b === 4.5)).toBe(true);
  });
});
