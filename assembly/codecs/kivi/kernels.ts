// KIVI (Liu et al. 2024, arXiv 2402.02750; docs/FORMAT.md "KIVI"): asymmetric b-bit codes with
// f16 (scale, zero) pairs; keys per-channel (meta word c covers the tile's 32 tokens of channel
// c), values per-token (meta word t*(d/G)+j covers channels [jG, jG+G) of token t, G = min(32, d)).
// Codes (b*d words) follow the metadata.
import { TILE_TOKENS } from '../../constants';
import { placeQuery, placeScale, placeUnscale, placedCodes, placedVector, putCode, unpack8Codes, unpackPlacedWord, zeroWords } from '../../bitpack';
import { affineCode4 } from '../../quant-simd';
import { affineCode, affineParams, affineScale, affineZero, metaScale, metaScale4, metaZero, metaZero4 } from '../../quant';
import { MAX_HEAD_DIM } from '../../constants';
import { META_A, META_B, ROWS } from '../../scratch';
import { accumulateRows4, hsum4, madd4, maxLanes, minLanes, orLanes, scoreRows4 } from '../../vec';
import { hsum4i, integerAttention, laneCodes, laneMask, quantizeQueryI16, roundToI32 } from '../../int-dot';

/** Query rows times the tile's per-channel key scales (folded queries), up to FOLDED_Q_FLOATS. */
const FOLDED_Q_FLOATS: i32 = 16 * MAX_HEAD_DIM;
const FOLDED_Q: usize = memory.data(FOLDED_Q_FLOATS * 4, 16);
/** Per query head: q . zero_c over channels (the folded keys' bias), [group]. */
const FOLDED_BIAS: usize = memory.data(16 * 4, 16);

/** Scalar path (any d): the SIMD encoders fall back to it for widths they do not cover. */
function encodeKeysScalar(x: usize, out: usize, d: i32, bits: i32): void {
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

/**
 * Keys with lanes = channels. The per-channel min/max over the tile's tokens is a lane-wise scan
 * in token order seeded with +/-Infinity: pmin(mn, v) = `v < mn ? v : mn` and pmax(mx, v) =
 * `mx < v ? v : mx` are exactly the scalar scan's comparisons (first of +0/-0 kept, NaN never
 * taken), so the metadata and codes are bit-identical to the TS reference's. Each u32 word holds
 * 32/b consecutive channels of one token and is built from code vectors in registers; d % 16 == 0
 * keeps a 2-bit word inside one token.
 */
function encodeKeys(x: usize, out: usize, d: i32, bits: i32): void {
  if (d % 16 != 0) { encodeKeysScalar(x, out, d, bits); return; }
  const rowBytes = <usize>d << 2;
  // per-channel min -> META_A, max -> META_B (scratch; encoding never runs during attention)
  for (let c: usize = 0; c < rowBytes; c += 16) {
    let vmn = f32x4.splat(Infinity), vmx = f32x4.splat(-Infinity);
    for (let t = 0; t < TILE_TOKENS; t++) {
      const v = v128.load(x + <usize>t * rowBytes + c);
      vmn = f32x4.pmin(vmn, v);
      vmx = f32x4.pmax(vmx, v);
    }
    v128.store(META_A + c, vmn);
    v128.store(META_B + c, vmx);
  }
  for (let c = 0; c < d; c++) {
    const cc = <usize>c << 2;
    store<u32>(out + cc, affineParams(load<f32>(META_A + cc), load<f32>(META_B + cc), bits, 1));
    store<f32>(META_A + cc, affineScale);
    store<f32>(META_B + cc, affineZero);
  }
  const codes = out + rowBytes;
  const perWord = 32 / bits, vecPerWord = perWord >> 2;
  const laneShift = i32x4(1, 1 << bits, 1 << (2 * bits), 1 << (3 * bits));
  const top = f32x4.splat(<f32>((1 << bits) - 1));
  const wordsPerToken = d / perWord;
  for (let w = 0; w < wordsPerToken; w++) {
    const c0 = <usize>(w * perWord) << 2;
    for (let t = 0; t < TILE_TOKENS; t++) {
      const xr = x + <usize>t * rowBytes + c0;
      let acc = i32x4.splat(0);
      for (let k = 0; k < vecPerWord; k++) {
        const m = c0 + (<usize>k << 4);
        const s = v128.load(META_A + m);
        const code = affineCode4(v128.load(xr + (<usize>k << 4)), s, v128.load(META_B + m), f32x4.eq(s, f32x4.splat(0)), top);
        acc = v128.or(acc, i32x4.mul(code, i32x4.shl(laneShift, 4 * k * bits)));
      }
      store<u32>(codes + (<usize>(t * wordsPerToken + w) << 2), orLanes(acc));
    }
  }
}

/** Scalar path (any d). */
function encodeValuesScalar(x: usize, out: usize, d: i32, bits: i32): void {
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

/**
 * Values (d % 32 == 0: groups of 32 channels of one token): lane-wise min/max as for keys, then a
 * cross-lane min/max; when the result is a zero, which of +0/-0 the scalar scan kept depends on
 * the order across lanes, so that (rare) group redoes the scalar scan.
 */
function encodeValues(x: usize, out: usize, d: i32, bits: i32): void {
  if (d % 32 != 0) { encodeValuesScalar(x, out, d, bits); return; }
  const groups = (TILE_TOKENS * d) >> 5;
  const codes = out + (<usize>groups << 2);
  const perWord = 32 / bits, vecPerWord = perWord >> 2;
  const laneShift = i32x4(1, 1 << bits, 1 << (2 * bits), 1 << (3 * bits));
  const top = f32x4.splat(<f32>((1 << bits) - 1));
  for (let g = 0; g < groups; g++) {
    const xg = x + (<usize>(g * 32) << 2);
    let vmn = f32x4.splat(Infinity), vmx = f32x4.splat(-Infinity);
    for (let k = 0; k < 8; k++) {
      const v = v128.load(xg + (<usize>k << 4));
      vmn = f32x4.pmin(vmn, v);
      vmx = f32x4.pmax(vmx, v);
    }
    // across lanes the order cannot matter but for a zero result, which the rescan below handles
    let mn = minLanes(vmn), mx = maxLanes(vmx);
    if (mn == 0 || mx == 0) {
      mn = Infinity; mx = -Infinity;
      for (let i = 0; i < 32; i++) {
        const v = load<f32>(xg + (<usize>i << 2));
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
    }
    store<u32>(out + (<usize>g << 2), affineParams(mn, mx, bits, 1));
    const s = f32x4.splat(affineScale), z = f32x4.splat(affineZero);
    const sIsZero = f32x4.eq(s, f32x4.splat(0));
    for (let w = 0; w < bits; w++) {
      let acc = i32x4.splat(0);
      for (let k = 0; k < vecPerWord; k++) {
        const code = affineCode4(v128.load(xg + (<usize>(w * perWord + 4 * k) << 2)), s, z, sIsZero, top);
        acc = v128.or(acc, i32x4.mul(code, i32x4.shl(laneShift, 4 * k * bits)));
      }
      store<u32>(codes + (<usize>(g * bits + w) << 2), orLanes(acc));
    }
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
    v128.store(META_A + (<usize>c << 2), metaScale4(w));
    v128.store(META_B + (<usize>c << 2), metaZero4(w));
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
      v128.store(dst, madd4(v128.load(dst), v128.load(META_A + m), v128.load(META_B + m)));
      v128.store(dst, madd4(v128.load(dst, 16), v128.load(META_A + m, 16), v128.load(META_B + m, 16)), 16);
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
    v128.store(dst, madd4(v128.load(dst), s, z));
    v128.store(dst, madd4(v128.load(dst, 16), s, z), 16);
  }
}

/** 4 codes (elements e..e+3, e a multiple of 4) as f32 lanes straight into a register. */
@inline
function unpack4(codes: usize, e: i32, bits: i32): v128 {
  const p = codes + ((<usize>e * <usize>bits) >>> 3);
  if (bits == 2) {
    const w = i32x4.splat(<u32>load<u8>(p));
    return f32x4.convert_i32x4_s(i32x4.shr_u(i32x4.mul(w, i32x4(1 << 30, 1 << 28, 1 << 26, 1 << 24)), 30));
  } else if (bits == 4) {
    const w = i32x4.splat(<u32>load<u16>(p));
    return f32x4.convert_i32x4_s(i32x4.shr_u(i32x4.mul(w, i32x4(1 << 28, 1 << 24, 1 << 20, 1 << 16)), 28));
  }
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p))));
}

