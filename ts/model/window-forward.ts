import { PackedKvCache } from '../cache/kv-cache.js';
import { decodeRecord } from '../codecs/qaq/record.js';
import { QaqKvCache } from '../codecs/qaq/cache.js';
import type { QaqPackedView } from '../codecs/qaq/attend.js';
import { check, KvpackError } from '../errors.js';
import { TILE_TOKENS, TILES_PER_PAGE } from '../format/constants.js';
import type { Model } from './config.js';
import type { ModelRunner } from './forward.js';
import { tsWindowEngine, type WindowEngine } from './window-engine.js';
import { applyRope, logProb, rmsNorm, ropeAngles } from './math.js';

/**
 * Whole-window evaluation with the same numbers as decoding the window one token at a time.
 *
 * At decode step p a PackedKvCache holds: the first `sinks` tokens in fp32, the tiles sealed so
 * far (decoded by the codec), and the other tokens up to p in fp32 (tail and window). A tile
 * seals when the tail reaches window + TILE_TOKENS tokens, so tile i (tokens sinks + 32i ..
 * sinks + 32i + 31) is sealed from step sinks + window + 32(i + 1) - 1 on, and the words it gets
 * depend on its own 32 tokens only. The cache's content at step p is therefore a function of the
 * keys and values of positions <= p, which one pass computes for all p at once: per layer, the
 * keys and values of every position (batched projections), every tile sealed by the cache
 * itself (it is appended the whole window, so the tiles are exactly the words decoding would
 * store), decoded once, and for each query position the attention over sinks and exact keys,
 * then decoded tiles up to that step's seal point, then exact keys again. Query rows are taken
 * in blocks that start at seal steps, so each block sees one cache state.
 *
 * Differences from the step path are rounding only (scores in f32, softmax normalized before
 * the value sum instead of online); projections and the feed-forward match bit for bit.
 *
 * QaqKvCache layers (widths chosen from the attention each token received) go through the same
 * blocks in order, driving the real cache as decoding does: before a block, the block's first
 * token is appended (the cache seals the tile due at that step, choosing its widths from the
 * rows recorded so far: those of the earlier blocks), the new tile is decoded; after the block's
 * softmax, each row's token is appended and the row's weights recorded (recordAttention: per
 * tail token the largest weight of the group's heads, and the largest weight of any sealed
 * token), as an attend at that step records them. Other caches that attend themselves are refused.
 */
