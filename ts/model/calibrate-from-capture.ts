import { codecInfo } from '../codecs/registry.js';
import { rotateCaptureRows } from '../codecs/rotation.js';
import type { StreamKind } from '../codecs/types.js';
import { check, KvpackError } from '../errors.js';
import type { ModelConfig } from './config.js';
import type { KvCapture } from './kv-capture.js';

/** What evaluation needs of a calibrator: one calibration object per codec, stream and layer. */
export interface LayerCalibrator {
  /**
   * `rotation`: the seed of the rotation (`@rk` / `@rv`, RotatedCodec) the codec sits behind:
   * its calibration is computed on the rotated rows (decisions.md#D31); undefined = not rotated.
   */
  forLayer(codec: string, kind: StreamKind, layer: number, fisher?: boolean, extra?: Record<string, unknown>, rotation?: number): unknown;
}

/**
 * The key one calibration is stored and memoized under. A rotated calibration (computed on
 * rotated rows) gets its own key, `/rotN` appended, so rotated and plain ones never mix; plain
 * keys are those of files written before rotation existed.
 */
export function calibrationKey(codec: string, kind: StreamKind, layer: number, fisher: boolean, extra: Record<string, unknown>, rotation?: number): string {
  return `${codec}/${kind}/${layer}/${fisher}/${JSON.stringify(extra)}${rotation !== undefined ? `/rot${rotation}` : ''}`;
}

/** The rows one stream of one layer calibrates on: the capture's, or rotated copies for a rotated codec. */
export interface CalibrationRows {
  data: Float32Array;
  queries: Float32Array;
}

/**
 * Builds per-layer calibration objects for codecs that need them, through the registry's
 * `CodecInfo.calibrate` hook, from a capture of the calibration split. Results are memoized per
 * (codec, stream, layer, options, rotation) so a codec used in several pairings calibrates once.
 */
export class CaptureCalibrator implements LayerCalibrator {
  private readonly memo = new Map<string, unknown>();
  /** Rotated rows of the last (layer, kind, seed) asked for: the calibrations of one layer reuse them. */
  private rotated: { key: string; rows: CalibrationRows } | undefined;

  constructor(readonly capture: KvCapture, config: ModelConfig, readonly options: Record<string, unknown> = {}) {
    check(capture.nLayers === config.nLayers && capture.nKvHeads === config.nKvHeads && capture.headDim === config.headDim &&
      capture.nHeads === config.nHeads, 'BAD_CALIBRATION',
      `capture is ${capture.nLayers} layers x ${capture.nHeads}/${capture.nKvHeads} heads x ${capture.headDim}, model is ` +
      `${config.nLayers} x ${config.nHeads}/${config.nKvHeads} x ${config.headDim}`, 'capture');
  }

  /**
   * One stream's rows of one layer as a codec behind rotation `rotation` sees them: keys or values
   * rotated per KV head like RotatedCodec.encodeTile, and for keys the queries rotated by the same
   * R_h (scores unchanged), so a codec that weighs by attention sees the same weights.
   */
  rows(kind: StreamKind, layer: number, rotation?: number): CalibrationRows {
    const L = this.capture.layers[layer];
    check(L !== undefined, 'BAD_PARAM', `layer ${layer} outside [0, ${this.capture.nLayers})`, 'layer');
    const data = kind === 'key' ? L.keys : L.values;
    if (rotation === undefined) return { data, queries: L.queries };
    const key = `${layer}/${kind}/${rotation}`;
    if (this.rotated?.key !== key) {
      const { nKvHeads, nHeads, headDim } = this.capture;
      this.rotated = {
        key,
        rows: {
          data: rotateCaptureRows(data, kind, nKvHeads, headDim, rotation),
          queries: kind === 'key' ? rotateCaptureRows(L.queries, 'key', nKvHeads, headDim, rotation, nHeads / nKvHeads) : L.queries,
        },
      };
    }
    return this.rotated.rows;
  }

  /**
   * Calibration object for `codec` on one stream of one layer; undefined for codecs without a
   * calibrate hook. Codecs for which calibration is optional (QAQ's qMax) get it too.
   */
  forLayer(codec: string, kind: StreamKind, layer: number, fisher = false, extra: Record<string, unknown> = {}, rotation?: number): unknown {
    const info = codecInfo(codec);
    if (!info.calibrate) {
      if (!info.needsCalibration) return undefined;
      throw new KvpackError('BAD_CALIBRATION', `codec '${codec}' needs calibration but registers no calibrate hook`, 'codec');
    }
    check(rotation === undefined || (Number.isInteger(rotation) && rotation >= 0 && rotation <= 0xffffffff), 'BAD_PARAM',
      `a rotation seed is a u32, got ${String(rotation)}`, 'rotation');
    const k = calibrationKey(codec, kind, layer, fisher, extra, rotation);
    if (!this.memo.has(k)) {
      const L = this.capture.layers[layer]!;
      const weights = kind === 'key' ? L.keysFisher : L.valuesFisher;
      if (fisher && !weights) {
        throw new KvpackError('BAD_CALIBRATION', 'Fisher-weighted calibration needs a capture with Fisher weights (kvpack capture --fisher)', 'capture');
      }
      // the capture keeps squared gradients per model channel; a rotated channel's needs the
      // gradients themselves (R g), so Fisher weights do not carry into the rotated space
      if (fisher && rotation !== undefined) {
        throw new KvpackError('BAD_CALIBRATION', `'${codec}' (${kind}s): Fisher weights are per model channel and do not carry through a rotation; drop @fisher or @r${kind[0]}`, 'fisher');
      }
      const rows = this.rows(kind, layer, rotation);
      this.memo.set(k, info.calibrate({
        kind, headDim: this.capture.headDim, nKvHeads: this.capture.nKvHeads,
        data: rows.data, queries: rows.queries, nHeads: this.capture.nHeads,
        // codecs read per-element weights as options.fisher (CQ: docs/codecs/cq.md, "Calibration")
        options: fisher ? { ...this.options, ...extra, fisher: weights } : { ...this.options, ...extra },
      }));
    }
    return this.memo.get(k);
  }
}
