import { KvpackError } from '../../errors.js';
import type { StreamCodec } from '../../codecs/types.js';
import type { AttentionBackend } from '../types.js';
import type { GpuContext } from './device.js';
import { SKVQ_WGSL_KERNELS } from '../../codecs/skvq/webgpu.js';

/**
 * The WGSL kernels of each codec, by registry name: the one table the WebGPU backend looks
 * codecs up in (docs/ARCHITECTURE.md "WGSL kernels" explains how to add a codec: write
 * wgsl/<codec>/attend.wgsl + encode.wgsl, run `node scripts/gen-wgsl.mjs`, add one line here).
 */
export interface WgslCodecKernels {
  /** wgsl/ path of the file defining the attention hooks. */
  attend: string;
  /** `fn(base: u32, t: u32, c8: u32) -> Chunk8` for keys and for values (8 channels of token t). */
  keyChunk: string;
  valueChunk: string;
  /** Optional `fn(lid: u32, kv_head: u32)` run once per workgroup before any chunk (e.g. load a codebook into workgroup memory). */
  keyInit?: string;
  valueInit?: string;
  /** wgsl/ path of the file with entry points `encode_key` and `encode_value`. */
  encode: string;
  /** Value of the BITS / K_BITS / V_BITS override, when the kernels have one. */
  bits?: number;
  /** Codes are base-3 digits, 5 per byte (SKVQ's 1.5-bit values). */
  ternary?: boolean;
}

/** The usual layout: wgsl/<folder>/attend.wgsl with <folder>_key_chunk / <folder>_value_chunk, and wgsl/<folder>/encode.wgsl. */
export function standardKernels(folder: string, extra: Partial<WgslCodecKernels> = {}): WgslCodecKernels {
  return {
    attend: `${folder}/attend.wgsl`,
    keyChunk: `${folder}_key_chunk`,
    valueChunk: `${folder}_value_chunk`,
    encode: `${folder}/encode.wgsl`,
    ...extra,
  };
}

export const WGSL_KERNELS: Record<string, WgslCodecKernels> = {
  fp32: standardKernels('fp32'),
  fp16: standardKernels('fp16'),
  q8_0: standardKernels('q8_0', { bits: 8 }),
  q4_0: standardKernels('q4_0', { bits: 4 }),
  kivi2: standardKernels('kivi', { bits: 2 }),
  kivi4: standardKernels('kivi', { bits: 4 }),
  kivi8: standardKernels('kivi', { bits: 8 }),
  ...SKVQ_WGSL_KERNELS,
};

/** The kernels of a codec, or BACKEND_UNAVAILABLE naming the codec (it has no WGSL port). */
export function kernelsFor(codec: StreamCodec): WgslCodecKernels {
  const k = WGSL_KERNELS[codec.name];
  if (!k) {
    throw new KvpackError('BACKEND_UNAVAILABLE',
      `codec '${codec.name}' has no WGSL kernels (known: ${Object.keys(WGSL_KERNELS).join(', ')})`, codec.kind);
  }
  return k;
}

/**
 * Codecs whose attention does not fit the tile driver's per-chunk hooks (CQ: per-query lookup
 * tables and histograms in workgroup memory) bring their own AttentionBackend on the same device;
 * WebGpuBackend delegates to it when both streams match. Loaded on demand.
 */
export interface CustomWebGpuAttention {
  matches(codecName: string): boolean;
  load(): Promise<(gpu: GpuContext) => AttentionBackend>;
}

export const WEBGPU_CUSTOM_ATTENTION: CustomWebGpuAttention[] = [
  {
    matches: (name) => /^cq-/i.test(name),
    load: async () => {
      const m = await import('../../codecs/cq/webgpu.js');
      return (gpu) => new m.CqWebGpuAttention(gpu);
    },
  },
];

/** The custom attention entry serving both codecs, if any. */
export function customAttentionFor(keyName: string, valueName: string): CustomWebGpuAttention | undefined {
  return WEBGPU_CUSTOM_ATTENTION.find((c) => c.matches(keyName) && c.matches(valueName));
}
