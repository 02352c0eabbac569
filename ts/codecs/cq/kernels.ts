import type { CodecKernels, CustomWebGpuAttention, WasmCodecKernels } from '../kernels.js';
import type { StreamCodec } from '../types.js';
import type { CqCodec } from './codec.js';

/** WASM kernels of a CQ codec (assembly/codecs/cq/kernels.ts): one generic set for every configuration (params carry c, b). */
function cqWasmKernels(codec: StreamCodec): WasmCodecKernels {
  const { groups, centroids } = (codec as CqCodec).shape;
  return {
    key: {
      encode: 'encode_cq', score: 'score_cq', prepare: 'prepare_cq',
      scratchBytes: (_headDim, group) => group * groups * centroids * 4, // the lookup tables
    },
    value: {
      encode: 'encode_cq', accumulate: 'accumulate_cq', finish: 'finish_cq',
      stateFloats: () => groups * centroids, // the histogram over codes, per query head
    },
  };
}

/**
 * CQ's attention on WebGPU (./webgpu.ts: per-query lookup tables and histograms in workgroup
 * memory) does not fit the tile drivers' per-chunk hooks: the WebGPU backend delegates to it.
 */
const CQ_WEBGPU_ATTENTION: CustomWebGpuAttention = {
  load: async () => {
    const m = await import('./webgpu.js');
    return (gpu) => new m.CqWebGpuAttention(gpu);
  },
};

/**
 * The kernels of every CQ configuration, registered or built with `new CqCodec` (family 'cq'):
 * all served by the same generic kernels.
 */
export const CQ_KERNELS: CodecKernels = {
  wasm: cqWasmKernels,
  webgpuAttention: CQ_WEBGPU_ATTENTION,
};
