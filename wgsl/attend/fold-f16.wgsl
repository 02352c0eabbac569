// fp16 (docs/FORMAT.md "fp16": word i = f16 pair of elements 2i, 2i+1) for the folded drivers
// (interface: attend/fold-common.wgsl): the plain dot products and weighted sums, with the
// drivers' tile loop (no barrier, subgroup sums) instead of tiles.wgsl's. An invocation's 8
// channels of a token are 4 words: its key words are loaded with the tile (64 registers at
// HEAD_DIM 128); the value words when the token's value is added (in one block after the
// softmax, so the compiler may issue them together).

fn fold_codec_init(lid: u32) { }
fn fold_q_channel(kv_head: u32, p: u32) -> u32 { return p; }
fn fold_out_channel(kv_head: u32, p: u32) -> u32 { return p; }

// first token's first word of the invocation's chunk (keys; values V_OFFSET behind), token step
struct TileOffsets {
  off: u32,
  step: u32,
}

fn fold_offsets(tg: u32, k: u32, kv_head: u32) -> TileOffsets {
  let TG = 32u / FOLD_LPT;
  return TileOffsets(tg * (HEAD_DIM / 2u) + 4u * k, TG * (HEAD_DIM / 2u));
}

// key words of batch b (4 tokens), word i of the chunk in k<b><i>; the tile pair's first word
struct TileWords {
  k00: vec4<u32>, k01: vec4<u32>, k02: vec4<u32>, k03: vec4<u32>,
  k10: vec4<u32>, k11: vec4<u32>, k12: vec4<u32>, k13: vec4<u32>,
  k20: vec4<u32>, k21: vec4<u32>, k22: vec4<u32>, k23: vec4<u32>,
  k30: vec4<u32>, k31: vec4<u32>, k32: vec4<u32>, k33: vec4<u32>,
  kbase: u32,
}

fn fold_tile_zero() -> TileWords {
  let z = vec4<u32>(0u);
  return TileWords(z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, 0u);
}

fn fold_load_tile(kbase: u32, o: TileOffsets) -> TileWords {
  var t = fold_tile_zero();
  t.kbase = kbase;
  let w0 = kbase + o.off;
  let s4 = 4u * o.step;
  t.k00 = fold_load4(w0, o.step); t.k01 = fold_load4(w0 + 1u, o.step);
  t.k02 = fold_load4(w0 + 2u, o.step); t.k03 = fold_load4(w0 + 3u, o.step);
  t.k10 = fold_load4(w0 + s4, o.step); t.k11 = fold_load4(w0 + s4 + 1u, o.step);
  t.k12 = fold_load4(w0 + s4 + 2u, o.step); t.k13 = fold_load4(w0 + s4 + 3u, o.step);
  if (FOLD_LPT > 8u) {
    t.k20 = fold_load4(w0 + 2u * s4, o.step); t.k21 = fold_load4(w0 + 2u * s4 + 1u, o.step);
    t.k22 = fold_load4(w0 + 2u * s4 + 2u, o.step); t.k23 = fold_load4(w0 + 2u * s4 + 3u, o.step);
    t.k30 = fold_load4(w0 + 3u * s4, o.step); t.k31 = fold_load4(w0 + 3u * s4 + 1u, o.step);
    t.k32 = fold_load4(w0 + 3u * s4 + 2u, o.step); t.k33 = fold_load4(w0 + 3u * s4 + 3u, o.step);
  }
  return t;
}

// the 8 values of 4 words of f16 pairs
fn f16_chunk(a: u32, b: u32, c: u32, d: u32) -> Codes8 {
  return Codes8(vec4<f32>(unpack2x16float(a), unpack2x16float(b)), vec4<f32>(unpack2x16float(c), unpack2x16float(d)));
}

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

fn f16_dot8(a: Codes8, b: Codes8) -> f32 { return dot(a.lo, b.lo) + dot(a.hi, b.hi); }

fn f16_key_token(fq: FoldQ, x: Codes8) -> vec4<f32> {
  var d = vec4<f32>(0.0);
  d.x = f16_dot8(fq.q0, x);
  if (FOLD_G > 1u) { d.y = f16_dot8(fq.q1, x); }
  if (FOLD_G > 2u) { d.z = f16_dot8(fq.q2, x); }
  if (FOLD_G > 3u) { d.w = f16_dot8(fq.q3, x); }
  return d;
}

// tokens 4b..4b+3 of the invocation: column u = token 4b+u's partial dots (heads in the rows)
fn fold_key_batch(fq: FoldQ, tw: TileWords, o: TileOffsets, b: u32) -> mat4x4<f32> {
  let w0 = fold_pick4(tw.k00, tw.k10, tw.k20, tw.k30, b);
  let w1 = fold_pick4(tw.k01, tw.k11, tw.k21, tw.k31, b);
  let w2 = fold_pick4(tw.k02, tw.k12, tw.k22, tw.k32, b);
  let w3 = fold_pick4(tw.k03, tw.k13, tw.k23, tw.k33, b);
  return mat4x4<f32>(f16_key_token(fq, f16_chunk(w0.x, w1.x, w2.x, w3.x)), f16_key_token(fq, f16_chunk(w0.y, w1.y, w2.y, w3.y)),
    f16_key_token(fq, f16_chunk(w0.z, w1.z, w2.z, w3.z)), f16_key_token(fq, f16_chunk(w0.w, w1.w, w2.w, w3.w)));
}

// FoldAcc here: a0..a3 = per-head sums of p x; z unused

fn f16_axpy8(a: Codes8, w: f32, c: Codes8) -> Codes8 { return Codes8(a.lo + w * c.lo, a.hi + w * c.hi); }

// token 4b+u of the invocation with its probabilities p
fn fold_value_token(st: ptr<function, FoldAcc>, tw: TileWords, o: TileOffsets, b: u32, u: u32, p: vec4<f32>) {
  let w = tw.kbase + V_OFFSET + o.off + (4u * b + u) * o.step;
  let x = f16_chunk(pages[w], pages[w + 1u], pages[w + 2u], pages[w + 3u]);
  (*st).a0 = f16_axpy8((*st).a0, p.x, x);
  if (FOLD_G > 1u) { (*st).a1 = f16_axpy8((*st).a1, p.y, x); }
  if (FOLD_G > 2u) { (*st).a2 = f16_axpy8((*st).a2, p.z, x); }
  if (FOLD_G > 3u) { (*st).a3 = f16_axpy8((*st).a3, p.w, x); }
}

fn f16_scale8(a: Codes8, c: f32) -> Codes8 { return Codes8(a.lo * c, a.hi * c); }

// rescale the value state by c (heads in the components) after the running max moved
fn fold_rescale(st: ptr<function, FoldAcc>, c: vec4<f32>) {
  (*st).l = (*st).l * c;
  (*st).a0 = f16_scale8((*st).a0, c.x);
  if (FOLD_G > 1u) { (*st).a1 = f16_scale8((*st).a1, c.y); }
  if (FOLD_G > 2u) { (*st).a2 = f16_scale8((*st).a2, c.z); }
  if (FOLD_G > 3u) { (*st).a3 = f16_scale8((*st).a3, c.w); }
}

// head j's values of the invocation's 8 channels
fn fold_output(st: FoldAcc, o: TileOffsets, j: u32) -> Codes8 {
  var a = st.a0;
  if (j == 1u) { a = st.a1; } else if (j == 2u) { a = st.a2; } else if (j == 3u) { a = st.a3; }
  return a;
}
