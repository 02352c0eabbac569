// Scratch experiment (docs/decisions.md#D170): table-lookup (LUT, T-MAC style) key scoring for
// 2-bit KIVI keys against the integer kernel's inner loop, one GQA group of 4 query heads, d 128,
// 32-token tiles. Not part of the product: the baseline below is a copy of
// assembly/codecs/kivi/kernels.ts (scoreKeysInt + dotTokensInt at H = 4, bits = 2), reading the
// tile's per-channel scales and zeros as f32 (the f16 metadata decode, the same for both, is left out).
//
// Memory (all offsets from the host): codes [tile][32 tokens][32 bytes] (token-major, as kvpack's
// tiles); scales / zeros [tile][128] f32; q [4][128] f32; out [4][tokens] f32.
// LUT layout (lut_transform): [tile][block of 16 tokens][byte b of the row: 32][16 tokens]: byte t
// holds token t's nibbles 2b (low) and 2b+1 (high); nibble n = codes of channels 2n, 2n+1.
import { hsum4i, laneCodes, laneMask, quantizeQueryI16, roundToI32 } from '../../assembly/int-dot';
import { madd4 } from '../../assembly/vec';

const D: i32 = 128;
const TT: i32 = 32;
const ROW: usize = 32; // code bytes per token (d 128, 2 bits)
const TILE_CODES: usize = 1024;

export function heapBase(): usize { return (__heap_base + 65535) & ~65535; }

// ---------------------------------------------------------------- baseline (copy, H = 4, bits 2)
const QF: usize = memory.data(D * 4, 16);
const QI: usize = memory.data(4 * D * 2, 16);
const ALPHA: usize = memory.data(16, 16);
const BIAS: usize = memory.data(16, 16);
const TOK: usize = memory.data(4 * TT * 16, 16);

@inline
function daccV(s: v128, x: v128, q: v128): v128 {
  return i32x4.add(s, i32x4.dot_i16x8_s(x, q));
}

@inline
function dotTokensInt4(codes: usize, qi: usize): void {
  const codeRow = ROW, qS = <usize>D << 1;
  const m = laneMask(2);
  for (let t = 0; t < TT; t += 2) {
    const row = codes + <usize>t * codeRow;
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
    for (let c: usize = 0; c < codeRow; c += 16) {
      const va = v128.load(row + c), vb = v128.load(row + codeRow + c);
      const qc = qi + c * 8;
      let xa: v128, xb: v128, q: v128;
      xa = laneCodes(va, 0, 2, m); xb = laneCodes(vb, 0, 2, m);
      q = v128.load(qc, 0); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
      q = v128.load(qc + qS, 0); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q);
      q = v128.load(qc + 2 * qS, 0); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q);
      q = v128.load(qc + 3 * qS, 0); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q);
      xa = laneCodes(va, 1, 2, m); xb = laneCodes(vb, 1, 2, m);
      q = v128.load(qc, 16); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
      q = v128.load(qc + qS, 16); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q);
      q = v128.load(qc + 2 * qS, 16); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q);
      q = v128.load(qc + 3 * qS, 16); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q);
      xa = laneCodes(va, 2, 2, m); xb = laneCodes(vb, 2, 2, m);
      q = v128.load(qc, 32); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
      q = v128.load(qc + qS, 32); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q);
      q = v128.load(qc + 2 * qS, 32); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q);
      q = v128.load(qc + 3 * qS, 32); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q);
      xa = laneCodes(va, 3, 2, m); xb = laneCodes(vb, 3, 2, m);
      q = v128.load(qc, 48); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
      q = v128.load(qc + qS, 48); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q);
      q = v128.load(qc + 2 * qS, 48); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q);
      q = v128.load(qc + 3 * qS, 48); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q);
      xa = laneCodes(va, 4, 2, m); xb = laneCodes(vb, 4, 2, m);
      q = v128.load(qc, 64); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
      q = v128.load(qc + qS, 64); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q);
      q = v128.load(qc + 2 * qS, 64); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q);
      q = v128.load(qc + 3 * qS, 64); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q);
      xa = laneCodes(va, 5, 2, m); xb = laneCodes(vb, 5, 2, m);
      q = v128.load(qc, 80); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
      q = v128.load(qc + qS, 80); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q);
      q = v128.load(qc + 2 * qS, 80); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q);
      q = v128.load(qc + 3 * qS, 80); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q);
      xa = laneCodes(va, 6, 2, m); xb = laneCodes(vb, 6, 2, m);
      q = v128.load(qc, 96); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
      q = v128.load(qc + qS, 96); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q);
      q = v128.load(qc + 2 * qS, 96); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q);
      q = v128.load(qc + 3 * qS, 96); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q);
      xa = laneCodes(va, 7, 2, m); xb = laneCodes(vb, 7, 2, m);
      q = v128.load(qc, 112); a0 = daccV(a0, xa, q); b0 = daccV(b0, xb, q);
      q = v128.load(qc + qS, 112); a1 = daccV(a1, xa, q); b1 = daccV(b1, xb, q);
      q = v128.load(qc + 2 * qS, 112); a2 = daccV(a2, xa, q); b2 = daccV(b2, xb, q);
      q = v128.load(qc + 3 * qS, 112); a3 = daccV(a3, xa, q); b3 = daccV(b3, xb, q);
    }
    const o = TOK + (<usize>t << 4);
    v128.store(o, a0); v128.store(o, b0, 16);
    v128.store(o + (TT << 4), a1); v128.store(o + (TT << 4), b1, 16);
    v128.store(o + (2 * TT << 4), a2); v128.store(o + (2 * TT << 4), b2, 16);
    v128.store(o + (3 * TT << 4), a3); v128.store(o + (3 * TT << 4), b3, 16);
  }
}

