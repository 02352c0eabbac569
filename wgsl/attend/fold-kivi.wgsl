// KIVI-2/4 (per-channel keys, per-token values in 32-channel groups) for the folded drivers
// (interface: attend/fold-common.wgsl). Tile of a stream: HEAD_DIM key metadata words (f16
// scale, zero per channel) then codes, or per token and 32-channel group one value metadata word
// then codes (docs/FORMAT.md "KIVI").
// - keys: q . (s code + z) = (q s) . code + q . z per tile and channel: the scale is folded into
//   the query once per tile, the bias q . z rides along with the partial dots;
// - values: per (token, 32-channel group) (s, z): acc += (p s) code, and p z into one sum;
// - codes become floats without a convert: (bits & mask) | 0x4B000000 is the f32 2^23 + code
//   * 2^k exactly (k = the code's bit position in its 16-bit half), minus 2^23 gives code * 2^k;
//   the 2^-k is folded into q (keys) or applied once at the end (values).

// 2^23 as f32 bits and value: OR-ing a code of up to 23 bits into the mantissa makes 2^23 + code
const MAGIC_BITS: u32 = 0x4B000000u;
const MAGIC: f32 = 8388608.0;

// The 8 codes of one lane's chunk as code * 2^k (exact), from the word holding them.
// b = 2: the chunk is one 16-bit half (at bit `sh`), code i at bit 2i of it;
// b = 4: the chunk is the whole word, codes 0-3 in the low half, 4-7 in the high half.
fn fold_codes(word: u32, sh: u32, bits: u32) -> Codes8 {
  let m2 = vec4<u32>(3u, 12u, 48u, 192u);
  let m4 = vec4<u32>(15u, 240u, 3840u, 61440u);
  let lo_src = vec4<u32>(select(word, word >> sh, bits == 2u));
  let hi_src = vec4<u32>(select(word >> 16u, word >> sh, bits == 2u));
  let lo_mask = select(m4, m2, bits == 2u);
  let hi_mask = select(m4, m2 << vec4<u32>(8u), bits == 2u);
  let magic = vec4<u32>(MAGIC_BITS);
  return Codes8(
    bitcast<vec4<f32>>((lo_src & lo_mask) | magic) - vec4<f32>(MAGIC),
    bitcast<vec4<f32>>((hi_src & hi_mask) | magic) - vec4<f32>(MAGIC));
}

// 2^-k of each code position of fold_codes
fn fold_lo_scale(bits: u32) -> vec4<f32> {
  return select(vec4<f32>(1.0, 1.0 / 16.0, 1.0 / 256.0, 1.0 / 4096.0),
    vec4<f32>(1.0, 0.25, 1.0 / 16.0, 1.0 / 64.0), bits == 2u);
}
fn fold_hi_scale(bits: u32) -> vec4<f32> {
  return select(vec4<f32>(1.0, 1.0 / 16.0, 1.0 / 256.0, 1.0 / 4096.0),
    vec4<f32>(1.0 / 256.0, 1.0 / 1024.0, 1.0 / 4096.0, 1.0 / 16384.0), bits == 2u);
}

fn fold_codec_init(lid: u32) { }
fn fold_q_channel(kv_head: u32, p: u32) -> u32 { return p; }
fn fold_out_channel(kv_head: u32, p: u32) -> u32 { return p; }

// Every word one invocation reads for one tile: key metadata of its 8 channels, and for its
// FOLD_LPT tokens (4 per vector) the key code words, value metadata words and value code words.
// Loaded as independent loads before any use, so a tile costs one trip to memory: loads
// interleaved with their use left the H100 at ~0.5 TB/s (bench/README.md).
struct TileWords {
  km0: vec4<u32>, km1: vec4<u32>,
  kw0: vec4<u32>, kw1: vec4<u32>, kw2: vec4<u32>, kw3: vec4<u32>,
  vm0: vec4<u32>, vm1: vec4<u32>, vm2: vec4<u32>, vm3: vec4<u32>,
  vw0: vec4<u32>, vw1: vec4<u32>, vw2: vec4<u32>, vw3: vec4<u32>,
}

// Word offsets of one invocation inside a (K, V) tile pair: its key metadata (c0), its first
// token's key code word, value metadata word and value code word, and the steps between its tokens.
struct TileOffsets {
  c0: u32,
  k_off: u32, vm_off: u32, vw_off: u32,
  ks: u32, ms: u32, vs: u32,
  k_sh: u32, v_sh: u32, // bit shift of the invocation's 8 codes in their word (2-bit codes)
}

