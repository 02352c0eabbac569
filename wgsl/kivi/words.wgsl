// KIVI-2/4 keys and values for the attention driver, whole words at a time (issue 6, GPU fast
// path). Used instead of wgsl/kivi/attend.wgsl when both streams are KIVI with the same 2 or 4
// bits (ts/backends/webgpu/shaders.ts attendTilesSource): the driver's `pages` is then bound as
// array<vec4<u32>> (same buffer, same words; tile and slot offsets are multiples of 8 words for
// KIVI since HEAD_DIM is a multiple of 8), so 8 channels' key metadata are two vec4 loads and
// their 8 codes one u32 load, where the generic hooks issue one load per element for the code
// and one per element for the metadata (bench/README.md: the step was bound by load count).
// Layout (docs/FORMAT.md "KIVI"): f16 (scale, zero) meta words, then b-bit codes, element
// e = t * HEAD_DIM + c at bit e * b. With b in {2, 4} and 8 | e0, the 8 codes of a chunk sit in
// one word (8 b <= 32 bits starting at a multiple of 8 b). Decode x = code * scale + zero.

fn page_word(w: u32) -> u32 {
  return pages[w >> 2u][w & 3u];
}

// codes (word >> (sh + k b)) & mask for k = 0..7, as two vec4s of f32
fn kivi_words_codes(word: u32, sh: u32, bits: u32) -> Chunk8 {
  let mask = vec4<u32>((1u << bits) - 1u);
  let step = vec4<u32>(0u, bits, 2u * bits, 3u * bits);
  let lo = (vec4<u32>(word) >> (vec4<u32>(sh) + step)) & mask;
  let hi = (vec4<u32>(word) >> (vec4<u32>(sh + 4u * bits) + step)) & mask;
  return Chunk8(vec4<f32>(lo), vec4<f32>(hi));
}

fn kivi_words_key_chunk(base: u32, t: u32, c8: u32) -> Chunk8 {
  let c0 = c8 * 8u;
  // base and c0 are multiples of 8 words: meta words c0..c0+7 are two whole vec4s
  let m0 = pages[(base + c0) >> 2u];
  let m1 = pages[((base + c0) >> 2u) + 1u];
  let p0 = unpack2x16float(m0.x); let p1 = unpack2x16float(m0.y);
  let p2 = unpack2x16float(m0.z); let p3 = unpack2x16float(m0.w);
  let p4 = unpack2x16float(m1.x); let p5 = unpack2x16float(m1.y);
  let p6 = unpack2x16float(m1.z); let p7 = unpack2x16float(m1.w);
  let bit = (t * HEAD_DIM + c0) * K_BITS;
  let codes = kivi_words_codes(page_word(base + HEAD_DIM + (bit >> 5u)), bit & 31u, K_BITS);
  return Chunk8(
    codes.a * vec4<f32>(p0.x, p1.x, p2.x, p3.x) + vec4<f32>(p0.y, p1.y, p2.y, p3.y),
    codes.b * vec4<f32>(p4.x, p5.x, p6.x, p7.x) + vec4<f32>(p4.y, p5.y, p6.y, p7.y));
}

// Values: groups of G = min(32, HEAD_DIM) consecutive elements, one meta word per group; an
// 8-element chunk lies in one group (G is a multiple of 8).
fn kivi_words_value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 {
  let g = min(32u, HEAD_DIM);
  let e0 = t * HEAD_DIM + c8 * 8u;
  let sz = unpack2x16float(page_word(base + e0 / g));
  let bit = e0 * V_BITS;
  let codes = kivi_words_codes(page_word(base + TILE_TOKENS * HEAD_DIM / g + (bit >> 5u)), bit & 31u, V_BITS);
  return Chunk8(codes.a * sz.x + sz.y, codes.b * sz.x + sz.y);
}
