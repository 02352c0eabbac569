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
// scores per (row, head, token); at the end, per (row, token group) m and l
var<workgroup> sc: array<f32, FOLD_W * FOLD_G * TILE_TOKENS>;
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

  // per-head state of this invocation: m, l, sum of p z, acc (code units, 2^k scaled)
  var m0 = NEG_INF; var m1 = NEG_INF; var m2 = NEG_INF; var m3 = NEG_INF;
  var l0 = 0.0; var l1 = 0.0; var l2 = 0.0; var l3 = 0.0;
  var z0 = 0.0; var z1 = 0.0; var z2 = 0.0; var z3 = 0.0;
  var a0 = Codes8(vec4<f32>(0.0), vec4<f32>(0.0));
  var a1 = a0; var a2 = a0; var a3 = a0;

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
    let rb = row * FOLD_G; // this row's (row, head) block in red and sc

    // ---- loads first: every word this invocation reads in the round, as independent loads
    // (one round trip to memory per round; loads interleaved with their use left the H100 at
    // ~0.5 TB/s: one 4-byte load in flight per invocation, bench/README.md)
    var km: array<u32, 8>;
    var kw: array<u32, FOLD_LPT>;
    var vm: array<u32, FOLD_LPT>;
    var vw: array<u32, FOLD_LPT>;
    if (live) {
      for (var i = 0u; i < 8u; i = i + 1u) { km[i] = pages[kbase + c0 + i]; }
      let kcodes = kbase + HEAD_DIM;
      let vcodes = vbase + v_codes;
      for (var i = 0u; i < FOLD_LPT; i = i + 1u) {
        let t = tg + TG * i;
        kw[i] = pages[kcodes + fold_word(t, c0, K_BITS)];
        vm[i] = pages[vbase + t * v_groups + c0 / 32u];
        vw[i] = pages[vcodes + fold_word(t, c0, V_BITS)];
      }
    }
    // ---- keys: fold (s, z) of channels c0..c0+7 into the queries, then partial dots
    if (live) {
      var s_lo: vec4<f32>; var s_hi: vec4<f32>; var z_lo: vec4<f32>; var z_hi: vec4<f32>;
      for (var i = 0u; i < 4u; i = i + 1u) {
        let a = unpack2x16float(km[i]);
        let b = unpack2x16float(km[4u + i]);
        s_lo[i] = a.x; z_lo[i] = a.y; s_hi[i] = b.x; z_hi[i] = b.y;
      }
      s_lo = s_lo * k_lo;
      s_hi = s_hi * k_hi;
      var q0 = Codes8(q_sh[qv] * s_lo, q_sh[qv + 1u] * s_hi);
      var b0 = dot(q_sh[qv], z_lo) + dot(q_sh[qv + 1u], z_hi);
      var q1 = q0; var q2 = q0; var q3 = q0;
      var b1 = b0; var b2 = b0; var b3 = b0;
      let hq = HEAD_DIM / 4u;
      if (FOLD_G > 1u) { q1 = Codes8(q_sh[hq + qv] * s_lo, q_sh[hq + qv + 1u] * s_hi); b1 = dot(q_sh[hq + qv], z_lo) + dot(q_sh[hq + qv + 1u], z_hi); }
      if (FOLD_G > 2u) { q2 = Codes8(q_sh[2u * hq + qv] * s_lo, q_sh[2u * hq + qv + 1u] * s_hi); b2 = dot(q_sh[2u * hq + qv], z_lo) + dot(q_sh[2u * hq + qv + 1u], z_hi); }
      if (FOLD_G > 3u) { q3 = Codes8(q_sh[3u * hq + qv] * s_lo, q_sh[3u * hq + qv + 1u] * s_hi); b3 = dot(q_sh[3u * hq + qv], z_lo) + dot(q_sh[3u * hq + qv + 1u], z_hi); }
      for (var i = 0u; i < FOLD_LPT; i = i + 1u) {
        let t = tg + TG * i;
        let f = fold_codes(kw[i], k_sh, K_BITS);
        let ri = (rb * TILE_TOKENS + t) * FOLD_RS + k;
        let hs = TILE_TOKENS * FOLD_RS;
        red[ri] = dot(q0.lo, f.lo) + dot(q0.hi, f.hi) + b0;
        if (FOLD_G > 1u) { red[ri + hs] = dot(q1.lo, f.lo) + dot(q1.hi, f.hi) + b1; }
        if (FOLD_G > 2u) { red[ri + 2u * hs] = dot(q2.lo, f.lo) + dot(q2.hi, f.hi) + b2; }
        if (FOLD_G > 3u) { red[ri + 3u * hs] = dot(q3.lo, f.lo) + dot(q3.hi, f.hi) + b3; }
      }
    }
    workgroupBarrier();
    // ---- scores: invocation `lane` sums token `lane`'s FOLD_LPT partials, for each head
    if (live) {
      for (var j = 0u; j < FOLD_G; j = j + 1u) {
        let ri = ((rb + j) * TILE_TOKENS + lane) * FOLD_RS;
        var s = 0.0;
        for (var u = 0u; u < FOLD_LPT; u = u + 1u) { s = s + red[ri + u]; }
        sc[(rb + j) * TILE_TOKENS + lane] = select(NEG_INF, s, lane < valid);
      }
    }
    workgroupBarrier();
    // ---- values: own online softmax over this invocation's tokens, then fold p s into codes
    if (live) {
      let sb = rb * TILE_TOKENS;
      var t0 = m0; var t1 = m1; var t2 = m2; var t3 = m3;
      for (var i = 0u; i < FOLD_LPT; i = i + 1u) {
        let t = sb + tg + TG * i;
        t0 = max(t0, sc[t]);
        if (FOLD_G > 1u) { t1 = max(t1, sc[t + TILE_TOKENS]); }
        if (FOLD_G > 2u) { t2 = max(t2, sc[t + 2u * TILE_TOKENS]); }
        if (FOLD_G > 3u) { t3 = max(t3, sc[t + 3u * TILE_TOKENS]); }
      }
      // rescale the running state to the new max (exp(NEG_INF - finite) = 0)
      var c = exp(m0 - t0); l0 = l0 * c; z0 = z0 * c; a0.lo = a0.lo * c; a0.hi = a0.hi * c; m0 = t0;
      if (FOLD_G > 1u) { c = exp(m1 - t1); l1 = l1 * c; z1 = z1 * c; a1.lo = a1.lo * c; a1.hi = a1.hi * c; m1 = t1; }
      if (FOLD_G > 2u) { c = exp(m2 - t2); l2 = l2 * c; z2 = z2 * c; a2.lo = a2.lo * c; a2.hi = a2.hi * c; m2 = t2; }
      if (FOLD_G > 3u) { c = exp(m3 - t3); l3 = l3 * c; z3 = z3 * c; a3.lo = a3.lo * c; a3.hi = a3.hi * c; m3 = t3; }
      for (var i = 0u; i < FOLD_LPT; i = i + 1u) {
        let tt = tg + TG * i;
        if (tt < valid) {
          let t = sb + tt;
          let sz = unpack2x16float(vm[i]);
          let f = fold_codes(vw[i], v_sh, V_BITS);
          var p = exp(sc[t] - m0); l0 = l0 + p; z0 = z0 + p * sz.y; var w = p * sz.x;
          a0.lo = a0.lo + w * f.lo; a0.hi = a0.hi + w * f.hi;
          if (FOLD_G > 1u) { p = exp(sc[t + TILE_TOKENS] - m1); l1 = l1 + p; z1 = z1 + p * sz.y; w = p * sz.x; a1.lo = a1.lo + w * f.lo; a1.hi = a1.hi + w * f.hi; }
          if (FOLD_G > 2u) { p = exp(sc[t + 2u * TILE_TOKENS] - m2); l2 = l2 + p; z2 = z2 + p * sz.y; w = p * sz.x; a2.lo = a2.lo + w * f.lo; a2.hi = a2.hi + w * f.hi; }
          if (FOLD_G > 3u) { p = exp(sc[t + 3u * TILE_TOKENS] - m3); l3 = l3 + p; z3 = z3 + p * sz.y; w = p * sz.x; a3.lo = a3.lo + w * f.lo; a3.hi = a3.hi + w * f.hi; }
        }
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
    var m = m0; var l = l0; var z = z0; var a = a0;
    if (j == 1u) { m = m1; l = l1; z = z1; a = a1; }
    else if (j == 2u) { m = m2; l = l2; z = z2; a = a2; }
    else if (j == 3u) { m = m3; l = l3; z = z3; a = a3; }
    workgroupBarrier();
    if (k == 0u) {
      ms[row * TG + tg] = m;
      ls[row * TG + tg] = l;
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
