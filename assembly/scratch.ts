// Static scratch (below __heap_base, so never in the host's arena): kernels unpack at most four
// token rows, or one tile's per-channel metadata, here (a codec's own scratch holds at most one
// tile's codes, e.g. SKVQ's TILE_CODES); nothing larger is ever materialized.
import { MAX_HEAD_DIM } from './constants';

/** Decoded token rows: ROWS_AT_ONCE rows of headDim f32, contiguous ([i][headDim]). */
export const ROWS_AT_ONCE: i32 = 4;
export const ROWS: usize = memory.data(ROWS_AT_ONCE * MAX_HEAD_DIM * 4, 16);
/** Per-channel metadata decoded once per tile (e.g. KIVI key scales / zeros). */
export const META_A: usize = memory.data(MAX_HEAD_DIM * 4, 16);
export const META_B: usize = memory.data(MAX_HEAD_DIM * 4, 16);
/** One decoded token row: the first row of ROWS (kernels that decode a row at a time). */
export const ROW: usize = ROWS;
