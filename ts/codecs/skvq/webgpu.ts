import type { StreamCodec } from '../types.js';

/** Channel positions per invocation chunk of the folded kernels (fold-common.wgsl). */
const CHUNK = 8;

/**
 * The most channel groups one 8-position chunk of the permuted order meets, over every KV head
 * of one SKVQ stream's params ([levels, C, m, alpha], then per head perm[d], groupStart[C+1],
 * slot[d]; docs/FORMAT.md "SKVQ"). skvq/fold.wgsl handles up to 4 (SKVQ_FOLD_MAX_SPAN, kernels.ts).
 */
export function skvqChunkSpan(paramWords: Uint32Array, headDim: number): number {
  const C = paramWords[1]!;
  const headWords = 2 * headDim + C + 1;
  const heads = (paramWords.length - 4) / headWords;
  let span = 1;
  for (let h = 0; h < heads; h++) {
    const gs = 4 + h * headWords + headDim;
    for (let p0 = 0; p0 < headDim; p0 += CHUNK) {
      let cuts = 0;
      for (let j = 1; j < C; j++) {
        const s = paramWords[gs + j]!;
        if (s > p0 && s < p0 + CHUNK) cuts++;
      }
      span = Math.max(span, cuts + 1);
    }
  }
  return span;
}

/** The span over both streams when both are SKVQ (shaders.ts ChooseAttendOptions.foldSpan), else undefined. */
export function skvqFoldSpan(key: StreamCodec, value: StreamCodec, headDim: number): number | undefined {
  const isSkvq = (c: StreamCodec): boolean => c.name.startsWith('skvq-');
  if (!isSkvq(key) || !isSkvq(value)) return undefined;
  return Math.max(skvqChunkSpan(key.paramWords, headDim), skvqChunkSpan(value.paramWords, headDim));
}
