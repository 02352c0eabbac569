// SKVQ (Duanmu et al. 2024, arXiv 2405.06219; docs/codecs/skvq.md): per-head channel permutation,
// variable-size channel groups x blocks of m tokens, clipped asymmetric codes (2/4 bits or ternary
// "1.5-bit" packed 5 per byte) with f16 (scale, zero) words. Mirror of ts/codecs/skvq/*.ts.
// Params (the codec's paramWords): [levels, C, m, f32 alpha], then per head perm[d], groupStart[C+1],
// slot[d] (model channel -> permuted position | group << 16; used by the WGSL port).
// Keys: PrepareKeys permutes the query once per (query, KV head); tiles are scored in permuted
// order. Values: accumulated in permuted order into a value state of d floats per query head;
// FinishValues scatters it back to model order. Nothing per cached element beyond the unpack.
import { TILE_TOKENS } from '../../constants';
import { f16x4ToF32x4, f32x4ToF16x4Sat } from '../../f16';
import { placeQuery, placedCodes, unpack8Codes } from '../../bitpack';
import { metaScale, metaScale4, metaZero, metaZero4 } from '../../quant';
import { META_A, META_B, ROW } from '../../scratch';
import { axpyGroup, dotGroup, hsum4, madd4, maxLanes, minLanes } from '../../vec';
import { integerAttention, laneMask, quantizeQueryI16, roundToI32 } from '../../int-dot';

const HEADER: i32 = 4;
/** Element codes of one tile (TILE_TOKENS * MAX_HEAD_DIM) while encoding, + the last ternary word's padding. */
const CODES: usize = memory.data(TILE_TOKENS * 256 + 32, 16);
/** The tile being encoded in permuted channel order (TILE_TOKENS * MAX_HEAD_DIM f32). */
const XP: usize = memory.data(TILE_TOKENS * 256 * 4, 16);
/** Ternary byte -> its 5 base-3 digits (8 bytes per entry). */
const TRIT_TABLE: usize = memory.data(256 * 8, 16);
/** The same digits as f32 (8 floats per entry, 3 unused): a whole byte is two loads and two stores. */
const TRIT_F32: usize = memory.data(256 * 32, 16);
let tritTableReady = false;

function buildTritTable(): void {
  for (let b = 0; b < 243; b++) {
    let v = b;
    for (let i = 0; i < 5; i++) {
      store<u8>(TRIT_TABLE + (<usize>b << 3) + i, <u8>(v % 3));
      store<f32>(TRIT_F32 + (<usize>b << 5) + (<usize>i << 2), <f32>(v % 3));
      v /= 3;
    }
  }
  tritTableReady = true;
}

@inline function pLevels(params: usize): i32 { return <i32>load<u32>(params); }
@inline function pClusters(params: usize): i32 { return <i32>load<u32>(params + 4); }
@inline function pTokens(params: usize): i32 { return <i32>load<u32>(params + 8); }
@inline function pAlpha(params: usize): f32 { return load<f32>(params + 12); }
/** Byte pointer of head h's perm[d]; groupStart follows at + d words. */
@inline function pHead(params: usize, d: i32, C: i32, h: i32): usize {
  return params + (<usize>(HEADER + h * (2 * d + C + 1)) << 2);
}

@inline function metaWordsOf(C: i32, m: i32): i32 { return (TILE_TOKENS / m) * C; }


/** Number of thresholds (k + 0.5) * scale, k < L, reached by x - zero: only exact f32 ops. */
@inline function clippedCode(x: f32, scale: f32, zero: f32, levels: i32): u32 {
  if (scale == 0) return 0;
  const dx: f32 = x - zero;
  let q: u32 = 0;
  for (let k = 0; k < levels - 1; k++) if (dx >= (<f32>k + <f32>0.5) * scale) q++;
  return q;
}

