import { check, checkFinite } from '../../errors.js';
import { TILE_TOKENS } from '../../format/constants.js';
import type { StreamKind } from '../types.js';
import { SkvqCodec } from './codec.js';
import {
  SKVQ_CALIBRATION_FORMAT, SKVQ_CALIBRATION_VERSION, equalGroupStart, type SkvqCalibration, type SkvqHeadCalibration,
} from './calibration-format.js';
import { checkSkvqBits, skvqGeometry, SKVQ_DEFAULT_GROUP_SIZE, type SkvqBits } from './geometry.js';
import { mulberry32 } from '../../util/random.js';
import { checkArray, checkF32, checkNumbers, checkObject, checkOptionalBool, checkOptionalNumber, checkOptionalObject, typeName } from '../../util/args.js';

/**
 * SKVQ calibration, how a calibration is COMPUTED (docs/codecs/skvq.md, sections 1 and 3): per KV
 * head, k-means of the per-channel (min, max) statistics into C clusters gives the channel
 * permutation and the variable-size groups (reference calibration.py, metric "minmax"); then one
 * clip ratio per stream by grid search minimizing the quantize-dequantize squared error of the
 * calibration data. The object it returns, and its validation: calibration-format.ts; the same
 * math in WASM: assembly/codecs/skvq/calibrate.ts.
 */

export interface SkvqCalibrateOptions {
  bits: SkvqBits;
  groupSize?: number;
  /** Channel clusters per head (default from groupSize: docs/codecs/skvq.md "Group geometry"). */
  clusters?: number;
  /** false: identity permutation and equal groups. Default true. */
  reorder?: boolean;
  /** false: alpha = 1 (no search). Default true. */
  clip?: boolean;
  /** Candidate clip ratios; default 1.00, 0.99, ..., 0.50. */
  clipGrid?: readonly number[];
  /** k-means restarts (sklearn's n_init, the reference's 10). */
  restarts?: number;
  seed?: number;
  /** Tokens used for the clip search (first ones, whole tiles). Default 2048. */
  maxClipTokens?: number;
}

export interface SkvqStreamSample {
  kind: StreamKind;
  headDim: number;
  nKvHeads: number;
  /** [tokens][nKvHeads][headDim]. */
  data: Float32Array;
}

export const DEFAULT_CLIP_GRID: readonly number[] = Array.from({ length: 51 }, (_, i) => (100 - i) / 100);

/** Per-channel min and max over all tokens of one head: points[c] = (min_c, max_c). */
export function channelMinMax(data: Float32Array, nKvHeads: number, headDim: number, head: number): Float64Array {
  const tf = nKvHeads * headDim, n = data.length / tf;
  const pts = new Float64Array(2 * headDim);
  for (let c = 0; c < headDim; c++) { pts[2 * c] = Infinity; pts[2 * c + 1] = -Infinity; }
  for (let t = 0; t < n; t++) {
    for (let c = 0; c < headDim; c++) {
      const v = data[t * tf + head * headDim + c]!;
      if (v < pts[2 * c]!) pts[2 * c] = v;
      if (v > pts[2 * c + 1]!) pts[2 * c + 1] = v;
    }
  }
  return pts;
}

function dist2(pts: Float64Array, i: number, cen: Float64Array, j: number): number {
  const a = pts[2 * i]! - cen[2 * j]!, b = pts[2 * i + 1]! - cen[2 * j + 1]!;
  return a * a + b * b;
}

/**
 * k-means of n 2-D points into k non-empty clusters: k-means++ seeding, Lloyd iterations,
 * `restarts` runs, the lowest inertia kept (first on ties). Deterministic for a seed.
 */
