import { standardWasm, standardWgsl, type CodecKernels } from '../kernels.js';

/** fp32's kernels: assembly/codecs/fp32/kernels.ts, wgsl/fp32/. */
export const FP32_KERNELS: CodecKernels = {
  wasm: standardWasm('encode_fp32', 'fp32'),
  wgsl: standardWgsl('fp32'),
};