export function windowNll(runner: ModelRunner, seq: number, tokens: readonly number[],
  engine: WindowEngine = tsWindowEngine, observe?: WindowObserver): { nll: number; predicted: number } {
  const model = runner.model, c = model.config;
  const T = tokens.length;
  check(T >= 2 && T <= c.seqLen, 'BAD_PARAM', `window of ${T} tokens outside [2, seq_len=${c.seqLen}]`, 'tokens');
  for (const t of tokens) check(Number.isInteger(t) && t >= 0 && t < c.vocabSize, 'BAD_PARAM', `token ${t} outside [0, ${c.vocabSize})`, 'tokens');
  for (const cache of runner.caches) {
    if (!(cache instanceof PackedKvCache) && !(cache instanceof QaqKvCache)) {
      throw new KvpackError('BAD_PARAM', 'whole-window evaluation needs PackedKvCache or QaqKvCache layers; other caches that attend themselves decode step by step', 'cache');
    }
    check(!cache.hasSequence(seq), 'BAD_PARAM', `sequence ${seq} is already cached`, 'seq');
  }
  const ws = workspace(engine, model, T);
  const w = model.weights;
  const dense = (o: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number): void => engine.dense(o, a, b, m, n, k);
  const dim = c.dim, hd = c.headDim, nH = c.nHeads, group = nH / c.nKvHeads;
  const qDim = nH * hd, kvDim = c.nKvHeads * hd, hidden = c.hiddenDim;
  const { x, xb, q, k, v, att, proj, hb, hb2, heads, scores, logits } = ws;
  tokens.forEach((t, p) => x.set(w.tokenEmbedding.subarray(t * dim, (t + 1) * dim), p * dim));

  for (let l = 0; l < c.nLayers; l++) {
    const lw = w.layers[l]!, mw = ws.layers[l]!, cache = runner.caches[l] as PackedKvCache | QaqKvCache;
    for (let p = 0; p < T; p++) rmsNorm(xb.subarray(p * dim, (p + 1) * dim), x.subarray(p * dim, (p + 1) * dim), lw.rmsAtt, c.normEps);
    dense(q, xb, mw.wq, T, qDim, dim);
    dense(k, xb, mw.wk, T, kvDim, dim);
    dense(v, xb, mw.wv, T, kvDim, dim);
    for (let p = 0; p < T; p++) {
      applyRope(q.subarray(p * qDim, (p + 1) * qDim), hd, ws.ropes[p]!.cos, ws.ropes[p]!.sin);
      applyRope(k.subarray(p * kvDim, (p + 1) * kvDim), hd, ws.ropes[p]!.cos, ws.ropes[p]!.sin);
    }
    observe?.(l, q, k, v);
    if (cache instanceof QaqKvCache) {
      heads.forEach((h, g) => h.loadExact(cache.tokenFloats, g, k, v));
      attendWindowQaq(engine, att, q, k, v, heads, cache, seq, T, nH, group, hd, scores);
    } else {
      cache.append(seq, k, v);
      heads.forEach((h, g) => h.load(cache, seq, g, k, v));
      attendWindow(engine, att, q, heads, cache, T, nH, group, hd, scores);
    }

    dense(proj, att, mw.wo, T, dim, qDim);
    for (let i = 0; i < T * dim; i++) x[i] = x[i]! + proj[i]!;
    for (let p = 0; p < T; p++) rmsNorm(xb.subarray(p * dim, (p + 1) * dim), x.subarray(p * dim, (p + 1) * dim), lw.rmsFfn, c.normEps);
    dense(hb, xb, mw.w1, T, hidden, dim);
    dense(hb2, xb, mw.w3, T, hidden, dim);
    for (let i = 0; i < T * hidden; i++) {
      const g = hb[i]!;
      hb[i] = (g / (1 + Math.exp(-g))) * hb2[i]!; // SwiGLU as forward.ts
    }
    dense(proj, hb, mw.w2, T, dim, hidden);
    for (let i = 0; i < T * dim; i++) x[i] = x[i]! + proj[i]!;
  }
  const V = c.vocabSize;
  for (let p = 0; p < T - 1; p++) rmsNorm(xb.subarray(p * dim, (p + 1) * dim), x.subarray(p * dim, (p + 1) * dim), w.rmsFinal, c.normEps);
  dense(logits, xb, ws.classifier, T - 1, V, dim);
  let nll = 0;
  for (let p = 0; p < T - 1; p++) nll -= logProb(logits.subarray(p * V, (p + 1) * V), tokens[p + 1]!);
  return { nll, predicted: T - 1 };
}

type MatrixName = 'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w2' | 'w3';
const MATRICES: readonly MatrixName[] = ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'];

/** Every array of one (model, window length) in the engine's memory, weights copied in once. */
interface Workspace {
  model: Model;
  T: number;
  layers: Record<MatrixName, Float32Array>[];
  classifier: Float32Array;
  x: Float32Array; xb: Float32Array; q: Float32Array; k: Float32Array; v: Float32Array;
  att: Float32Array; proj: Float32Array; hb: Float32Array; hb2: Float32Array;
  scores: Float32Array; logits: Float32Array;
  heads: HeadKv[];
  ropes: { cos: Float64Array; sin: Float64Array }[];
}

