// fp32 (docs/FORMAT.md "fp32"): the tile is the f32 data itself, so attention reads rows in place.
import { TILE_TOKENS } from '../../constants';
import { accumulateRows4, scoreRows4 } from '../../vec';

export function encode_fp32(x: usize, out: usize, headDim: i32, head: i32, params: usize): void {
  memory.copy(out, x, <usize>(TILE_TOKENS * headDim) << 2);
}

function scoreFp32(tile: usize, q: usize, group: i32, d: i32, head: i32, params: usize, scratch: usize, scores: usize): void {
  const rowBytes = <usize>d << 2;
  for (let t = 0; t < TILE_TOKENS; t += 4) scoreRows4(tile + <usize>t * rowBytes, rowBytes, q, group, d, scores, t, TILE_TOKENS);
}

function accumulateFp32(tile: usize, weights: usize, group: i32, d: i32, head: i32, params: usize, acc: usize): void {
  const rowBytes = <usize>d << 2;
  for (let t = 0; t < TILE_TOKENS; t += 4) accumulateRows4(tile + <usize>t * rowBytes, rowBytes, weights, t, group, d, acc, TILE_TOKENS);
}

export function score_fp32(): usize { return changetype<usize>(scoreFp32); }
export function accumulate_fp32(): usize { return changetype<usize>(accumulateFp32); }