/** min and max of XP[t*d + p0 .. p1) over tokens t0..t1-1: the scalar scan's `<` / `>` order. */
let rangeMin: f32 = 0;
let rangeMax: f32 = 0;
function scanRange(d: i32, t0: i32, t1: i32, p0: i32, p1: i32): void {
  let mn: f32 = Infinity, mx: f32 = -Infinity;
  let vmn = f32x4.splat(Infinity), vmx = f32x4.splat(-Infinity);
  for (let t = t0; t < t1; t++) {
    const row = XP + (<usize>(t * d) << 2);
    let p = p0;
    // pmin(a, v) = v < a ? v : a: the scalar update, lane by lane
    for (; p + 4 <= p1; p += 4) {
      const v = v128.load(row + (<usize>p << 2));
      vmn = f32x4.pmin(vmn, v);
      vmx = f32x4.pmax(vmx, v);
    }
    for (; p < p1; p++) {
      const v = load<f32>(row + (<usize>p << 2));
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
  }
  mn = min4(mn, vmn);
  mx = max4(mx, vmx);
  // -0 and +0 compare equal: which one the element-order scan keeps decides the f16 bits
  if (mn == 0 || mx == 0) {
    mn = Infinity; mx = -Infinity;
    for (let t = t0; t < t1; t++) {
      for (let p = p0; p < p1; p++) {
        const v = load<f32>(XP + (<usize>(t * d + p) << 2));
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
    }
  }
  rangeMin = mn;
  rangeMax = mx;
}

// the scalar tail's m combined with the lanes (a zero result is rescanned by scanRange)
@inline function min4(m: f32, v: v128): f32 {
  const x = minLanes(v);
  return x < m ? x : m;
}

@inline function max4(m: f32, v: v128): f32 {
  const x = maxLanes(v);
  return x > m ? x : m;
}

/** CODES[t*d + p] for p in p0..p1: the number of thresholds (k + 0.5) s reached by x - z. */
function codeRange(d: i32, t: i32, p0: i32, p1: i32, s: f32, z: f32, levels: i32): void {
  const row = XP + (<usize>(t * d) << 2), dst = CODES + <usize>(t * d);
  let p = p0;
  if (s != 0) {
    const zv = f32x4.splat(z);
    const sv = f32x4.splat(s), inv = f32x4.splat(<f32>1 / s), half = f32x4.splat(0.5);
    const top = i32x4.splat(levels - 1), zero = i32x4.splat(0);
    for (; p + 4 <= p1; p += 4) {
      const dx = f32x4.sub(v128.load(row + (<usize>p << 2)), zv);
      let n = i32x4.splat(0);
      if (levels <= 4) {
        // the same f32 products as clippedCode; a true compare is -1
        for (let k = 0; k < levels - 1; k++) n = i32x4.sub(n, f32x4.ge(dx, f32x4.splat((<f32>k + <f32>0.5) * s)));
      } else {
        // 15 thresholds: a candidate floor(dx / s + 0.5) off by at most one from the count, then
        // the count's own threshold products (k + 0.5) s one step up and one down
        n = i32x4.min_s(i32x4.max_s(i32x4.trunc_sat_f32x4_s(f32x4.floor(f32x4.add(f32x4.mul(dx, inv), half))), zero), top);
        const nf = f32x4.convert_i32x4_s(n);
        const up = v128.and(f32x4.ge(dx, f32x4.mul(f32x4.add(nf, half), sv)), i32x4.lt_s(n, top));
        const down = v128.and(f32x4.lt(dx, f32x4.mul(f32x4.sub(nf, half), sv)), i32x4.gt_s(n, zero));
        n = i32x4.add(i32x4.sub(n, up), down); // masks are -1 where true
      }
      const b16 = i16x8.narrow_i32x4_u(n, n);
      store<u32>(dst + <usize>p, i32x4.extract_lane(i8x16.narrow_i16x8_u(b16, b16), 0));
    }
  }
  for (; p < p1; p++) store<u8>(dst + <usize>p, <u8>clippedCode(load<f32>(row + (<usize>p << 2)), s, z, levels));
}

/** scanRange over group j (positions gs[j]..gs[j+1]) of token block b (m tokens). */
@inline function scanGroup(d: i32, b: i32, m: i32, gs: usize, j: i32): void {
  scanRange(d, b * m, (b + 1) * m, <i32>load<u32>(gs + (<usize>j << 2)), <i32>load<u32>(gs + (<usize>(j + 1) << 2)));
}

/** codeRange over group j of token block b with its (scale, zero). */
@inline function codeGroup(d: i32, b: i32, m: i32, gs: usize, j: i32, s: f32, z: f32, levels: i32): void {
  const p0 = <i32>load<u32>(gs + (<usize>j << 2)), p1 = <i32>load<u32>(gs + (<usize>(j + 1) << 2));
  for (let t = b * m; t < (b + 1) * m; t++) codeRange(d, t, p0, p1, s, z, levels);
}

export function encode_skvq(x: usize, out: usize, d: i32, head: i32, params: usize): void {
  const levels = pLevels(params), C = pClusters(params), m = pTokens(params), alpha = pAlpha(params);
  const perm = pHead(params, d, C, head), gs = perm + (<usize>d << 2);
  const metaWords = metaWordsOf(C, m);
  // the tile in permuted order once: the groups are then contiguous runs of each row
  for (let t = 0; t < TILE_TOKENS; t++) {
    const src = x + (<usize>(t * d) << 2), dst = XP + (<usize>(t * d) << 2);
    for (let p = 0; p < d; p++) store<f32>(dst + (<usize>p << 2), load<f32>(src + (<usize>load<u32>(perm + (<usize>p << 2)) << 2)));
  }
  for (let b = 0; b < TILE_TOKENS / m; b++) {
    // groups in fours: their ranges first, then the four clipped (scale, zero) pairs at once
    // (docs/codecs/skvq.md s.2: lo = alpha min, hi = alpha max, scale = (hi - lo) f32(1/L), each
    // to f16 through the SIMD conversion: lane by lane the scalar f32 ops), then the codes
    for (let j0 = 0; j0 < C; j0 += 4) {
      const k = min(4, C - j0);
      let mn = f32x4.splat(0), mx = f32x4.splat(0);
      scanGroup(d, b, m, gs, j0); mn = f32x4.replace_lane(mn, 0, rangeMin); mx = f32x4.replace_lane(mx, 0, rangeMax);
      if (k > 1) { scanGroup(d, b, m, gs, j0 + 1); mn = f32x4.replace_lane(mn, 1, rangeMin); mx = f32x4.replace_lane(mx, 1, rangeMax); }
      if (k > 2) { scanGroup(d, b, m, gs, j0 + 2); mn = f32x4.replace_lane(mn, 2, rangeMin); mx = f32x4.replace_lane(mx, 2, rangeMax); }
      if (k > 3) { scanGroup(d, b, m, gs, j0 + 3); mn = f32x4.replace_lane(mn, 3, rangeMin); mx = f32x4.replace_lane(mx, 3, rangeMax); }
      const av = f32x4.splat(alpha);
      const lo = f32x4.mul(av, mn), hi = f32x4.mul(av, mx);
      const zeroBits = f32x4ToF16x4Sat(lo);
      const scaleBits = f32x4ToF16x4Sat(f32x4.mul(f32x4.sub(hi, lo), f32x4.splat(<f32>1 / <f32>(levels - 1))));
      const zs = f16x4ToF32x4(zeroBits), ss = f16x4ToF32x4(scaleBits);
      const words = v128.or(scaleBits, i32x4.shl(zeroBits, 16));
      const mw = out + (<usize>(b * C + j0) << 2);
      store<u32>(mw, i32x4.extract_lane(words, 0));
      codeGroup(d, b, m, gs, j0, f32x4.extract_lane(ss, 0), f32x4.extract_lane(zs, 0), levels);
      if (k > 1) { store<u32>(mw, i32x4.extract_lane(words, 1), 4); codeGroup(d, b, m, gs, j0 + 1, f32x4.extract_lane(ss, 1), f32x4.extract_lane(zs, 1), levels); }
      if (k > 2) { store<u32>(mw, i32x4.extract_lane(words, 2), 8); codeGroup(d, b, m, gs, j0 + 2, f32x4.extract_lane(ss, 2), f32x4.extract_lane(zs, 2), levels); }
      if (k > 3) { store<u32>(mw, i32x4.extract_lane(words, 3), 12); codeGroup(d, b, m, gs, j0 + 3, f32x4.extract_lane(ss, 3), f32x4.extract_lane(zs, 3), levels); }
    }
  }
  const codes = out + (<usize>metaWords << 2);
  const n = TILE_TOKENS * d;
  if (levels == 3) {
    // 20 codes per word, 5 per byte (digit i weighs 3^i): Horner over each byte's 5 codes; the
    // last word's missing codes count as 0 (CODES past n is zeroed for it)
    const words = (n + 19) / 20;
    memory.fill(CODES + <usize>n, 0, <usize>(words * 20 - n));
    for (let w = 0; w < words; w++) {
      let word: u32 = 0;
      for (let byte = 0; byte < 4; byte++) {
        const c = CODES + <usize>(w * 20 + byte * 5);
        const v = <u32>load<u8>(c) + 3 * (<u32>load<u8>(c, 1) + 3 * (<u32>load<u8>(c, 2) + 3 * (<u32>load<u8>(c, 3) + 3 * <u32>load<u8>(c, 4))));
        word |= v << (8 * byte);
      }
      store<u32>(codes + (<usize>w << 2), word);
    }
  } else if (levels == 4) {
    // 16 one-byte codes -> one word of 2-bit codes (element e at bits 2(e % 16)): pairs, nibbles, bytes
    for (let w = 0; w < n >> 4; w++) {
      const lo = pack8x2(load<u64>(CODES + (<usize>w << 4))), hi = pack8x2(load<u64>(CODES + (<usize>w << 4) + 8));
      store<u32>(codes + (<usize>w << 2), lo | (hi << 16));
    }
  } else {
    // 8 one-byte codes -> one word of 4-bit codes (element e at bits 4(e % 8))
    for (let w = 0; w < n >> 3; w++) {
      let v = load<u64>(CODES + (<usize>w << 3));
      v = (v | (v >> 4)) & 0x00ff00ff00ff00ff;
      v = (v | (v >> 8)) & 0x0000ffff0000ffff;
      store<u32>(codes + (<usize>w << 2), <u32>(v | (v >> 16)));
    }
  }
}

/** 8 one-byte 2-bit codes (a u64) -> 16 bits, code i at bits 2i. */
@inline function pack8x2(v: u64): u32 {
  v = (v | (v >> 6)) & 0x000f000f000f000f;
  v = (v | (v >> 12)) & 0x000000ff000000ff;
  return <u32>((v | (v >> 24)) & 0xffff);
}

/** META_A[p] / META_B[p] = scale / zero of the group holding permuted position p, token block b. */
function blockMeta(tile: usize, b: i32, C: i32, gs: usize): void {
  for (let j = 0; j < C; j++) {
    const w = load<u32>(tile + (<usize>(b * C + j) << 2));
    const s = metaScale(w), z = metaZero(w);
    const p1 = <i32>load<u32>(gs + (<usize>(j + 1) << 2));
    for (let p = <i32>load<u32>(gs + (<usize>j << 2)); p < p1; p++) {
      store<f32>(META_A + (<usize>p << 2), s);
      store<f32>(META_B + (<usize>p << 2), z);
    }
  }
}

/** Row t of the tile in permuted order into ROW: code * scale + zero (multiply, then add). */
function decodeRow(codes: usize, t: i32, d: i32, levels: i32): void {
  if (levels == 3) {
    for (let p = 0; p < d; p++) {
      const e = t * d + p;
      const word = load<u32>(codes + (<usize>(e / 20) << 2));
      const r = e % 20;
      const byte = (word >>> (8 * (r / 5))) & 0xff;
      store<f32>(ROW + (<usize>p << 2), <f32>load<u8>(TRIT_TABLE + (<usize>byte << 3) + <usize>(r % 5)));
    }
  } else {
    const bits = levels == 4 ? 2 : 4;
    for (let p = 0; p < d; p += 8) unpack8Codes(codes, t * d + p, bits, ROW + (<usize>p << 2));
  }
  for (let p = 0; p < d; p += 4) {
    const o = <usize>p << 2;
    v128.store(ROW + o, f32x4.add(f32x4.mul(v128.load(ROW + o), v128.load(META_A + o)), v128.load(META_B + o)));
  }
}

// Fast path for C <= 4 groups (the default geometry for head_dim <= 128): a tile's per-token
// (scale, zero) rows are built with one i8x16.swizzle per 4 channels from the block's <= 4 meta
// words, instead of storing d scalars per block. IDX[k] holds, for channels 4k..4k+3, the byte
// indices 4g..4g+3 of each channel's group g; it depends only on (params, head, stream), so it is
// cached: IDX_SLOTS direct-mapped tables (keyed by where groupStart sits, checked by content),
// enough for the keys and values of every KV head when the driver walks all heads per tile.
const IDX_SLOT_COUNT: i32 = 128;
const IDX_SLOTS: usize = memory.data(IDX_SLOT_COUNT * 64 * 16, 16);
let IDX: usize = IDX_SLOTS;
// A table depends only on (d, C, groupStart), so that is its cache key (compared word by word:
// params of another cache may later sit at the same address). Keys in static memory (a global
// array literal would allocate above __heap_base, in the host's arena): per slot d, C, gs[0..4].
const IDX_KEYS: usize = memory.data(IDX_SLOT_COUNT * 32, 16);

function buildIdx(table: usize, gs: usize, d: i32): void {
  let j = 0;
  for (let p = 0; p < d; p++) {
    while (p >= <i32>load<u32>(gs + (<usize>(j + 1) << 2))) j++;
    for (let b = 0; b < 4; b++) store<u8>(table + <usize>(p * 4 + b), <u8>(4 * j + b));
  }
}

@inline function idxKeyMatches(k: usize, gs: usize, d: i32, C: i32): bool {
  if (load<i32>(k) != d || load<i32>(k + 4) != C) return false;
  for (let j = 0; j <= C; j++) if (load<u32>(k + 8 + (<usize>j << 2)) != load<u32>(gs + (<usize>j << 2))) return false;
  return true;
}

/** Points IDX at the table for this (d, C, groupStart), building it in its slot when missing. */
function ensureIdx(gs: usize, d: i32, C: i32): void {
  const s = <i32>(((<u32>gs >>> 2) * 2654435761) >>> 25); // 7 bits: IDX_SLOT_COUNT = 128
  const k = IDX_KEYS + <usize>(s * 32);
  IDX = IDX_SLOTS + <usize>(s * 64 * 16);
  if (idxKeyMatches(k, gs, d, C)) return;
  buildIdx(IDX, gs, d);
  store<i32>(k, d);
  store<i32>(k + 4, C);
  for (let j = 0; j <= C; j++) store<u32>(k + 8 + (<usize>j << 2), load<u32>(gs + (<usize>j << 2)));
}

/**
 * Ternary codes of row t into ROW as f32. Element e is digit e % 5 of byte e / 5 of the code
 * stream (bytes little-endian in words, docs/FORMAT.md), so whole bytes inside the row are one
 * table entry each (TRIT_F32: 4 floats + 1); the row's partial first and last bytes go digit by
 * digit. Reads only bytes holding the row's elements (the row may end the tile).
 */
function unpackTritRow(codes: usize, t: i32, d: i32, row: usize = ROW): void {
  const e0 = t * d, e1 = e0 + d;
  let e = e0;
  for (; e < e1 && e % 5 != 0; e++) {
    store<f32>(row + (<usize>(e - e0) << 2), <f32>load<u8>(TRIT_TABLE + (<usize>load<u8>(codes + <usize>(e / 5)) << 3) + <usize>(e % 5)));
  }
  let byte = codes + <usize>(e / 5);
  for (; e + 5 <= e1; e += 5) {
    const src = TRIT_F32 + (<usize>load<u8>(byte) << 5);
    const dst = row + (<usize>(e - e0) << 2);
    v128.store(dst, v128.load(src));
    store<f32>(dst + 16, load<f32>(src + 16));
    byte++;
  }
  for (; e < e1; e++) {
    store<f32>(row + (<usize>(e - e0) << 2), <f32>load<u8>(TRIT_TABLE + (<usize>load<u8>(codes + <usize>(e / 5)) << 3) + <usize>(e % 5)));
  }
}

/** The <= 4 metadata words of token block b, lanes = groups (lanes >= C zero). */
@inline function blockWords(tile: usize, b: i32, C: i32): v128 {
  const mw = tile + (<usize>(b * C) << 2);
  if (C == 4) return v128.load(mw); // decisions.md#D107
  let w = i32x4.splat(0);
  w = i32x4.replace_lane(w, 0, load<u32>(mw));
  if (C > 1) w = i32x4.replace_lane(w, 1, load<u32>(mw + 4));
  if (C > 2) w = i32x4.replace_lane(w, 2, load<u32>(mw + 8));
  if (C > 3) w = i32x4.replace_lane(w, 3, load<u32>(mw + 12));
  return w;
}

/** Row t (permuted order) into ROW with the swizzled per-channel scale/zero of its block. */
function decodeRowFast(tile: usize, codes: usize, t: i32, d: i32, levels: i32, C: i32, m: i32): void {
  const w = blockWords(tile, t / m, C);
  const scales = metaScale4(w);
  const zeros = metaZero4(w);
  if (levels == 3) unpackTritRow(codes, t, d);
  else if (levels == 4) for (let p = 0; p < d; p += 8) unpack8Codes(codes, t * d + p, 2, ROW + (<usize>p << 2));
  else for (let p = 0; p < d; p += 8) unpack8Codes(codes, t * d + p, 4, ROW + (<usize>p << 2));
  for (let p = 0; p < d; p += 4) {
    const o = <usize>p << 2;
    const ix = v128.load(IDX + (<usize>p << 2));
    v128.store(ROW + o, madd4(v128.load(ROW + o), i8x16.swizzle(scales, ix), i8x16.swizzle(zeros, ix)));
  }
}

// Folded kernels (C <= 4 groups, like decodeRowFast; decisions.md#D8): no
// decoded rows. Keys, one query head: per token block the permuted query times each position's
// group scale (and 2^-P for codes left in their word, placedCodes), then each token is one dot
// product with its codes; the zeros add sum_g z_g * (sum of the query over group g) per block.
// Values: the tile's codes as f32 once (TILE_CODES), then per 32-channel chunk 8 register
// accumulators over the tile's tokens with weight x group scale per lane; the zeros as one
// per-group sum over the tile, spread to the lanes at the end. Rounding differs from
// decode-then-dot (products in another order); the conformance tolerance covers it.
const QPL: usize = memory.data(256 * 4, 16);
const QS: usize = memory.data(256 * 4, 16);
const QSUM: usize = memory.data(16, 16);
const TILE_CODES: usize = memory.data(TILE_TOKENS * 256 * 4 + 32, 16); // + one 8-float table entry's overrun
/** Per token t of the tile: its weight times its block's group scales (lanes = groups). */
const WS: usize = memory.data(TILE_TOKENS * 16, 16);
/** Per token block b: scales (SC) and zeros (ZE) of the block's groups as f32 lanes. */
const SC: usize = memory.data(TILE_TOKENS * 16, 16);
const ZE: usize = memory.data(TILE_TOKENS * 16, 16);

/** SC / ZE for the tile's 32 / m blocks. */
function blockScales(tile: usize, C: i32, m: i32): void {
  for (let b = 0; b < TILE_TOKENS / m; b++) {
    const w = blockWords(tile, b, C);
    v128.store(SC + (<usize>b << 4), metaScale4(w));
    v128.store(ZE + (<usize>b << 4), metaZero4(w));
  }
}

/** s + q0 . codes 0-3 + ... of one 16-channel stretch of a code row (one 2-bit word or two 4-bit words). */
@inline function placedDot16(a: v128, q: usize, row: usize, bits: i32, k: i32): v128 {
  if (bits == 2) return madd4(v128.load(q), placedCodes(v128.load32_splat(row), k, 2), a);
  return madd4(v128.load(q), placedCodes(v128.load32_splat(row + <usize>((k >> 1) << 2)), k & 1, 4), a);
}

function scoreSkvqFolded(tile: usize, codes: usize, qp: usize, d: i32, C: i32, m: i32, gs: usize, bits: i32, scores: usize): void {
  placeQuery(qp, QPL, d, bits); // the permuted query times each lane's 2^-P
  // the query's sum over each group (lanes = groups, C <= 4)
  v128.store(QSUM, f32x4.splat(0));
  for (let j = 0; j < C; j++) {
    let sum: f32 = 0;
    for (let p = <i32>load<u32>(gs + (<usize>j << 2)); p < <i32>load<u32>(gs + (<usize>(j + 1) << 2)); p++) sum += load<f32>(qp + (<usize>p << 2));
    store<f32>(QSUM + (<usize>j << 2), sum);
  }
  const qsum = v128.load(QSUM);
  const codeRow = <usize>((d * bits) >> 3);
  for (let b = 0; b < TILE_TOKENS / m; b++) {
    const scales = v128.load(SC + (<usize>b << 4));
    const z = f32x4.mul(v128.load(ZE + (<usize>b << 4)), qsum);
    const bias = (f32x4.extract_lane(z, 0) + f32x4.extract_lane(z, 1)) + (f32x4.extract_lane(z, 2) + f32x4.extract_lane(z, 3));
    for (let p = 0; p < d; p += 4) {
      const o = <usize>p << 2;
      v128.store(QS + o, f32x4.mul(v128.load(QPL + o), i8x16.swizzle(scales, v128.load(IDX + o))));
    }
    for (let t = b * m; t < (b + 1) * m; t++) {
      const row = codes + <usize>t * codeRow;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let p = 0; p < d; p += 16) {
        const q = QS + (<usize>p << 2), r = row + <usize>((p * bits) >> 3);
        a0 = placedDot16(a0, q, r, bits, 0);
        a1 = placedDot16(a1, q + 16, r, bits, 1);
        a2 = placedDot16(a2, q + 32, r, bits, 2);
        a3 = placedDot16(a3, q + 48, r, bits, 3);
      }
      const a = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
      store<f32>(scores + (<usize>t << 2), ((f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) +
        (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3))) + bias);
    }
  }
}

