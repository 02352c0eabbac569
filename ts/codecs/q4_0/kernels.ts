import { standardWasm, standardWgsl, type CodecKernels } from '../kernels.js';
import { Q_BLOCK_FOLD } from '../q8_0/kernels.js';

/** q4_0's kernels: assembly/codecs/q4_0/kernels.ts, wgsl/q4_0/ (folded: wgsl/q-block/fold.wgsl). */
export const Q4_0_KERNELS: CodecKernels = {
  wasm: standardWasm('encode_q4_0', 'q4_0'),
  wgsl: standardWgsl('q4_0', { bits: 4, fold: Q_BLOCK_FOLD }),
};
