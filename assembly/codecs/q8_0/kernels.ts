// q8_0 (docs/FORMAT.md "q8_0"): blocks of 32 tile elements, f16 scale pairs (d/2 words), then
// int8 codes (8d words). An 8-element chunk never crosses a block (d is a multiple of 8).
import { TILE_TOKENS } from '../../constants';
import { clampToInt } from '../../quant-simd';
import { ROWS } from '../../scratch';
import { accumulateRows4, maxLanes, scoreRows4 } from '../../vec';
import { accumulateBlocksFolded, blockScale, Q8, Q_BLOCK, scoreBlocksFolded, storeBlockScales4 } from '../q-block';

/**
 * SIMD encoder, words bit-identical to the TS reference: max |x| is a lane-wise pmax (inputs are
 * finite and |+-0| = +0, so lane order cannot matter), four blocks' f16 scales are converted at
 * once (storeBlockScales4), codes are the per-lane IEEE div/add/floor of q8Code, clamped, converted (quant-simd.ts)
 * and narrowed (exact: |code| <= 127). Blocks per tile (= headDim) are a multiple of 4.
 */
export function encode_q8_0(x: usize, out: usize, headDim: i32, head: i32, params: usize): void {
  const blocks = (TILE_TOKENS * headDim) / Q_BLOCK;
  const codes = out + (<usize>(blocks >> 1) << 2);
  const lo = f32x4.splat(-127), hi = f32x4.splat(127), half = f32x4.splat(0.5);
  for (let b0 = 0; b0 < blocks; b0 += 4) {
    const x0 = x + (<usize>(b0 * Q_BLOCK) << 2);
    const amax = f32x4(blockAbsMax(x0), blockAbsMax(x0 + 128), blockAbsMax(x0 + 256), blockAbsMax(x0 + 384));
    const scales = storeBlockScales4(out, b0, f32x4.div(amax, f32x4.splat(127))); // f16(amax / 127)
    q8Block(x0, codes + <usize>(b0 * Q_BLOCK), f32x4.splat(f32x4.extract_lane(scales, 0)), lo, hi, half);
    q8Block(x0 + 128, codes + <usize>((b0 + 1) * Q_BLOCK), f32x4.splat(f32x4.extract_lane(scales, 1)), lo, hi, half);
    q8Block(x0 + 256, codes + <usize>((b0 + 2) * Q_BLOCK), f32x4.splat(f32x4.extract_lane(scales, 2)), lo, hi, half);
    q8Block(x0 + 384, codes + <usize>((b0 + 3) * Q_BLOCK), f32x4.splat(f32x4.extract_lane(scales, 3)), lo, hi, half);
  }
}

/** max |x| over the 32 elements at xb. */
@inline
function blockAbsMax(xb: usize): f32 {
  let vmax = f32x4.splat(0);
  for (let k = 0; k < Q_BLOCK; k += 4) vmax = f32x4.pmax(vmax, f32x4.abs(v128.load(xb + (<usize>k << 2))));
  return maxLanes(vmax); // magnitudes: no NaN, no -0
}

/** The 32 codes of the block at xb with scale sv into cb. */
@inline
function q8Block(xb: usize, cb: usize, sv: v128, lo: v128, hi: v128, half: v128): void {
  const sIsZero = f32x4.eq(sv, f32x4.splat(0));
  for (let k = 0; k < Q_BLOCK; k += 16) {
    const p = xb + (<usize>k << 2);
    const c0 = q8Code4(v128.load(p), sv, sIsZero, lo, hi, half), c1 = q8Code4(v128.load(p, 16), sv, sIsZero, lo, hi, half);
    const c2 = q8Code4(v128.load(p, 32), sv, sIsZero, lo, hi, half), c3 = q8Code4(v128.load(p, 48), sv, sIsZero, lo, hi, half);
    v128.store(cb + <usize>k, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(c0, c1), i16x8.narrow_i32x4_s(c2, c3)));
  }
}

/** clamp(floor(x / s + 0.5), -127, 127) per lane as i32, 0 where s == 0. */
@inline
function q8Code4(v: v128, s: v128, sIsZero: v128, lo: v128, hi: v128, half: v128): v128 {
  return v128.andnot(clampToInt(f32x4.floor(f32x4.add(f32x4.div(v, s), half)), lo, hi), sIsZero);
}

/** Rows t..t+3 (elements 4d from t*d, contiguous in tile order) -> ROWS: code * block scale. */
@inline
function decodeRows4(tile: usize, t: i32, d: i32): void {
  const codes = tile + (<usize>(d >> 1) << 2); // blocks per tile = d, so d/2 scale words
  const e0 = t * d;
  for (let i = 0; i < 4 * d; i += 8) {
    const e = e0 + i;
    const s = f32x4.splat(blockScale(tile, e >> 5));
    const w16 = i16x8.extend_low_i8x16_s(v128.load64_zero(codes + <usize>e));
    const dst = ROWS + (<usize>i << 2);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w16)), s));
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w16)), s), 16);
  }
}

function scoreQ8(tile: usize, q: usize, group: i32, d: i32, head: i32, params: usize, scratch: usize, scores: usize): void {
  // GQA decodes each row once for the whole group; one query head folds the scales instead
  if (group == 1 && d % 32 == 0) { scoreBlocksFolded(tile, q, d, scores, Q8); return; }
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    decodeRows4(tile, t, d);
    scoreRows4(ROWS, <usize>d << 2, q, group, d, scores, t, TILE_TOKENS);
  }
}

function accumulateQ8(tile: usize, weights: usize, group: i32, d: i32, head: i32, params: usize, acc: usize): void {
  if (group == 1 && d % 32 == 0) { accumulateBlocksFolded(tile, weights, d, acc, Q8); return; }
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    decodeRows4(tile, t, d);
    accumulateRows4(ROWS, <usize>d << 2, weights, t, group, d, acc, TILE_TOKENS);
  }
}

export function score_q8_0(): usize { return changetype<usize>(scoreQ8); }
export function accumulate_q8_0(): usize { return changetype<usize>(accumulateQ8); }
