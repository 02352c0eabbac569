// Hooks for the full-precision regions (sinks and the fp32 tail): f32 rows laid out
// [row][kvHead][K headDim | V headDim], one row per token, so that one "tile entry" of up to
// TILE_TOKENS consecutive rows runs through attend/tiles.wgsl like a packed tile.
// HEAD_STRIDE = 2 * HEAD_DIM, V_OFFSET = HEAD_DIM.

// f32 words per row: nKvHeads * 2 * HEAD_DIM.
override ROW_WORDS: u32;

fn rows_chunk(base: u32, t: u32, c8: u32) -> Chunk8 {
  let w = base + t * ROW_WORDS + c8 * 8u;
  return Chunk8(
    vec4<f32>(bitcast<f32>(pages[w]), bitcast<f32>(pages[w + 1u]), bitcast<f32>(pages[w + 2u]), bitcast<f32>(pages[w + 3u])),
    vec4<f32>(bitcast<f32>(pages[w + 4u]), bitcast<f32>(pages[w + 5u]), bitcast<f32>(pages[w + 6u]), bitcast<f32>(pages[w + 7u])));
}

fn key_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return rows_chunk(base, t, c8); }
fn value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return rows_chunk(base, t, c8); }
fn key_init(lid: u32, kv_head: u32) {}
fn value_init(lid: u32, kv_head: u32) {}
