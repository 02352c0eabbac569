/**
 * The one source of truth for layout constants shared by the TS reference, the AssemblyScript
 * kernels and the WGSL shaders. `scripts/gen-constants.mjs` emits assembly/constants.ts and
 * wgsl/constants.wgsl from this file; a test checks that the emitted copies match.
 */
export const FORMAT_VERSION = 1;
/** Tokens per tile: the unit of packing, storage and GPU work (see docs/FORMAT.md). */
export const TILE_TOKENS = 32;
/** Tiles per page: a sequence grows by whole pages of tiles for every head. */
export const TILES_PER_PAGE = 64;
/** head_dim must be a multiple of this (RoPE pairs, u32 alignment of 4-bit codes). */
export const HEAD_DIM_MULTIPLE = 8;
export const MAX_HEAD_DIM = 256;
