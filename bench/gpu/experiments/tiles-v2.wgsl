// v2 of wgsl/attend/tiles.wgsl, kept for the bench's variant comparison (bench/README.md)
// Flash-decoding over packed tiles: one workgroup per (work item = a run of tiles of one
// sequence, KV head, block of up to MAX_G query heads of that KV head's GQA group). It folds
// its tiles into a partial softmax state (m, l, acc) per query head, with the codec's unpack
// fused into the dot products (no dequantized copy in memory); attend/merge.wgsl combines the
// partials of all work items of a sequence.
//
// Composed with (ts/backends/webgpu/shaders.ts): wgsl/constants.wgsl, common/*.wgsl, the key
// codec's and the value codec's attend.wgsl, and two glue functions
//   fn key_chunk(base: u32, t: u32, c8: u32) -> Chunk8     // key elements (t, 8*c8 .. 8*c8+7)
//   fn value_chunk(base: u32, t: u32, c8: u32) -> Chunk8
//   fn key_init(lid: u32, kv_head: u32) / fn value_init(...)  // per-workgroup setup (codebooks)
// where `base` is the word offset in `pages` of the stream's tile (or fp rows, see rows.wgsl).
//
// Speed (bench/gpu, H100; bench/README.md has the numbers): every per-head loop runs to
// `bg` = min(MAX_G, GROUP), a pipeline constant, so the drivers unroll it and the per-head
// accumulators (dots, acc, m, l) stay in registers (the hope; measured: only 1.2x over v1,
// the arrays indexed in loops still cost most of the time, see bench/README.md). A tile costs three barriers: lane sums,
// softmax, and the value pass reads probabilities double-buffered by tile parity so the next
// tile's softmax need not wait for it. Each softmax thread owns fixed (head, token) pairs and
// recomputes the head's running max from the 32 scores (broadcast reads), so m and l never
// go through a serial loop of one thread.

struct Chunk8 {
  a: vec4<f32>,
  b: vec4<f32>,
}

// Query heads handled by one workgroup; larger GQA groups use several head blocks (dispatch z).
const MAX_G: u32 = 8u;
const MAX_LANES: u32 = 4u;

override HEAD_DIM: u32;
override N_HEADS: u32;
// Query heads per KV head.
override GROUP: u32;
// Invocations per token in the key pass: min(4, HEAD_DIM / 8); the workgroup has 32 * LANES.
override LANES: u32;
// Word distance between consecutive KV heads' tile pairs in a slot, and of V behind K.
override HEAD_STRIDE: u32;
override V_OFFSET: u32;
// Codec parameters for the hooks: bits per code and word offsets of each stream's params.
override K_BITS: u32 = 0u;
override V_BITS: u32 = 0u;
override K_PARAMS: u32 = 0u;
override V_PARAMS: u32 = 0u;

@group(0) @binding(0) var<storage, read> pages: array<u32>;
// [0] work items, [1] offset of the tile entries, [2] offset of the queries (f32 bits);
// work item i at 4 + 4 i: (batch sequence, first tile entry, tile count, partial slot);
// tile entry k: (slot word offset, valid tokens <= TILE_TOKENS).
@group(0) @binding(1) var<storage, read> job: array<u32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
// partial slot s, head h: m at (s * N_HEADS + h) * (HEAD_DIM + 2), then l, then acc[HEAD_DIM]
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

// Workgroup memory: 15.4 KiB of the 16 KiB compatibility-mode budget.
var<workgroup> q_sh: array<f32, MAX_G * MAX_HEAD_DIM>;
// per (head, token, lane) dot products; reused at the end to reduce value accumulators
var<workgroup> red: array<f32, MAX_G * TILE_TOKENS * MAX_LANES>;
// per (head, token) scores of the current tile; at the end, per (head, token) l parts
var<workgroup> scores: array<f32, MAX_G * TILE_TOKENS>;
// probabilities and rescale factors, double-buffered by tile parity
var<workgroup> probs: array<f32, 2u * MAX_G * TILE_TOKENS>;
var<workgroup> corr: array<f32, 2u * MAX_G>;

