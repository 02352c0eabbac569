// llama.cpp-style q8_0 / q4_0 (docs/FORMAT.md "q8_0", "q4_0") for the folded drivers (interface:
// attend/fold-common.wgsl). A tile of a stream: HEAD_DIM/2 words of f16 block scales (block j of
// 32 consecutive elements in word j/2, half j%2), then the codes: int8, 4 per word (K_BITS or
// V_BITS = 8), or nibbles, 8 per word, value code - 8 (bits 4). At HEAD_DIM 64/128 a block lies
// inside one token, so an invocation's 8 channels share one scale per token.
// - keys: q . (s c) = s (q . c); q4_0: s (q . code - 8 sum(q)), the sum once per tile;
// - values: acc += (p s) c; q4_0: acc += (p s) code and z += p s, minus 8 z at the end;
// - codes to floats exactly without a convert: nibbles by fold_exact_codes; bytes XOR 0x80 (the
//   unsigned code + 128) OR-ed into the mantissa of 2^23 (byte 0) or 2^15 (byte 1, after a shift
//   for bytes 2-3), minus that power of two and 128.

fn fold_codec_init(lid: u32) { }
fn fold_q_channel(kv_head: u32, p: u32) -> u32 { return p; }
fn fold_out_channel(kv_head: u32, p: u32) -> u32 { return p; }

// the 8 int8 codes of two words (codes 0-3, 4-7) as exact floats
fn q8_codes(w0: u32, w1: u32) -> Codes8 {
  let m = vec4<u32>(0xffu, 0xff00u, 0xffu, 0xff00u);
  let e = vec4<u32>(0x4B000000u, 0x47000000u, 0x4B000000u, 0x47000000u); // 2^23, 2^15
  let base = vec4<f32>(8388608.0 + 128.0, 32768.0 + 128.0, 8388608.0 + 128.0, 32768.0 + 128.0);
  let a = w0 ^ 0x80808080u;
  let b = w1 ^ 0x80808080u;
  return Codes8(bitcast<vec4<f32>>((vec4<u32>(a, a, a >> 16u, a >> 16u) & m) | e) - base,
    bitcast<vec4<f32>>((vec4<u32>(b, b, b >> 16u, b >> 16u) & m) | e) - base);
}

// Invocation (tg, k): tokens tg + TG i; first token's code word and scale word (relative to its
// tile), the steps between its tokens, which half of the scale word is its block's.
struct TileOffsets {
  k_code: u32, v_code: u32, k_step: u32, v_step: u32,
  scale: u32, s_step: u32, s_half: u32,
}

fn fold_offsets(tg: u32, k: u32, kv_head: u32) -> TileOffsets {
  let TG = 32u / FOLD_LPT;
  let k_tok = HEAD_DIM * K_BITS / 32u;
  let v_tok = HEAD_DIM * V_BITS / 32u;
  let s_tok = HEAD_DIM / 64u; // scale words per token (HEAD_DIM / 32 blocks, 2 per word)
  let blk = k / 4u;           // the chunk's block within its token
  return TileOffsets(HEAD_DIM / 2u + tg * k_tok + k * K_BITS / 4u, V_OFFSET + HEAD_DIM / 2u + tg * v_tok + k * V_BITS / 4u,
    TG * k_tok, TG * v_tok, tg * s_tok + blk / 2u, TG * s_tok, blk % 2u);
}

// Every word one invocation reads for one tile, per batch b of 4 of its tokens: key code words
// (q8_0: two), key scale words, the same for values. Loaded before any use.
struct TileWords {
  kw0: vec4<u32>, kw1: vec4<u32>, kw2: vec4<u32>, kw3: vec4<u32>,
  kx0: vec4<u32>, kx1: vec4<u32>, kx2: vec4<u32>, kx3: vec4<u32>,
  ks0: vec4<u32>, ks1: vec4<u32>, ks2: vec4<u32>, ks3: vec4<u32>,
  vw0: vec4<u32>, vw1: vec4<u32>, vw2: vec4<u32>, vw3: vec4<u32>,
  vx0: vec4<u32>, vx1: vec4<u32>, vx2: vec4<u32>, vx3: vec4<u32>,
  vs0: vec4<u32>, vs1: vec4<u32>, vs2: vec4<u32>, vs3: vec4<u32>,
}

fn fold_tile_zero() -> TileWords {
  let z = vec4<u32>(0u);
  return TileWords(z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z);
}

struct TileBatch { kw: vec4<u32>, kx: vec4<u32>, ks: vec4<u32>, vw: vec4<u32>, vx: vec4<u32>, vs: vec4<u32> }

fn q_load_batch(kbase: u32, o: TileOffsets, b: u32) -> TileBatch {
  let z = vec4<u32>(0u);
  var r = TileBatch(fold_load4(kbase + o.k_code + 4u * b * o.k_step, o.k_step), z,
    fold_load4(kbase + o.scale + 4u * b * o.s_step, o.s_step),
    fold_load4(kbase + o.v_code + 4u * b * o.v_step, o.v_step), z,
    fold_load4(kbase + V_OFFSET + o.scale + 4u * b * o.s_step, o.s_step));
  if (K_BITS == 8u) { r.kx = fold_load4(kbase + o.k_code + 4u * b * o.k_step + 1u, o.k_step); }
  if (V_BITS == 8u) { r.vx = fold_load4(kbase + o.v_code + 4u * b * o.v_step + 1u, o.v_step); }
  return r;
}

