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


fn fold_query(tw: TileWords, o: TileOffsets, qv: u32) -> FoldQ { return fold_heads_q(qv); }


fn f16_key_token(fq: FoldQ, x: Codes8) -> vec4<f32> { return fold_heads_dot(fq.q0, fq.q1, fq.q2, fq.q3, x); }

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


// token 4b+u of the invocation with its probabilities p
fn fold_value_token(st: ptr<function, FoldAcc>, tw: TileWords, o: TileOffsets, b: u32, u: u32, p: vec4<f32>) {
  let w = tw.kbase + V_OFFSET + o.off + (4u * b + u) * o.step;
  let x = f16_chunk(pages[w], pages[w + 1u], pages[w + 2u], pages[w + 3u]);
  fold_heads_add(st, p, x);
}


fn fold_rescale(st: ptr<function, FoldAcc>, c: vec4<f32>) { fold_heads_rescale(st, c); }
fn fold_output(st: FoldAcc, o: TileOffsets, j: u32) -> Codes8 { return fold_head_acc(st, j); }
