import { registerCodec } from '../registry.js';
import { F16_MAX } from '../uniform.js';
import type { CalibrationSample, StreamKind } from '../types.js';
import { calibrateSkvqStream } from './calibrate.js';
import { SkvqCodec } from './codec.js';
import type { SkvqBits } from './geometry.js';
import { skvqKernels } from './kernels.js';

/** Registers skvq-k2, skvq-k4 (keys), skvq-v2, skvq-v1.5 (values): docs/codecs/skvq.md. */
const variants: { name: string; kind: StreamKind; bits: SkvqBits; summary: string }[] = [
  { name: 'skvq-k2', kind: 'key', bits: 2, summary: 'SKVQ keys, 2-bit: channel reorder + clipped per-token groups (Duanmu et al. 2024)' },
  { name: 'skvq-k4', kind: 'key', bits: 4, summary: 'SKVQ keys, 4-bit: channel reorder + clipped per-token groups' },
  { name: 'skvq-v2', kind: 'value', bits: 2, summary: 'SKVQ values, 2-bit: channel reorder + clipped per-token groups' },
  { name: 'skvq-v1.5', kind: 'value', bits: 1.5, summary: 'SKVQ values, 1.5-bit (ternary, 1.6 stored bits): reorder + clipped groups' },
];

for (const v of variants) {
  registerCodec({
    name: v.name,
    summary: v.summary,
    streams: [v.kind],
    needsCalibration: true,
    create: (ctx) => new SkvqCodec(v.name, v.bits, ctx),
    maxAbs: F16_MAX, // f16 scale/zero per (cluster, token group)
    calibrate: (sample: CalibrationSample) => calibrateSkvqStream(sample, { ...sample.options, bits: v.bits }),
    kernels: skvqKernels(v.kind, v.bits),
  });
}

export { SkvqCodec, skvqParamWords, SKVQ_PARAM_HEADER_WORDS, type SkvqOptions } from './codec.js';
export * from './calibration-format.js';
export * from './geometry.js';
