import { codecInfo } from '../codecs/registry.js';
import type { StreamKind } from '../codecs/types.js';
import { check, KvpackError } from '../errors.js';
import type { ModelConfig } from './config.js';
import type { KvCapture } from './kv-capture.js';

/** What evaluation needs of a calibrator: one calibration object per codec, stream and layer. */
export interface LayerCalibrator {
  forLayer(codec: string, kind: StreamKind, layer: number, fisher?: boolean, extra?: Record<string, unknown>): unknown;
}

/**
 * Builds per-layer calibration objects for codecs that need them, through the registry's
 * `CodecInfo.calibrate` hook, from a capture of the calibration split. Results are memoized per
 * (codec, stream, layer) so a codec used in several pairings calibrates once.
 */
export class CaptureCalibrator implements LayerCalibrator {
  private readonly memo = new Map<string, unknown>();

  constructor(readonly capture: KvCapture, config: ModelConfig, readonly options: Record<string, unknown> = {}) {
    check(capture.nLayers === config.nLayers && capture.nKvHeads === config.nKvHeads && capture.headDim === config.headDim &&
      capture.nHeads === config.nHeads, 'BAD_CALIBRATION',
      `capture is ${capture.nLayers} layers x ${capture.nHeads}/${capture.nKvHeads} heads x ${capture.headDim}, model is ` +
      `${config.nLayers} x ${config.nHeads}/${config.nKvHeads} x ${config.headDim}`, 'capture');
  }

  /**
   * Calibration object for `codec` on one stream of one layer; undefined for codecs without a
   * calibrate hook. Codecs for which calibration is optional (QAQ's qMax) get it too.
   */
  forLayer(codec: string, kind: StreamKind, layer: number, fisher = false, extra: Record<string, unknown> = {}): unknown {
    const info = codecInfo(codec);
    if (!info.calibrate) {
      if (!info.needsCalibration) return undefined;
      throw new KvpackError('BAD_CALIBRATION', `codec '${codec}' needs calibration but registers no calibrate hook`, 'codec');
    }
    const k = `${codec}/${kind}/${layer}/${fisher}/${JSON.stringify(extra)}`;
    if (!this.memo.has(k)) {
      const L = this.capture.layers[layer]!;
      const weights = kind === 'key' ? L.keysFisher : L.valuesFisher;
      if (fisher && !weights) {
        throw new KvpackError('BAD_CALIBRATION', 'Fisher-weighted calibration needs a capture with Fisher weights (kvpack capture --fisher)', 'capture');
      }
      this.memo.set(k, info.calibrate({
        kind, headDim: this.capture.headDim, nKvHeads: this.capture.nKvHeads,
        data: kind === 'key' ? L.keys : L.values, queries: L.queries, nHeads: this.capture.nHeads,
        // codecs read per-element weights as options.fisher (CQ: docs/codecs/cq.md, "Calibration")
        options: fisher ? { ...this.options, ...extra, fisher: weights } : { ...this.options, ...extra },
      }));
    }
    return this.memo.get(k);
  }
}