/** Fold the tile's scales into head j's query (QF) and store its bias q . z (BIAS[j]). */
@inline
function fold(qj: usize, sc: usize, ze: usize, j: i32): void {
  let bias = f32x4.splat(0);
  for (let c: usize = 0; c < <usize>D << 2; c += 16) {
    const qv = v128.load(qj + c);
    v128.store(QF + c, f32x4.mul(qv, v128.load(sc + c)));
    bias = madd4(qv, v128.load(ze + c), bias);
  }
  store<f32>(BIAS + (<usize>j << 2), (f32x4.extract_lane(bias, 0) + f32x4.extract_lane(bias, 1)) +
    (f32x4.extract_lane(bias, 2) + f32x4.extract_lane(bias, 3)));
}

export function base_scores(codes: usize, scales: usize, zeros: usize, q: usize, nTiles: i32, out: usize, nTok: i32): void {
  for (let tile = 0; tile < nTiles; tile++) {
    const sc = scales + <usize>tile * (<usize>D << 2), ze = zeros + <usize>tile * (<usize>D << 2);
    for (let j = 0; j < 4; j++) {
      fold(q + <usize>j * (<usize>D << 2), sc, ze, j);
      store<f32>(ALPHA + (<usize>j << 2), quantizeQueryI16(QF, QI + <usize>j * (<usize>D << 1), D, 2));
    }
    dotTokensInt4(codes + <usize>tile * TILE_CODES, QI);
    for (let j = 0; j < 4; j++) {
      const a = v128.load32_splat(ALPHA + (<usize>j << 2)), b = v128.load32_splat(BIAS + (<usize>j << 2));
      const tj = TOK + (<usize>(j * TT) << 4), sj = out + (<usize>(j * nTok + tile * TT) << 2);
      for (let t = 0; t < TT; t += 4) {
        const p = tj + (<usize>t << 4);
        const sum = hsum4i(v128.load(p), v128.load(p, 16), v128.load(p, 32), v128.load(p, 48));
        v128.store(sj + (<usize>t << 2), madd4(f32x4.convert_i32x4_s(sum), a, b));
      }
    }
  }
}

// ---------------------------------------------------------------- LUT
/** Pack-time layout change (scalar; a real integration would do it once when a tile seals). */
export function lut_transform(codes: usize, nTiles: i32, dst: usize): void {
  for (let tile: usize = 0; tile < <usize>nTiles; tile++) {
    const s = codes + tile * TILE_CODES, o = dst + tile * TILE_CODES;
    for (let blk: usize = 0; blk < 2; blk++) {
      for (let b: usize = 0; b < ROW; b++) {
        for (let t: usize = 0; t < 16; t++) {
          store<u8>(o + blk * 512 + b * 16 + t, load<u8>(s + (blk * 16 + t) * ROW + b));
        }
      }
    }
  }
}

/** Per head: 64 tables (one per channel pair), L8: 16 bytes each; L16: lo plane + hi plane. */
const TAB: usize = memory.data(4 * 64 * 32, 16);
const FI: usize = memory.data(4 * D * 2, 16);
const LSCALE: usize = memory.data(16, 16);
// idx & 3 and idx >> 2 for idx 0..7 as i16 lanes
const CA: usize = memory.data<u16>([0, 1, 2, 3, 0, 1, 2, 3], 16);
const CB: usize = memory.data<u16>([0, 0, 0, 0, 1, 1, 1, 1], 16);
const NIB: usize = memory.data<u8>([15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15], 16);

