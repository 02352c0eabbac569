// EXPERIMENT (bench only, results wrong by design): abl-noload, derived from wgsl/attend/kivi-fold.wgsl at commit ae48e05
// KIVI-2/4 decode attention with the codec folded into the arithmetic (issue 6, GPU speed).
// Same bindings, dispatch (work item, KV head, block of FOLD_G query heads) and partial
// (m, l, acc) layout as wgsl/attend/tiles.wgsl, so attend/merge.wgsl and the job/partials
// buffers are shared. Selected by shaders.ts attendTilesSource for KIVI keys and values of 2 or
// 4 bits at HEAD_DIM 64 or 128; the glue defines FOLD_G (heads per workgroup, 1..4), FOLD_LPT
// (= HEAD_DIM / 8, invocations per token) and FOLD_W (rows of 32 invocations, 4 unless an A/B
// run sets it) so workgroup arrays are sized exactly.
//
// Why (bench/README.md): tiles.wgsl spends 3 barriers and a workgroup-memory softmax on every
// 32-token tile and decodes every element to f32 (shift, mask, u32 -> f32 convert, FMA with
// scale and zero) before the dot products; on the H100 kivi2 and fp16 took the same time.
// Here the work per element is what the arithmetic needs:
// - keys: KIVI's per-channel (scale s, zero z) of a tile are folded into the query once per
//   tile: q . (s code + z) = (q s) . code + q . z, and the bias q . z rides along with the
//   partial dot products;
// - values: per (token, 32-channel group) (s, z): acc += (p s) code, and p z into one sum per
//   group added at the end;
// - codes become floats without a convert: (bits & mask) | 0x4B000000 is the f32 2^23 + code
//   * 2^k exactly (k = the code's bit position in its 16-bit half), minus 2^23 gives code * 2^k;
//   the 2^-k is folded into q (keys) or applied once at the end (values).
// - layout: a workgroup is FOLD_W groups of 32 invocations ("rows"); per round every row takes
//   one tile. Invocation (tg, k) of a row owns channels 8k..8k+7 and tokens tg + TG i of the
//   tile (TG = 32 / FOLD_LPT token groups, FOLD_LPT tokens each). Two barriers per round of
//   FOLD_W tiles: after the partial dot products (summed per token through `red`) and after
//   the scores. Each invocation keeps its own online softmax (m, l) over the tokens it sees, so
//   no tile-wide max is needed; the row states merge once at the end of the work item.
//
// Composed with (shaders.ts): constants.wgsl, common/f16.wgsl, this file, the glue constants.

const FOLD_WG: u32 = 32u * FOLD_W;
// words per token in `red`: FOLD_LPT partials + 1 of padding (a stride of 16 words would put
// the 32 tokens a score pass reads on 2 of the 32 banks)
const FOLD_RS: u32 = FOLD_LPT + 1u;
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
// partial dot products per (row, head, token, lane k); at the end, lane accumulators
var<workgroup> red: array<f32, FOLD_W * FOLD_G * TILE_TOKENS * FOLD_RS>;
// scores per (row, token), the workgroup's heads in the components
var<workgroup> sc: array<vec4<f32>, FOLD_W * TILE_TOKENS>;
// at the end: per (row, token group) m and l
var<workgroup> ms: array<f32, FOLD_W * TILE_TOKENS>;
var<workgroup> ls: array<f32, FOLD_W * TILE_TOKENS>;

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

// word index (from the code stream's start) and bit shift of the chunk (t, 8k..8k+7)
fn fold_word(t: u32, c0: u32, bits: u32) -> u32 {
  return ((t * HEAD_DIM + c0) * bits) >> 5u;
}

// Per-head state of one invocation: heads in the components of m, l and z (sum of p * zero),
// one accumulator per head (code units: the 2^k of each position is removed at the end).
struct FoldState {
  m: vec4<f32>,
  l: vec4<f32>,
  z: vec4<f32>,
  a0: Codes8,
  a1: Codes8,
  a2: Codes8,
  a3: Codes8,
}

// The key scale folded into each head's query for one chunk, and the bias q . zero per head.
struct FoldQ {
  q0: Codes8,
  q1: Codes8,
  q2: Codes8,
  q3: Codes8,
  b: vec4<f32>,
}

