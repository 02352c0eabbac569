// C[m][n] (=|+=) scale * sum_k A[m][k] B[n][k] over f32 rows with k contiguous: the batched
// projections and attention of whole-window evaluation (ts/model/window-forward.ts, the host
// side is ts/model/wasm-gemm.ts). Same contract as gemmNT in ts/model/gemm.ts, f32 lanes
// instead of one f64 sum per output (rounding differs, by ~1e-7 relative).
// Blocks of 4 A rows x 2 B rows keep 8 accumulators and 6 row loads in the 16 SIMD registers
// V8 gives x86-64; k runs in steps of 4 with a scalar tail. Pointers are byte addresses; strides
// are in floats.
import { expf4 } from './expf';
import { madd4 } from './vec';

@inline
function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

@inline
function put(c: usize, x: f32, accumulate: i32, scale: f32): void {
  store<f32>(c, accumulate ? load<f32>(c) + x * scale : x * scale);
}

export function gemm_nt(c: usize, ldc: i32, a: usize, lda: i32, b: usize, ldb: i32,
  m: i32, n: i32, k: i32, accumulate: i32, scale: f32): void {
  const k4 = k & ~3;
  const sa = <usize>lda << 2, sb = <usize>ldb << 2, sc = <usize>ldc << 2;
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const a0 = a + <usize>i * sa, a1 = a0 + sa, a2 = a1 + sa, a3 = a2 + sa;
    const cr = c + <usize>i * sc;
    let j = 0;
    for (; j + 2 <= n; j += 2) {
      const b0 = b + <usize>j * sb, b1 = b0 + sb;
      let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
      for (let t: usize = 0; t < <usize>k4 << 2; t += 16) {
        const y0 = v128.load(b0 + t), y1 = v128.load(b1 + t);
        let x = v128.load(a0 + t);
        c00 = madd4(x, y0, c00); c01 = madd4(x, y1, c01);
        x = v128.load(a1 + t);
        c10 = madd4(x, y0, c10); c11 = madd4(x, y1, c11);
        x = v128.load(a2 + t);
        c20 = madd4(x, y0, c20); c21 = madd4(x, y1, c21);
        x = v128.load(a3 + t);
        c30 = madd4(x, y0, c30); c31 = madd4(x, y1, c31);
      }
      let s00 = hsum(c00), s01 = hsum(c01), s10 = hsum(c10), s11 = hsum(c11);
      let s20 = hsum(c20), s21 = hsum(c21), s30 = hsum(c30), s31 = hsum(c31);
      for (let t = k4; t < k; t++) {
        const o = <usize>t << 2;
        const y0 = load<f32>(b0 + o), y1 = load<f32>(b1 + o);
        const x0 = load<f32>(a0 + o), x1 = load<f32>(a1 + o), x2 = load<f32>(a2 + o), x3 = load<f32>(a3 + o);
        s00 += x0 * y0; s01 += x0 * y1; s10 += x1 * y0; s11 += x1 * y1;
        s20 += x2 * y0; s21 += x2 * y1; s30 += x3 * y0; s31 += x3 * y1;
      }
      const o = <usize>j << 2;
      put(cr + o, s00, accumulate, scale); put(cr + o + 4, s01, accumulate, scale);
      put(cr + sc + o, s10, accumulate, scale); put(cr + sc + o + 4, s11, accumulate, scale);
      put(cr + 2 * sc + o, s20, accumulate, scale); put(cr + 2 * sc + o + 4, s21, accumulate, scale);
      put(cr + 3 * sc + o, s30, accumulate, scale); put(cr + 3 * sc + o + 4, s31, accumulate, scale);
    }
    for (; j < n; j++) {
      const bj = b + <usize>j * sb;
      for (let r = 0; r < 4; r++) put(cr + <usize>r * sc + (<usize>j << 2), dotRow(a0 + <usize>r * sa, bj, k), accumulate, scale);
    }
  }
  for (; i < m; i++) {
    const ai = a + <usize>i * sa, cr = c + <usize>i * sc;
    for (let j = 0; j < n; j++) put(cr + (<usize>j << 2), dotRow(ai, b + <usize>j * sb, k), accumulate, scale);
  }
}