/**
 * Group 1 (MHA): q . (code * s + z) = (q * s) . code + q . z, so the per-channel scales are folded
 * into the query once per tile and codes are dotted straight from registers (no decoded rows).
 * 2- and 4-bit codes stay where they sit in their word (placedCodes: one AND and a convert per 4
 * codes) and the folded query takes their 2^-P; 8-bit codes are widened (unpack4). Rounding differs
 * from decode-then-dot (f32 products in another order); tests/conformance/wasm.test.ts allows it.
 * With group > 1 this would unpack every code once per query head: GQA uses scoreKeysFoldedGroup.
 */
@inline
function scoreKeysFolded(tile: usize, q: usize, group: i32, d: i32, scores: usize, bits: i32): void {
  decodeKeyMeta(tile, d);
  const codes = tile + (<usize>d << 2);
  const rowBytes = <usize>d << 2;
  for (let j = 0; j < group; j++) {
    const qj = q + <usize>j * rowBytes, qs = FOLDED_Q;
    let bias = f32x4.splat(0);
    for (let c: usize = 0; c < rowBytes; c += 16) {
      const qv = v128.load(qj + c);
      v128.store(qs + c, f32x4.mul(qv, v128.load(META_A + c)));
      bias = madd4(qv, v128.load(META_B + c), bias);
    }
    const b = f32x4.splat((f32x4.extract_lane(bias, 0) + f32x4.extract_lane(bias, 1)) + (f32x4.extract_lane(bias, 2) + f32x4.extract_lane(bias, 3)));
    if (!placed(d, bits)) {
      scoreFoldedUnpacked(codes, qs, d, scores + (<usize>(j * TILE_TOKENS) << 2), b, bits);
      continue;
    }
    // one code word = 32 / bits channels = 128 / bits bytes of the folded query
    const wordQ = <usize>(128 / bits), codeRow = <usize>((d * bits) >> 3);
    placeQuery(qs, qs, d, bits);
    for (let t = 0; t < TILE_TOKENS; t += 4) {
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
      let p = codes + <usize>t * codeRow;
      for (let c: usize = 0; c < rowBytes; c += wordQ) {
        const q0 = v128.load(qs + c), q1 = v128.load(qs + c, 16);
        const q2 = bits == 2 ? v128.load(qs + c, 32) : q0, q3 = bits == 2 ? v128.load(qs + c, 48) : q0;
        s0 = addPlacedDot(s0, q0, q1, q2, q3, v128.load32_splat(p), bits);
        s1 = addPlacedDot(s1, q0, q1, q2, q3, v128.load32_splat(p + codeRow), bits);
        s2 = addPlacedDot(s2, q0, q1, q2, q3, v128.load32_splat(p + 2 * codeRow), bits);
        s3 = addPlacedDot(s3, q0, q1, q2, q3, v128.load32_splat(p + 3 * codeRow), bits);
        p += 4;
      }
      v128.store(scores + (<usize>(j * TILE_TOKENS + t) << 2), f32x4.add(hsum4(s0, s1, s2, s3), b));
    }
  }
}

/** s + q0 . codes 0-3 + q1 . codes 4-7 (+ q2, q3 . codes 8-15 for 2 bits) of the splatted word w, in channel order. */
@inline
function addPlacedDot(s: v128, q0: v128, q1: v128, q2: v128, q3: v128, w: v128, bits: i32): v128 {
  let r = madd4(q0, placedCodes(w, 0, bits), s);
  r = madd4(q1, placedCodes(w, 1, bits), r);
  if (bits == 2) {
    r = madd4(q2, placedCodes(w, 2, bits), r);
    r = madd4(q3, placedCodes(w, 3, bits), r);
  }
  return r;
}

