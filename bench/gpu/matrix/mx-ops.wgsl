// The products and reductions of kivi.wgsl on subgroup matrices (Dawn's
// chromium_experimental_subgroup_matrix: i8 x i8 -> i32, M = 16, K = 32, N = MX_N) and subgroup
// operations. Needs `enable subgroups; enable chromium_experimental_subgroup_matrix;` (driver.ts)
// and a workgroup of one subgroup of 32; `lane` is unused here (the emulation needs it).
// Offsets and strides count bytes for the i8 operands, words for the i32 results.

// scores of tokens 16 tb.. 16 tb + 15: codes (row-major, token rows) x query limbs, over the channels
fn mx_key_scores(tb: u32, lane: u32) {
  var acc = subgroup_matrix_result<i32, MX_N, 16>();
  for (var kb = 0u; kb < MX_D / 32u; kb++) {
    let a = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>>(&mx_codes, tb * 16u * MX_D + kb * 32u, false, MX_D);
    let b = subgroupMatrixLoad<subgroup_matrix_right<i8, MX_N, 32>>(&mx_qb, kb * 32u * MX_N, false, MX_N);
    acc = subgroupMatrixMultiplyAccumulate(a, b, acc);
  }
  subgroupMatrixStore(&mx_res, tb * 16u, acc, true, TILE_TOKENS);
}

// value sums of positions 16 cb.. 16 cb + 15: codes (column-major view of the token rows) x the
// weight limbs of their 32-channel group
fn mx_value_sums(cb: u32, lane: u32) {
  let a = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>>(&mx_codes, cb * 16u, true, MX_D);
  let b = subgroupMatrixLoad<subgroup_matrix_right<i8, MX_N, 32>>(&mx_wb, (cb / 2u) * TILE_TOKENS * MX_N, false, MX_N);
  subgroupMatrixStore(&mx_res, cb * 16u, subgroupMatrixMultiply<i32>(a, b), true, MX_D);
}

fn mx_max4(v: vec4<f32>, lane: u32) -> vec4<f32> { return subgroupMax(v); }
fn mx_add4(v: vec4<f32>, lane: u32) -> vec4<f32> { return subgroupAdd(v); }
