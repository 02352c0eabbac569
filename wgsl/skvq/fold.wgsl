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
//   per position with masks, then decodes x = code * scale + zero once for every head (one
//   head per workgroup: per-slot dot products and sums instead, SKVQ_SLOT_SUMS below);
// - codes become floats without a convert (fold_exact_codes in fold-common.wgsl);
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
// (kivi/fold.wgsl says why); the metadata words are read when a token is decoded.
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

// ternary: the chunk's 8 digits (element e0 = t HEAD_DIM + 8k, from word w and the next, x) as a
// 16-bit field of 2-bit codes
fn skvq_trit_field(w: u32, x: u32, t: u32, k: u32) -> u32 {
  let r = (t * HEAD_DIM + 8u * k) % 20u;
  let sh = 8u * (r / 5u); // first byte of the chunk, 0..3
  let four = select((w >> sh) | (x << (32u - sh)), w, sh == 0u);
  let f = trit_lut[four & 0xffu] | (trit_lut[(four >> 8u) & 0xffu] << 10u) | (trit_lut[(four >> 16u) & 0xffu] << 20u);
  return (f >> (2u * (r % 5u))) & 0xffffu;
}

// scale (in s) and zero (in z) of each position: the chunk's value so far, or slot word w's
// where the mask says the position lies in that slot or a later one
struct SkvqScaleZero { s: Codes8, z: Codes8 }

fn skvq_take(sz: SkvqScaleZero, w: u32, in_lo: vec4<bool>, in_hi: vec4<bool>) -> SkvqScaleZero {
  let b = unpack2x16float(w);
  return SkvqScaleZero(Codes8(select(sz.s.lo, vec4<f32>(b.x), in_lo), select(sz.s.hi, vec4<f32>(b.x), in_hi)),
    Codes8(select(sz.z.lo, vec4<f32>(b.y), in_lo), select(sz.z.hi, vec4<f32>(b.y), in_hi)));
}

// x = code * scale + zero of a chunk, scale and zero per position from the words of slots 0..3
fn skvq_decode(c: Codes8, ch: SkvqChunk, metas: vec4<u32>) -> Codes8 {
  let a = unpack2x16float(metas.x);
  var sz = SkvqScaleZero(Codes8(vec4<f32>(a.x), vec4<f32>(a.x)), Codes8(vec4<f32>(a.y), vec4<f32>(a.y)));
  if (FOLD_SPAN > 1u) { sz = skvq_take(sz, metas.y, ch.in1_lo, ch.in1_hi); }
  if (FOLD_SPAN > 2u) { sz = skvq_take(sz, metas.z, ch.in2_lo, ch.in2_hi); }
  if (FOLD_SPAN > 3u) { sz = skvq_take(sz, metas.w, ch.in3_lo, ch.in3_hi); }
  return Codes8(c.lo * sz.s.lo + sz.z.lo, c.hi * sz.s.hi + sz.z.hi);
}

// The queries at the invocation's positions. Several heads: q0..q3 = heads 0..3, and every
// token is decoded once for all of them (x = code * scale + zero, scale/zero picked per position).
// One head (FOLD_G = 1): q0..q3 = the query masked to slots 0..3, sums = their sums, so a token
// costs sum_u scale_u (q_u . code) + zero_u sums_u: FOLD_SPAN dot products and no per-position
// selects (the selects cost as much as the dot products: bench/README.md).

// the one-head form above (an A/B knob for bench/gpu: -xSKVQ_SLOT_SUMS=false decodes per position)
const SKVQ_SLOT_SUMS: bool = FOLD_G == 1u;


// q masked to the positions at or after a slot boundary (in) and before the next one (next)
fn skvq_slot_q(q: Codes8, in_lo: vec4<bool>, in_hi: vec4<bool>, next_lo: vec4<bool>, next_hi: vec4<bool>) -> Codes8 {
  let z = vec4<f32>(0.0);
  return Codes8(select(z, q.lo, in_lo & !next_lo), select(z, q.hi, in_hi & !next_hi));
}


fn fold_query(tw: TileWords, o: TileOffsets, qv: u32) -> FoldQ {
  var fq = fold_heads_q(qv);
  if (SKVQ_SLOT_SUMS) {
    let q = fq.q0;
    let all = vec4<bool>(true);
    let c = o.kc;
    fq.q0 = skvq_slot_q(q, all, all, c.in1_lo, c.in1_hi);
    fq.q1 = skvq_slot_q(q, c.in1_lo, c.in1_hi, c.in2_lo, c.in2_hi);
    fq.q2 = skvq_slot_q(q, c.in2_lo, c.in2_hi, c.in3_lo, c.in3_hi);
    fq.q3 = skvq_slot_q(q, c.in3_lo, c.in3_hi, !all, !all);
    if (FOLD_SPAN == 1u) { fq.q0 = q; }
    if (FOLD_SPAN == 2u) { fq.q1 = skvq_slot_q(q, c.in1_lo, c.in1_hi, !all, !all); }
    if (FOLD_SPAN == 3u) { fq.q2 = skvq_slot_q(q, c.in2_lo, c.in2_hi, !all, !all); }
    fq.sums = vec4<f32>(fold_sum8(fq.q0), fold_sum8(fq.q1), fold_sum8(fq.q2), fold_sum8(fq.q3));
  }
  return fq;
}