/**
 * Whether a tile's codes go through placedCodes: 2- or 4-bit with whole code words per token row
 * (d a multiple of 32 / bits), so a word's lane positions P are the same for every token.
 */
@inline
function placed(d: i32, bits: i32): bool {
  return bits != 8 && d % (32 / bits) == 0;
}

/** scoreKeysFolded without placed codes: scores[t] = qs . code_t + b over the tile, 4 tokens at a time. */
@inline
function scoreFoldedUnpacked(codes: usize, qs: usize, d: i32, scores: usize, b: v128, bits: i32): void {
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    const e0 = t * d;
    for (let c = 0; c < d; c += 4) {
      const qv = v128.load(qs + (<usize>c << 2));
      s0 = madd4(qv, unpack4(codes, e0 + c, bits), s0);
      s1 = madd4(qv, unpack4(codes, e0 + d + c, bits), s1);
      s2 = madd4(qv, unpack4(codes, e0 + 2 * d + c, bits), s2);
      s3 = madd4(qv, unpack4(codes, e0 + 3 * d + c, bits), s3);
    }
    v128.store(scores + (<usize>t << 2), f32x4.add(hsum4(s0, s1, s2, s3), b));
  }
}

/** Decode 4 rows at a time into ROWS, then every query head of the group dots them (GQA). */
@inline
function scoreKeysDecoded(tile: usize, q: usize, group: i32, d: i32, scores: usize, bits: i32): void {
  decodeKeyMeta(tile, d);
  const codes = tile + (<usize>d << 2);
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    decodeKeyRows4(codes, t, d, bits);
    scoreRows4(ROWS, <usize>d << 2, q, group, d, scores, t, TILE_TOKENS);
  }
}

/**
 * GQA (group * d <= FOLDED_Q_FLOATS): every head's query folded with the scales once per tile,
 * then 4 rows of raw codes are unpacked once into ROWS (no scale/zero pass) and dotted with all
 * folded queries, the bias q_j . z added per head. Same rounding caveat as scoreKeysFolded.
 */
@inline
function scoreKeysFoldedGroup(tile: usize, q: usize, group: i32, d: i32, scores: usize, bits: i32): void {
  decodeKeyMeta(tile, d);
  const codes = tile + (<usize>d << 2);
  const rowBytes = <usize>d << 2;
  for (let j = 0; j < group; j++) {
    const qj = q + <usize>j * rowBytes, qs = FOLDED_Q + <usize>j * rowBytes;
    let bias = f32x4.splat(0);
    for (let c: usize = 0; c < rowBytes; c += 16) {
      const qv = v128.load(qj + c);
      v128.store(qs + c, f32x4.mul(qv, v128.load(META_A + c)));
      bias = madd4(qv, v128.load(META_B + c), bias);
    }
    store<f32>(FOLDED_BIAS + (<usize>j << 2), (f32x4.extract_lane(bias, 0) + f32x4.extract_lane(bias, 1)) +
      (f32x4.extract_lane(bias, 2) + f32x4.extract_lane(bias, 3)));
    if (placed(d, bits)) placeQuery(qs, qs, d, bits);
  }
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    if (!placed(d, bits)) {
      for (let i = 0; i < 4 * d; i += 8) unpack8Codes(codes, t * d + i, bits, ROWS + (<usize>i << 2));
    } else {
      // rows of placed codes: the folded queries carry their 2^-P
      const p = codes + ((<usize>(t * d) * <usize>bits) >>> 3);
      for (let i = 0; i < 4 * d; i += 32 / bits) unpackPlacedWord(p + ((<usize>i * <usize>bits) >>> 3), bits, ROWS + (<usize>i << 2));
    }
    scoreRows4(ROWS, rowBytes, FOLDED_Q, group, d, scores, t, TILE_TOKENS);
  }
  for (let j = 0; j < group; j++) {
    const b = f32x4.splat(load<f32>(FOLDED_BIAS + (<usize>j << 2)));
    const sj = scores + (<usize>(j * TILE_TOKENS) << 2);
    for (let t = 0; t < TILE_TOKENS; t += 4) v128.store(sj + (<usize>t << 2), f32x4.add(v128.load(sj + (<usize>t << 2)), b));
  }
}

@inline
function scoreKeys(tile: usize, q: usize, group: i32, d: i32, scores: usize, bits: i32): void {
  if (useIntegerKernels(group, d, bits)) scoreKeysInt(tile, q, group, d, scores, bits);
  else if (group == 1) scoreKeysFolded(tile, q, group, d, scores, bits);
  else if (group <= 16 && group * d <= FOLDED_Q_FLOATS) scoreKeysFoldedGroup(tile, q, group, d, scores, bits);
  else scoreKeysDecoded(tile, q, group, d, scores, bits);
}

/**
 * Value metadata of a tile weighed by the softmax weights, in SIMD: META_A[t * gpt + g] = w_t s_tg
 * and META_B[g] = sum_t w_t z_tg (in token order), gpt = channel groups per token. Converting the
 * f16 pairs four at a time replaces two scalar f16 conversions per (token, group); the products
 * and sums are the scalar ones, lane by lane. TILE_TOKENS * gpt = d floats: META_A holds them.
 */
