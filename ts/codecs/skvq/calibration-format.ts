import { KvpackError } from '../../errors.js';
import type { StreamKind } from '../types.js';
import { SKVQ_BITS, SKVQ_GROUP_SIZES, skvqGeometry, type SkvqBits, type SkvqGeometry } from './geometry.js';

/**
 * The SKVQ calibration object, what a calibration IS: the JSON-safe, versioned record of one
 * stream (keys or values) of one layer (docs/codecs/skvq.md, "Calibration object"), its
 * validation against a cache's shape, and the plain (identity permutation) calibration.
 * How one is computed from data: calibrate.ts (`calibrateSkvq`) beside this file.
 */
export const SKVQ_CALIBRATION_FORMAT = 'kvpack-skvq';
export const SKVQ_CALIBRATION_VERSION = 1;

export interface SkvqHeadCalibration {
  /** perm[p] = model channel stored at permuted position p. */
  perm: number[];
  /** Group j holds permuted positions groupStart[j] .. groupStart[j+1]-1; length clusters + 1. */
  groupStart: number[];
}

export interface SkvqCalibration {
  format: typeof SKVQ_CALIBRATION_FORMAT;
  version: typeof SKVQ_CALIBRATION_VERSION;
  kind: StreamKind;
  headDim: number;
  nKvHeads: number;
  bits: SkvqBits;
  groupSize: number;
  clusters: number;
  tokensPerGroup: number;
  /** Clip ratio alpha in (0, 1]. */
  clip: number;
  heads: SkvqHeadCalibration[];
}

export interface SkvqExpectation {
  kind: StreamKind;
  headDim: number;
  nKvHeads: number;
  bits: SkvqBits;
}