@inline
function dotRow(a: usize, b: usize, k: i32): f32 {
  const k4 = k & ~3;
  let s = f32x4.splat(0);
  for (let t: usize = 0; t < <usize>k4 << 2; t += 16) s = madd4(v128.load(a + t), v128.load(b + t), s);
  let r = hsum(s);
  for (let t = k4; t < k; t++) r += load<f32>(a + (<usize>t << 2)) * load<f32>(b + (<usize>t << 2));
  return r;
}

// C[m][n] = scale * sum_k A[m][k] BT[k][n]: B given transposed (k-major, ldb floats per k), each
// output summed over k in order in f64 from f32 operands, as matVec (ts/model/math.ts) does:
// the product of two f32 is exact in f64 and the sums round the same way, so the result is the
// step-by-step pass's bit for bit. Quantized codecs need that for the projections that make keys
// and values: a last-bit difference can move a value across a rounding boundary of the codec
// (docs/decisions.md). SIMD runs over pairs of outputs (f64x2 lanes), never across k.
// Blocks of 2 rows x 8 columns: 8 f64x2 accumulators; columns past the last multiple of 8 are
// summed one at a time.
export function gemm_nn_f64(c: usize, ldc: i32, a: usize, lda: i32, bt: usize, ldb: i32,
  m: i32, n: i32, k: i32, scale: f64): void {
  const sa = <usize>lda << 2, sb = <usize>ldb << 2, sc = <usize>ldc << 2;
  const n8 = n & ~7;
  for (let j = 0; j < n8; j += 8) {
    const bj = bt + (<usize>j << 2);
    let i = 0;
    for (; i + 2 <= m; i += 2) {
      const a0 = a + <usize>i * sa, a1 = a0 + sa;
      let c00 = f64x2.splat(0), c01 = f64x2.splat(0), c02 = f64x2.splat(0), c03 = f64x2.splat(0);
      let c10 = f64x2.splat(0), c11 = f64x2.splat(0), c12 = f64x2.splat(0), c13 = f64x2.splat(0);
      let bp = bj;
      for (let t: usize = 0; t < <usize>k << 2; t += 4) {
        const lo = v128.load(bp), hi = v128.load(bp, 16);
        const b0 = f64x2.promote_low_f32x4(lo), b1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(lo, lo, 2, 3, 0, 1));
        const b2 = f64x2.promote_low_f32x4(hi), b3 = f64x2.promote_low_f32x4(v128.shuffle<f32>(hi, hi, 2, 3, 0, 1));
        const x0 = f64x2.splat(<f64>load<f32>(a0 + t)), x1 = f64x2.splat(<f64>load<f32>(a1 + t));
        c00 = f64x2.add(c00, f64x2.mul(x0, b0)); c01 = f64x2.add(c01, f64x2.mul(x0, b1));
        c02 = f64x2.add(c02, f64x2.mul(x0, b2)); c03 = f64x2.add(c03, f64x2.mul(x0, b3));
        c10 = f64x2.add(c10, f64x2.mul(x1, b0)); c11 = f64x2.add(c11, f64x2.mul(x1, b1));
        c12 = f64x2.add(c12, f64x2.mul(x1, b2)); c13 = f64x2.add(c13, f64x2.mul(x1, b3));
        bp += sb;
      }
      const r0 = c + <usize>i * sc + (<usize>j << 2), r1 = r0 + sc;
      storeRow8(r0, c00, c01, c02, c03, scale);
      storeRow8(r1, c10, c11, c12, c13, scale);
    }
    for (; i < m; i++) {
      const ai = a + <usize>i * sa;
      for (let jj = 0; jj < 8; jj++) store<f32>(c + <usize>i * sc + (<usize>(j + jj) << 2), <f32>(dotColumn(ai, bj + (<usize>jj << 2), sb, k) * scale));
    }
  }
  for (let j = n8; j < n; j++) {
    for (let i = 0; i < m; i++) {
      store<f32>(c + <usize>i * sc + (<usize>j << 2), <f32>(dotColumn(a + <usize>i * sa, bt + (<usize>j << 2), sb, k) * scale));
    }
  }
}

