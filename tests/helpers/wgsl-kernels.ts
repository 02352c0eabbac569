import { listCodecs } from '../../ts/codecs/index.js';
import type { WgslCodecKernels } from '../../ts/codecs/kernels.js';

/** Every registered codec's WGSL kernels by name (CodecInfo.kernels.wgsl), for tests that pick pairs by name. */
export const WGSL_BY_NAME: Record<string, WgslCodecKernels> = Object.fromEntries(
  listCodecs().flatMap((c) => (c.kernels?.wgsl ? [[c.name, c.kernels.wgsl] as const] : [])));
