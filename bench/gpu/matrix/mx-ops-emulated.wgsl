// mx-ops.wgsl in plain WGSL: the same products read the same workgroup bytes and write
// the same results, reductions through workgroup memory. For conformance tests on adapters
// without subgroup matrices (the software adapters of CI); far slower, never chosen on its own.
// Its per-byte loops run ~2000 iterations per tile at head_dim 128: llvmpipe ends a shader's
// loops after 65535 in all, so tests keep work items under ~30 tiles.

var<workgroup> mx_red: array<vec4<f32>, 32>;

// byte i of a word array as a signed 8-bit value
fn mx_i8(w: i32, i: u32) -> i32 { return (w << (24u - 8u * (i & 3u))) >> 24u; }

// byte b of the keys' (mx_qb) or the values' (mx_wb) limb operand
fn mx_limb(keys: bool, b: u32) -> i32 {
  if (keys) { return mx_i8(mx_qb[b / 4u], b); }
  return mx_i8(mx_wb[b / 4u], b);
}

// the result [16 rows x MX_N] = A x B, summed over kn, into mx_res[r0 + stride c + r] (column-major,
// as mx-ops.wgsl stores it): A[r, k] = byte a0 + a_r r + a_k k of mx_codes, B[k, c] = byte
// b0 + MX_N k + c of the limbs (row-major)
fn mx_product(a0: u32, a_r: u32, a_k: u32, b0: u32, b_keys: bool, kn: u32, r0: u32, stride: u32, lane: u32) {
  for (var e = lane; e < 16u * MX_N; e += 32u) {
    let r = e / MX_N;
    let c = e % MX_N;
    var sum = 0;
    for (var k = 0u; k < kn; k++) {
      let a = a0 + a_r * r + a_k * k;
      let b = b0 + k * MX_N + c;
      sum += mx_i8(mx_codes[a / 4u], a) * mx_limb(b_keys, b);
    }
    mx_res[r0 + stride * c + r] = sum;
  }
}

// scores of tokens 16 tb..: codes (token rows) x query limbs, over the MX_D channels
fn mx_key_scores(tb: u32, lane: u32) { mx_product(tb * 16u * MX_D, MX_D, 1u, 0u, true, MX_D, tb * 16u, TILE_TOKENS, lane); }

// value sums of positions 16 cb..: codes (position r of token k) x the weight limbs of group cb / 2
fn mx_value_sums(cb: u32, lane: u32) {
  mx_product(cb * 16u, 1u, MX_D, (cb / 2u) * TILE_TOKENS * MX_N, false, TILE_TOKENS, cb * 16u, MX_D, lane);
}

fn mx_reduce4(v: vec4<f32>, lane: u32, is_max: bool) -> vec4<f32> {
  workgroupBarrier();
  mx_red[lane] = v;
  workgroupBarrier();
  var r = mx_red[0];
  for (var i = 1u; i < 32u; i++) { r = select(r + mx_red[i], max(r, mx_red[i]), is_max); }
  return r;
}

fn mx_max4(v: vec4<f32>, lane: u32) -> vec4<f32> { return mx_reduce4(v, lane, true); }
fn mx_add4(v: vec4<f32>, lane: u32) -> vec4<f32> { return mx_reduce4(v, lane, false); }
