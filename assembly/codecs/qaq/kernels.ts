// QAQ kernels (docs/codecs/qaq.md, record layout docs/FORMAT.md "QAQ"): encode one record
// (identical words to ts/codecs/qaq/record.ts encodeRecord, outliers selected as
// ts/codecs/qaq/outliers.ts selectOutliers) and the fused attention over a sequence's packed
// records (partial softmax per query head, the oracle is ts/codecs/qaq/attend.ts). Widths are
// chosen by the host (they depend on the attention history the host keeps).
import { f16BitsToF32, metaF16Bits } from '../../f16';
import { affineCode, affineParams, affineScale, affineZero, metaScale, metaZero } from '../../quant';
import { unpack8Codes } from '../../bitpack';
import { axpy, dot, madd4, scaleInPlace } from '../../vec';

const TOKENS: i32 = 32;
const META_OFFSET: i32 = 4;
const OUTLIER_OFFSET: i32 = 36;

@inline
function orBits(base: usize, bit: u32, bits: i32, code: u32): void {
  const w = base + ((bit >>> 5) << 2);
  const shift = bit & 31;
  store<u32>(w, load<u32>(w) | (code << shift));
  if (<i32>shift + bits > 32) store<u32>(w + 4, load<u32>(w + 4) | (code >>> (32 - shift)));
}

@inline
function getBits(base: usize, bit: u32, bits: i32): u32 {
  const w = base + ((bit >>> 5) << 2);
  const shift = bit & 31;
  let v = load<u32>(w) >>> shift;
  if (<i32>shift + bits > 32) v |= load<u32>(w + 4) << (32 - shift);
  return v & ((<u32>1 << bits) - 1);
}

/** True when column c of the row is an outlier: its rank by (value, column) is in the low or high tail. */
@inline
function isOutlier(row: usize, rowWidth: i32, c: i32, low: i32, high: i32): bool {
  const x = load<f32>(row + (<usize>c << 2));
  let rank = 0;
  for (let j = 0; j < rowWidth; j++) {
    const y = load<f32>(row + (<usize>j << 2));
    if (y < x || (y == x && j < c)) rank++;
  }
  return rank < low || rank >= rowWidth - high;
}

/**
 * Encodes rows (TOKENS x rowWidth f32) with widths bits (TOKENS u8, 1..8) into out (zeroed by
 * this kernel), `low` + `high` outliers per row. Returns the record's word count.
 */
export function encode_qaq_record(rows: usize, rowWidth: i32, bits: usize, low: i32, high: i32, out: usize): i32 {
  const m = low + high;
  let sum = 0;
  for (let t = 0; t < TOKENS; t++) sum += <i32>load<u8>(bits + t);
  const codeWords = OUTLIER_OFFSET + TOKENS * m;
  const total = codeWords + <i32>((<u32>rowWidth * <u32>sum + 31) >>> 5);
  for (let i = 0; i < total; i++) store<u32>(out + (<usize>i << 2), 0);
  const codes = out + (<usize>codeWords << 2);
  let bit: u32 = 0;
  for (let t = 0; t < TOKENS; t++) {
    const b = <i32>load<u8>(bits + t);
    const row = rows + (<usize>(t * rowWidth) << 2);
    const wp = out + (<usize>(t >>> 3) << 2);
    store<u32>(wp, load<u32>(wp) | (<u32>b << ((t & 7) * 4)));
    let mn = Infinity as f32, mx = -Infinity as f32, k = 0;
    for (let c = 0; c < rowWidth; c++) {
      const x = load<f32>(row + (<usize>c << 2));
      if (m > 0 && isOutlier(row, rowWidth, c, low, high)) {
        store<u32>(out + (<usize>(OUTLIER_OFFSET + t * m + k) << 2), <u32>c | (metaF16Bits(x) << 16));
        k++;
        continue;
      }
      if (x < mn) mn = x;
      if (x > mx) mx = x;
    }
    if (mn > mx) { mn = 0; mx = 0; }
    store<u32>(out + (<usize>(META_OFFSET + t) << 2), affineParams(mn, mx, b, 1));
    const scale = affineScale, zero = affineZero;
    for (let c = 0; c < rowWidth; c++) {
      orBits(codes, bit, b, affineCode(load<f32>(row + (<usize>c << 2)), scale, zero, b));
      bit += <u32>b;
    }
  }
  return total;
}

