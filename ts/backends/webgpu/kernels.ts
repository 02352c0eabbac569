import '../../codecs/index.js';
import { KvpackError } from '../../errors.js';
import { codecKernels, listCodecs } from '../../codecs/registry.js';
import { kernelCodec } from '../../codecs/rotation.js';
import type { StreamCodec } from '../../codecs/types.js';
import type { CustomWebGpuAttention, WgslCodecKernels } from '../../codecs/kernels.js';
import type { AttentionBackend } from '../types.js';
import type { GpuContext } from './device.js';

export type { CustomWebGpuAttention, WgslCodecKernels, WgslFold } from '../../codecs/kernels.js';

/**
 * The WGSL kernels of a codec instance (its CodecInfo.kernels.wgsl; docs/ARCHITECTURE.md "Adding
 * a codec"; a rotated codec's: its inner codec's, decisions.md#D135), or BACKEND_UNAVAILABLE naming the codec (it has no WGSL port).
 */
export function kernelsFor(codec: StreamCodec): WgslCodecKernels {
  // a rotated stream runs its inner codec's kernels; the rotation is folded around them (D135)
  const k = codecKernels(kernelCodec(codec))?.wgsl;
  if (!k) {
    const known = listCodecs().filter((c) => c.kernels?.wgsl).map((c) => c.name);
    throw new KvpackError('BACKEND_UNAVAILABLE',
      `codec '${codec.name}' has no WGSL kernels (known: ${known.join(', ')})`, codec.kind);
  }
  return k;
}

/** Whether a codec instance has WGSL kernels for the tile drivers. */
export function hasWgslKernels(codec: StreamCodec): boolean {
  return codecKernels(kernelCodec(codec))?.wgsl !== undefined;
}

/**
 * The custom attention serving both codecs (CodecInfo.kernels.webgpuAttention, the same object for
 * both streams), if any: WebGpuBackend delegates to it on the same device.
 */
export function customAttentionFor(key: StreamCodec, value: StreamCodec): CustomWebGpuAttention<GpuContext, AttentionBackend> | undefined {
  // rotated streams: the inner codec's (the custom attention folds the rotation, decisions.md#D135)
  const k = codecKernels(kernelCodec(key))?.webgpuAttention;
  // the contract of CodecKernels.webgpuAttention: a factory on the backend's GpuContext
  return k !== undefined && k === codecKernels(kernelCodec(value))?.webgpuAttention ? k as unknown as CustomWebGpuAttention<GpuContext, AttentionBackend> : undefined;
}
