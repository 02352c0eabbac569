// f32x4 SIMD building blocks of the attention kernels. Lengths are multiples of 8 (head_dim is a
// multiple of HEAD_DIM_MULTIPLE = 8), so there is no scalar remainder loop; two accumulators
// hide the add latency.

/**
 * a * b + c per lane: every multiply-add of the attention kernels goes through here. The default
 * build (build/kvpack.wasm) multiplies and adds, two roundings, the same bits everywhere; the
 * relaxed build (build/kvpack-relaxed.wasm, `--enable relaxed-simd`) emits f32x4.relaxed_madd,
 * which engines with FMA fuse into one instruction with one rounding (decisions.md#D9 "Relaxed
 * SIMD"). Encoders and calibration never call it: their codes must match the TS reference.
 */
@inline
export function madd4(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** sum_i a[i] * b[i], n a multiple of 8. */
@inline
export function dot(a: usize, b: usize, n: i32): f32 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  const end = a + (<usize>n << 2);
  while (a < end) {
    s0 = madd4(v128.load(a), v128.load(b), s0);
    s1 = madd4(v128.load(a, 16), v128.load(b, 16), s1);
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
    v128.store(acc, madd4(wv, v128.load(x), v128.load(acc)));
    v128.store(acc, madd4(wv, v128.load(x, 16), v128.load(acc, 16)), 16);
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

/** [sum(a), sum(b), sum(c), sum(e)] of four f32x4 vectors (a 4x4 transpose-and-add). */
@inline
export function hsum4(a: v128, b: v128, c: v128, e: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(a, b, 2, 6, 3, 7));
  const ce = f32x4.add(v128.shuffle<f32>(c, e, 0, 4, 1, 5), v128.shuffle<f32>(c, e, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(ab, ce, 0, 1, 4, 5), v128.shuffle<f32>(ab, ce, 2, 3, 6, 7));
}

/**
 * Scores of 4 token rows (rows + i*stride, i < 4) against every query head of the group:
 * scores[j * TILE_TOKENS + t + i] = q_j . row_i. Register-blocked over 4 tokens so each query
 * load feeds 4 multiply-adds; t is a multiple of 4, so the 4 results are one aligned store.
 */
export function scoreRows4(rows: usize, stride: usize, q: usize, group: i32, d: i32, scores: usize, t: i32,
  tileTokens: i32): void {
  const r1 = rows + stride, r2 = r1 + stride, r3 = r2 + stride;
  const rowBytes = <usize>d << 2;
  for (let j = 0; j < group; j++) {
    const qj = q + <usize>j * rowBytes;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    for (let c: usize = 0; c < rowBytes; c += 16) {
      const qv = v128.load(qj + c);
      s0 = madd4(qv, v128.load(rows + c), s0);
      s1 = madd4(qv, v128.load(r1 + c), s1);
      s2 = madd4(qv, v128.load(r2 + c), s2);
      s3 = madd4(qv, v128.load(r3 + c), s3);
    }
    v128.store(scores + ((<usize>(j * tileTokens + t)) << 2), hsum4(s0, s1, s2, s3));
  }
}

/**
 * acc_j += sum_i weights[j * TILE_TOKENS + t + i] * row_i over 4 token rows, for each query head
 * j of the group: one load and one store of the accumulator per 4 rows.
 */
export function accumulateRows4(rows: usize, stride: usize, weights: usize, t: i32, group: i32, d: i32, acc: usize,
  tileTokens: i32): void {
  const r1 = rows + stride, r2 = r1 + stride, r3 = r2 + stride;
  const rowBytes = <usize>d << 2;
  for (let j = 0; j < group; j++) {
    const wp = weights + ((<usize>(j * tileTokens + t)) << 2);
    const w0 = f32x4.splat(load<f32>(wp)), w1 = f32x4.splat(load<f32>(wp, 4));
    const w2 = f32x4.splat(load<f32>(wp, 8)), w3 = f32x4.splat(load<f32>(wp, 12));
    const aj = acc + <usize>j * rowBytes;
    for (let c: usize = 0; c < rowBytes; c += 16) {
      let a = v128.load(aj + c);
      a = madd4(w0, v128.load(rows + c), a);
      a = madd4(w1, v128.load(r1 + c), a);
      a = madd4(w2, v128.load(r2 + c), a);
      a = madd4(w3, v128.load(r3 + c), a);
      v128.store(aj + c, a);
    }
  }
}

/** OR of the 4 i32 lanes (encoders: lanes holding disjoint bit fields of one packed word). */
@inline
export function orLanes(v: v128): u32 {
  return i32x4.extract_lane(v, 0) | i32x4.extract_lane(v, 1) | i32x4.extract_lane(v, 2) | i32x4.extract_lane(v, 3);
}

/**
 * Largest / smallest lane of v by pmax / pmin (one maxps / minps per step): for lanes that are never
 * NaN and where the sign of a zero result does not matter (magnitudes, or callers that rescan a zero);
 * f32.max/min's NaN and -0 rules cost V8 long sequences, and compare chains mispredict on random data.
 */
@inline
export function maxLanes(v: v128): f32 {
  const h = f32x4.pmax(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.pmax(h, v128.shuffle<f32>(h, h, 1, 0, 3, 2)), 0);
}

@inline
export function minLanes(v: v128): f32 {
  const h = f32x4.pmin(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.pmin(h, v128.shuffle<f32>(h, h, 1, 0, 3, 2)), 0);
}

/** 1 in the relaxed build (madd4 fused where the engine has FMA), 0 in the default build. */
export function relaxed_simd(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}
