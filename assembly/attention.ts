// Fused decode attention for one sequence over sinks + packed tiles (pages) + tail, all query heads
// of a GQA group per KV head in one pass, with an online softmax per block of up to TILE_TOKENS
// tokens. The tiles are walked once for all KV heads (tile-major, attendHeads) unless a codec
// with per-head key scratch or value state gets a single region for them (SCRATCH_STRIDE 0): then
// one KV head at a time. Codec kernels are called through function references (call_indirect once
// per tile and stream), so any key codec pairs with any value codec and no dequantized cache ever
// exists: a codec decodes at most one tile's codes into static scratch.
import { TILE_TOKENS, TILES_PER_PAGE } from './constants';
import { AccumulateValues, FinishValues, PrepareKeys, ScoreKeys } from './kernel-types';
import { expf1, expf4 } from './expf';
import { accumulateRows4, axpyGroup, dotGroup, scaleInPlace, scoreRows4 } from './vec';

/**
 * u32 fields of the argument block the host writes before calling `attend_sequence`
 * (mirrored by ATTEND_ARG in ts/backends/wasm-abi.ts; `attend_arg_count` lets the host check).
 * Pointers are byte offsets; fp32 regions are [token][nKvHeads][headDim] as in PackedKvCache.
 */
export const enum Arg {
  HEAD_DIM = 0, N_KV_HEADS, GROUP,
  Q, OUT,                       // [nKvHeads * group][headDim] f32 each
  SINK_COUNT, SINK_K, SINK_V,
  TAIL_COUNT, TAIL_K, TAIL_V,
  TILES, PAGE_TABLE,            // PAGE_TABLE: u32 byte pointer of each page
  KEY_TILE_WORDS, VALUE_TILE_WORDS,
  KEY_SCORE, KEY_PREPARE, KEY_PARAMS, KEY_SCRATCH,           // function refs (0 = none) and buffers
  VALUE_ACCUMULATE, VALUE_FINISH, VALUE_PARAMS, VALUE_STATE, VALUE_STATE_FLOATS,
  WORK,                         // attend_work_bytes(group, headDim) bytes of driver scratch
  HEAD_BEGIN, HEAD_END,         // KV heads [begin, end) to attend (threads split the heads)
  // 0: KEY_SCRATCH / VALUE_STATE hold one KV head's regions; > 0: one region per KV head of
  // [HEAD_BEGIN, HEAD_END), key scratch regions this many bytes apart, value states
  // GROUP * VALUE_STATE_FLOATS floats apart (lets codecs with them run tile-major)
  SCRATCH_STRIDE,
  // tiles [TILE_BEGIN, TILE_END) of the sequence only, sinks if REGIONS & 1, tail if REGIONS & 2
  // (threads split a sequence's tiles, flash-decoding style); STATS (0 = none): f32 [query head][2]
  // of the softmax max m and sum l of what was attended, for the host's merge; a head that
  // attended nothing (l = 0) gets out 0
  TILE_BEGIN, TILE_END, REGIONS, STATS,
  COUNT,
}

export function attend_arg_count(): i32 {
  return Arg.COUNT;
}

/** Driver scratch: scores and weights [group][TILE_TOKENS], m and l [group], acc [group][headDim]. */
export function attend_work_bytes(group: i32, headDim: i32): i32 {
  return (2 * group * TILE_TOKENS + 2 * group + group * headDim) * 4 + 16;
}

@inline
function arg(a: usize, i: i32): u32 {
  return load<u32>(a + (<usize>i << 2));
}

/**
 * Online-softmax update of every head of the group with `n` new raw scores: scale them, pad to
 * a multiple of 4 with -Infinity (weight exactly 0), rescale (l, acc, value state) when the max
 * grows, then turn the scores into weights in place (exp(s - m), SIMD), adding them to l.
 */