/**
 * acc_v += (w_t scale lanes swizzled to the positions) * code over the tile's tokens, 4 vectors at a
 * time: their swizzle indices stay in registers across the tokens (decisions.md#D106).
 */
@inline function accumulateChunk4(acc: usize, p: i32, d: i32): void {
  const o = <usize>p << 2;
  let a0 = v128.load(acc + o), a1 = v128.load(acc + o, 16), a2 = v128.load(acc + o, 32), a3 = v128.load(acc + o, 48);
  const ix = IDX + o;
  const i0 = v128.load(ix), i1 = v128.load(ix, 16), i2 = v128.load(ix, 32), i3 = v128.load(ix, 48);
  // all 16 positions in one group g: its scale lane splatted straight from WS (decisions.md#D108)
  const g4 = <usize>load<u8>(ix), lane = v128.load(LANE_SPLAT + (g4 << 2));
  if (v128.all_true<i8>(v128.and(v128.and(i8x16.eq(i0, lane), i8x16.eq(i1, lane)), v128.and(i8x16.eq(i2, lane), i8x16.eq(i3, lane))))) {
    for (let t = 0; t < TILE_TOKENS; t++) {
      const ws = v128.load32_splat(WS + (<usize>t << 4) + g4);
      const c = TILE_CODES + ((<usize>(t * d) << 2) + o);
      a0 = madd4(ws, v128.load(c), a0);
      a1 = madd4(ws, v128.load(c, 16), a1);
      a2 = madd4(ws, v128.load(c, 32), a2);
      a3 = madd4(ws, v128.load(c, 48), a3);
    }
    v128.store(acc + o, a0); v128.store(acc + o, a1, 16); v128.store(acc + o, a2, 32); v128.store(acc + o, a3, 48);
    return;
  }
  for (let t = 0; t < TILE_TOKENS; t++) {
    const ws = v128.load(WS + (<usize>t << 4));
    const c = TILE_CODES + ((<usize>(t * d) << 2) + o);
    a0 = madd4(i8x16.swizzle(ws, i0), v128.load(c), a0);
    a1 = madd4(i8x16.swizzle(ws, i1), v128.load(c, 16), a1);
    a2 = madd4(i8x16.swizzle(ws, i2), v128.load(c, 32), a2);
    a3 = madd4(i8x16.swizzle(ws, i3), v128.load(c, 48), a3);
  }
  v128.store(acc + o, a0); v128.store(acc + o, a1, 16); v128.store(acc + o, a2, 32); v128.store(acc + o, a3, 48);
}

/**
 * The tile's n ternary codes as f32 into dst, in element order (rows are contiguous there): one
 * TRIT_F32 entry (8 floats: 5 digits, 3 zeros the next byte overwrites) per code byte, no row
 * boundaries and no divisions (decisions.md#D105). Writes up to 3 floats past dst + n.
 */
function unpackTritTile(codes: usize, n: i32, dst: usize): void {
  const bytes = (n + 4) / 5;
  for (let i = 0; i < bytes; i++) {
    const src = TRIT_F32 + (<usize>load<u8>(codes + <usize>i) << 5);
    const o = dst + <usize>(i * 20);
    v128.store(o, v128.load(src));
    v128.store(o, v128.load(src, 16), 16);
  }
}

// Integer-domain ternary and 2-bit values (`integerAttention`, on by default; decisions.md#D48, #D171), C <= 4 groups:
// acc_p += sum_t (w_t s_t,g(p)) code_t,p + sum_t w_t z_t,g(p). Per head and group the tile's
// W_t,g = w_t s_t,g are rounded to i16 with one scale beta_g = max_t |W_t,g| / 32767; the tile's
// digits are unpacked to bytes once (one TRIT_TABLE entry per code byte) and token pairs
// interleaved as i16 pairs (code_2i,p, code_2i+1,p) per position (2-bit codes: straight from the
// code bytes into the pairs by shift, AND and shuffles, pairs2Tile), so i32x4.dot_i16x8_s against
// the pair's weights (W_2i,g | W_2i+1,g << 16, splatted or swizzled per lane's group) sums two
// tokens of 4 positions in one instruction. Shared by the group's heads; per head the sums are
// converted and times beta once per tile.
/** The tile's ternary digits as bytes, [token][position] (+ 8: one table entry's overrun). */
const VI8: usize = memory.data(TILE_TOKENS * 256 + 8, 16);
/** Token pairs' digits as i16 pairs, [pair][4-position vector] (16 bytes each). */
const VPAIR: usize = memory.data((TILE_TOKENS / 2) * 64 * 16, 16);
/** Per token pair the i16 weight pairs of the 4 groups (lanes = groups); the zeros' sums per group. */
const VWP: usize = memory.data((TILE_TOKENS / 2) * 16, 16);
const VZS: usize = memory.data(16, 16);

// ternary (3) and 2-bit (4) levels: codes <= 3, so a lane of a pair's dot is <= 2 x 3 x 32767 and
// 16 pairs stay far inside i32 (decisions.md#D171)
@inline function useIntValues(levels: i32, C: i32, d: i32): bool {
  return integerAttention() && (levels == 3 || levels == 4) && C <= 4 && (d & 31) == 0 && d <= 256;
}

