// Integer-domain attention helpers (docs/decisions.md D50-D5x): a query (already times the
// tile's per-channel key scales) quantized to i16 with one f32 scale per head and tile, laid out in
// the order in which 2- and 4-bit code words unpack into i16 lanes, so `i32x4.dot_i16x8_s` (pmaddwd,
// 8 multiply-adds) takes the place of f32 multiply-adds. Opt-in (`set_integer_attention`): the
// query's rounding (<= 2^-16 of its largest folded element) moves outputs past the 1e-5 x max|V|
// conformance tolerance of the float kernels, though far below any 2- or 4-bit code's own error.

/** Whether score/accumulate kernels that have an integer path take it (host: WasmBackend option). */
let integerMode: bool = false;

export function set_integer_attention(on: i32): void {
  integerMode = on != 0;
}

@inline
export function integerAttention(): bool {
  return integerMode;
}

const MAGIC: f32 = 12582912.0; // 1.5 * 2^23: x + MAGIC rounds x to the nearest integer (|x| < 2^22)
const MAGIC_BITS: i32 = 0x4b400000;

/** Nearest integers of f32 lanes (|x| < 2^22, ties to even) as i32 lanes. */
@inline
export function roundToI32(x: v128): v128 {
  return i32x4.sub(f32x4.add(x, f32x4.splat(MAGIC)), i32x4.splat(MAGIC_BITS));
}