// one token's partial dots (heads in the components) from its codes and slot metadata words
fn skvq_key_token(fq: FoldQ, o: TileOffsets, word: u32, metas: vec4<u32>) -> vec4<f32> {
  let c = fold_exact_codes(word, o.k_sh, K_BITS);
  var d = vec4<f32>(0.0);
  if (SKVQ_SLOT_SUMS) {
    let a = unpack2x16float(metas.x);
    d.x = a.x * fold_dot8(fq.q0, c) + a.y * fq.sums.x;
    if (FOLD_SPAN > 1u) { let b = unpack2x16float(metas.y); d.x = d.x + b.x * fold_dot8(fq.q1, c) + b.y * fq.sums.y; }
    if (FOLD_SPAN > 2u) { let b = unpack2x16float(metas.z); d.x = d.x + b.x * fold_dot8(fq.q2, c) + b.y * fq.sums.z; }
    if (FOLD_SPAN > 3u) { let b = unpack2x16float(metas.w); d.x = d.x + b.x * fold_dot8(fq.q3, c) + b.y * fq.sums.w; }
    return d;
  }
  return fold_heads_dot(fq.q0, fq.q1, fq.q2, fq.q3, skvq_decode(c, o.kc, metas));
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
    skvq_key_token(fq, o, w.x, vec4<u32>(s0.x, s1.x, s2.x, s3.x)),
    skvq_key_token(fq, o, w.y, vec4<u32>(s0.y, s1.y, s2.y, s3.y)),
    skvq_key_token(fq, o, w.z, vec4<u32>(s0.z, s1.z, s2.z, s3.z)),
    skvq_key_token(fq, o, w.w, vec4<u32>(s0.w, s1.w, s2.w, s3.w)));
}



// FoldAcc here: several heads: a0..a3 = per-head sums of p x (decoded values), z unused; one head
// (SKVQ_SLOT_SUMS): a0..a3 = per-slot sums of (p scale_u) code, z = per-slot sums of p zero_u.


// token 4b+u of the invocation with its probabilities p
fn fold_value_token(st: ptr<function, FoldAcc>, tw: TileWords, o: TileOffsets, b: u32, u: u32, p: vec4<f32>) {
  let t = o.tg + (4u * b + u) * o.ts;
  let w = fold_pick4(tw.vw0, tw.vw1, tw.vw2, tw.vw3, b)[u];
  var c: Codes8;
  if (FOLD_V_TERNARY) {
    let x = fold_pick4(tw.vx0, tw.vx1, tw.vx2, tw.vx3, b)[u];
    c = fold_exact_codes(skvq_trit_field(w, x, t, o.k), 0u, 2u);
  } else {
    c = fold_exact_codes(w, o.v_sh, V_BITS);
  }
  let metas = skvq_meta1(tw.kbase + V_OFFSET, o.vc, t);
  if (SKVQ_SLOT_SUMS) {
    let a = unpack2x16float(metas.x);
    (*st).a0 = fold_axpy8((*st).a0, p.x * a.x, c); (*st).z.x = (*st).z.x + p.x * a.y;
    if (FOLD_SPAN > 1u) { let s = unpack2x16float(metas.y); (*st).a1 = fold_axpy8((*st).a1, p.x * s.x, c); (*st).z.y = (*st).z.y + p.x * s.y; }
    if (FOLD_SPAN > 2u) { let s = unpack2x16float(metas.z); (*st).a2 = fold_axpy8((*st).a2, p.x * s.x, c); (*st).z.z = (*st).z.z + p.x * s.y; }
    if (FOLD_SPAN > 3u) { let s = unpack2x16float(metas.w); (*st).a3 = fold_axpy8((*st).a3, p.x * s.x, c); (*st).z.w = (*st).z.w + p.x * s.y; }
    return;
  }
  fold_heads_add(st, p, skvq_decode(c, o.vc, metas));
}


// rescale the value state by c (heads in the components) after the running max moved
fn fold_rescale(st: ptr<function, FoldAcc>, c: vec4<f32>) {
  if (SKVQ_SLOT_SUMS) {
    (*st).l = (*st).l * c;
    (*st).z = (*st).z * c.x;
    (*st).a0 = fold_scale8((*st).a0, c.x);
    if (FOLD_SPAN > 1u) { (*st).a1 = fold_scale8((*st).a1, c.x); }
    if (FOLD_SPAN > 2u) { (*st).a2 = fold_scale8((*st).a2, c.x); }
    if (FOLD_SPAN > 3u) { (*st).a3 = fold_scale8((*st).a3, c.x); }
    return;
  }
  fold_heads_rescale(st, c);
}

// head j's values of the invocation's 8 positions (one head: each position's slot sum + zero sum)
fn fold_output(st: FoldAcc, o: TileOffsets, j: u32) -> Codes8 {
  if (SKVQ_SLOT_SUMS) {
    let c = o.vc;
    var lo = st.a0.lo + st.z.x; var hi = st.a0.hi + st.z.x;
    if (FOLD_SPAN > 1u) { lo = select(lo, st.a1.lo + st.z.y, c.in1_lo); hi = select(hi, st.a1.hi + st.z.y, c.in1_hi); }
    if (FOLD_SPAN > 2u) { lo = select(lo, st.a2.lo + st.z.z, c.in2_lo); hi = select(hi, st.a2.hi + st.z.z, c.in2_hi); }
    if (FOLD_SPAN > 3u) { lo = select(lo, st.a3.lo + st.z.w, c.in3_lo); hi = select(hi, st.a3.hi + st.z.w, c.in3_hi); }
    return Codes8(lo, hi);
  }
  return fold_head_acc(st, j);
}