/**
 * The tile's 2-bit codes straight into VPAIR's i16 pairs: per token pair and 32 positions (8 code
 * bytes of each token, element e at bits 2(e % 4) of byte e / 4) the two tokens' bytes
 * interleaved, so u16 lane k of (z >> 2j) & 0x0303 holds code j of byte k of both tokens; two
 * rounds of shuffles put the four j side by side (positions 4k..4k+3) and widening to i16 gives
 * the pairs in position order.
 */
function pairs2Tile(codes: usize, d: i32): void {
  const rowB = <usize>(d >> 2), m3 = i16x8.splat(0x0303);
  for (let pp = 0; pp < TILE_TOKENS / 2; pp++) {
    const ra = codes + <usize>(2 * pp) * rowB, rb = ra + rowB;
    const dst = VPAIR + (<usize>(pp * (d >> 2)) << 4);
    for (let k = 0; k < <i32>rowB; k += 8) {
      const z = v128.shuffle<u8>(v128.load64_zero(ra + <usize>k), v128.load64_zero(rb + <usize>k),
        0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const y0 = v128.and(z, m3), y1 = v128.and(i16x8.shr_u(z, 2), m3);
      const y2 = v128.and(i16x8.shr_u(z, 4), m3), y3 = v128.and(i16x8.shr_u(z, 6), m3);
      const l01 = v128.shuffle<u16>(y0, y1, 0, 8, 1, 9, 2, 10, 3, 11), h01 = v128.shuffle<u16>(y0, y1, 4, 12, 5, 13, 6, 14, 7, 15);
      const l23 = v128.shuffle<u16>(y2, y3, 0, 8, 1, 9, 2, 10, 3, 11), h23 = v128.shuffle<u16>(y2, y3, 4, 12, 5, 13, 6, 14, 7, 15);
      const w0 = v128.shuffle<u32>(l01, l23, 0, 4, 1, 5), w1 = v128.shuffle<u32>(l01, l23, 2, 6, 3, 7);
      const w2 = v128.shuffle<u32>(h01, h23, 0, 4, 1, 5), w3 = v128.shuffle<u32>(h01, h23, 2, 6, 3, 7);
      const o = dst + (<usize>k << 4); // 4 positions (16 bytes of pairs) per code byte
      v128.store(o, i16x8.extend_low_i8x16_u(w0)); v128.store(o, i16x8.extend_high_i8x16_u(w0), 16);
      v128.store(o, i16x8.extend_low_i8x16_u(w1), 32); v128.store(o, i16x8.extend_high_i8x16_u(w1), 48);
      v128.store(o, i16x8.extend_low_i8x16_u(w2), 64); v128.store(o, i16x8.extend_high_i8x16_u(w2), 80);
      v128.store(o, i16x8.extend_low_i8x16_u(w3), 96); v128.store(o, i16x8.extend_high_i8x16_u(w3), 112);
    }
  }
}

/** The tile's ternary digits as bytes into VI8 (writes up to 3 bytes past VI8 + n). */
function unpackTritTileI8(codes: usize, n: i32): void {
  const bytes = (n + 4) / 5;
  // one 8-byte table entry per code byte, 4 bytes per code word read (each store's 3 spare
  // bytes are overwritten by the next)
  let i = 0;
  for (; i + 4 <= bytes; i += 4) {
    const w = load<u32>(codes + <usize>i), o = VI8 + <usize>(i * 5);
    store<u64>(o, load<u64>(TRIT_TABLE + (<usize>(w & 0xff) << 3)));
    store<u64>(o + 5, load<u64>(TRIT_TABLE + (<usize>((w >>> 8) & 0xff) << 3)));
    store<u64>(o + 10, load<u64>(TRIT_TABLE + (<usize>((w >>> 16) & 0xff) << 3)));
    store<u64>(o + 15, load<u64>(TRIT_TABLE + (<usize>(w >>> 24) << 3)));
  }
  for (; i < bytes; i++) store<u64>(VI8 + <usize>(i * 5), load<u64>(TRIT_TABLE + (<usize>load<u8>(codes + <usize>i) << 3)));
}

/** The tile's ternary digits into VPAIR's i16 pairs: unpacked to VI8 bytes, then token pairs interleaved. */
function pairsTritTile(codes: usize, d: i32): void {
  unpackTritTileI8(codes, TILE_TOKENS * d);
  const vecs = d >> 2, rowB = <usize>d;
  for (let pp = 0; pp < TILE_TOKENS / 2; pp++) {
    const ra = VI8 + <usize>(2 * pp) * rowB, rb = ra + rowB;
    const dst = VPAIR + (<usize>(pp * vecs) << 4);
    for (let p = 0; p < d; p += 16) {
      const a = v128.load(ra + <usize>p), b = v128.load(rb + <usize>p);
      const lo = v128.shuffle<u8>(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const hi = v128.shuffle<u8>(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      const o = dst + (<usize>p << 2);
      v128.store(o, i16x8.extend_low_i8x16_u(lo));
      v128.store(o, i16x8.extend_high_i8x16_u(lo), 16);
      v128.store(o, i16x8.extend_low_i8x16_u(hi), 32);
      v128.store(o, i16x8.extend_high_i8x16_u(hi), 48);
    }
  }
}

function accumulateSkvqInt(codes: usize, weights: usize, group: i32, d: i32, m: i32, levels: i32, state: usize): void {
  const vecs = d >> 2;
  if (levels == 4) pairs2Tile(codes, d);
  else pairsTritTile(codes, d);
  const mShift = ctz(m);
  for (let j = 0; j < group; j++) {
    const acc = state + (<usize>(j * d) << 2);
    const beta = weighHeadInt(weights + (<usize>(j * TILE_TOKENS) << 2), mShift, VWP, VZS);
    for (let p = 0; p < d; p += 16) accumulateChunkInt(acc, p, vecs, beta);
    addZerosInt(acc, d, v128.load(VZS));
  }
}

/** Per group the zeros' sum over the tile, spread to its positions. */
@inline function addZerosInt(acc: usize, d: i32, zs: v128): void {
  for (let p = 0; p < d; p += 4) {
    const o = <usize>p << 2;
    v128.store(acc + o, f32x4.add(v128.load(acc + o), i8x16.swizzle(zs, v128.load(IDX + o))));
  }
}

/**
 * One head's i16 weight pairs (W_2i,g | W_2i+1,g << 16, lanes = groups) into wp, its zeros'
 * sums sum_t w_t z_t,g into zsOut; returns beta (per group lane).
 */
@inline function weighHeadInt(w: usize, mShift: i32, wp: usize, zsOut: usize): v128 {
  let zs = f32x4.splat(0), mx = f32x4.splat(0);
  for (let t = 0; t < TILE_TOKENS; t++) {
    const wt = v128.load32_splat(w + (<usize>t << 2)), b = <usize>(t >> mShift) << 4;
    const ws = f32x4.mul(wt, v128.load(SC + b));
    v128.store(WS + (<usize>t << 4), ws);
    mx = f32x4.pmax(mx, f32x4.abs(ws));
    zs = madd4(wt, v128.load(ZE + b), zs);
  }
  v128.store(zsOut, zs);
  // beta = max / 32767 per group lane; an all-zero group gets inv 0 (its codes add nothing)
  const inv = v128.and(f32x4.div(f32x4.splat(32767.0), mx), f32x4.gt(mx, f32x4.splat(0)));
  for (let pp = 0; pp < TILE_TOKENS / 2; pp++) {
    const q0 = roundToI32(f32x4.mul(v128.load(WS + (<usize>(2 * pp) << 4)), inv));
    const q1 = roundToI32(f32x4.mul(v128.load(WS + (<usize>(2 * pp + 1) << 4)), inv));
    v128.store(wp + (<usize>pp << 4), v128.or(v128.and(q0, i32x4.splat(0xffff)), i32x4.shl(q1, 16)));
  }
  return f32x4.mul(mx, f32x4.splat(<f32>1.0 / <f32>32767.0));
}

/** acc[p..p+16) += beta_g x sum over token pairs of dot(code pairs, weight pairs), 4 vectors in registers. */
@inline function accumulateChunkInt(acc: usize, p: i32, vecs: i32, beta: v128): void {
  const o = <usize>p << 2;
  const ix = IDX + o;
  const i0 = v128.load(ix), i1 = v128.load(ix, 16), i2 = v128.load(ix, 32), i3 = v128.load(ix, 48);
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  const pS = <usize>vecs << 4;
  let c = VPAIR + o;
  const g4 = <usize>load<u8>(ix), lane = v128.load(LANE_SPLAT + (g4 << 2));
  if (v128.all_true<i8>(v128.and(v128.and(i8x16.eq(i0, lane), i8x16.eq(i1, lane)), v128.and(i8x16.eq(i2, lane), i8x16.eq(i3, lane))))) {
    // all 16 positions in one group: its weight pair splatted
    for (let pp = 0; pp < TILE_TOKENS / 2; pp++) {
      const wp = v128.load32_splat(VWP + (<usize>pp << 4) + g4);
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(c), wp));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(c, 16), wp));
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.load(c, 32), wp));
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.load(c, 48), wp));
      c += pS;
    }
  } else {
    for (let pp = 0; pp < TILE_TOKENS / 2; pp++) {
      const wv = v128.load(VWP + (<usize>pp << 4));
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(c), i8x16.swizzle(wv, i0)));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(c, 16), i8x16.swizzle(wv, i1)));
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.load(c, 32), i8x16.swizzle(wv, i2)));
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.load(c, 48), i8x16.swizzle(wv, i3)));
      c += pS;
    }
  }
  v128.store(acc + o, madd4(f32x4.convert_i32x4_s(a0), i8x16.swizzle(beta, i0), v128.load(acc + o)));
  v128.store(acc + o, madd4(f32x4.convert_i32x4_s(a1), i8x16.swizzle(beta, i1), v128.load(acc + o, 16)), 16);
  v128.store(acc + o, madd4(f32x4.convert_i32x4_s(a2), i8x16.swizzle(beta, i2), v128.load(acc + o, 32)), 32);
  v128.store(acc + o, madd4(f32x4.convert_i32x4_s(a3), i8x16.swizzle(beta, i3), v128.load(acc + o, 48)), 48);
}

