import { check, KvpackError } from '../../errors.js';
import { TILE_TOKENS } from '../../format/constants.js';
import { packCodes } from '../bitpack.js';
import { packAffineMeta, unpackAffineMeta } from '../uniform.js';
import type { CodecContext, StreamCodec, StreamKind } from '../types.js';
import { equalGroupStart, validateSkvqCalibration, type SkvqCalibration } from './calibration-format.js';
import type { SkvqBits, SkvqGeometry } from './geometry.js';
import { clippedCode, clippedDecode, clippedParams } from './quantizer.js';
import { packTrits, readTrit } from './ternary.js';

/** Codec options (cache keyOptions/valueOptions); the defaults are the full method. */
export interface SkvqOptions {
  /** false: identity permutation and equal groups (ablation). Default true. */
  reorder?: boolean;
  /** false: alpha = 1; a number in (0, 1]: that alpha instead of the calibrated one. Default true. */
  clip?: boolean | number;
  /** Must equal the calibration's group size when given. */
  groupSize?: number;
}

/** Number of header words in paramWords before the per-head tables. */
export const SKVQ_PARAM_HEADER_WORDS = 4;

function parseOptions(o: Record<string, unknown> | undefined): SkvqOptions {
  const opts: SkvqOptions = {};
  if (!o) return opts;
  for (const key of Object.keys(o)) {
    check(key === 'reorder' || key === 'clip' || key === 'groupSize', 'BAD_PARAM', `unknown SKVQ option '${key}'`, `options.${key}`);
  }
  if (o.reorder !== undefined) {
    check(typeof o.reorder === 'boolean', 'BAD_PARAM', `must be a boolean, got ${String(o.reorder)}`, 'options.reorder');
    opts.reorder = o.reorder;
  }
  if (o.clip !== undefined) {
    const c = o.clip;
    check(typeof c === 'boolean' || (typeof c === 'number' && c > 0 && c <= 1), 'BAD_PARAM',
      `must be a boolean or a clip ratio in (0, 1], got ${String(c)}`, 'options.clip');
    opts.clip = c;
  }
  if (o.groupSize !== undefined) {
    check(typeof o.groupSize === 'number', 'BAD_PARAM', `must be a number, got ${String(o.groupSize)}`, 'options.groupSize');
    opts.groupSize = o.groupSize;
  }
  return opts;
}

/**
 * SKVQ stream codec: per-head channel permutation into variable-size clusters, clipped
 * asymmetric quantization per (cluster, block of tokensPerGroup tokens), f16 metadata
 * (docs/codecs/skvq.md). The TS methods are the oracle for the WASM and WGSL kernels.
 */
export class SkvqCodec implements StreamCodec {
  readonly name: string;
  readonly kind: StreamKind;
  readonly headDim: number;
  readonly nKvHeads: number;
  readonly tileWords: number;
  readonly paramWords: Uint32Array;
  readonly geometry: SkvqGeometry;
  /** The calibration actually applied (after the reorder/clip options). */
  readonly calibration: SkvqCalibration;
  private readonly codes: Uint8Array;

  constructor(name: string, bits: SkvqBits, ctx: CodecContext) {
    const opts = parseOptions(ctx.options);
    const { cal, geometry } = validateSkvqCalibration(ctx.calibration, {
      kind: ctx.kind, headDim: ctx.headDim, nKvHeads: ctx.nKvHeads, bits,
    });
    if (opts.groupSize !== undefined && opts.groupSize !== cal.groupSize) {
      throw new KvpackError('BAD_CALIBRATION', `calibrated with groupSize ${cal.groupSize}, options ask ${opts.groupSize}`, 'calibration.groupSize');
    }
    if (opts.reorder === false) {
      const identity = Array.from({ length: ctx.headDim }, (_, c) => c);
      cal.heads = cal.heads.map(() => ({ perm: identity.slice(), groupStart: equalGroupStart(ctx.headDim, geometry.clusters) }));
    }
    if (opts.clip === false) cal.clip = 1;
    else if (typeof opts.clip === 'number') cal.clip = opts.clip;
    this.name = name;
    this.kind = ctx.kind;
    this.headDim = ctx.headDim;
    this.nKvHeads = ctx.nKvHeads;
    this.geometry = geometry;
    this.calibration = cal;
    this.tileWords = geometry.tileWords;
    this.paramWords = skvqParamWords(cal);
    this.codes = new Uint8Array(TILE_TOKENS * ctx.headDim);
  }

