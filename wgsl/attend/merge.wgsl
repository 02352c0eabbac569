// Merge pass of flash-decoding: combines the partial softmax states (m, l, acc) a sequence's
// work items wrote (tiles of every page buffer, plus its fp rows) into the attention output,
// exactly as ts/reference/attention.ts mergePartials + finishPartial. One workgroup per
// (batch sequence, query head).

override HEAD_DIM: u32;
override N_HEADS: u32;

@group(0) @binding(0) var<storage, read> partials: array<f32>;
// batch sequence b: (first partial slot, slot count) at 2 b
@group(0) @binding(1) var<storage, read> ranges: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn merge(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x;
  let h = wg.y;
  let first = ranges[2u * b];
  let count = ranges[2u * b + 1u];
  let stride = HEAD_DIM + 2u;
  var m = -3.0e38;
  for (var s = 0u; s < count; s = s + 1u) {
    m = max(m, partials[((first + s) * N_HEADS + h) * stride]);
  }
  var l = 0.0;
  for (var s = 0u; s < count; s = s + 1u) {
    let p = ((first + s) * N_HEADS + h) * stride;
    l = l + partials[p + 1u] * exp(partials[p] - m);
  }
  for (var c = lid; c < HEAD_DIM; c = c + 64u) {
    var acc = 0.0;
    for (var s = 0u; s < count; s = s + 1u) {
      let p = ((first + s) * N_HEADS + h) * stride;
      acc = acc + partials[p + 2u + c] * exp(partials[p] - m);
    }
    out[(b * N_HEADS + h) * HEAD_DIM + c] = acc / l;
  }
}