@inline
function swz(t: v128, i: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(t, i);
  return i8x16.swizzle(t, i);
}

/**
 * Head j's folded query (QF, natural order) -> FI (i16) with scale a_f chosen so that every pair
 * entry 3 (|f_2n| + |f_2n+1|) fits i16; returns a_f. Bias as in the baseline (BIAS[j]).
 */
@inline
function quantizePairs(fi: usize): f32 {
  let mx = f32x4.splat(0);
  for (let c: usize = 0; c < <usize>D << 2; c += 16) {
    const a = f32x4.abs(v128.load(QF + c));
    mx = f32x4.pmax(mx, f32x4.add(a, v128.shuffle<f32>(a, a, 1, 0, 3, 2)));
  }
  const h = f32x4.pmax(mx, v128.shuffle<f32>(mx, mx, 2, 3, 0, 1));
  const m = f32x4.extract_lane(f32x4.pmax(h, v128.shuffle<f32>(h, h, 1, 0, 3, 2)), 0);
  if (!(m > 0)) { memory.fill(fi, 0, <usize>D << 1); return 0; }
  const inv = f32x4.splat(<f32>(32760.0 / 3.0) / m);
  for (let c: usize = 0; c < <usize>D << 2; c += 32) {
    const a = roundToI32(f32x4.mul(v128.load(QF + c), inv));
    const b = roundToI32(f32x4.mul(v128.load(QF + c, 16), inv));
    v128.store(fi + (c >> 1), i16x8.narrow_i32x4_s(a, b));
  }
  return m / <f32>(32760.0 / 3.0);
}

/** Entries of pair n's table as i16 (idx 0..7, idx 8..15), exact: f_2n (idx & 3) + f_2n+1 (idx >> 2). */
@inline
function pairEntries(fi: usize, n: usize, ca: v128, cb: v128): v128 {
  const fa = v128.load16_splat(fi + (n << 2)), fb = v128.load16_splat(fi + (n << 2) + 2);
  return i16x8.add(i16x8.mul(fa, ca), i16x8.mul(fb, cb));
}

@inline
function roundShift(e: v128, s: i32): v128 {
  if (s == 0) return e;
  return i16x8.shr_s(i16x8.add_sat_s(e, i16x8.splat(<i16>(1 << <i16>(s - 1)))), s);
}

/** i8 tables: entry = round(E / 2^S8) (S8 8: |entry| <= 128, saturated to 127). */
@inline
function buildTables8(fi: usize, tab: usize, S: i32): void {
  const ca = v128.load(CA), cb = v128.load(CB);
  for (let n: usize = 0; n < 64; n++) {
    const lo = pairEntries(fi, n, ca, cb);
    const fb2 = v128.load16_splat(fi + (n << 2) + 2);
    const hi = i16x8.add(lo, i16x8.add(fb2, fb2));
    v128.store(tab + (n << 4), i8x16.narrow_i16x8_s(roundShift(lo, S), roundShift(hi, S)));
  }
}

/** i16 tables as two byte planes: entry = round(E / 2^S) as i16, lo bytes then hi bytes. */
@inline
function buildTables16(fi: usize, tab: usize, S: i32): void {
  const ca = v128.load(CA), cb = v128.load(CB), ff = i16x8.splat(0xff);
  for (let n: usize = 0; n < 64; n++) {
    const lo = pairEntries(fi, n, ca, cb);
    const fb2 = v128.load16_splat(fi + (n << 2) + 2);
    const hi = i16x8.add(lo, i16x8.add(fb2, fb2));
    const l = roundShift(lo, S), h = roundShift(hi, S);
    v128.store(tab + (n << 5), i8x16.narrow_i16x8_u(v128.and(l, ff), v128.and(h, ff)));
    v128.store(tab + (n << 5), i8x16.narrow_i16x8_s(i16x8.shr_s(l, 8), i16x8.shr_s(h, 8)), 16);
  }
}

/** acc (i16, 16 tokens as lo/hi) -> out: a (i32 -> f32) * scale + bias. */
@inline
function finish16(lo: v128, hi: v128, a: v128, b: v128, o: usize): void {
  v128.store(o, madd4(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), a, b));
  v128.store(o, madd4(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), a, b), 16);
  v128.store(o, madd4(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), a, b), 32);
  v128.store(o, madd4(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), a, b), 48);
}