function accumulateSkvqFolded(codes: usize, weights: usize, group: i32, d: i32, m: i32, levels: i32, state: usize): void {
  if (levels == 3) unpackTritTile(codes, TILE_TOKENS * d, TILE_CODES);
  else {
    for (let t = 0; t < TILE_TOKENS; t++) {
      const row = TILE_CODES + (<usize>(t * d) << 2);
      for (let p = 0; p < d; p += 8) unpack8Codes(codes, t * d + p, levels == 4 ? 2 : 4, row + (<usize>p << 2));
    }
  }
  const mShift = ctz(m); // m is a power of two (docs/codecs/skvq.md "Group geometry")
  for (let j = 0; j < group; j++) {
    const w = weights + (<usize>(j * TILE_TOKENS) << 2), acc = state + (<usize>(j * d) << 2);
    // per token: its weight times its block's scales (WS), and the zeros as one per-group sum
    // over the tile, sum_t w_t z_(block of t, group), spread to every position of the group
    let zs = f32x4.splat(0);
    for (let t = 0; t < TILE_TOKENS; t++) {
      const wt = v128.load32_splat(w + (<usize>t << 2)), b = <usize>(t >> mShift) << 4;
      v128.store(WS + (<usize>t << 4), f32x4.mul(wt, v128.load(SC + b)));
      zs = madd4(wt, v128.load(ZE + b), zs);
    }
    for (let p = 0; p < d; p += 16) accumulateChunk4(acc, p, d);
    for (let p = 0; p < d; p += 4) {
      const o = <usize>p << 2;
      v128.store(acc + o, f32x4.add(v128.load(acc + o), i8x16.swizzle(zs, v128.load(IDX + o))));
    }
  }
}

// 2-bit keys, C <= 4 groups, any query group (decisions.md#D105). prepare_skvq lays out in the
// key scratch, per (query, KV head): EXT, the permuted query split by channel group into 4-lane
// vectors (vector v = permuted positions 4v..4v+3, lanes outside the group zero, so a vector
// shared by two groups appears once in each), lane l times 4^-l, vector e of head j at
// (e * group + j) * 16; QSUMS, per query head the query's sum over each group (lanes = groups);
// SEG, per group its first EXT vector, vector count and first code byte. A token's 4 codes of
// vector v are byte v of its code row: splatted, ANDed with (3, 3 << 2, 3 << 4, 3 << 6) and
// converted they are code * 4^l, which EXT's 4^-l undoes exactly. Per token and group the
// group's dot products are scaled once by the token's group scale; the zeros add the token's
// zeros times QSUMS. Four units (query heads x tokens: 4 x 1, 2 x 2 or 1 x 4) per pass, so each
// code byte or query vector loaded feeds several multiply-adds.
/** Byte indices splatting f32 lane g of a vector (i8x16.swizzle), g = 0..3. */
const LANE_SPLAT: usize = memory.data<u8>([
  0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3,
  4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7,
  8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11,
  12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15,
], 16);

@inline function extBytesOf(group: i32, d: i32): usize { return <usize>(group * ((d >> 2) + 3)) << 4; }

function prepareKeys2(q: usize, group: i32, d: i32, perm: usize, gs: usize, C: i32, scratch: usize): void {
  const qsums = scratch + extBytesOf(group, d), seg = qsums + (<usize>group << 4);
  memory.fill(qsums, 0, <usize>group << 4);
  let e = 0;
  for (let g = 0; g < C; g++) {
    const p0 = <i32>load<u32>(gs + (<usize>g << 2)), p1 = <i32>load<u32>(gs + (<usize>(g + 1) << 2));
    const sg = seg + (<usize>g << 4);
    store<u32>(sg, e);
    if (p1 <= p0) { store<u32>(sg, 0, 4); store<u32>(sg, 0, 8); continue; }
    const vf = p0 >> 2, vl = (p1 - 1) >> 2;
    store<u32>(sg, vl - vf + 1, 4);
    store<u32>(sg, vf, 8);
    for (let v = vf; v <= vl; v++, e++) {
      for (let j = 0; j < group; j++) {
        const dst = scratch + (<usize>(e * group + j) << 4), sp = qsums + (<usize>((j << 2) + g) << 2);
        let sum = load<f32>(sp), place: f32 = 1;
        for (let l = 0; l < 4; l++, place *= 0.25) {
          const p = 4 * v + l;
          let x: f32 = 0;
          if (p >= p0 && p < p1) {
            x = load<f32>(q + (<usize>(j * d + <i32>load<u32>(perm + (<usize>p << 2))) << 2));
            sum += x;
          }
          store<f32>(dst + (<usize>l << 2), x * place);
        }
        store<f32>(sp, sum);
      }
    }
  }
}

/** The 4 placed codes of code byte r: code_l * 4^l in lane l. */
@inline function byteCodes(r: usize, mask: v128): v128 {
  return f32x4.convert_i32x4_s(v128.and(v128.load8_splat(r), mask));
}

/** Scores of query heads j..j+H-1 (H = 1, 2 or 4, a literal) over the tile, 4 / H tokens per pass. */
@inline function scoreUnits2(H: i32, codes: usize, rowBytes: usize, ext: usize, group: i32, qsums: usize, seg: usize,
  C: i32, mShift: i32, scores: usize, j: i32): void {
  const P = 4 / H;
  const eStride = <usize>group << 4;
  const q0 = ext + (<usize>j << 4), qs = qsums + (<usize>j << 4);
  const mask = i32x4(3, 3 << 2, 3 << 4, 3 << 6);
  for (let t = 0; t < TILE_TOKENS; t += P) {
    const r0 = codes + <usize>t * rowBytes;
    const S0 = v128.load(SC + (<usize>(t >> mShift) << 4));
    const S1 = P > 1 ? v128.load(SC + (<usize>((t + 1) >> mShift) << 4)) : S0;
    const S2 = P > 2 ? v128.load(SC + (<usize>((t + 2) >> mShift) << 4)) : S0;
    const S3 = P > 2 ? v128.load(SC + (<usize>((t + 3) >> mShift) << 4)) : S0;
    let T0 = f32x4.splat(0), T1 = f32x4.splat(0), T2 = f32x4.splat(0), T3 = f32x4.splat(0);
    for (let g = 0; g < C; g++) {
      const sg = seg + (<usize>g << 4);
      const n = load<u32>(sg, 4);
      let e = q0 + <usize>load<u32>(sg) * eStride, r = r0 + <usize>load<u32>(sg, 8);
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let k: u32 = 0; k < n; k++) {
        if (H == 4) {
          const c = byteCodes(r, mask);
          a0 = madd4(v128.load(e), c, a0);
          a1 = madd4(v128.load(e, 16), c, a1);
          a2 = madd4(v128.load(e, 32), c, a2);
          a3 = madd4(v128.load(e, 48), c, a3);
        } else if (H == 2) {
          const c0 = byteCodes(r, mask), c1 = byteCodes(r + rowBytes, mask);
          const qa = v128.load(e), qb = v128.load(e, 16);
          a0 = madd4(qa, c0, a0);
          a1 = madd4(qb, c0, a1);
          a2 = madd4(qa, c1, a2);
          a3 = madd4(qb, c1, a3);
        } else {
          const qa = v128.load(e);
          a0 = madd4(qa, byteCodes(r, mask), a0);
          a1 = madd4(qa, byteCodes(r + rowBytes, mask), a1);
          a2 = madd4(qa, byteCodes(r + 2 * rowBytes, mask), a2);
          a3 = madd4(qa, byteCodes(r + 3 * rowBytes, mask), a3);
        }
        r++;
        e += eStride;
      }
      // unit u times its token's scale of group g
      const li = v128.load(LANE_SPLAT + (<usize>g << 4));
      const s0 = i8x16.swizzle(S0, li);
      if (H == 4) {
        T0 = madd4(a0, s0, T0); T1 = madd4(a1, s0, T1); T2 = madd4(a2, s0, T2); T3 = madd4(a3, s0, T3);
      } else if (H == 2) {
        const s1 = i8x16.swizzle(S1, li);
        T0 = madd4(a0, s0, T0); T1 = madd4(a1, s0, T1); T2 = madd4(a2, s1, T2); T3 = madd4(a3, s1, T3);
      } else {
        T0 = madd4(a0, s0, T0); T1 = madd4(a1, i8x16.swizzle(S1, li), T1);
        T2 = madd4(a2, i8x16.swizzle(S2, li), T2); T3 = madd4(a3, i8x16.swizzle(S3, li), T3);
      }
    }
    // zeros: the token's group zeros times the head's group sums (lanes = groups; both 0 past C)
    const Z0 = v128.load(ZE + (<usize>(t >> mShift) << 4));
    if (H == 4) {
      T0 = madd4(Z0, v128.load(qs), T0); T1 = madd4(Z0, v128.load(qs, 16), T1);
      T2 = madd4(Z0, v128.load(qs, 32), T2); T3 = madd4(Z0, v128.load(qs, 48), T3);
      const res = hsum4(T0, T1, T2, T3);
      const o = scores + (<usize>(j * TILE_TOKENS + t) << 2);
      store<f32>(o, f32x4.extract_lane(res, 0));
      store<f32>(o, f32x4.extract_lane(res, 1), TILE_TOKENS * 4);
      store<f32>(o, f32x4.extract_lane(res, 2), TILE_TOKENS * 8);
      store<f32>(o, f32x4.extract_lane(res, 3), TILE_TOKENS * 12);
    } else if (H == 2) {
      const Z1 = v128.load(ZE + (<usize>((t + 1) >> mShift) << 4));
      const qa = v128.load(qs), qb = v128.load(qs, 16);
      T0 = madd4(Z0, qa, T0); T1 = madd4(Z0, qb, T1); T2 = madd4(Z1, qa, T2); T3 = madd4(Z1, qb, T3);
      const res = hsum4(T0, T1, T2, T3);
      const o = scores + (<usize>(j * TILE_TOKENS + t) << 2);
      store<f32>(o, f32x4.extract_lane(res, 0));
      store<f32>(o, f32x4.extract_lane(res, 1), TILE_TOKENS * 4);
      store<f32>(o, f32x4.extract_lane(res, 2), 4);
      store<f32>(o, f32x4.extract_lane(res, 3), TILE_TOKENS * 4 + 4);
    } else {
      const qa = v128.load(qs);
      T0 = madd4(Z0, qa, T0);
      T1 = madd4(v128.load(ZE + (<usize>((t + 1) >> mShift) << 4)), qa, T1);
      T2 = madd4(v128.load(ZE + (<usize>((t + 2) >> mShift) << 4)), qa, T2);
      T3 = madd4(v128.load(ZE + (<usize>((t + 3) >> mShift) << 4)), qa, T3);
      v128.store(scores + (<usize>(j * TILE_TOKENS + t) << 2), hsum4(T0, T1, T2, T3));
    }
  }
}

