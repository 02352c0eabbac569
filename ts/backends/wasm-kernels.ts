import type { StreamCodec } from '../codecs/types.js';
import { CQ_WASM_KERNELS } from '../codecs/cq/wasm.js';
import { SKVQ_WASM_KERNELS } from '../codecs/skvq/wasm.js';

/**
 * Which WASM exports implement a codec (docs/ARCHITECTURE.md "WASM kernels"). Values are export
 * names of build/kvpack.wasm. A codec adds one line to WASM_KERNELS.
 */
export interface WasmKeyKernels {
  /** EncodeTile export: (x, out, headDim, head, params) => void. */
  encode: string;
  /** Export returning the function reference of the ScoreKeys tile kernel. */
  score: string;
  /** Optional export returning a PrepareKeys reference, run once per (query, KV head). */
  prepare?: string;
  /** Bytes of scratch the prepare/score pair needs per KV head for `group` query heads. */
  scratchBytes?: (headDim: number, group: number) => number;
}

export interface WasmValueKernels {
  encode: string;
  /** Export returning the function reference of the AccumulateValues tile kernel. */
  accumulate: string;
  /** Optional export returning a FinishValues reference (only with stateFloats). */
  finish?: string;
  /** f32 of codec-specific value state per query head (0 / absent: accumulate into the output). */
  stateFloats?: (headDim: number) => number;
}

export interface WasmCodecKernels {
  key?: WasmKeyKernels;
  value?: WasmValueKernels;
}

/** A table entry: fixed kernels, or a choice made from the codec instance (e.g. its options). */
export type WasmKernelEntry = WasmCodecKernels | ((codec: StreamCodec) => WasmCodecKernels);

function same(encode: string, base: string): WasmCodecKernels {
  return { key: { encode, score: `score_${base}` }, value: { encode, accumulate: `accumulate_${base}` } };
}

function kivi(bits: number): WasmCodecKernels {
  return {
    key: { encode: `encode_kivi${bits}_key`, score: `score_kivi${bits}` },
    value: { encode: `encode_kivi${bits}_value`, accumulate: `accumulate_kivi${bits}` },
  };
}

export const WASM_KERNELS: Record<string, WasmKernelEntry> = {
  fp32: same('encode_fp32', 'fp32'),
  fp16: same('encode_fp16', 'fp16'),
  q8_0: same('encode_q8_0', 'q8_0'),
  q4_0: same('encode_q4_0', 'q4_0'),
  kivi2: kivi(2),
  kivi4: kivi(4),
  kivi8: kivi(8),
  ...CQ_WASM_KERNELS,
  ...SKVQ_WASM_KERNELS,
};

/** The kernels of one stream of a codec instance, or undefined when WASM has none. */
export function wasmKernelsFor(codec: StreamCodec): WasmKeyKernels | WasmValueKernels | undefined {
  const entry = WASM_KERNELS[codec.name];
  if (!entry) return undefined;
  const k = typeof entry === 'function' ? entry(codec) : entry;
  return codec.kind === 'key' ? k.key : k.value;
}
