// KIVI-2/4 keys scored by packed 8-bit integer dot products (WGSL language feature
// packed_4x8_integer_dot_product: dot4I8Packed, dp4a on NVIDIA), for both folded drivers
// (attend/fold.wgsl, attend/fold-subgroup.wgsl). Opt-in (`integerAttention`, shaders.ts):
// the rounding below moves outputs past the float kernels' tolerance (decisions.md#D153).
//
// Composed after kivi/fold.wgsl with its fold_query / fold_key_batch renamed away (shaders.ts
// checks the names): values, tile loads and offsets are kivi/fold.wgsl's, only the key side is
// replaced.
// - Per tile, head and invocation (8 channels), the folded query q s (KIVI's per-channel key
//   scales, as the float path folds them) is rounded to int8 with one step r = max|q s| / 127
//   over those 8 channels (a per-chunk step: an outlier channel only coarsens its own chunk),
//   and the residual to a second int8 limb (KINT_LIMBS below).
// - A token's 8 codes become two words of four bytes with shifts and masks (2-bit: bytes hold
//   codes 0,4,1,5 and 2,6,3,7; 4-bit: 0,2,4,6 and 1,3,5,7); the query bytes are packed in the
//   same order, so a head's partial dot is two dot4I8Packed (codes < 128 read as signed bytes
//   are themselves; 4 with the residual limb, joined by one integer multiply-add), one convert
//   and one multiply-add: d = q . z + r x (integer dot).

// KINT_LIMBS = 2: a second int8 limb holds the rounding residual x 254, so the query keeps ~16
// bits (the CPU path's i16 precision and tolerance) at twice the dot4 count; 1 (an A/B knob, the
// bench's -xKINT_LIMBS=1u): one int8 limb, ~50x the error (decisions.md#D153)
const KINT_LIMBS: u32 = 2u;

// head j's packed query words (component j) for the current tile, set by fold_query; kint_la,
// kint_lb: the residual limb (KINT_LIMBS = 2)
var<private> kint_qa: vec4<u32>;
var<private> kint_qb: vec4<u32>;
var<private> kint_la: vec4<u32>;
var<private> kint_lb: vec4<u32>;

// head j's q s at the invocation's 8 channels -> (step r of the integer dot, packed words a, b
// and the residual limb's la, lb)
struct KintQ {
  r: f32,
  a: u32,
  b: u32,
  la: u32,
  lb: u32,
}

// 8 values rounded to int8, packed in the byte order of kint_codes
fn kint_pack(lo: vec4<i32>, hi: vec4<i32>) -> vec2<u32> {
  if (K_BITS == 2u) { return vec2<u32>(pack4xI8(vec4<i32>(lo.x, hi.x, lo.y, hi.y)), pack4xI8(vec4<i32>(lo.z, hi.z, lo.w, hi.w))); }
  return vec2<u32>(pack4xI8(vec4<i32>(lo.x, lo.z, hi.x, hi.z)), pack4xI8(vec4<i32>(lo.y, lo.w, hi.y, hi.w)));
}

fn kint_quantize(qs: Codes8) -> KintQ {
  let m4 = max(abs(qs.lo), abs(qs.hi));
  let amax = max(max(m4.x, m4.y), max(m4.z, m4.w));
  let inv = select(0.0, 127.0 / amax, amax > 0.0);
  let xl = qs.lo * inv; let xh = qs.hi * inv;
  let rl = round(xl); let rh = round(xh);
  let w = kint_pack(vec4<i32>(rl), vec4<i32>(rh));
  if (KINT_LIMBS == 2u) {
    // residuals in [-0.5, 0.5] x 254; the dot is then hi x 254 + lo, in steps of r / 254
    let v = kint_pack(vec4<i32>(round((xl - rl) * 254.0)), vec4<i32>(round((xh - rh) * 254.0)));
    return KintQ(amax * (1.0 / (127.0 * 254.0)), w.x, w.y, v.x, v.y);
  }
  return KintQ(amax * (1.0 / 127.0), w.x, w.y, 0u, 0u);
}

