// fp16 tiles: word i = f16 pair (element 2i, element 2i+1) (docs/FORMAT.md "fp16").
fn fp16_chunk(base: u32, t: u32, c8: u32) -> Chunk8 {
  let w = base + (t * HEAD_DIM + c8 * 8u) / 2u;
  let p0 = unpack2x16float(pages[w]);
  let p1 = unpack2x16float(pages[w + 1u]);
  let p2 = unpack2x16float(pages[w + 2u]);
  let p3 = unpack2x16float(pages[w + 3u]);
  return Chunk8(vec4<f32>(p0, p1), vec4<f32>(p2, p3));
}
fn fp16_key_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return fp16_chunk(base, t, c8); }
fn fp16_value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return fp16_chunk(base, t, c8); }
