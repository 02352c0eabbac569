import { check, KvpackError } from '../../errors.js';
import type { StreamKind } from '../types.js';
import { makeCqCalibration, type CqCalibration, type CqPrecision } from './calibration-format.js';
import { cqShape, type CqConfig } from './config.js';
import { kmeans, type KmeansOptions, type KmeansResult } from './kmeans.js';
import { checkArray, checkF32, checkNumbers, checkObject, checkOptionalFn, checkOptionalNumber } from '../../util/args.js';

/**
 * CQ calibration, how a calibration is COMPUTED (Zhang et al. 2024, arXiv 2405.03917, Sec.
 * 3.2-3.3): for every head and every group of c contiguous channels, k-means (kmeans.ts, or the
 * WASM one: wasm.ts) with 2^b centroids over the calibration activations of that group,
 * optionally weighted per sample ("Fisher-guided centroid learning"). The object it returns, its
 * codebook words and validation: calibration-format.ts.
 */

/** A k-means implementation: the TS oracle (ts/codecs/cq/kmeans.ts) or the WASM one. */
export type KmeansFn = (samples: Float64Array, n: number, dim: number, k: number, opts: KmeansOptions) => KmeansResult;

export interface CqProgress {
  /** k-means runs finished so far, of `tasks` (one per head x group, x streams x layers in calibrateCq). */
  task: number;
  tasks: number;
  iteration: number;
  maxIterations: number;
}

export interface CqCalibrateOptions extends CqConfig {
  /** Seed of k-means++ (u32). Default 0. Each (head, group) run uses seed + its index. */
  seed?: number;
  /** Lloyd iterations at most. Default 20. */
  maxIterations?: number;
  /** Centroid storage. Default 'f16' (the paper's models are fp16). */
  precision?: CqPrecision;
  /**
   * Fisher information weights (optional): either the squared gradient of the loss with respect
   * to each activation, same shape as the data [tokens][nKvHeads][headDim] (a group's sample
   * weight is the sum over its c channels: g_j^T g_j in the paper's Eq. for Fisher-guided
   * centroids), or one weight per token [tokens].
   */
  fisher?: Float32Array | Float64Array;
  /** Use at most this many calibration tokens (evenly strided). Default: all. */
  maxSamples?: number;
  /** k-means implementation. Default: the TS reference; pass the WASM one from ts/codecs/cq/wasm.ts. */
  kmeans?: KmeansFn;
  onProgress?: (p: CqProgress) => void;
}

interface StreamData {
  data: Float32Array;
  kind: StreamKind;
  nKvHeads: number;
  headDim: number;
}

/** Token indices used for calibration: all, or `max` evenly strided ones. */
function sampleTokens(n: number, max: number | undefined): Int32Array {
  const m = max === undefined ? n : Math.min(n, max);
  const idx = new Int32Array(m);
  for (let i = 0; i < m; i++) idx[i] = Math.floor((i * n) / m);
  return idx;
}

