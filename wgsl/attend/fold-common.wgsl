// Shared by the folded attention drivers (wgsl/attend/fold.wgsl: workgroup memory,
// wgsl/attend/fold-subgroup.wgsl: subgroups) for every codec with a fold file (kivi/fold.wgsl,
// skvq/fold.wgsl, q-block/fold.wgsl): the work item, the lane layout, the queries, exact
// code-to-float conversion and the value state. The glue (shaders.ts) defines FOLD_G
// (heads per workgroup, 1..4), FOLD_LPT (= HEAD_DIM / 8, invocations per token), FOLD_W (rows
// of 32 invocations), FOLD_PREFETCH (fold-subgroup.wgsl: load the next tile before computing the
// current one) and FOLD_EXP_REGISTERS (fold_exact_codes below).
//
// A codec's fold file defines what the drivers call (the interface, in driver order):
//   fold_codec_init(lid)                      workgroup tables, before the queries' barrier
//   fold_q_channel(kv_head, p) -> u32         model channel of the query at chunk position p
//   struct TileOffsets, fold_offsets(tg, k, kv_head)
//   struct TileWords, fold_load_tile(kbase, o) every word of the invocation's share of a tile
//   fold_query(tw, o, qv) -> FoldQ            the queries with the tile's key metadata folded in
//   fold_key_batch(fq, tw, o, b) -> mat4x4    partial dots of tokens 4b..4b+3 (columns; heads in rows)
//   fold_rescale(&st, c)                      after the running max moved (FoldAcc: below)
//   fold_value_token(&st, tw, o, b, u, p)     value of token 4b+u with its probabilities p
//   fold_output(st, o, j) -> Codes8           head j's values of the invocation's 8 positions
//   fold_out_channel(kv_head, p) -> u32       model channel of output position p
// b and u are literals at every call, so the drivers' per-token selects fold away.

const NEG_INF: f32 = -3.0e38;

// pipeline constants, bindings and the work item: attend/bindings.wgsl (composed before this file)

// queries (scaled by 1/sqrt(HEAD_DIM)) of the workgroup's heads
var<workgroup> q_sh: array<vec4<f32>, FOLD_G * FOLD_LPT * 2u>;

