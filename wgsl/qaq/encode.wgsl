// QAQ record encoder (identical words to ts/codecs/qaq/record.ts encodeRecord with outliers
// from ts/codecs/qaq/outliers.ts selectOutliers). One workgroup per record, invocation t encodes
// token t: outliers by rank (value, column) in the row, min/max of the rest, f16 (scale, zero)
// with the exact division of common/f32div.wgsl, codes. Tokens share words at their boundaries
// (widths, first/last code words), so words are OR-ed atomically into a zeroed output.
// Composed after constants.wgsl, common/f16.wgsl, common/f32div.wgsl.

override ROW_WIDTH: u32;
// Outliers per row: LOW lowest and HIGH highest (ts/codecs/qaq/outliers.ts outlierSplit).
override LOW: u32;
override HIGH: u32;

@group(0) @binding(0) var<storage, read> rows: array<f32>;
@group(0) @binding(1) var<storage, read_write> out_words: array<atomic<u32>>;
// job j at 8 j: (f32 offset of token 0's row, f32 stride between tokens, output word offset, 0,
// widths as in a record's first 4 words)
@group(0) @binding(2) var<storage, read> jobs: array<u32>;

fn in_row(base: u32, c: u32) -> f32 {
  return rows[base + c];
}

fn is_outlier(base: u32, c: u32) -> bool {
  let x = in_row(base, c);
  var rank = 0u;
  for (var j = 0u; j < ROW_WIDTH; j = j + 1u) {
    let y = in_row(base, j);
    if (y < x || (y == x && j < c)) { rank = rank + 1u; }
  }
  return rank < LOW || rank >= ROW_WIDTH - HIGH;
}

fn or_bits(base: u32, bit: u32, b: u32, code: u32) {
  let w = base + (bit >> 5u);
  let shift = bit & 31u;
  atomicOr(&out_words[w], code << shift);
  if (shift + b > 32u) {
    atomicOr(&out_words[w + 1u], code >> (32u - shift));
  }
}

@compute @workgroup_size(32)
fn encode_qaq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let j = 8u * wg.x;
  let stride = jobs[j + 1u];
  let out = jobs[j + 2u];
  let base = jobs[j] + t * stride;
  let m = LOW + HIGH;
  let b = (jobs[j + 4u + (t >> 3u)] >> ((t & 7u) * 4u)) & 15u;
  var first = 0u;
  for (var u = 0u; u < t; u = u + 1u) {
    first = first + ((jobs[j + 4u + (u >> 3u)] >> ((u & 7u) * 4u)) & 15u);
  }
  first = first * ROW_WIDTH;
  atomicOr(&out_words[out + (t >> 3u)], b << ((t & 7u) * 4u));

  var mn = 3.4e38;
  var mx = -3.4e38;
  var any = false;
  var k = 0u;
  for (var c = 0u; c < ROW_WIDTH; c = c + 1u) {
    let x = in_row(base, c);
    if (m > 0u && is_outlier(base, c)) {
      atomicStore(&out_words[out + 36u + t * m + k], c | (meta_f16_bits(x) << 16u));
      k = k + 1u;
      continue;
    }
    // strict comparisons, first value kept on ties (-0 vs +0), as the TS reference
    if (!any) {
      mn = x;
      mx = x;
      any = true;
    } else {
      if (x < mn) { mn = x; }
      if (x > mx) { mx = x; }
    }
  }
  if (!any) { mn = 0.0; mx = 0.0; }
  // ts/codecs/uniform.ts with alpha = 1: lo = min + 0 (turns -0 into +0), hi = max - 0
  let lo = select(mn, 0.0, mn == 0.0);
  let hi = mx;
  let top = f32((1u << b) - 1u);
  let scale_bits = meta_f16_bits(div_rn(hi - lo, top));
  let zero_bits = meta_f16_bits(lo);
  atomicStore(&out_words[out + 4u + t], scale_bits | (zero_bits << 16u));
  let scale = f16_bits_to_f32(scale_bits);
  let zero = f16_bits_to_f32(zero_bits);
  let codes = out + 36u + 32u * m;
  var bit = first;
  for (var c = 0u; c < ROW_WIDTH; c = c + 1u) {
    var code = 0u;
    if (scale != 0.0) {
      code = u32(clamp(floor(div_rn(in_row(base, c) - zero, scale) + 0.5), 0.0, top));
    }
    or_bits(codes, bit, b, code);
    bit = bit + b;
  }
}
