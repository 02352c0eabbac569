import { standardWasm, standardWgsl, type CodecKernels, type WgslFold } from '../kernels.js';

/**
 * The folded drivers' file of the block-scaled codecs (q8_0 and q4_0, in any mix:
 * wgsl/q-block/fold.wgsl).
 * exponents in registers: q4_0 MHA 11%, GQA 2% faster on the H100, q8_0 unchanged; 16 rows with
 * several heads: q4_0 GQA 6% (128K) / 14% (1M) faster than 4 (bench/README.md "SASS")
 */
export const Q_BLOCK_FOLD: WgslFold = {
  file: 'q-block/fold.wgsl', tableBytes: 0, rowsOneHead: 16, rowsSeveralHeads: 16, prefetch: false,
  expRegisters: { oneHead: true, severalHeads: true },
};

/** q8_0's kernels: assembly/codecs/q8_0/kernels.ts, wgsl/q8_0/. */
export const Q8_0_KERNELS: CodecKernels = {
  wasm: standardWasm('encode_q8_0', 'q8_0'),
  wgsl: standardWgsl('q8_0', { bits: 8, fold: Q_BLOCK_FOLD }),
};