// 4 words at w0 + u * step, u = 0..3: one invocation's words of 4 of its tokens
fn fold_load4(w0: u32, step: u32) -> vec4<u32> {
  return vec4<u32>(pages[w0], pages[w0 + step], pages[w0 + 2u * step], pages[w0 + 3u * step]);
}

// partial dot products of one token's chunk for every head, into red (head stride hs)
fn fold_key1(fq: FoldQ, word: u32, sh: u32, ri: u32) {
  let f = fold_codes(word, sh, K_BITS);
  let hs = TILE_TOKENS * FOLD_RS;
  red[ri] = dot(fq.q0.lo, f.lo) + dot(fq.q0.hi, f.hi) + fq.b.x;
  if (FOLD_G > 1u) { red[ri + hs] = dot(fq.q1.lo, f.lo) + dot(fq.q1.hi, f.hi) + fq.b.y; }
  if (FOLD_G > 2u) { red[ri + 2u * hs] = dot(fq.q2.lo, f.lo) + dot(fq.q2.hi, f.hi) + fq.b.z; }
  if (FOLD_G > 3u) { red[ri + 3u * hs] = dot(fq.q3.lo, f.lo) + dot(fq.q3.hi, f.hi) + fq.b.w; }
}

// 4 tokens of the key pass: ri0 = red index of the first, rstep between tokens
fn fold_key4(fq: FoldQ, words: vec4<u32>, sh: u32, ri0: u32, rstep: u32) {
  fold_key1(fq, words.x, sh, ri0);
  fold_key1(fq, words.y, sh, ri0 + rstep);
  fold_key1(fq, words.z, sh, ri0 + 2u * rstep);
  fold_key1(fq, words.w, sh, ri0 + 3u * rstep);
}

// one token of the value pass: p = exp(score - m) per head, acc += (p scale) code, z += p zero
fn fold_value1(st: ptr<function, FoldState>, word: u32, mw: u32, s: vec4<f32>, sh: u32) {
  let sz = unpack2x16float(mw);
  let f = fold_codes(word, sh, V_BITS);
  var p = vec4<f32>(0.0);
  p.x = exp(s.x - (*st).m.x);
  if (FOLD_G > 1u) { p.y = exp(s.y - (*st).m.y); }
  if (FOLD_G > 2u) { p.z = exp(s.z - (*st).m.z); }
  if (FOLD_G > 3u) { p.w = exp(s.w - (*st).m.w); }
  (*st).l = (*st).l + p;
  (*st).z = (*st).z + p * sz.y;
  let w = p * sz.x;
  (*st).a0.lo = (*st).a0.lo + w.x * f.lo; (*st).a0.hi = (*st).a0.hi + w.x * f.hi;
  if (FOLD_G > 1u) { (*st).a1.lo = (*st).a1.lo + w.y * f.lo; (*st).a1.hi = (*st).a1.hi + w.y * f.hi; }
  if (FOLD_G > 2u) { (*st).a2.lo = (*st).a2.lo + w.z * f.lo; (*st).a2.hi = (*st).a2.hi + w.z * f.hi; }
  if (FOLD_G > 3u) { (*st).a3.lo = (*st).a3.lo + w.w * f.lo; (*st).a3.hi = (*st).a3.hi + w.w * f.hi; }
}

// 4 tokens of the value pass; s0 = sc index of the first, TG between tokens; tokens >= valid skipped
fn fold_value4(st: ptr<function, FoldState>, words: vec4<u32>, metas: vec4<u32>, sh: u32, s0: u32, tt0: u32, tstep: u32, valid: u32) {
  if (tt0 < valid) { fold_value1(st, words.x, metas.x, sc[s0], sh); }
  if (tt0 + tstep < valid) { fold_value1(st, words.y, metas.y, sc[s0 + tstep], sh); }
  if (tt0 + 2u * tstep < valid) { fold_value1(st, words.z, metas.z, sc[s0 + 2u * tstep], sh); }
  if (tt0 + 3u * tstep < valid) { fold_value1(st, words.w, metas.w, sc[s0 + 3u * tstep], sh); }
}

