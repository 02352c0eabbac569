// q4_0 (docs/FORMAT.md "q4_0"): blocks as q8_0, f16 scale m / -8, codes 0..15 (8 = zero) with
// nibble e at bits 4(e % 8) of word e / 8 (the generic code-stream rule).
import { TILE_TOKENS } from '../constants';
import { unpack8Codes } from '../bitpack';
import { q4Code, q4Scale } from '../quant';
import { ROWS } from '../scratch';
import { accumulateRows4, scoreRows4 } from '../vec';
import { accumulateBlocksFolded, blockScale, Q4, Q_BLOCK, scoreBlocksFolded, storeBlockScale } from './q-block';

export function encode_q4_0(x: usize, out: usize, headDim: i32, head: i32, params: usize): void {
  const blocks = (TILE_TOKENS * headDim) / Q_BLOCK;
  const codes = out + (<usize>(blocks >> 1) << 2);
  for (let b = 0; b < blocks; b++) {
    const xb = x + (<usize>(b * Q_BLOCK) << 2);
    // element of largest magnitude, sign kept, first one on ties (as llama.cpp)
    let amax: f32 = 0, m: f32 = 0;
    for (let i = 0; i < Q_BLOCK; i++) {
      const v = load<f32>(xb + (<usize>i << 2));
      if (abs(v) > amax) { amax = abs(v); m = v; }
    }
    const s = q4Scale(m);
    storeBlockScale(out, b, s);
    for (let w = 0; w < Q_BLOCK / 8; w++) {
      let word: u32 = 0;
      for (let k = 0; k < 8; k++) word |= q4Code(load<f32>(xb + (<usize>(w * 8 + k) << 2)), s) << (4 * k);
      store<u32>(codes + (<usize>(b * (Q_BLOCK / 8) + w) << 2), word);
    }
  }
}

/** Rows t..t+3 -> ROWS: (code - 8) * block scale (exact subtraction, then one rounded multiply). */
@inline
function decodeRows4(tile: usize, t: i32, d: i32): void {
  const codes = tile + (<usize>(d >> 1) << 2);
  const e0 = t * d;
  const eight = f32x4.splat(8);
  for (let i = 0; i < 4 * d; i += 8) {
    const e = e0 + i;
    const s = f32x4.splat(blockScale(tile, e >> 5));
    const dst = ROWS + (<usize>i << 2);
    unpack8Codes(codes, e, 4, dst);
    v128.store(dst, f32x4.mul(f32x4.sub(v128.load(dst), eight), s));
    v128.store(dst, f32x4.mul(f32x4.sub(v128.load(dst, 16), eight), s), 16);
  }
}

function scoreQ4(tile: usize, q: usize, group: i32, d: i32, head: i32, params: usize, scratch: usize, scores: usize): void {
  // GQA decodes each row once for the whole group; one query head folds the scales instead
  if (group == 1 && d % 32 == 0) { scoreBlocksFolded(tile, q, d, scores, Q4); return; }
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    decodeRows4(tile, t, d);
    scoreRows4(ROWS, <usize>d << 2, q, group, d, scores, t, TILE_TOKENS);
  }
}

function accumulateQ4(tile: usize, weights: usize, group: i32, d: i32, head: i32, params: usize, acc: usize): void {
  if (group == 1 && d % 32 == 0) { accumulateBlocksFolded(tile, weights, d, acc, Q4); return; }
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    decodeRows4(tile, t, d);
    accumulateRows4(ROWS, <usize>d << 2, weights, t, group, d, acc, TILE_TOKENS);
  }
}

export function score_q4_0(): usize { return changetype<usize>(scoreQ4); }
export function accumulate_q4_0(): usize { return changetype<usize>(accumulateQ4); }
