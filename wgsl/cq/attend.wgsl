// CQ decode attention by lookup tables (paper Sec. 3.4; docs/codecs/cq.md), never dequantizing:
// flash-decoding over splits of SPLIT_TOKENS = 256 * TPT tokens of one sequence, one workgroup per
// (split, query head); cq_attend_fp writes the fp32 rows' (sinks + tail) partial as split n_splits.
// Keys: the table T[g][k] = q_g . C_g[k] (q pre-scaled by 1/sqrt(d)) lives in workgroup memory,
// LUT_CAP floats, built for as many groups at a time as fit; each invocation adds T[g][code] for
// its TPT tokens. Values: each token's weight p = exp(s - m_split) (in [0, 1]) is added to a
// per-group histogram over codes in workgroup memory, as fixed point (u32 atomics: f32 atomics do
// not exist in WGSL; integer sums are exact and independent of scheduling); then
// out[g*c + i] = sum_k H[g][k] C_g[k][i] once per split. cq_merge combines the splits' (m, l, acc).
// Prepended by the host: wgsl/constants.wgsl, wgsl/cq/common.wgsl.

override HEAD_DIM: u32;
override GROUP: u32;      // query heads per KV head
override TPT: u32 = 8u;   // tokens per invocation in a split (<= 32)

const WG: u32 = 256u;
// Floats of lookup table (and u32 histogram bins) per chunk of groups: 2^b <= LUT_CAP, so b <= 10.
// 2 x 4 KiB keeps the workgroup within WebGPU's default 16 KiB (compatibility mode included).
const LUT_CAP: u32 = 1024u;
const NEG_INF: f32 = -3.0e38;

@group(0) @binding(0) var<storage, read> pages: array<u32>;
@group(0) @binding(1) var<storage, read> kparams: array<u32>;
@group(0) @binding(2) var<storage, read> vparams: array<u32>;
// fp32 rows of the sequence: [sinkK | tailK | sinkV | tailV], each [rows][nKvHeads][HEAD_DIM]
@group(0) @binding(3) var<storage, read> fp: array<f32>;
@group(0) @binding(4) var<storage, read> q: array<f32>;
// partial of (head h, split s) at (h * (n_splits + 1) + s) * (HEAD_DIM + 2): m, l, acc[HEAD_DIM]
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;
// [tiles, sinks, tail, slot words, key tile words, value tile words, n_splits, n_kv_heads]
@group(0) @binding(6) var<storage, read> info: array<u32>;

var<workgroup> lut: array<f32, LUT_CAP>;
var<workgroup> hist: array<atomic<u32>, LUT_CAP>;
var<workgroup> red: array<f32, WG>;
var<workgroup> q_sh: array<f32, MAX_HEAD_DIM>;
var<workgroup> m_sh: f32;
var<workgroup> l_sh: f32;

fn book(p: u32, head: u32, g: u32, k: u32, i: u32, G: u32, K: u32, c: u32) -> f32 {
  let f = ((head * G + g) * K + k) * c + i;
  if (p == 0u) {
    if (kparams[2] == 1u) { return bitcast<f32>(kparams[4u + f]); }
    let w = kparams[4u + (f >> 1u)];
    return cq_f16_to_f32(select(w & 0xffffu, w >> 16u, (f & 1u) == 1u));
  }
  if (vparams[2] == 1u) { return bitcast<f32>(vparams[4u + f]); }
  let w = vparams[4u + (f >> 1u)];
  return cq_f16_to_f32(select(w & 0xffffu, w >> 16u, (f & 1u) == 1u));
}

