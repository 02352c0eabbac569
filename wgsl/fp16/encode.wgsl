// fp16: word i = f16 pair (element 2i, element 2i+1), saturating at +-65504 (docs/FORMAT.md).
fn fp16_encode(lid: u32) {
  for (var w = lid; w < TILE_TOKENS * HEAD_DIM / 2u; w = w + ENC_WG) {
    enc_out(w, meta_f16_bits(enc_in_e(2u * w)) | (meta_f16_bits(enc_in_e(2u * w + 1u)) << 16u));
  }
}
@compute @workgroup_size(ENC_WG)
fn encode_key(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  enc_begin(wg, false);
  fp16_encode(lid);
}
@compute @workgroup_size(ENC_WG)
fn encode_value(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  enc_begin(wg, true);
  fp16_encode(lid);
}
