// fp32: word e = f32 bits of element e.
fn fp32_encode(lid: u32) {
  for (var w = lid; w < TILE_TOKENS * HEAD_DIM; w = w + ENC_WG) {
    enc_out(w, bitcast<u32>(enc_in_e(w)));
  }
}
@compute @workgroup_size(ENC_WG)
fn encode_key(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  enc_begin(wg, false);
  fp32_encode(lid);
}
@compute @workgroup_size(ENC_WG)
fn encode_value(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  enc_begin(wg, true);
  fp32_encode(lid);
}
