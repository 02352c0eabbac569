// Signatures every codec's WASM kernels follow (docs/ARCHITECTURE.md, "WASM kernels").
// Pointers are byte offsets into the module's exported memory; f32/u32 data is 4-byte aligned
// (the host keeps 16-byte alignment so v128 loads stay aligned).

/**
 * Pack one tile of one head: x = TILE_TOKENS * headDim f32 (token-major, model channel order),
 * out = the codec's tileWords u32, every word written. params = the codec's paramWords (all
 * heads) or 0. Exported by name, e.g. `encode_kivi2_key`.
 */
export type EncodeTile = (x: usize, out: usize, headDim: i32, head: i32, params: usize) => void;

/**
 * Key scores of one packed tile for the `group` query heads of KV head `head`:
 * scores[j * TILE_TOKENS + t] = q_j . k_t (NOT scaled by 1/sqrt(d); the driver scales).
 * q: [group][headDim] f32. scratch: what the codec's optional PrepareKeys wrote (or 0).
 */
export type ScoreKeys = (tile: usize, q: usize, group: i32, headDim: i32, head: i32, params: usize,
  scratch: usize, scores: usize) => void;

/**
 * Optional, once per (query, KV head) before the tiles: e.g. CQ's per-query lookup tables.
 * scratch holds the bytes the host's kernel table declares (keyScratchBytes).
 */
export type PrepareKeys = (q: usize, group: i32, headDim: i32, head: i32, params: usize, scratch: usize) => void;

/**
 * Value accumulation of one packed tile: acc[j * S + c] += sum_t weights[j * TILE_TOKENS + t] * v_t[c]
 * where S = headDim (acc is the driver's accumulator) unless the codec declares a value state
 * (valueStateFloats S per query head, then acc is that state, rescaled by the driver with the
 * online softmax, and FinishValues turns it into output space once at the end).
 */
export type AccumulateValues = (tile: usize, weights: usize, group: i32, headDim: i32, head: i32,
  params: usize, acc: usize) => void;

/** Optional: out[j * headDim + c] += decode of state j (e.g. CQ: histogram x centroids). */
export type FinishValues = (state: usize, group: i32, headDim: i32, head: i32, params: usize, out: usize) => void;