function softmaxBlock(scores: usize, n: i32, group: i32, scale: f32, m: usize, l: usize, acc: usize, d: i32,
  state: usize, stateFloats: i32): void {
  const n4 = (n + 3) & ~3;
  const sc = f32x4.splat(scale);
  for (let j = 0; j < group; j++) {
    const s = scores + (<usize>(j * TILE_TOKENS) << 2);
    for (let t = n; t < n4; t++) store<f32>(s + (<usize>t << 2), -Infinity);
    let mv = f32x4.splat(-Infinity);
    for (let t = 0; t < n4; t += 4) {
      const p = s + (<usize>t << 2);
      const v = f32x4.mul(v128.load(p), sc);
      v128.store(p, v);
      mv = f32x4.max(mv, v);
    }
    const mt = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)),
      max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    const mj = m + (<usize>j << 2), lj = l + (<usize>j << 2);
    let mOld = load<f32>(mj);
    if (mt > mOld) {
      const c = expf1(mOld - mt); // 0 on the first block (mOld = -Infinity)
      store<f32>(lj, load<f32>(lj) * c);
      scaleInPlace(acc + (<usize>(j * d) << 2), c, d);
      if (stateFloats > 0) scaleInPlace(state + (<usize>(j * stateFloats) << 2), c, stateFloats);
      store<f32>(mj, mt);
      mOld = mt;
    }
    const mo = f32x4.splat(mOld);
    let sum = f32x4.splat(0);
    for (let t = 0; t < n4; t += 4) {
      const p = s + (<usize>t << 2);
      const w = expf4(f32x4.sub(v128.load(p), mo));
      v128.store(p, w);
      sum = f32x4.add(sum, w);
    }
    store<f32>(lj, load<f32>(lj) + ((f32x4.extract_lane(sum, 0) + f32x4.extract_lane(sum, 1)) +
      (f32x4.extract_lane(sum, 2) + f32x4.extract_lane(sum, 3))));
  }
}

/** Blocks of up to TILE_TOKENS fp32 tokens (sinks, tail) of KV head g, 4 rows at a time. */
function fpRegion(K: usize, V: usize, count: i32, g: i32, d: i32, tokenStride: usize, q: usize, group: i32,
  scale: f32, work: usize, acc: usize, m: usize, l: usize, state: usize, stateFloats: i32): void {
  const scores = work;
  const headOff = <usize>(g * d) << 2;
  for (let t0 = 0; t0 < count; t0 += TILE_TOKENS) {
    const n = min(TILE_TOKENS, count - t0);
    const kb = K + <usize>t0 * tokenStride + headOff, vb = V + <usize>t0 * tokenStride + headOff;
    let t = 0;
    for (; t + 4 <= n; t += 4) scoreRows4(kb + <usize>t * tokenStride, tokenStride, q, group, d, scores, t, TILE_TOKENS);
    for (; t < n; t++) dotGroup(kb + <usize>t * tokenStride, q, group, d, scores, t, TILE_TOKENS);
    softmaxBlock(scores, n, group, scale, m, l, acc, d, state, stateFloats);
    t = 0;
    for (; t + 4 <= n; t += 4) accumulateRows4(vb + <usize>t * tokenStride, tokenStride, scores, t, group, d, acc, TILE_TOKENS);
    for (; t < n; t++) axpyGroup(vb + <usize>t * tokenStride, scores, t, group, d, acc, TILE_TOKENS);
  }
}

/**
 * out[h] = softmax over all tokens of (q_h . k / sqrt(d)) applied to v, for every query head h of
 * one sequence; args: the block described by `Arg`. Tile-major (attendHeads over the whole head
 * range) where every head's state can live at once, else one KV head at a time (the same function
 * over one head, its state in the driver scratch WORK).
 */
