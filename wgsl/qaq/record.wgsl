// QAQ record accessors (layout: docs/FORMAT.md "QAQ", TS: ts/codecs/qaq/record.ts). A record is
// TILE_TOKENS tokens x one row of ROW_WIDTH elements, each token with its own width:
//   [0, 4) widths (4 bits per token), [4, 36) f16 (scale, zero) per token,
//   [36, 36 + 32 OUTLIERS) outliers (column | f16 value << 16), then one code bit stream.
// Composed after wgsl/constants.wgsl and common/f16.wgsl; the including shader declares
// ROW_WIDTH and OUTLIERS overrides and a `pages` word array.

const QAQ_META: u32 = 4u;
const QAQ_OUTLIERS: u32 = 36u;

// Width of token t of the record at word `rec`.
fn qaq_width(rec: u32, t: u32) -> u32 {
  return (pages[rec + (t >> 3u)] >> ((t & 7u) * 4u)) & 15u;
}

// First code bit of token t: ROW_WIDTH times the widths of the tokens before it.
fn qaq_first_bit(rec: u32, t: u32) -> u32 {
  var sum = 0u;
  for (var u = 0u; u < t; u = u + 1u) { sum = sum + qaq_width(rec, u); }
  return sum * ROW_WIDTH;
}

// b-bit code at bit `bit` of the stream starting at word `base` (may straddle two words).
fn qaq_code(base: u32, bit: u32, b: u32) -> u32 {
  let w = base + (bit >> 5u);
  let shift = bit & 31u;
  var v = pages[w] >> shift;
  if (shift + b > 32u) {
    v = v | (pages[w + 1u] << (32u - shift));
  }
  return v & ((1u << b) - 1u);
}

fn qaq_code_base(rec: u32) -> u32 {
  return rec + QAQ_OUTLIERS + TILE_TOKENS * OUTLIERS;
}
