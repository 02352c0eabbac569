/**
 * f32 <-> IEEE f16 by integer code, round-to-nearest-even, so every backend (TS, AS, WGSL)
 * produces the same bits. Math.f16round is not in Node 20, and WGSL's pack2x16float leaves the
 * rounding mode to the implementation, hence the explicit version mirrored in each language.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let man = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man !== 0 ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> signed zero
    man |= 0x800000;
    const shift = 14 - e; // 14..24
    const half = 1 << (shift - 1);
    let m = man >>> shift;
    const rest = man & ((1 << shift) - 1);
    if (rest > half || (rest === half && (m & 1) === 1)) m += 1;
    return sign | m; // m may carry into the exponent field: still the right encoding
  }
  let m = man >>> 13;
  const rest = man & 0x1fff;
  let out = sign | (e << 10) | m;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1) === 1)) out += 1; // carry may roll into exp: correct
  return out;
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 0x1f) return man ? NaN : sign * Infinity;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

/** Round an f32 value through f16 and back. */
export function roundF16(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}

/** Two f16 in one u32: `lo` in bits 0..15, `hi` in bits 16..31 (WGSL pack2x16float order). */
export function packF16Pair(lo: number, hi: number): number {
  return (f32ToF16Bits(lo) | (f32ToF16Bits(hi) << 16)) >>> 0;
}
