// Correctly rounded f32 division for the encoders. WGSL only promises 2.5 ulp for `/`
// (GPUs use a reciprocal approximation), but quantization codes must equal the TS reference,
// which rounds every step to f32 (ts/codecs/uniform.ts). A code near a rounding boundary
// (floor(y + 0.5)) would flip on a 1-ulp error, so the encoders divide here, exactly, with
// integer long division. Attention kernels never divide to produce codes and use plain `/`.
//
// Scope: finite a; b finite and nonzero (callers test scale == 0 first). Results that are
// subnormal are flushed to signed zero: every caller then adds 0.5 or 8.5 (or rounds to f16,
// whose smallest subnormal is 2^-24), so a value below 2^-126 cannot change the outcome.

fn div_rn(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let sign = (ua ^ ub) & 0x80000000u;
  let ea = i32((ua >> 23u) & 0xffu);
  let eb = i32((ub >> 23u) & 0xffu);
  if (ea == 0 && (ua & 0x7fffffu) == 0u) {
    return bitcast<f32>(sign); // 0 / b
  }
  if (eb == 0xff || ea == 0xff) {
    return a / b; // Inf/NaN operands: outside the callers' range, let the hardware decide
  }
  // normalise both mantissas to [2^23, 2^24) with unbiased exponents (subnormals included)
  var ma = ua & 0x7fffffu;
  var xa = ea - 127;
  if (ea == 0) {
    xa = -126;
    while ((ma & 0x800000u) == 0u) { ma = ma << 1u; xa = xa - 1; }
  } else {
    ma = ma | 0x800000u;
  }
  var mb = ub & 0x7fffffu;
  var xb = eb - 127;
  if (eb == 0) {
    xb = -126;
    while ((mb & 0x800000u) == 0u) { mb = mb << 1u; xb = xb - 1; }
  } else {
    mb = mb | 0x800000u;
  }
  // quotient ma/mb in (1/2, 2): produce 26 bits (24 kept + guard + one extra) plus a sticky bit
  var x = xa - xb;
  var rem = ma;
  if (rem < mb) {
    rem = rem << 1u;
    x = x - 1;
  }
  // now rem/mb in [1, 2): first quotient bit is 1
  var q = 0u;
  for (var i = 0u; i < 26u; i = i + 1u) {
    q = q << 1u;
    if (rem >= mb) {
      rem = rem - mb;
      q = q | 1u;
    }
    rem = rem << 1u;
  }
  // q has 26 bits: [25] = leading 1, [24..2] = 23 fraction bits, [1] = guard, [0] = round
  let sticky = select(0u, 1u, rem != 0u);
  var mant = q >> 2u;            // 24 bits with the leading 1
  let low = q & 3u;              // guard and next bit
  // round to nearest even on (guard, round|sticky)
  let guard = (low >> 1u) & 1u;
  let rest = (low & 1u) | sticky;
  if (guard == 1u && (rest == 1u || (mant & 1u) == 1u)) {
    mant = mant + 1u;
    if (mant == 0x1000000u) {
      mant = mant >> 1u;
      x = x + 1;
    }
  }
  if (x > 127) {
    return bitcast<f32>(sign | 0x7f800000u);
  }
  if (x < -126) {
    return bitcast<f32>(sign); // flushed, see the scope note above
  }
  return bitcast<f32>(sign | (u32(x + 127) << 23u) | (mant & 0x7fffffu));
}
