// Merge pass of flash-decoding: combines the partial softmax states (m, l, acc) a sequence's
// work items wrote (tiles of every page buffer, plus its fp rows) into the attention output,
// exactly as ts/reference/attention.ts mergePartials + finishPartial. One workgroup per
// (batch sequence, query head). The 64 invocations share the slots: a strided max, then
// chunks of 64 slots whose weights exp(m_s - m) are computed once into workgroup memory and
// applied by every invocation to its own channels (coalesced reads of the partials).

override HEAD_DIM: u32;
override N_HEADS: u32;

@group(0) @binding(0) var<storage, read> partials: array<f32>;
// batch sequence b: (first partial slot, slot count) at 2 b
@group(0) @binding(1) var<storage, read> ranges: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const MERGE_WG: u32 = 64u;
var<workgroup> w_sh: array<f32, MERGE_WG>;
var<workgroup> l_sh: array<f32, MERGE_WG>;

@compute @workgroup_size(MERGE_WG)
fn merge(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x;
  let h = wg.y;
  let first = ranges[2u * b];
  let count = ranges[2u * b + 1u];
  let stride = HEAD_DIM + 2u;
  var mm = -3.0e38;
  for (var s = lid; s < count; s = s + MERGE_WG) {
    mm = max(mm, partials[((first + s) * N_HEADS + h) * stride]);
  }
  w_sh[lid] = mm;
  workgroupBarrier();
  var m = -3.0e38;
  for (var i = 0u; i < MERGE_WG; i = i + 1u) { m = max(m, w_sh[i]); }
  workgroupBarrier();
  var l = 0.0;
  var acc: array<f32, 4>; // channels lid + 64 i (HEAD_DIM <= 256)
  for (var i = 0u; i < 4u; i = i + 1u) { acc[i] = 0.0; }
  for (var s0 = 0u; s0 < count; s0 = s0 + MERGE_WG) {
    let s = s0 + lid;
    var w = 0.0;
    var lw = 0.0;
    if (s < count) {
      let p = ((first + s) * N_HEADS + h) * stride;
      w = exp(partials[p] - m);
      lw = partials[p + 1u] * w;
    }
    w_sh[lid] = w;
    l_sh[lid] = lw;
    workgroupBarrier();
    let n = min(MERGE_WG, count - s0);
    for (var k = 0u; k < n; k = k + 1u) {
      let p = ((first + s0 + k) * N_HEADS + h) * stride + 2u;
      let wk = w_sh[k];
      l = l + l_sh[k];
      for (var i = 0u; i < 4u; i = i + 1u) {
        let c = lid + i * MERGE_WG;
        if (c < HEAD_DIM) { acc[i] = acc[i] + partials[p + c] * wk; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i = i + 1u) {
    let c = lid + i * MERGE_WG;
    if (c < HEAD_DIM) { out[(b * N_HEADS + h) * HEAD_DIM + c] = acc[i] / l; }
  }
}