function scoreSkvq2(tile: usize, codes: usize, group: i32, d: i32, C: i32, m: i32, scratch: usize, scores: usize): void {
  blockScales(tile, C, m);
  const qsums = scratch + extBytesOf(group, d), seg = qsums + (<usize>group << 4);
  const rowBytes = <usize>(d >> 2), mShift = ctz(m);
  let j = 0;
  for (; j + 4 <= group; j += 4) scoreUnits2(4, codes, rowBytes, scratch, group, qsums, seg, C, mShift, scores, j);
  for (; j + 2 <= group; j += 2) scoreUnits2(2, codes, rowBytes, scratch, group, qsums, seg, C, mShift, scores, j);
  for (; j < group; j++) scoreUnits2(1, codes, rowBytes, scratch, group, qsums, seg, C, mShift, scores, j);
}

// Integer-domain 2-bit keys (opt-in: `integerAttention`, int-dot.ts; decisions.md#D47). SKVQ's key
// scales are per (token block, channel group), so they multiply after the dot product: the
// permuted query is rounded to i16 once per call (one scale alpha per head, quantizeQueryI16's
// laneCodes order), not per tile as KIVI's folded query must be. A token's code row, read 16
// bytes at a time as i16 lanes and split by shift and AND, is dotted with it by
// i32x4.dot_i16x8_s; summed over the 8 code positions of a lane, i32 lane b of a 16-byte chunk
// holds the dot product over the chunk's 16-position block b (positions 64 c + 16 b .. + 15).
// Each block is scaled by the token's scale of its main group (the one holding most of its
// positions: one swizzle of the token's group scales per chunk, shared by the heads). Where a
// group boundary cuts a block, the other groups' positions are corrected in f32 as the float
// kernel scores them (byte splat, AND, convert: code x 4^l): (s_other - s_main) x (q / alpha) .
// codes, per 4-position vector and other group, at most 4 (C - 1) entries. The zeros add the
// token's zeros times the head's group sums / alpha, and alpha multiplies the total.
/** One head's permuted query (f32) and its i16 form; group of each position. */
const INT_QF: usize = memory.data(256 * 4, 16);
const INT_QI: usize = memory.data(256 * 2, 16);
const INT_GROUP_OF: usize = memory.data(256, 16);
/** Correction entries per call (C <= 4). */
const INT_CORR_MAX: i32 = 12;

/** The integer key path: 2-bit codes, C <= 4, whole 16-byte code chunks (d % 64 == 0). */
@inline function useIntKeys(levels: i32, C: i32, d: i32): bool {
  return integerAttention() && levels == 4 && C <= 4 && (d & 63) == 0 && d <= 256;
}

// Key scratch of the integer path: [ncorr u32, pad], per chunk the main groups' swizzle indices
// (16 bytes), per correction entry [code byte u32, main group u32, other group u32, pad, code
// mask (16 bytes)]; per head the group sums / alpha (f32x4) and alpha (f32, padded to 4 heads);
// the i16 query [chunk][head][k] (16 bytes each); the correction queries / alpha [entry][head].
@inline function intTabOf(scratch: usize): usize { return scratch + 16; }
@inline function intCorrOf(scratch: usize, d: i32): usize { return scratch + 16 + (<usize>(d >> 6) << 4); }
@inline function intQsumsOf(scratch: usize, d: i32): usize { return intCorrOf(scratch, d) + <usize>(INT_CORR_MAX << 5); }
@inline function intAlphasOf(scratch: usize, group: i32, d: i32): usize { return intQsumsOf(scratch, d) + (<usize>group << 4); }
@inline function intQiOf(scratch: usize, group: i32, d: i32): usize {
  return intAlphasOf(scratch, group, d) + (<usize>((group + 3) & ~3) << 2);
}
@inline function intCorrQOf(scratch: usize, group: i32, d: i32): usize {
  return intQiOf(scratch, group, d) + (<usize>(group * (d >> 6)) << 7);
}

function prepareKeys2Int(q: usize, group: i32, d: i32, perm: usize, gs: usize, C: i32, scratch: usize): void {
  for (let g = 0; g < C; g++) {
    const p1 = <i32>load<u32>(gs + (<usize>(g + 1) << 2));
    for (let p = <i32>load<u32>(gs + (<usize>g << 2)); p < p1; p++) store<u8>(INT_GROUP_OF + <usize>p, <u8>g);
  }
  // per block its main group; per 4-position vector of a cut block and other group, an entry
  const tab = intTabOf(scratch), corr = intCorrOf(scratch, d);
  let ncorr = 0;
  for (let blk = 0; blk < (d >> 4); blk++) {
    const p0 = 16 * blk;
    let main = 0, best = 0;
    for (let g = 0; g < C; g++) {
      let n = 0;
      for (let p = p0; p < p0 + 16; p++) if (<i32>load<u8>(INT_GROUP_OF + <usize>p) == g) n++;
      if (n > best) { best = n; main = g; }
    }
    for (let i = 0; i < 4; i++) store<u8>(tab + <usize>(4 * blk + i), <u8>(4 * main + i));
    if (best == 16) continue;
    for (let v = p0 >> 2; v < (p0 >> 2) + 4; v++) {
      for (let g = 0; g < C; g++) {
        if (g == main) continue;
        const e = corr + (<usize>ncorr << 5);
        let any = false;
        for (let l = 0; l < 4; l++) {
          const own = <i32>load<u8>(INT_GROUP_OF + <usize>(4 * v + l)) == g;
          store<u32>(e + 16 + (<usize>l << 2), own ? 3 << (2 * l) : 0);
          any = any || own;
        }
        if (!any) continue;
        store<u32>(e, v);
        store<u32>(e, main, 4);
        store<u32>(e, g, 8);
        ncorr++;
      }
    }
  }
  store<u32>(scratch, ncorr);
  const qsums = intQsumsOf(scratch, d), alphas = intAlphasOf(scratch, group, d);
  const qi = intQiOf(scratch, group, d), corrq = intCorrQOf(scratch, group, d);
  memory.fill(alphas, 0, <usize>((group + 3) & ~3) << 2);
  for (let j = 0; j < group; j++) {
    for (let p = 0; p < d; p++) {
      store<f32>(INT_QF + (<usize>p << 2), load<f32>(q + (<usize>(j * d + <i32>load<u32>(perm + (<usize>p << 2))) << 2)));
    }
    const alpha = quantizeQueryI16(INT_QF, INT_QI, d, 2);
    const inv: f32 = alpha > 0 ? <f32>1 / alpha : 0;
    store<f32>(alphas + (<usize>j << 2), alpha);
    // the group sums (f32 query, position order), over alpha: alpha multiplies the whole score
    for (let g = 0; g < 4; g++) {
      let sum: f32 = 0;
      if (g < C) {
        const p1 = <i32>load<u32>(gs + (<usize>(g + 1) << 2));
        for (let p = <i32>load<u32>(gs + (<usize>g << 2)); p < p1; p++) sum += load<f32>(INT_QF + (<usize>p << 2));
      }
      store<f32>(qsums + (<usize>((j << 2) + g) << 2), sum * inv);
    }
    for (let c = 0; c < (d >> 6); c++) memory.copy(qi + (<usize>(c * group + j) << 7), INT_QI + (<usize>c << 7), 128);
    // correction queries: the entry's positions of q / alpha, lane l times 4^-l (the placed codes)
    for (let k = 0; k < ncorr; k++) {
      const e = corr + (<usize>k << 5);
      const v = <i32>load<u32>(e), g = <i32>load<u32>(e, 8);
      const dst = corrq + (<usize>(k * group + j) << 4);
      let place: f32 = 1;
      for (let l = 0; l < 4; l++, place *= 0.25) {
        const p = 4 * v + l;
        store<f32>(dst + (<usize>l << 2), <i32>load<u8>(INT_GROUP_OF + <usize>p) == g ? load<f32>(INT_QF + (<usize>p << 2)) * inv * place : 0);
      }
    }
  }
}

@inline function dotI16(a: v128, x: v128, q: v128): v128 {
  return i32x4.add(a, i32x4.dot_i16x8_s(x, q));
}