/** Sum of each of four i32x4 vectors, as lanes [sum(a), sum(b), sum(c), sum(e)]. */
@inline
export function hsum4i(a: v128, b: v128, c: v128, e: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
  const ce = i32x4.add(v128.shuffle<i32>(c, e, 0, 4, 1, 5), v128.shuffle<i32>(c, e, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(ab, ce, 0, 1, 4, 5), v128.shuffle<i32>(ab, ce, 2, 3, 6, 7));
}

/**
 * i16 query for 2- or 4-bit code rows read 16 bytes at a time as i16x8 lanes: lane i of such a
 * vector holds n = 16 / bits codes, channels base + n i + k (k = 0..n-1), and unpacks with one
 * shift and one AND per k. So for each 16-byte chunk (8 n channels) the query is stored as n
 * i16x8 vectors, vector k lane i = channel base + n i + k: a 4x4 transpose of the natural order's
 * f32x4 vectors (i32 after rounding) per 4 k, then a saturating narrow (values are in [-32767, 32767]).
 * `src`: f32 [d] natural order; `dst`: i16 [d] in that order. Returns the scale alpha with
 * src ~= alpha * dst (0 for an all-zero query; then dst is 0).
 */
export function quantizeQueryI16(src: usize, dst: usize, d: i32, bits: i32): f32 {
  const rowBytes = <usize>d << 2;
  let mx = f32x4.splat(0);
  for (let c: usize = 0; c < rowBytes; c += 16) mx = f32x4.pmax(mx, f32x4.abs(v128.load(src + c)));
  const h = f32x4.pmax(mx, v128.shuffle<f32>(mx, mx, 2, 3, 0, 1));
  const amax = f32x4.extract_lane(f32x4.pmax(h, v128.shuffle<f32>(h, h, 1, 0, 3, 2)), 0);
  if (!(amax > 0)) {
    memory.fill(dst, 0, <usize>d << 1);
    return 0;
  }
  const inv = f32x4.splat(<f32>32767.0 / amax);
  const n = 16 / bits, q = n >> 2; // codes per i16 lane; f32x4 vectors of natural order per i
  const chunk = <usize>(8 * n) << 2; // bytes of natural-order f32 per 16-byte code chunk
  for (let base: usize = 0; base < rowBytes; base += chunk) {
    const s = src + base;
    const o = dst + (base >> 1);
    for (let kk = 0; kk < q; kk++) {
      // lanes i = 0..3 from natural vectors q i + kk, lanes i = 4..7 from q (i + 4) + kk
      const a0 = roundToI32(f32x4.mul(v128.load(s + (<usize>(kk) << 4)), inv));
      const a1 = roundToI32(f32x4.mul(v128.load(s + (<usize>(q + kk) << 4)), inv));
      const a2 = roundToI32(f32x4.mul(v128.load(s + (<usize>(2 * q + kk) << 4)), inv));
      const a3 = roundToI32(f32x4.mul(v128.load(s + (<usize>(3 * q + kk) << 4)), inv));
      const b0 = roundToI32(f32x4.mul(v128.load(s + (<usize>(4 * q + kk) << 4)), inv));
      const b1 = roundToI32(f32x4.mul(v128.load(s + (<usize>(5 * q + kk) << 4)), inv));
      const b2 = roundToI32(f32x4.mul(v128.load(s + (<usize>(6 * q + kk) << 4)), inv));
      const b3 = roundToI32(f32x4.mul(v128.load(s + (<usize>(7 * q + kk) << 4)), inv));
      // transpose: row r lane i = a_i[r]
      const p0 = v128.shuffle<i32>(a0, a1, 0, 4, 1, 5), p1 = v128.shuffle<i32>(a2, a3, 0, 4, 1, 5);
      const p2 = v128.shuffle<i32>(a0, a1, 2, 6, 3, 7), p3 = v128.shuffle<i32>(a2, a3, 2, 6, 3, 7);
      const r0 = v128.shuffle<i32>(p0, p1, 0, 1, 4, 5), r1 = v128.shuffle<i32>(p0, p1, 2, 3, 6, 7);
      const r2 = v128.shuffle<i32>(p2, p3, 0, 1, 4, 5), r3 = v128.shuffle<i32>(p2, p3, 2, 3, 6, 7);
      const e0 = v128.shuffle<i32>(b0, b1, 0, 4, 1, 5), e1 = v128.shuffle<i32>(b2, b3, 0, 4, 1, 5);
      const e2 = v128.shuffle<i32>(b0, b1, 2, 6, 3, 7), e3 = v128.shuffle<i32>(b2, b3, 2, 6, 3, 7);
      const u0 = v128.shuffle<i32>(e0, e1, 0, 1, 4, 5), u1 = v128.shuffle<i32>(e0, e1, 2, 3, 6, 7);
      const u2 = v128.shuffle<i32>(e2, e3, 0, 1, 4, 5), u3 = v128.shuffle<i32>(e2, e3, 2, 3, 6, 7);
      const k0 = <usize>(4 * kk) << 4;
      v128.store(o + k0, i16x8.narrow_i32x4_s(r0, u0));
      v128.store(o + k0, i16x8.narrow_i32x4_s(r1, u1), 16);
      v128.store(o + k0, i16x8.narrow_i32x4_s(r2, u2), 32);
      v128.store(o + k0, i16x8.narrow_i32x4_s(r3, u3), 48);
    }
  }
  return amax / <f32>32767.0;
}

/**
 * Codes k of a 16-byte chunk of 2/4-bit codes read as i16 lanes: (v >> bits k) & m, m = laneMask(bits).
 * The mask comes from memory once per kernel call: V8 builds a v128.const with several scalar
 * moves at every use, and Binaryen would fold a constant local back into every use.
 */
@inline
export function laneCodes(v: v128, k: i32, bits: i32, m: v128): v128 {
  if (k == 0) return v128.and(v, m);
  return v128.and(i16x8.shr_u(v, bits * k), m);
}

const MASKS: usize = memory.data<u16>([3, 3, 3, 3, 3, 3, 3, 3, 15, 15, 15, 15, 15, 15, 15, 15], 16);

/** (2^bits - 1) in every i16 lane, loaded (see laneCodes). */
@inline
export function laneMask(bits: i32): v128 {
  return v128.load(MASKS + (bits == 2 ? 0 : 16));
}
