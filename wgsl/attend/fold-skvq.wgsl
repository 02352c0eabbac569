// SKVQ (docs/FORMAT.md "SKVQ") for the folded drivers (interface: attend/fold-common.wgsl).
// A tile of a stream: (32/m) * C f16 (scale, zero) words, word b*C + j for token block b and
// channel group j, then the codes in permuted channel order (2/4-bit code stream, or ternary: 5
// base-3 digits per byte, 20 per word). The params of a stream hold [levels, C, m, alpha], then
// per KV head perm[d], groupStart[C+1], slot[d].
//
// What changes against tiles.wgsl's generic SKVQ hooks (one params read, one division loop and
// one convert per element):
// - positions, not model channels: the queries are gathered into the key permutation's order
//   once per work item (fold_q_channel) and each output position is written to its model
//   channel at the end (fold_out_channel), so the tile loop never reads the permutation;
// - groups: an invocation's 8 positions meet at most FOLD_SPAN (1..4) channel groups, known per
//   work item (shaders.ts computes the span from the params and falls back to tiles.wgsl above
//   4); per token it loads that many metadata words (when the token is decoded: the invocations
//   of a token read the same words, L1 serves them; preloading them with the codes cost 64
//   registers and was 16% slower for one head per workgroup on the H100) and picks scale/zero
//   per position with masks, then decodes x = code * scale + zero once for every head;
// - codes become floats without a convert: a code at bit P of a word, OR-ed into the mantissa of
//   2^(23 - P), is that float plus the code exactly (one and-or, one subtract);
// - ternary values (FOLD_V_TERNARY): the 8 digits of a chunk span at most 3 bytes of 2 words;
//   a 256-entry table in workgroup memory turns each byte into five 2-bit fields, so the chunk
//   becomes a 16-bit field of 2-bit codes decoded like skvq-v2.
// Glue constants (shaders.ts): FOLD_SPAN, FOLD_V_TERNARY.

// byte of 5 base-3 digits -> the digits as 2-bit fields (bits 2n..2n+1 = digit n)
var<workgroup> trit_lut: array<u32, 256>;

fn fold_codec_init(lid: u32) {
  if (FOLD_V_TERNARY) {
    for (var i = lid; i < 256u; i = i + FOLD_WG) {
      var v = i;
      var f = 0u;
      for (var n = 0u; n < 5u; n = n + 1u) {
        f = f | ((v % 3u) << (2u * n));
        v = v / 3u;
      }
      trit_lut[i] = f;
    }
  }
}

// value code bits as the decoder sees them (a ternary chunk becomes 2-bit fields)
fn skvq_vbits() -> u32 { return select(V_BITS, 2u, FOLD_V_TERNARY); }

// first params word of KV head h's tables (perm, then groupStart) in the stream at pb
fn skvq_head_base(pb: u32, h: u32) -> u32 { return pb + 4u + h * (2u * HEAD_DIM + params[pb + 1u] + 1u); }
fn fold_q_channel(kv_head: u32, p: u32) -> u32 { return params[skvq_head_base(K_PARAMS, kv_head) + p]; }
fn fold_out_channel(kv_head: u32, p: u32) -> u32 { return params[skvq_head_base(V_PARAMS, kv_head) + p]; }

// One stream's groups as one invocation's chunk (positions 8k..8k+7) meets them: the group of
// its first position and the next three (clamped to valid groups: slots 0..3), which positions
// lie in slot 1 or later, 2 or later, 3 (masks, monotone since groups are contiguous), C, log2 m
// and the metadata words before the codes.
struct SkvqChunk {
  C: u32,
  lm: u32, // log2(m): m is a power of two, and a division by a run-time m costs ~20 instructions
  j: vec4<u32>,
  in1_lo: vec4<bool>, in1_hi: vec4<bool>,
  in2_lo: vec4<bool>, in2_hi: vec4<bool>,
  in3_lo: vec4<bool>, in3_hi: vec4<bool>,
  meta_words: u32,
}

