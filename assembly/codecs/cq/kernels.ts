// CQ, coupled quantization (Zhang et al. 2024, arXiv 2405.03917; docs/codecs/cq.md, docs/FORMAT.md
// "CQ"): one b-bit codebook index per group of c channels per token. params = [c, b, precision,
// 0] then the codebook, float (head h, group g, centroid k, channel i) at f = ((h*G + g)*K + k)*c + i,
// f16 (precision 0) or f32 (1). One set of kernels serves every configuration.
//
// Attention never dequantizes the cache (paper Sec. 3.4): keys by per-query lookup tables
// (prepare_cq builds T[j][g][k] = q_j,g . C_g[k]; a token's score is sum_g T[j][g][code]), values
// by a per-query-head histogram of attention weight over codes (the driver's value state, rescaled
// by its online softmax), multiplied by the centroids once at the end (finish_cq).
import { TILE_TOKENS } from '../../constants';
import { f16BitsToF32 } from '../../f16';
import { getCode, putCode, zeroWords } from '../../bitpack';
import { madd4 } from '../../vec';

/** Words before the codebook in params. */
const HEADER_BYTES: usize = 16;
/** Floats of one group's codebook at most (ts/codecs/cq/config.ts CQ_MAX_GROUP_FLOATS). */
const MAX_GROUP_FLOATS: i32 = 65536;
/** One group's codebook decoded to f32 and transposed to [channel][centroid] (SIMD over centroids). */
const BOOK: usize = memory.data(MAX_GROUP_FLOATS * 4, 16);

@inline function cOf(params: usize): i32 { return <i32>load<u32>(params); }
@inline function bOf(params: usize): i32 { return <i32>load<u32>(params, 4); }
@inline function isF32(params: usize): bool { return load<u32>(params, 8) == 1; }

/** Float f of the codebook, exact (f16 values are f32 values). */
@inline
function centroidValue(params: usize, f: i32, f32mode: bool): f32 {
  if (f32mode) return load<f32>(params + HEADER_BYTES + (<usize>f << 2));
  return f16BitsToF32(<u32>load<u16>(params + HEADER_BYTES + (<usize>f << 1)));
}

/** Decode (head, group)'s codebook into BOOK as [i][k] (i < c, k < K). */
function loadGroupBook(params: usize, head: i32, g: i32, G: i32, K: i32, c: i32): void {
  const f32mode = isF32(params);
  const base = (head * G + g) * K * c;
  for (let k = 0; k < K; k++) {
    for (let i = 0; i < c; i++) {
      store<f32>(BOOK + (<usize>(i * K + k) << 2), centroidValue(params, base + k * c + i, f32mode));
    }
  }
}

/**
 * Nearest centroid of x[0..c) in BOOK: squared distance accumulated in f32 in channel order
 * (diff, square, add: the reference's roundings, no fused multiply-add), ties to the lowest index.
 * Four centroids per f32x4 lane group; each lane keeps its own first minimum, then the lanes are
 * reduced to the global first minimum.
 */
function nearest(x: usize, K: i32, c: i32): u32 {
  if (K < 4) {
    let best: u32 = 0;
    let bestD: f32 = Infinity;
    for (let k = 0; k < K; k++) {
      let d: f32 = 0;
      for (let i = 0; i < c; i++) {
        const diff = load<f32>(x + (<usize>i << 2)) - load<f32>(BOOK + (<usize>(i * K + k) << 2));
        d = d + diff * diff;
      }
      if (d < bestD || k == 0) { bestD = d; best = <u32>k; }
    }
    return best;
  }
  let bestD = f32x4.splat(Infinity);
  let bestK = i32x4(0, 1, 2, 3);
  let kv = i32x4(0, 1, 2, 3);
  const four = i32x4.splat(4);
  for (let k = 0; k < K; k += 4) {
    let d = f32x4.splat(0);
    for (let i = 0; i < c; i++) {
      const diff = f32x4.sub(f32x4.splat(load<f32>(x + (<usize>i << 2))), v128.load(BOOK + (<usize>(i * K + k) << 2)));
      d = f32x4.add(d, f32x4.mul(diff, diff));
    }
    const better = f32x4.lt(d, bestD);
    bestD = v128.bitselect(d, bestD, better);
    bestK = v128.bitselect(kv, bestK, better);
    kv = i32x4.add(kv, four);
  }
  let best = i32x4.extract_lane(bestK, 0);
  let bd = f32x4.extract_lane(bestD, 0);
  for (let lane = 1; lane < 4; lane++) {
    const d = lane == 1 ? f32x4.extract_lane(bestD, 1) : lane == 2 ? f32x4.extract_lane(bestD, 2) : f32x4.extract_lane(bestD, 3);
    const k = lane == 1 ? i32x4.extract_lane(bestK, 1) : lane == 2 ? i32x4.extract_lane(bestK, 2) : i32x4.extract_lane(bestK, 3);
    if (d < bd || (d == bd && k < best)) { bd = d; best = k; }
  }
  return <u32>best;
}

/** EncodeTile: code of (token t, group g) = element t*G + g of the b-bit stream. */
export function encode_cq(x: usize, out: usize, headDim: i32, head: i32, params: usize): void {
  const c = cOf(params), b = bOf(params);
  const G = headDim / c, K = 1 << b;
  zeroWords(out, G * b);
  for (let g = 0; g < G; g++) {
    loadGroupBook(params, head, g, G, K, c);
    for (let t = 0; t < TILE_TOKENS; t++) {
      putCode(out, t * G + g, b, nearest(x + (<usize>(t * headDim + g * c) << 2), K, c));
    }
  }
}

