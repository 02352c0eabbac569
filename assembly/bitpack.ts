// b-bit code streams, mirror of ts/codecs/bitpack.ts: element e occupies bits [e*b, e*b + b) of
// the little-endian bit stream starting at `base` (a byte pointer to u32 words); a code may
// straddle two words when b does not divide 32.

/** Read-modify-write of one code, so a region need not be zeroed first. */
export function putCode(base: usize, e: i32, bits: i32, code: u32): void {
  const bit = <u32>e * <u32>bits;
  const w = base + ((bit >>> 5) << 2);
  const shift = bit & 31;
  const mask: u32 = (<u32>1 << bits) - 1;
  store<u32>(w, (load<u32>(w) & ~(mask << shift)) | (code << shift));
  const spill = <i32>shift + bits - 32;
  if (spill > 0) {
    const hiMask: u32 = (<u32>1 << spill) - 1;
    store<u32>(w + 4, (load<u32>(w + 4) & ~hiMask) | (code >>> (bits - spill)));
  }
}

export function getCode(base: usize, e: i32, bits: i32): u32 {
  const bit = <u32>e * <u32>bits;
  const w = base + ((bit >>> 5) << 2);
  const shift = bit & 31;
  const mask: u32 = (<u32>1 << bits) - 1;
  let v = load<u32>(w) >>> shift;
  if (<i32>shift + bits > 32) v |= load<u32>(w + 4) << (32 - shift);
  return v & mask;
}

/** Zero `words` u32 words at `p` (tile encoders write every word of their tile). */
export function zeroWords(p: usize, words: i32): void {
  memory.fill(p, 0, <usize>words << 2);
}

/**
 * Unpack 8 consecutive codes (elements e..e+7, e a multiple of 8) of a stream whose width b
 * divides 32 (2, 4 or 8) as unsigned f32 values into dst[0..8). The 8 codes occupy b bytes
 * starting at byte e*b/8; 2- and 4-bit codes are masked in place and converted (placedCodes), then
 * scaled down by their lane's 2^-P (exact; WASM SIMD has no per-lane shift).
 */
@inline
export function unpack8Codes(base: usize, e: i32, bits: i32, dst: usize): void {
  const p = base + ((<usize>e * <usize>bits) >>> 3);
  if (bits == 8) {
    const v = v128.load64_zero(p);
    const w16 = i16x8.extend_low_i8x16_u(v);
    v128.store(dst, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(w16)));
    v128.store(dst + 16, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(w16)));
  } else if (bits == 4) {
    const w = v128.load32_splat(p);
    v128.store(dst, f32x4.mul(placedCodes(w, 0, 4), placeScale(0, 4)));
    v128.store(dst + 16, f32x4.mul(placedCodes(w, 1, 4), placeScale(1, 4)));
  } else {
    // bits == 2: 8 codes in 16 bits (the first two vectors of a placed word)
    const w = i32x4.splat(<u32>load<u16>(p));
    v128.store(dst, f32x4.mul(placedCodes(w, 0, 2), placeScale(0, 2)));
    v128.store(dst + 16, f32x4.mul(placedCodes(w, 1, 2), placeScale(1, 2)));
  }
}

/**
 * One code word (32 / bits codes, bits 2 or 4) at p as placedCodes vectors into dst[0..32/bits):
 * codes times 2^P, for kernels that fold placeScale into what multiplies them.
 */
@inline
export function unpackPlacedWord(p: usize, bits: i32, dst: usize): void {
  const w = v128.load32_splat(p);
  v128.store(dst, placedCodes(w, 0, bits));
  v128.store(dst, placedCodes(w, 1, bits), 16);
  if (bits == 2) {
    v128.store(dst, placedCodes(w, 2, bits), 32);
    v128.store(dst, placedCodes(w, 3, bits), 48);
  }
}

