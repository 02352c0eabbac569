// q4_0 (docs/FORMAT.md "q4_0", ts/codecs/q4_0/index.ts): per 32-element block s = f16(m / -8), m the
// element of largest magnitude (first on ties), codes clamp(floor(x / s + 8.5), 0, 15), 8
// where s = 0; nibble e at bits 4 (e % 8) of code word e / 8.
var<workgroup> scale_bits: array<u32, MAX_HEAD_DIM>; // blocks per tile = HEAD_DIM

fn q4_0_encode(lid: u32) {
  let blocks = HEAD_DIM;
  for (var b = lid; b < blocks; b = b + ENC_WG) {
    var amax = 0.0;
    var m = 0.0;
    for (var i = 0u; i < 32u; i = i + 1u) {
      let v = enc_in_e(b * 32u + i);
      if (abs(v) > amax) {
        amax = abs(v);
        m = v;
      }
    }
    scale_bits[b] = meta_f16_bits(div_rn(m, -8.0));
  }
  workgroupBarrier();
  for (var w = lid; w < blocks / 2u; w = w + ENC_WG) {
    enc_out(w, scale_bits[2u * w] | (scale_bits[2u * w + 1u] << 16u));
  }
  for (var w = lid; w < TILE_TOKENS * HEAD_DIM / 8u; w = w + ENC_WG) {
    let s = f16_bits_to_f32(scale_bits[w / 4u]); // 4 code words per block
    var word = 0u;
    for (var k = 0u; k < 8u; k = k + 1u) {
      var code = 8.0;
      if (s != 0.0) {
        code = clamp(floor(div_rn(enc_in_e(8u * w + k), s) + 8.5), 0.0, 15.0);
      }
      word = word | (u32(code) << (4u * k));
    }
    enc_out(blocks / 2u + w, word);
  }
}
@compute @workgroup_size(ENC_WG)
fn encode_key(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  enc_begin(wg, false);
  q4_0_encode(lid);
}
@compute @workgroup_size(ENC_WG)
fn encode_value(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  enc_begin(wg, true);
  q4_0_encode(lid);
}
