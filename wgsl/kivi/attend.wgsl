// KIVI tiles (docs/FORMAT.md "KIVI"): f16 (scale, zero) metadata words, then b-bit codes
// (b = K_BITS / V_BITS), decode x = code * scale + zero.
// Keys: per-channel groups, meta word c for channel c, codes after HEAD_DIM meta words.
fn kivi_key_chunk(base: u32, t: u32, c8: u32) -> Chunk8 {
  let c0 = c8 * 8u;
  let e0 = t * HEAD_DIM + c0;
  let cb = base + HEAD_DIM;
  var x: array<f32, 8>;
  for (var k = 0u; k < 8u; k = k + 1u) {
    let sz = unpack2x16float(pages[base + c0 + k]);
    x[k] = f32(read_code(cb, e0 + k, K_BITS)) * sz.x + sz.y;
  }
  return Chunk8(vec4<f32>(x[0], x[1], x[2], x[3]), vec4<f32>(x[4], x[5], x[6], x[7]));
}

// Values: per-token groups of G = min(32, HEAD_DIM) channels; meta word t * (d / G) + c / G,
// 32 d / G meta words; an 8-channel chunk lies in one group.
fn kivi_value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 {
  let g = min(32u, HEAD_DIM);
  let groups = HEAD_DIM / g;
  let c0 = c8 * 8u;
  let sz = unpack2x16float(pages[base + t * groups + c0 / g]);
  let cb = base + TILE_TOKENS * groups;
  let e0 = t * HEAD_DIM + c0;
  var x: array<f32, 8>;
  for (var k = 0u; k < 8u; k = k + 1u) {
    x[k] = f32(read_code(cb, e0 + k, V_BITS)) * sz.x + sz.y;
  }
  return Chunk8(vec4<f32>(x[0], x[1], x[2], x[3]), vec4<f32>(x[4], x[5], x[6], x[7]));
}
