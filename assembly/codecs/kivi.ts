// KIVI (Liu et al. 2024, arXiv 2402.02750; docs/FORMAT.md "KIVI"): asymmetric b-bit codes with
// f16 (scale, zero) pairs; keys per-channel (meta word c covers the tile's 32 tokens of channel
// c), values per-token (meta word t*(d/G)+j covers channels [jG, jG+G) of token t, G = min(32, d)).
// Codes (b*d words) follow the metadata.
import { TILE_TOKENS } from '../constants';
import { f16x4ToF32x4 } from '../f16';
import { putCode, unpack8Codes, zeroWords } from '../bitpack';
import { affineCode, affineParams, affineScale, affineZero, metaScale, metaZero } from '../quant';
import { META_A, META_B, ROWS } from '../scratch';
import { accumulateRows4, scoreRows4 } from '../vec';

function encodeKeys(x: usize, out: usize, d: i32, bits: i32): void {
  const codes = out + (<usize>d << 2);
  zeroWords(codes, bits * d);
  for (let c = 0; c < d; c++) {
    let mn: f32 = Infinity, mx: f32 = -Infinity;
    for (let t = 0; t < TILE_TOKENS; t++) {
      const v = load<f32>(x + (<usize>(t * d + c) << 2));
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    store<u32>(out + (<usize>c << 2), affineParams(mn, mx, bits, 1));
    const s = affineScale, z = affineZero;
    for (let t = 0; t < TILE_TOKENS; t++) {
      const e = t * d + c;
      putCode(codes, e, bits, affineCode(load<f32>(x + (<usize>e << 2)), s, z, bits));
    }
  }
}

function encodeValues(x: usize, out: usize, d: i32, bits: i32): void {
  const G = min(32, d);
  const groups = (TILE_TOKENS * d) / G;
  const codes = out + (<usize>groups << 2);
  zeroWords(codes, bits * d);
  for (let g = 0; g < groups; g++) {
    const xg = x + (<usize>(g * G) << 2);
    let mn: f32 = Infinity, mx: f32 = -Infinity;
    for (let i = 0; i < G; i++) {
      const v = load<f32>(xg + (<usize>i << 2));
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    store<u32>(out + (<usize>g << 2), affineParams(mn, mx, bits, 1));
    const s = affineScale, z = affineZero;
    for (let i = 0; i < G; i++) putCode(codes, g * G + i, bits, affineCode(load<f32>(xg + (<usize>i << 2)), s, z, bits));
  }
}

export function encode_kivi2_key(x: usize, out: usize, headDim: i32, head: i32, params: usize): void { encodeKeys(x, out, headDim, 2); }
export function encode_kivi4_key(x: usize, out: usize, headDim: i32, head: i32, params: usize): void { encodeKeys(x, out, headDim, 4); }
export function encode_kivi8_key(x: usize, out: usize, headDim: i32, head: i32, params: usize): void { encodeKeys(x, out, headDim, 8); }
export function encode_kivi2_value(x: usize, out: usize, headDim: i32, head: i32, params: usize): void { encodeValues(x, out, headDim, 2); }
export function encode_kivi4_value(x: usize, out: usize, headDim: i32, head: i32, params: usize): void { encodeValues(x, out, headDim, 4); }
export function encode_kivi8_value(x: usize, out: usize, headDim: i32, head: i32, params: usize): void { encodeValues(x, out, headDim, 8); }

/** Per-channel key metadata of one tile -> META_A (scales) and META_B (zeros), once per tile. */
@inline
function decodeKeyMeta(tile: usize, d: i32): void {
  for (let c = 0; c < d; c += 4) {
    const w = v128.load(tile + (<usize>c << 2));
    v128.store(META_A + (<usize>c << 2), f16x4ToF32x4(v128.and(w, i32x4.splat(0xffff))));
    v128.store(META_B + (<usize>c << 2), f16x4ToF32x4(i32x4.shr_u(w, 16)));
  }
}

/** Key rows t..t+3 -> ROWS: x = code * scale_c + zero_c (multiply, then add: the reference's two roundings). */
@inline
function decodeKeyRows4(codes: usize, t: i32, d: i32, bits: i32): void {
  for (let r = 0; r < 4; r++) {
    const row = ROWS + (<usize>(r * d) << 2);
    const e0 = (t + r) * d;
    for (let c = 0; c < d; c += 8) {
      const dst = row + (<usize>c << 2), m = <usize>c << 2;
      unpack8Codes(codes, e0 + c, bits, dst);
      v128.store(dst, f32x4.add(f32x4.mul(v128.load(dst), v128.load(META_A + m)), v128.load(META_B + m)));
      v128.store(dst, f32x4.add(f32x4.mul(v128.load(dst, 16), v128.load(META_A + m, 16)), v128.load(META_B + m, 16)), 16);
    }
  }
}

/**
 * Value rows t..t+3 -> ROWS: groups of G = min(32, d) consecutive tile elements share one
 * (scale, zero). An 8-chunk never crosses a group (G is 32 or d, both multiples of 8), though
 * with d > 32 and d % 32 != 0 a group may cross tokens.
 */
@inline
function decodeValueRows4(tile: usize, codes: usize, t: i32, d: i32, bits: i32): void {
  const G = min(32, d);
  const e0 = t * d;
  for (let i = 0; i < 4 * d; i += 8) {
    const e = e0 + i;
    const dst = ROWS + (<usize>i << 2);
    const meta = load<u32>(tile + (<usize>(e / G) << 2));
    const s = f32x4.splat(metaScale(meta)), z = f32x4.splat(metaZero(meta));
    unpack8Codes(codes, e, bits, dst);
    v128.store(dst, f32x4.add(f32x4.mul(v128.load(dst), s), z));
    v128.store(dst, f32x4.add(f32x4.mul(v128.load(dst, 16), s), z), 16);
  }
}

@inline
function scoreKeys(tile: usize, q: usize, group: i32, d: i32, scores: usize, bits: i32): void {
  decodeKeyMeta(tile, d);
  const codes = tile + (<usize>d << 2);
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    decodeKeyRows4(codes, t, d, bits);
    scoreRows4(ROWS, <usize>d << 2, q, group, d, scores, t, TILE_TOKENS);
  }
}

@inline
function accumulateValues(tile: usize, weights: usize, group: i32, d: i32, acc: usize, bits: i32): void {
  const codes = tile + (<usize>((TILE_TOKENS * d) / min(32, d)) << 2);
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    decodeValueRows4(tile, codes, t, d, bits);
    accumulateRows4(ROWS, <usize>d << 2, weights, t, group, d, acc, TILE_TOKENS);
  }
}