@inline
function lut8(t: v128, i: v128, acc: v128, high: bool): v128 {
  return high ? i16x8.add(acc, i16x8.extend_high_i8x16_s(swz(t, i))) : i16x8.add(acc, i16x8.extend_low_i8x16_s(swz(t, i)));
}

/**
 * i8 tables, S = 8: the 16 tokens' lookups for a pair widened to i16 and summed over all 64
 * pairs in i16 (|sum| <= 64 * 128). PAIR2: two lookups summed in i8 first (S = 9, |entry| <= 64).
 */
@inline
function scoreLut8(nib: usize, tab: usize, nTok: i32, out: usize, tile: i32, PAIR2: bool): void {
  const mask = v128.load(NIB);
  for (let blk = 0; blk < 2; blk++) {
    const nb = nib + <usize>blk * 512;
    let l0 = i16x8.splat(0), h0 = i16x8.splat(0), l1 = i16x8.splat(0), h1 = i16x8.splat(0);
    let l2 = i16x8.splat(0), h2 = i16x8.splat(0), l3 = i16x8.splat(0), h3 = i16x8.splat(0);
    for (let b: usize = 0; b < 32; b++) {
      const v = v128.load(nb + (b << 4));
      const lo = v128.and(v, mask), hi = i8x16.shr_u(v, 4);
      const t0 = tab + (b << 5);
      if (PAIR2) {
        let s = i8x16.add(swz(v128.load(t0), lo), swz(v128.load(t0, 16), hi));
        l0 = i16x8.add(l0, i16x8.extend_low_i8x16_s(s)); h0 = i16x8.add(h0, i16x8.extend_high_i8x16_s(s));
        s = i8x16.add(swz(v128.load(t0 + 1024), lo), swz(v128.load(t0 + 1024, 16), hi));
        l1 = i16x8.add(l1, i16x8.extend_low_i8x16_s(s)); h1 = i16x8.add(h1, i16x8.extend_high_i8x16_s(s));
        s = i8x16.add(swz(v128.load(t0 + 2048), lo), swz(v128.load(t0 + 2048, 16), hi));
        l2 = i16x8.add(l2, i16x8.extend_low_i8x16_s(s)); h2 = i16x8.add(h2, i16x8.extend_high_i8x16_s(s));
        s = i8x16.add(swz(v128.load(t0 + 3072), lo), swz(v128.load(t0 + 3072, 16), hi));
        l3 = i16x8.add(l3, i16x8.extend_low_i8x16_s(s)); h3 = i16x8.add(h3, i16x8.extend_high_i8x16_s(s));
      } else {
        let s = swz(v128.load(t0), lo);
        l0 = i16x8.add(l0, i16x8.extend_low_i8x16_s(s)); h0 = i16x8.add(h0, i16x8.extend_high_i8x16_s(s));
        s = swz(v128.load(t0, 16), hi);
        l0 = i16x8.add(l0, i16x8.extend_low_i8x16_s(s)); h0 = i16x8.add(h0, i16x8.extend_high_i8x16_s(s));
        s = swz(v128.load(t0 + 1024), lo);
        l1 = i16x8.add(l1, i16x8.extend_low_i8x16_s(s)); h1 = i16x8.add(h1, i16x8.extend_high_i8x16_s(s));
        s = swz(v128.load(t0 + 1024, 16), hi);
        l1 = i16x8.add(l1, i16x8.extend_low_i8x16_s(s)); h1 = i16x8.add(h1, i16x8.extend_high_i8x16_s(s));
        s = swz(v128.load(t0 + 2048), lo);
        l2 = i16x8.add(l2, i16x8.extend_low_i8x16_s(s)); h2 = i16x8.add(h2, i16x8.extend_high_i8x16_s(s));
        s = swz(v128.load(t0 + 2048, 16), hi);
        l2 = i16x8.add(l2, i16x8.extend_low_i8x16_s(s)); h2 = i16x8.add(h2, i16x8.extend_high_i8x16_s(s));
        s = swz(v128.load(t0 + 3072), lo);
        l3 = i16x8.add(l3, i16x8.extend_low_i8x16_s(s)); h3 = i16x8.add(h3, i16x8.extend_high_i8x16_s(s));
        s = swz(v128.load(t0 + 3072, 16), hi);
        l3 = i16x8.add(l3, i16x8.extend_low_i8x16_s(s)); h3 = i16x8.add(h3, i16x8.extend_high_i8x16_s(s));
      }
    }
    const base = <usize>(tile * TT + blk * 16) << 2, hs = <usize>nTok << 2;
    finish16(l0, h0, v128.load32_splat(LSCALE), v128.load32_splat(BIAS), out + base);
    finish16(l1, h1, v128.load32_splat(LSCALE + 4), v128.load32_splat(BIAS + 4), out + hs + base);
    finish16(l2, h2, v128.load32_splat(LSCALE + 8), v128.load32_splat(BIAS + 8), out + 2 * hs + base);
    finish16(l3, h3, v128.load32_splat(LSCALE + 12), v128.load32_splat(BIAS + 12), out + 3 * hs + base);
  }
}