@inline
function storeRow8(r: usize, p0: v128, p1: v128, p2: v128, p3: v128, scale: f64): void {
  const s = f64x2.splat(scale);
  const lo = v128.shuffle<f32>(f32x4.demote_f64x2_zero(f64x2.mul(p0, s)), f32x4.demote_f64x2_zero(f64x2.mul(p1, s)), 0, 1, 4, 5);
  const hi = v128.shuffle<f32>(f32x4.demote_f64x2_zero(f64x2.mul(p2, s)), f32x4.demote_f64x2_zero(f64x2.mul(p3, s)), 0, 1, 4, 5);
  v128.store(r, lo);
  v128.store(r, hi, 16);
}

@inline
function dotColumn(a: usize, b: usize, sb: usize, k: i32): f64 {
  let acc: f64 = 0;
  for (let t: usize = 0; t < <usize>k << 2; t += 4) {
    acc += <f64>load<f32>(a + t) * <f64>load<f32>(b);
    b += sb;
  }
  return acc;
}

// gemm_nn_f64 with B already widened to f64 and packed in panels of 8 columns (panel p: [k][8]
// doubles, columns 8p..8p+7; columns past the last multiple of 8: one contiguous [k] column each,
// after the panels; ldb unused), so a k step reads the next 64 bytes instead of a row of B
// pages away (the window engine packs each weight matrix once, ts/model/window-engine.ts): the same products and the same
// in-order f64 sums, so the same bits, without two promotes and a shuffle per 4 outputs and k.
// Blocks of 2 rows x 8 columns as gemm_nn_f64.
export function gemm_nn_f64w(c: usize, ldc: i32, a: usize, lda: i32, bt: usize, ldb: i32,
  m: i32, n: i32, k: i32, scale: f64, scratch: usize, scratchBytes: i32): void {
  const sa = <usize>lda << 2, sc = <usize>ldc << 2, sk = <usize>k << 4;
  const n8 = n & ~7, m2 = m & ~1;
  // Row blocks: the block's A rows, widened to f64 and splatted to both lanes once into
  // `scratch` (16 bytes per element), stay in L2 while every 8-column strip of B passes over
  // them (a strip stays in L1); the inner loop then only loads and multiply-adds.
  const block = max(2, <i32>(<usize>scratchBytes / sk) & ~1);
  for (let i0 = 0; i0 < m2; i0 += block) {
    const i1 = min(m2, i0 + block);
    for (let i = i0; i < i1; i++) {
      const ai = a + <usize>i * sa, si = scratch + <usize>(i - i0) * sk;
      for (let t: usize = 0; t < <usize>k; t++) v128.store(si + (t << 4), f64x2.splat(<f64>load<f32>(ai + (t << 2))));
    }
    for (let j = 0; j < n8; j += 8) {
      const bj = bt + <usize>j * (<usize>k << 3); // panel j / 8: [k][8] doubles
      for (let i = i0; i < i1; i += 2) {
        const s0 = scratch + <usize>(i - i0) * sk, s1 = s0 + sk;
        let c00 = f64x2.splat(0), c01 = f64x2.splat(0), c02 = f64x2.splat(0), c03 = f64x2.splat(0);
        let c10 = f64x2.splat(0), c11 = f64x2.splat(0), c12 = f64x2.splat(0), c13 = f64x2.splat(0);
        let bp = bj;
        for (let t: usize = 0; t < sk; t += 16) {
          const b0 = v128.load(bp), b1 = v128.load(bp, 16), b2 = v128.load(bp, 32), b3 = v128.load(bp, 48);
          const x0 = v128.load(s0 + t), x1 = v128.load(s1 + t);
          c00 = f64x2.add(c00, f64x2.mul(x0, b0)); c01 = f64x2.add(c01, f64x2.mul(x0, b1));
          c02 = f64x2.add(c02, f64x2.mul(x0, b2)); c03 = f64x2.add(c03, f64x2.mul(x0, b3));
          c10 = f64x2.add(c10, f64x2.mul(x1, b0)); c11 = f64x2.add(c11, f64x2.mul(x1, b1));
          c12 = f64x2.add(c12, f64x2.mul(x1, b2)); c13 = f64x2.add(c13, f64x2.mul(x1, b3));
          bp += 64;
        }
        const r0 = c + <usize>i * sc + (<usize>j << 2), r1 = r0 + sc;
        storeRow8(r0, c00, c01, c02, c03, scale);
        storeRow8(r1, c10, c11, c12, c13, scale);
      }
    }
  }
  for (let i = m2; i < m; i++) {
    const ai = a + <usize>i * sa;
    for (let j = 0; j < n8; j++) {
      const col = bt + <usize>(j & ~7) * (<usize>k << 3) + (<usize>(j & 7) << 3);
      store<f32>(c + <usize>i * sc + (<usize>j << 2), <f32>(dotColumnW(ai, col, 64, k) * scale));
    }
  }
  for (let j = n8; j < n; j++) { // columns past the panels: one contiguous [k] column each
    const col = bt + <usize>j * (<usize>k << 3);
    for (let i = 0; i < m; i++) store<f32>(c + <usize>i * sc + (<usize>j << 2), <f32>(dotColumnW(a + <usize>i * sa, col, 8, k) * scale));
  }
}