// running max over 4 tokens' scores
fn fold_max4(m: vec4<f32>, s0: u32, tstep: u32) -> vec4<f32> {
  return max(max(m, max(sc[s0], sc[s0 + tstep])), max(sc[s0 + 2u * tstep], sc[s0 + 3u * tstep]));
}

@compute @workgroup_size(FOLD_WG)
fn attend_tiles(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let item = 4u + 4u * wg.x;
  let seq = job[item];
  let first_tile = job[item + 1u];
  let n_tiles = job[item + 2u];
  let slot = job[item + 3u];
  let kv_head = wg.y;
  let g0 = wg.z * FOLD_G;
  let ng = min(FOLD_G, GROUP - g0); // heads of this block; heads >= ng repeat head ng - 1
  let h0 = kv_head * GROUP + g0;
  let d4 = HEAD_DIM / 4u;
  let scale = inverseSqrt(f32(HEAD_DIM));
  let entries = job[1u];

  let q_off = job[2u] + (seq * N_HEADS + h0) * HEAD_DIM;
  for (var i = lid; i < FOLD_G * d4; i = i + FOLD_WG) {
    let j = min(i / d4, ng - 1u);
    let w = q_off + j * HEAD_DIM + 4u * (i % d4);
    q_sh[i] = bitcast<vec4<f32>>(vec4<u32>(job[w], job[w + 1u], job[w + 2u], job[w + 3u])) * scale;
  }
  workgroupBarrier();

  let row = lid / 32u;
  let lane = lid % 32u;
  let TG = 32u / FOLD_LPT;
  let k = lane % FOLD_LPT;
  let tg = lane / FOLD_LPT;
  let c0 = 8u * k;
  let qv = 2u * k; // vec4 index of channel c0 within a head's queries
  let k_sh = select(0u, ((c0 * K_BITS) & 31u), K_BITS == 2u);
  let v_sh = select(0u, ((c0 * V_BITS) & 31u), V_BITS == 2u);
  let k_lo = fold_lo_scale(K_BITS);
  let k_hi = fold_hi_scale(K_BITS);
  // value groups: min(32, HEAD_DIM) = 32 channels (HEAD_DIM is 64 or 128 here)
  let v_groups = HEAD_DIM / 32u;
  let v_codes = TILE_TOKENS * v_groups; // meta words before the value codes
  // word offsets of this invocation's first token (tg) and steps between its tokens (TG apart)
  let k_tok = HEAD_DIM * K_BITS / 32u;
  let v_tok = HEAD_DIM * V_BITS / 32u;
  let k_off = HEAD_DIM + tg * k_tok + ((c0 * K_BITS) >> 5u);
  let vm_off = tg * v_groups + c0 / 32u;
  let vw_off = v_codes + tg * v_tok + ((c0 * V_BITS) >> 5u);
  let rstep = TG * FOLD_RS; // red words between this invocation's tokens
  let zero8 = Codes8(vec4<f32>(0.0), vec4<f32>(0.0));
  var st = FoldState(vec4<f32>(NEG_INF), vec4<f32>(0.0), vec4<f32>(0.0), zero8, zero8, zero8, zero8);

  let rounds = (n_tiles + FOLD_W - 1u) / FOLD_W;
  for (var r = 0u; r < rounds; r = r + 1u) {
    let ti = r * FOLD_W + row;
    let live = ti < n_tiles;
    var kbase = 0u;
    var valid = 0u;
    if (live) {
      let e = entries + 2u * (first_tile + ti);
      kbase = job[e] + kv_head * HEAD_STRIDE;
      valid = job[e + 1u];
    }
    let vbase = kbase + V_OFFSET;
    let rb = row * FOLD_G; // this row's (row, head) block in red

    // ---- loads first: every word this invocation reads in the round, as independent loads
    // into named vectors (4 tokens each), so one round costs one trip to memory; loads
    // interleaved with their use left the H100 at ~0.5 TB/s (bench/README.md)
    var km0 = vec4<u32>(0u); var km1 = km0;
    var kw0 = km0; var kw1 = km0; var kw2 = km0; var kw3 = km0;
    var vm0 = km0; var vm1 = km0; var vm2 = km0; var vm3 = km0;
    var vw0 = km0; var vw1 = km0; var vw2 = km0; var vw3 = km0;
    if (live) {
      let sy = vec4<u32>(lid * 2654435761u + r, lid * 40503u + r, lid ^ r, lid + 7u * r);
      km0 = sy | vec4<u32>(0x3c003c00u); km1 = km0.yzwx;
      kw0 = sy; kw1 = sy.yzwx; kw2 = sy.zwxy; kw3 = sy.wxyz;
      vm0 = km0; vm1 = km1; vm2 = km0.zwxy; vm3 = km1.zwxy;
      vw0 = sy ^ vec4<u32>(5u); vw1 = sy.yzwx ^ vec4<u32>(9u); vw2 = sy.zwxy; vw3 = sy.wxyz ^ vec4<u32>(3u);
    }
    // ---- keys: fold (s, z) of channels c0..c0+7 into the queries, then partial dots
    if (live) {
      let a0 = unpack2x16float(km0.x); let a1 = unpack2x16float(km0.y);
      let a2 = unpack2x16float(km0.z); let a3 = unpack2x16float(km0.w);
      let b0 = unpack2x16float(km1.x); let b1 = unpack2x16float(km1.y);
      let b2 = unpack2x16float(km1.z); let b3 = unpack2x16float(km1.w);
      let s_lo = vec4<f32>(a0.x, a1.x, a2.x, a3.x) * k_lo;
      let s_hi = vec4<f32>(b0.x, b1.x, b2.x, b3.x) * k_hi;
      let z_lo = vec4<f32>(a0.y, a1.y, a2.y, a3.y);
      let z_hi = vec4<f32>(b0.y, b1.y, b2.y, b3.y);
      let hq = HEAD_DIM / 4u;
      var fq = FoldQ(Codes8(q_sh[qv] * s_lo, q_sh[qv + 1u] * s_hi), zero8, zero8, zero8, vec4<f32>(0.0));
      fq.b.x = dot(q_sh[qv], z_lo) + dot(q_sh[qv + 1u], z_hi);
      if (FOLD_G > 1u) { fq.q1 = Codes8(q_sh[hq + qv] * s_lo, q_sh[hq + qv + 1u] * s_hi); fq.b.y = dot(q_sh[hq + qv], z_lo) + dot(q_sh[hq + qv + 1u], z_hi); }
      if (FOLD_G > 2u) { fq.q2 = Codes8(q_sh[2u * hq + qv] * s_lo, q_sh[2u * hq + qv + 1u] * s_hi); fq.b.z = dot(q_sh[2u * hq + qv], z_lo) + dot(q_sh[2u * hq + qv + 1u], z_hi); }
      if (FOLD_G > 3u) { fq.q3 = Codes8(q_sh[3u * hq + qv] * s_lo, q_sh[3u * hq + qv + 1u] * s_hi); fq.b.w = dot(q_sh[3u * hq + qv], z_lo) + dot(q_sh[3u * hq + qv + 1u], z_hi); }
      let ri = (rb * TILE_TOKENS + tg) * FOLD_RS + k;
      fold_key4(fq, kw0, k_sh, ri, rstep);
      fold_key4(fq, kw1, k_sh, ri + 4u * rstep, rstep);
      if (FOLD_LPT > 8u) {
        fold_key4(fq, kw2, k_sh, ri + 8u * rstep, rstep);
        fold_key4(fq, kw3, k_sh, ri + 12u * rstep, rstep);
      }
    }
    workgroupBarrier();
    // ---- scores: invocation `lane` sums token `lane`'s FOLD_LPT partials, for each head
    if (live) {
      var s4 = vec4<f32>(0.0);
      for (var j = 0u; j < FOLD_G; j = j + 1u) {
        let ri = ((rb + j) * TILE_TOKENS + lane) * FOLD_RS;
        var s = 0.0;
        for (var u = 0u; u < FOLD_LPT; u = u + 1u) { s = s + red[ri + u]; }
        s4[j] = s;
      }
      sc[row * TILE_TOKENS + lane] = select(vec4<f32>(NEG_INF), s4, lane < valid);
    }
    workgroupBarrier();
    // ---- values: own online softmax over this invocation's tokens, then fold p s into codes
    if (live) {
      let s0 = row * TILE_TOKENS + tg;
      var mt = fold_max4(st.m, s0, TG);
      mt = fold_max4(mt, s0 + 4u * TG, TG);
      if (FOLD_LPT > 8u) {
        mt = fold_max4(mt, s0 + 8u * TG, TG);
        mt = fold_max4(mt, s0 + 12u * TG, TG);
      }
      // rescale the running state to the new max (exp(NEG_INF - finite) = 0)
      var c = vec4<f32>(1.0);
      c.x = exp(st.m.x - mt.x);
      if (FOLD_G > 1u) { c.y = exp(st.m.y - mt.y); }
      if (FOLD_G > 2u) { c.z = exp(st.m.z - mt.z); }
      if (FOLD_G > 3u) { c.w = exp(st.m.w - mt.w); }
      st.m = mt;
      st.l = st.l * c;
      st.z = st.z * c;
      st.a0.lo = st.a0.lo * c.x; st.a0.hi = st.a0.hi * c.x;
      if (FOLD_G > 1u) { st.a1.lo = st.a1.lo * c.y; st.a1.hi = st.a1.hi * c.y; }
      if (FOLD_G > 2u) { st.a2.lo = st.a2.lo * c.z; st.a2.hi = st.a2.hi * c.z; }
      if (FOLD_G > 3u) { st.a3.lo = st.a3.lo * c.w; st.a3.hi = st.a3.hi * c.w; }
      fold_value4(&st, vw0, vm0, v_sh, s0, tg, TG, valid);
      fold_value4(&st, vw1, vm1, v_sh, s0 + 4u * TG, tg + 4u * TG, TG, valid);
      if (FOLD_LPT > 8u) {
        fold_value4(&st, vw2, vm2, v_sh, s0 + 8u * TG, tg + 8u * TG, TG, valid);
        fold_value4(&st, vw3, vm3, v_sh, s0 + 12u * TG, tg + 12u * TG, TG, valid);
      }
    }
    // the next round writes red before its first barrier (every invocation has passed this
    // round's second barrier, so no one still sums red) and sc only after it (no one still reads)
  }

  // ---- merge the states of the FOLD_W * TG token groups, one head at a time
  let v_lo = fold_lo_scale(V_BITS);
  let v_hi = fold_hi_scale(V_BITS);
  let states = FOLD_W * TG;
  for (var j = 0u; j < FOLD_G; j = j + 1u) {
    var a = st.a0;
    if (j == 1u) { a = st.a1; } else if (j == 2u) { a = st.a2; } else if (j == 3u) { a = st.a3; }
    let m = st.m[j];
    let z = st.z[j];
    workgroupBarrier();
    if (k == 0u) {
      ms[row * TG + tg] = m;
      ls[row * TG + tg] = st.l[j];
    }
    // channel c0 + i of this state: a * 2^-k + z (every channel of the chunk is in one group)
    let lo = a.lo * v_lo + z;
    let hi = a.hi * v_hi + z;
    let o = lid * 8u;
    red[o] = lo.x; red[o + 1u] = lo.y; red[o + 2u] = lo.z; red[o + 3u] = lo.w;
    red[o + 4u] = hi.x; red[o + 5u] = hi.y; red[o + 6u] = hi.z; red[o + 7u] = hi.w;
    workgroupBarrier();
    var mh = NEG_INF;
    for (var u = 0u; u < states; u = u + 1u) { mh = max(mh, ms[u]); }
    if (j < ng) {
      let out = ((slot * N_HEADS) + h0 + j) * (HEAD_DIM + 2u);
      for (var ch = lid; ch < HEAD_DIM; ch = ch + FOLD_WG) {
        let kk = ch / 8u;
        var sum = 0.0;
        for (var u = 0u; u < states; u = u + 1u) {
          // state u = (row, token group); its lane for chunk kk
          let src = (u / TG) * 32u + (u % TG) * FOLD_LPT + kk;
          sum = sum + red[src * 8u + ch % 8u] * exp(ms[u] - mh);
        }
        partials[out + 2u + ch] = sum;
      }
      if (lid == 0u) {
        var lh = 0.0;
        for (var u = 0u; u < states; u = u + 1u) { lh = lh + ls[u] * exp(ms[u] - mh); }
        partials[out] = mh;
        partials[out + 1u] = lh;
      }
    }
  }
}