/**
 * Decodes columns [col0, col0 + d) of token t of the record at `rec` into dst (d f32); `bit` is
 * the token's first code bit. Outliers overwrite their columns.
 */
@inline
function decodeRow(rec: usize, codes: usize, m: i32, t: i32, bit: u32, b: i32, col0: i32, d: i32, dst: usize): void {
  const meta = load<u32>(rec + (<usize>(META_OFFSET + t) << 2));
  const scale = metaScale(meta), zero = metaZero(meta);
  let p = bit + <u32>(col0 * b);
  if (b == 2 || b == 4 || b == 8) {
    // rowWidth and col0 are multiples of 8, so every run of 8 codes starts on a byte: SIMD unpack
    const base = codes + <usize>(p >>> 3);
    const sv = f32x4.splat(scale), zv = f32x4.splat(zero);
    for (let c = 0; c < d; c += 8) {
      const o = dst + (<usize>c << 2);
      unpack8Codes(base, c, b, o);
      v128.store(o, madd4(v128.load(o), sv, zv));
      v128.store(o, madd4(v128.load(o, 16), sv, zv), 16);
    }
  } else {
    for (let c = 0; c < d; c++) {
      store<f32>(dst + (<usize>c << 2), <f32>getBits(codes, p, b) * scale + zero);
      p += <u32>b;
    }
  }
  for (let j = 0; j < m; j++) {
    const w = load<u32>(rec + (<usize>(OUTLIER_OFFSET + t * m + j) << 2));
    const c = <i32>(w & 0xffff) - col0;
    if (c >= 0 && c < d) store<f32>(dst + (<usize>c << 2), f16BitsToF32(w >>> 16));
  }
}

/** Fields of the u32 argument block of qaq_packed_partials (ts/codecs/qaq/wasm.ts QAQ_ARG). */
const A_PAGES = 0;      // pointer to u32[pages]: byte pointer of each page
const A_PAGE_WORDS = 1;
const A_OFFSETS = 2;    // pointer to u32 record addresses (ts/codecs/qaq/attend.ts QaqPackedView.offsets)
const A_TILES = 3;
const A_GROUPS = 4;
const A_ROW_WIDTH = 5;
const A_OUTLIERS = 6;
const A_KV_HEADS = 7;
const A_HEAD_DIM = 8;
const A_N_HEADS = 9;
const A_Q = 10;         // f32 [nHeads][headDim]
const A_M = 11;         // f32 [nHeads] out: max score (-Inf if no tiles)
const A_L = 12;         // f32 [nHeads] out
const A_ACC = 13;       // f32 [nHeads][headDim] out
const A_WORK = 14;      // f32 scratch: group*32 scores + 2 rows of headDim
export const QAQ_ARG_COUNT: i32 = 15;

export function qaq_arg_count(): i32 {
  return QAQ_ARG_COUNT;
}

/** Bytes of scratch qaq_packed_partials needs. */
export function qaq_work_bytes(group: i32, headDim: i32): i32 {
  return (group * TOKENS + 2 * headDim) * 4;
}

@inline
function arg(a: usize, i: i32): u32 {
  return load<u32>(a + (<usize>i << 2));
}

@inline
function recordAt(pages: usize, pageWords: u32, addr: u32): usize {
  return <usize>load<u32>(pages + (<usize>(addr / pageWords) << 2)) + (<usize>(addr % pageWords) << 2);
}

/**
 * Partial softmax of every query head over the packed records of one sequence (flash-decoding
 * state m, l, acc), all query heads of a GQA group per KV head in one pass over its records:
 * keys decoded one token row at a time into scratch, scored against the group's queries, then
 * values decoded per token and accumulated with the group's weights. Scores are scaled by
 * 1/sqrt(headDim).
 */
