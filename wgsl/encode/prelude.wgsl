// Quantize-on-append: bindings and accessors shared by every codec's encode.wgsl. One
// workgroup per (job = one tile to seal, KV head); the codec's entry point `encode_key` /
// `encode_value` writes that head's tile words, identical to the TS reference encodeTile.
// Composed after wgsl/constants.wgsl, common/f16.wgsl and common/f32div.wgsl.

override HEAD_DIM: u32;
// Bits per code for codecs with a width parameter (KIVI), else unused.
override BITS: u32 = 0u;
// f32 per input row: nKvHeads * HEAD_DIM (rows are [token][kvHead][HEAD_DIM]).
override ROW_WORDS: u32;
// Output: words between KV heads in a tile slot, and this stream's offset in a head's pair.
override OUT_HEAD_STRIDE: u32;
override OUT_OFFSET: u32;
// Word offset of this stream's codec parameters in `params`.
override PARAMS: u32 = 0u;

const ENC_WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> rows: array<f32>;
@group(0) @binding(1) var<storage, read_write> out_words: array<u32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
// job j at 4 j: (first key row's f32 offset, first value row's f32 offset, slot word offset, 0)
@group(0) @binding(3) var<storage, read> jobs: array<u32>;

var<private> enc_in_base: u32;
var<private> enc_out_base: u32;
var<private> enc_head: u32;

// Call first in every encode entry point; `value` selects the stream's rows.
fn enc_begin(wg: vec3<u32>, value: bool) {
  let j = 4u * wg.x;
  enc_head = wg.y;
  enc_in_base = select(jobs[j], jobs[j + 1u], value) + enc_head * HEAD_DIM;
  enc_out_base = jobs[j + 2u] + enc_head * OUT_HEAD_STRIDE + OUT_OFFSET;
}

// Element (t, c) of the tile being sealed.
fn enc_in(t: u32, c: u32) -> f32 {
  return rows[enc_in_base + t * ROW_WORDS + c];
}

// Element e = t * HEAD_DIM + c in tile order.
fn enc_in_e(e: u32) -> f32 {
  return enc_in(e / HEAD_DIM, e % HEAD_DIM);
}

fn enc_out(w: u32, v: u32) {
  out_words[enc_out_base + w] = v;
}