/** One pair's i16 lookups (two planes) for 16 tokens added to lo / hi (i16 accumulators). */
@inline
function add16(acc: v128, pl: v128, ph: v128, high: bool): v128 {
  return high ? i16x8.add(acc, v128.shuffle<u8>(pl, ph, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31))
    : i16x8.add(acc, v128.shuffle<u8>(pl, ph, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23));
}

/** i16 two-plane tables, S = 6 (|entry| <= 512): all 64 pairs summed in i16. */
@inline
function scoreLut16(nib: usize, tab: usize, nTok: i32, out: usize, tile: i32): void {
  const mask = v128.load(NIB);
  for (let blk = 0; blk < 2; blk++) {
    const nb = nib + <usize>blk * 512;
    let l0 = i16x8.splat(0), h0 = i16x8.splat(0), l1 = i16x8.splat(0), h1 = i16x8.splat(0);
    let l2 = i16x8.splat(0), h2 = i16x8.splat(0), l3 = i16x8.splat(0), h3 = i16x8.splat(0);
    for (let b: usize = 0; b < 32; b++) {
      const v = v128.load(nb + (b << 4));
      const lo = v128.and(v, mask), hi = i8x16.shr_u(v, 4);
      const t0 = tab + (b << 6);
      let pl = swz(v128.load(t0), lo), ph = swz(v128.load(t0, 16), lo);
      l0 = add16(l0, pl, ph, false); h0 = add16(h0, pl, ph, true);
      pl = swz(v128.load(t0, 32), hi); ph = swz(v128.load(t0, 48), hi);
      l0 = add16(l0, pl, ph, false); h0 = add16(h0, pl, ph, true);
      pl = swz(v128.load(t0 + 2048), lo); ph = swz(v128.load(t0 + 2048, 16), lo);
      l1 = add16(l1, pl, ph, false); h1 = add16(h1, pl, ph, true);
      pl = swz(v128.load(t0 + 2048, 32), hi); ph = swz(v128.load(t0 + 2048, 48), hi);
      l1 = add16(l1, pl, ph, false); h1 = add16(h1, pl, ph, true);
      pl = swz(v128.load(t0 + 4096), lo); ph = swz(v128.load(t0 + 4096, 16), lo);
      l2 = add16(l2, pl, ph, false); h2 = add16(h2, pl, ph, true);
      pl = swz(v128.load(t0 + 4096, 32), hi); ph = swz(v128.load(t0 + 4096, 48), hi);
      l2 = add16(l2, pl, ph, false); h2 = add16(h2, pl, ph, true);
      pl = swz(v128.load(t0 + 6144), lo); ph = swz(v128.load(t0 + 6144, 16), lo);
      l3 = add16(l3, pl, ph, false); h3 = add16(h3, pl, ph, true);
      pl = swz(v128.load(t0 + 6144, 32), hi); ph = swz(v128.load(t0 + 6144, 48), hi);
      l3 = add16(l3, pl, ph, false); h3 = add16(h3, pl, ph, true);
    }
    const base = <usize>(tile * TT + blk * 16) << 2, hs = <usize>nTok << 2;
    finish16(l0, h0, v128.load32_splat(LSCALE), v128.load32_splat(BIAS), out + base);
    finish16(l1, h1, v128.load32_splat(LSCALE + 4), v128.load32_splat(BIAS + 4), out + hs + base);
    finish16(l2, h2, v128.load32_splat(LSCALE + 8), v128.load32_splat(BIAS + 8), out + 2 * hs + base);
    finish16(l3, h3, v128.load32_splat(LSCALE + 12), v128.load32_splat(BIAS + 12), out + 3 * hs + base);
  }
}