fn fold_offsets(tg: u32, k: u32, kv_head: u32) -> TileOffsets {
  let TG = 32u / FOLD_LPT;
  let c0 = 8u * k;
  let v_groups = HEAD_DIM / 32u; // value groups: min(32, HEAD_DIM) = 32 channels here
  let k_tok = HEAD_DIM * K_BITS / 32u;
  let v_tok = HEAD_DIM * V_BITS / 32u;
  return TileOffsets(c0,
    HEAD_DIM + tg * k_tok + ((c0 * K_BITS) >> 5u),
    V_OFFSET + tg * v_groups + c0 / 32u,
    V_OFFSET + TILE_TOKENS * v_groups + tg * v_tok + ((c0 * V_BITS) >> 5u),
    TG * k_tok, TG * v_groups, TG * v_tok,
    select(0u, (c0 * K_BITS) & 31u, K_BITS == 2u), select(0u, (c0 * V_BITS) & 31u, V_BITS == 2u));
}

fn fold_tile_zero() -> TileWords {
  let z = vec4<u32>(0u);
  return TileWords(z, z, z, z, z, z, z, z, z, z, z, z, z, z);
}

// the words of the tile pair at word `kbase` (its key tile; the value tile is V_OFFSET behind)
fn fold_load_tile(kbase: u32, o: TileOffsets) -> TileWords {
  var t = fold_tile_zero();
  t.km0 = fold_load4(kbase + o.c0, 1u);
  t.km1 = fold_load4(kbase + o.c0 + 4u, 1u);
  t.kw0 = fold_load4(kbase + o.k_off, o.ks);
  t.vm0 = fold_load4(kbase + o.vm_off, o.ms);
  t.vw0 = fold_load4(kbase + o.vw_off, o.vs);
  t.kw1 = fold_load4(kbase + o.k_off + 4u * o.ks, o.ks);
  t.vm1 = fold_load4(kbase + o.vm_off + 4u * o.ms, o.ms);
  t.vw1 = fold_load4(kbase + o.vw_off + 4u * o.vs, o.vs);
  if (FOLD_LPT > 8u) {
    t.kw2 = fold_load4(kbase + o.k_off + 8u * o.ks, o.ks);
    t.vm2 = fold_load4(kbase + o.vm_off + 8u * o.ms, o.ms);
    t.vw2 = fold_load4(kbase + o.vw_off + 8u * o.vs, o.vs);
    t.kw3 = fold_load4(kbase + o.k_off + 12u * o.ks, o.ks);
    t.vm3 = fold_load4(kbase + o.vm_off + 12u * o.ms, o.ms);
    t.vw3 = fold_load4(kbase + o.vw_off + 12u * o.vs, o.vs);
  }
  return t;
}

// FoldQ here: the queries of the workgroup's heads for channels c0..c0+7 (vec4 index qv in q_sh) with the
// tile's per-channel key (scale, zero) folded in: q s 2^-k per channel, bias q . zero per head.
// km0, km1: the 8 key metadata words (f16 scale, zero) of those channels.
fn fold_query(tw: TileWords, o: TileOffsets, qv: u32) -> FoldQ {
  let km0 = tw.km0; let km1 = tw.km1;
  let a0 = unpack2x16float(km0.x); let a1 = unpack2x16float(km0.y);
  let a2 = unpack2x16float(km0.z); let a3 = unpack2x16float(km0.w);
  let b0 = unpack2x16float(km1.x); let b1 = unpack2x16float(km1.y);
  let b2 = unpack2x16float(km1.z); let b3 = unpack2x16float(km1.w);
  let s_lo = vec4<f32>(a0.x, a1.x, a2.x, a3.x) * fold_lo_scale(K_BITS);
  let s_hi = vec4<f32>(b0.x, b1.x, b2.x, b3.x) * fold_hi_scale(K_BITS);
  let z_lo = vec4<f32>(a0.y, a1.y, a2.y, a3.y);
  let z_hi = vec4<f32>(b0.y, b1.y, b2.y, b3.y);
  let hq = HEAD_DIM / 4u;
  let zero8 = Codes8(vec4<f32>(0.0), vec4<f32>(0.0));
  var fq = FoldQ(Codes8(q_sh[qv] * s_lo, q_sh[qv + 1u] * s_hi), zero8, zero8, zero8, vec4<f32>(0.0));
  fq.sums.x = dot(q_sh[qv], z_lo) + dot(q_sh[qv + 1u], z_hi);
  if (FOLD_G > 1u) { fq.q1 = Codes8(q_sh[hq + qv] * s_lo, q_sh[hq + qv + 1u] * s_hi); fq.sums.y = dot(q_sh[hq + qv], z_lo) + dot(q_sh[hq + qv + 1u], z_hi); }
  if (FOLD_G > 2u) { fq.q2 = Codes8(q_sh[2u * hq + qv] * s_lo, q_sh[2u * hq + qv + 1u] * s_hi); fq.sums.z = dot(q_sh[2u * hq + qv], z_lo) + dot(q_sh[2u * hq + qv + 1u], z_hi); }
  if (FOLD_G > 3u) { fq.q3 = Codes8(q_sh[3u * hq + qv] * s_lo, q_sh[3u * hq + qv + 1u] * s_hi); fq.sums.w = dot(q_sh[3u * hq + qv], z_lo) + dot(q_sh[3u * hq + qv + 1u], z_hi); }
  return fq;
}