  encodeTile(x: Float32Array, head: number, out: Uint32Array): void {
    const d = this.headDim, { clusters: C, tokensPerGroup: m, levels, metaWords } = this.geometry;
    check(x.length === TILE_TOKENS * d, 'BAD_SHAPE', `length ${x.length} != ${TILE_TOKENS}*headDim`, 'x');
    check(Number.isInteger(head) && head >= 0 && head < this.nKvHeads, 'BAD_PARAM', `must be in [0, ${this.nKvHeads})`, 'head');
    check(out.length >= this.tileWords, 'BAD_SHAPE', `length ${out.length} < tileWords ${this.tileWords}`, 'out');
    const { perm, groupStart } = this.calibration.heads[head]!;
    const alpha = this.calibration.clip;
    const codes = this.codes;
    for (let b = 0; b < TILE_TOKENS / m; b++) {
      for (let j = 0; j < C; j++) {
        const p0 = groupStart[j]!, p1 = groupStart[j + 1]!;
        let min = Infinity, max = -Infinity;
        for (let t = b * m; t < (b + 1) * m; t++) {
          for (let p = p0; p < p1; p++) {
            const v = x[t * d + perm[p]!]!;
            if (v < min) min = v;
            if (v > max) max = v;
          }
        }
        const q = clippedParams(min, max, levels, alpha);
        out[b * C + j] = packAffineMeta(q);
        for (let t = b * m; t < (b + 1) * m; t++) {
          for (let p = p0; p < p1; p++) codes[t * d + p] = clippedCode(x[t * d + perm[p]!]!, q, levels);
        }
      }
    }
    const region = out.subarray(metaWords, this.tileWords);
    region.fill(0);
    if (this.geometry.bits === 1.5) packTrits(codes, codes.length, region, 0);
    else packCodes(codes, this.geometry.bits, region, 0);
  }

  decodeTile(words: Uint32Array, head: number, out: Float32Array): void {
    const d = this.headDim, { clusters: C, tokensPerGroup: m, metaWords, bits } = this.geometry;
    check(words.length >= this.tileWords, 'BAD_SHAPE', `length ${words.length} < tileWords ${this.tileWords}`, 'words');
    check(Number.isInteger(head) && head >= 0 && head < this.nKvHeads, 'BAD_PARAM', `must be in [0, ${this.nKvHeads})`, 'head');
    check(out.length === TILE_TOKENS * d, 'BAD_SHAPE', `length ${out.length} != ${TILE_TOKENS}*headDim`, 'out');
    const { perm, groupStart } = this.calibration.heads[head]!;
    for (let b = 0; b < TILE_TOKENS / m; b++) {
      for (let j = 0; j < C; j++) {
        const q = unpackAffineMeta(words[b * C + j]!);
        for (let t = b * m; t < (b + 1) * m; t++) {
          for (let p = groupStart[j]!; p < groupStart[j + 1]!; p++) {
            const e = t * d + p;
            const code = bits === 1.5 ? readTrit(words, metaWords, e)
              : (words[metaWords + ((e * bits) >>> 5)]! >>> ((e * bits) & 31)) & ((1 << bits) - 1);
            out[t * d + perm[p]!] = clippedDecode(code, q);
          }
        }
      }
    }
  }
}

/**
 * Kernel parameters: [levels, C, m, f32 bits of alpha], then per head: perm[0..d), groupStart[0..C],
 * slot[0..d) with slot[c] = p | (j << 16) for model channel c stored at permuted position p of
 * group j (the GPU kernels decode in model order through it) (docs/codecs/skvq.md, "Parameters").
 */
export function skvqParamWords(cal: SkvqCalibration): Uint32Array {
  const d = cal.headDim, C = cal.clusters;
  const out = new Uint32Array(SKVQ_PARAM_HEADER_WORDS + cal.nKvHeads * skvqParamHeadWords(d, C));
  out[0] = cal.bits === 1.5 ? 3 : 1 << cal.bits;
  out[1] = C;
  out[2] = cal.tokensPerGroup;
  out[3] = new Uint32Array(new Float32Array([cal.clip]).buffer)[0]!;
  cal.heads.forEach((h, i) => {
    const base = SKVQ_PARAM_HEADER_WORDS + i * skvqParamHeadWords(d, C);
    out.set(h.perm, base);
    out.set(h.groupStart, base + d);
    for (let j = 0; j < C; j++) {
      for (let p = h.groupStart[j]!; p < h.groupStart[j + 1]!; p++) out[base + d + C + 1 + h.perm[p]!] = (p | (j << 16)) >>> 0;
    }
  });
  return out;
}

/** Param words per head: perm[d], groupStart[C+1], slot[d]. */
export function skvqParamHeadWords(d: number, clusters: number): number {
  return 2 * d + clusters + 1;
}
