/**
 * The CQ calibration object, what a calibration IS: the JSON-safe, versioned codebooks of one
 * stream of one layer (docs/FORMAT.md, "CQ"), their words (f16 or f32 centroids, base64), and
 * validation against a cache's shape. How one is computed from data: calibrate.ts beside this file.
 */
import { check, KvpackError } from '../../errors.js';
import { f16BitsToF32 } from '../../format/f16.js';
import type { StreamKind } from '../types.js';
import { metaF16Bits } from '../uniform.js';
import { cqShape, type CqConfig, type CqShape } from './config.js';

/** How centroids are stored in the codebook words (and counted in effective bits). */
export type CqPrecision = 'f16' | 'f32';

export const CQ_CALIBRATION_FORMAT = 'kvpack-cq';
export const CQ_CALIBRATION_VERSION = 1;

/**
 * The calibration of one stream (keys or values) of one layer: its codebooks. JSON-safe
 * (JSON.stringify/parse round-trips it); `codebook` is the base64 of the codec's `paramWords`
 * (little-endian u32), so the stored bits are exact. Layout (docs/FORMAT.md, "CQ"): centroid
 * value (head h, group g, centroid k, channel i) is float f = ((h*G + g)*2^b + k)*c + i, stored
 * as f16 (word f>>1, low half when f is even) or f32 (word f).
 */
export interface CqCalibration {
  format: typeof CQ_CALIBRATION_FORMAT;
  version: typeof CQ_CALIBRATION_VERSION;
  kind: StreamKind;
  channelsPerGroup: number;
  bits: number;
  nKvHeads: number;
  headDim: number;
  precision: CqPrecision;
  codebook: string;
  /** Provenance, informative only. */
  meta?: { samples?: number; seed?: number; maxIterations?: number; fisherWeighted?: boolean; inertia?: number[] };
}

/** Codebook words of the float array `centroids` (length nKvHeads * headDim * 2^b). */
export function codebookWords(centroids: ArrayLike<number>, precision: CqPrecision): Uint32Array {
  if (precision === 'f32') {
    const f = new Float32Array(centroids.length);
    for (let i = 0; i < f.length; i++) f[i] = centroids[i]!;
    return new Uint32Array(f.buffer);
  }
  const words = new Uint32Array(centroids.length >>> 1);
  for (let i = 0; i < words.length; i++) {
    // saturate at +-65504: a centroid outside f16 range must not turn into Inf
    words[i] = (metaF16Bits(centroids[2 * i]!) | (metaF16Bits(centroids[2 * i + 1]!) << 16)) >>> 0;
  }
  return words;
}

/** The centroids as f32 values, as every backend decodes them. */
export function codebookFloats(words: Uint32Array, precision: CqPrecision): Float32Array {
  if (precision === 'f32') return new Float32Array(words.buffer.slice(words.byteOffset, words.byteOffset + words.byteLength));
  const out = new Float32Array(words.length * 2);
  for (let i = 0; i < words.length; i++) {
    out[2 * i] = f16BitsToF32(words[i]! & 0xffff);
    out[2 * i + 1] = f16BitsToF32(words[i]! >>> 16);
  }
  return out;
}

export function codebookWordCount(shape: CqShape, precision: CqPrecision): number {
  const floats = shape.nKvHeads * shape.headFloats;
  return precision === 'f32' ? floats : floats / 2; // headFloats = headDim * 2^b is even
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Base64 of the words' little-endian bytes (no Buffer/btoa: runs the same in Node, Deno, browsers). */
export function wordsToBase64(words: Uint32Array): string {
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!, b = bytes[i + 1], c = bytes[i + 2];
    const n = (a << 16) | ((b ?? 0) << 8) | (c ?? 0);
    parts.push(B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! +
      (b === undefined ? '=' : B64[(n >> 6) & 63]!) + (c === undefined ? '=' : B64[n & 63]!));
  }
  return parts.join('');
}

