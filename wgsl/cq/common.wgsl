// CQ helpers shared by wgsl/cq/encode.wgsl and wgsl/cq/attend.wgsl (docs/FORMAT.md "CQ").
// params: [c, b, precision (0 = f16, 1 = f32), 0], then the codebook: float
// f = ((h*G + g)*K + k)*c + i as f16 (word 4 + f/2, low half for even f) or f32 (word 4 + f).

// Exact f16 -> f32 by integer code (unpack2x16float may flush f16 subnormals on some drivers;
// every f16 value, subnormals included, is a normal f32 value).
fn cq_f16_to_f32(h: u32) -> f32 {
  let sign = select(1.0, -1.0, (h & 0x8000u) != 0u);
  let exp = (h >> 10u) & 0x1fu;
  let man = h & 0x3ffu;
  if (exp == 0u) {
    return sign * f32(man) * 5.9604644775390625e-8; // man * 2^-24, exact
  }
  return bitcast<f32>(((h & 0x8000u) << 16u) | ((exp + 112u) << 23u) | (man << 13u));
}

// b-bit code of element e of the stream starting at word `base` (common bitpack rule: element e
// at bits [e*b, e*b + b) of the little-endian stream; may straddle two words).
fn cq_read_code(base: u32, e: u32, b: u32) -> u32 {
  let bit = e * b;
  let w = base + (bit >> 5u);
  let shift = bit & 31u;
  var v = pages[w] >> shift;
  if (shift + b > 32u) {
    v = v | (pages[w + 1u] << (32u - shift));
  }
  return v & ((1u << b) - 1u);
}
