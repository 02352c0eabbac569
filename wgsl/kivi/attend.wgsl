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

// Values: groups of G = min(32, HEAD_DIM) consecutive tile elements (one token's channels when
// HEAD_DIM is a multiple of 32 or below it; groups span tokens otherwise, e.g. HEAD_DIM = 40):
// meta word e / G for element e, 32 HEAD_DIM / G meta words. An 8-element chunk starts at a
// multiple of 8 and G is a multiple of 8, so it lies in one group.
fn kivi_value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 {
  let g = min(32u, HEAD_DIM);
  let e0 = t * HEAD_DIM + c8 * 8u;
  let sz = unpack2x16float(pages[base + e0 / g]);
  let cb = base + TILE_TOKENS * HEAD_DIM / g;
  var x: array<f32, 8>;
  for (var k = 0u; k < 8u; k = k + 1u) {
    x[k] = f32(read_code(cb, e0 + k, V_BITS)) * sz.x + sz.y;
  }
  return Chunk8(vec4<f32>(x[0], x[1], x[2], x[3]), vec4<f32>(x[4], x[5], x[6], x[7]));
}