/** One pair's two-plane lookups split-accumulated: lo bytes (u8) into u16, hi bytes (i8) into i16. */
@inline
function addSplit(lo: v128, hi: v128, pl: v128, ph: v128, hiHalf: bool): v128 {
  return hiHalf ? i16x8.add(hi, i16x8.extend_high_i8x16_s(ph)) : i16x8.add(lo, i16x8.extend_low_i8x16_u(pl));
}

/**
 * Precise LUT: i16 two-plane tables with S = 0 (exact i16 entries). The lo planes' bytes are summed
 * in u16 (64 * 255 fits) and the hi planes' in i16, per token; score = lo + 256 hi. Two heads a pass
 * (16 accumulators for four would spill), the nibbles split once per head pair.
 */
@inline
function scoreLut16Split(nib: usize, tab: usize, nTok: i32, out: usize, tile: i32): void {
  const mask = v128.load(NIB);
  for (let blk = 0; blk < 2; blk++) {
    const nb = nib + <usize>blk * 512;
    for (let j: usize = 0; j < 4; j += 2) {
      let a0 = i16x8.splat(0), a1 = i16x8.splat(0), a2 = i16x8.splat(0), a3 = i16x8.splat(0);
      let c0 = i16x8.splat(0), c1 = i16x8.splat(0), c2 = i16x8.splat(0), c3 = i16x8.splat(0);
      const tj = tab + j * 2048;
      for (let b: usize = 0; b < 32; b++) {
        const v = v128.load(nb + (b << 4));
        const lo = v128.and(v, mask), hi = i8x16.shr_u(v, 4);
        const t0 = tj + (b << 6);
        let pl = swz(v128.load(t0), lo), ph = swz(v128.load(t0, 16), lo);
        a0 = i16x8.add(a0, i16x8.extend_low_i8x16_u(pl)); a1 = i16x8.add(a1, i16x8.extend_high_i8x16_u(pl));
        a2 = i16x8.add(a2, i16x8.extend_low_i8x16_s(ph)); a3 = i16x8.add(a3, i16x8.extend_high_i8x16_s(ph));
        pl = swz(v128.load(t0, 32), hi); ph = swz(v128.load(t0, 48), hi);
        a0 = i16x8.add(a0, i16x8.extend_low_i8x16_u(pl)); a1 = i16x8.add(a1, i16x8.extend_high_i8x16_u(pl));
        a2 = i16x8.add(a2, i16x8.extend_low_i8x16_s(ph)); a3 = i16x8.add(a3, i16x8.extend_high_i8x16_s(ph));
        pl = swz(v128.load(t0 + 2048), lo); ph = swz(v128.load(t0 + 2048, 16), lo);
        c0 = i16x8.add(c0, i16x8.extend_low_i8x16_u(pl)); c1 = i16x8.add(c1, i16x8.extend_high_i8x16_u(pl));
        c2 = i16x8.add(c2, i16x8.extend_low_i8x16_s(ph)); c3 = i16x8.add(c3, i16x8.extend_high_i8x16_s(ph));
        pl = swz(v128.load(t0 + 2048, 32), hi); ph = swz(v128.load(t0 + 2048, 48), hi);
        c0 = i16x8.add(c0, i16x8.extend_low_i8x16_u(pl)); c1 = i16x8.add(c1, i16x8.extend_high_i8x16_u(pl));
        c2 = i16x8.add(c2, i16x8.extend_low_i8x16_s(ph)); c3 = i16x8.add(c3, i16x8.extend_high_i8x16_s(ph));
      }
      const base = <usize>(tile * TT + blk * 16) << 2, hs = <usize>nTok << 2;
      finishSplit(a0, a1, a2, a3, v128.load32_splat(LSCALE + (j << 2)), v128.load32_splat(BIAS + (j << 2)), out + j * hs + base);
      finishSplit(c0, c1, c2, c3, v128.load32_splat(LSCALE + (j << 2) + 4), v128.load32_splat(BIAS + (j << 2) + 4), out + (j + 1) * hs + base);
    }
  }
}

/**
 * Near-exact LUT, fewer widens: two-plane tables with S = 1 (|entry| <= 16382, hi bytes in
 * [-64, 63]). Per byte b (pairs 2b, 2b+1): the two pairs' hi-plane lookups are summed in i8, then
 * widened; their lo-plane lookups are byte-interleaved and summed by i16x8.extadd_pairwise_i8x16_u
 * (token t's two lo bytes). Two heads a pass.
 */