fn reduce_max(lid: u32, x: f32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduce_sum(lid: u32, x: f32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn partial_base(h: u32, split: u32) -> u32 {
  return (h * (info[6] + 1u) + split) * (HEAD_DIM + 2u);
}

// The fp32 rows: online softmax over chunks of WG rows; invocation lid < HEAD_DIM owns channel lid.
fn attend_fp(lid: u32, h: u32, kvh: u32) {
  let n_kv = info[7];
  let sinks = info[1];
  let rows = sinks + info[2];
  let row_floats = n_kv * HEAD_DIM;
  let v_off = rows * row_floats;
  var acc = 0.0;
  if (lid == 0u) { m_sh = NEG_INF; l_sh = 0.0; }
  workgroupBarrier();
  for (var r0 = 0u; r0 < rows; r0 = r0 + WG) {
    let r = r0 + lid;
    var s = NEG_INF;
    if (r < rows) {
      s = 0.0;
      let ko = r * row_floats + kvh * HEAD_DIM;
      for (var i = 0u; i < HEAD_DIM; i = i + 1u) { s = s + q_sh[i] * fp[ko + i]; }
    }
    let m_chunk = reduce_max(lid, s);
    let m_old = m_sh;
    let m_new = max(m_old, m_chunk);
    var p = 0.0;
    if (r < rows) { p = exp(s - m_new); }
    // m_old is NEG_INF on the first chunk: exp of a huge negative argument is not reliably 0 on
    // every driver, so the first chunk's correction is set explicitly
    let corr = select(exp(m_old - m_new), 0.0, r0 == 0u);
    lut[lid] = p; // not `red`: reduce_max's last reads of red[0] race with it on some drivers
    workgroupBarrier();
    let n = min(WG, rows - r0);
    if (lid < HEAD_DIM) {
      acc = acc * corr;
      for (var t = 0u; t < n; t = t + 1u) {
        acc = acc + lut[t] * fp[v_off + (r0 + t) * row_floats + kvh * HEAD_DIM + lid];
      }
    }
    if (lid == 0u) {
      var l_chunk = 0.0;
      for (var t = 0u; t < n; t = t + 1u) { l_chunk = l_chunk + lut[t]; }
      m_sh = m_new;
      l_sh = l_sh * corr + l_chunk;
    }
    workgroupBarrier();
  }
  let base = partial_base(h, info[6]);
  if (lid == 0u) { partials[base] = m_sh; partials[base + 1u] = l_sh; }
  if (lid < HEAD_DIM) { partials[base + 2u + lid] = acc; }
}

@compute @workgroup_size(WG)
fn cq_attend(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wg.x;
  let h = wg.y;
  let kvh = h / GROUP;
  let scale = inverseSqrt(f32(HEAD_DIM));
  for (var i = lid; i < HEAD_DIM; i = i + WG) { q_sh[i] = q[h * HEAD_DIM + i] * scale; }
  workgroupBarrier();
  let n_tok = info[0] * TILE_TOKENS;
  let slot = info[3];
  let kw = info[4];
  let tok0 = split * WG * TPT;

  // ---- keys: scores by lookup tables, groups in chunks that fit LUT_CAP
  let kc = kparams[0];
  let kb = kparams[1];
  let KG = HEAD_DIM / kc;
  let KK = 1u << kb;
  let kchunk = max(1u, LUT_CAP / KK);
  var sc: array<f32, 32>; // TPT <= 32
  for (var r = 0u; r < TPT; r = r + 1u) { sc[r] = 0.0; }
  for (var g0 = 0u; g0 < KG; g0 = g0 + kchunk) {
    let ng = min(kchunk, KG - g0);
    for (var e = lid; e < ng * KK; e = e + WG) {
      let g = g0 + e / KK;
      let k = e % KK;
      var d = 0.0;
      for (var i = 0u; i < kc; i = i + 1u) { d = d + q_sh[g * kc + i] * book(0u, kvh, g, k, i, KG, KK, kc); }
      lut[e] = d;
    }
    workgroupBarrier();
    for (var r = 0u; r < TPT; r = r + 1u) {
      let t = tok0 + r * WG + lid;
      if (t < n_tok) {
        let kbase = (t / TILE_TOKENS) * slot + kvh * (kw + info[5]);
        let tt = t % TILE_TOKENS;
        for (var g = g0; g < g0 + ng; g = g + 1u) {
          sc[r] = sc[r] + lut[(g - g0) * KK + cq_read_code(kbase, tt * KG + g, kb)];
        }
      }
    }
    workgroupBarrier();
  }

  // ---- softmax within the split
  var mx = NEG_INF;
  for (var r = 0u; r < TPT; r = r + 1u) {
    if (tok0 + r * WG + lid < n_tok) { mx = max(mx, sc[r]); }
  }
  let m = reduce_max(lid, mx);
  var ls = 0.0;
  for (var r = 0u; r < TPT; r = r + 1u) {
    let p = select(0.0, exp(sc[r] - m), tok0 + r * WG + lid < n_tok);
    sc[r] = p;
    ls = ls + p;
  }
  let l = reduce_sum(lid, ls);

  // ---- values: fixed-point histogram of weights over codes, then centroids once
  let vc = vparams[0];
  let vb = vparams[1];
  let VG = HEAD_DIM / vc;
  let VK = 1u << vb;
  let vchunk = max(1u, LUT_CAP / VK);
  // p <= 1 and a split has at most WG * TPT tokens, so every bin fits in u32 with this scale
  let fix = 2147483648.0 / f32(WG * TPT);
  let base = partial_base(h, split);
  for (var g0 = 0u; g0 < VG; g0 = g0 + vchunk) {
    let ng = min(vchunk, VG - g0);
    for (var e = lid; e < ng * VK; e = e + WG) { atomicStore(&hist[e], 0u); }
    workgroupBarrier();
    for (var r = 0u; r < TPT; r = r + 1u) {
      let t = tok0 + r * WG + lid;
      if (t < n_tok) {
        let vbase = (t / TILE_TOKENS) * slot + kvh * (kw + info[5]) + kw;
        let tt = t % TILE_TOKENS;
        let w = u32(sc[r] * fix + 0.5);
        for (var g = g0; g < g0 + ng; g = g + 1u) {
          atomicAdd(&hist[(g - g0) * VK + cq_read_code(vbase, tt * VG + g, vb)], w);
        }
      }
    }
    workgroupBarrier();
    for (var o = lid; o < ng * vc; o = o + WG) {
      let g = g0 + o / vc;
      let i = o % vc;
      var s = 0.0;
      for (var k = 0u; k < VK; k = k + 1u) {
        let n = atomicLoad(&hist[(g - g0) * VK + k]);
        if (n != 0u) { s = s + f32(n) * book(1u, kvh, g, k, i, VG, VK, vc); }
      }
      partials[base + 2u + g * vc + i] = s / fix;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    partials[base] = select(NEG_INF, m, tok0 < n_tok);
    partials[base + 1u] = l;
  }
}

// The fp32 rows' partial (split index n_splits): its own entry point, so that no barrier sits
// under a branch (one workgroup per query head).
@compute @workgroup_size(WG)
fn cq_attend_fp(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let scale = inverseSqrt(f32(HEAD_DIM));
  for (var i = lid; i < HEAD_DIM; i = i + WG) { q_sh[i] = q[h * HEAD_DIM + i] * scale; }
  workgroupBarrier();
  attend_fp(lid, h, h / GROUP);
}

// out[h][i] = sum_s acc_s[i] e^(m_s - M) / sum_s l_s e^(m_s - M); one workgroup per query head.
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn cq_merge(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let n = info[6] + 1u;
  var M = NEG_INF;
  for (var s = 0u; s < n; s = s + 1u) { M = max(M, partials[partial_base(h, s)]); }
  var L = 0.0;
  var a = 0.0;
  for (var s = 0u; s < n; s = s + 1u) {
    let b = partial_base(h, s);
    let w = exp(partials[b] - M);
    L = L + partials[b + 1u] * w;
    if (lid < HEAD_DIM) { a = a + partials[b + 2u + lid] * w; }
  }
  if (lid < HEAD_DIM) { out[h * HEAD_DIM + lid] = a / L; }
}