@inline
function dotColumnW(a: usize, b: usize, sb: usize, k: i32): f64 {
  let acc: f64 = 0;
  for (let t: usize = 0; t < <usize>k << 2; t += 4) {
    acc += <f64>load<f32>(a + t) * load<f64>(b);
    b += sb;
  }
  return acc;
}

// Causal softmax of `rows` score rows (stride n floats) in place: row r covers keys 0..p0 + r,
// later keys are set to 0. exp in f32 (assembly/expf.ts, the attention kernels' Cephes expf, ~1 ulp of f32), max in f32, the
// sum in f64, each weight times 1 / sum: the JS loop it replaces (ts/model/window-forward.ts)
// rounds exp(s - m) to f32 as well, so the two differ by an ulp of f32 at most per weight, the
// order of the attention sums' rounding (docs/decisions.md#D130).
export function softmax_causal(s: usize, n: i32, rows: i32, p0: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = s + (<usize>r * <usize>n << 2);
    const len = p0 + r + 1, len4 = len & ~3;
    let mv = f32x4.splat(-Infinity);
    for (let t: usize = 0; t < <usize>len4 << 2; t += 16) mv = f32x4.max(mv, v128.load(row + t));
    let m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (let t = len4; t < len; t++) m = max(m, load<f32>(row + (<usize>t << 2)));
    const ms = f32x4.splat(m);
    let acc0 = f64x2.splat(0), acc1 = f64x2.splat(0);
    for (let t: usize = 0; t < <usize>len4 << 2; t += 16) {
      const e = expf4(f32x4.sub(v128.load(row + t), ms));
      v128.store(row + t, e);
      acc0 = f64x2.add(acc0, f64x2.promote_low_f32x4(e));
      acc1 = f64x2.add(acc1, f64x2.promote_low_f32x4(v128.shuffle<f32>(e, e, 2, 3, 0, 1)));
    }
    const acc = f64x2.add(acc0, acc1);
    let sum = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
    for (let t = len4; t < len; t++) {
      const p = row + (<usize>t << 2);
      const e = f32x4.extract_lane(expf4(f32x4.splat(load<f32>(p) - m)), 0);
      store<f32>(p, e);
      sum += <f64>e;
    }
    const inv = f32x4.splat(<f32>(1 / sum));
    for (let t: usize = 0; t < <usize>len4 << 2; t += 16) v128.store(row + t, f32x4.mul(v128.load(row + t), inv));
    for (let t = len4; t < len; t++) {
      const p = row + (<usize>t << 2);
      store<f32>(p, load<f32>(p) * f32x4.extract_lane(inv, 0));
    }
    for (let t = len; t < n; t++) store<f32>(row + (<usize>t << 2), 0);
  }
}
