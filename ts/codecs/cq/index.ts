import { registerCodec } from '../registry.js';
import { F16_MAX } from '../uniform.js';
import { ATTEND_MAX_ABS } from '../range.js';
import type { CalibrationSample } from '../types.js';
import { calibrateCqStream, type CqCalibrateOptions } from './calibrate.js';
import { CqCodec, CQ_PARAM_HEADER_WORDS } from './codec.js';
import { wordsToBase64 } from './calibration-format.js';
import { CQ_REGISTERED, cqName, type CqConfig } from './config.js';
import { CQ_KERNELS } from './kernels.js';

export { CqCodec, nearestCentroid } from './codec.js';
export { CQ_REGISTERED, cqName, cqShape, parseCqName } from './config.js';
export type { CqConfig, CqShape } from './config.js';
export { loadCqCalibration, makeCqCalibration } from './calibration-format.js';
export type { CqCalibration, CqPrecision } from './calibration-format.js';

/** Calibration options a generic driver may pass through CalibrationSample.options. */
const SAMPLE_OPTIONS = ['seed', 'maxIterations', 'precision', 'maxSamples', 'fisher'] as const;

/**
 * Saved caches store the codebook once, as param words (D123): the calibration travels without
 * its `codebook` member, and a calibration without one gets it back from the param words.
 */
const savedCalibration = {
  strip(calibration: unknown): unknown {
    if (typeof calibration !== 'object' || calibration === null || Array.isArray(calibration)) return calibration;
    const { codebook: _omitted, ...rest } = calibration as Record<string, unknown>;
    return rest;
  },
  restore(saved: unknown, paramWords: Uint32Array): unknown {
    if (typeof saved !== 'object' || saved === null || Array.isArray(saved) || ArrayBuffer.isView(saved) || 'codebook' in saved) return saved;
    const { meta, ...rest } = saved as Record<string, unknown>;
    const codebook = wordsToBase64(paramWords.subarray(Math.min(CQ_PARAM_HEADER_WORDS, paramWords.length)));
    return { ...rest, codebook, ...(meta !== undefined ? { meta } : {}) };
  },
};

function calibrateSample(cfg: CqConfig, sample: CalibrationSample): unknown {
  const o: CqCalibrateOptions = { ...cfg };
  for (const k of SAMPLE_OPTIONS) {
    const v = sample.options?.[k];
    if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
  }
  return calibrateCqStream(sample.data, sample, o);
}

for (const cfg of CQ_REGISTERED) {
  registerCodec({
    name: cqName(cfg),
    summary: `CQ coupled quantization: ${cfg.channelsPerGroup} channels per ${cfg.bits}-bit codebook index ` +
      `(${cfg.bits / cfg.channelsPerGroup} bits/channel + codebooks), lookup-table attention`,
    streams: ['key', 'value'],
    needsCalibration: true,
    create: (ctx) => new CqCodec(cfg, ctx),
    // f16 codebooks hold centroids up to 65504; f32 ones take what the kernels take
    maxAbs: (c) => (c as CqCodec).precision === 'f16' ? F16_MAX : ATTEND_MAX_ABS,
    calibrate: (sample) => calibrateSample(cfg, sample),
    kernels: CQ_KERNELS,
    family: 'cq',
    savedCalibration,
  });
}