@inline
function weighValueMeta(tile: usize, weights: usize, gpt: i32): void {
  if (gpt % 4 != 0) {
    for (let g = 0; g < gpt; g++) store<f32>(META_B + (<usize>g << 2), 0);
    for (let t = 0; t < TILE_TOKENS; t++) {
      const w = load<f32>(weights + (<usize>t << 2));
      for (let g = 0; g < gpt; g++) {
        const i = <usize>(t * gpt + g) << 2, meta = load<u32>(tile + i);
        store<f32>(META_A + i, w * metaScale(meta));
        store<f32>(META_B + (<usize>g << 2), load<f32>(META_B + (<usize>g << 2)) + w * metaZero(meta));
      }
    }
    return;
  }
  for (let g = 0; g < gpt; g += 4) v128.store(META_B + (<usize>g << 2), f32x4.splat(0));
  for (let t = 0; t < TILE_TOKENS; t++) {
    const w = v128.load32_splat(weights + (<usize>t << 2));
    for (let g = 0; g < gpt; g += 4) {
      const i = <usize>(t * gpt + g) << 2, meta = v128.load(tile + i), zi = META_B + (<usize>g << 2);
      v128.store(META_A + i, f32x4.mul(w, metaScale4(meta)));
      v128.store(zi, madd4(w, metaZero4(meta), v128.load(zi)));
    }
  }
}

/**
 * Group 1, d % 32 == 0 (each 32-channel group of a token has one (s, z)): acc += w (code s + z)
 * = (w s) code + w z, so w s is folded once per (token, group), the 32 channels accumulate in 8
 * register accumulators across the tile's tokens, and the zero term sum_t w_t z_t is added once.
 * 2- and 4-bit codes stay where they sit in their word (placedCodes): the accumulators run scaled
 * by 2^P per lane for the tile (placeUnscale in, placeScale out; powers of two round nowhere).
 * Rounding differs from decode-then-axpy as for the folded keys.
 */
@inline
function accumulateValuesFolded(tile: usize, weights: usize, d: i32, acc: usize, bits: i32): void {
  const gpt = d >> 5;
  const codes = tile + (<usize>(TILE_TOKENS * gpt) << 2);
  weighValueMeta(tile, weights, gpt);
  for (let g = 0; g < gpt; g++) {
    const ag = acc + (<usize>(g * 32) << 2);
    // accumulator v holds channels 4v..4v+3 of the group: lanes k = v % (8 / bits) of its code word
    const k2 = 2 % (8 / bits), k3 = 3 % (8 / bits);
    let a0 = v128.load(ag), a1 = v128.load(ag, 16), a2 = v128.load(ag, 32), a3 = v128.load(ag, 48);
    let a4 = v128.load(ag, 64), a5 = v128.load(ag, 80), a6 = v128.load(ag, 96), a7 = v128.load(ag, 112);
    if (bits != 8) {
      a0 = f32x4.mul(a0, placeUnscale(0, bits)); a1 = f32x4.mul(a1, placeUnscale(1, bits));
      a2 = f32x4.mul(a2, placeUnscale(k2, bits)); a3 = f32x4.mul(a3, placeUnscale(k3, bits));
      a4 = f32x4.mul(a4, placeUnscale(0, bits)); a5 = f32x4.mul(a5, placeUnscale(1, bits));
      a6 = f32x4.mul(a6, placeUnscale(k2, bits)); a7 = f32x4.mul(a7, placeUnscale(k3, bits));
    }
    for (let t = 0; t < TILE_TOKENS; t++) {
      const ws = v128.load32_splat(META_A + (<usize>(t * gpt + g) << 2));
      const e = t * d + g * 32;
      if (bits != 8) {
        const p = codes + ((<usize>e * <usize>bits) >>> 3);
        const w0 = v128.load32_splat(p), w1 = v128.load32_splat(p, 4);
        const w2 = bits == 4 ? v128.load32_splat(p, 8) : w0, w3 = bits == 4 ? v128.load32_splat(p, 12) : w1;
        a0 = madd4(ws, placedVector(w0, w1, w2, w3, 0, bits), a0);
        a1 = madd4(ws, placedVector(w0, w1, w2, w3, 1, bits), a1);
        a2 = madd4(ws, placedVector(w0, w1, w2, w3, 2, bits), a2);
        a3 = madd4(ws, placedVector(w0, w1, w2, w3, 3, bits), a3);
        a4 = madd4(ws, placedVector(w0, w1, w2, w3, 4, bits), a4);
        a5 = madd4(ws, placedVector(w0, w1, w2, w3, 5, bits), a5);
        a6 = madd4(ws, placedVector(w0, w1, w2, w3, 6, bits), a6);
        a7 = madd4(ws, placedVector(w0, w1, w2, w3, 7, bits), a7);
      } else {
        a0 = madd4(ws, unpack4(codes, e, bits), a0);
        a1 = madd4(ws, unpack4(codes, e + 4, bits), a1);
        a2 = madd4(ws, unpack4(codes, e + 8, bits), a2);
        a3 = madd4(ws, unpack4(codes, e + 12, bits), a3);
        a4 = madd4(ws, unpack4(codes, e + 16, bits), a4);
        a5 = madd4(ws, unpack4(codes, e + 20, bits), a5);
        a6 = madd4(ws, unpack4(codes, e + 24, bits), a6);
        a7 = madd4(ws, unpack4(codes, e + 28, bits), a7);
      }
    }
    if (bits != 8) {
      a0 = f32x4.mul(a0, placeScale(0, bits)); a1 = f32x4.mul(a1, placeScale(1, bits));
      a2 = f32x4.mul(a2, placeScale(k2, bits)); a3 = f32x4.mul(a3, placeScale(k3, bits));
      a4 = f32x4.mul(a4, placeScale(0, bits)); a5 = f32x4.mul(a5, placeScale(1, bits));
      a6 = f32x4.mul(a6, placeScale(k2, bits)); a7 = f32x4.mul(a7, placeScale(k3, bits));
    }
    const z = v128.load32_splat(META_B + (<usize>g << 2));
    v128.store(ag, f32x4.add(a0, z)); v128.store(ag, f32x4.add(a1, z), 16);
    v128.store(ag, f32x4.add(a2, z), 32); v128.store(ag, f32x4.add(a3, z), 48);
    v128.store(ag, f32x4.add(a4, z), 64); v128.store(ag, f32x4.add(a5, z), 80);
    v128.store(ag, f32x4.add(a6, z), 96); v128.store(ag, f32x4.add(a7, z), 112);
  }
}

