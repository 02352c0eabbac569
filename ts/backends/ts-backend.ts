import type { PackedKvCache } from '../cache/kv-cache.js';
import { attendReference, checkQueries } from '../reference/attention.js';
import { ATTENTION_TOLERANCE, type AttentionBackend } from './types.js';
import { checkAttendArgs, checkToleranceArgs } from './validate.js';
import { addSymbolDispose } from '../util/dispose.js';

/**
 * The fallback backend: plain TypeScript over the codecs' reference decodeTile, i.e. the
 * oracle itself (ts/reference/attention.ts). Runs anywhere; slow on long caches.
 */
export class TsBackend implements AttentionBackend {
  readonly name = 'ts' as const;
  readonly description = 'TypeScript reference (attendReference), single-threaded';

  async attend(cache: PackedKvCache, seqs: readonly number[], q: Float32Array, nHeads: number): Promise<Float32Array> {
    checkAttendArgs(cache, seqs, q, nHeads);
    const d = cache.headDim;
    // Validate every sequence before computing any, as the AttentionBackend contract asks.
    checkQueries(cache, seqs, q, nHeads);
    const per = nHeads * d;
    const out = new Float32Array(q.length);
    seqs.forEach((seq, i) => out.set(attendReference(cache, seq, q.subarray(i * per, (i + 1) * per), nHeads), i * per));
    return out;
  }

  /** The reference itself: 0. */
  attentionTolerance(cache: PackedKvCache, nHeads: number): number {
    checkToleranceArgs(cache, nHeads);
    return ATTENTION_TOLERANCE.reference;
  }

  dispose(): void {
    // Nothing held: the reference works on the cache's own pages.
  }
}

addSymbolDispose(TsBackend);