// 8 floats of one invocation's chunk (positions 8k..8k+3 in lo, 8k+4..8k+7 in hi)
struct Codes8 {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

// The 8 codes of a chunk, exactly: code i at bit P of its source word, OR-ed into the mantissa
// of 2^(23 - P), minus that power of two. b = 2: the chunk is the 16-bit field at `sh` (code i at
// bit 2i); b = 4: the whole word, codes 0-3 in the low half, 4-7 in the high half.
fn fold_exact_codes(word: u32, sh: u32, bits: u32) -> Codes8 {
  let two = bits == 2u;
  let lo_src = vec4<u32>(select(word, word >> sh, two));
  let hi_src = vec4<u32>(select(word >> 16u, word >> sh, two));
  let m2 = vec4<u32>(3u, 12u, 48u, 192u);
  let m4 = vec4<u32>(15u, 240u, 3840u, 61440u);
  let lo_mask = select(m4, m2, two);
  let hi_mask = select(m4, m2 << vec4<u32>(8u), two);
  // exponent fields 127 + 23 - P, in float position
  var lo_e = select(fold_e4, fold_e2_lo, two);
  var hi_e = select(fold_e4, fold_e2_hi, two);
  if (!FOLD_EXP_REGISTERS) {
    lo_e = select(FOLD_E4, FOLD_E2_LO, two);
    hi_e = select(FOLD_E4, FOLD_E2_HI, two);
  }
  return Codes8(bitcast<vec4<f32>>((lo_src & lo_mask) | lo_e) - bitcast<vec4<f32>>(lo_e),
    bitcast<vec4<f32>>((hi_src & hi_mask) | hi_e) - bitcast<vec4<f32>>(hi_e));
}

// fold_exact_codes' exponent fields (127 + 23 - P) << 23 per code position
const FOLD_E2_LO = vec4<u32>(150u, 148u, 146u, 144u) << vec4<u32>(23u);
const FOLD_E2_HI = vec4<u32>(142u, 140u, 138u, 136u) << vec4<u32>(23u);
const FOLD_E4 = vec4<u32>(150u, 146u, 142u, 138u) << vec4<u32>(23u);
// The same held in registers: with them as compile-time constants the H100's compiler spent two
// LOP3 per code (AND and OR, each with its constant as the one immediate LOP3 takes); from values
// it cannot fold, one LOP3 with the mask immediate and the exponent register (SASS read from the
// driver's shader cache, decisions.md#D17). FOLD_EXP_REGISTERS (glue, per codec and heads
// per workgroup, where measured faster) picks these; the bench's -xFOLD_EXP_REGISTERS flips it.
var<private> fold_e2_lo: vec4<u32>;
var<private> fold_e2_hi: vec4<u32>;
var<private> fold_e4: vec4<u32>;

fn fold_init_exponents(wg: vec3<u32>, lid: u32) {
  // 0 in every invocation (wg.x + lid never reaches 2^32 - 1), which the compiler cannot know.
  // Per invocation on purpose: from the workgroup id alone the values went to uniform registers,
  // which LOP3 cannot read (a MOV before each use: kivi2 MHA 0.274 ms instead of 0.251); from lid
  // alone the compiler proved the zero and folded the constants back in
  let opaque = vec4<u32>(select(0u, 1u, wg.x + lid == 0xffffffffu));
  fold_e2_lo = FOLD_E2_LO | opaque;
  fold_e2_hi = FOLD_E2_HI | opaque;
  fold_e4 = FOLD_E4 | opaque;
}

// 4 words at w0 + u * step, u = 0..3: one invocation's words of 4 of its tokens
fn fold_load4(w0: u32, step: u32) -> vec4<u32> {
  return vec4<u32>(pages[w0], pages[w0 + step], pages[w0 + 2u * step], pages[w0 + 3u * step]);
}

const FOLD_WG: u32 = 32u * FOLD_W;

// The block's queries, scaled by 1/sqrt(HEAD_DIM), in the codec's chunk order (fold_q_channel),
// into q_sh (the caller then has a barrier).
fn fold_load_queries(it: WorkItem, lid: u32) {
  let d4 = HEAD_DIM / 4u;
  let scale = inverseSqrt(f32(HEAD_DIM));
  let q_off = job[2u] + (it.seq * N_HEADS + it.h0) * HEAD_DIM;
  for (var i = lid; i < FOLD_G * d4; i = i + FOLD_WG) {
    let j = min(i / d4, it.ng - 1u);
    let w = q_off + j * HEAD_DIM;
    let p = 4u * (i % d4);
    q_sh[i] = bitcast<vec4<f32>>(vec4<u32>(job[w + fold_q_channel(it.kv_head, p)], job[w + fold_q_channel(it.kv_head, p + 1u)],
      job[w + fold_q_channel(it.kv_head, p + 2u)], job[w + fold_q_channel(it.kv_head, p + 3u)])) * scale;
  }
}

// The start of both drivers' entry point: the work item, the codec's tables and the queries in
// workgroup memory, then the barrier before anyone reads them (called from uniform control flow).
fn fold_begin(wg: vec3<u32>, lid: u32) -> WorkItem {
  let it = work_item(wg, FOLD_G);
  fold_init_exponents(wg, lid);
  fold_codec_init(lid);
  fold_load_queries(it, lid);
  workgroupBarrier();
  return it;
}

// Where invocation lid sits: row of 32 (one tile at a time), token group tg (tokens tg + TG i),
// chunk k (positions 8k..8k+7, vec4 index qv of its queries).
struct FoldLane {
  row: u32,
  lane: u32,
  tg: u32,
  k: u32,
  qv: u32,
}

fn fold_lane(lid: u32) -> FoldLane {
  let lane = lid % 32u;
  let k = lane % FOLD_LPT;
  return FoldLane(lid / 32u, lane, lane / FOLD_LPT, k, 2u * k);
}

// one of four vectors by a literal index (the drivers' token batches)
fn fold_pick4(a: vec4<u32>, b: vec4<u32>, c: vec4<u32>, d: vec4<u32>, i: u32) -> vec4<u32> {
  return select(select(a, b, i == 1u), select(c, d, i == 3u), i >= 2u);
}

// One invocation's value state: l = softmax sums (heads in the components); what z and a0..a3 hold
// is the codec's (its fold file says), the drivers only create it, pass it and read l.
struct FoldAcc {
  l: vec4<f32>,
  z: vec4<f32>,
  a0: Codes8,
  a1: Codes8,
  a2: Codes8,
  a3: Codes8,
}

fn fold_acc_zero() -> FoldAcc {
  let zero8 = Codes8(vec4<f32>(0.0), vec4<f32>(0.0));
  return FoldAcc(vec4<f32>(0.0), vec4<f32>(0.0), zero8, zero8, zero8, zero8);
}

// Codes8 arithmetic the fold files share
fn fold_sum8(a: Codes8) -> f32 { return dot(a.lo + a.hi, vec4<f32>(1.0)); }
fn fold_dot8(a: Codes8, b: Codes8) -> f32 {
  if (FOLD_DOT_CHAIN) { return fold_dot8_from(a, b, a.lo.x * b.lo.x, false); }
  return dot(a.lo, b.lo) + dot(a.hi, b.hi);
}

// FOLD_DOT_CHAIN: dot products of 8 as one multiply-add chain (started from a value the caller
// adds anyway, e.g. KIVI's q . zero) instead of two vec4 dots and two adds. With one head per
// workgroup only: measured 1-1.4% faster there, and up to 2.5% slower with 4 heads
// (decisions.md#D150, #D152); the bench's -xFOLD_DOT_CHAIN=true/false forces either.
const FOLD_DOT_CHAIN: bool = FOLD_G == 1u;

// init + a . b; with `first` the chain starts at a.lo.x * b.lo.x + init, else `init` already holds it
fn fold_dot8_from(a: Codes8, b: Codes8, init: f32, first: bool) -> f32 {
  var d = init;
  if (first) { d = fma(a.lo.x, b.lo.x, d); }
  d = fma(a.lo.y, b.lo.y, d); d = fma(a.lo.z, b.lo.z, d); d = fma(a.lo.w, b.lo.w, d);
  d = fma(a.hi.x, b.hi.x, d); d = fma(a.hi.y, b.hi.y, d); d = fma(a.hi.z, b.hi.z, d); d = fma(a.hi.w, b.hi.w, d);
  return d;
}
fn fold_axpy8(a: Codes8, w: f32, x: Codes8) -> Codes8 { return Codes8(a.lo + w * x.lo, a.hi + w * x.hi); }
fn fold_scale8(a: Codes8, c: f32) -> Codes8 { return Codes8(a.lo * c, a.hi * c); }

// The queries of the workgroup's heads (or one head's, split per SKVQ slot) at the invocation's
// positions as the codec uses them, and per-head sums the codec folds in (KIVI: q . zero of the
// tile; q4_0: 8 sum(q); SKVQ one head: the slots' query sums; fp16: unused).
struct FoldQ {
  q0: Codes8,
  q1: Codes8,
  q2: Codes8,
  q3: Codes8,
  sums: vec4<f32>,
}

// head j's queries at the invocation's positions (vec4 index qv of q_sh)
fn fold_head_q(qv: u32, j: u32) -> Codes8 { return Codes8(q_sh[j * (HEAD_DIM / 4u) + qv], q_sh[j * (HEAD_DIM / 4u) + qv + 1u]); }

// the workgroup's heads' queries as they are (sums 0)
fn fold_heads_q(qv: u32) -> FoldQ {
  let zero8 = Codes8(vec4<f32>(0.0), vec4<f32>(0.0));
  var fq = FoldQ(fold_head_q(qv, 0u), zero8, zero8, zero8, vec4<f32>(0.0));
  if (FOLD_G > 1u) { fq.q1 = fold_head_q(qv, 1u); }
  if (FOLD_G > 2u) { fq.q2 = fold_head_q(qv, 2u); }
  if (FOLD_G > 3u) { fq.q3 = fold_head_q(qv, 3u); }
  return fq;
}

// The per-head form of the value state (a0..a3 = head 0..3's sums of p x): add one token's
// values x with the heads' probabilities p, rescale by c, read head j.
fn fold_heads_add(st: ptr<function, FoldAcc>, p: vec4<f32>, x: Codes8) {
  (*st).a0 = fold_axpy8((*st).a0, p.x, x);
  if (FOLD_G > 1u) { (*st).a1 = fold_axpy8((*st).a1, p.y, x); }
  if (FOLD_G > 2u) { (*st).a2 = fold_axpy8((*st).a2, p.z, x); }
  if (FOLD_G > 3u) { (*st).a3 = fold_axpy8((*st).a3, p.w, x); }
}

fn fold_heads_rescale(st: ptr<function, FoldAcc>, c: vec4<f32>) {
  (*st).l = (*st).l * c;
  (*st).z = (*st).z * c;
  (*st).a0 = fold_scale8((*st).a0, c.x);
  if (FOLD_G > 1u) { (*st).a1 = fold_scale8((*st).a1, c.y); }
  if (FOLD_G > 2u) { (*st).a2 = fold_scale8((*st).a2, c.z); }
  if (FOLD_G > 3u) { (*st).a3 = fold_scale8((*st).a3, c.w); }
}

fn fold_head_acc(st: FoldAcc, j: u32) -> Codes8 {
  var a = st.a0;
  if (j == 1u) { a = st.a1; } else if (j == 2u) { a = st.a2; } else if (j == 3u) { a = st.a3; }
  return a;
}

// init + the heads' partial dots (components of unused heads: init's)
fn fold_heads_dot_from(q0: Codes8, q1: Codes8, q2: Codes8, q3: Codes8, x: Codes8, init: vec4<f32>) -> vec4<f32> {
  if (!FOLD_DOT_CHAIN) { return fold_heads_dot(q0, q1, q2, q3, x) + init; }
  var d = init;
  d.x = fold_dot8_from(q0, x, init.x, true);
  if (FOLD_G > 1u) { d.y = fold_dot8_from(q1, x, init.y, true); }
  if (FOLD_G > 2u) { d.z = fold_dot8_from(q2, x, init.z, true); }
  if (FOLD_G > 3u) { d.w = fold_dot8_from(q3, x, init.w, true); }
  return d;
}

// the heads' partial dots of one token's decoded values x (queries q0..q3 = heads 0..3)
fn fold_heads_dot(q0: Codes8, q1: Codes8, q2: Codes8, q3: Codes8, x: Codes8) -> vec4<f32> {
  var d = vec4<f32>(0.0);
  d.x = fold_dot8(q0, x);
  if (FOLD_G > 1u) { d.y = fold_dot8(q1, x); }
  if (FOLD_G > 2u) { d.z = fold_dot8(q2, x); }
  if (FOLD_G > 3u) { d.w = fold_dot8(q3, x); }
  return d;
}