/** Decode 4 rows at a time into ROWS, then every query head of the group accumulates them. */
@inline
function accumulateValuesDecoded(tile: usize, weights: usize, group: i32, d: i32, acc: usize, bits: i32): void {
  const codes = tile + (<usize>((TILE_TOKENS * d) / min(32, d)) << 2);
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    decodeValueRows4(tile, codes, t, d, bits);
    accumulateRows4(ROWS, <usize>d << 2, weights, t, group, d, acc, TILE_TOKENS);
  }
}

/**
 * GQA, d % 32 == 0: 4 rows of raw codes unpacked once into ROWS, their (s, z) decoded once into
 * META_A / META_B ([row][d/32]; the key metadata there is rebuilt per tile before use), then per
 * head j and 32-channel group: acc += sum_i (w_ji s_ig) code_i + sum_i w_ji z_ig.
 */
@inline
function accumulateValuesFoldedGroup(tile: usize, weights: usize, group: i32, d: i32, acc: usize, bits: i32): void {
  const gpt = d >> 5;
  const codes = tile + (<usize>(TILE_TOKENS * gpt) << 2);
  const rowBytes = <usize>d << 2;
  for (let t = 0; t < TILE_TOKENS; t += 4) {
    for (let i = 0; i < 4 * d; i += 8) unpack8Codes(codes, t * d + i, bits, ROWS + (<usize>i << 2));
    for (let i = 0; i < 4 * gpt; i += 4) {
      const meta = v128.load(tile + (<usize>(t * gpt + i) << 2));
      v128.store(META_A + (<usize>i << 2), metaScale4(meta));
      v128.store(META_B + (<usize>i << 2), metaZero4(meta));
    }
    for (let j = 0; j < group; j++) {
      const wp = weights + (<usize>(j * TILE_TOKENS + t) << 2);
      const w0 = load<f32>(wp), w1 = load<f32>(wp, 4), w2 = load<f32>(wp, 8), w3 = load<f32>(wp, 12);
      const aj = acc + <usize>j * rowBytes;
      for (let g = 0; g < gpt; g++) {
        const m0 = META_A + (<usize>g << 2), z0 = META_B + (<usize>g << 2), gs = <usize>gpt << 2;
        const ws0 = f32x4.splat(w0 * load<f32>(m0)), ws1 = f32x4.splat(w1 * load<f32>(m0 + gs));
        const ws2 = f32x4.splat(w2 * load<f32>(m0 + 2 * gs)), ws3 = f32x4.splat(w3 * load<f32>(m0 + 3 * gs));
        const zs = f32x4.splat((w0 * load<f32>(z0) + w1 * load<f32>(z0 + gs)) + (w2 * load<f32>(z0 + 2 * gs) + w3 * load<f32>(z0 + 3 * gs)));
        const r0 = ROWS + (<usize>(g * 32) << 2);
        const ag = aj + (<usize>(g * 32) << 2);
        for (let c: usize = 0; c < 128; c += 16) {
          let a = f32x4.add(v128.load(ag + c), zs);
          a = madd4(ws0, v128.load(r0 + c), a);
          a = madd4(ws1, v128.load(r0 + rowBytes + c), a);
          a = madd4(ws2, v128.load(r0 + 2 * rowBytes + c), a);
          a = madd4(ws3, v128.load(r0 + 3 * rowBytes + c), a);
          v128.store(ag + c, a);
        }
      }
    }
  }
}