export function attend_sequence(a: usize): void {
  const d = <i32>arg(a, Arg.HEAD_DIM), group = <i32>arg(a, Arg.GROUP);
  const g0 = <i32>arg(a, Arg.HEAD_BEGIN), g1 = min(<i32>arg(a, Arg.N_KV_HEADS), <i32>arg(a, Arg.HEAD_END));
  const heads = (g1 - g0) * group;
  const perHead = (arg(a, Arg.KEY_PREPARE) == 0 && arg(a, Arg.VALUE_FINISH) == 0 && arg(a, Arg.VALUE_STATE_FLOATS) == 0)
    || arg(a, Arg.SCRATCH_STRIDE) > 0;
  if (perHead && heads <= TM_HEADS && heads * d <= TM_ACC_FLOATS) {
    attendHeads(a, g0, g1, TM_M, TM_L, TM_ACC);
    return;
  }
  // WORK: scores and weights [group][TILE_TOKENS], then m, l [group], then acc [group][d]
  const m = <usize>arg(a, Arg.WORK) + (<usize>(2 * group * TILE_TOKENS) << 2);
  const l = m + (<usize>group << 2);
  const acc = (l + (<usize>group << 2) + 15) & ~<usize>15;
  for (let g = g0; g < g1; g++) attendHeads(a, g, g + 1, m, l, acc);
}

/**
 * KV heads [g0, g1) of the args block, tile-major: every head's online-softmax state at once (m and
 * l at mBase / lBase + i group floats, acc at accBase + i group d floats for head g0 + i; its key
 * scratch and value state in the host's per-head regions, SCRATCH_STRIDE, when there are several),
 * and each tile slot read once, all heads of the range in memory order, instead of one head's tile
 * per slot (a 3 KB read every ~96 KB at LLaMA shapes, which the hardware prefetchers do not follow
 * across pages). Per head the same operations run in the same order whatever the range: outputs
 * are bit for bit those of one head at a time.
 */
const TM_HEADS: i32 = 1024;
const TM_ACC_FLOATS: i32 = 16384;
const TM_M: usize = memory.data(TM_HEADS * 4, 16);
const TM_L: usize = memory.data(TM_HEADS * 4, 16);
const TM_ACC: usize = memory.data(TM_ACC_FLOATS * 4, 16);

