// SKVQ calibration math in WASM (docs/codecs/skvq.md s.1 and s.3), a mirror of ts/codecs/skvq/calibrate.ts
// operation for operation (f64 statistics and k-means, the same PRNG and the same summation
// order), so the TS driver gets the same permutation, groups and clip ratio from either engine
// (tests/conformance/skvq-wasm.test.ts).
import { TILE_TOKENS } from '../../constants';
import { encode_skvq, decodeTileModel } from './kernels';

let rngState: u32 = 0;

/** mulberry32, as in ts/codecs/skvq/calibrate.ts: [0, 1). */
function rnd(): f64 {
  rngState += 0x6d2b79f5;
  let t: u32 = rngState;
  t = (t ^ (t >>> 15)) * (t | 1);
  t ^= t + (t ^ (t >>> 7)) * (t | 61);
  return <f64>(t ^ (t >>> 14)) / 4294967296.0;
}

/** pts[2c] = min, pts[2c+1] = max of channel c of `head` over n tokens of data [n][nKv][d] (f32). */
export function skvq_channel_minmax(data: usize, n: i32, nKv: i32, d: i32, head: i32, pts: usize): void {
  for (let c = 0; c < d; c++) {
    store<f64>(pts + (<usize>(2 * c) << 3), Infinity);
    store<f64>(pts + (<usize>(2 * c + 1) << 3), -Infinity);
  }
  for (let t = 0; t < n; t++) {
    const row = data + (<usize>(t * nKv * d + head * d) << 2);
    for (let c = 0; c < d; c++) {
      const v = <f64>load<f32>(row + (<usize>c << 2));
      const pMin = pts + (<usize>(2 * c) << 3), pMax = pMin + 8;
      if (v < load<f64>(pMin)) store<f64>(pMin, v);
      if (v > load<f64>(pMax)) store<f64>(pMax, v);
    }
  }
}

@inline function dist2(pts: usize, i: i32, cen: usize, j: i32): f64 {
  const a = load<f64>(pts + (<usize>(2 * i) << 3)) - load<f64>(cen + (<usize>(2 * j) << 3));
  const b = load<f64>(pts + (<usize>(2 * i + 1) << 3)) - load<f64>(cen + (<usize>(2 * j + 1) << 3));
  return a * a + b * b;
}

@inline function copyPoint(dst: usize, j: i32, pts: usize, i: i32): void {
  store<f64>(dst + (<usize>(2 * j) << 3), load<f64>(pts + (<usize>(2 * i) << 3)));
  store<f64>(dst + (<usize>(2 * j + 1) << 3), load<f64>(pts + (<usize>(2 * i + 1) << 3)));
}

function fillEmpty(pts: usize, n: i32, labels: usize, cen: usize, k: i32, cnt: usize): void {
  for (;;) {
    memory.fill(cnt, 0, <usize>k << 2);
    for (let i = 0; i < n; i++) {
      const p = cnt + (<usize>load<i32>(labels + (<usize>i << 2)) << 2);
      store<i32>(p, load<i32>(p) + 1);
    }
    let empty = -1;
    for (let j = 0; j < k; j++) if (load<i32>(cnt + (<usize>j << 2)) == 0) { empty = j; break; }
    if (empty < 0) return;
    let big = 0;
    for (let j = 1; j < k; j++) if (load<i32>(cnt + (<usize>j << 2)) > load<i32>(cnt + (<usize>big << 2))) big = j;
    let far = -1, fd: f64 = -1;
    for (let i = 0; i < n; i++) {
      if (load<i32>(labels + (<usize>i << 2)) != big) continue;
      const dd = dist2(pts, i, cen, big);
      if (dd > fd) { fd = dd; far = i; }
    }
    store<i32>(labels + (<usize>far << 2), empty);
    copyPoint(cen, empty, pts, far);
  }
}

function updateCentroids(pts: usize, n: i32, labels: usize, cen: usize, k: i32, sum: usize, cnt: usize): void {
  memory.fill(sum, 0, <usize>(2 * k) << 3);
  memory.fill(cnt, 0, <usize>k << 2);
  for (let i = 0; i < n; i++) {
    const j = load<i32>(labels + (<usize>i << 2));
    const s = sum + (<usize>(2 * j) << 3);
    store<f64>(s, load<f64>(s) + load<f64>(pts + (<usize>(2 * i) << 3)));
    store<f64>(s + 8, load<f64>(s + 8) + load<f64>(pts + (<usize>(2 * i + 1) << 3)));
    store<i32>(cnt + (<usize>j << 2), load<i32>(cnt + (<usize>j << 2)) + 1);
  }
  for (let j = 0; j < k; j++) {
    const c = load<i32>(cnt + (<usize>j << 2));
    if (c > 0) {
      store<f64>(cen + (<usize>(2 * j) << 3), load<f64>(sum + (<usize>(2 * j) << 3)) / <f64>c);
      store<f64>(cen + (<usize>(2 * j + 1) << 3), load<f64>(sum + (<usize>(2 * j + 1) << 3)) / <f64>c);
    }
  }
}

