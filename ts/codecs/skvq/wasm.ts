import type { WasmCodecKernels } from '../../backends/wasm-kernels.js';

/**
 * WASM kernels of SKVQ (assembly/codecs/skvq.ts), one entry per registered name. The encoder and
 * the tile kernels read levels/groups/permutation from the codec's paramWords, so every bit
 * width shares them. Keys: the query is permuted once per (query, KV head) into scratch
 * (group * d floats). Values: accumulated in permuted order in a d-float state per query head,
 * scattered back to model order by finish_skvq.
 */
const keys: WasmCodecKernels = {
  key: { encode: 'encode_skvq', score: 'score_skvq', prepare: 'prepare_skvq', scratchBytes: (d, group) => d * group * 4 },
};
const values: WasmCodecKernels = {
  value: { encode: 'encode_skvq', accumulate: 'accumulate_skvq', finish: 'finish_skvq', stateFloats: (d) => d },
};

export const SKVQ_WASM_KERNELS: Record<string, WasmCodecKernels> = {
  'skvq-k2': keys, 'skvq-k4': keys, 'skvq-v2': values, 'skvq-v1.5': values,
};