/** Scores of query heads j..j+H-1 (H = 1, 2 or 4, a literal), 4 / H tokens per pass (units as scoreUnits2). */
@inline function scoreUnitsInt(H: i32, codes: usize, rowBytes: usize, scratch: usize, group: i32, d: i32,
  mShift: i32, scores: usize, j: i32): void {
  const P = 4 / H;
  const tab = intTabOf(scratch), corr = intCorrOf(scratch, d), ncorr = <i32>load<u32>(scratch);
  const chunkS = <usize>group << 7, corrS = <usize>group << 4;
  const q0 = intQiOf(scratch, group, d) + (<usize>j << 7);
  const c0 = intCorrQOf(scratch, group, d) + (<usize>j << 4);
  const qs = intQsumsOf(scratch, d) + (<usize>j << 4);
  const al = intAlphasOf(scratch, group, d) + (<usize>j << 2);
  const alpha = H == 4 ? v128.load(al) : H == 2 ? v128.load64_splat(al) : v128.load32_splat(al);
  const m = laneMask(2);
  const chunks = d >> 6;
  for (let t = 0; t < TILE_TOKENS; t += P) {
    const r0 = codes + <usize>t * rowBytes;
    const S0 = v128.load(SC + (<usize>(t >> mShift) << 4));
    const S1 = P > 1 ? v128.load(SC + (<usize>((t + 1) >> mShift) << 4)) : S0;
    const S2 = P > 2 ? v128.load(SC + (<usize>((t + 2) >> mShift) << 4)) : S0;
    const S3 = P > 2 ? v128.load(SC + (<usize>((t + 3) >> mShift) << 4)) : S0;
    let T0 = f32x4.splat(0), T1 = f32x4.splat(0), T2 = f32x4.splat(0), T3 = f32x4.splat(0);
    for (let c = 0; c < chunks; c++) {
      const r = r0 + (<usize>c << 4);
      const e = q0 + <usize>c * chunkS;
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
      if (H == 4) {
        // the 8 code positions unrolled (decisions.md#D49)
        const v = v128.load(r);
        let x: v128;
        x = v128.and(v, m);
        a0 = dotI16(a0, x, v128.load(e, 0)); a1 = dotI16(a1, x, v128.load(e, 128));
        a2 = dotI16(a2, x, v128.load(e, 256)); a3 = dotI16(a3, x, v128.load(e, 384));
        x = v128.and(i16x8.shr_u(v, 2), m);
        a0 = dotI16(a0, x, v128.load(e, 16)); a1 = dotI16(a1, x, v128.load(e, 144));
        a2 = dotI16(a2, x, v128.load(e, 272)); a3 = dotI16(a3, x, v128.load(e, 400));
        x = v128.and(i16x8.shr_u(v, 4), m);
        a0 = dotI16(a0, x, v128.load(e, 32)); a1 = dotI16(a1, x, v128.load(e, 160));
        a2 = dotI16(a2, x, v128.load(e, 288)); a3 = dotI16(a3, x, v128.load(e, 416));
        x = v128.and(i16x8.shr_u(v, 6), m);
        a0 = dotI16(a0, x, v128.load(e, 48)); a1 = dotI16(a1, x, v128.load(e, 176));
        a2 = dotI16(a2, x, v128.load(e, 304)); a3 = dotI16(a3, x, v128.load(e, 432));
        x = v128.and(i16x8.shr_u(v, 8), m);
        a0 = dotI16(a0, x, v128.load(e, 64)); a1 = dotI16(a1, x, v128.load(e, 192));
        a2 = dotI16(a2, x, v128.load(e, 320)); a3 = dotI16(a3, x, v128.load(e, 448));
        x = v128.and(i16x8.shr_u(v, 10), m);
        a0 = dotI16(a0, x, v128.load(e, 80)); a1 = dotI16(a1, x, v128.load(e, 208));
        a2 = dotI16(a2, x, v128.load(e, 336)); a3 = dotI16(a3, x, v128.load(e, 464));
        x = v128.and(i16x8.shr_u(v, 12), m);
        a0 = dotI16(a0, x, v128.load(e, 96)); a1 = dotI16(a1, x, v128.load(e, 224));
        a2 = dotI16(a2, x, v128.load(e, 352)); a3 = dotI16(a3, x, v128.load(e, 480));
        x = v128.and(i16x8.shr_u(v, 14), m);
        a0 = dotI16(a0, x, v128.load(e, 112)); a1 = dotI16(a1, x, v128.load(e, 240));
        a2 = dotI16(a2, x, v128.load(e, 368)); a3 = dotI16(a3, x, v128.load(e, 496));
      } else if (H == 2) {
        const v0 = v128.load(r), v1 = v128.load(r + rowBytes);
        let x0: v128, x1: v128, qa: v128, qb: v128;
        x0 = v128.and(v0, m); x1 = v128.and(v1, m); qa = v128.load(e, 0); qb = v128.load(e, 128);
        a0 = dotI16(a0, x0, qa); a1 = dotI16(a1, x0, qb); a2 = dotI16(a2, x1, qa); a3 = dotI16(a3, x1, qb);
        x0 = v128.and(i16x8.shr_u(v0, 2), m); x1 = v128.and(i16x8.shr_u(v1, 2), m); qa = v128.load(e, 16); qb = v128.load(e, 144);
        a0 = dotI16(a0, x0, qa); a1 = dotI16(a1, x0, qb); a2 = dotI16(a2, x1, qa); a3 = dotI16(a3, x1, qb);
        x0 = v128.and(i16x8.shr_u(v0, 4), m); x1 = v128.and(i16x8.shr_u(v1, 4), m); qa = v128.load(e, 32); qb = v128.load(e, 160);
        a0 = dotI16(a0, x0, qa); a1 = dotI16(a1, x0, qb); a2 = dotI16(a2, x1, qa); a3 = dotI16(a3, x1, qb);
        x0 = v128.and(i16x8.shr_u(v0, 6), m); x1 = v128.and(i16x8.shr_u(v1, 6), m); qa = v128.load(e, 48); qb = v128.load(e, 176);
        a0 = dotI16(a0, x0, qa); a1 = dotI16(a1, x0, qb); a2 = dotI16(a2, x1, qa); a3 = dotI16(a3, x1, qb);
        x0 = v128.and(i16x8.shr_u(v0, 8), m); x1 = v128.and(i16x8.shr_u(v1, 8), m); qa = v128.load(e, 64); qb = v128.load(e, 192);
        a0 = dotI16(a0, x0, qa); a1 = dotI16(a1, x0, qb); a2 = dotI16(a2, x1, qa); a3 = dotI16(a3, x1, qb);
        x0 = v128.and(i16x8.shr_u(v0, 10), m); x1 = v128.and(i16x8.shr_u(v1, 10), m); qa = v128.load(e, 80); qb = v128.load(e, 208);
        a0 = dotI16(a0, x0, qa); a1 = dotI16(a1, x0, qb); a2 = dotI16(a2, x1, qa); a3 = dotI16(a3, x1, qb);
        x0 = v128.and(i16x8.shr_u(v0, 12), m); x1 = v128.and(i16x8.shr_u(v1, 12), m); qa = v128.load(e, 96); qb = v128.load(e, 224);
        a0 = dotI16(a0, x0, qa); a1 = dotI16(a1, x0, qb); a2 = dotI16(a2, x1, qa); a3 = dotI16(a3, x1, qb);
        x0 = v128.and(i16x8.shr_u(v0, 14), m); x1 = v128.and(i16x8.shr_u(v1, 14), m); qa = v128.load(e, 112); qb = v128.load(e, 240);
        a0 = dotI16(a0, x0, qa); a1 = dotI16(a1, x0, qb); a2 = dotI16(a2, x1, qa); a3 = dotI16(a3, x1, qb);
      } else {
        const v0 = v128.load(r), v1 = v128.load(r + rowBytes), v2 = v128.load(r + 2 * rowBytes), v3 = v128.load(r + 3 * rowBytes);
        let qa: v128;
        qa = v128.load(e, 0);
        a0 = dotI16(a0, v128.and(v0, m), qa); a1 = dotI16(a1, v128.and(v1, m), qa);
        a2 = dotI16(a2, v128.and(v2, m), qa); a3 = dotI16(a3, v128.and(v3, m), qa);
        qa = v128.load(e, 16);
        a0 = dotI16(a0, v128.and(i16x8.shr_u(v0, 2), m), qa); a1 = dotI16(a1, v128.and(i16x8.shr_u(v1, 2), m), qa);
        a2 = dotI16(a2, v128.and(i16x8.shr_u(v2, 2), m), qa); a3 = dotI16(a3, v128.and(i16x8.shr_u(v3, 2), m), qa);
        qa = v128.load(e, 32);
        a0 = dotI16(a0, v128.and(i16x8.shr_u(v0, 4), m), qa); a1 = dotI16(a1, v128.and(i16x8.shr_u(v1, 4), m), qa);
        a2 = dotI16(a2, v128.and(i16x8.shr_u(v2, 4), m), qa); a3 = dotI16(a3, v128.and(i16x8.shr_u(v3, 4), m), qa);
        qa = v128.load(e, 48);
        a0 = dotI16(a0, v128.and(i16x8.shr_u(v0, 6), m), qa); a1 = dotI16(a1, v128.and(i16x8.shr_u(v1, 6), m), qa);
        a2 = dotI16(a2, v128.and(i16x8.shr_u(v2, 6), m), qa); a3 = dotI16(a3, v128.and(i16x8.shr_u(v3, 6), m), qa);
        qa = v128.load(e, 64);
        a0 = dotI16(a0, v128.and(i16x8.shr_u(v0, 8), m), qa); a1 = dotI16(a1, v128.and(i16x8.shr_u(v1, 8), m), qa);
        a2 = dotI16(a2, v128.and(i16x8.shr_u(v2, 8), m), qa); a3 = dotI16(a3, v128.and(i16x8.shr_u(v3, 8), m), qa);
        qa = v128.load(e, 80);
        a0 = dotI16(a0, v128.and(i16x8.shr_u(v0, 10), m), qa); a1 = dotI16(a1, v128.and(i16x8.shr_u(v1, 10), m), qa);
        a2 = dotI16(a2, v128.and(i16x8.shr_u(v2, 10), m), qa); a3 = dotI16(a3, v128.and(i16x8.shr_u(v3, 10), m), qa);
        qa = v128.load(e, 96);
        a0 = dotI16(a0, v128.and(i16x8.shr_u(v0, 12), m), qa); a1 = dotI16(a1, v128.and(i16x8.shr_u(v1, 12), m), qa);
        a2 = dotI16(a2, v128.and(i16x8.shr_u(v2, 12), m), qa); a3 = dotI16(a3, v128.and(i16x8.shr_u(v3, 12), m), qa);
        qa = v128.load(e, 112);
        a0 = dotI16(a0, v128.and(i16x8.shr_u(v0, 14), m), qa); a1 = dotI16(a1, v128.and(i16x8.shr_u(v1, 14), m), qa);
        a2 = dotI16(a2, v128.and(i16x8.shr_u(v2, 14), m), qa); a3 = dotI16(a3, v128.and(i16x8.shr_u(v3, 14), m), qa);
      }
      // block sums times the token's scale of each block's main group
      const idx = v128.load(tab + (<usize>c << 4));
      const s0 = i8x16.swizzle(S0, idx);
      if (H == 4) {
        T0 = madd4(f32x4.convert_i32x4_s(a0), s0, T0); T1 = madd4(f32x4.convert_i32x4_s(a1), s0, T1);
        T2 = madd4(f32x4.convert_i32x4_s(a2), s0, T2); T3 = madd4(f32x4.convert_i32x4_s(a3), s0, T3);
      } else if (H == 2) {
        const s1 = i8x16.swizzle(S1, idx);
        T0 = madd4(f32x4.convert_i32x4_s(a0), s0, T0); T1 = madd4(f32x4.convert_i32x4_s(a1), s0, T1);
        T2 = madd4(f32x4.convert_i32x4_s(a2), s1, T2); T3 = madd4(f32x4.convert_i32x4_s(a3), s1, T3);
      } else {
        T0 = madd4(f32x4.convert_i32x4_s(a0), s0, T0); T1 = madd4(f32x4.convert_i32x4_s(a1), i8x16.swizzle(S1, idx), T1);
        T2 = madd4(f32x4.convert_i32x4_s(a2), i8x16.swizzle(S2, idx), T2); T3 = madd4(f32x4.convert_i32x4_s(a3), i8x16.swizzle(S3, idx), T3);
      }
    }
    // cut blocks: (s_other - s_main) x (q / alpha) . placed codes, per entry
    for (let k = 0; k < ncorr; k++) {
      const en = corr + (<usize>k << 5);
      const r = r0 + <usize>load<u32>(en);
      const mask = v128.load(en, 16);
      const lm = v128.load(LANE_SPLAT + (<usize>load<u32>(en, 4) << 4)), lo = v128.load(LANE_SPLAT + (<usize>load<u32>(en, 8) << 4));
      const e = c0 + <usize>k * corrS;
      if (H == 4) {
        const cd = f32x4.mul(byteCodes(r, mask), f32x4.sub(i8x16.swizzle(S0, lo), i8x16.swizzle(S0, lm)));
        T0 = madd4(v128.load(e), cd, T0); T1 = madd4(v128.load(e, 16), cd, T1);
        T2 = madd4(v128.load(e, 32), cd, T2); T3 = madd4(v128.load(e, 48), cd, T3);
      } else if (H == 2) {
        const cd0 = f32x4.mul(byteCodes(r, mask), f32x4.sub(i8x16.swizzle(S0, lo), i8x16.swizzle(S0, lm)));
        const cd1 = f32x4.mul(byteCodes(r + rowBytes, mask), f32x4.sub(i8x16.swizzle(S1, lo), i8x16.swizzle(S1, lm)));
        const qa = v128.load(e), qb = v128.load(e, 16);
        T0 = madd4(qa, cd0, T0); T1 = madd4(qb, cd0, T1); T2 = madd4(qa, cd1, T2); T3 = madd4(qb, cd1, T3);
      } else {
        const qa = v128.load(e);
        T0 = madd4(qa, f32x4.mul(byteCodes(r, mask), f32x4.sub(i8x16.swizzle(S0, lo), i8x16.swizzle(S0, lm))), T0);
        T1 = madd4(qa, f32x4.mul(byteCodes(r + rowBytes, mask), f32x4.sub(i8x16.swizzle(S1, lo), i8x16.swizzle(S1, lm))), T1);
        T2 = madd4(qa, f32x4.mul(byteCodes(r + 2 * rowBytes, mask), f32x4.sub(i8x16.swizzle(S2, lo), i8x16.swizzle(S2, lm))), T2);
        T3 = madd4(qa, f32x4.mul(byteCodes(r + 3 * rowBytes, mask), f32x4.sub(i8x16.swizzle(S3, lo), i8x16.swizzle(S3, lm))), T3);
      }
    }
    // zeros: the token's group zeros times the head's group sums / alpha; then alpha times the total
    const Z0 = v128.load(ZE + (<usize>(t >> mShift) << 4));
    if (H == 4) {
      T0 = madd4(Z0, v128.load(qs), T0); T1 = madd4(Z0, v128.load(qs, 16), T1);
      T2 = madd4(Z0, v128.load(qs, 32), T2); T3 = madd4(Z0, v128.load(qs, 48), T3);
      const res = f32x4.mul(hsum4(T0, T1, T2, T3), alpha);
      const o = scores + (<usize>(j * TILE_TOKENS + t) << 2);
      store<f32>(o, f32x4.extract_lane(res, 0));
      store<f32>(o, f32x4.extract_lane(res, 1), TILE_TOKENS * 4);
      store<f32>(o, f32x4.extract_lane(res, 2), TILE_TOKENS * 8);
      store<f32>(o, f32x4.extract_lane(res, 3), TILE_TOKENS * 12);
    } else if (H == 2) {
      const Z1 = v128.load(ZE + (<usize>((t + 1) >> mShift) << 4));
      const qa = v128.load(qs), qb = v128.load(qs, 16);
      T0 = madd4(Z0, qa, T0); T1 = madd4(Z0, qb, T1); T2 = madd4(Z1, qa, T2); T3 = madd4(Z1, qb, T3);
      const res = f32x4.mul(hsum4(T0, T1, T2, T3), alpha);
      const o = scores + (<usize>(j * TILE_TOKENS + t) << 2);
      store<f32>(o, f32x4.extract_lane(res, 0));
      store<f32>(o, f32x4.extract_lane(res, 1), TILE_TOKENS * 4);
      store<f32>(o, f32x4.extract_lane(res, 2), 4);
      store<f32>(o, f32x4.extract_lane(res, 3), TILE_TOKENS * 4 + 4);
    } else {
      const qa = v128.load(qs);
      T0 = madd4(Z0, qa, T0);
      T1 = madd4(v128.load(ZE + (<usize>((t + 1) >> mShift) << 4)), qa, T1);
      T2 = madd4(v128.load(ZE + (<usize>((t + 2) >> mShift) << 4)), qa, T2);
      T3 = madd4(v128.load(ZE + (<usize>((t + 3) >> mShift) << 4)), qa, T3);
      v128.store(scores + (<usize>(j * TILE_TOKENS + t) << 2), f32x4.mul(hsum4(T0, T1, T2, T3), alpha));
    }
  }
}