fn skvq_chunk(pb: u32, kv_head: u32, k: u32) -> SkvqChunk {
  let C = params[pb + 1u];
  let m = params[pb + 2u];
  let gs = skvq_head_base(pb, kv_head) + HEAD_DIM; // groupStart[0..C], groupStart[C] = HEAD_DIM
  let p0 = 8u * k;
  var ja = 0u;
  for (var j = 1u; j < C; j = j + 1u) {
    if (params[gs + j] <= p0) { ja = j; }
  }
  // first positions of groups ja + 1..3 (HEAD_DIM past the last group)
  let cut = vec3<u32>(params[gs + min(ja + 1u, C)], params[gs + min(ja + 2u, C)], params[gs + min(ja + 3u, C)]);
  let lo = vec4<u32>(p0, p0 + 1u, p0 + 2u, p0 + 3u);
  let hi = lo + vec4<u32>(4u);
  let j = min(vec4<u32>(ja) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(C - 1u));
  return SkvqChunk(C, countTrailingZeros(m), j, lo >= vec4<u32>(cut.x), hi >= vec4<u32>(cut.x),
    lo >= vec4<u32>(cut.y), hi >= vec4<u32>(cut.y), lo >= vec4<u32>(cut.z), hi >= vec4<u32>(cut.z), (TILE_TOKENS / m) * C);
}

// Invocation (tg, k): tokens tg + TG i of a tile, both streams' chunks, code word offsets
// (2/4-bit streams: first token's word and the step between its tokens, bit shift in the word).
struct TileOffsets {
  kc: SkvqChunk,
  vc: SkvqChunk,
  tg: u32,
  ts: u32,
  k: u32,
  k_code: u32, k_step: u32, k_sh: u32,
  v_code: u32, v_step: u32, v_sh: u32,
}

fn fold_offsets(tg: u32, k: u32, kv_head: u32) -> TileOffsets {
  let TG = 32u / FOLD_LPT;
  let c0 = 8u * k;
  let kc = skvq_chunk(K_PARAMS, kv_head, k);
  let vc = skvq_chunk(V_PARAMS, kv_head, k);
  let vb = skvq_vbits();
  let k_tok = HEAD_DIM * K_BITS / 32u;
  let v_tok = HEAD_DIM * vb / 32u;
  return TileOffsets(kc, vc, tg, TG, k,
    kc.meta_words + tg * k_tok + ((c0 * K_BITS) >> 5u), TG * k_tok, select(0u, (c0 * K_BITS) & 31u, K_BITS == 2u),
    V_OFFSET + vc.meta_words + tg * v_tok + ((c0 * vb) >> 5u), TG * v_tok, select(0u, (c0 * vb) & 31u, vb == 2u));
}

// The code words one invocation reads for one tile, per batch b of 4 of its tokens (vectors *b):
// keys, values (ternary: the chunk's first word and the next). Loaded before any use
// (fold-kivi.wgsl says why); the metadata words are read when a token is decoded.
struct TileWords {
  kw0: vec4<u32>, kw1: vec4<u32>, kw2: vec4<u32>, kw3: vec4<u32>,
  vw0: vec4<u32>, vw1: vec4<u32>, vw2: vec4<u32>, vw3: vec4<u32>,
  vx0: vec4<u32>, vx1: vec4<u32>, vx2: vec4<u32>, vx3: vec4<u32>,
  kbase: u32, // the tile pair's first word
}

fn fold_tile_zero() -> TileWords {
  let z = vec4<u32>(0u);
  return TileWords(z, z, z, z, z, z, z, z, z, z, z, z, 0u);
}

// metadata words of group j for tokens t0, t0 + ts, t0 + 2 ts, t0 + 3 ts of the tile at `base`
fn skvq_meta4(base: u32, c: SkvqChunk, t0: u32, ts: u32, j: u32) -> vec4<u32> {
  let t = vec4<u32>(t0, t0 + ts, t0 + 2u * ts, t0 + 3u * ts);
  let w = (t >> vec4<u32>(c.lm)) * c.C + vec4<u32>(base + j);
  return vec4<u32>(pages[w.x], pages[w.y], pages[w.z], pages[w.w]);
}

// the metadata words of slots 0..FOLD_SPAN-1 of token t of the tile at `base`
fn skvq_meta1(base: u32, c: SkvqChunk, t: u32) -> vec4<u32> {
  let w = base + (t >> c.lm) * c.C;
  var r = vec4<u32>(pages[w + c.j.x], 0u, 0u, 0u);
  if (FOLD_SPAN > 1u) { r.y = pages[w + c.j.y]; }
  if (FOLD_SPAN > 2u) { r.z = pages[w + c.j.z]; }
  if (FOLD_SPAN > 3u) { r.w = pages[w + c.j.w]; }
  return r;
}

// ternary: word of element e0 = t HEAD_DIM + 8k, relative to the value tile
fn skvq_trit_word(o: TileOffsets, t: u32) -> u32 { return o.vc.meta_words + (t * HEAD_DIM + 8u * o.k) / 20u; }

