/**
 * The argument block of `attend_sequence` (assembly/attention.ts `Arg`): u32 fields, byte
 * pointers into the module's memory. The module reports its field count (attend_arg_count) and
 * the loader checks it against ATTEND_ARG_COUNT, so the two lists cannot silently drift.
 */
export const ATTEND_ARG = {
  HEAD_DIM: 0, N_KV_HEADS: 1, GROUP: 2,
  Q: 3, OUT: 4,
  SINK_COUNT: 5, SINK_K: 6, SINK_V: 7,
  TAIL_COUNT: 8, TAIL_K: 9, TAIL_V: 10,
  TILES: 11, PAGE_TABLE: 12,
  KEY_TILE_WORDS: 13, VALUE_TILE_WORDS: 14,
  KEY_SCORE: 15, KEY_PREPARE: 16, KEY_PARAMS: 17, KEY_SCRATCH: 18,
  VALUE_ACCUMULATE: 19, VALUE_FINISH: 20, VALUE_PARAMS: 21, VALUE_STATE: 22, VALUE_STATE_FLOATS: 23,
  WORK: 24,
  HEAD_BEGIN: 25, HEAD_END: 26,
  SCRATCH_STRIDE: 27,
  TILE_BEGIN: 28, TILE_END: 29, REGIONS: 30, STATS: 31,
} as const;

export const ATTEND_ARG_COUNT = 32;

/** The raw exports of build/kvpack.wasm that the host calls by fixed name. */
export interface KvpackWasmExports {
  memory: WebAssembly.Memory;
  heap_base(): number;
  attend_sequence(args: number): void;
  attend_arg_count(): number;
  attend_work_bytes(group: number, headDim: number): number;
  /** 1 in build/kvpack-relaxed.wasm (fused multiply-adds), 0 in build/kvpack.wasm. */
  relaxed_simd(): number;
  /** Codec kernels: encode_* (x, out, headDim, head, params) and score_* / accumulate_* ref getters. */
  [name: string]: unknown;
}
