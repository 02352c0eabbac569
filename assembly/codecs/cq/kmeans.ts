// CQ calibration math: weighted k-means with k-means++ seeding, a step-for-step mirror of
// ts/codecs/cq/kmeans.ts (the oracle) that returns bit-identical centroids: all arithmetic is f64
// in the same order (WASM f64 and JS numbers are both IEEE binary64 without fused multiply-add;
// f64x2 lanes compute the same per-centroid sums as the scalar loop), and the random stream is the
// same mulberry32 on u32. The host (ts/codecs/cq/wasm.ts) drives the iterations so that it can
// report progress between them: kmeans_seed, then kmeans_assign / kmeans_update alternately.
// Pointers are byte offsets; x [n][dim] f64, w [n] f64 or 0 (unweighted), centroids [k][dim] f64.

let inertia: f64 = 0;
let rngState: u32 = 0;

/** Weighted sum of squared distances computed by the last kmeans_assign. */
export function kmeans_inertia(): f64 {
  return inertia;
}

@inline
function nextUniform(): f64 {
  const a = rngState + 0x6d2b79f5;
  rngState = a;
  let t = a;
  t = (t ^ (t >>> 15)) * (t | 1);
  t ^= t + (t ^ (t >>> 7)) * (t | 61);
  return <f64>(t ^ (t >>> 14)) / 4294967296.0;
}

@inline
function weightOf(w: usize, i: i32): f64 {
  return w == 0 ? 1.0 : load<f64>(w + (<usize>i << 3));
}

/** Index drawn with probability proportional to mass_i = w_i * (d2 ? d2_i : 1); see the TS. */
function draw(w: usize, d2: usize, useD2: bool, n: i32, r: f64): i32 {
  let acc: f64 = 0;
  let last = -1;
  for (let i = 0; i < n; i++) {
    const m = useD2 ? weightOf(w, i) * load<f64>(d2 + (<usize>i << 3)) : weightOf(w, i);
    if (m > 0) {
      acc += m;
      last = i;
      if (acc > r) return i;
    }
  }
  return last;
}

/** k-means++ seeding into centroids; d2: n f64 of work. */
export function kmeans_seed(x: usize, n: i32, dim: i32, k: i32, w: usize, seed: u32, centroids: usize, d2: usize): void {
  rngState = seed;
  for (let i = 0; i < n; i++) store<f64>(d2 + (<usize>i << 3), Infinity);
  let totalW: f64 = 0;
  for (let i = 0; i < n; i++) totalW += weightOf(w, i);
  for (let c = 0; c < k; c++) {
    const u = nextUniform();
    let total: f64 = 0;
    if (c > 0) for (let i = 0; i < n; i++) total += weightOf(w, i) * load<f64>(d2 + (<usize>i << 3));
    const pick = c == 0 || !(total > 0) ? draw(w, d2, false, n, u * totalW) : draw(w, d2, true, n, u * total);
    const dst = centroids + (<usize>(c * dim) << 3);
    memory.copy(dst, x + (<usize>(pick * dim) << 3), <usize>dim << 3);
    for (let i = 0; i < n; i++) {
      const xi = x + (<usize>(i * dim) << 3);
      let s: f64 = 0;
      for (let j = 0; j < dim; j++) {
        const diff = load<f64>(xi + (<usize>j << 3)) - load<f64>(dst + (<usize>j << 3));
        s += diff * diff;
      }
      const p = d2 + (<usize>i << 3);
      if (s < load<f64>(p)) store<f64>(p, s);
    }
  }
}

/**
 * Assign every sample to its nearest centroid (ties: lowest index); returns 1 when an assignment
 * changed. ct: k*dim f64 of work (centroids transposed to [dim][k], two centroids per f64x2).
 */
export function kmeans_assign(x: usize, n: i32, dim: i32, k: i32, w: usize, centroids: usize, assign: usize, ct: usize): i32 {
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < dim; j++) store<f64>(ct + (<usize>(j * k + c) << 3), load<f64>(centroids + (<usize>(c * dim + j) << 3)));
  }
  const pairs = k & ~1;
  let changed = 0;
  inertia = 0;
  for (let i = 0; i < n; i++) {
    const xi = x + (<usize>(i * dim) << 3);
    let bd = f64x2.splat(Infinity);
    let bk = i64x2(0, 1);
    let kv = i64x2(0, 1);
    for (let c = 0; c < pairs; c += 2) {
      let s = f64x2.splat(0);
      for (let j = 0; j < dim; j++) {
        const diff = f64x2.sub(f64x2.splat(load<f64>(xi + (<usize>j << 3))), v128.load(ct + (<usize>(j * k + c) << 3)));
        s = f64x2.add(s, f64x2.mul(diff, diff));
      }
      const better = f64x2.lt(s, bd);
      bd = v128.bitselect(s, bd, better);
      bk = v128.bitselect(kv, bk, better);
      kv = i64x2.add(kv, i64x2.splat(2));
    }
    // lane 0 holds even centroids, lane 1 odd ones: the first minimum overall is the smaller
    // distance, or on a tie the smaller index
    let best = <i32>i64x2.extract_lane(bk, 0);
    let bestD = f64x2.extract_lane(bd, 0);
    const d1 = f64x2.extract_lane(bd, 1), k1 = <i32>i64x2.extract_lane(bk, 1);
    if (pairs == 0) { bestD = Infinity; best = 0; }
    else if (d1 < bestD || (d1 == bestD && k1 < best)) { bestD = d1; best = k1; }
    if (pairs < k) {
      const c = k - 1;
      let s: f64 = 0;
      for (let j = 0; j < dim; j++) {
        const diff = load<f64>(xi + (<usize>j << 3)) - load<f64>(ct + (<usize>(j * k + c) << 3));
        s += diff * diff;
      }
      if (s < bestD) { bestD = s; best = c; }
    }
    inertia += weightOf(w, i) * bestD;
    const a = assign + (<usize>i << 2);
    if (load<i32>(a) != best) { store<i32>(a, best); changed = 1; }
  }
  return changed;
}

/** Weighted means of the assigned samples; empty (zero-mass) clusters keep their centroid. sums: k*dim f64, mass: k f64. */
export function kmeans_update(x: usize, n: i32, dim: i32, k: i32, w: usize, centroids: usize, assign: usize, sums: usize, mass: usize): void {
  memory.fill(sums, 0, <usize>(k * dim) << 3);
  memory.fill(mass, 0, <usize>k << 3);
  for (let i = 0; i < n; i++) {
    const c = load<i32>(assign + (<usize>i << 2));
    const wi = weightOf(w, i);
    const mp = mass + (<usize>c << 3);
    store<f64>(mp, load<f64>(mp) + wi);
    const xi = x + (<usize>(i * dim) << 3);
    const sc = sums + (<usize>(c * dim) << 3);
    for (let j = 0; j < dim; j++) {
      const p = sc + (<usize>j << 3);
      store<f64>(p, load<f64>(p) + wi * load<f64>(xi + (<usize>j << 3)));
    }
  }
  for (let c = 0; c < k; c++) {
    const m = load<f64>(mass + (<usize>c << 3));
    if (m > 0) {
      for (let j = 0; j < dim; j++) {
        const p = (<usize>(c * dim + j) << 3);
        store<f64>(centroids + p, load<f64>(sums + p) / m);
      }
    }
  }
}
