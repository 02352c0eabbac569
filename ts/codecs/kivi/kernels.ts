import { standardWgsl, type CodecKernels, type WgslFold } from '../kernels.js';

/**
 * KIVI's folded-driver file (2 and 4 bits, any mix): exponents in registers (decisions.md#D17),
 * 16 rows without prefetch for one and for several heads (decisions.md#D13, #D17).
 */
const KIVI_FOLD: WgslFold = {
  file: 'kivi/fold.wgsl', tableBytes: 0, rowsOneHead: 16, rowsSeveralHeads: 16, prefetch: false,
  expRegisters: { oneHead: true, severalHeads: true },
};

/**
 * KIVI's kernels at `bits` (assembly/codecs/kivi/kernels.ts, wgsl/kivi/): 2 and 4 bits also have
 * the folded drivers' file and the word-load hooks (8 codes of a chunk in one word).
 */
export function kiviKernels(bits: number): CodecKernels {
  const packed = bits === 2 || bits === 4;
  // the integer-domain kernels' shapes (assembly/codecs/kivi/kernels.ts useIntegerKernels): GQA
  // groups 2..16 (MHA keeps the float kernels, decisions.md#D58) and whole 16-byte code chunks
  const integer = packed ? { integer: (d: number, group: number) => group > 1 && group <= 16 && d % (bits === 2 ? 64 : 32) === 0 } : {};
  return {
    wasm: {
      key: { encode: `encode_kivi${bits}_key`, score: `score_kivi${bits}`, ...integer },
      value: { encode: `encode_kivi${bits}_value`, accumulate: `accumulate_kivi${bits}`, ...integer },
    },
    wgsl: standardWgsl('kivi', {
      bits,
      ...(packed ? {
        fold: KIVI_FOLD,
        words: { file: 'kivi/words.wgsl', keyChunk: 'kivi_words_key_chunk', valueChunk: 'kivi_words_value_chunk' },
      } : {}),
    }),
  };
}