@inline
function accumulateValues(tile: usize, weights: usize, group: i32, d: i32, acc: usize, bits: i32): void {
  if (useIntegerKernels(group, d, bits)) accumulateValuesInt(tile, weights, group, d, acc, bits);
  else if (d % 32 != 0) accumulateValuesDecoded(tile, weights, group, d, acc, bits);
  else if (group == 1) accumulateValuesFolded(tile, weights, d, acc, bits);
  else accumulateValuesFoldedGroup(tile, weights, group, d, acc, bits);
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

// Integer-domain keys (opt-in, int-dot.ts; docs/decisions.md D50): per tile and query head the
// folded query q s (as scoreKeysFolded) is rounded to i16 with one scale alpha, and each token's
// codes, read 16 bytes at a time as i16 lanes and split with a shift and an AND per code position,
// are dotted with i32x4.dot_i16x8_s: 8 exact integer multiply-adds per instruction, the codes of a
// token unpacked once for up to 4 query heads of the group. score = alpha * sum + q . z.
const INT_MAX_GROUP: i32 = 16;

/**
 * Integer kernels in integer mode for GQA groups (2..16) of 2/4-bit codes with whole 16-byte code
 * chunks per token. Group 1 (MHA) keeps the float kernels: at 32K they were as fast or faster
 * there (the float MHA loops already work on placed codes in registers) with less error (D52).
 */
@inline
function useIntegerKernels(group: i32, d: i32, bits: i32): bool {
  return bits != 8 && integerAttention() && group > 1 && group <= INT_MAX_GROUP && d % (bits == 2 ? 64 : 32) == 0;
}
const QI: usize = memory.data(INT_MAX_GROUP * MAX_HEAD_DIM * 2, 16);
const QF: usize = memory.data(MAX_HEAD_DIM * 4, 16);
const ALPHA: usize = memory.data(INT_MAX_GROUP * 4, 16);
/** Per-token i32x4 partial sums of 4 heads, [head][token]. */
const TOK: usize = memory.data(4 * TILE_TOKENS * 16, 16);

@inline
function dacc(s: v128, x: v128, p: usize): v128 {
  return i32x4.add(s, i32x4.dot_i16x8_s(x, v128.load(p)));
}

@inline
function daccV(s: v128, x: v128, q: v128): v128 {
  return i32x4.add(s, i32x4.dot_i16x8_s(x, q));
}

/**
 * TOK[j][t] = the integer dot products of H (1..4, a literal) heads' i16 queries at qi with every
 * token. Two tokens per pass: each query vector is loaded once for both (decisions.md#D100).
 */
@inline
function dotTokensInt(codes: usize, qi: usize, d: i32, H: i32, bits: i32): void {
  const codeRow = <usize>((d * bits) >> 3), qS = <usize>d << 1;
  const m = laneMask(bits);
  const n = 16 / bits;
  for (let t = 0; t < TILE_TOKENS; t += 2) {
    const row = codes + <usize>t * codeRow;
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
    for (let c: usize = 0; c < codeRow; c += 16) {
      const va = v128.load(row + c), vb = v128.load(row + codeRow + c);
      const qc = qi + c * <usize>n;
      // code positions k = 0..n-1, unrolled (literal shifts; n is 4 or 8)
      let xa: v128, xb: v128, q: v128;
      {
        xa = laneCodes(va, 0, bits, m); xb = laneCodes(vb, 0, bits, m);
        q = v128.load(qc, 0); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
        if (H > 1) { q = v128.load(qc + qS, 0); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q); }
        if (H > 2) { q = v128.load(qc + 2 * qS, 0); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q); }
        if (H > 3) { q = v128.load(qc + 3 * qS, 0); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q); }
      }
      {
        xa = laneCodes(va, 1, bits, m); xb = laneCodes(vb, 1, bits, m);
        q = v128.load(qc, 16); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
        if (H > 1) { q = v128.load(qc + qS, 16); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q); }
        if (H > 2) { q = v128.load(qc + 2 * qS, 16); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q); }
        if (H > 3) { q = v128.load(qc + 3 * qS, 16); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q); }
      }
      {
        xa = laneCodes(va, 2, bits, m); xb = laneCodes(vb, 2, bits, m);
        q = v128.load(qc, 32); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
        if (H > 1) { q = v128.load(qc + qS, 32); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q); }
        if (H > 2) { q = v128.load(qc + 2 * qS, 32); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q); }
        if (H > 3) { q = v128.load(qc + 3 * qS, 32); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q); }
      }
      {
        xa = laneCodes(va, 3, bits, m); xb = laneCodes(vb, 3, bits, m);
        q = v128.load(qc, 48); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
        if (H > 1) { q = v128.load(qc + qS, 48); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q); }
        if (H > 2) { q = v128.load(qc + 2 * qS, 48); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q); }
        if (H > 3) { q = v128.load(qc + 3 * qS, 48); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q); }
      }
      if (n > 4) {
        xa = laneCodes(va, 4, bits, m); xb = laneCodes(vb, 4, bits, m);
        q = v128.load(qc, 64); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
        if (H > 1) { q = v128.load(qc + qS, 64); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q); }
        if (H > 2) { q = v128.load(qc + 2 * qS, 64); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q); }
        if (H > 3) { q = v128.load(qc + 3 * qS, 64); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q); }
      }
      if (n > 4) {
        xa = laneCodes(va, 5, bits, m); xb = laneCodes(vb, 5, bits, m);
        q = v128.load(qc, 80); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
        if (H > 1) { q = v128.load(qc + qS, 80); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q); }
        if (H > 2) { q = v128.load(qc + 2 * qS, 80); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q); }
        if (H > 3) { q = v128.load(qc + 3 * qS, 80); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q); }
      }
      if (n > 4) {
        xa = laneCodes(va, 6, bits, m); xb = laneCodes(vb, 6, bits, m);
        q = v128.load(qc, 96); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
        if (H > 1) { q = v128.load(qc + qS, 96); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q); }
        if (H > 2) { q = v128.load(qc + 2 * qS, 96); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q); }
        if (H > 3) { q = v128.load(qc + 3 * qS, 96); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q); }
      }
      if (n > 4) {
        xa = laneCodes(va, 7, bits, m); xb = laneCodes(vb, 7, bits, m);
        q = v128.load(qc, 112); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
        if (H > 1) { q = v128.load(qc + qS, 112); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q); }
        if (H > 2) { q = v128.load(qc + 2 * qS, 112); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q); }
        if (H > 3) { q = v128.load(qc + 3 * qS, 112); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q); }
      }
    }
    const o = TOK + (<usize>t << 4);
    v128.store(o, a0); v128.store(o, b0, 16);
    if (H > 1) { v128.store(o + (TILE_TOKENS << 4), a1); v128.store(o + (TILE_TOKENS << 4), b1, 16); }
    if (H > 2) { v128.store(o + (2 * TILE_TOKENS << 4), a2); v128.store(o + (2 * TILE_TOKENS << 4), b2, 16); }
    if (H > 3) { v128.store(o + (3 * TILE_TOKENS << 4), a3); v128.store(o + (3 * TILE_TOKENS << 4), b3, 16); }
  }
}

@inline
function scoreKeysInt(tile: usize, q: usize, group: i32, d: i32, scores: usize, bits: i32): void {
  decodeKeyMeta(tile, d);
  const codes = tile + (<usize>d << 2);
  const rowBytes = <usize>d << 2, qS = <usize>d << 1;
  for (let j = 0; j < group; j++) {
    const qj = q + <usize>j * rowBytes;
    let bias = f32x4.splat(0);
    for (let c: usize = 0; c < rowBytes; c += 16) {
      const qv = v128.load(qj + c);
      v128.store(QF + c, f32x4.mul(qv, v128.load(META_A + c)));
      bias = madd4(qv, v128.load(META_B + c), bias);
    }
    store<f32>(FOLDED_BIAS + (<usize>j << 2), (f32x4.extract_lane(bias, 0) + f32x4.extract_lane(bias, 1)) +
      (f32x4.extract_lane(bias, 2) + f32x4.extract_lane(bias, 3)));
    store<f32>(ALPHA + (<usize>j << 2), quantizeQueryI16(QF, QI + <usize>j * qS, d, bits));
  }
  for (let j0 = 0; j0 < group; j0 += 4) {
    const h = min(4, group - j0), qi = QI + <usize>j0 * qS;
    if (h == 4) dotTokensInt(codes, qi, d, 4, bits);
    else if (h == 3) dotTokensInt(codes, qi, d, 3, bits);
    else if (h == 2) dotTokensInt(codes, qi, d, 2, bits);
    else dotTokensInt(codes, qi, d, 1, bits);
    for (let j = 0; j < h; j++) {
      const a = v128.load32_splat(ALPHA + (<usize>(j0 + j) << 2)), b = v128.load32_splat(FOLDED_BIAS + (<usize>(j0 + j) << 2));
      const tj = TOK + (<usize>(j * TILE_TOKENS) << 4), sj = scores + (<usize>((j0 + j) * TILE_TOKENS) << 2);
      for (let t = 0; t < TILE_TOKENS; t += 4) {
        const p = tj + (<usize>t << 4);
        const sum = hsum4i(v128.load(p), v128.load(p, 16), v128.load(p, 32), v128.load(p, 48));
        v128.store(sj + (<usize>t << 2), madd4(f32x4.convert_i32x4_s(sum), a, b));
      }
    }
  }
}