export function kmeans2d(pts: Float64Array, k: number, restarts: number, seed: number): { labels: Int32Array; centroids: Float64Array } {
  const n = pts.length / 2;
  check(Number.isInteger(k) && k >= 1 && k <= n, 'BAD_PARAM', `cluster count ${k} must be in [1, ${n}]`, 'clusters');
  const rnd = mulberry32(seed);
  let best: { labels: Int32Array; centroids: Float64Array; inertia: number } | undefined;
  for (let run = 0; run < restarts; run++) {
    const cen = new Float64Array(2 * k);
    const first = Math.floor(rnd() * n);
    cen[0] = pts[2 * first]!; cen[1] = pts[2 * first + 1]!;
    const dmin = new Float64Array(n).fill(Infinity);
    for (let j = 1; j < k; j++) {
      let total = 0;
      for (let i = 0; i < n; i++) { dmin[i] = Math.min(dmin[i]!, dist2(pts, i, cen, j - 1)); total += dmin[i]!; }
      let pick = n - 1;
      if (total > 0) {
        let r = rnd() * total;
        for (let i = 0; i < n; i++) { r -= dmin[i]!; if (r < 0) { pick = i; break; } }
      } else pick = Math.floor(rnd() * n);
      cen[2 * j] = pts[2 * pick]!; cen[2 * j + 1] = pts[2 * pick + 1]!;
    }
    const labels = new Int32Array(n).fill(-1);
    for (let iter = 0; iter < 100; iter++) {
      let changed = false;
      for (let i = 0; i < n; i++) {
        let bj = 0, bd = Infinity;
        for (let j = 0; j < k; j++) { const dd = dist2(pts, i, cen, j); if (dd < bd) { bd = dd; bj = j; } }
        if (labels[i] !== bj) { labels[i] = bj; changed = true; }
      }
      fillEmptyClusters(pts, labels, cen, k);
      updateCentroids(pts, labels, cen, k);
      if (!changed) break;
    }
    let inertia = 0;
    for (let i = 0; i < n; i++) inertia += dist2(pts, i, cen, labels[i]!);
    if (!best || inertia < best.inertia) best = { labels, centroids: cen, inertia };
  }
  return { labels: best!.labels, centroids: best!.centroids };
}

function updateCentroids(pts: Float64Array, labels: Int32Array, cen: Float64Array, k: number): void {
  const sum = new Float64Array(2 * k), cnt = new Int32Array(k);
  for (let i = 0; i < labels.length; i++) {
    const j = labels[i]!;
    sum[2 * j] = sum[2 * j]! + pts[2 * i]!; sum[2 * j + 1] = sum[2 * j + 1]! + pts[2 * i + 1]!; cnt[j] = cnt[j]! + 1;
  }
  for (let j = 0; j < k; j++) if (cnt[j]! > 0) { cen[2 * j] = sum[2 * j]! / cnt[j]!; cen[2 * j + 1] = sum[2 * j + 1]! / cnt[j]!; }
}

/** Every group must hold a channel: an empty cluster takes the point of the largest cluster farthest from its centroid. */
function fillEmptyClusters(pts: Float64Array, labels: Int32Array, cen: Float64Array, k: number): void {
  for (;;) {
    const cnt = new Int32Array(k);
    for (const l of labels) cnt[l]!++;
    const empty = cnt.findIndex((c) => c === 0);
    if (empty < 0) return;
    let big = 0;
    for (let j = 1; j < k; j++) if (cnt[j]! > cnt[big]!) big = j;
    let far = -1, fd = -1;
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] !== big) continue;
      const dd = dist2(pts, i, cen, big);
      if (dd > fd) { fd = dd; far = i; }
    }
    labels[far] = empty;
    cen[2 * empty] = pts[2 * far]!; cen[2 * empty + 1] = pts[2 * far + 1]!;
  }
}

/**
 * Permutation and group starts from cluster labels: clusters ordered by centroid range
 * (max - min) ascending (ties: lowest channel), channels ascending within a cluster.
 */
export function reorderFromClusters(labels: Int32Array, centroids: Float64Array, k: number): SkvqHeadCalibration {
  const members: number[][] = Array.from({ length: k }, () => []);
  labels.forEach((l, c) => members[l]!.push(c));
  const order = members.map((_, j) => j).sort((a, b) => {
    const ra = centroids[2 * a + 1]! - centroids[2 * a]!, rb = centroids[2 * b + 1]! - centroids[2 * b]!;
    return ra !== rb ? ra - rb : members[a]![0]! - members[b]![0]!;
  });
  const perm: number[] = [], groupStart = [0];
  for (const j of order) { perm.push(...members[j]!); groupStart.push(perm.length); }
  return { perm, groupStart };
}

