// fp32 tiles: element e = t * HEAD_DIM + c is word e (docs/FORMAT.md "fp32").
fn fp32_key_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return load_f32x8(base + t * HEAD_DIM + c8 * 8u); }
fn fp32_value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return load_f32x8(base + t * HEAD_DIM + c8 * 8u); }
