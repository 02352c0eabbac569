// q8_0 (docs/FORMAT.md "q8_0", ts/codecs/q8_0/index.ts): per 32-element block s = f16(amax / 127),
// codes clamp(floor(x / s + 0.5), -127, 127), 0 where s = 0. Phase 1: one invocation per
// block computes its scale; phase 2: one invocation per output word.
var<workgroup> scale_bits: array<u32, MAX_HEAD_DIM>; // blocks per tile = HEAD_DIM

fn q8_0_encode(lid: u32) {
  let blocks = HEAD_DIM;
  for (var b = lid; b < blocks; b = b + ENC_WG) {
    var amax = 0.0;
    for (var i = 0u; i < 32u; i = i + 1u) { amax = max(amax, abs(enc_in_e(b * 32u + i))); }
    scale_bits[b] = meta_f16_bits(div_rn(amax, 127.0));
  }
  workgroupBarrier();
  for (var w = lid; w < blocks / 2u; w = w + ENC_WG) {
    enc_out(w, scale_bits[2u * w] | (scale_bits[2u * w + 1u] << 16u));
  }
  for (var w = lid; w < TILE_TOKENS * HEAD_DIM / 4u; w = w + ENC_WG) {
    let s = f16_bits_to_f32(scale_bits[w / 8u]); // 8 code words per block
    var word = 0u;
    for (var k = 0u; k < 4u; k = k + 1u) {
      var code = 0.0;
      if (s != 0.0) {
        code = clamp(floor(div_rn(enc_in_e(4u * w + k), s) + 0.5), -127.0, 127.0);
      }
      word = word | ((u32(i32(code)) & 0xffu) << (8u * k));
    }
    enc_out(blocks / 2u + w, word);
  }
}
@compute @workgroup_size(ENC_WG)
fn encode_key(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  enc_begin(wg, false);
  q8_0_encode(lid);
}
@compute @workgroup_size(ENC_WG)
fn encode_value(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  enc_begin(wg, true);
  q8_0_encode(lid);
}