// one batch of 4 tokens (t0 + u ts): key, value and (ternary) next value words
struct TileBatch { kw: vec4<u32>, vw: vec4<u32>, vx: vec4<u32> }

fn skvq_load_batch(kbase: u32, o: TileOffsets, b: u32) -> TileBatch {
  let vbase = kbase + V_OFFSET;
  let t0 = o.tg + 4u * b * o.ts;
  var r = TileBatch(fold_load4(kbase + o.k_code + 4u * b * o.k_step, o.k_step), vec4<u32>(0u), vec4<u32>(0u));
  if (FOLD_V_TERNARY) {
    // the last word of the code region has no successor: a chunk never needs one there
    let last = o.vc.meta_words + (TILE_TOKENS * HEAD_DIM + 19u) / 20u - 1u;
    let w = vec4<u32>(skvq_trit_word(o, t0), skvq_trit_word(o, t0 + o.ts), skvq_trit_word(o, t0 + 2u * o.ts), skvq_trit_word(o, t0 + 3u * o.ts));
    let x = min(w + vec4<u32>(1u), vec4<u32>(last));
    r.vw = vec4<u32>(pages[vbase + w.x], pages[vbase + w.y], pages[vbase + w.z], pages[vbase + w.w]);
    r.vx = vec4<u32>(pages[vbase + x.x], pages[vbase + x.y], pages[vbase + x.z], pages[vbase + x.w]);
  } else {
    r.vw = fold_load4(kbase + o.v_code + 4u * b * o.v_step, o.v_step);
  }
  return r;
}

fn fold_load_tile(kbase: u32, o: TileOffsets) -> TileWords {
  var t = fold_tile_zero();
  t.kbase = kbase;
  let b0 = skvq_load_batch(kbase, o, 0u);
  t.kw0 = b0.kw; t.vw0 = b0.vw; t.vx0 = b0.vx;
  let b1 = skvq_load_batch(kbase, o, 1u);
  t.kw1 = b1.kw; t.vw1 = b1.vw; t.vx1 = b1.vx;
  if (FOLD_LPT > 8u) {
    let b2 = skvq_load_batch(kbase, o, 2u);
    t.kw2 = b2.kw; t.vw2 = b2.vw; t.vx2 = b2.vx;
    let b3 = skvq_load_batch(kbase, o, 3u);
    t.kw3 = b3.kw; t.vw3 = b3.vw; t.vx3 = b3.vx;
  }
  return t;
}

// The 8 codes of a chunk, exactly: code i at bit P of its source word, OR-ed into the mantissa
// of 2^(23 - P), minus that power of two. b = 2: the chunk is the 16-bit field at `sh` (code i at
// bit 2i); b = 4: the whole word, codes 0-3 in the low half, 4-7 in the high half.
fn skvq_codes(word: u32, sh: u32, bits: u32) -> Codes8 {
  let two = bits == 2u;
  let lo_src = vec4<u32>(select(word, word >> sh, two));
  let hi_src = vec4<u32>(select(word >> 16u, word >> sh, two));
  let m2 = vec4<u32>(3u, 12u, 48u, 192u);
  let m4 = vec4<u32>(15u, 240u, 3840u, 61440u);
  let lo_mask = select(m4, m2, two);
  let hi_mask = select(m4, m2 << vec4<u32>(8u), two);
  // exponent fields 127 + 23 - P
  let lo_e = select(vec4<u32>(150u, 146u, 142u, 138u), vec4<u32>(150u, 148u, 146u, 144u), two);
  let hi_e = select(lo_e, vec4<u32>(142u, 140u, 138u, 136u), two);
  let lo_b = bitcast<vec4<f32>>(lo_e << vec4<u32>(23u));
  let hi_b = bitcast<vec4<f32>>(hi_e << vec4<u32>(23u));
  return Codes8(bitcast<vec4<f32>>((lo_src & lo_mask) | (lo_e << vec4<u32>(23u))) - lo_b,
    bitcast<vec4<f32>>((hi_src & hi_mask) | (hi_e << vec4<u32>(23u))) - hi_b);
}

// ternary: the chunk's 8 digits (element e0 = t HEAD_DIM + 8k, from word w and the next, x) as a
// 16-bit field of 2-bit codes
fn skvq_trit_field(w: u32, x: u32, t: u32, k: u32) -> u32 {
  let r = (t * HEAD_DIM + 8u * k) % 20u;
  let sh = 8u * (r / 5u); // first byte of the chunk, 0..3
  let four = select((w >> sh) | (x << (32u - sh)), w, sh == 0u);
  let f = trit_lut[four & 0xffu] | (trit_lut[(four >> 8u) & 0xffu] << 10u) | (trit_lut[(four >> 16u) & 0xffu] << 20u);
  return (f >> (2u * (r % 5u))) & 0xffffu;
}

