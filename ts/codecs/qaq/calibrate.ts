import { check, KvpackError } from '../../errors.js';
import type { CalibrationSample } from '../types.js';
import type { QaqOptions } from './options.js';

/**
 * QAQ calibration. QAQ itself needs no training; its one data-dependent hyper-parameter is
 * qMax, the largest query magnitude in the key formula (the reference code fixes
 * max_q_value = 3 for LLaMA-2). kvpack measures it per layer and KV head on real queries:
 * qMax[g] = max |q_c| over the captured queries of the heads of group g.
 * The object is JSON-safe and versioned; qaqOptionsFromCalibration validates it on load.
 */
export const QAQ_CALIBRATION_FORMAT = 'kvpack-qaq-calibration';
export const QAQ_CALIBRATION_VERSION = 1;

export interface QaqLayerCalibration {
  /** Largest |query element| per KV head (over the query heads sharing it). */
  qMax: number[];
}

export interface QaqCalibration {
  format: typeof QAQ_CALIBRATION_FORMAT;
  version: typeof QAQ_CALIBRATION_VERSION;
  nKvHeads: number;
  headDim: number;
  /** One entry per layer (a single-layer sample gives one). */
  layers: QaqLayerCalibration[];
}

/** What calibrateQaq reads from a capture (ts/model/kv-capture.ts KvCapture fits). */
export interface QaqCaptureLike {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  layers: readonly { queries: Float32Array }[];
}

function layerQMax(queries: Float32Array, nHeads: number, nKvHeads: number, headDim: number, arg: string): number[] {
  check(nHeads > 0 && nHeads % nKvHeads === 0, 'BAD_SHAPE', `nHeads=${nHeads} is not a multiple of nKvHeads=${nKvHeads}`, 'nHeads');
  check(queries.length > 0 && queries.length % (nHeads * headDim) === 0, 'BAD_SHAPE',
    `length ${queries.length} is not a positive multiple of nHeads*headDim=${nHeads * headDim}`, arg);
  const group = nHeads / nKvHeads, qMax = new Array<number>(nKvHeads).fill(0);
  for (let i = 0; i < queries.length; i++) {
    const v = Math.abs(queries[i]!);
    if (!Number.isFinite(v)) throw new KvpackError('NON_FINITE', `element ${i} is ${queries[i]}`, arg);
    const g = Math.floor(Math.floor(i / headDim) % nHeads / group);
    if (v > qMax[g]!) qMax[g] = v;
  }
  // an all-zero head would make the key formula divide by zero: keep a tiny positive bound
  return qMax.map((v) => Math.fround(Math.max(v, 1e-6)));
}

/** Calibrates every layer of a capture. `options` is accepted for symmetry; QAQ's targets are not calibrated. */
export function calibrateQaq(capture: QaqCaptureLike, options: Partial<QaqOptions> = {}): QaqCalibration {
  void options;
  check(capture.layers.length > 0, 'BAD_SHAPE', 'capture has no layers', 'capture');
  return {
    format: QAQ_CALIBRATION_FORMAT, version: QAQ_CALIBRATION_VERSION,
    nKvHeads: capture.nKvHeads, headDim: capture.headDim,
    layers: capture.layers.map((l, i) => ({
      qMax: layerQMax(l.queries, capture.nHeads, capture.nKvHeads, capture.headDim, `layers[${i}].queries`),
    })),
  };
}

/** CodecInfo.calibrate hook: one layer's sample (its queries) -> a one-layer calibration. */
export function calibrateQaqSample(sample: CalibrationSample): QaqCalibration {
  check(sample.queries !== undefined && sample.nHeads !== undefined, 'BAD_CALIBRATION',
    'QAQ calibrates qMax on queries: the sample must carry queries and nHeads', 'queries');
  return calibrateQaq({
    nHeads: sample.nHeads, nKvHeads: sample.nKvHeads, headDim: sample.headDim,
    layers: [{ queries: sample.queries }],
  });
}

/**
 * Validates a calibration object (e.g. parsed from JSON) for a cache shape and returns the QAQ
 * options it fixes for `layer`: BAD_CALIBRATION naming the field at fault.
 */
export function qaqOptionsFromCalibration(cal: unknown, nKvHeads: number, headDim: number, layer = 0): { qMax: number[] } {
  const bad = (m: string, arg: string): never => { throw new KvpackError('BAD_CALIBRATION', m, arg); };
  if (typeof cal !== 'object' || cal === null) return bad('not an object', 'calibration');
  const c = cal as Record<string, unknown>;
  if (c.format !== QAQ_CALIBRATION_FORMAT) bad(`format is ${String(c.format)}, expected ${QAQ_CALIBRATION_FORMAT}`, 'format');
  if (c.version !== QAQ_CALIBRATION_VERSION) bad(`version ${String(c.version)}; this build reads ${QAQ_CALIBRATION_VERSION}`, 'version');
  if (c.nKvHeads !== nKvHeads || c.headDim !== headDim) {
    bad(`calibrated for ${String(c.nKvHeads)}x${String(c.headDim)}, cache is ${nKvHeads}x${headDim}`, 'nKvHeads');
  }
  if (!Array.isArray(c.layers) || c.layers.length === 0) return bad('must be a non-empty array', 'layers');
  if (!Number.isInteger(layer) || layer < 0 || layer >= c.layers.length) bad(`layer ${layer} not in [0, ${c.layers.length})`, 'layer');
  const l = c.layers[layer] as Record<string, unknown> | null;
  const q = l?.qMax;
  if (!Array.isArray(q) || q.length !== nKvHeads) return bad(`must be an array of ${nKvHeads} numbers`, `layers[${layer}].qMax`);
  q.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(`element ${i} must be a finite number > 0, got ${String(v)}`, `layers[${layer}].qMax`);
  });
  return { qMax: q as number[] };
}