const NEG_INF: f32 = -3.0e38; // finite stand-in: exp(NEG_INF - m) is 0 without inf - inf

@compute @workgroup_size(32u * LANES)
fn attend_tiles(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let WG = 32u * LANES;
  let item = 4u + 4u * wg.x;
  let seq = job[item];
  let first_tile = job[item + 1u];
  let n_tiles = job[item + 2u];
  let slot = job[item + 3u];
  let kv_head = wg.y;
  let g0 = wg.z * MAX_G;
  let ng = min(MAX_G, GROUP - g0); // heads of this block
  let bg = min(MAX_G, GROUP);      // heads computed (a constant; heads >= ng repeat head ng - 1)
  let h0 = kv_head * GROUP + g0;   // first global query head of this block
  let chunks = HEAD_DIM / 8u;
  let scale = inverseSqrt(f32(HEAD_DIM));

  let q_off = job[2u] + (seq * N_HEADS + h0) * HEAD_DIM;
  for (var i = lid; i < bg * HEAD_DIM; i = i + WG) {
    let j = min(i / HEAD_DIM, ng - 1u);
    q_sh[i] = bitcast<f32>(job[q_off + j * HEAD_DIM + i % HEAD_DIM]) * scale;
  }
  key_init(lid, kv_head);
  value_init(lid, kv_head);

  // value pass layout: column = 8-channel chunk, rows = tokens strided by `rows`
  let rows = WG / chunks; // >= 1: chunks <= 32 <= WG
  let v_col = lid % chunks;
  let v_row = lid / chunks;
  let v_active = v_row < rows;
  var acc: array<Chunk8, MAX_G>;
  for (var j = 0u; j < bg; j = j + 1u) {
    acc[j] = Chunk8(vec4<f32>(0.0), vec4<f32>(0.0));
  }
  // softmax pairs: pair k of this invocation is (head, token) = divmod(lid + k * WG, TILE_TOKENS)
  let npairs = (bg * TILE_TOKENS + WG - 1u) / WG;
  var m_p: array<f32, MAX_G>;
  var l_p: array<f32, MAX_G>;
  var s_p: array<f32, MAX_G>;
  for (var k = 0u; k < npairs; k = k + 1u) {
    m_p[k] = NEG_INF;
    l_p[k] = 0.0;
  }
  workgroupBarrier();

  let k_t = lid / LANES;
  let k_lane = lid % LANES;
  let entries = job[1u];
  for (var ti = 0u; ti < n_tiles; ti = ti + 1u) {
    let e = entries + 2u * (first_tile + ti);
    let tile_slot = job[e];
    let valid = job[e + 1u];
    let kbase = tile_slot + kv_head * HEAD_STRIDE;
    let vbase = kbase + V_OFFSET;
    let pb = (ti & 1u) * MAX_G * TILE_TOKENS;
    let cb = (ti & 1u) * MAX_G;

    // scores: LANES invocations per token, adjacent invocations read adjacent chunks
    var dots: array<f32, MAX_G>;
    for (var j = 0u; j < bg; j = j + 1u) { dots[j] = 0.0; }
    if (k_t < valid) {
      for (var c8 = k_lane; c8 < chunks; c8 = c8 + LANES) {
        let k = key_chunk(kbase, k_t, c8);
        for (var j = 0u; j < bg; j = j + 1u) {
          let qo = j * HEAD_DIM + c8 * 8u;
          let qa = vec4<f32>(q_sh[qo], q_sh[qo + 1u], q_sh[qo + 2u], q_sh[qo + 3u]);
          let qb = vec4<f32>(q_sh[qo + 4u], q_sh[qo + 5u], q_sh[qo + 6u], q_sh[qo + 7u]);
          dots[j] = dots[j] + dot(k.a, qa) + dot(k.b, qb);
        }
      }
    }
    for (var j = 0u; j < bg; j = j + 1u) {
      red[(j * TILE_TOKENS + k_t) * LANES + k_lane] = dots[j];
    }
    workgroupBarrier();
    // lane sums: the score of each (head, token) pair this invocation owns
    for (var k = 0u; k < npairs; k = k + 1u) {
      let pi = lid + k * WG;
      if (pi < bg * TILE_TOKENS) {
        var s = 0.0;
        for (var l = 0u; l < LANES; l = l + 1u) { s = s + red[pi * LANES + l]; }
        s = select(NEG_INF, s, (pi % TILE_TOKENS) < valid);
        s_p[k] = s;
        scores[pi] = s;
      }
    }
    workgroupBarrier();
    // online softmax: every owner of head j derives the same new max from the 32 scores
    for (var k = 0u; k < npairs; k = k + 1u) {
      let pi = lid + k * WG;
      if (pi < bg * TILE_TOKENS) {
        let j = pi / TILE_TOKENS;
        var mt = m_p[k];
        for (var u = 0u; u < TILE_TOKENS; u = u + 1u) { mt = max(mt, scores[j * TILE_TOKENS + u]); }
        let c = exp(m_p[k] - mt);
        let p = select(0.0, exp(s_p[k] - mt), s_p[k] > NEG_INF);
        probs[pb + pi] = p;
        if ((pi % TILE_TOKENS) == 0u) { corr[cb + j] = c; }
        l_p[k] = l_p[k] * c + p;
        m_p[k] = mt;
      }
    }
    workgroupBarrier();
    // values: each invocation keeps acc for its chunk column over its rows
    if (v_active) {
      for (var j = 0u; j < bg; j = j + 1u) {
        let c = corr[cb + j];
        acc[j].a = acc[j].a * c;
        acc[j].b = acc[j].b * c;
      }
      for (var t = v_row; t < valid; t = t + rows) {
        let v = value_chunk(vbase, t, v_col);
        for (var j = 0u; j < bg; j = j + 1u) {
          let p = probs[pb + j * TILE_TOKENS + t];
          acc[j].a = acc[j].a + p * v.a;
          acc[j].b = acc[j].b + p * v.b;
        }
      }
    }
    // the next tile writes red/scores only after its first barrier, and the other half of
    // probs/corr: these reads cannot race with it
  }
  workgroupBarrier();
  // l parts per (head, token) into scores; m per head into corr (same in every owner)
  for (var k = 0u; k < npairs; k = k + 1u) {
    let pi = lid + k * WG;
    if (pi < bg * TILE_TOKENS) {
      scores[pi] = l_p[k];
      if ((pi % TILE_TOKENS) == 0u) { corr[pi / TILE_TOKENS] = m_p[k]; }
    }
  }

  // reduce acc over rows, one query head at a time (red holds WG * 8 floats)
  for (var j = 0u; j < bg; j = j + 1u) {
    if (v_active) {
      let o = lid * 8u;
      red[o] = acc[j].a.x; red[o + 1u] = acc[j].a.y; red[o + 2u] = acc[j].a.z; red[o + 3u] = acc[j].a.w;
      red[o + 4u] = acc[j].b.x; red[o + 5u] = acc[j].b.y; red[o + 6u] = acc[j].b.z; red[o + 7u] = acc[j].b.w;
    }
    workgroupBarrier();
    if (j < ng) {
      let out = ((slot * N_HEADS) + h0 + j) * (HEAD_DIM + 2u);
      for (var c = lid; c < HEAD_DIM; c = c + WG) {
        let col = c / 8u;
        var s = 0.0;
        for (var r = 0u; r < rows; r = r + 1u) { s = s + red[(r * chunks + col) * 8u + (c % 8u)]; }
        partials[out + 2u + c] = s;
      }
      if (lid == 0u) {
        var l = 0.0;
        for (var t = 0u; t < TILE_TOKENS; t = t + 1u) { l = l + scores[j * TILE_TOKENS + t]; }
        partials[out] = corr[j];
        partials[out + 1u] = l;
      }
    }
    workgroupBarrier();
  }
}