export function base64ToWords(s: string, arg: string): Uint32Array {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
    throw new KvpackError('CORRUPT_DATA', 'not base64', arg);
  }
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const nBytes = (s.length / 4) * 3 - pad;
  check(nBytes % 4 === 0, 'CORRUPT_DATA', `${nBytes} bytes is not a whole number of u32 words`, arg);
  const bytes = new Uint8Array(nBytes);
  for (let i = 0, o = 0; i < s.length; i += 4) {
    const n = (B64.indexOf(s[i]!) << 18) | (B64.indexOf(s[i + 1]!) << 12) |
      ((s[i + 2] === '=' ? 0 : B64.indexOf(s[i + 2]!)) << 6) | (s[i + 3] === '=' ? 0 : B64.indexOf(s[i + 3]!));
    if (o < nBytes) bytes[o++] = (n >> 16) & 255;
    if (o < nBytes) bytes[o++] = (n >> 8) & 255;
    if (o < nBytes) bytes[o++] = n & 255;
  }
  return new Uint32Array(bytes.buffer);
}

/** Builds a calibration object from centroids [nKvHeads][G][2^b][c] (flat). */
export function makeCqCalibration(cfg: CqConfig, kind: StreamKind, nKvHeads: number, headDim: number,
  centroids: ArrayLike<number>, precision: CqPrecision = 'f16', meta?: CqCalibration['meta']): CqCalibration {
  const shape = cqShape(cfg, headDim, nKvHeads);
  check(centroids.length === nKvHeads * shape.headFloats, 'BAD_SHAPE',
    `length ${centroids.length} != nKvHeads*headDim*2^b = ${nKvHeads * shape.headFloats}`, 'centroids');
  const cal: CqCalibration = {
    format: CQ_CALIBRATION_FORMAT, version: CQ_CALIBRATION_VERSION, kind,
    channelsPerGroup: cfg.channelsPerGroup, bits: cfg.bits, nKvHeads, headDim, precision,
    codebook: wordsToBase64(codebookWords(centroids, precision)),
  };
  if (meta) cal.meta = meta;
  return cal;
}

/**
 * Validates a calibration object (e.g. parsed from JSON) against the stream it will code and
 * returns its codebook words. Every mismatch is a BAD_CALIBRATION naming the field.
 */
export function loadCqCalibration(cal: unknown, expect: { cfg: CqConfig; kind: StreamKind; nKvHeads: number; headDim: number }): {
  words: Uint32Array; precision: CqPrecision;
} {
  const bad = (msg: string, field: string): never => { throw new KvpackError('BAD_CALIBRATION', msg, `calibration.${field}`); };
  if (typeof cal !== 'object' || cal === null) bad('must be a CQ calibration object', 'format');
  const c = cal as Record<string, unknown>;
  if (c.format !== CQ_CALIBRATION_FORMAT) bad(`format ${String(c.format)} is not '${CQ_CALIBRATION_FORMAT}'`, 'format');
  if (c.version !== CQ_CALIBRATION_VERSION) bad(`version ${String(c.version)} is not ${CQ_CALIBRATION_VERSION}`, 'version');
  if (c.kind !== expect.kind) bad(`calibrated for ${String(c.kind)}s, used for ${expect.kind}s`, 'kind');
  const fields: [string, number][] = [
    ['channelsPerGroup', expect.cfg.channelsPerGroup], ['bits', expect.cfg.bits],
    ['nKvHeads', expect.nKvHeads], ['headDim', expect.headDim],
  ];
  for (const [f, v] of fields) {
    if (c[f] !== v) bad(`codebook shape mismatch: ${f} is ${String(c[f])}, the cache needs ${v}`, f);
  }
  if (c.precision !== 'f16' && c.precision !== 'f32') bad(`must be 'f16' or 'f32', got ${String(c.precision)}`, 'precision');
  const precision = c.precision as CqPrecision;
  if (typeof c.codebook !== 'string') bad('must be a base64 string', 'codebook');
  const words = base64ToWords(c.codebook as string, 'calibration.codebook');
  const need = codebookWordCount(cqShape(expect.cfg, expect.headDim, expect.nKvHeads), precision);
  if (words.length !== need) bad(`codebook shape mismatch: ${words.length} words, the cache needs ${need}`, 'codebook');
  const floats = codebookFloats(words, precision);
  for (let i = 0; i < floats.length; i++) {
    if (!Number.isFinite(floats[i])) bad(`centroid value ${i} is ${floats[i]}`, 'codebook');
  }
  return { words, precision };
}
