// attend/mx-ops.wgsl in plain WGSL: the same products read the same workgroup bytes and write
// the same results, reductions through workgroup memory. For conformance tests on adapters
// without subgroup matrices (the software adapters of CI); far slower, never chosen on its own.
// Its per-byte loops run ~2000 iterations per tile at head_dim 128: llvmpipe ends a shader's
// loops after 65535 in all, so tests keep work items under ~30 tiles.

var<workgroup> mx_red: array<vec4<f32>, 32>;

// byte i of a word array as a signed 8-bit value
fn mx_i8(w: i32, i: u32) -> i32 { return (w << (24u - 8u * (i & 3u))) >> 24u; }

fn mx_key_scores(tb: u32, lane: u32) {
  for (var e = lane; e < 16u * MX_N; e += 32u) {
    let r = e / MX_N;
    let c = e % MX_N;
    var sum = 0;
    for (var k = 0u; k < MX_D; k++) {
      let a = (tb * 16u + r) * MX_D + k;
      let b = k * MX_N + c;
      sum += mx_i8(mx_codes[a / 4u], a) * mx_i8(mx_qb[b / 4u], b);
    }
    mx_res[tb * 16u + TILE_TOKENS * c + r] = sum;
  }
}

fn mx_value_sums(cb: u32, lane: u32) {
  for (var e = lane; e < 16u * MX_N; e += 32u) {
    let r = e / MX_N;
    let c = e % MX_N;
    var sum = 0;
    for (var k = 0u; k < TILE_TOKENS; k++) {
      let a = k * MX_D + cb * 16u + r;
      let b = ((cb / 2u) * TILE_TOKENS + k) * MX_N + c;
      sum += mx_i8(mx_codes[a / 4u], a) * mx_i8(mx_wb[b / 4u], b);
    }
    mx_res[cb * 16u + MX_D * c + r] = sum;
  }
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
