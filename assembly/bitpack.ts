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
 * starting at byte e*b/8; each lane is isolated by a per-lane left shift (a multiply by 2^k, as
 * WASM SIMD has no per-lane shift) followed by one logical right shift by 32 - b.
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
    const w = i32x4.splat(load<u32>(p));
    v128.store(dst, f32x4.convert_i32x4_s(i32x4.shr_u(i32x4.mul(w, i32x4(1 << 28, 1 << 24, 1 << 20, 1 << 16)), 28)));
    v128.store(dst + 16, f32x4.convert_i32x4_s(i32x4.shr_u(i32x4.mul(w, i32x4(1 << 12, 1 << 8, 1 << 4, 1)), 28)));
  } else {
    // bits == 2: 8 codes in 16 bits
    const w = i32x4.splat(<u32>load<u16>(p));
    v128.store(dst, f32x4.convert_i32x4_s(i32x4.shr_u(i32x4.mul(w, i32x4(1 << 30, 1 << 28, 1 << 26, 1 << 24)), 30)));
    v128.store(dst + 16, f32x4.convert_i32x4_s(i32x4.shr_u(i32x4.mul(w, i32x4(1 << 22, 1 << 20, 1 << 18, 1 << 16)), 30)));
  }
}