function attendHeads(a: usize, g0: i32, g1: i32, mBase: usize, lBase: usize, accBase: usize): void {
  const d = <i32>arg(a, Arg.HEAD_DIM);
  const nKv = <i32>arg(a, Arg.N_KV_HEADS);
  const group = <i32>arg(a, Arg.GROUP);
  const q = <usize>arg(a, Arg.Q), out = <usize>arg(a, Arg.OUT);
  const tiles = <i32>arg(a, Arg.TILES), pageTable = <usize>arg(a, Arg.PAGE_TABLE);
  const kW = <usize>arg(a, Arg.KEY_TILE_WORDS), vW = <usize>arg(a, Arg.VALUE_TILE_WORDS);
  const score = changetype<ScoreKeys>(<usize>arg(a, Arg.KEY_SCORE));
  const accumulate = changetype<AccumulateValues>(<usize>arg(a, Arg.VALUE_ACCUMULATE));
  const prepareRef = <usize>arg(a, Arg.KEY_PREPARE), finishRef = <usize>arg(a, Arg.VALUE_FINISH);
  const kParams = <usize>arg(a, Arg.KEY_PARAMS), vParams = <usize>arg(a, Arg.VALUE_PARAMS);
  const kScratch = <usize>arg(a, Arg.KEY_SCRATCH);
  const state = <usize>arg(a, Arg.VALUE_STATE), stateFloats = <i32>arg(a, Arg.VALUE_STATE_FLOATS);
  const scratchStride = <usize>arg(a, Arg.SCRATCH_STRIDE), stateStride = <usize>(group * stateFloats) << 2;
  const work = <usize>arg(a, Arg.WORK);
  const scores = work;
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>d);
  const tokenStride = <usize>(nKv * d) << 2;
  const slotBytes = (<usize>nKv * (kW + vW)) << 2;
  const heads = (g1 - g0) * group;
  for (let j = 0; j < heads; j++) {
    store<f32>(mBase + (<usize>j << 2), -Infinity);
    store<f32>(lBase + (<usize>j << 2), 0);
  }
  memory.fill(accBase, 0, <usize>(heads * d) << 2);
  if (stateFloats > 0) memory.fill(state, 0, <usize>(g1 - g0) * stateStride);
  // head g (i = g - g0): m, l at mBase / lBase + i group, acc at accBase + i group d, key scratch
  // at kScratch + i scratchStride, value state at state + i stateStride
  const regions = arg(a, Arg.REGIONS), stats = <usize>arg(a, Arg.STATS);
  const sinkCount = (regions & 1) != 0 ? <i32>arg(a, Arg.SINK_COUNT) : 0;
  const tailCount = (regions & 2) != 0 ? <i32>arg(a, Arg.TAIL_COUNT) : 0;
  const tile0 = <i32>arg(a, Arg.TILE_BEGIN), tile1 = min(tiles, <i32>arg(a, Arg.TILE_END));
  for (let g = g0; g < g1; g++) {
    const i = <usize>(g - g0), h = i * <usize>group;
    const qg = q + (<usize>(g * group * d) << 2);
    if (prepareRef != 0) changetype<PrepareKeys>(prepareRef)(qg, group, d, g, kParams, kScratch + i * scratchStride);
    fpRegion(<usize>arg(a, Arg.SINK_K), <usize>arg(a, Arg.SINK_V), sinkCount, g, d, tokenStride,
      qg, group, scale, work, accBase + ((h * <usize>d) << 2), mBase + (h << 2), lBase + (h << 2), state + i * stateStride, stateFloats);
  }
  for (let tile = tile0; tile < tile1; tile++) {
    const page = <usize>load<u32>(pageTable + (<usize>(tile / TILES_PER_PAGE) << 2));
    const slot = page + <usize>(tile % TILES_PER_PAGE) * slotBytes;
    for (let g = g0; g < g1; g++) {
      const i = <usize>(g - g0), h = i * <usize>group;
      const acc = accBase + ((h * <usize>d) << 2), st = state + i * stateStride;
      const kTile = slot + ((<usize>g * (kW + vW)) << 2);
      score(kTile, q + (<usize>(g * group * d) << 2), group, d, g, kParams, kScratch + i * scratchStride, scores);
      softmaxBlock(scores, TILE_TOKENS, group, scale, mBase + (h << 2), lBase + (h << 2), acc, d, st, stateFloats);
      accumulate(kTile + (kW << 2), scores, group, d, g, vParams, stateFloats > 0 ? st : acc);
    }
  }
  for (let g = g0; g < g1; g++) {
    const i = <usize>(g - g0), h = i * <usize>group;
    const acc = accBase + ((h * <usize>d) << 2), st = state + i * stateStride;
    fpRegion(<usize>arg(a, Arg.TAIL_K), <usize>arg(a, Arg.TAIL_V), tailCount, g, d, tokenStride,
      q + (<usize>(g * group * d) << 2), group, scale, work, acc, mBase + (h << 2), lBase + (h << 2), st, stateFloats);
    if (finishRef != 0) changetype<FinishValues>(finishRef)(st, group, d, g, vParams, acc);
    const og = out + (<usize>(g * group * d) << 2);
    for (let j = 0; j < group; j++) {
      const lj = load<f32>(lBase + ((h + <usize>j) << 2));
      const lv = f32x4.splat(lj);
      const src = acc + (<usize>(j * d) << 2), dst = og + (<usize>(j * d) << 2);
      if (stats != 0) {
        const sp = stats + (<usize>((g * group + j) * 2) << 2);
        store<f32>(sp, load<f32>(mBase + ((h + <usize>j) << 2)));
        store<f32>(sp, lj, 4);
        if (lj == 0) { memory.fill(dst, 0, <usize>d << 2); continue; }
      }
      for (let c = 0; c < d; c += 4) {
        v128.store(dst + (<usize>c << 2), f32x4.div(v128.load(src + (<usize>c << 2)), lv));
      }
    }
  }
}