// Integer-domain values (opt-in; docs/decisions.md D51): acc_j += sum_t (w_jt s_tg) code_tc + sum_t
// w_jt z_tg. Per head and 32-channel group g the weights W_jtg = w_jt s_tg are rounded to i16 with
// one scale beta_jg (max over the tile's tokens); the code rows of tokens 2p and 2p+1 are
// interleaved once per tile (i16 lanes of both rows alternate), so after the shift-and-AND split
// of laneCodes each i16 pair is (code_2p,c, code_2p+1,c) and i32x4.dot_i16x8_s against the splatted
// pair (W_2p, W_2p+1) sums two tokens of 4 channels in one instruction. The sums come out in
// laneCodes order (vector k lane i = channel n i + k of a 16-byte chunk) and go back to channel
// order by the same 4x4 transposes as the query's (quantizeQueryI16), once per tile and head.
/** Token pairs' interleaved code chunks, [pair][chunk][lo, hi]. */
const VIL: usize = memory.data(16 * 16 * 2 * 16, 16);
/** Per token: the value scales / zeros of its groups, [token][d / 32]. */
const VSC: usize = memory.data(TILE_TOKENS * 8 * 4, 16);
const VZE: usize = memory.data(TILE_TOKENS * 8 * 4, 16);
/** i16 weight pairs W_2p | W_2p+1 << 16 per head, [head][pair][group]. */
const VWP: usize = memory.data(INT_MAX_GROUP * 16 * 8 * 4, 16);
/** beta_jg and sum_t w_jt z_tg, [head][group]. */
const VBETA: usize = memory.data(INT_MAX_GROUP * 8 * 4, 16);
const VZSUM: usize = memory.data(INT_MAX_GROUP * 8 * 4, 16);
/** i32x4 sums of 4 heads in laneCodes order, [head][chunk][k][lo, hi]. */
const VACC: usize = memory.data(4 * 16 * 8 * 2 * 16, 16);

@inline
function daccPair(s: v128, x: v128, p: usize): v128 {
  return i32x4.add(s, i32x4.dot_i16x8_s(x, v128.load32_splat(p)));
}

/** VACC for H (1..4, a literal) heads from VWP at wp (head stride wS bytes). */
@inline
function accumulateHeadsInt(chunks: i32, gpt: i32, wp: usize, wS: usize, H: i32, bits: i32): void {
  const n = 16 / bits, m = laneMask(bits);
  const chunkBytes = <usize>chunks << 5, pairS = <usize>gpt << 2, accS = <usize>(chunks * n) << 5;
  for (let h = 0; h < chunks; h++) {
    // lo holds lanes i = 0..3, hi i = 4..7: channels n i + k of the chunk; 2-bit chunks span two groups
    const gLo = bits == 2 ? 2 * h : h, gHi = bits == 2 ? 2 * h + 1 : h;
    for (let k = 0; k < n; k++) {
      let l0 = i32x4.splat(0), l1 = i32x4.splat(0), l2 = i32x4.splat(0), l3 = i32x4.splat(0);
      let h0 = i32x4.splat(0), h1 = i32x4.splat(0), h2 = i32x4.splat(0), h3 = i32x4.splat(0);
      const sh = bits * k;
      let src = VIL + (<usize>h << 5);
      let w = wp;
      for (let p = 0; p < 16; p++) {
        const lo = v128.and(i16x8.shr_u(v128.load(src), sh), m), hi = v128.and(i16x8.shr_u(v128.load(src, 16), sh), m);
        const wl = w + (<usize>gLo << 2), wh = w + (<usize>gHi << 2);
        l0 = daccPair(l0, lo, wl); h0 = daccPair(h0, hi, wh);
        if (H > 1) { l1 = daccPair(l1, lo, wl + wS); h1 = daccPair(h1, hi, wh + wS); }
        if (H > 2) { l2 = daccPair(l2, lo, wl + 2 * wS); h2 = daccPair(h2, hi, wh + 2 * wS); }
        if (H > 3) { l3 = daccPair(l3, lo, wl + 3 * wS); h3 = daccPair(h3, hi, wh + 3 * wS); }
        src += chunkBytes;
        w += pairS;
      }
      const o = VACC + (<usize>(h * n + k) << 5);
      v128.store(o, l0); v128.store(o, h0, 16);
      if (H > 1) { v128.store(o + accS, l1); v128.store(o + accS, h1, 16); }
      if (H > 2) { v128.store(o + 2 * accS, l2); v128.store(o + 2 * accS, h2, 16); }
      if (H > 3) { v128.store(o + 3 * accS, l3); v128.store(o + 3 * accS, h3, 16); }
    }
  }
}

