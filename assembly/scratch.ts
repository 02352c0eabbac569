// Static scratch rows (below __heap_base, so never in the host's arena): kernels unpack at most
// one token row, or one tile's per-channel metadata, here; nothing larger is ever materialized.
import { MAX_HEAD_DIM } from './constants';

/** One decoded token row, MAX_HEAD_DIM f32. */
export const ROW: usize = memory.data(MAX_HEAD_DIM * 4, 16);
/** Per-channel metadata decoded once per tile (e.g. KIVI key scales / zeros). */
export const META_A: usize = memory.data(MAX_HEAD_DIM * 4, 16);
export const META_B: usize = memory.data(MAX_HEAD_DIM * 4, 16);
