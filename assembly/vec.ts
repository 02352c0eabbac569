// f32x4 SIMD building blocks of the attention kernels. Lengths are multiples of 8 (head_dim is a
// multiple of HEAD_DIM_MULTIPLE = 8), so there is no scalar remainder loop; two accumulators
// hide the add latency.

/** sum_i a[i] * b[i], n a multiple of 8. */
@inline
export function dot(a: usize, b: usize, n: i32): f32 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  const end = a + (<usize>n << 2);
  while (a < end) {
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a), v128.load(b)));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(a, 16), v128.load(b, 16)));
    a += 32;
    b += 32;
  }
  const s = f32x4.add(s0, s1);
  return (f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1)) + (f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
}

/** acc[i] += w * x[i], n a multiple of 8. */
@inline
export function axpy(acc: usize, w: f32, x: usize, n: i32): void {
  const wv = f32x4.splat(w);
  const end = acc + (<usize>n << 2);
  while (acc < end) {
    v128.store(acc, f32x4.add(v128.load(acc), f32x4.mul(wv, v128.load(x))));
    v128.store(acc, f32x4.add(v128.load(acc, 16), f32x4.mul(wv, v128.load(x, 16))), 16);
    acc += 32;
    x += 32;
  }
}

/** x[i] *= c, n a multiple of 4. */
@inline
export function scaleInPlace(x: usize, c: f32, n: i32): void {
  const cv = f32x4.splat(c);
  const end = x + (<usize>n << 2);
  while (x < end) {
    v128.store(x, f32x4.mul(v128.load(x), cv));
    x += 16;
  }
}

/**
 * scores[j * TILE_TOKENS + t] = q_j . row for the `group` query heads of one KV head
 * (q: [group][d]); the row is read once into cache and reused by every head of the group.
 */
@inline
export function dotGroup(row: usize, q: usize, group: i32, d: i32, scores: usize, t: i32, tileTokens: i32): void {
  const qStride = <usize>d << 2;
  for (let j = 0; j < group; j++) {
    store<f32>(scores + ((<usize>(j * tileTokens + t)) << 2), dot(q + <usize>j * qStride, row, d));
  }
}

/** acc_j += weights[j * TILE_TOKENS + t] * row for each query head j of the group. */
@inline
export function axpyGroup(row: usize, weights: usize, t: i32, group: i32, d: i32, acc: usize, tileTokens: i32): void {
  const aStride = <usize>d << 2;
  for (let j = 0; j < group; j++) {
    axpy(acc + <usize>j * aStride, load<f32>(weights + ((<usize>(j * tileTokens + t)) << 2)), row, d);
  }
}
