// Flash-decoding over packed tiles: one workgroup per (work item = a run of tiles of one
// sequence, KV head, block of up to MAX_G query heads of that KV head's GQA group). It folds
// its tiles into a partial softmax state (m, l, acc) per query head, with the codec's unpack
// fused into the dot products (no dequantized copy in memory); attend/merge.wgsl combines the
// partials of all work items of a sequence.
//
// Composed with (ts/backends/webgpu/shaders.ts): wgsl/constants.wgsl, common/*.wgsl,
// attend/bindings.wgsl (constants, bindings), the key
// codec's and the value codec's attend.wgsl, and two glue functions
//   fn key_chunk(base: u32, t: u32, c8: u32) -> Chunk8     // key elements (t, 8*c8 .. 8*c8+7)
//   fn value_chunk(base: u32, t: u32, c8: u32) -> Chunk8
//   fn key_init(lid: u32, kv_head: u32) / fn value_init(...)  // per-workgroup setup (codebooks)
// where `base` is the word offset in `pages` of the stream's tile (or fp rows, see rows.wgsl).
//
// Speed (bench/gpu/attention.ts on an H100; decisions.md#D24): no private array is
// indexed in a loop. The per-head dot products (d0..d7) and value accumulators (a0..a7) are
// separate variables guarded by `bg` = min(MAX_G, GROUP), a pipeline constant, so the guards
// fold away; v1 (arrays indexed by a runtime head loop) spent most of its time outside any
// memory access. Queries sit in workgroup memory as vec4s (two loads per 8 channels and head).
// A tile costs three barriers: lane sums, softmax, and the value pass reads probabilities
// double-buffered by tile parity so the next tile's softmax need not wait for it. Each softmax
// invocation owns fixed (head, token) pairs and recomputes the head's running max from the 32
// scores (broadcast reads), so m and l never go through a serial loop of one invocation.

struct Chunk8 {
  a: vec4<f32>,
  b: vec4<f32>,
}

// Query heads handled by one workgroup; larger GQA groups use several head blocks (dispatch z).
const MAX_G: u32 = 8u;
const MAX_LANES: u32 = 4u;

// pipeline constants, bindings (job format, partials layout): attend/bindings.wgsl, composed before

