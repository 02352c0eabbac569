// Loads shared by the codecs' attention hooks (they read the bound page buffer `pages`).

fn load_f32x8(w: u32) -> Chunk8 {
  return Chunk8(
    vec4<f32>(bitcast<f32>(pages[w]), bitcast<f32>(pages[w + 1u]), bitcast<f32>(pages[w + 2u]), bitcast<f32>(pages[w + 3u])),
    vec4<f32>(bitcast<f32>(pages[w + 4u]), bitcast<f32>(pages[w + 5u]), bitcast<f32>(pages[w + 6u]), bitcast<f32>(pages[w + 7u])));
}

// Code of element e of a b-bit stream starting at word `base` (docs/FORMAT.md "Code streams":
// element e at bit e*b of the little-endian bit stream; widths not dividing 32 may straddle).
fn read_code(base: u32, e: u32, bits: u32) -> u32 {
  let bit = e * bits;
  let w = base + (bit >> 5u);
  let sh = bit & 31u;
  var v = pages[w] >> sh;
  if (sh + bits > 32u) {
    v = v | (pages[w + 1u] << (32u - sh));
  }
  return v & ((1u << bits) - 1u);
}
