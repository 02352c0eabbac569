// q8_0 tiles (docs/FORMAT.md "q8_0"): d/2 words of f16 block scales, then int8 codes 4 per
// word. An 8-element chunk lies inside one 32-element block and spans two code words.
fn q8_0_chunk(base: u32, t: u32, c8: u32) -> Chunk8 {
  let e = t * HEAD_DIM + c8 * 8u;
  let blk = e / 32u;
  let s = unpack2x16float(pages[base + blk / 2u])[blk % 2u];
  let cw = base + HEAD_DIM / 2u + e / 4u;
  let w0 = bitcast<i32>(pages[cw]);
  let w1 = bitcast<i32>(pages[cw + 1u]);
  // extractBits on i32 sign-extends the byte
  let a = vec4<f32>(f32(extractBits(w0, 0u, 8u)), f32(extractBits(w0, 8u, 8u)), f32(extractBits(w0, 16u, 8u)), f32(extractBits(w0, 24u, 8u)));
  let b = vec4<f32>(f32(extractBits(w1, 0u, 8u)), f32(extractBits(w1, 8u, 8u)), f32(extractBits(w1, 16u, 8u)), f32(extractBits(w1, 24u, 8u)));
  return Chunk8(a * s, b * s);
}
fn q8_0_key_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return q8_0_chunk(base, t, c8); }
fn q8_0_value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return q8_0_chunk(base, t, c8); }