// Workgroup memory: 15.1 KiB (+ 64 B) of the 16 KiB default budget.
var<workgroup> q_sh: array<vec4<f32>, MAX_G * MAX_HEAD_DIM / 4u>;
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
  for (var i = lid; i < bg * HEAD_DIM / 4u; i = i + WG) {
    let j = min((4u * i) / HEAD_DIM, ng - 1u);
    let w = q_off + j * HEAD_DIM + (4u * i) % HEAD_DIM;
    q_sh[i] = bitcast<vec4<f32>>(vec4<u32>(job[w], job[w + 1u], job[w + 2u], job[w + 3u])) * scale;
  }
  key_init(lid, kv_head);
  value_init(lid, kv_head);

  // value pass layout: column = 8-channel chunk, rows = tokens strided by `rows`
  let rows = WG / chunks; // >= 1: chunks <= 32 <= WG
  let v_col = lid % chunks;
  let v_row = lid / chunks;
  let v_active = v_row < rows;
  // one accumulator per head as separate variables: a private array indexed in a loop went
  // to local memory / select chains on the H100 (decisions.md#D24)
  var a0 = Chunk8(vec4<f32>(0.0), vec4<f32>(0.0));
  var a1 = a0; var a2 = a0; var a3 = a0; var a4 = a0; var a5 = a0; var a6 = a0; var a7 = a0;
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
    var d0 = 0.0; var d1 = 0.0; var d2 = 0.0; var d3 = 0.0;
    var d4 = 0.0; var d5 = 0.0; var d6 = 0.0; var d7 = 0.0;
    if (k_t < valid) {
      for (var c8 = k_lane; c8 < chunks; c8 = c8 + LANES) {
        let k = key_chunk(kbase, k_t, c8);
        let qo = c8 * 2u;
        let qs = HEAD_DIM / 4u; // vec4s per head
        d0 = d0 + dot(k.a, q_sh[qo]) + dot(k.b, q_sh[qo + 1u]);
        if (bg > 1u) { d1 = d1 + dot(k.a, q_sh[qs + qo]) + dot(k.b, q_sh[qs + qo + 1u]); }
        if (bg > 2u) { d2 = d2 + dot(k.a, q_sh[2u * qs + qo]) + dot(k.b, q_sh[2u * qs + qo + 1u]); }
        if (bg > 3u) { d3 = d3 + dot(k.a, q_sh[3u * qs + qo]) + dot(k.b, q_sh[3u * qs + qo + 1u]); }
        if (bg > 4u) { d4 = d4 + dot(k.a, q_sh[4u * qs + qo]) + dot(k.b, q_sh[4u * qs + qo + 1u]); }
        if (bg > 5u) { d5 = d5 + dot(k.a, q_sh[5u * qs + qo]) + dot(k.b, q_sh[5u * qs + qo + 1u]); }
        if (bg > 6u) { d6 = d6 + dot(k.a, q_sh[6u * qs + qo]) + dot(k.b, q_sh[6u * qs + qo + 1u]); }
        if (bg > 7u) { d7 = d7 + dot(k.a, q_sh[7u * qs + qo]) + dot(k.b, q_sh[7u * qs + qo + 1u]); }
      }
    }
    let ri = k_t * LANES + k_lane;
    let hs = TILE_TOKENS * LANES; // red words per head
    red[ri] = d0;
    if (bg > 1u) { red[hs + ri] = d1; }
    if (bg > 2u) { red[2u * hs + ri] = d2; }
    if (bg > 3u) { red[3u * hs + ri] = d3; }
    if (bg > 4u) { red[4u * hs + ri] = d4; }
    if (bg > 5u) { red[5u * hs + ri] = d5; }
    if (bg > 6u) { red[6u * hs + ri] = d6; }
    if (bg > 7u) { red[7u * hs + ri] = d7; }
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
      a0.a = a0.a * corr[cb]; a0.b = a0.b * corr[cb];
      if (bg > 1u) { a1.a = a1.a * corr[cb + 1u]; a1.b = a1.b * corr[cb + 1u]; }
      if (bg > 2u) { a2.a = a2.a * corr[cb + 2u]; a2.b = a2.b * corr[cb + 2u]; }
      if (bg > 3u) { a3.a = a3.a * corr[cb + 3u]; a3.b = a3.b * corr[cb + 3u]; }
      if (bg > 4u) { a4.a = a4.a * corr[cb + 4u]; a4.b = a4.b * corr[cb + 4u]; }
      if (bg > 5u) { a5.a = a5.a * corr[cb + 5u]; a5.b = a5.b * corr[cb + 5u]; }
      if (bg > 6u) { a6.a = a6.a * corr[cb + 6u]; a6.b = a6.b * corr[cb + 6u]; }
      if (bg > 7u) { a7.a = a7.a * corr[cb + 7u]; a7.b = a7.b * corr[cb + 7u]; }
      for (var t = v_row; t < valid; t = t + rows) {
        let v = value_chunk(vbase, t, v_col);
        let pt = pb + t;
        var p = probs[pt]; a0.a = a0.a + p * v.a; a0.b = a0.b + p * v.b;
        if (bg > 1u) { p = probs[pt + TILE_TOKENS]; a1.a = a1.a + p * v.a; a1.b = a1.b + p * v.b; }
        if (bg > 2u) { p = probs[pt + 2u * TILE_TOKENS]; a2.a = a2.a + p * v.a; a2.b = a2.b + p * v.b; }
        if (bg > 3u) { p = probs[pt + 3u * TILE_TOKENS]; a3.a = a3.a + p * v.a; a3.b = a3.b + p * v.b; }
        if (bg > 4u) { p = probs[pt + 4u * TILE_TOKENS]; a4.a = a4.a + p * v.a; a4.b = a4.b + p * v.b; }
        if (bg > 5u) { p = probs[pt + 5u * TILE_TOKENS]; a5.a = a5.a + p * v.a; a5.b = a5.b + p * v.b; }
        if (bg > 6u) { p = probs[pt + 6u * TILE_TOKENS]; a6.a = a6.a + p * v.a; a6.b = a6.b + p * v.b; }
        if (bg > 7u) { p = probs[pt + 7u * TILE_TOKENS]; a7.a = a7.a + p * v.a; a7.b = a7.b + p * v.b; }
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
      // pick head j's accumulator (once per work item, not per tile)
      var aj = a0;
      if (j == 1u) { aj = a1; } else if (j == 2u) { aj = a2; } else if (j == 3u) { aj = a3; }
      else if (j == 4u) { aj = a4; } else if (j == 5u) { aj = a5; } else if (j == 6u) { aj = a6; } else if (j == 7u) { aj = a7; }
      let o = lid * 8u;
      red[o] = aj.a.x; red[o + 1u] = aj.a.y; red[o + 2u] = aj.a.z; red[o + 3u] = aj.a.w;
      red[o + 4u] = aj.b.x; red[o + 5u] = aj.b.y; red[o + 6u] = aj.b.z; red[o + 7u] = aj.b.w;
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
