// Scale region shared by q8_0 and q4_0: one f16 per 32-element block, pairs per word
// (block 2j in bits 0-15 of word j, block 2j+1 in bits 16-31), i.e. u16 b of the region.
import { TILE_TOKENS } from '../constants';
import { f16BitsToF32, f16x4ToF32x4, f32x4ToF16x4Sat } from '../f16';
import { placeQuery, placeScale, placeUnscale, placedInts } from '../bitpack';
import { META_A } from '../scratch';
import { hsum4, madd4 } from '../vec';

export const Q_BLOCK: i32 = 32;

@inline
export function blockScale(tile: usize, b: i32): f32 {
  return f16BitsToF32(<u32>load<u16>(tile + (<usize>b << 1)));
}

/**
 * The scales of blocks b..b+3 (b a multiple of 4) from four f32 values: f16 bits (saturated,
 * metaF16Bits lane by lane) into u16 slots b..b+3, and the stored values returned. Converting four
 * at once: one at a time the scale was ~20% of the q8_0 encode.
 */
@inline
export function storeBlockScales4(out: usize, b: i32, x: v128): v128 {
  const bits = f32x4ToF16x4Sat(x);
  v128.store64_lane(out + (<usize>b << 1), i16x8.narrow_i32x4_u(bits, bits), 0);
  return f16x4ToF32x4(bits);
}

// Folded kernels for one KV head's query (group 1, d % 32 == 0, so a 32-element block is 32
// channels of one token): the block scale multiplies a partial dot product (keys) or the softmax
// weight (values) instead of every decoded element, and codes go from bytes to f32 lanes in
// registers, never through a decoded row. Rounding differs from decode-then-dot (products summed
// in another order); tests/conformance/wasm.test.ts bounds it. `kind` is a constant at every call
// site (Q8 or Q4), so the branch folds away after inlining.
export const Q8: i32 = 0;
export const Q4: i32 = 1;

/** Codes of elements e..e+3 (e a multiple of 4) as f32: q8_0 int8 values, q4_0 nibble - 8 (exact). */
@inline
function unpackBlock4(codes: usize, e: i32, kind: i32): v128 {
  if (kind == Q8) {
    return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(codes + <usize>e))));
  }
  const w = i32x4.splat(<u32>load<u16>(codes + (<usize>e >> 1)));
  const nib = i32x4.shr_u(i32x4.mul(w, i32x4(1 << 28, 1 << 24, 1 << 20, 1 << 16)), 28);
  return f32x4.convert_i32x4_s(i32x4.sub(nib, i32x4.splat(8)));
}

/**
 * The tile's block scales as f32 into META_A[t * blocksPerToken + b], four f16 at a time (one at a
 * time, the scalar conversion per block and token was a visible share of the folded kernels).
 * TILE_TOKENS * d / 32 = d scales: META_A holds them; n (= d) is a multiple of 8.
 */
@inline
function decodeBlockScales(tile: usize, n: i32): void {
  for (let i = 0; i < n; i += 8) {
    const h = v128.load(tile + (<usize>i << 1));
    v128.store(META_A + (<usize>i << 2), f16x4ToF32x4(i32x4.extend_low_i16x8_u(h)));
    v128.store(META_A + (<usize>i << 2), f16x4ToF32x4(i32x4.extend_high_i16x8_u(h)), 16);
  }
}

/** Folded query of q4_0: q times placeScale per code word (8 channels), d floats into QP. */
const QP: usize = memory.data(256 * 4, 16);

/**
 * q4_0 codes k*4..k*4+3 of a splatted code word as (nibble - 8) << P (placedInts), converted:
 * exact integers below 2^16; the folded query carries 2^-P (see placedCodes).
 */
@inline
function q4Placed(w: v128, k: i32): v128 {
  return f32x4.convert_i32x4_s(i32x4.sub(placedInts(w, k, 4), i32x4(8, 8 << 4, 8 << 8, 8 << 12)));
}

/** scores[t] = sum over blocks b of s_tb * (q_b . code_tb), 4 tokens at a time. */
@inline
export function scoreBlocksFolded(tile: usize, q: usize, d: i32, scores: usize, kind: i32): void {
  const codes = tile + (<usize>(d >> 1) << 2);
  const blocksPerToken = d >> 5;
  decodeBlockScales(tile, d);
  if (kind == Q4) placeQuery(q, QP, d, 4);
  const row = <usize>(d >> 1);
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    for (let b = 0; b < blocksPerToken; b++) {
      let p0 = f32x4.splat(0), p1 = f32x4.splat(0), p2 = f32x4.splat(0), p3 = f32x4.splat(0);
      const e0 = t * d + b * Q_BLOCK;
      if (kind == Q4) {
        for (let k = 0; k < Q_BLOCK; k += 8) {
          const qo = QP + (<usize>(b * Q_BLOCK + k) << 2);
          const q0 = v128.load(qo), q1 = v128.load(qo, 16);
          const p = codes + (<usize>(e0 + k) >> 1);
          const w0 = v128.load32_splat(p), w1 = v128.load32_splat(p + row);
          const w2 = v128.load32_splat(p + 2 * row), w3 = v128.load32_splat(p + 3 * row);
          p0 = madd4(q1, q4Placed(w0, 1), madd4(q0, q4Placed(w0, 0), p0));
          p1 = madd4(q1, q4Placed(w1, 1), madd4(q0, q4Placed(w1, 0), p1));
          p2 = madd4(q1, q4Placed(w2, 1), madd4(q0, q4Placed(w2, 0), p2));
          p3 = madd4(q1, q4Placed(w3, 1), madd4(q0, q4Placed(w3, 0), p3));
        }
      } else {
        for (let k = 0; k < Q_BLOCK; k += 4) {
          const qv = v128.load(q + (<usize>(b * Q_BLOCK + k) << 2));
          p0 = madd4(qv, unpackBlock4(codes, e0 + k, kind), p0);
          p1 = madd4(qv, unpackBlock4(codes, e0 + d + k, kind), p1);
          p2 = madd4(qv, unpackBlock4(codes, e0 + 2 * d + k, kind), p2);
          p3 = madd4(qv, unpackBlock4(codes, e0 + 3 * d + k, kind), p3);
        }
      }
      const blk = <usize>(e0 >> 5) << 2, step = <usize>blocksPerToken << 2;
      s0 = madd4(p0, v128.load32_splat(META_A + blk), s0);
      s1 = madd4(p1, v128.load32_splat(META_A + blk + step), s1);
      s2 = madd4(p2, v128.load32_splat(META_A + blk + 2 * step), s2);
      s3 = madd4(p3, v128.load32_splat(META_A + blk + 3 * step), s3);
    }
    v128.store(scores + (<usize>t << 2), hsum4(s0, s1, s2, s3));
  }
}