// FoldQ here: q0.lo = the heads' steps r (components), sums = the heads' q . zero; the packed
// queries are in kint_qa / kint_qb.
fn fold_query(tw: TileWords, o: TileOffsets, qv: u32) -> FoldQ {
  let km0 = tw.km0; let km1 = tw.km1;
  let a0 = unpack2x16float(km0.x); let a1 = unpack2x16float(km0.y);
  let a2 = unpack2x16float(km0.z); let a3 = unpack2x16float(km0.w);
  let b0 = unpack2x16float(km1.x); let b1 = unpack2x16float(km1.y);
  let b2 = unpack2x16float(km1.z); let b3 = unpack2x16float(km1.w);
  let s = Codes8(vec4<f32>(a0.x, a1.x, a2.x, a3.x), vec4<f32>(b0.x, b1.x, b2.x, b3.x));
  let z = Codes8(vec4<f32>(a0.y, a1.y, a2.y, a3.y), vec4<f32>(b0.y, b1.y, b2.y, b3.y));
  var fq = fold_heads_q(qv);
  var r = vec4<f32>(0.0);
  fq.sums = vec4<f32>(fold_dot8(fq.q0, z), 0.0, 0.0, 0.0);
  let k0 = kint_quantize(kivi_fold_q(fq.q0, s));
  r.x = k0.r; kint_qa.x = k0.a; kint_qb.x = k0.b; kint_la.x = k0.la; kint_lb.x = k0.lb;
  if (FOLD_G > 1u) {
    fq.sums.y = fold_dot8(fq.q1, z);
    let k1 = kint_quantize(kivi_fold_q(fq.q1, s));
    r.y = k1.r; kint_qa.y = k1.a; kint_qb.y = k1.b; kint_la.y = k1.la; kint_lb.y = k1.lb;
  }
  if (FOLD_G > 2u) {
    fq.sums.z = fold_dot8(fq.q2, z);
    let k2 = kint_quantize(kivi_fold_q(fq.q2, s));
    r.z = k2.r; kint_qa.z = k2.a; kint_qb.z = k2.b; kint_la.z = k2.la; kint_lb.z = k2.lb;
  }
  if (FOLD_G > 3u) {
    fq.sums.w = fold_dot8(fq.q3, z);
    let k3 = kint_quantize(kivi_fold_q(fq.q3, s));
    r.w = k3.r; kint_qa.w = k3.a; kint_qb.w = k3.b; kint_la.w = k3.la; kint_lb.w = k3.lb;
  }
  fq.q0.lo = r;
  return fq;
}

// a token's 8 codes (the invocation's chunk of `word` at bit `sh`) as two words of 4 bytes, in
// the byte order kint_quantize packs the query in
fn kint_codes(word: u32, sh: u32) -> vec2<u32> {
  if (K_BITS == 2u) {
    let t = word >> sh;
    return vec2<u32>((t & 0x0303u) | ((t << 14u) & 0x03030000u), ((t >> 4u) & 0x0303u) | ((t << 10u) & 0x03030000u));
  }
  return vec2<u32>(word & 0x0f0f0f0fu, (word >> 4u) & 0x0f0f0f0fu);
}

// head j's integer dot of codes c (kint_codes) with its packed query (in steps of its r)
fn kint_dot(c: vec2<u32>, qa: u32, qb: u32, la: u32, lb: u32) -> f32 {
  var i = dot4I8Packed(c.x, qa) + dot4I8Packed(c.y, qb);
  if (KINT_LIMBS == 2u) { i = i * 254 + dot4I8Packed(c.x, la) + dot4I8Packed(c.y, lb); }
  return f32(i);
}

// one token's partial dot products (the invocation's 8 channels) for every head, in the components
fn kint_key_dots(fq: FoldQ, word: u32, sh: u32) -> vec4<f32> {
  let c = kint_codes(word, sh);
  var d = fq.sums;
  d.x = fma(fq.q0.lo.x, kint_dot(c, kint_qa.x, kint_qb.x, kint_la.x, kint_lb.x), fq.sums.x);
  if (FOLD_G > 1u) { d.y = fma(fq.q0.lo.y, kint_dot(c, kint_qa.y, kint_qb.y, kint_la.y, kint_lb.y), fq.sums.y); }
  if (FOLD_G > 2u) { d.z = fma(fq.q0.lo.z, kint_dot(c, kint_qa.z, kint_qb.z, kint_la.z, kint_lb.z), fq.sums.z); }
  if (FOLD_G > 3u) { d.w = fma(fq.q0.lo.w, kint_dot(c, kint_qa.w, kint_qb.w, kint_la.w, kint_lb.w), fq.sums.w); }
  return d;
}

// tokens 4b..4b+3 of the invocation: column u = token 4b+u's partial dots (heads in the rows)
fn fold_key_batch(fq: FoldQ, tw: TileWords, o: TileOffsets, b: u32) -> mat4x4<f32> {
  let w = fold_pick4(tw.kw0, tw.kw1, tw.kw2, tw.kw3, b);
  return mat4x4<f32>(kint_key_dots(fq, w.x, o.k_sh), kint_key_dots(fq, w.y, o.k_sh),
    kint_key_dots(fq, w.z, o.k_sh), kint_key_dots(fq, w.w, o.k_sh));
}