// One token's partial dot products (chunk of 8 channels) for every head, in the components.
fn fold_key_dots(fq: FoldQ, word: u32, sh: u32) -> vec4<f32> {
  let f = fold_codes(word, sh, K_BITS);
  var d = vec4<f32>(0.0);
  d.x = dot(fq.q0.lo, f.lo) + dot(fq.q0.hi, f.hi) + fq.sums.x;
  if (FOLD_G > 1u) { d.y = dot(fq.q1.lo, f.lo) + dot(fq.q1.hi, f.hi) + fq.sums.y; }
  if (FOLD_G > 2u) { d.z = dot(fq.q2.lo, f.lo) + dot(fq.q2.hi, f.hi) + fq.sums.z; }
  if (FOLD_G > 3u) { d.w = dot(fq.q3.lo, f.lo) + dot(fq.q3.hi, f.hi) + fq.sums.w; }
  return d;
}

// tokens 4b..4b+3 of the invocation: column u = token 4b+u's partial dots (heads in the rows)
fn fold_key_batch(fq: FoldQ, tw: TileWords, o: TileOffsets, b: u32) -> mat4x4<f32> {
  let w = fold_pick4(tw.kw0, tw.kw1, tw.kw2, tw.kw3, b);
  return mat4x4<f32>(fold_key_dots(fq, w.x, o.k_sh), fold_key_dots(fq, w.y, o.k_sh),
    fold_key_dots(fq, w.z, o.k_sh), fold_key_dots(fq, w.w, o.k_sh));
}


// FoldAcc here: l, z = sum of p * zero (heads in the components); a0..a3 = one accumulator per
// head in code units (the 2^k of each position is removed at the end).

// one token of the value pass with its probabilities p (heads in the components):
// acc += (p scale) code, z += p zero
fn fold_value_add(st: ptr<function, FoldAcc>, word: u32, mw: u32, p: vec4<f32>, sh: u32) {
  let sz = unpack2x16float(mw);
  let f = fold_codes(word, sh, V_BITS);
  (*st).z = (*st).z + p * sz.y;
  let w = p * sz.x;
  (*st).a0.lo = (*st).a0.lo + w.x * f.lo; (*st).a0.hi = (*st).a0.hi + w.x * f.hi;
  if (FOLD_G > 1u) { (*st).a1.lo = (*st).a1.lo + w.y * f.lo; (*st).a1.hi = (*st).a1.hi + w.y * f.hi; }
  if (FOLD_G > 2u) { (*st).a2.lo = (*st).a2.lo + w.z * f.lo; (*st).a2.hi = (*st).a2.hi + w.z * f.hi; }
  if (FOLD_G > 3u) { (*st).a3.lo = (*st).a3.lo + w.w * f.lo; (*st).a3.hi = (*st).a3.hi + w.w * f.hi; }
}


// token 4b+u of the invocation with its probabilities p
fn fold_value_token(st: ptr<function, FoldAcc>, tw: TileWords, o: TileOffsets, b: u32, u: u32, p: vec4<f32>) {
  let w = fold_pick4(tw.vw0, tw.vw1, tw.vw2, tw.vw3, b);
  let m = fold_pick4(tw.vm0, tw.vm1, tw.vm2, tw.vm3, b);
  fold_value_add(st, w[u], m[u], p, o.v_sh);
}

// rescale the value state by c (heads in the components) after the running max moved
fn fold_rescale(st: ptr<function, FoldAcc>, c: vec4<f32>) {
  (*st).l = (*st).l * c;
  (*st).z = (*st).z * c;
  (*st).a0.lo = (*st).a0.lo * c.x; (*st).a0.hi = (*st).a0.hi * c.x;
  if (FOLD_G > 1u) { (*st).a1.lo = (*st).a1.lo * c.y; (*st).a1.hi = (*st).a1.hi * c.y; }
  if (FOLD_G > 2u) { (*st).a2.lo = (*st).a2.lo * c.z; (*st).a2.hi = (*st).a2.hi * c.z; }
  if (FOLD_G > 3u) { (*st).a3.lo = (*st).a3.lo * c.w; (*st).a3.hi = (*st).a3.hi * c.w; }
}

// head j's accumulator, as final values of channels c0..c0+7: a 2^-k + z
fn fold_output(st: FoldAcc, o: TileOffsets, j: u32) -> Codes8 {
  var a = st.a0;
  if (j == 1u) { a = st.a1; } else if (j == 2u) { a = st.a2; } else if (j == 3u) { a = st.a3; }
  let z = st.z[j];
  return Codes8(a.lo * fold_lo_scale(V_BITS) + z, a.hi * fold_hi_scale(V_BITS) + z);
}