/** Squared error of quantize-dequantize of whole tiles of `data` through `codec`. */
export function tileSquaredError(codec: SkvqCodec, data: Float32Array, tiles: number): number {
  const d = codec.headDim, tf = codec.nKvHeads * d;
  const x = new Float32Array(TILE_TOKENS * d), y = new Float32Array(TILE_TOKENS * d);
  const words = new Uint32Array(codec.tileWords);
  let err = 0;
  for (let tile = 0; tile < tiles; tile++) {
    for (let h = 0; h < codec.nKvHeads; h++) {
      for (let t = 0; t < TILE_TOKENS; t++) {
        const src = (tile * TILE_TOKENS + t) * tf + h * d;
        x.set(data.subarray(src, src + d), t * d);
      }
      codec.encodeTile(x, h, words);
      codec.decodeTile(words, h, y);
      for (let i = 0; i < x.length; i++) { const e = x[i]! - y[i]!; err += e * e; }
    }
  }
  return err;
}

/**
 * The numeric kernels of the calibration: per-channel statistics, k-means, and the clip search's
 * tile error. `tsSkvqMath` is the oracle; `skvqMathWasm` (ts/codecs/skvq/wasm.ts) runs the same
 * operations in kvpack.wasm and returns identical results (tests/conformance/skvq-wasm.test.ts).
 */
export interface SkvqCalibrationMath {
  channelMinMax(data: Float32Array, nKvHeads: number, headDim: number, head: number): Float64Array;
  kmeans2d(pts: Float64Array, k: number, restarts: number, seed: number): { labels: Int32Array; centroids: Float64Array };
  tileSquaredError(codec: SkvqCodec, data: Float32Array, tiles: number): number;
}

export const tsSkvqMath: SkvqCalibrationMath = { channelMinMax, kmeans2d, tileSquaredError };

function checkMath(math: unknown): void {
  checkObject(math, 'math');
  for (const f of ['channelMinMax', 'kmeans2d', 'tileSquaredError']) {
    if (typeof math[f] !== 'function') checkObject(null, `math.${f}`);
  }
}

/** Types of the optional fields (ranges are checked where they are used). */
function checkSkvqOptionTypes(o: Record<string, unknown>): void {
  for (const f of ['bits', 'keyBits', 'valueBits', 'groupSize', 'clusters', 'restarts', 'seed', 'maxClipTokens']) checkOptionalNumber(o[f], `options.${f}`);
  for (const f of ['reorder', 'clip']) checkOptionalBool(o[f], `options.${f}`);
  check(o.seed === undefined || (Number.isInteger(o.seed) && (o.seed as number) >= 0 && (o.seed as number) <= 0xffffffff), 'BAD_PARAM', `must be a u32, got ${String(o.seed)}`, 'options.seed');
  check(o.maxClipTokens === undefined || (Number.isInteger(o.maxClipTokens) && (o.maxClipTokens as number) > 0), 'BAD_PARAM',
    `must be a positive integer, got ${String(o.maxClipTokens)}`, 'options.maxClipTokens');
  if (o.clipGrid !== undefined) {
    checkNumbers(o.clipGrid, 'options.clipGrid');
    for (const a of Array.from(o.clipGrid)) check(typeof a === 'number', 'BAD_PARAM', `clip ratios are numbers, got ${typeName(a)}`, 'options.clipGrid');
  }
}

