// f32 -> IEEE f16 bits with round-to-nearest-even by integer code, bit for bit the rule of
// ts/format/f16.ts: pack2x16float leaves rounding (and out-of-range results) to the
// implementation, and every backend must write identical words. f16 -> f32 uses
// unpack2x16float, which is exact.

fn f32_to_f16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let exp = (b >> 23u) & 0xffu;
  var man = b & 0x7fffffu;
  if (exp == 0xffu) {
    return sign | 0x7c00u | select(0u, 0x200u, man != 0u);
  }
  let e = i32(exp) - 127 + 15;
  if (e >= 0x1f) {
    return sign | 0x7c00u;
  }
  if (e <= 0) {
    if (e < -10) {
      return sign;
    }
    man = man | 0x800000u;
    let shift = u32(14 - e); // 14..24
    let half = 1u << (shift - 1u);
    var m = man >> shift;
    let rest = man & ((1u << shift) - 1u);
    if (rest > half || (rest == half && (m & 1u) == 1u)) {
      m = m + 1u;
    }
    return sign | m;
  }
  let m = man >> 13u;
  let rest = man & 0x1fffu;
  var out = sign | (u32(e) << 10u) | m;
  if (rest > 0x1000u || (rest == 0x1000u && (m & 1u) == 1u)) {
    out = out + 1u;
  }
  return out;
}

// Largest finite f16: metadata and fp16 elements saturate here (ts/codecs/uniform.ts metaF16Bits).
const F16_MAX: f32 = 65504.0;

fn meta_f16_bits(x: f32) -> u32 {
  return f32_to_f16_bits(clamp(x, -F16_MAX, F16_MAX));
}

fn f16_bits_to_f32(h: u32) -> f32 {
  return unpack2x16float(h & 0xffffu).x;
}
