import { KvpackError } from '../../errors.js';
import { calibrateQaqSample, qaqOptionsFromCalibration } from './calibrate.js';
import { QaqKvCache } from './cache.js';
import { registerCodec } from '../registry.js';
import type { LayerCacheSpec } from '../types.js';

/**
 * QAQ (Dong et al. 2024, arXiv 2403.04643): per-token widths, so no fixed-size StreamCodec;
 * drivers build a QaqKvCache through createCache (docs/codecs/qaq.md). The name codes both
 * streams: keys and values get their own formulas inside the one cache.
 */
export function createQaqCache(spec: LayerCacheSpec): QaqKvCache {
  const options: Record<string, unknown> = { ...(spec.options ?? {}) };
  if (spec.calibration !== undefined && options.qMax === undefined) {
    options.qMax = qaqOptionsFromCalibration(spec.calibration, spec.nKvHeads, spec.headDim).qMax;
  }
  return new QaqKvCache({ nKvHeads: spec.nKvHeads, headDim: spec.headDim, window: spec.window, qaq: options });
}

registerCodec({
  name: 'qaq',
  summary: 'QAQ: per-token key/value widths from attention (quality targets), exact outliers (Dong et al. 2024)',
  streams: ['key', 'value'],
  needsCalibration: false,
  create: () => {
    throw new KvpackError('BAD_PARAM',
      "qaq chooses a width per token, so it has no fixed-size tile codec: build the cache with codecInfo('qaq').createCache (QaqKvCache)", 'codec');
  },
  calibrate: (sample) => calibrateQaqSample(sample),
  createCache: createQaqCache,
});

export { QaqKvCache } from './cache.js';
export { QAQ_DEFAULTS, resolveQaqOptions, type QaqOptions } from './options.js';
