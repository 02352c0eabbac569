// KIVI-2/4 decode attention with its own tile loop (issue 6): no workgroup barrier per tile.
// Same bindings, dispatch (work item, KV head, block of up to MAX_G query heads) and partial
// (m, l, acc) layout as wgsl/attend/tiles.wgsl, so attend/merge.wgsl and the job/partials
// buffers are shared. Opt-in (backend option kiviTileLoop; shaders.ts attendTilesSource) for
// KIVI keys and values of the same 2 or 4 bits at HEAD_DIM 64 or 128.
//
// Outcome on the H100 (bench/README.md "Dedicated KIVI tile loop"): 1.4-4.1x SLOWER than
// tiles.wgsl with the word-load hooks (kivi2 GQA 128K 1.745 vs 0.522 ms), hence not the default.
// Not profiled; likely causes: every lane repeats the per-token metadata and q loads (32 + 32
// vec4s per token and head, shared by a tile's 32 tokens in tiles.wgsl), each head decodes the
// codes again (GROUP x), and a lane's tokens form one serial dependent chain across tiles.
//
// Why: tiles.wgsl spends three barriers, a workgroup-memory softmax and their dependent
// latency on every 32-token tile; on the H100 kivi2, kivi4 and fp16 all took ~0.52 ms at 128K
// (bench/README.md), so the tile loop, not the bytes, was the limit. Here invocation
// (head j, lane t) owns token t of every tile for query head j: it computes the whole score
// (all HEAD_DIM channels, whole code words via kivi-words.wgsl), keeps its own online-softmax
// state (m, l, acc[HEAD_DIM]) in registers across all tiles of the work item, and the 32 lane
// states of a head are merged once at the end through workgroup memory. The cost: each head's
// lanes decode the key and value codes again (GROUP times per token instead of once).
//
// Composed with (shaders.ts): constants.wgsl, common/f16.wgsl, this file, kivi-words.wgsl.

struct Chunk8 {
  a: vec4<f32>,
  b: vec4<f32>,
}

const MAX_G: u32 = 8u;
// acc vec4s per invocation: HEAD_DIM <= 128 on this path
const FAST_DIM4: u32 = 32u;

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
// heads computed per workgroup; the workgroup has 32 invocations per head
override FAST_G: u32 = min(MAX_G, GROUP);

// the pages as vec4s: KIVI tile offsets are multiples of 8 words (kivi-words.wgsl)
@group(0) @binding(0) var<storage, read> pages: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> job: array<u32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

var<workgroup> q_sh: array<vec4<f32>, MAX_G * FAST_DIM4>;
// end-of-item merge: per (head, lane) m, l and one vec4 of acc at a time
var<workgroup> m_sh: array<f32, MAX_G * TILE_TOKENS>;
var<workgroup> l_sh: array<f32, MAX_G * TILE_TOKENS>;
var<workgroup> acc_sh: array<vec4<f32>, MAX_G * TILE_TOKENS>;

const NEG_INF: f32 = -3.0e38;

@compute @workgroup_size(32u * FAST_G)
fn attend_tiles(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let WG = 32u * FAST_G;
  let item = 4u + 4u * wg.x;
  let seq = job[item];
  let first_tile = job[item + 1u];
  let n_tiles = job[item + 2u];
  let slot = job[item + 3u];
  let kv_head = wg.y;
  let g0 = wg.z * MAX_G;
  let ng = min(MAX_G, GROUP - g0);
  let h0 = kv_head * GROUP + g0;
  let d4 = HEAD_DIM / 4u;
  let chunks = HEAD_DIM / 8u;
  let scale = inverseSqrt(f32(HEAD_DIM));

  let q_off = job[2u] + (seq * N_HEADS + h0) * HEAD_DIM;
  for (var i = lid; i < FAST_G * d4; i = i + WG) {
    let j = min(i / d4, ng - 1u); // heads >= ng repeat head ng - 1 and write nothing
    let w = q_off + j * HEAD_DIM + 4u * (i % d4);
    q_sh[i] = bitcast<vec4<f32>>(vec4<u32>(job[w], job[w + 1u], job[w + 2u], job[w + 3u])) * scale;
  }
  workgroupBarrier();

  let j = lid / TILE_TOKENS;
  let t = lid % TILE_TOKENS;
  let qb = j * d4;
  var m = NEG_INF;
  var l = 0.0;
  var acc: array<vec4<f32>, FAST_DIM4>;
  for (var c = 0u; c < FAST_DIM4; c = c + 1u) { acc[c] = vec4<f32>(0.0); }

  let entries = job[1u];
  for (var ti = 0u; ti < n_tiles; ti = ti + 1u) {
    let e = entries + 2u * (first_tile + ti);
    let valid = job[e + 1u];
    if (t < valid) {
      let kbase = job[e] + kv_head * HEAD_STRIDE;
      let vbase = kbase + V_OFFSET;
      var s = 0.0;
      for (var c8 = 0u; c8 < chunks; c8 = c8 + 1u) {
        let k = kivi_words_key_chunk(kbase, t, c8);
        s = s + dot(k.a, q_sh[qb + 2u * c8]) + dot(k.b, q_sh[qb + 2u * c8 + 1u]);
      }
      // online softmax of this lane's token stream; rescale acc only when the max grows
      if (s > m) {
        let c = exp(m - s);
        l = l * c;
        for (var c4 = 0u; c4 < d4; c4 = c4 + 1u) { acc[c4] = acc[c4] * c; }
        m = s;
      }
      let p = exp(s - m);
      l = l + p;
      for (var c8 = 0u; c8 < chunks; c8 = c8 + 1u) {
        let v = kivi_words_value_chunk(vbase, t, c8);
        acc[2u * c8] = acc[2u * c8] + p * v.a;
        acc[2u * c8 + 1u] = acc[2u * c8 + 1u] + p * v.b;
      }
    }
  }

  // merge the 32 lane states of each head: common max, rescale, sum
  m_sh[lid] = m;
  workgroupBarrier();
  var mh = NEG_INF;
  for (var u = 0u; u < TILE_TOKENS; u = u + 1u) { mh = max(mh, m_sh[j * TILE_TOKENS + u]); }
  // a lane that saw no token has l = 0 and acc = 0: its factor does not matter
  let f = exp(m - mh);
  l_sh[lid] = l * f;
  let out = ((slot * N_HEADS) + h0 + j) * (HEAD_DIM + 2u);
  for (var c4 = 0u; c4 < d4; c4 = c4 + 1u) {
    acc_sh[lid] = acc[c4] * f;
    workgroupBarrier();
    // 4 lanes per head sum one channel each over the head's 32 lanes
    if (t < 4u && j < ng) {
      var sum = 0.0;
      for (var u = 0u; u < TILE_TOKENS; u = u + 1u) { sum = sum + acc_sh[j * TILE_TOKENS + u][t]; }
      partials[out + 2u + 4u * c4 + t] = sum;
    }
    workgroupBarrier();
  }
  if (t == 0u && j < ng) {
    var lh = 0.0;
    for (var u = 0u; u < TILE_TOKENS; u = u + 1u) { lh = lh + l_sh[j * TILE_TOKENS + u]; }
    partials[out] = mh;
    partials[out + 1u] = lh;
  }
}