function bad(message: string, field: string): never {
  throw new KvpackError('BAD_CALIBRATION', message, `calibration.${field}`);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Validates that `groupStart` is 0 = g0 < g1 < ... < gC = d. */
function checkGroupStart(gs: unknown, clusters: number, d: number, field: string): number[] {
  if (!Array.isArray(gs) || gs.length !== clusters + 1) bad(`must be an array of ${clusters + 1} integers`, field);
  for (let j = 0; j <= clusters; j++) {
    const v = gs[j];
    if (!Number.isInteger(v)) bad(`element ${j} is not an integer`, field);
  }
  const g = gs as number[];
  if (g[0] !== 0 || g[clusters] !== d) bad(`must start at 0 and end at headDim=${d}`, field);
  for (let j = 0; j < clusters; j++) if (g[j + 1]! <= g[j]!) bad(`must be strictly increasing (group ${j} is empty)`, field);
  return g.slice();
}

/** Validates that `perm` holds each of 0..d-1 exactly once. */
export function checkPermutation(perm: unknown, d: number, field: string): number[] {
  if (!Array.isArray(perm) || perm.length !== d) bad(`must be an array of headDim=${d} integers`, field);
  const seen = new Uint8Array(d);
  for (let p = 0; p < d; p++) {
    const c = perm[p];
    if (!Number.isInteger(c) || c < 0 || c >= d) bad(`element ${p} (${String(c)}) is not a channel in [0, ${d})`, field);
    if (seen[c as number]) bad(`is not a permutation: channel ${String(c)} appears twice`, field);
    seen[c as number] = 1;
  }
  return (perm as number[]).slice();
}

/**
 * Parses and validates an unknown value (e.g. JSON.parse output) as the SKVQ calibration a codec
 * for `expect` needs. Throws BAD_CALIBRATION naming the field; returns a deep copy.
 */
export function validateSkvqCalibration(x: unknown, expect: SkvqExpectation): { cal: SkvqCalibration; geometry: SkvqGeometry } {
  if (!isRecord(x)) bad('must be an SKVQ calibration object', 'format');
  if (x.format !== SKVQ_CALIBRATION_FORMAT) bad(`is '${String(x.format)}', expected '${SKVQ_CALIBRATION_FORMAT}'`, 'format');
  if (x.version !== SKVQ_CALIBRATION_VERSION) bad(`is ${String(x.version)}, this kvpack reads version ${SKVQ_CALIBRATION_VERSION}`, 'version');
  if (x.kind !== expect.kind) bad(`calibrated for ${String(x.kind)}s, codec codes ${expect.kind}s`, 'kind');
  if (x.headDim !== expect.headDim) bad(`is ${String(x.headDim)}, cache headDim is ${expect.headDim}`, 'headDim');
  if (x.nKvHeads !== expect.nKvHeads) bad(`is ${String(x.nKvHeads)}, cache nKvHeads is ${expect.nKvHeads}`, 'nKvHeads');
  if (!SKVQ_BITS.includes(x.bits as SkvqBits)) bad(`must be one of ${SKVQ_BITS.join(', ')}`, 'bits');
  if (x.bits !== expect.bits) bad(`clip ratio was calibrated for ${String(x.bits)} bits, codec has ${expect.bits}`, 'bits');
  const clip = x.clip;
  if (typeof clip !== 'number' || !(clip > 0 && clip <= 1)) bad(`clip ratio must be in (0, 1], got ${String(clip)}`, 'clip');
  if (!SKVQ_GROUP_SIZES.includes(x.groupSize as number)) bad(`must be one of ${SKVQ_GROUP_SIZES.join(', ')}, got ${String(x.groupSize)}`, 'groupSize');
  const clusters = x.clusters;
  if (!Number.isInteger(clusters) || (clusters as number) < 1 || (clusters as number) > expect.headDim) {
    bad(`must be an integer in [1, headDim=${expect.headDim}], got ${String(clusters)}`, 'clusters');
  }
  let geometry: SkvqGeometry;
  try {
    geometry = skvqGeometry(expect.headDim, expect.bits, x.groupSize as number, clusters as number);
  } catch (e) {
    bad(e instanceof Error ? e.message : String(e), 'clusters');
  }
  if (x.tokensPerGroup !== geometry.tokensPerGroup) {
    bad(`is ${String(x.tokensPerGroup)}, groupSize ${geometry.groupSize} with ${geometry.clusters} clusters gives ${geometry.tokensPerGroup}`, 'tokensPerGroup');
  }
  if (!Array.isArray(x.heads) || x.heads.length !== expect.nKvHeads) bad(`must be an array of nKvHeads=${expect.nKvHeads} entries`, 'heads');
  // Array.from, not map: map skips the holes of a sparse array (found by fuzzing, issue 18)
  const heads = Array.from(x.heads as unknown[], (h: unknown, i: number) => {
    if (!isRecord(h)) bad('must be an object { perm, groupStart }', `heads[${i}]`);
    return {
      perm: checkPermutation(h.perm, expect.headDim, `heads[${i}].perm`),
      groupStart: checkGroupStart(h.groupStart, geometry.clusters, expect.headDim, `heads[${i}].groupStart`),
    };
  });
  const cal: SkvqCalibration = {
    format: SKVQ_CALIBRATION_FORMAT, version: SKVQ_CALIBRATION_VERSION, kind: expect.kind,
    headDim: expect.headDim, nKvHeads: expect.nKvHeads, bits: expect.bits, groupSize: geometry.groupSize,
    clusters: geometry.clusters, tokensPerGroup: geometry.tokensPerGroup, clip, heads,
  };
  return { cal, geometry };
}

/** Equal contiguous groups: groupStart[j] = round(j * d / C). */
export function equalGroupStart(d: number, clusters: number): number[] {
  return Array.from({ length: clusters + 1 }, (_, j) => Math.round((j * d) / clusters));
}

/**
 * A calibration with no reordering (identity permutation, equal groups) and no clipping: plain
 * per-token group quantization with SKVQ's layout, the ablation baseline.
 */
export function plainSkvqCalibration(kind: StreamKind, nKvHeads: number, headDim: number, bits: SkvqBits,
  groupSize?: number, clusters?: number): SkvqCalibration {
  const g = skvqGeometry(headDim, bits, groupSize, clusters);
  const perm = Array.from({ length: headDim }, (_, c) => c);
  return {
    format: SKVQ_CALIBRATION_FORMAT, version: SKVQ_CALIBRATION_VERSION, kind, headDim, nKvHeads, bits,
    groupSize: g.groupSize, clusters: g.clusters, tokensPerGroup: g.tokensPerGroup, clip: 1,
    heads: Array.from({ length: nKvHeads }, () => ({ perm: perm.slice(), groupStart: equalGroupStart(headDim, g.clusters) })),
  };
}
