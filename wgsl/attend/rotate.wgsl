// The seeded randomized Hadamard rotation of a rotated stream (`@rk` / `@rv`, RotatedCodec in
// ts/codecs/rotation.ts; docs/decisions.md#D135), in place on head vectors: the queries before
// attention over rotated keys (forward: R = H diag(s) / sqrt(d)) and the output after attention
// over rotated values (INVERSE: R^T = diag(s) H / sqrt(d)). Used by attendInto, whose queries and
// output stay on the GPU. One invocation per head vector (d log2 d adds: a few per decode step).

override HEAD_DIM: u32;
override N_HEADS: u32;
// Query heads per KV head: head h takes KV head h / GROUP's signs.
override GROUP: u32;
override INVERSE: bool;

// [vector][HEAD_DIM], vector v = query head v % N_HEADS of batch entry v / N_HEADS (grow-only
// scratch: vectors past the caller's count are rotated too and never read)
@group(0) @binding(0) var<storage, read_write> vectors: array<f32>;
// [nKvHeads][HEAD_DIM] of +1 / -1
@group(0) @binding(1) var<storage, read> signs: array<f32>;

@compute @workgroup_size(64)
fn rotate(@builtin(global_invocation_id) gid: vec3<u32>) {
  let v = gid.x;
  if (v >= arrayLength(&vectors) / HEAD_DIM) {
    return;
  }
  let o = v * HEAD_DIM;
  let so = ((v % N_HEADS) / GROUP) * HEAD_DIM;
  if (!INVERSE) {
    for (var i = 0u; i < HEAD_DIM; i = i + 1u) { vectors[o + i] = vectors[o + i] * signs[so + i]; }
  }
  for (var len = 1u; len < HEAD_DIM; len = len * 2u) {
    for (var i = 0u; i < HEAD_DIM; i = i + 2u * len) {
      for (var j = i; j < i + len; j = j + 1u) {
        let a = vectors[o + j];
        let b = vectors[o + j + len];
        vectors[o + j] = a + b;
        vectors[o + j + len] = a - b;
      }
    }
  }
  let n = inverseSqrt(f32(HEAD_DIM));
  for (var i = 0u; i < HEAD_DIM; i = i + 1u) {
    vectors[o + i] = vectors[o + i] * n * select(1.0, signs[so + i], INVERSE);
  }
}