/** [rows][cols] of a layer matrix. */
function shape(c: Model['config'], m: MatrixName): [number, number] {
  const qDim = c.nHeads * c.headDim, kvDim = c.nKvHeads * c.headDim;
  switch (m) {
    case 'wq': return [qDim, c.dim];
    case 'wk': case 'wv': return [kvDim, c.dim];
    case 'wo': return [c.dim, qDim];
    case 'w1': case 'w3': return [c.hiddenDim, c.dim];
    case 'w2': return [c.dim, c.hiddenDim];
  }
}

const workspaces = new WeakMap<WindowEngine, Workspace>();

function workspace(engine: WindowEngine, model: Model, T: number): Workspace {
  const have = workspaces.get(engine);
  if (have && have.model === model && have.T === T) return have;
  const c = model.config, w = model.weights, d = c.headDim;
  const qDim = c.nHeads * d, kvDim = c.nKvHeads * d;
  const lengths: number[] = [];
  for (const lw of w.layers) for (const m of MATRICES) lengths.push(engine.weightLength(lw[m].length));
  lengths.push(engine.weightLength(w.classifier.length));
  const work = [T * c.dim, T * c.dim, T * qDim, T * kvDim, T * kvDim, T * qDim, T * c.dim, T * c.hiddenDim, T * c.hiddenDim,
    TILE_TOKENS * T, (T - 1) * c.vocabSize];
  lengths.push(...work);
  for (let g = 0; g < c.nKvHeads; g++) lengths.push(T * d, T * d, T * d, T * d);
  const arrs = engine.arrays(lengths);
  let i = 0;
  const layers = w.layers.map((lw) => {
    const r = {} as Record<MatrixName, Float32Array>;
    for (const m of MATRICES) { r[m] = arrs[i++]!; engine.prepareWeight(lw[m], ...shape(c, m), r[m]); }
    return r;
  });
  const classifier = arrs[i++]!;
  engine.prepareWeight(w.classifier, c.vocabSize, c.dim, classifier);
  const [x, xb, q, k, v, att, proj, hb, hb2, scores, logits] = arrs.slice(i, i + work.length) as Float32Array[];
  i += work.length;
  const heads = Array.from({ length: c.nKvHeads }, () => new HeadKv(T, d, arrs[i++]!, arrs[i++]!, arrs[i++]!, arrs[i++]!));
  const ws: Workspace = {
    model, T, layers, classifier, x: x!, xb: xb!, q: q!, k: k!, v: v!, att: att!, proj: proj!, hb: hb!, hb2: hb2!,
    scores: scores!, logits: logits!, heads, ropes: Array.from({ length: T }, (_, p) => ropeAngles(p, d, c.ropeTheta)),
  };
  workspaces.set(engine, ws);
  return ws;
}

/**
 * Sees each layer's queries [T][nHeads][headDim], keys (after RoPE) and values [T][nKvHeads][headDim]
 * of the whole window before attention; the arrays are reused, copy them.
 */
export type WindowObserver = (layer: number, q: Float32Array, k: Float32Array, v: Float32Array) => void;

/** One KV head of one layer over the window: exact and as-cached keys [T][d], values transposed [d][T]. */
class HeadKv {
  private readonly tile: Float32Array;

  constructor(readonly T: number, readonly d: number, readonly k: Float32Array, readonly kq: Float32Array,
    readonly vt: Float32Array, readonly vqt: Float32Array) {
    this.tile = new Float32Array(TILE_TOKENS * d);
  }

  /** Exact keys and values of KV head g; the as-cached copies start exact too. */
  loadExact(tf: number, g: number, k: Float32Array, v: Float32Array): void {
    const { T, d } = this;
    for (let p = 0; p < T; p++) {
      this.k.set(k.subarray(p * tf + g * d, p * tf + g * d + d), p * d);
      for (let i = 0; i < d; i++) this.vt[i * T + p] = v[p * tf + g * d + i]!;
    }
    this.kq.set(this.k);
    this.vqt.set(this.vt);
  }

