// q4_0 tiles (docs/FORMAT.md "q4_0"): d/2 words of f16 block scales, then nibble e at bits
// 4 (e % 8) of word e / 8: an 8-element chunk is exactly one code word.
fn q4_0_chunk(base: u32, t: u32, c8: u32) -> Chunk8 {
  let e = t * HEAD_DIM + c8 * 8u;
  let blk = e / 32u;
  let s = unpack2x16float(pages[base + blk / 2u])[blk % 2u];
  let w = pages[base + HEAD_DIM / 2u + e / 8u];
  let a = vec4<f32>(f32(extractBits(w, 0u, 4u)), f32(extractBits(w, 4u, 4u)), f32(extractBits(w, 8u, 4u)), f32(extractBits(w, 12u, 4u)));
  let b = vec4<f32>(f32(extractBits(w, 16u, 4u)), f32(extractBits(w, 20u, 4u)), f32(extractBits(w, 24u, 4u)), f32(extractBits(w, 28u, 4u)));
  return Chunk8((a - 8.0) * s, (b - 8.0) * s);
}
fn q4_0_key_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return q4_0_chunk(base, t, c8); }
fn q4_0_value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return q4_0_chunk(base, t, c8); }