/**
 * The k-th 4 codes of a 2- or 4-bit code word splatted to every lane (`w`), left where they sit:
 * masked and converted, lane i is code * 2^P exactly (below 2^24, so the f32 is exact) with
 *   2-bit words: k = 0..3, codes 4k..4k+3, P = 8 min(k, 2) + 2i (k = 3 reads w >> 8);
 *   4-bit words: k = 0..1, codes 4k..4k+3, P = 4i (k = 1 reads w >> 16).
 * Whatever multiplies the codes takes the 2^-P of placeScale instead: scaling by powers of two
 * rounds nowhere, so the products and sums are bit for bit those of the shifted-down codes, for
 * one AND and a convert per 4 codes where shifting each lane down took a multiply and a shift
 * (WASM SIMD has no per-lane shift). k and bits are literals at every call.
 */
@inline
export function placedCodes(w: v128, k: i32, bits: i32): v128 {
  return f32x4.convert_i32x4_s(placedInts(w, k, bits));
}

/** placedCodes before the convert: the masked i32 lanes code << P. */
@inline
export function placedInts(w: v128, k: i32, bits: i32): v128 {
  if (bits == 2) {
    if (k == 0) return v128.and(w, i32x4(3, 3 << 2, 3 << 4, 3 << 6));
    if (k == 1) return v128.and(w, i32x4(3 << 8, 3 << 10, 3 << 12, 3 << 14));
    if (k == 2) return v128.and(w, i32x4(3 << 16, 3 << 18, 3 << 20, 3 << 22));
    return v128.and(i32x4.shr_u(w, 8), i32x4(3 << 16, 3 << 18, 3 << 20, 3 << 22));
  }
  if (k == 0) return v128.and(w, i32x4(15, 15 << 4, 15 << 8, 15 << 12));
  return v128.and(i32x4.shr_u(w, 16), i32x4(15, 15 << 4, 15 << 8, 15 << 12));
}

/**
 * Vector v (0..7, a literal) of a run of 32 channels of 2- or 4-bit codes whose code words are
 * w0..w3 (splatted; 2-bit runs use w0, w1), as placedCodes: word v / (8 / bits), lanes
 * k = v % (8 / bits). The caller loads each word once (V8 does not merge repeated loads).
 */
@inline
export function placedVector(w0: v128, w1: v128, w2: v128, w3: v128, v: i32, bits: i32): v128 {
  const perWord = 8 / bits, i = v / perWord;
  return placedCodes(i == 0 ? w0 : i == 1 ? w1 : i == 2 ? w2 : w3, v % perWord, bits);
}

/** 2^-P per lane of placedCodes(_, k, bits). */
@inline
export function placeScale(k: i32, bits: i32): v128 {
  if (bits == 2) {
    if (k == 0) return f32x4(1.0, 0.25, 0.0625, 0.015625);
    if (k == 1) return f32x4(0.00390625, 0.0009765625, 0.000244140625, 0.00006103515625);
    return f32x4(0.0000152587890625, 0.000003814697265625, 9.5367431640625e-7, 2.384185791015625e-7);
  }
  return f32x4(1.0, 0.0625, 0.00390625, 0.000244140625);
}

/** 2^P per lane of placedCodes(_, k, bits) (the inverse of placeScale). */
@inline
export function placeUnscale(k: i32, bits: i32): v128 {
  if (bits == 2) {
    if (k == 0) return f32x4(1.0, 4.0, 16.0, 64.0);
    if (k == 1) return f32x4(256.0, 1024.0, 4096.0, 16384.0);
    return f32x4(65536.0, 262144.0, 1048576.0, 4194304.0);
  }
  return f32x4(1.0, 16.0, 256.0, 4096.0);
}

/**
 * dst[c] = src[c] * placeScale of channel c's lane, for n channels (a multiple of 32 / bits) of
 * 2- or 4-bit code words starting at a word boundary: the query that multiplies placedCodes.
 * dst may be src.
 */
@inline
export function placeQuery(src: usize, dst: usize, n: i32, bits: i32): void {
  for (let c: usize = 0; c < (<usize>n << 2); c += <usize>(128 / bits)) {
    v128.store(dst + c, f32x4.mul(v128.load(src + c), placeScale(0, bits)));
    v128.store(dst + c, f32x4.mul(v128.load(src + c, 16), placeScale(1, bits)), 16);
    if (bits == 2) {
      v128.store(dst + c, f32x4.mul(v128.load(src + c, 32), placeScale(2, bits)), 32);
      v128.store(dst + c, f32x4.mul(v128.load(src + c, 48), placeScale(3, bits)), 48);
    }
  }
}