// One specialization per width so the unpack's `bits` branch folds away.
function scoreKivi2(tile: usize, q: usize, group: i32, d: i32, head: i32, params: usize, scratch: usize, scores: usize): void { scoreKeys(tile, q, group, d, scores, 2); }
function scoreKivi4(tile: usize, q: usize, group: i32, d: i32, head: i32, params: usize, scratch: usize, scores: usize): void { scoreKeys(tile, q, group, d, scores, 4); }
function scoreKivi8(tile: usize, q: usize, group: i32, d: i32, head: i32, params: usize, scratch: usize, scores: usize): void { scoreKeys(tile, q, group, d, scores, 8); }
function accumulateKivi2(tile: usize, weights: usize, group: i32, d: i32, head: i32, params: usize, acc: usize): void { accumulateValues(tile, weights, group, d, acc, 2); }
function accumulateKivi4(tile: usize, weights: usize, group: i32, d: i32, head: i32, params: usize, acc: usize): void { accumulateValues(tile, weights, group, d, acc, 4); }
function accumulateKivi8(tile: usize, weights: usize, group: i32, d: i32, head: i32, params: usize, acc: usize): void { accumulateValues(tile, weights, group, d, acc, 8); }

export function score_kivi2(): usize { return changetype<usize>(scoreKivi2); }
export function score_kivi4(): usize { return changetype<usize>(scoreKivi4); }
export function score_kivi8(): usize { return changetype<usize>(scoreKivi8); }
export function accumulate_kivi2(): usize { return changetype<usize>(accumulateKivi2); }
export function accumulate_kivi4(): usize { return changetype<usize>(accumulateKivi4); }
export function accumulate_kivi8(): usize { return changetype<usize>(accumulateKivi8); }