/** acc (f32, channel order) += beta_g * VACC head j (laneCodes order, transposed back) + zsum_g. */
@inline
function finishHeadInt(vacc: usize, beta: usize, zsum: usize, acc: usize, chunks: i32, bits: i32): void {
  const n = 16 / bits, q = n >> 2;
  for (let h = 0; h < chunks; h++) {
    const base = <usize>(h * 8 * n); // first channel of the chunk
    for (let kk = 0; kk < q; kk++) {
      for (let half = 0; half < 2; half++) {
        const src = vacc + (<usize>((h * n + 4 * kk) * 2 + half) << 4);
        const r0 = v128.load(src), r1 = v128.load(src, 32), r2 = v128.load(src, 64), r3 = v128.load(src, 96);
        const p0 = v128.shuffle<i32>(r0, r1, 0, 4, 1, 5), p1 = v128.shuffle<i32>(r2, r3, 0, 4, 1, 5);
        const p2 = v128.shuffle<i32>(r0, r1, 2, 6, 3, 7), p3 = v128.shuffle<i32>(r2, r3, 2, 6, 3, 7);
        // a_i = channels base + n (4 half + i) + 4 kk + (0..3)
        for (let i = 0; i < 4; i++) {
          const a = i == 0 ? v128.shuffle<i32>(p0, p1, 0, 1, 4, 5) : i == 1 ? v128.shuffle<i32>(p0, p1, 2, 3, 6, 7)
            : i == 2 ? v128.shuffle<i32>(p2, p3, 0, 1, 4, 5) : v128.shuffle<i32>(p2, p3, 2, 3, 6, 7);
          const c = base + <usize>(n * (4 * half + i) + 4 * kk);
          const g = <usize>(c >> 5) << 2;
          const ap = acc + (c << 2);
          v128.store(ap, madd4(f32x4.convert_i32x4_s(a), v128.load32_splat(beta + g), f32x4.add(v128.load(ap), v128.load32_splat(zsum + g))));
        }
      }
    }
  }
}

@inline
function accumulateValuesInt(tile: usize, weights: usize, group: i32, d: i32, acc: usize, bits: i32): void {
  const gpt = d >> 5;
  const codes = tile + (<usize>(TILE_TOKENS * gpt) << 2);
  const codeRow = <usize>((d * bits) >> 3), chunks = <i32>(codeRow >> 4);
  // token pairs' code rows interleaved as i16 lanes: lo = lanes 0-3 of both rows, hi = lanes 4-7
  for (let p = 0; p < 16; p++) {
    const ra = codes + <usize>(2 * p) * codeRow, rb = ra + codeRow;
    const dst = VIL + (<usize>(p * chunks) << 5);
    for (let h: usize = 0; h < <usize>chunks; h++) {
      const a = v128.load(ra + (h << 4)), b = v128.load(rb + (h << 4));
      v128.store(dst + (h << 5), v128.shuffle<i16>(a, b, 0, 8, 1, 9, 2, 10, 3, 11));
      v128.store(dst + (h << 5), v128.shuffle<i16>(a, b, 4, 12, 5, 13, 6, 14, 7, 15), 16);
    }
  }
  for (let i = 0; i < TILE_TOKENS * gpt; i += 4) {
    const meta = v128.load(tile + (<usize>i << 2));
    v128.store(VSC + (<usize>i << 2), metaScale4(meta));
    v128.store(VZE + (<usize>i << 2), metaZero4(meta));
  }
  const wS = <usize>(16 * gpt) << 2;
  for (let j = 0; j < group; j++) {
    const wj = weights + (<usize>(j * TILE_TOKENS) << 2);
    for (let g = 0; g < gpt; g += 4) {
      const go = <usize>g << 2, gS = <usize>gpt << 2;
      let mx = f32x4.splat(0), zs = f32x4.splat(0);
      for (let t = 0; t < TILE_TOKENS; t++) {
        const w = v128.load32_splat(wj + (<usize>t << 2));
        mx = f32x4.pmax(mx, f32x4.abs(f32x4.mul(w, v128.load(VSC + <usize>t * gS + go))));
        zs = madd4(w, v128.load(VZE + <usize>t * gS + go), zs);
      }
      // beta = max / 32767 per group lane; an all-zero group gets inv 0 (its codes add nothing)
      const pos = f32x4.gt(mx, f32x4.splat(0));
      const inv = v128.and(f32x4.div(f32x4.splat(32767.0), mx), pos);
      v128.store(VBETA + (<usize>(j * gpt) << 2) + go, f32x4.mul(mx, f32x4.splat(<f32>1.0 / <f32>32767.0)));
      v128.store(VZSUM + (<usize>(j * gpt) << 2) + go, zs);
      const wp = VWP + <usize>j * wS + go;
      for (let p = 0; p < 16; p++) {
        const w0 = v128.load32_splat(wj + (<usize>(2 * p) << 2)), w1 = v128.load32_splat(wj + (<usize>(2 * p + 1) << 2));
        const q0 = roundToI32(f32x4.mul(f32x4.mul(w0, v128.load(VSC + <usize>(2 * p) * gS + go)), inv));
        const q1 = roundToI32(f32x4.mul(f32x4.mul(w1, v128.load(VSC + <usize>(2 * p + 1) * gS + go)), inv));
        v128.store(wp + <usize>p * gS, v128.or(v128.and(q0, i32x4.splat(0xffff)), i32x4.shl(q1, 16)));
      }
    }
  }
  const accS = <usize>(chunks * (16 / bits)) << 5;
  for (let j0 = 0; j0 < group; j0 += 4) {
    const h = min(4, group - j0), wp = VWP + <usize>j0 * wS;
    if (h == 4) accumulateHeadsInt(chunks, gpt, wp, wS, 4, bits);
    else if (h == 3) accumulateHeadsInt(chunks, gpt, wp, wS, 3, bits);
    else if (h == 2) accumulateHeadsInt(chunks, gpt, wp, wS, 2, bits);
    else accumulateHeadsInt(chunks, gpt, wp, wS, 1, bits);
    for (let j = 0; j < h; j++) {
      const jj = j0 + j;
      finishHeadInt(VACC + <usize>j * accS, VBETA + (<usize>(jj * gpt) << 2), VZSUM + (<usize>(jj * gpt) << 2),
        acc + (<usize>(jj * d) << 2), chunks, bits);
    }
  }
}