function checkOptions(s: StreamData, opts: CqCalibrateOptions): void {
  checkObject(opts, 'opts');
  checkF32(s.data, 'data');
  for (const f of ['seed', 'maxIterations', 'maxSamples'] as const) checkOptionalNumber(opts[f], f);
  if (opts.fisher !== undefined) checkNumbers(opts.fisher, 'fisher');
  checkOptionalFn(opts.kmeans, 'kmeans');
  checkOptionalFn(opts.onProgress, 'onProgress');
  check(Number.isInteger(s.nKvHeads) && s.nKvHeads > 0, 'BAD_PARAM', `must be a positive integer, got ${String(s.nKvHeads)}`, 'nKvHeads');
  check(Number.isInteger(s.headDim) && s.headDim > 0, 'BAD_PARAM', `must be a positive integer, got ${String(s.headDim)}`, 'headDim');
  check(opts.seed === undefined || (Number.isInteger(opts.seed) && opts.seed >= 0 && opts.seed <= 0xffffffff), 'BAD_PARAM', `must be a u32, got ${opts.seed}`, 'seed');
  cqShape(opts, s.headDim, s.nKvHeads);
  const tf = s.nKvHeads * s.headDim;
  check(s.data.length % tf === 0, 'BAD_SHAPE', `length ${s.data.length} is not a multiple of nKvHeads*headDim = ${tf}`, 'data');
  const n = s.data.length / tf;
  for (let i = 0; i < s.data.length; i++) {
    if (!Number.isFinite(s.data[i])) throw new KvpackError('NON_FINITE', `element ${i} is ${s.data[i]}`, 'data');
  }
  const used = opts.maxSamples === undefined ? n : Math.min(n, opts.maxSamples);
  if (opts.maxSamples !== undefined) {
    check(Number.isInteger(opts.maxSamples) && opts.maxSamples > 0, 'BAD_PARAM', `must be a positive integer, got ${opts.maxSamples}`, 'maxSamples');
  }
  if (used < 2 ** opts.bits) {
    throw new KvpackError('BAD_CALIBRATION',
      `${used} calibration tokens for ${2 ** opts.bits} centroids (CQ-${opts.channelsPerGroup}c${opts.bits}b): need at least as many samples as centroids`, 'data');
  }
  const f = opts.fisher;
  if (f !== undefined) {
    check(f.length === s.data.length || f.length === n, 'BAD_SHAPE',
      `length ${f.length} is neither the data's ${s.data.length} nor its ${n} tokens`, 'fisher');
    for (let i = 0; i < f.length; i++) {
      if (!(Number.isFinite(f[i]) && f[i]! >= 0)) throw new KvpackError('BAD_PARAM', `element ${i} is ${f[i]}: Fisher weights must be finite and >= 0`, 'fisher');
    }
  }
  if (opts.precision !== undefined) {
    check(opts.precision === 'f16' || opts.precision === 'f32', 'BAD_PARAM', `must be 'f16' or 'f32', got ${String(opts.precision)}`, 'precision');
  }
}

/** Runs the k-means of every (head, group) of one stream; returns centroids [nKvHeads][G][2^b][c]. */
function learnCodebooks(s: StreamData, opts: CqCalibrateOptions, taskBase: number, tasks: number): { centroids: Float64Array; inertia: number[]; samples: number } {
  const shape = cqShape(opts, s.headDim, s.nKvHeads);
  const { groups: G, channelsPerGroup: c, centroids: K } = shape;
  const tf = s.nKvHeads * s.headDim;
  const n = s.data.length / tf;
  const tokens = sampleTokens(n, opts.maxSamples);
  const m = tokens.length;
  const run = opts.kmeans ?? ((x, nn, dim, k, o) => kmeans(x, nn, dim, k, o));
  const out = new Float64Array(s.nKvHeads * shape.headFloats);
  const inertia: number[] = [];
  const x = new Float64Array(m * c);
  const w = opts.fisher ? new Float64Array(m) : undefined;
  const perElement = opts.fisher !== undefined && opts.fisher.length === s.data.length;
  const maxIterations = opts.maxIterations ?? 20;
  for (let h = 0; h < s.nKvHeads; h++) {
    for (let g = 0; g < G; g++) {
      for (let i = 0; i < m; i++) {
        const base = tokens[i]! * tf + h * s.headDim + g * c;
        for (let j = 0; j < c; j++) x[i * c + j] = s.data[base + j]!;
        if (w) {
          if (perElement) {
            let sum = 0;
            for (let j = 0; j < c; j++) sum += opts.fisher![base + j]!;
            w[i] = sum;
          } else {
            w[i] = opts.fisher![tokens[i]!]!;
          }
        }
      }
      const task = taskBase + h * G + g;
      const kopts: KmeansOptions = { seed: ((opts.seed ?? 0) + h * G + g) >>> 0, maxIterations };
      if (w) kopts.weights = w;
      if (opts.onProgress) {
        const cb = opts.onProgress;
        kopts.onProgress = (iteration) => cb({ task, tasks, iteration, maxIterations });
      }
      const r = run(x, m, c, K, kopts);
      out.set(r.centroids, (h * G + g) * K * c);
      inertia.push(r.inertia);
    }
  }
  return { centroids: out, inertia, samples: m };
}