function scoreSkvq2Int(tile: usize, codes: usize, group: i32, d: i32, C: i32, m: i32, scratch: usize, scores: usize): void {
  blockScales(tile, C, m);
  const rowBytes = <usize>(d >> 2), mShift = ctz(m);
  let j = 0;
  for (; j + 4 <= group; j += 4) scoreUnitsInt(4, codes, rowBytes, scratch, group, d, mShift, scores, j);
  for (; j + 2 <= group; j += 2) scoreUnitsInt(2, codes, rowBytes, scratch, group, d, mShift, scores, j);
  for (; j < group; j++) scoreUnitsInt(1, codes, rowBytes, scratch, group, d, mShift, scores, j);
}

/** Query heads of the group gathered into permuted order: scratch[j*d + p] = q[j*d + perm[p]]. */
function prepareSkvq(q: usize, group: i32, d: i32, head: i32, params: usize, scratch: usize): void {
  const C = pClusters(params), perm = pHead(params, d, C, head);
  if (useIntKeys(pLevels(params), C, d)) {
    prepareKeys2Int(q, group, d, perm, perm + (<usize>d << 2), C, scratch);
    return;
  }
  if (pLevels(params) == 4 && C <= 4) {
    prepareKeys2(q, group, d, perm, perm + (<usize>d << 2), C, scratch);
    return;
  }
  for (let j = 0; j < group; j++) {
    for (let p = 0; p < d; p++) {
      store<f32>(scratch + (<usize>(j * d + p) << 2), load<f32>(q + (<usize>(j * d + <i32>load<u32>(perm + (<usize>p << 2))) << 2)));
    }
  }
}

function scoreSkvq(tile: usize, q: usize, group: i32, d: i32, head: i32, params: usize, scratch: usize, scores: usize): void {
  const levels = pLevels(params), C = pClusters(params), m = pTokens(params);
  if (levels == 3 && !tritTableReady) buildTritTable();
  const gs = pHead(params, d, C, head) + (<usize>d << 2);
  const codes = tile + (<usize>metaWordsOf(C, m) << 2);
  if (useIntKeys(levels, C, d)) {
    scoreSkvq2Int(tile, codes, group, d, C, m, scratch, scores); // the scratch prepareKeys2Int laid out
    return;
  }
  if (C <= 4 && levels == 4) {
    scoreSkvq2(tile, codes, group, d, C, m, scratch, scores); // the scratch prepareKeys2 laid out
    return;
  }
  if (C <= 4) {
    ensureIdx(gs, d, C);
    if (group == 1 && levels != 3 && d % 16 == 0) {
      blockScales(tile, C, m);
      scoreSkvqFolded(tile, codes, scratch, d, C, m, gs, levels == 4 ? 2 : 4, scores);
      return;
    }
    for (let t = 0; t < TILE_TOKENS; t++) {
      decodeRowFast(tile, codes, t, d, levels, C, m);
      dotGroup(ROW, scratch, group, d, scores, t, TILE_TOKENS);
    }
    return;
  }
  for (let t = 0; t < TILE_TOKENS; t++) {
    if (t % m == 0) blockMeta(tile, t / m, C, gs);
    decodeRow(codes, t, d, levels);
    dotGroup(ROW, scratch, group, d, scores, t, TILE_TOKENS);
  }
}

function accumulateSkvq(tile: usize, weights: usize, group: i32, d: i32, head: i32, params: usize, state: usize): void {
  const levels = pLevels(params), C = pClusters(params), m = pTokens(params);
  if (levels == 3 && !tritTableReady) buildTritTable();
  const gs = pHead(params, d, C, head) + (<usize>d << 2);
  const codes = tile + (<usize>metaWordsOf(C, m) << 2);
  if (C <= 4) {
    ensureIdx(gs, d, C);
    if (useIntValues(levels, C, d)) {
      blockScales(tile, C, m);
      accumulateSkvqInt(codes, weights, group, d, m, levels, state);
      return;
    }
    if (d % 32 == 0) {
      blockScales(tile, C, m);
      accumulateSkvqFolded(codes, weights, group, d, m, levels, state);
      return;
    }
    for (let t = 0; t < TILE_TOKENS; t++) {
      decodeRowFast(tile, codes, t, d, levels, C, m);
      axpyGroup(ROW, weights, t, group, d, state, TILE_TOKENS);
    }
    return;
  }
  for (let t = 0; t < TILE_TOKENS; t++) {
    if (t % m == 0) blockMeta(tile, t / m, C, gs);
    decodeRow(codes, t, d, levels);
    axpyGroup(ROW, weights, t, group, d, state, TILE_TOKENS);
  }
}

/** out[j*d + perm[p]] += state[j*d + p]: the permuted value state back to model order. */
function finishSkvq(state: usize, group: i32, d: i32, head: i32, params: usize, out: usize): void {
  const perm = pHead(params, d, pClusters(params), head);
  for (let j = 0; j < group; j++) {
    for (let p = 0; p < d; p++) {
      const o = out + (<usize>(j * d + <i32>load<u32>(perm + (<usize>p << 2))) << 2);
      store<f32>(o, load<f32>(o) + load<f32>(state + (<usize>(j * d + p) << 2)));
    }
  }
}

export function prepare_skvq(): usize { return changetype<usize>(prepareSkvq); }
export function score_skvq(): usize { return changetype<usize>(scoreSkvq); }
export function accumulate_skvq(): usize { return changetype<usize>(accumulateSkvq); }
export function finish_skvq(): usize { return changetype<usize>(finishSkvq); }

/** Whole tile decoded into model channel order (calibration's clip search; not used by attention). */
export function decodeTileModel(tile: usize, d: i32, head: i32, params: usize, out: usize): void {
  const levels = pLevels(params), C = pClusters(params), m = pTokens(params);
  if (levels == 3 && !tritTableReady) buildTritTable();
  const perm = pHead(params, d, C, head), gs = perm + (<usize>d << 2);
  const codes = tile + (<usize>metaWordsOf(C, m) << 2);
  for (let t = 0; t < TILE_TOKENS; t++) {
    if (t % m == 0) blockMeta(tile, t / m, C, gs);
    decodeRow(codes, t, d, levels);
    for (let p = 0; p < d; p++) {
      store<f32>(out + (<usize>(t * d + <i32>load<u32>(perm + (<usize>p << 2))) << 2), load<f32>(ROW + (<usize>p << 2)));
    }
  }
}
