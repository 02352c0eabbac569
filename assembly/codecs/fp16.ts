// fp16 (docs/FORMAT.md "fp16"): word i = f16 pair (element 2i, 2i+1), saturating conversion.
import { TILE_TOKENS } from '../constants';
import { f16x4ToF32x4, metaF16Bits } from '../f16';
import { ROW } from '../scratch';
import { axpyGroup, dotGroup } from '../vec';

export function encode_fp16(x: usize, out: usize, headDim: i32, head: i32, params: usize): void {
  const words = (TILE_TOKENS * headDim) >> 1;
  for (let i = 0; i < words; i++) {
    const p = x + (<usize>i << 3);
    store<u32>(out + (<usize>i << 2), metaF16Bits(load<f32>(p)) | (metaF16Bits(load<f32>(p, 4)) << 16));
  }
}

/** Row t (d halves, in element order in memory) -> ROW as f32, 8 at a time. */
@inline
function decodeRow(tile: usize, t: i32, d: i32): void {
  const src = tile + (<usize>(t * d) << 1);
  for (let c = 0; c < d; c += 8) {
    const h = v128.load(src + (<usize>c << 1));
    v128.store(ROW + (<usize>c << 2), f16x4ToF32x4(i32x4.extend_low_i16x8_u(h)));
    v128.store(ROW + (<usize>c << 2), f16x4ToF32x4(i32x4.extend_high_i16x8_u(h)), 16);
  }
}

function scoreFp16(tile: usize, q: usize, group: i32, d: i32, head: i32, params: usize, scratch: usize, scores: usize): void {
  for (let t = 0; t < TILE_TOKENS; t++) {
    decodeRow(tile, t, d);
    dotGroup(ROW, q, group, d, scores, t, TILE_TOKENS);
  }
}

function accumulateFp16(tile: usize, weights: usize, group: i32, d: i32, head: i32, params: usize, acc: usize): void {
  for (let t = 0; t < TILE_TOKENS; t++) {
    decodeRow(tile, t, d);
    axpyGroup(ROW, weights, t, group, d, acc, TILE_TOKENS);
  }
}

export function score_fp16(): usize { return changetype<usize>(scoreFp16); }
export function accumulate_fp16(): usize { return changetype<usize>(accumulateFp16); }
