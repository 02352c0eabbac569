import '../../codecs/index.js';
import { KvpackError } from '../../errors.js';
import { codecKernels, listCodecs } from '../../codecs/registry.js';
import type { StreamCodec } from '../../codecs/types.js';
import type { CustomWebGpuAttention, WgslCodecKernels } from '../../codecs/kernels.js';

export type { CustomWebGpuAttention, WgslCodecKernels, WgslFold } from '../../codecs/kernels.js';

/**
 * The WGSL kernels of a codec instance (its CodecInfo.kernels.wgsl; docs/ARCHITECTURE.md "Adding
 * a codec"), or BACKEND_UNAVAILABLE naming the codec (it has no WGSL port).
 */
export function kernelsFor(codec: StreamCodec): WgslCodecKernels {
  const k = codecKernels(codec)?.wgsl;
  if (!k) {
    const known = listCodecs().filter((c) => c.kernels?.wgsl).map((c) => c.name);
    throw new KvpackError('BACKEND_UNAVAILABLE',
      `codec '${codec.name}' has no WGSL kernels (known: ${known.join(', ')})`, codec.kind);
  }
  return k;
}

/** Whether a codec instance has WGSL kernels for the tile drivers. */
export function hasWgslKernels(codec: StreamCodec): boolean {
  return codecKernels(codec)?.wgsl !== undefined;
}

/**
 * The custom attention serving both codecs (CodecInfo.kernels.webgpuAttention, the same object for
 * both streams), if any: WebGpuBackend delegates to it on the same device.
 */
export function customAttentionFor(key: StreamCodec, value: StreamCodec): CustomWebGpuAttention | undefined {
  const k = codecKernels(key)?.webgpuAttention;
  return k !== undefined && k === codecKernels(value)?.webgpuAttention ? k : undefined;
}