/** Calibrates one stream of one layer. Throws BAD_SHAPE / NON_FINITE / BAD_PARAM before any work. */
export function calibrateSkvqStream(sample: SkvqStreamSample, options: SkvqCalibrateOptions,
  math: SkvqCalibrationMath = tsSkvqMath): SkvqCalibration {
  checkObject(sample, 'sample');
  checkObject(options, 'options');
  checkMath(math);
  const { kind, headDim: d, nKvHeads, data } = sample;
  checkF32(data, 'data');
  checkSkvqOptionTypes(options as unknown as Record<string, unknown>);
  check(kind === 'key' || kind === 'value', 'BAD_PARAM', `must be 'key' or 'value', got ${String(kind)}`, 'kind');
  check(Number.isInteger(nKvHeads) && nKvHeads > 0, 'BAD_PARAM', `must be a positive integer, got ${nKvHeads}`, 'nKvHeads');
  check(Number.isInteger(d) && d > 0 && d % 8 === 0, 'BAD_PARAM', `must be a positive multiple of 8, got ${d}`, 'headDim');
  checkSkvqBits(options.bits, 'options.bits');
  const tf = nKvHeads * d;
  check(data.length % tf === 0 && data.length / tf >= TILE_TOKENS, 'BAD_SHAPE',
    `length ${data.length} must be a multiple of nKvHeads*headDim=${tf} with at least ${TILE_TOKENS} tokens`, 'data');
  checkFinite(data, 'data');
  const grid = options.clipGrid ?? DEFAULT_CLIP_GRID;
  for (const a of grid) check(a > 0 && a <= 1, 'BAD_PARAM', `clip ratio must be in (0, 1], got ${a}`, 'options.clipGrid');
  const restarts = options.restarts ?? 10;
  check(Number.isInteger(restarts) && restarts >= 1, 'BAD_PARAM', `must be a positive integer, got ${restarts}`, 'options.restarts');
  const g = skvqGeometry(d, options.bits, options.groupSize ?? SKVQ_DEFAULT_GROUP_SIZE, options.clusters);

  const heads: SkvqHeadCalibration[] = [];
  for (let h = 0; h < nKvHeads; h++) {
    if (options.reorder === false) {
      heads.push({ perm: Array.from({ length: d }, (_, c) => c), groupStart: equalGroupStart(d, g.clusters) });
      continue;
    }
    const pts = math.channelMinMax(data, nKvHeads, d, h);
    const { labels, centroids } = math.kmeans2d(pts, g.clusters, restarts, ((options.seed ?? 0) + 7919 * h) >>> 0);
    heads.push(reorderFromClusters(labels, centroids, g.clusters));
  }
  const cal: SkvqCalibration = {
    format: SKVQ_CALIBRATION_FORMAT, version: SKVQ_CALIBRATION_VERSION, kind, headDim: d, nKvHeads,
    bits: options.bits, groupSize: g.groupSize, clusters: g.clusters, tokensPerGroup: g.tokensPerGroup, clip: 1, heads,
  };
  if (options.clip === false) return cal;

  const tiles = Math.floor(Math.min(data.length / tf, options.maxClipTokens ?? 2048) / TILE_TOKENS);
  let bestErr = Infinity;
  for (const alpha of [...grid].sort((a, b) => b - a)) {
    const codec = new SkvqCodec('skvq', options.bits, { kind, headDim: d, nKvHeads, calibration: { ...cal, clip: alpha } });
    const err = math.tileSquaredError(codec, data, tiles);
    if (err < bestErr) { bestErr = err; cal.clip = alpha; }
  }
  return cal;
}

/** Per-layer captured activations, as the model harness's capture provides them. */
export interface SkvqCaptureLike {
  nKvHeads: number;
  headDim: number;
  layers: readonly { keys: Float32Array; values: Float32Array }[];
}

export interface SkvqCaptureOptions extends Omit<SkvqCalibrateOptions, 'bits'> {
  keyBits?: SkvqBits;
  valueBits?: SkvqBits;
}

/**
 * Calibrates every layer of a capture: `[layer] -> { key, value }`, each a JSON-safe calibration
 * object to pass as the cache's `calibration: { key, value }`. Defaults: K2, V1.5 (the paper's
 * headline setting).
 */
export function calibrateSkvq(capture: SkvqCaptureLike, options: SkvqCaptureOptions = {},
  math: SkvqCalibrationMath = tsSkvqMath): { key: SkvqCalibration; value: SkvqCalibration }[] {
  checkObject(capture, 'capture');
  checkOptionalObject(options, 'options');
  checkMath(math);
  checkArray(capture.layers, 'capture.layers');
  capture.layers.forEach((l, i) => {
    checkObject(l, `capture.layers[${i}]`);
    checkF32(l.keys, `capture.layers[${i}].keys`);
    checkF32(l.values, `capture.layers[${i}].values`);
  });
  checkSkvqOptionTypes(options as Record<string, unknown>);
  const { keyBits = 2, valueBits = 1.5, ...rest } = options;
  checkSkvqBits(keyBits, 'options.keyBits');
  checkSkvqBits(valueBits, 'options.valueBits');
  return capture.layers.map((layer) => ({
    key: calibrateSkvqStream({ kind: 'key', headDim: capture.headDim, nKvHeads: capture.nKvHeads, data: layer.keys }, { ...rest, bits: keyBits }, math),
    value: calibrateSkvqStream({ kind: 'value', headDim: capture.headDim, nKvHeads: capture.nKvHeads, data: layer.values }, { ...rest, bits: valueBits }, math),
  }));
}
