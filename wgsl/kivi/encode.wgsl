// KIVI (docs/FORMAT.md "KIVI", ts/codecs/kivi/index.ts + uniform.ts): per group zero = f16(lo),
// scale = f16((hi - lo) / (2^b - 1)) with [lo, hi] = [min, max] (clip ratio 1, computed as
// uniform.ts clipRange does so -0 becomes +0 the same way), codes
// clamp(floor((x - zero) / scale + 0.5), 0, 2^b - 1), 0 where scale = 0.
// Keys: group = channel c over the tile's 32 tokens. Values: G = min(32, d) channels of a token.
var<workgroup> meta_bits: array<u32, MAX_HEAD_DIM>; // groups per tile <= 256 for both streams

fn kivi_group_meta(mn: f32, mx: f32) -> u32 {
  // clipRange with alpha = 1: cut = (mx - mn) * 0 = +0; lo = mn + 0 maps -0 to +0
  let lo = select(mn, 0.0, mn == 0.0);
  let hi = mx;
  let top = f32((1u << BITS) - 1u);
  let zero_bits = meta_f16_bits(lo);
  let scale_bits = meta_f16_bits(div_rn(hi - lo, top));
  return scale_bits | (zero_bits << 16u);
}

fn kivi_code(x: f32, group_meta: u32) -> u32 {
  let sz = unpack2x16float(group_meta);
  if (sz.x == 0.0) {
    return 0u;
  }
  let top = f32((1u << BITS) - 1u);
  return u32(clamp(floor(div_rn(x - sz.y, sz.x) + 0.5), 0.0, top));
}

fn kivi_codes(lid: u32, meta_words: u32, key: bool) {
  let per_word = 32u / BITS;
  let g = min(32u, HEAD_DIM);
  for (var w = lid; w < BITS * HEAD_DIM; w = w + ENC_WG) {
    var word = 0u;
    for (var k = 0u; k < per_word; k = k + 1u) {
      let e = w * per_word + k;
      let grp = select(e / g, e % HEAD_DIM, key);
      word = word | (kivi_code(enc_in_e(e), meta_bits[grp]) << (k * BITS));
    }
    enc_out(meta_words + w, word);
  }
}

@compute @workgroup_size(ENC_WG)
fn encode_key(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  enc_begin(wg, false);
  for (var c = lid; c < HEAD_DIM; c = c + ENC_WG) {
    var mn = enc_in(0u, c);
    var mx = mn;
    for (var t = 1u; t < TILE_TOKENS; t = t + 1u) {
      let v = enc_in(t, c);
      // strict compares as uniform.ts (min/max builtins may pick either signed zero)
      if (v < mn) { mn = v; }
      if (v > mx) { mx = v; }
    }
    meta_bits[c] = kivi_group_meta(mn, mx);
    enc_out(c, meta_bits[c]);
  }
  workgroupBarrier();
  kivi_codes(lid, HEAD_DIM, true);
}

@compute @workgroup_size(ENC_WG)
fn encode_value(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  enc_begin(wg, true);
  let g = min(32u, HEAD_DIM);
  let groups = TILE_TOKENS * HEAD_DIM / g;
  for (var i = lid; i < groups; i = i + ENC_WG) {
    var mn = enc_in_e(i * g);
    var mx = mn;
    for (var k = 1u; k < g; k = k + 1u) {
      let v = enc_in_e(i * g + k);
      if (v < mn) { mn = v; }
      if (v > mx) { mx = v; }
    }
    meta_bits[i] = kivi_group_meta(mn, mx);
    enc_out(i, meta_bits[i]);
  }
  workgroupBarrier();
  kivi_codes(lid, groups, false);
}
