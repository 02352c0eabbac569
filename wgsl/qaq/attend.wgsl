// QAQ fused decode attention over a sequence's packed records (ts/codecs/qaq/attend.ts is the
// oracle). One workgroup per (KV head, split of consecutive tiles, block of up to QAQ_MAX_G query
// heads of the GQA group): it folds its tiles into a partial softmax state (m, l, acc) per query
// head; the host merges the splits with the fp32 tail (QaqKvCache). Keys: invocation t < 32
// decodes token t's row on the fly into dot products with every query head of the block
// (outliers applied as corrections, same pass). Values: invocation c owns channels c, c + WG...
// and accumulates all 32 tokens, outliers of a token looked up in its few outlier words.
// Composed after constants.wgsl, common/f16.wgsl and qaq/record.wgsl.

override HEAD_DIM: u32;
override N_HEADS: u32;
// Query heads per KV head.
override GROUP: u32;
// Record groups per tile (nKvHeads for level head, 1 for level layer) and their row width.
override GROUPS: u32;
override ROW_WIDTH: u32;
override OUTLIERS: u32;

const QAQ_MAX_G: u32 = 8u;
const WG: u32 = 64u;
const NEG_INF: f32 = -3.0e38; // finite stand-in: exp(NEG_INF - m) is 0 without inf - inf

@group(0) @binding(0) var<storage, read> pages: array<u32>;
// record word addresses, (tile * GROUPS + group) * 2 + stream
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
// [0] tiles, [1] tiles per split, then queries (f32 bits) [N_HEADS][HEAD_DIM] from word 4
@group(0) @binding(2) var<storage, read> job: array<u32>;
// split s, head h: m at (s * N_HEADS + h) * (HEAD_DIM + 2), then l, then acc[HEAD_DIM]
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

var<workgroup> q_sh: array<f32, 2048>; // QAQ_MAX_G * MAX_HEAD_DIM
var<workgroup> probs: array<f32, 256>; // QAQ_MAX_G * TILE_TOKENS
var<workgroup> m_run: array<f32, 8>;
var<workgroup> l_run: array<f32, 8>;
var<workgroup> corr: array<f32, 8>;
var<workgroup> v_bit: array<u32, 32>;
var<workgroup> v_width: array<u32, 32>;
var<workgroup> v_scale: array<f32, 32>;
var<workgroup> v_zero: array<f32, 32>;

