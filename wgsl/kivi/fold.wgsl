// KIVI-2/4 (per-channel keys, per-token values in 32-channel groups) for the folded drivers
// (interface: attend/fold-common.wgsl). Tile of a stream: HEAD_DIM key metadata words (f16
// scale, zero per channel) then codes, or per token and 32-channel group one value metadata word
// then codes (docs/FORMAT.md "KIVI").
// - keys: q . (s code + z) = (q s) . code + q . z per tile and channel: the scale is folded into
//   the query once per tile, the bias q . z rides along with the partial dots;
// - values: per (token, 32-channel group) (s, z): acc += (p s) code, and p z into one sum;
// - codes become floats without a convert (fold_exact_codes in fold-common.wgsl).

fn fold_codec_init(lid: u32) { }
fn fold_q_channel(kv_head: u32, p: u32) -> u32 { return p; }
fn fold_out_channel(kv_head: u32, p: u32) -> u32 { return p; }

// Every word one invocation reads for one tile: key metadata of its 8 channels, and for its
// FOLD_LPT tokens (4 per vector) the key code words, value metadata words and value code words.
// Loaded as independent loads before any use, so a tile costs one trip to memory: loads
// interleaved with their use left the H100 at ~0.5 TB/s (decisions.md#D13).
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

// FoldQ here: head j's queries at the invocation's channels c0..c0+7 with the tile's per-channel
// key scale folded in (q s), and in sums the bias q . zero per head.
// km0, km1: the 8 key metadata words (f16 scale, zero) of those channels.
fn kivi_fold_q(q: Codes8, s: Codes8) -> Codes8 { return Codes8(q.lo * s.lo, q.hi * s.hi); }

fn fold_query(tw: TileWords, o: TileOffsets, qv: u32) -> FoldQ {
  let km0 = tw.km0; let km1 = tw.km1;
  let a0 = unpack2x16float(km0.x); let a1 = unpack2x16float(km0.y);
  let a2 = unpack2x16float(km0.z); let a3 = unpack2x16float(km0.w);
  let b0 = unpack2x16float(km1.x); let b1 = unpack2x16float(km1.y);
  let b2 = unpack2x16float(km1.z); let b3 = unpack2x16float(km1.w);
  let s = Codes8(vec4<f32>(a0.x, a1.x, a2.x, a3.x), vec4<f32>(b0.x, b1.x, b2.x, b3.x));
  let z = Codes8(vec4<f32>(a0.y, a1.y, a2.y, a3.y), vec4<f32>(b0.y, b1.y, b2.y, b3.y));
  var fq = fold_heads_q(qv);
  fq.sums = vec4<f32>(fold_dot8(fq.q0, z), 0.0, 0.0, 0.0);
  fq.q0 = kivi_fold_q(fq.q0, s);
  if (FOLD_G > 1u) { fq.sums.y = fold_dot8(fq.q1, z); fq.q1 = kivi_fold_q(fq.q1, s); }
  if (FOLD_G > 2u) { fq.sums.z = fold_dot8(fq.q2, z); fq.q2 = kivi_fold_q(fq.q2, s); }
  if (FOLD_G > 3u) { fq.sums.w = fold_dot8(fq.q3, z); fq.q3 = kivi_fold_q(fq.q3, s); }
  return fq;
}

// One token's partial dot products (chunk of 8 channels) for every head, in the components.
fn fold_key_dots(fq: FoldQ, word: u32, sh: u32) -> vec4<f32> {
  return fold_heads_dot_from(fq.q0, fq.q1, fq.q2, fq.q3, fold_exact_codes(word, sh, K_BITS), fq.sums);
}

// tokens 4b..4b+3 of the invocation: column u = token 4b+u's partial dots (heads in the rows)
fn fold_key_batch(fq: FoldQ, tw: TileWords, o: TileOffsets, b: u32) -> mat4x4<f32> {
  let w = fold_pick4(tw.kw0, tw.kw1, tw.kw2, tw.kw3, b);
  return mat4x4<f32>(fold_key_dots(fq, w.x, o.k_sh), fold_key_dots(fq, w.y, o.k_sh),
    fold_key_dots(fq, w.z, o.k_sh), fold_key_dots(fq, w.w, o.k_sh));
}


// FoldAcc here: l, z = sum of p * zero, a0..a3 = sums of (p scale) code (heads in the components).

// token 4b+u of the invocation with its probabilities p: acc += (p scale) code, z += p zero
fn fold_value_token(st: ptr<function, FoldAcc>, tw: TileWords, o: TileOffsets, b: u32, u: u32, p: vec4<f32>) {
  let sz = unpack2x16float(fold_pick4(tw.vm0, tw.vm1, tw.vm2, tw.vm3, b)[u]);
  (*st).z = (*st).z + p * sz.y;
  fold_heads_add(st, p * sz.x, fold_exact_codes(fold_pick4(tw.vw0, tw.vw1, tw.vw2, tw.vw3, b)[u], o.v_sh, V_BITS));
}

fn fold_rescale(st: ptr<function, FoldAcc>, c: vec4<f32>) { fold_heads_rescale(st, c); }

// head j's values of channels c0..c0+7: acc + z
fn fold_output(st: FoldAcc, o: TileOffsets, j: u32) -> Codes8 {
  let a = fold_head_acc(st, j);
  let z = st.z[j];
  return Codes8(a.lo + z, a.hi + z);
}