/**
 * acc[c] += sum_t (w_t * s_tb) * code_tc, one 32-channel block in 8 register accumulators at a
 * time; q4_0 codes stay placed (placedInts) and the accumulators run times 2^P for the tile.
 */
@inline
export function accumulateBlocksFolded(tile: usize, weights: usize, d: i32, acc: usize, kind: i32): void {
  const codes = tile + (<usize>(d >> 1) << 2);
  const blocksPerToken = d >> 5;
  decodeBlockScales(tile, d);
  for (let b = 0; b < blocksPerToken; b++) {
    const ab = acc + (<usize>(b * Q_BLOCK) << 2);
    let a0 = v128.load(ab), a1 = v128.load(ab, 16), a2 = v128.load(ab, 32), a3 = v128.load(ab, 48);
    let a4 = v128.load(ab, 64), a5 = v128.load(ab, 80), a6 = v128.load(ab, 96), a7 = v128.load(ab, 112);
    if (kind == Q4) {
      const u0 = placeUnscale(0, 4), u1 = placeUnscale(1, 4);
      a0 = f32x4.mul(a0, u0); a1 = f32x4.mul(a1, u1); a2 = f32x4.mul(a2, u0); a3 = f32x4.mul(a3, u1);
      a4 = f32x4.mul(a4, u0); a5 = f32x4.mul(a5, u1); a6 = f32x4.mul(a6, u0); a7 = f32x4.mul(a7, u1);
    }
    for (let t = 0; t < TILE_TOKENS; t++) {
      const e = t * d + b * Q_BLOCK;
      const ws = f32x4.splat(load<f32>(weights + (<usize>t << 2)) * load<f32>(META_A + (<usize>(e >> 5) << 2)));
      if (kind == Q4) {
        const p = codes + (<usize>e >> 1);
        const w0 = v128.load32_splat(p), w1 = v128.load32_splat(p, 4), w2 = v128.load32_splat(p, 8), w3 = v128.load32_splat(p, 12);
        a0 = madd4(ws, q4Placed(w0, 0), a0);
        a1 = madd4(ws, q4Placed(w0, 1), a1);
        a2 = madd4(ws, q4Placed(w1, 0), a2);
        a3 = madd4(ws, q4Placed(w1, 1), a3);
        a4 = madd4(ws, q4Placed(w2, 0), a4);
        a5 = madd4(ws, q4Placed(w2, 1), a5);
        a6 = madd4(ws, q4Placed(w3, 0), a6);
        a7 = madd4(ws, q4Placed(w3, 1), a7);
      } else {
        a0 = madd4(ws, unpackBlock4(codes, e, kind), a0);
        a1 = madd4(ws, unpackBlock4(codes, e + 4, kind), a1);
        a2 = madd4(ws, unpackBlock4(codes, e + 8, kind), a2);
        a3 = madd4(ws, unpackBlock4(codes, e + 12, kind), a3);
        a4 = madd4(ws, unpackBlock4(codes, e + 16, kind), a4);
        a5 = madd4(ws, unpackBlock4(codes, e + 20, kind), a5);
        a6 = madd4(ws, unpackBlock4(codes, e + 24, kind), a6);
        a7 = madd4(ws, unpackBlock4(codes, e + 28, kind), a7);
      }
    }
    if (kind == Q4) {
      const s0 = placeScale(0, 4), s1 = placeScale(1, 4);
      a0 = f32x4.mul(a0, s0); a1 = f32x4.mul(a1, s1); a2 = f32x4.mul(a2, s0); a3 = f32x4.mul(a3, s1);
      a4 = f32x4.mul(a4, s0); a5 = f32x4.mul(a5, s1); a6 = f32x4.mul(a6, s0); a7 = f32x4.mul(a7, s1);
    }
    v128.store(ab, a0); v128.store(ab, a1, 16); v128.store(ab, a2, 32); v128.store(ab, a3, 48);
    v128.store(ab, a4, 64); v128.store(ab, a5, 80); v128.store(ab, a6, 96); v128.store(ab, a7, 112);
  }
}