@inline
function scoreLut16Pair(nib: usize, tab: usize, nTok: i32, out: usize, tile: i32): void {
  const mask = v128.load(NIB);
  for (let blk = 0; blk < 2; blk++) {
    const nb = nib + <usize>blk * 512;
    for (let j: usize = 0; j < 4; j += 2) {
      let a0 = i16x8.splat(0), a1 = i16x8.splat(0), a2 = i16x8.splat(0), a3 = i16x8.splat(0);
      let c0 = i16x8.splat(0), c1 = i16x8.splat(0), c2 = i16x8.splat(0), c3 = i16x8.splat(0);
      const tj = tab + j * 2048;
      for (let b: usize = 0; b < 32; b++) {
        const v = v128.load(nb + (b << 4));
        const lo = v128.and(v, mask), hi = i8x16.shr_u(v, 4);
        let t0 = tj + (b << 6);
        let pl = swz(v128.load(t0), lo), ql = swz(v128.load(t0, 32), hi);
        let h = i8x16.add(swz(v128.load(t0, 16), lo), swz(v128.load(t0, 48), hi));
        a0 = i16x8.add(a0, i16x8.extadd_pairwise_i8x16_u(v128.shuffle<u8>(pl, ql, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)));
        a1 = i16x8.add(a1, i16x8.extadd_pairwise_i8x16_u(v128.shuffle<u8>(pl, ql, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)));
        a2 = i16x8.add(a2, i16x8.extend_low_i8x16_s(h)); a3 = i16x8.add(a3, i16x8.extend_high_i8x16_s(h));
        t0 += 2048;
        pl = swz(v128.load(t0), lo); ql = swz(v128.load(t0, 32), hi);
        h = i8x16.add(swz(v128.load(t0, 16), lo), swz(v128.load(t0, 48), hi));
        c0 = i16x8.add(c0, i16x8.extadd_pairwise_i8x16_u(v128.shuffle<u8>(pl, ql, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)));
        c1 = i16x8.add(c1, i16x8.extadd_pairwise_i8x16_u(v128.shuffle<u8>(pl, ql, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)));
        c2 = i16x8.add(c2, i16x8.extend_low_i8x16_s(h)); c3 = i16x8.add(c3, i16x8.extend_high_i8x16_s(h));
      }
      const base = <usize>(tile * TT + blk * 16) << 2, hs = <usize>nTok << 2;
      finishSplit(a0, a1, a2, a3, v128.load32_splat(LSCALE + (j << 2)), v128.load32_splat(BIAS + (j << 2)), out + j * hs + base);
      finishSplit(c0, c1, c2, c3, v128.load32_splat(LSCALE + (j << 2) + 4), v128.load32_splat(BIAS + (j << 2) + 4), out + (j + 1) * hs + base);
    }
  }
}

@inline
function splitLanes(lo: v128, hi: v128, low: bool): v128 {
  const l = low ? i32x4.extend_low_i16x8_u(lo) : i32x4.extend_high_i16x8_u(lo);
  const h = low ? i32x4.extend_low_i16x8_s(hi) : i32x4.extend_high_i16x8_s(hi);
  return f32x4.convert_i32x4_s(i32x4.add(l, i32x4.shl(h, 8)));
}

@inline
function finishSplit(l0: v128, l1: v128, h0: v128, h1: v128, a: v128, b: v128, o: usize): void {
  v128.store(o, madd4(splitLanes(l0, h0, true), a, b));
  v128.store(o, madd4(splitLanes(l0, h0, false), a, b), 16);
  v128.store(o, madd4(splitLanes(l1, h1, true), a, b), 32);
  v128.store(o, madd4(splitLanes(l1, h1, false), a, b), 48);
}

/**
 * variant 0: i8 tables (S 8); 1: i8 tables, two lookups summed in i8 (S 9); 2: i16 two-plane (S 6);
 * 3: i16 two-plane exact (S 0), split accumulators; 4: two-plane S 1, pairs summed before widening.
 * Per tile: fold + quantize each head's query, build its 64 tables, then score both 16-token blocks.
 */
