import { TILE_TOKENS } from '../format/constants.js';
import type { SelfAttendingCache } from '../cache/kv-cache-like.js';
import type { CodecKernels } from './kernels.js';

export type StreamKind = 'key' | 'value';

/** What a codec instance needs to know about the cache it codes. */
export interface CodecContext {
  kind: StreamKind;
  headDim: number;
  nKvHeads: number;
  /** Calibration object for codecs that need one (SKVQ, CQ); validated by the codec. */
  calibration?: unknown;
  /** Codec-specific options (e.g. group size, clip ratio), validated by the codec. */
  options?: Record<string, unknown>;
}

/**
 * One codec bound to one stream (keys or values) of one cache shape.
 * The TS methods are the reference (oracle) every backend is tested against.
 */
export interface StreamCodec {
  /** Registry name, e.g. 'fp32', 'kivi2', 'q4_0'. */
  readonly name: string;
  /**
   * Instances whose name need not be registered (every CQ configuration `new CqCodec` builds):
   * the CodecInfo.family whose kernels serve them.
   */
  readonly family?: string;
  readonly kind: StreamKind;
  readonly headDim: number;
  readonly nKvHeads: number;
  /** u32 words of one tile (TILE_TOKENS tokens x headDim channels) of one head. */
  readonly tileWords: number;
  /**
   * Kernel parameters (calibration results: permutation, clip, codebooks...) as u32 words, all
   * heads; layout documented per codec in docs/FORMAT.md. Empty for codecs without parameters.
   */
  readonly paramWords: Uint32Array;
  /**
   * Codecs built from a calibration (SKVQ, CQ): the calibration this instance applies, a plain
   * structured-clonable object; the same name and shape built from it give the same paramWords
   * (worker threads rebuild the codec this way).
   */
  readonly calibration?: unknown;
  /** Pack one tile of one head. x: TILE_TOKENS*headDim f32, token-major, model channel order. */
  encodeTile(x: Float32Array, head: number, out: Uint32Array): void;
  /** Unpack one tile of one head into f32, token-major, model channel order. */
  decodeTile(words: Uint32Array, head: number, out: Float32Array): void;
}

export type CodecFactory = (ctx: CodecContext) => StreamCodec;

export interface CodecInfo {
  name: string;
  /** One line for tables and --help. */
  summary: string;
  /** Which streams the codec may code. */
  streams: readonly StreamKind[];
  /** True when a calibration object is required. */
  needsCalibration: boolean;
  create: CodecFactory;
  /**
   * For codecs with needsCalibration: builds the calibration object (the one `create` takes as
   * ctx.calibration) from sample activations, so generic drivers (`kvpack demo`, `kvpack eval`)
   * can run every registered codec without codec-specific code.
   */
  calibrate?: (sample: CalibrationSample) => unknown;
  /**
   * For codecs whose tokens do not fit fixed-size tiles (QAQ: per-token widths chosen from the
   * attention each token receives): builds the whole layer cache, which also computes its own
   * attention. Drivers use it instead of PackedKvCache + AttentionBackend when present; `create`
   * then throws BAD_PARAM.
   */
  createCache?: (spec: LayerCacheSpec) => SelfAttendingCache;
  /** Its WASM exports and WGSL files (ts/codecs/<codec>/kernels.ts); absent: TS reference only. */
  kernels?: CodecKernels;
  /** Codecs sharing one kernel descriptor under several names (CQ): instances with this StreamCodec.family use it. */
  family?: string;
  /**
   * Largest |x| the codec encodes within its stated error (f16 metadata saturates at 65504, so
   * e.g. KIVI's zero point); appends beyond it (or beyond ATTEND_MAX_ABS, the f32 kernels'
   * bound) are OUT_OF_RANGE (docs/reliability.md "Representable range"). A function when it
   * depends on the instance (CQ: f16 or f32 codebooks). Default: ATTEND_MAX_ABS.
   */
  maxAbs?: number | ((codec: StreamCodec) => number);
  /**
   * Saved caches (docs/FORMAT.md "Saved caches", D123): the file stores a codec's param words and
   * its calibration; `strip` drops from the calibration what the param words already hold (CQ:
   * its codebook) and `restore` puts it back from them; `restore` returns a calibration that was
   * not stripped (files written before the codec had `strip`) unchanged. Absent: the calibration
   * travels whole.
   */
  savedCalibration?: {
    strip(calibration: unknown, paramWords: Uint32Array): unknown;
    restore(saved: unknown, paramWords: Uint32Array): unknown;
  };
}

/** Shape and settings of one layer's cache, for CodecInfo.createCache. */
export interface LayerCacheSpec {
  nKvHeads: number;
  headDim: number;
  /** Recent tokens kept in full precision (codec default when omitted). */
  window?: number;
  options?: Record<string, unknown>;
  /** The object `calibrate` returned for this layer. */
  calibration?: unknown;
}

/** Activations of one stream to calibrate on (e.g. a capture's calibration split). */
export interface CalibrationSample {
  kind: StreamKind;
  headDim: number;
  nKvHeads: number;
  /** [tokens][nKvHeads][headDim], keys after RoPE as they are cached. */
  data: Float32Array;
  /** Queries [tokens][nHeads][headDim] of the same tokens, for methods that weight by attention. */
  queries?: Float32Array;
  nHeads?: number;
  /** Codec options the calibration should target (bits, group size...). */
  options?: Record<string, unknown>;
}

/** Bits per element of the packed tiles of a codec (metadata included, params excluded). */
export function tileBitsPerElement(codec: StreamCodec): number {
  return (codec.tileWords * 32) / (TILE_TOKENS * codec.headDim);
}
