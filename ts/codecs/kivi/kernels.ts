import { standardWgsl, type CodecKernels, type WgslFold } from '../kernels.js';

/**
 * KIVI's folded-driver file (2 and 4 bits, any mix).
 * exponents in registers: kivi2 MHA 11%, GQA 5% faster on the H100; several heads: 16 rows
 * without prefetch, 1M GQA 9% faster than 4 rows with it (bench/README.md "SASS")
 * one head: 16 rows, 1M MHA 5-8% faster than 8 (128K within 1%)
 */
const KIVI_FOLD: WgslFold = {
  file: 'kivi/fold.wgsl', tableBytes: 0, rowsOneHead: 16, rowsSeveralHeads: 16, prefetch: false,
  expRegisters: { oneHead: true, severalHeads: true },
};

/**
 * KIVI's kernels at `bits` (assembly/codecs/kivi/kernels.ts, wgsl/kivi/): 2 and 4 bits also have
 * the folded drivers' file, the word-load hooks (8 codes of a chunk in one word) and the opt-in
 * matrix kernel.
 */
export function kiviKernels(bits: number): CodecKernels {
  const packed = bits === 2 || bits === 4;
  return {
    wasm: {
      key: { encode: `encode_kivi${bits}_key`, score: `score_kivi${bits}` },
      value: { encode: `encode_kivi${bits}_value`, accumulate: `accumulate_kivi${bits}` },
    },
    wgsl: standardWgsl('kivi', {
      bits,
      ...(packed ? {
        fold: KIVI_FOLD,
        words: { file: 'kivi/words.wgsl', keyChunk: 'kivi_words_key_chunk', valueChunk: 'kivi_words_value_chunk' },
        matrix: { file: 'kivi/matrix.wgsl' },
      } : {}),
    }),
  };
}
