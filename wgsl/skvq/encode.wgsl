// SKVQ quantize-on-append (docs/codecs/skvq.md s.2; mirror of ts/codecs/skvq/codec.ts): per token
// block b and channel group j, lo = alpha*min, hi = alpha*max over the group's elements,
// zero = f16(lo), scale = f16((hi - lo) * f32(1/L)); code = number of k < L with
// (x - zero) >= (k + 0.5) * scale. Only +, -, * and compares, which WGSL rounds correctly, so the
// words equal the TS reference's without emulating division. Params at PARAMS (see attend.wgsl).

// (32/m) * C groups per tile: at most 32 * 16 (C <= d/16 for head_dim <= 256).
var<workgroup> skvq_meta: array<u32, 512>;

fn skvq_inv_steps(levels: u32) -> f32 {
  // f32(1 / L) for L = levels - 1 = 2, 3, 15, written as bits, since WGSL's division is not correctly rounded
  if (levels == 3u) { return 0.5; }
  if (levels == 4u) { return bitcast<f32>(0x3eaaaaabu); }
  return bitcast<f32>(0x3d888889u);
}

fn skvq_code(x: f32, mw: u32, levels: u32) -> u32 {
  let sz = unpack2x16float(mw);
  if (sz.x == 0.0) { return 0u; }
  let dx = x - sz.y;
  var q = 0u;
  for (var k = 0u; k + 1u < levels; k = k + 1u) {
    if (dx >= (f32(k) + 0.5) * sz.x) { q = q + 1u; }
  }
  return q;
}

fn skvq_encode(wg: vec3<u32>, lid: u32, value: bool) {
  enc_begin(wg, value);
  let levels = params[PARAMS];
  let C = params[PARAMS + 1u];
  let m = params[PARAMS + 2u];
  let alpha = bitcast<f32>(params[PARAMS + 3u]);
  let hb = PARAMS + 4u + enc_head * (2u * HEAD_DIM + C + 1u);
  let gs = hb + HEAD_DIM;
  let slots = gs + C + 1u;
  let groups = (TILE_TOKENS / m) * C;
  for (var g = lid; g < groups; g = g + ENC_WG) {
    let b = g / C;
    let j = g % C;
    var mn = 3.0e38;
    var mx = -3.0e38;
    var first = true;
    for (var t = b * m; t < (b + 1u) * m; t = t + 1u) {
      for (var p = params[gs + j]; p < params[gs + j + 1u]; p = p + 1u) {
        let v = enc_in(t, params[hb + p]);
        // strict compares as the TS reference (min/max builtins may pick either signed zero)
        if (first || v < mn) { mn = v; }
        if (first || v > mx) { mx = v; }
        first = false;
      }
    }
    let lo = alpha * mn;
    let hi = alpha * mx;
    let mw = meta_f16_bits((hi - lo) * skvq_inv_steps(levels)) | (meta_f16_bits(lo) << 16u);
    skvq_meta[g] = mw;
    enc_out(g, mw);
  }
  workgroupBarrier();
  let n = TILE_TOKENS * HEAD_DIM;
  if (levels == 3u) {
    let words = (n + 19u) / 20u;
    for (var w = lid; w < words; w = w + ENC_WG) {
      var word = 0u;
      for (var byte = 0u; byte < 4u; byte = byte + 1u) {
        var v = 0u;
        var pw = 1u;
        for (var i = 0u; i < 5u; i = i + 1u) {
          let e = w * 20u + byte * 5u + i;
          if (e < n) {
            let t = e / HEAD_DIM;
            let c = params[hb + e % HEAD_DIM];
            let j = params[slots + c] >> 16u;
            v = v + skvq_code(enc_in(t, c), skvq_meta[(t / m) * C + j], levels) * pw;
          }
          pw = pw * 3u;
        }
        word = word | (v << (8u * byte));
      }
      enc_out(groups + w, word);
    }
  } else {
    let bits = select(4u, 2u, levels == 4u);
    let per_word = 32u / bits;
    for (var w = lid; w < bits * HEAD_DIM; w = w + ENC_WG) {
      var word = 0u;
      for (var k = 0u; k < per_word; k = k + 1u) {
        let e = w * per_word + k;
        let t = e / HEAD_DIM;
        let c = params[hb + e % HEAD_DIM];
        let j = params[slots + c] >> 16u;
        word = word | (skvq_code(enc_in(t, c), skvq_meta[(t / m) * C + j], levels) << (k * bits));
      }
      enc_out(groups + w, word);
    }
  }
}

@compute @workgroup_size(ENC_WG)
fn encode_key(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  skvq_encode(wg, lid, false);
}

@compute @workgroup_size(ENC_WG)
fn encode_value(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  skvq_encode(wg, lid, true);
}