/** Bytes of key scratch (the lookup tables) for `group` query heads: group * G * K f32. */
export function cq_key_scratch_bytes(params: usize, headDim: i32, group: i32): i32 {
  return group * (headDim / cOf(params)) * (1 << bOf(params)) * 4;
}

/** Value state floats per query head (the histogram): G * K. */
export function cq_value_state_floats(params: usize, headDim: i32): i32 {
  return (headDim / cOf(params)) * (1 << bOf(params));
}

/** PrepareKeys: tables[j][g][k] = sum_i q_j[g*c + i] * C_g[k][i] (unscaled; the driver scales scores). */
function prepareCq(q: usize, group: i32, headDim: i32, head: i32, params: usize, scratch: usize): void {
  const c = cOf(params), b = bOf(params);
  const G = headDim / c, K = 1 << b;
  for (let g = 0; g < G; g++) {
    loadGroupBook(params, head, g, G, K, c);
    for (let j = 0; j < group; j++) {
      const qg = q + (<usize>(j * headDim + g * c) << 2);
      const row = scratch + (<usize>((j * G + g) * K) << 2);
      if (K >= 4) {
        for (let k = 0; k < K; k += 4) {
          let s = f32x4.splat(0);
          for (let i = 0; i < c; i++) {
            s = madd4(f32x4.splat(load<f32>(qg + (<usize>i << 2))), v128.load(BOOK + (<usize>(i * K + k) << 2)), s);
          }
          v128.store(row + (<usize>k << 2), s);
        }
      } else {
        for (let k = 0; k < K; k++) {
          let s: f32 = 0;
          for (let i = 0; i < c; i++) s += load<f32>(qg + (<usize>i << 2)) * load<f32>(BOOK + (<usize>(i * K + k) << 2));
          store<f32>(row + (<usize>k << 2), s);
        }
      }
    }
  }
}

/** ScoreKeys: scores[j*32 + t] = sum_g tables[j][g][code(t, g)] (summed in group order). */
function scoreCq(tile: usize, q: usize, group: i32, headDim: i32, head: i32, params: usize, scratch: usize, scores: usize): void {
  const c = cOf(params), b = bOf(params);
  const G = headDim / c, K = 1 << b;
  for (let j = 0; j < group; j++) {
    const tab = scratch + (<usize>(j * G * K) << 2);
    for (let t = 0; t < TILE_TOKENS; t++) {
      let s: f32 = 0;
      if (b == 8) {
        // byte codes: element t*G + g is byte t*G + g of the tile
        const row = tile + <usize>(t * G);
        for (let g = 0; g < G; g++) s += load<f32>(tab + (<usize>(g * K + <i32>load<u8>(row + <usize>g)) << 2));
      } else {
        for (let g = 0; g < G; g++) s += load<f32>(tab + (<usize>(g * K + <i32>getCode(tile, t * G + g, b)) << 2));
      }
      store<f32>(scores + (<usize>(j * TILE_TOKENS + t) << 2), s);
    }
  }
}

/** AccumulateValues into the histogram state: hist[j][g][code(t, g)] += weights[j*32 + t]. */
function accumulateCq(tile: usize, weights: usize, group: i32, headDim: i32, head: i32, params: usize, state: usize): void {
  const c = cOf(params), b = bOf(params);
  const G = headDim / c, K = 1 << b;
  for (let j = 0; j < group; j++) {
    const hist = state + (<usize>(j * G * K) << 2);
    for (let t = 0; t < TILE_TOKENS; t++) {
      const w = load<f32>(weights + (<usize>(j * TILE_TOKENS + t) << 2));
      if (w == 0) continue; // underflowed weight: adding 0 changes nothing
      for (let g = 0; g < G; g++) {
        const code = <i32>(b == 8 ? <u32>load<u8>(tile + <usize>(t * G + g)) : getCode(tile, t * G + g, b));
        const h = hist + (<usize>(g * K + code) << 2);
        store<f32>(h, load<f32>(h) + w);
      }
    }
  }
}

/** FinishValues: out[j][g*c + i] += sum_k hist[j][g][k] * C_g[k][i]. */
function finishCq(state: usize, group: i32, headDim: i32, head: i32, params: usize, out: usize): void {
  const c = cOf(params), b = bOf(params);
  const G = headDim / c, K = 1 << b;
  const stride = G * K;
  for (let g = 0; g < G; g++) {
    loadGroupBook(params, head, g, G, K, c);
    for (let j = 0; j < group; j++) {
      const hist = state + (<usize>(j * stride + g * K) << 2);
      for (let i = 0; i < c; i++) {
        const col = BOOK + (<usize>(i * K) << 2);
        let s: f32 = 0;
        if (K >= 4) {
          let v = f32x4.splat(0);
          for (let k = 0; k < K; k += 4) v = madd4(v128.load(hist + (<usize>k << 2)), v128.load(col + (<usize>k << 2)), v);
          s = (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
        } else {
          for (let k = 0; k < K; k++) s += load<f32>(hist + (<usize>k << 2)) * load<f32>(col + (<usize>k << 2));
        }
        const o = out + (<usize>(j * headDim + g * c + i) << 2);
        store<f32>(o, load<f32>(o) + s);
      }
    }
  }
}

// Function-reference getters (docs/ARCHITECTURE.md "WASM kernels").
export function prepare_cq(): usize { return changetype<usize>(prepareCq); }
export function score_cq(): usize { return changetype<usize>(scoreCq); }
export function accumulate_cq(): usize { return changetype<usize>(accumulateCq); }
export function finish_cq(): usize { return changetype<usize>(finishCq); }