export function qaq_packed_partials(a: usize): void {
  const pages = <usize>arg(a, A_PAGES), pageWords = arg(a, A_PAGE_WORDS), offsets = <usize>arg(a, A_OFFSETS);
  const tiles = <i32>arg(a, A_TILES), groups = <i32>arg(a, A_GROUPS), R = <i32>arg(a, A_ROW_WIDTH);
  const m = <i32>arg(a, A_OUTLIERS), nKv = <i32>arg(a, A_KV_HEADS), d = <i32>arg(a, A_HEAD_DIM);
  const nHeads = <i32>arg(a, A_N_HEADS), q = <usize>arg(a, A_Q);
  const outM = <usize>arg(a, A_M), outL = <usize>arg(a, A_L), acc = <usize>arg(a, A_ACC);
  const work = <usize>arg(a, A_WORK);
  const group = nHeads / nKv;
  const scores = work, krow = work + (<usize>(group * TOKENS) << 2), vrow = krow + (<usize>d << 2);
  const scale: f32 = <f32>1 / Mathf.sqrt(<f32>d);
  for (let h = 0; h < nHeads; h++) {
    store<f32>(outM + (<usize>h << 2), -Infinity);
    store<f32>(outL + (<usize>h << 2), 0);
  }
  for (let i = 0; i < nHeads * d; i++) store<f32>(acc + (<usize>i << 2), 0);
  const codeOff: usize = <usize>(OUTLIER_OFFSET + TOKENS * m) << 2;
  for (let tile = 0; tile < tiles; tile++) {
    for (let g = 0; g < nKv; g++) {
      const gr = groups == 1 ? 0 : g, col0 = groups == 1 ? g * d : 0;
      const rk = (tile * groups + gr) * 2;
      const kRec = recordAt(pages, pageWords, load<u32>(offsets + (<usize>rk << 2)));
      const vRec = recordAt(pages, pageWords, load<u32>(offsets + (<usize>(rk + 1) << 2)));
      // keys: one row at a time, scored against every query head of the group
      let bit: u32 = 0;
      for (let t = 0; t < TOKENS; t++) {
        const b = <i32>((load<u32>(kRec + (<usize>(t >>> 3) << 2)) >>> ((t & 7) * 4)) & 15);
        decodeRow(kRec, kRec + codeOff, m, t, bit, b, col0, d, krow);
        bit += <u32>(b * R);
        for (let j = 0; j < group; j++) {
          const h = g * group + j;
          store<f32>(scores + (<usize>(j * TOKENS + t) << 2), dot(q + (<usize>(h * d) << 2), krow, d) * scale);
        }
      }
      // online softmax: rescale each head's state to the new max, turn scores into weights
      for (let j = 0; j < group; j++) {
        const h = g * group + j;
        let tm = -Infinity as f32;
        for (let t = 0; t < TOKENS; t++) tm = max(tm, load<f32>(scores + (<usize>(j * TOKENS + t) << 2)));
        const old = load<f32>(outM + (<usize>h << 2));
        const M = max(old, tm);
        const corr: f32 = old == -Infinity ? 0 : Mathf.exp(old - M);
        let l = load<f32>(outL + (<usize>h << 2)) * corr;
        scaleInPlace(acc + (<usize>(h * d) << 2), corr, d);
        for (let t = 0; t < TOKENS; t++) {
          const p = scores + (<usize>(j * TOKENS + t) << 2);
          const w = Mathf.exp(load<f32>(p) - M);
          store<f32>(p, w);
          l += w;
        }
        store<f32>(outM + (<usize>h << 2), M);
        store<f32>(outL + (<usize>h << 2), l);
      }
      // values: one row at a time, added into every head of the group with its weight
      bit = 0;
      for (let t = 0; t < TOKENS; t++) {
        const b = <i32>((load<u32>(vRec + (<usize>(t >>> 3) << 2)) >>> ((t & 7) * 4)) & 15);
        decodeRow(vRec, vRec + codeOff, m, t, bit, b, col0, d, vrow);
        bit += <u32>(b * R);
        for (let j = 0; j < group; j++) {
          const h = g * group + j;
          axpy(acc + (<usize>(h * d) << 2), load<f32>(scores + (<usize>(j * TOKENS + t) << 2)), vrow, d);
        }
      }
    }
  }
}