  load(cache: PackedKvCache, seq: number, g: number, k: Float32Array, v: Float32Array): void {
    const d = this.d;
    this.loadExact(cache.tokenFloats, g, k, v);
    const s = cache.view(seq);
    for (let t = 0; t < s.tiles; t++) {
      const page = s.pages[Math.floor(t / TILES_PER_PAGE)]!, tip = t % TILES_PER_PAGE;
      const p0 = s.sinkCount + t * TILE_TOKENS;
      const ko = cache.tileOffset(tip, g, 'key'), vo = cache.tileOffset(tip, g, 'value');
      cache.key.decodeTile(page.subarray(ko, ko + cache.key.tileWords), g, this.tile);
      this.kq.set(this.tile, p0 * d);
      cache.value.decodeTile(page.subarray(vo, vo + cache.value.tileWords), g, this.tile);
      for (let j = 0; j < TILE_TOKENS; j++) for (let i = 0; i < d; i++) this.vqt[i * this.T + p0 + j] = this.tile[j * d + i]!;
    }
  }

  /** KV head g of QAQ tile `tile` as the cache's packed attention decodes it (attend.ts). */
  loadQaqTile(v: QaqPackedView, g: number, tile: number): void {
    const { T, d } = this, p0 = tile * TILE_TOKENS;
    const gr = v.groups === 1 ? 0 : g, col0 = v.groups === 1 ? g * d : 0, rec = (tile * v.groups + gr) * 2;
    for (let stream = 0; stream < 2; stream++) {
      const addr = v.offsets[rec + stream]!;
      decodeRecord(v.pages[Math.floor(addr / v.pageWords)]!, addr % v.pageWords, v.rowWidth, v.outliersPerRow, col0, d, this.tile);
      if (stream === 0) this.kq.set(this.tile, p0 * d);
      else for (let j = 0; j < TILE_TOKENS; j++) for (let i = 0; i < d; i++) this.vqt[i * T + p0 + j] = this.tile[j * d + i]!;
    }
  }
}

/** Causal attention of every position over what the cache holds at its step (see windowNll). */
function attendWindow(engine: WindowEngine, att: Float32Array, q: Float32Array, heads: readonly HeadKv[], cache: PackedKvCache,
  T: number, nH: number, group: number, d: number, scores: Float32Array): void {
  const qDim = nH * d, scale = 1 / Math.sqrt(d), gemm = engine.gemm;
  const S = cache.sinks;
  const firstSeal = S + cache.window + TILE_TOKENS - 1; // step at which tile 0 is sealed
  for (let p0 = 0; p0 < T;) {
    const p1 = Math.min(T, p0 < firstSeal ? Math.min(firstSeal, p0 + TILE_TOKENS) : p0 + TILE_TOKENS);
    const rows = p1 - p0, n = p1;
    const sealed = p0 >= firstSeal ? Math.floor((p0 - firstSeal) / TILE_TOKENS) + 1 : 0;
    const qEnd = S + sealed * TILE_TOKENS; // keys [S, qEnd) are decoded tiles for every row of the block
    // key segments [from, to) with their source: exact, decoded, exact
    const segs: [number, number, boolean][] = qEnd > S ? [[0, S, false], [S, qEnd, true], [qEnd, n, false]] : [[0, n, false]];
    for (let g = 0; g < heads.length; g++) {
      const hk = heads[g]!;
      for (let j = 0; j < group; j++) {
        const h = g * group + j, qOff = p0 * qDim + h * d;
        for (const [a, b, dec] of segs) {
          if (b > a) gemm(scores, a, n, q, qOff, qDim, dec ? hk.kq : hk.k, a * d, d, rows, b - a, d, false, scale);
        }
        engine.softmaxCausal(scores, n, rows, p0);
        let first = true;
        for (const [a, b, dec] of segs) {
          if (b <= a) continue;
          gemm(att, qOff, qDim, scores, a, n, dec ? hk.vqt : hk.vt, a, T, rows, d, b - a, !first);
          first = false;
        }
      }
    }
    p0 = p1;
  }
}

