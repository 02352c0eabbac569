// fp16 (docs/FORMAT.md "fp16"): word i = f16 pair (element 2i, 2i+1), saturating conversion.
import { TILE_TOKENS } from '../../constants';
import { f16x4ToF32x4, f32x4ToF16x4Sat } from '../../f16';
import { ROWS } from '../../scratch';
import { accumulateRows4, scoreRows4 } from '../../vec';

/** 8 elements per step: f16 bits of 2 x 4 lanes, narrowed (exact: bits < 2^16) to 8 u16 in element order. */
export function encode_fp16(x: usize, out: usize, headDim: i32, head: i32, params: usize): void {
  const n = TILE_TOKENS * headDim;
  for (let e = 0; e < n; e += 8) {
    const p = x + (<usize>e << 2);
    v128.store(out + (<usize>e << 1), i16x8.narrow_i32x4_u(f32x4ToF16x4Sat(v128.load(p)), f32x4ToF16x4Sat(v128.load(p, 16))));
  }
}

/** Rows t..t+3 (4d halves, in element order in memory) -> ROWS as f32, 8 at a time. */
@inline
function decodeRows4(tile: usize, t: i32, d: i32): void {
  const src = tile + (<usize>(t * d) << 1);
  const n = <usize>(4 * d);
  for (let e: usize = 0; e < n; e += 8) {
    const h = v128.load(src + (e << 1));
    v128.store(ROWS + (e << 2), f16x4ToF32x4(i32x4.extend_low_i16x8_u(h)));
    v128.store(ROWS + (e << 2), f16x4ToF32x4(i32x4.extend_high_i16x8_u(h)), 16);
  }
}

function scoreFp16(tile: usize, q: usize, group: i32, d: i32, head: i32, params: usize, scratch: usize, scores: usize): void {
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    decodeRows4(tile, t, d);
    scoreRows4(ROWS, <usize>d << 2, q, group, d, scores, t, TILE_TOKENS);
  }
}

function accumulateFp16(tile: usize, weights: usize, group: i32, d: i32, head: i32, params: usize, acc: usize): void {
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    decodeRows4(tile, t, d);
    accumulateRows4(ROWS, <usize>d << 2, weights, t, group, d, acc, TILE_TOKENS);
  }
}

export function score_fp16(): usize { return changetype<usize>(scoreFp16); }
export function accumulate_fp16(): usize { return changetype<usize>(accumulateFp16); }