// x = code * scale + zero of a chunk, scale and zero per position from the words of slots 0..3
fn skvq_decode(c: Codes8, ch: SkvqChunk, metas: vec4<u32>) -> Codes8 {
  let a = unpack2x16float(metas.x);
  var s_lo = vec4<f32>(a.x); var s_hi = s_lo;
  var z_lo = vec4<f32>(a.y); var z_hi = z_lo;
  if (FOLD_SPAN > 1u) {
    let b = unpack2x16float(metas.y);
    s_lo = select(s_lo, vec4<f32>(b.x), ch.in1_lo); s_hi = select(s_hi, vec4<f32>(b.x), ch.in1_hi);
    z_lo = select(z_lo, vec4<f32>(b.y), ch.in1_lo); z_hi = select(z_hi, vec4<f32>(b.y), ch.in1_hi);
  }
  if (FOLD_SPAN > 2u) {
    let b = unpack2x16float(metas.z);
    s_lo = select(s_lo, vec4<f32>(b.x), ch.in2_lo); s_hi = select(s_hi, vec4<f32>(b.x), ch.in2_hi);
    z_lo = select(z_lo, vec4<f32>(b.y), ch.in2_lo); z_hi = select(z_hi, vec4<f32>(b.y), ch.in2_hi);
  }
  if (FOLD_SPAN > 3u) {
    let b = unpack2x16float(metas.w);
    s_lo = select(s_lo, vec4<f32>(b.x), ch.in3_lo); s_hi = select(s_hi, vec4<f32>(b.x), ch.in3_hi);
    z_lo = select(z_lo, vec4<f32>(b.y), ch.in3_lo); z_hi = select(z_hi, vec4<f32>(b.y), ch.in3_hi);
  }
  return Codes8(c.lo * s_lo + z_lo, c.hi * s_hi + z_hi);
}

// the workgroup's queries at the invocation's positions (vec4 index qv of q_sh)
struct FoldQ {
  q0: Codes8,
  q1: Codes8,
  q2: Codes8,
  q3: Codes8,
}

fn fold_query(tw: TileWords, o: TileOffsets, qv: u32) -> FoldQ {
  let hq = HEAD_DIM / 4u;
  let zero8 = Codes8(vec4<f32>(0.0), vec4<f32>(0.0));
  var fq = FoldQ(Codes8(q_sh[qv], q_sh[qv + 1u]), zero8, zero8, zero8);
  if (FOLD_G > 1u) { fq.q1 = Codes8(q_sh[hq + qv], q_sh[hq + qv + 1u]); }
  if (FOLD_G > 2u) { fq.q2 = Codes8(q_sh[2u * hq + qv], q_sh[2u * hq + qv + 1u]); }
  if (FOLD_G > 3u) { fq.q3 = Codes8(q_sh[3u * hq + qv], q_sh[3u * hq + qv + 1u]); }
  return fq;
}

fn skvq_key_dots(fq: FoldQ, x: Codes8) -> vec4<f32> {
  var d = vec4<f32>(0.0);
  d.x = dot(fq.q0.lo, x.lo) + dot(fq.q0.hi, x.hi);
  if (FOLD_G > 1u) { d.y = dot(fq.q1.lo, x.lo) + dot(fq.q1.hi, x.hi); }
  if (FOLD_G > 2u) { d.z = dot(fq.q2.lo, x.lo) + dot(fq.q2.hi, x.hi); }
  if (FOLD_G > 3u) { d.w = dot(fq.q3.lo, x.lo) + dot(fq.q3.hi, x.hi); }
  return d;
}

