// q4_0 (docs/FORMAT.md "q4_0"): blocks as q8_0, f16 scale m / -8, codes 0..15 (8 = zero) with
// nibble e at bits 4(e % 8) of word e / 8 (the generic code-stream rule).
import { TILE_TOKENS } from '../../constants';
import { unpack8Codes } from '../../bitpack';
import { clampToInt } from '../../quant-simd';
import { ROWS } from '../../scratch';
import { accumulateRows4, maxLanes, orLanes, scoreRows4 } from '../../vec';
import { accumulateBlocksFolded, blockScale, Q4, Q_BLOCK, scoreBlocksFolded, storeBlockScales4 } from '../q-block';

/**
 * Scalar scan for the block's signed max-magnitude element (first one on ties, as llama.cpp):
 * the SIMD encoder's fallback when lanes tie with different signs.
 */
function signedAbsMaxScalar(xb: usize): f32 {
  let amax: f32 = 0, m: f32 = 0;
  for (let i = 0; i < Q_BLOCK; i++) {
    const v = load<f32>(xb + (<usize>i << 2));
    if (abs(v) > amax) { amax = abs(v); m = v; }
  }
  return m;
}

/**
 * SIMD encoder, words bit-identical to the TS reference. Each lane keeps its first strictly larger
 * |x| (the scalar `>`, NaN never taken); across lanes the largest wins, and when several lanes tie
 * with different values (+a and -a) the element order decides, so that block redoes the scalar scan.
 * Four blocks' f16 scales are converted at once (storeBlockScales4). Blocks per tile (=
 * headDim) are a multiple of 4.
 */
export function encode_q4_0(x: usize, out: usize, headDim: i32, head: i32, params: usize): void {
  const blocks = (TILE_TOKENS * headDim) / Q_BLOCK;
  const codes = out + (<usize>(blocks >> 1) << 2);
  for (let b0 = 0; b0 < blocks; b0 += 4) {
    const x0 = x + (<usize>(b0 * Q_BLOCK) << 2);
    const m = f32x4(blockSignedMax(x0), blockSignedMax(x0 + 128), blockSignedMax(x0 + 256), blockSignedMax(x0 + 384));
    const scales = storeBlockScales4(out, b0, f32x4.div(m, f32x4.splat(-8))); // f16(m / -8), as ts/codecs/uniform.ts q4Scale
    q4Block(x0, codes + (<usize>(b0 * (Q_BLOCK / 8)) << 2), f32x4.splat(f32x4.extract_lane(scales, 0)));
    q4Block(x0 + 128, codes + (<usize>((b0 + 1) * (Q_BLOCK / 8)) << 2), f32x4.splat(f32x4.extract_lane(scales, 1)));
    q4Block(x0 + 256, codes + (<usize>((b0 + 2) * (Q_BLOCK / 8)) << 2), f32x4.splat(f32x4.extract_lane(scales, 2)));
    q4Block(x0 + 384, codes + (<usize>((b0 + 3) * (Q_BLOCK / 8)) << 2), f32x4.splat(f32x4.extract_lane(scales, 3)));
  }
}

/** The element of largest |x| of the 32 at xb (sign kept; the first one on ties, as llama.cpp). */
@inline
function blockSignedMax(xb: usize): f32 {
  let va = f32x4.splat(0), vm = f32x4.splat(0);
  for (let k = 0; k < Q_BLOCK; k += 4) {
    const v = v128.load(xb + (<usize>k << 2));
    const a = f32x4.abs(v);
    const gt = f32x4.gt(a, va);
    va = v128.bitselect(a, va, gt);
    vm = v128.bitselect(v, vm, gt);
  }
  const amax = maxLanes(va); // magnitudes: no NaN, no -0
  const eqMax = f32x4.eq(va, f32x4.splat(amax));
  // the OR of the lanes at the max is their common bits when they agree (+0/-0 count as
  // different), and differs from at least one of them when they do not: no branch on the lane
  const pick = orLanes(v128.and(vm, eqMax));
  const differ = i32x4.bitmask(v128.and(eqMax, i32x4.ne(vm, i32x4.splat(<i32>pick))));
  return differ == 0 ? reinterpret<f32>(pick) : signedAbsMaxScalar(xb);
}

/**
 * The block's 4 code words at once with scale sv: codes of elements 8w..8w+7 narrowed to i16,
 * adjacent pairs joined by a dot with (1, 16) into bytes e + 16 e', the 16 bytes narrowed in
 * element order: word w's byte k holds nibbles 2k, 2k+1 (bits 4e of the word), as the TS encoder.
 */
@inline
function q4Block(xb: usize, cw: usize, sv: v128): void {
  const top = f32x4.splat(15), zero = f32x4.splat(0), bias = f32x4.splat(8.5), eight = i32x4.splat(8);
  const nibblePair = i16x8(1, 16, 1, 16, 1, 16, 1, 16);
  const sIsZero = f32x4.eq(sv, zero);
  const pw0 = q4Pairs(xb, sv, sIsZero, top, zero, bias, eight, nibblePair), pw1 = q4Pairs(xb + 32, sv, sIsZero, top, zero, bias, eight, nibblePair);
  const pw2 = q4Pairs(xb + 64, sv, sIsZero, top, zero, bias, eight, nibblePair), pw3 = q4Pairs(xb + 96, sv, sIsZero, top, zero, bias, eight, nibblePair);
  v128.store(cw, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(pw0, pw1), i16x8.narrow_i32x4_u(pw2, pw3)));
}

/** Codes of the 8 elements at p as 4 i32 lanes e + 16 e' (pairs of adjacent elements). */
@inline
function q4Pairs(p: usize, s: v128, sIsZero: v128, top: v128, zero: v128, bias: v128, eight: v128, nibblePair: v128): v128 {
  const c = i16x8.narrow_i32x4_s(q4Code4(v128.load(p), s, sIsZero, top, zero, bias, eight),
    q4Code4(v128.load(p, 16), s, sIsZero, top, zero, bias, eight));
  return i32x4.dot_i16x8_s(c, nibblePair);
}

/** clamp(floor(x / s + 8.5), 0, 15) per lane as i32, 8 where s == 0. */
@inline
function q4Code4(v: v128, s: v128, sIsZero: v128, top: v128, zero: v128, bias: v128, eight: v128): v128 {
  return v128.bitselect(eight, clampToInt(f32x4.floor(f32x4.add(f32x4.div(v, s), bias)), zero, top), sIsZero);
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
