// Shared by the folded attention drivers (wgsl/attend/fold.wgsl: workgroup memory,
// wgsl/attend/fold-sg.wgsl: subgroups) for every codec with a fold file (attend/fold-kivi.wgsl,
// attend/fold-skvq.wgsl): pipeline constants and bindings (those of tiles.wgsl), the work item,
// the lane layout, the queries and the code-to-float trick. The glue (shaders.ts) defines FOLD_G
// (heads per workgroup, 1..4), FOLD_LPT (= HEAD_DIM / 8, invocations per token), FOLD_W (rows
// of 32 invocations) and FOLD_PREFETCH (fold-sg.wgsl: load the next tile before computing the
// current one).
//
// A codec's fold file defines what the drivers call (the interface, in driver order):
//   fold_codec_init(lid)                      workgroup tables, before the queries' barrier
//   fold_q_channel(kv_head, p) -> u32         model channel of the query at chunk position p
//   struct TileOffsets, fold_offsets(tg, k, kv_head)
//   struct TileWords, fold_load_tile(kbase, o) every word of the invocation's share of a tile
//   struct FoldQ, fold_query(tw, o, qv)       the queries with the tile's key metadata folded in
//   fold_key_batch(fq, tw, o, b) -> mat4x4    partial dots of tokens 4b..4b+3 (columns; heads in rows)
//   struct FoldAcc (field l), fold_acc_zero(), fold_rescale(&st, c)
//   fold_value_token(&st, tw, o, b, u, p)     value of token 4b+u with its probabilities p
//   fold_output(st, o, j) -> Codes8           head j's values of the invocation's 8 positions
//   fold_out_channel(kv_head, p) -> u32       model channel of output position p
// b and u are literals at every call, so the drivers' per-token selects fold away.
//
// Codes become floats without a convert: (bits & mask) | 0x4B000000 is the f32 2^23 + code
// * 2^k exactly (k = the code's bit position in its 16-bit half), minus 2^23 gives code * 2^k;
// the 2^-k is folded into q (keys) or applied once at the end (values).

// 2^23 as f32 bits and value: OR-ing a code of up to 23 bits into the mantissa makes 2^23 + code
const MAGIC_BITS: u32 = 0x4B000000u;
const MAGIC: f32 = 8388608.0;
const NEG_INF: f32 = -3.0e38;

override HEAD_DIM: u32;
override N_HEADS: u32;
override GROUP: u32;
// unused here; declared so the pipeline constants of tiles.wgsl apply unchanged
override LANES: u32 = 4u;
override HEAD_STRIDE: u32;
override V_OFFSET: u32;
override K_BITS: u32 = 0u;
override V_BITS: u32 = 0u;
override K_PARAMS: u32 = 0u;
override V_PARAMS: u32 = 0u;

@group(0) @binding(0) var<storage, read> pages: array<u32>;
@group(0) @binding(1) var<storage, read> job: array<u32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

// queries (scaled by 1/sqrt(HEAD_DIM)) of the workgroup's heads
var<workgroup> q_sh: array<vec4<f32>, FOLD_G * FOLD_LPT * 2u>;
struct Codes8 {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

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


// 4 words at w0 + u * step, u = 0..3: one invocation's words of 4 of its tokens
fn fold_load4(w0: u32, step: u32) -> vec4<u32> {
  return vec4<u32>(pages[w0], pages[w0 + step], pages[w0 + 2u * step], pages[w0 + 3u * step]);
}

const FOLD_WG: u32 = 32u * FOLD_W;

// One work item of the dispatch (the job format of tiles.wgsl): its tiles, partial slot, KV head
// and block of query heads (heads >= ng of the block repeat head ng - 1 and write nothing).
struct FoldItem {
  seq: u32,
  first_tile: u32,
  n_tiles: u32,
  slot: u32,
  kv_head: u32,
  ng: u32,
  h0: u32,
  entries: u32,
}

fn fold_item(wg: vec3<u32>) -> FoldItem {
  let item = 4u + 4u * wg.x;
  let g0 = wg.z * FOLD_G;
  return FoldItem(job[item], job[item + 1u], job[item + 2u], job[item + 3u], wg.y,
    min(FOLD_G, GROUP - g0), wg.y * GROUP + g0, job[1u]);
}

// The block's queries, scaled by 1/sqrt(HEAD_DIM), in the codec's chunk order (fold_q_channel),
// into q_sh (the caller then has a barrier).
fn fold_load_queries(it: FoldItem, lid: u32) {
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