// tokens 4b..4b+3 of the invocation: column u = token 4b+u's partial dots (heads in the rows)
fn fold_key_batch(fq: FoldQ, tw: TileWords, o: TileOffsets, b: u32) -> mat4x4<f32> {
  let w = fold_pick4(tw.kw0, tw.kw1, tw.kw2, tw.kw3, b);
  let t0 = o.tg + 4u * b * o.ts;
  // slot u's words of the 4 tokens, transposed into each token's slots
  let s0 = skvq_meta4(tw.kbase, o.kc, t0, o.ts, o.kc.j.x);
  var s1 = s0; var s2 = s0; var s3 = s0;
  if (FOLD_SPAN > 1u) { s1 = skvq_meta4(tw.kbase, o.kc, t0, o.ts, o.kc.j.y); }
  if (FOLD_SPAN > 2u) { s2 = skvq_meta4(tw.kbase, o.kc, t0, o.ts, o.kc.j.z); }
  if (FOLD_SPAN > 3u) { s3 = skvq_meta4(tw.kbase, o.kc, t0, o.ts, o.kc.j.w); }
  return mat4x4<f32>(
    skvq_key_dots(fq, skvq_decode(skvq_codes(w.x, o.k_sh, K_BITS), o.kc, vec4<u32>(s0.x, s1.x, s2.x, s3.x))),
    skvq_key_dots(fq, skvq_decode(skvq_codes(w.y, o.k_sh, K_BITS), o.kc, vec4<u32>(s0.y, s1.y, s2.y, s3.y))),
    skvq_key_dots(fq, skvq_decode(skvq_codes(w.z, o.k_sh, K_BITS), o.kc, vec4<u32>(s0.z, s1.z, s2.z, s3.z))),
    skvq_key_dots(fq, skvq_decode(skvq_codes(w.w, o.k_sh, K_BITS), o.kc, vec4<u32>(s0.w, s1.w, s2.w, s3.w))));
}

// per-head value state: l (heads in the components) and one accumulator of decoded values per head
struct FoldAcc {
  l: vec4<f32>,
  a0: Codes8,
  a1: Codes8,
  a2: Codes8,
  a3: Codes8,
}

fn fold_acc_zero() -> FoldAcc {
  let zero8 = Codes8(vec4<f32>(0.0), vec4<f32>(0.0));
  return FoldAcc(vec4<f32>(0.0), zero8, zero8, zero8, zero8);
}

// token 4b+u of the invocation with its probabilities p: acc += p x
fn fold_value_token(st: ptr<function, FoldAcc>, tw: TileWords, o: TileOffsets, b: u32, u: u32, p: vec4<f32>) {
  let t = o.tg + (4u * b + u) * o.ts;
  let w = fold_pick4(tw.vw0, tw.vw1, tw.vw2, tw.vw3, b)[u];
  var c: Codes8;
  if (FOLD_V_TERNARY) {
    let x = fold_pick4(tw.vx0, tw.vx1, tw.vx2, tw.vx3, b)[u];
    c = skvq_codes(skvq_trit_field(w, x, t, o.k), 0u, 2u);
  } else {
    c = skvq_codes(w, o.v_sh, V_BITS);
  }
  let x = skvq_decode(c, o.vc, skvq_meta1(tw.kbase + V_OFFSET, o.vc, t));
  (*st).a0.lo = (*st).a0.lo + p.x * x.lo; (*st).a0.hi = (*st).a0.hi + p.x * x.hi;
  if (FOLD_G > 1u) { (*st).a1.lo = (*st).a1.lo + p.y * x.lo; (*st).a1.hi = (*st).a1.hi + p.y * x.hi; }
  if (FOLD_G > 2u) { (*st).a2.lo = (*st).a2.lo + p.z * x.lo; (*st).a2.hi = (*st).a2.hi + p.z * x.hi; }
  if (FOLD_G > 3u) { (*st).a3.lo = (*st).a3.lo + p.w * x.lo; (*st).a3.hi = (*st).a3.hi + p.w * x.hi; }
}

// rescale the value state by c (heads in the components) after the running max moved
fn fold_rescale(st: ptr<function, FoldAcc>, c: vec4<f32>) {
  (*st).l = (*st).l * c;
  (*st).a0.lo = (*st).a0.lo * c.x; (*st).a0.hi = (*st).a0.hi * c.x;
  if (FOLD_G > 1u) { (*st).a1.lo = (*st).a1.lo * c.y; (*st).a1.hi = (*st).a1.hi * c.y; }
  if (FOLD_G > 2u) { (*st).a2.lo = (*st).a2.lo * c.z; (*st).a2.hi = (*st).a2.hi * c.z; }
  if (FOLD_G > 3u) { (*st).a3.lo = (*st).a3.lo * c.w; (*st).a3.hi = (*st).a3.hi * c.w; }
}

// head j's accumulator (values of the invocation's 8 positions)
fn fold_output(st: FoldAcc, o: TileOffsets, j: u32) -> Codes8 {
  var a = st.a0;
  if (j == 1u) { a = st.a1; } else if (j == 2u) { a = st.a2; } else if (j == 3u) { a = st.a3; }
  return a;
}
