// SKVQ tiles (docs/codecs/skvq.md, docs/FORMAT.md "SKVQ"): (32/m)*C f16 (scale, zero) words, word
// b*C + j for token block b and channel group j, then codes in permuted channel order (2/4-bit
// code stream, or ternary: 5 base-3 digits per byte, 20 per word). Params of a stream (at
// K_PARAMS / V_PARAMS): [levels, C, m, f32 alpha], then per KV head perm[d], groupStart[C+1],
// slot[d] with slot[c] = p | (j << 16).
//
// The attention driver's q and output are in model channel order, so these hooks decode each
// requested model channel c through slot[c] (its permuted position p and group j). This equals
// permuting q and un-permuting the output (the WASM path does that); here it costs one params
// read per decoded element, which the GPU's cache absorbs (the table is 4d bytes per head).

var<private> skvq_k_head: u32;
var<private> skvq_v_head: u32;

fn skvq_key_init(lid: u32, kv_head: u32) { skvq_k_head = kv_head; }
fn skvq_value_init(lid: u32, kv_head: u32) { skvq_v_head = kv_head; }

// base-3 digit r % 5 of byte r / 5 of a ternary code word
fn skvq_trit(word: u32, r: u32) -> u32 {
  let byte = (word >> (8u * (r / 5u))) & 0xffu;
  var div = 1u;
  for (var i = 0u; i < r % 5u; i = i + 1u) { div = div * 3u; }
  return (byte / div) % 3u;
}

// Model channel c of token t of the tile at word `tile`, stream params at word `pb`, KV head h.
fn skvq_decode(tile: u32, pb: u32, h: u32, t: u32, c: u32) -> f32 {
  let levels = params[pb];
  let C = params[pb + 1u];
  let m = params[pb + 2u];
  let hb = pb + 4u + h * (2u * HEAD_DIM + C + 1u);
  let slot = params[hb + HEAD_DIM + C + 1u + c];
  let p = slot & 0xffffu;
  let j = slot >> 16u;
  let sz = unpack2x16float(pages[tile + (t / m) * C + j]);
  let codes = tile + (TILE_TOKENS / m) * C;
  let e = t * HEAD_DIM + p;
  var code = 0u;
  if (levels == 3u) {
    code = skvq_trit(pages[codes + e / 20u], e % 20u);
  } else {
    code = read_code(codes, e, select(4u, 2u, levels == 4u));
  }
  return f32(code) * sz.x + sz.y;
}

fn skvq_chunk(tile: u32, pb: u32, h: u32, t: u32, c8: u32) -> Chunk8 {
  let c0 = c8 * 8u;
  var x: array<f32, 8>;
  for (var k = 0u; k < 8u; k = k + 1u) { x[k] = skvq_decode(tile, pb, h, t, c0 + k); }
  return Chunk8(vec4<f32>(x[0], x[1], x[2], x[3]), vec4<f32>(x[4], x[5], x[6], x[7]));
}

fn skvq_key_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return skvq_chunk(base, K_PARAMS, skvq_k_head, t, c8); }
fn skvq_value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return skvq_chunk(base, V_PARAMS, skvq_v_head, t, c8); }