/** Calibrates one stream of one layer. data: [tokens][nKvHeads][headDim] activations as cached. */
export function calibrateCqStream(data: Float32Array, stream: { kind: StreamKind; nKvHeads: number; headDim: number },
  opts: CqCalibrateOptions): CqCalibration {
  checkObject(stream, 'stream');
  check(stream.kind === 'key' || stream.kind === 'value', 'BAD_PARAM', `must be 'key' or 'value', got ${String(stream.kind)}`, 'kind');
  const s: StreamData = { data, kind: stream.kind, nKvHeads: stream.nKvHeads, headDim: stream.headDim };
  checkOptions(s, opts);
  const shape = cqShape(opts, s.headDim, s.nKvHeads);
  const r = learnCodebooks(s, opts, 0, s.nKvHeads * shape.groups);
  return makeCqCalibration(opts, s.kind, s.nKvHeads, s.headDim, r.centroids, opts.precision ?? 'f16', {
    samples: r.samples, seed: opts.seed ?? 0, maxIterations: opts.maxIterations ?? 20,
    fisherWeighted: opts.fisher !== undefined, inertia: r.inertia,
  });
}

/** What calibrateCq needs from a capture (ts/model's KV capture has these fields). */
export interface CqCaptureLike {
  nKvHeads: number;
  headDim: number;
  /** Per layer, [tokens][nKvHeads][headDim]. */
  layers: readonly { keys: Float32Array; values: Float32Array }[];
}

export interface CqLayerCalibration {
  key: CqCalibration;
  value: CqCalibration;
}

/**
 * Calibrates keys and values of every layer of a capture (separate codebooks per layer, per
 * stream, per head and per group, as the paper). Options apply to both streams except `fisher`,
 * which is per layer and stream here.
 */
export function calibrateCq(capture: CqCaptureLike, opts: Omit<CqCalibrateOptions, 'fisher'> & {
  fisher?: readonly { keys?: Float32Array; values?: Float32Array }[];
}): CqLayerCalibration[] {
  checkObject(capture, 'capture');
  checkObject(opts, 'opts');
  checkArray(capture.layers, 'capture.layers');
  capture.layers.forEach((l, i) => checkObject(l, `capture.layers[${i}]`));
  if (opts.fisher !== undefined) {
    checkArray(opts.fisher, 'fisher');
    opts.fisher.forEach((f, i) => { if (f !== undefined) checkObject(f, `fisher[${i}]`); });
  }
  const { nKvHeads, headDim } = capture;
  check(capture.layers.length > 0, 'BAD_SHAPE', 'capture has no layers', 'capture');
  const streams = capture.layers.flatMap((l, i) => (['key', 'value'] as const).map((kind) => {
    const o: CqCalibrateOptions = { ...opts, fisher: undefined };
    const f = kind === 'key' ? opts.fisher?.[i]?.keys : opts.fisher?.[i]?.values;
    if (f) o.fisher = f; else delete o.fisher;
    return { s: { data: kind === 'key' ? l.keys : l.values, kind, nKvHeads, headDim } as StreamData, o };
  }));
  for (const { s, o } of streams) checkOptions(s, o); // everything validated before the (long) work
  const perStream = nKvHeads * cqShape(opts, headDim, nKvHeads).groups;
  const tasks = perStream * streams.length;
  const result: CqLayerCalibration[] = [];
  streams.forEach(({ s, o }, i) => {
    const r = learnCodebooks(s, o, i * perStream, tasks);
    const cal = makeCqCalibration(o, s.kind, nKvHeads, headDim, r.centroids, o.precision ?? 'f16', {
      samples: r.samples, seed: o.seed ?? 0, maxIterations: o.maxIterations ?? 20,
      fisherWeighted: o.fisher !== undefined, inertia: r.inertia,
    });
    if (s.kind === 'key') result.push({ key: cal, value: cal });
    else result[result.length - 1]!.value = cal;
  });
  return result;
}
