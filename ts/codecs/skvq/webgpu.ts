import type { WgslCodecKernels } from '../../backends/webgpu/kernels.js';

/**
 * WGSL kernels of SKVQ (wgsl/skvq/): one set for every bit width (levels, groups and the
 * permutation come from the params buffer). The init hooks record the workgroup's KV head, whose
 * permutation the chunk hooks read.
 */
const kernels: WgslCodecKernels = {
  attend: 'skvq/attend.wgsl',
  keyChunk: 'skvq_key_chunk',
  valueChunk: 'skvq_value_chunk',
  keyInit: 'skvq_key_init',
  valueInit: 'skvq_value_init',
  encode: 'skvq/encode.wgsl',
};

export const SKVQ_WGSL_KERNELS: Record<string, WgslCodecKernels> = {
  'skvq-k2': kernels, 'skvq-k4': kernels, 'skvq-v2': kernels, 'skvq-v1.5': kernels,
};