@compute @workgroup_size(64)
fn attend_qaq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let kv_head = wg.x;
  let split = wg.y;
  let g0 = wg.z * QAQ_MAX_G;
  let ng = min(QAQ_MAX_G, GROUP - g0);
  let h0 = kv_head * GROUP + g0;
  let tiles = job[0];
  let per = job[1];
  let first = split * per;
  let last = min(tiles, first + per);
  let group_rec = select(kv_head, 0u, GROUPS == 1u);
  let col0 = select(0u, kv_head * HEAD_DIM, GROUPS == 1u);
  let scale = inverseSqrt(f32(HEAD_DIM));

  for (var i = lid; i < ng * HEAD_DIM; i = i + WG) {
    q_sh[i] = bitcast<f32>(job[4u + h0 * HEAD_DIM + i]) * scale;
  }
  if (lid < QAQ_MAX_G) {
    m_run[lid] = NEG_INF;
    l_run[lid] = 0.0;
  }
  // value accumulators: channels lid, lid + WG, ... (HEAD_DIM <= 256: at most 4) per head
  var acc: array<f32, 32>; // QAQ_MAX_G * 4
  for (var i = 0u; i < 32u; i = i + 1u) { acc[i] = 0.0; }
  workgroupBarrier();

  for (var tile = first; tile < last; tile = tile + 1u) {
    let r = (tile * GROUPS + group_rec) * 2u;
    let krec = offsets[r];
    let vrec = offsets[r + 1u];
    if (lid < TILE_TOKENS) {
      let t = lid;
      // key row of token t: decode and dot with every query head of the block
      let b = qaq_width(krec, t);
      let kmeta = pages[krec + QAQ_META + t];
      let ks = f16_bits_to_f32(kmeta);
      let kz = f16_bits_to_f32(kmeta >> 16u);
      let base = qaq_code_base(krec);
      var bit = qaq_first_bit(krec, t) + col0 * b;
      var dots: array<f32, 8>;
      for (var j = 0u; j < QAQ_MAX_G; j = j + 1u) { dots[j] = 0.0; }
      for (var c = 0u; c < HEAD_DIM; c = c + 1u) {
        let x = f32(qaq_code(base, bit, b)) * ks + kz;
        bit = bit + b;
        for (var j = 0u; j < ng; j = j + 1u) { dots[j] = dots[j] + q_sh[j * HEAD_DIM + c] * x; }
      }
      // outliers: replace the decoded value by the stored one
      for (var o = 0u; o < OUTLIERS; o = o + 1u) {
        let w = pages[krec + QAQ_OUTLIERS + t * OUTLIERS + o];
        let col = w & 0xffffu;
        if (col >= col0 && col < col0 + HEAD_DIM) {
          let c = col - col0;
          let decoded = f32(qaq_code(base, qaq_first_bit(krec, t) + col * b, b)) * ks + kz;
          let delta = f16_bits_to_f32(w >> 16u) - decoded;
          for (var j = 0u; j < ng; j = j + 1u) { dots[j] = dots[j] + q_sh[j * HEAD_DIM + c] * delta; }
        }
      }
      for (var j = 0u; j < ng; j = j + 1u) { probs[j * TILE_TOKENS + t] = dots[j]; }
      // value row metadata of token t for the value pass
      let vb = qaq_width(vrec, t);
      let vm = pages[vrec + QAQ_META + t];
      v_width[t] = vb;
      v_bit[t] = qaq_first_bit(vrec, t) + col0 * vb;
      v_scale[t] = f16_bits_to_f32(vm);
      v_zero[t] = f16_bits_to_f32(vm >> 16u);
    }
    workgroupBarrier();
    if (lid < ng) {
      var mt = m_run[lid];
      for (var t = 0u; t < TILE_TOKENS; t = t + 1u) { mt = max(mt, probs[lid * TILE_TOKENS + t]); }
      corr[lid] = exp(m_run[lid] - mt);
      var ls = 0.0;
      for (var t = 0u; t < TILE_TOKENS; t = t + 1u) {
        let p = exp(probs[lid * TILE_TOKENS + t] - mt);
        probs[lid * TILE_TOKENS + t] = p;
        ls = ls + p;
      }
      l_run[lid] = l_run[lid] * corr[lid] + ls;
      m_run[lid] = mt;
    }
    workgroupBarrier();
    let vbase = qaq_code_base(vrec);
    var slot = 0u;
    for (var c = lid; c < HEAD_DIM; c = c + WG) {
      for (var j = 0u; j < ng; j = j + 1u) { acc[j * 4u + slot] = acc[j * 4u + slot] * corr[j]; }
      for (var t = 0u; t < TILE_TOKENS; t = t + 1u) {
        let b = v_width[t];
        var x = f32(qaq_code(vbase, v_bit[t] + c * b, b)) * v_scale[t] + v_zero[t];
        for (var o = 0u; o < OUTLIERS; o = o + 1u) {
          let w = pages[vrec + QAQ_OUTLIERS + t * OUTLIERS + o];
          if ((w & 0xffffu) == col0 + c) { x = f16_bits_to_f32(w >> 16u); }
        }
        for (var j = 0u; j < ng; j = j + 1u) {
          acc[j * 4u + slot] = acc[j * 4u + slot] + probs[j * TILE_TOKENS + t] * x;
        }
      }
      slot = slot + 1u;
    }
    workgroupBarrier(); // probs and v_* are rewritten by the next tile
  }

  var slot = 0u;
  for (var c = lid; c < HEAD_DIM; c = c + WG) {
    for (var j = 0u; j < ng; j = j + 1u) {
      partials[((split * N_HEADS) + h0 + j) * (HEAD_DIM + 2u) + 2u + c] = acc[j * 4u + slot];
    }
    slot = slot + 1u;
  }
  if (lid < ng) {
    let o = ((split * N_HEADS) + h0 + lid) * (HEAD_DIM + 2u);
    partials[o] = m_run[lid];
    partials[o + 1u] = l_run[lid];
  }
}