/**
 * attendWindow over a QaqKvCache (see windowNll): the blocks in order, each tile sealed by the
 * cache at its step from the rows recorded before it, every row's weights recorded after its
 * block's softmax. No sinks; tile i is sealed at step window + 32(i + 1) - 1.
 */
function attendWindowQaq(engine: WindowEngine, att: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
  heads: readonly HeadKv[], cache: QaqKvCache, seq: number, T: number, nH: number, group: number, d: number, scores: Float32Array): void {
  const qDim = nH * d, scale = 1 / Math.sqrt(d), gemm = engine.gemm, tf = cache.tokenFloats;
  const units = cache.groups; // record groups: one per KV head ('head') or 1 ('layer')
  const firstSeal = cache.window + TILE_TOKENS - 1;
  const maxTail = cache.window + TILE_TOKENS; // tail tokens at any attend: window + 31 at most
  // per block row r: weights [units][tail tokens] (stride = that row's tail length), outsideTop [units]
  const recW = new Float64Array(TILE_TOKENS * units * maxTail), recTop = new Float64Array(TILE_TOKENS * units);
  const append = (p: number): void => cache.append(seq, k.subarray(p * tf, (p + 1) * tf), v.subarray(p * tf, (p + 1) * tf));
  let tiles = 0;
  for (let p0 = 0; p0 < T;) {
    const p1 = Math.min(T, p0 < firstSeal ? Math.min(firstSeal, p0 + TILE_TOKENS) : p0 + TILE_TOKENS);
    const rows = p1 - p0, n = p1;
    append(p0); // seals the tile due at step p0, from the rows of the blocks before this one
    const view = cache.view(seq);
    for (; tiles < view.tiles; tiles++) heads.forEach((h, g) => h.loadQaqTile(view, g, tiles));
    const qEnd = tiles * TILE_TOKENS; // keys [0, qEnd) are decoded tiles for every row of the block
    const segs: [number, number, boolean][] = qEnd > 0 ? [[0, qEnd, true], [qEnd, n, false]] : [[0, n, false]];
    recW.fill(0, 0, rows * units * maxTail);
    recTop.fill(-Infinity, 0, rows * units);
    for (let g = 0; g < heads.length; g++) {
      const hk = heads[g]!, u = units === 1 ? 0 : g;
      for (let j = 0; j < group; j++) {
        const h = g * group + j, qOff = p0 * qDim + h * d;
        for (const [a, b, dec] of segs) {
          if (b > a) gemm(scores, a, n, q, qOff, qDim, dec ? hk.kq : hk.k, a * d, d, rows, b - a, d, false, scale);
        }
        engine.softmaxCausal(scores, n, rows, p0);
        // what an attend at step p0 + i records (QaqKvCache.finishAttend): max over the group's heads
        for (let i = 0; i < rows; i++) {
          const o = i * n, nt = p0 + i + 1 - qEnd, wb = i * units * maxTail + u * nt;
          if (qEnd > 0) {
            let top = recTop[i * units + u]!;
            for (let t = 0; t < qEnd; t++) if (scores[o + t]! > top) top = scores[o + t]!;
            recTop[i * units + u] = top;
          }
          for (let t = 0; t < nt; t++) if (scores[o + qEnd + t]! > recW[wb + t]!) recW[wb + t] = scores[o + qEnd + t]!;
        }
        let first = true;
        for (const [a, b, dec] of segs) {
          if (b <= a) continue;
          gemm(att, qOff, qDim, scores, a, n, dec ? hk.vqt : hk.vt, a, T, rows, d, b - a, !first);
          first = false;
        }
      }
    }
    for (let i = 0; i < rows; i++) {
      if (i > 0) append(p0 + i); // no seal inside a block
      const nt = p0 + i + 1 - qEnd, wb = i * units * maxTail;
      cache.recordAttention(seq, recW.subarray(wb, wb + units * nt), recTop.subarray(i * units, (i + 1) * units));
    }
    p0 = p1;
  }
}