fn fold_load_tile(kbase: u32, o: TileOffsets) -> TileWords {
  var t = fold_tile_zero();
  let b0 = q_load_batch(kbase, o, 0u);
  t.kw0 = b0.kw; t.kx0 = b0.kx; t.ks0 = b0.ks; t.vw0 = b0.vw; t.vx0 = b0.vx; t.vs0 = b0.vs;
  let b1 = q_load_batch(kbase, o, 1u);
  t.kw1 = b1.kw; t.kx1 = b1.kx; t.ks1 = b1.ks; t.vw1 = b1.vw; t.vx1 = b1.vx; t.vs1 = b1.vs;
  if (FOLD_LPT > 8u) {
    let b2 = q_load_batch(kbase, o, 2u);
    t.kw2 = b2.kw; t.kx2 = b2.kx; t.ks2 = b2.ks; t.vw2 = b2.vw; t.vx2 = b2.vx; t.vs2 = b2.vs;
    let b3 = q_load_batch(kbase, o, 3u);
    t.kw3 = b3.kw; t.kx3 = b3.kx; t.ks3 = b3.ks; t.vw3 = b3.vw; t.vx3 = b3.vx; t.vs3 = b3.vs;
  }
  return t;
}

// a token's codes of one stream (bits 8: words w, x; bits 4: nibbles of w) as exact floats
fn q_codes(w: u32, x: u32, bits: u32) -> Codes8 {
  if (bits == 8u) { return q8_codes(w, x); }
  return fold_exact_codes(w, 0u, 4u);
}

// the block scale of a token from its scale word
fn q_scale(word: u32, half: u32) -> f32 { return unpack2x16float(word)[half]; }

// FoldQ here: the workgroup's queries at the invocation's channels; sums = 8 sum(q) (q4_0 keys' -8)


fn fold_query(tw: TileWords, o: TileOffsets, qv: u32) -> FoldQ {
  var fq = fold_heads_q(qv);
  if (K_BITS == 4u) { fq.sums = vec4<f32>(fold_sum8(fq.q0), fold_sum8(fq.q1), fold_sum8(fq.q2), fold_sum8(fq.q3)) * 8.0; }
  return fq;
}

fn q_key_token(fq: FoldQ, o: TileOffsets, w: u32, x: u32, sw: u32) -> vec4<f32> {
  let c = q_codes(w, x, K_BITS);
  let s = q_scale(sw, o.s_half);
  return s * fold_heads_dot_from(fq.q0, fq.q1, fq.q2, fq.q3, c, -fq.sums);
}

// tokens 4b..4b+3 of the invocation: column u = token 4b+u's partial dots (heads in the rows)
fn fold_key_batch(fq: FoldQ, tw: TileWords, o: TileOffsets, b: u32) -> mat4x4<f32> {
  let w = fold_pick4(tw.kw0, tw.kw1, tw.kw2, tw.kw3, b);
  let x = fold_pick4(tw.kx0, tw.kx1, tw.kx2, tw.kx3, b);
  let s = fold_pick4(tw.ks0, tw.ks1, tw.ks2, tw.ks3, b);
  return mat4x4<f32>(q_key_token(fq, o, w.x, x.x, s.x), q_key_token(fq, o, w.y, x.y, s.y),
    q_key_token(fq, o, w.z, x.z, s.z), q_key_token(fq, o, w.w, x.w, s.w));
}

// FoldAcc here: a0..a3 = per-head sums of (p s) code; z = per-head sums of p s (q4_0's -8)


// token 4b+u of the invocation with its probabilities p
fn fold_value_token(st: ptr<function, FoldAcc>, tw: TileWords, o: TileOffsets, b: u32, u: u32, p: vec4<f32>) {
  let w = fold_pick4(tw.vw0, tw.vw1, tw.vw2, tw.vw3, b)[u];
  let x = fold_pick4(tw.vx0, tw.vx1, tw.vx2, tw.vx3, b)[u];
  let ps = p * q_scale(fold_pick4(tw.vs0, tw.vs1, tw.vs2, tw.vs3, b)[u], o.s_half);
  let c = q_codes(w, x, V_BITS);
  if (V_BITS == 4u) { (*st).z = (*st).z + ps; }
  fold_heads_add(st, ps, c);
}


fn fold_rescale(st: ptr<function, FoldAcc>, c: vec4<f32>) { fold_heads_rescale(st, c); }

// head j's values of the invocation's 8 channels
fn fold_output(st: FoldAcc, o: TileOffsets, j: u32) -> Codes8 {
  let a = fold_head_acc(st, j);
  let z = vec4<f32>(8.0 * st.z[j]); // 0 for q8_0 values
  return Codes8(a.lo - z, a.hi - z);
}