/** Bytes of work memory skvq_kmeans2d needs for n points and k clusters. */
export function skvq_kmeans_work_bytes(n: i32, k: i32): i32 {
  return n * 8 + n * 4 + 2 * k * 8 + 2 * k * 8 + k * 4 + 64;
}

/**
 * k-means of n 2-D f64 points into k non-empty clusters (k-means++ seeding, Lloyd, `restarts`
 * runs, lowest inertia kept): writes labels (i32[n]) and centroids (f64[2k]).
 */
export function skvq_kmeans2d(pts: usize, n: i32, k: i32, restarts: i32, seed: u32, labels: usize, centroids: usize, work: usize): void {
  rngState = seed;
  const dmin = work, lab = dmin + (<usize>n << 3), cen = (lab + (<usize>n << 2) + 7) & ~<usize>7;
  const sum = cen + (<usize>(2 * k) << 3), cnt = sum + (<usize>(2 * k) << 3);
  let bestInertia: f64 = Infinity;
  for (let run = 0; run < restarts; run++) {
    const first = <i32>Math.floor(rnd() * <f64>n);
    copyPoint(cen, 0, pts, first);
    for (let i = 0; i < n; i++) store<f64>(dmin + (<usize>i << 3), Infinity);
    for (let j = 1; j < k; j++) {
      let total: f64 = 0;
      for (let i = 0; i < n; i++) {
        const p = dmin + (<usize>i << 3);
        const v = min(load<f64>(p), dist2(pts, i, cen, j - 1));
        store<f64>(p, v);
        total += v;
      }
      let pick = n - 1;
      if (total > 0) {
        let r = rnd() * total;
        for (let i = 0; i < n; i++) { r -= load<f64>(dmin + (<usize>i << 3)); if (r < 0) { pick = i; break; } }
      } else pick = <i32>Math.floor(rnd() * <f64>n);
      copyPoint(cen, j, pts, pick);
    }
    for (let i = 0; i < n; i++) store<i32>(lab + (<usize>i << 2), -1);
    for (let iter = 0; iter < 100; iter++) {
      let changed = false;
      for (let i = 0; i < n; i++) {
        let bj = 0, bd: f64 = Infinity;
        for (let j = 0; j < k; j++) { const dd = dist2(pts, i, cen, j); if (dd < bd) { bd = dd; bj = j; } }
        if (load<i32>(lab + (<usize>i << 2)) != bj) { store<i32>(lab + (<usize>i << 2), bj); changed = true; }
      }
      fillEmpty(pts, n, lab, cen, k, cnt);
      updateCentroids(pts, n, lab, cen, k, sum, cnt);
      if (!changed) break;
    }
    let inertia: f64 = 0;
    for (let i = 0; i < n; i++) inertia += dist2(pts, i, cen, load<i32>(lab + (<usize>i << 2)));
    if (inertia < bestInertia) {
      bestInertia = inertia;
      memory.copy(labels, lab, <usize>n << 2);
      memory.copy(centroids, cen, <usize>(2 * k) << 3);
    }
  }
}

/**
 * Sum over whole tiles of (x - decode(encode(x)))^2 in f64, tiles x heads x elements in model
 * order, for the clip search. data [tiles*32][nKv][d] f32; work: 2 * 32 * d f32 + tileWords u32.
 */
export function skvq_tile_sq_error(params: usize, data: usize, tiles: i32, nKv: i32, d: i32, tileWords: i32, work: usize): f64 {
  const x = work, y = x + (<usize>(TILE_TOKENS * d) << 2), words = y + (<usize>(TILE_TOKENS * d) << 2);
  let err: f64 = 0;
  for (let tile = 0; tile < tiles; tile++) {
    for (let h = 0; h < nKv; h++) {
      for (let t = 0; t < TILE_TOKENS; t++) {
        memory.copy(x + (<usize>(t * d) << 2), data + (<usize>(((tile * TILE_TOKENS + t) * nKv + h) * d) << 2), <usize>d << 2);
      }
      encode_skvq(x, words, d, h, params);
      decodeTileModel(words, d, h, params, y);
      for (let i = 0; i < TILE_TOKENS * d; i++) {
        const e = <f64>load<f32>(x + (<usize>i << 2)) - <f64>load<f32>(y + (<usize>i << 2));
        err += e * e;
      }
    }
  }
  void tileWords;
  return err;
}
