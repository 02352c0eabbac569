import { standardWasm, standardWgsl, type CodecKernels } from '../kernels.js';

/** fp16's kernels: assembly/codecs/fp16/kernels.ts, wgsl/fp16/ (fold.wgsl for the folded drivers). */
export const FP16_KERNELS: CodecKernels = {
  wasm: standardWasm('encode_fp16', 'fp16'),
  wgsl: standardWgsl('fp16', {
    fold: {
      file: 'fp16/fold.wgsl', tableBytes: 0, rowsOneHead: 8, rowsSeveralHeads: 4, prefetch: false,
      expRegisters: { oneHead: false, severalHeads: false },
    },
  }),
};