export function lut_scores(lut: usize, scales: usize, zeros: usize, q: usize, nTiles: i32, out: usize, nTok: i32, variant: i32): void {
  const S = variant == 0 ? 8 : variant == 1 ? 9 : variant == 2 ? 6 : variant == 3 ? 0 : 1;
  const tabS: usize = variant >= 2 ? 2048 : 1024;
  for (let tile = 0; tile < nTiles; tile++) {
    const sc = scales + <usize>tile * (<usize>D << 2), ze = zeros + <usize>tile * (<usize>D << 2);
    for (let j = 0; j < 4; j++) {
      fold(q + <usize>j * (<usize>D << 2), sc, ze, j);
      const fi = FI + <usize>j * (<usize>D << 1);
      const af = quantizePairs(fi);
      store<f32>(LSCALE + (<usize>j << 2), af * <f32>(1 << S));
      if (variant >= 2) buildTables16(fi, TAB + <usize>j * tabS, S);
      else buildTables8(fi, TAB + <usize>j * tabS, S);
    }
    const nib = lut + <usize>tile * TILE_CODES;
    if (variant == 0) scoreLut8(nib, TAB, nTok, out, tile, false);
    else if (variant == 1) scoreLut8(nib, TAB, nTok, out, tile, true);
    else if (variant == 2) scoreLut16(nib, TAB, nTok, out, tile);
    else if (variant == 3) scoreLut16Split(nib, TAB, nTok, out, tile);
    else scoreLut16Pair(nib, TAB, nTok, out, tile);
  }
}

/** Tables built but not scored, and scored with tables of the first tile only (cost split). */
export function lut_build_only(scales: usize, zeros: usize, q: usize, nTiles: i32, variant: i32): void {
  const S = variant == 0 ? 8 : variant == 1 ? 9 : variant == 2 ? 6 : variant == 3 ? 0 : 1;
  const tabS: usize = variant >= 2 ? 2048 : 1024;
  for (let tile = 0; tile < nTiles; tile++) {
    const sc = scales + <usize>tile * (<usize>D << 2), ze = zeros + <usize>tile * (<usize>D << 2);
    for (let j = 0; j < 4; j++) {
      fold(q + <usize>j * (<usize>D << 2), sc, ze, j);
      const fi = FI + <usize>j * (<usize>D << 1);
      const af = quantizePairs(fi);
      store<f32>(LSCALE + (<usize>j << 2), af * <f32>(1 << S));
      if (variant >= 2) buildTables16(fi, TAB + <usize>j * tabS, S);
      else buildTables8(fi, TAB + <usize>j * tabS, S);
    }
  }
}

export function lut_score_only(lut: usize, nTiles: i32, out: usize, nTok: i32, variant: i32): void {
  for (let tile = 0; tile < nTiles; tile++) {
    const nib = lut + <usize>tile * TILE_CODES;
    if (variant == 0) scoreLut8(nib, TAB, nTok, out, tile, false);
    else if (variant == 1) scoreLut8(nib, TAB, nTok, out, tile, true);
    else if (variant == 2) scoreLut16(nib, TAB, nTok, out, tile);
    else if (variant == 3) scoreLut16Split(nib, TAB, nTok, out, tile);
    else scoreLut16Pair(nib, TAB, nTok, out, tile);
  }
}

/** Baseline split the same way: per-tile query work only, and the dot loop + finish only. */
export function base_fold_only(scales: usize, zeros: usize, q: usize, nTiles: i32): void {
  for (let tile = 0; tile < nTiles; tile++) {
    const sc = scales + <usize>tile * (<usize>D << 2), ze = zeros + <usize>tile * (<usize>D << 2);
    for (let j = 0; j < 4; j++) {
      fold(q + <usize>j * (<usize>D << 2), sc, ze, j);
      store<f32>(ALPHA + (<usize>j << 2), quantizeQueryI16(QF, QI + <usize>j * (<usize>D << 1), D, 2));
    }
  }
}

export function base_dot_only(codes: usize, nTiles: i32, out: usize, nTok: i32): void {
  for (let tile = 0; tile < nTiles; tile++) {
    dotTokensInt4(codes + <usize>tile * TILE_CODES, QI);
    for (let j = 0; j < 4; j++) {
      const a = v128.load32_splat(ALPHA + (<usize>j << 2)), b = v128.load32_splat(BIAS + (<usize>j << 2));
      const tj = TOK + (<usize>(j * TT) << 4), sj = out + (<usize>(j * nTok + tile * TT) << 2);
      for (let t = 0; t < TT; t += 4) {
        const p = tj + (<usize>t << 4);
        const sum = hsum4i(v128.load(p), v128.load(p, 16), v128.load(p, 32), v128.load(p, 48));
        v128.store(sj + (<usize>t << 2), madd4(f32x4.convert_i32x4_s(sum), a, b));
      }
    }
  }
}
