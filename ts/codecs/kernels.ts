
/**
 * The kernel descriptor of a codec (CodecInfo.kernels): which WASM exports and which WGSL files
 * implement it, and what the WGSL drivers may do with it. Backends read these fields from the
 * registry and keep no tables of their own; a codec without a field has no kernels there (the
 * backend reports BACKEND_UNAVAILABLE or falls back to the TS reference, as documented per backend).
 */
/**
 * What a kernel descriptor may read of a codec instance (a StreamCodec has it; named here so that
 * this file, which types.ts imports, imports nothing back).
 */
export interface KernelCodec {
  readonly name: string;
  readonly kind: 'key' | 'value';
  readonly headDim: number;
  readonly paramWords: Uint32Array;
}

export interface CodecKernels {
  /** WASM exports of build/kvpack.wasm (assembly/codecs/<codec>/), fixed or chosen from the instance. */
  wasm?: WasmCodecKernels | ((codec: KernelCodec) => WasmCodecKernels);
  /** WGSL hooks and files (wgsl/<codec>/) for the tile drivers, fixed or chosen from the instance. */
  wgsl?: WgslCodecKernels;
  /**
   * Codecs whose attention does not fit the tile drivers' per-chunk hooks (CQ: per-query lookup
   * tables in workgroup memory) bring their own AttentionBackend on the same device; the WebGPU
   * backend delegates to it when both streams name the same object. Loaded on demand.
   */
  webgpuAttention?: CustomWebGpuAttention;
}

/**
 * A lazy loader of a codec's own WebGPU attention: `load()` resolves to a factory taking the
 * WebGPU backend's GpuContext and returning an AttentionBackend (ts/backends/). The codec layer
 * names neither type (it imports nothing from backends/); the backend reads it as
 * CustomWebGpuAttention<GpuContext, AttentionBackend>.
 */
export interface CustomWebGpuAttention<Gpu = never, Backend = unknown> {
  load(): Promise<(gpu: Gpu) => Backend>;
}

export interface WasmKeyKernels {
  /** EncodeTile export: (x, out, headDim, head, params) => void. */
  encode: string;
  /** Export returning the function reference of the ScoreKeys tile kernel. */
  score: string;
  /** Optional export returning a PrepareKeys reference, run once per (query, KV head). */
  prepare?: string;
  /** Bytes of scratch the prepare/score pair needs per KV head for `group` query heads. */
  scratchBytes?: (headDim: number, group: number) => number;
  /** See WasmValueKernels.integer. */
  integer?: (headDim: number, group: number) => boolean;
}

export interface WasmValueKernels {
  encode: string;
  /** Export returning the function reference of the AccumulateValues tile kernel. */
  accumulate: string;
  /** Optional export returning a FinishValues reference (only with stateFloats). */
  finish?: string;
  /** f32 of codec-specific value state per query head (0 / absent: accumulate into the output). */
  stateFloats?: (headDim: number) => number;
  /**
   * Whether the kernel takes an integer-domain path at this head_dim and GQA group when the
   * backend runs with integerAttention (absent: never); the backend then reports the `integer`
   * tolerance tier (ATTENTION_TOLERANCE) for such caches. Must say what the WASM kernel does
   * (tests/conformance/wasm-integer.test.ts checks it over a grid of shapes).
   */
  integer?: (headDim: number, group: number) => boolean;
}

export interface WasmCodecKernels {
  key?: WasmKeyKernels;
  value?: WasmValueKernels;
}

/** The WGSL side of a codec (docs/ARCHITECTURE.md "Adding a codec"). Paths are relative to wgsl/. */
export interface WgslCodecKernels {
  /** File defining the attention hooks of tiles.wgsl. */
  attend: string;
  /** `fn(base: u32, t: u32, c8: u32) -> Chunk8` for keys and for values (8 channels of token t). */
  keyChunk: string;
  valueChunk: string;
  /** Optional `fn(lid: u32, kv_head: u32)` run once per workgroup before any chunk (e.g. load a codebook into workgroup memory). */
  keyInit?: string;
  valueInit?: string;
  /** File with entry points `encode_key` and `encode_value`. */
  encode: string;
  /** Value of the BITS / K_BITS / V_BITS override, when the kernels have one. */
  bits?: number;
  /** Codes are base-3 digits, 5 per byte (SKVQ's 1.5-bit values). */
  ternary?: boolean;
  /** The folded drivers (attend/fold.wgsl, attend/fold-subgroup.wgsl) with this codec's fold file. */
  fold?: WgslFold;
  /**
   * Word-load hooks for tiles.wgsl over a vec4 view of the pages (8 codes of a chunk in one
   * word): used when both streams name the same file and have the same bits.
   */
  words?: { file: string; keyChunk: string; valueChunk: string };
}

/**
 * A codec's fold file for the folded drivers (interface: wgsl/attend/fold-common.wgsl). A pair
 * folds when both streams name the same file (the key stream's descriptor gives the shape).
 */
export interface WgslFold {
  file: string;
  /** Workgroup memory of the codec's tables, in bytes. */
  tableBytes: number;
  /** Rows of 32 invocations (FOLD_W) of the subgroup driver with one head / several heads per workgroup. */
  rowsOneHead: number;
  rowsSeveralHeads: number;
  /** fold-subgroup.wgsl loads the next tile before computing the current one (several heads only). */
  prefetch: boolean;
  /** fold_exact_codes' exponent fields in registers (FOLD_EXP_REGISTERS, fold-common.wgsl), with one / several heads per workgroup. */
  expRegisters: { oneHead: boolean; severalHeads: boolean };
  /**
   * Codecs whose chunks may straddle parameter groups (SKVQ's channel groups): the span of one
   * stream's params (the most groups one 8-position chunk meets) and the most the fold file
   * handles; pairs over it run the tile driver.
   */
  span?: { of: (paramWords: Uint32Array, headDim: number) => number; max: number };
  /** Which pairs of streams naming this file it decodes (absent: all). */
  pairs?: (key: WgslCodecKernels, value: WgslCodecKernels) => boolean;
  /** Extra glue constants for the pair (`span`: the pair's span when the codec has one). */
  glue?: (key: WgslCodecKernels, value: WgslCodecKernels, span: number | undefined) => string;
}

/** The usual WGSL layout: wgsl/<folder>/attend.wgsl with <folder>_key_chunk / <folder>_value_chunk, and wgsl/<folder>/encode.wgsl. */
export function standardWgsl(folder: string, extra: Partial<WgslCodecKernels> = {}): WgslCodecKernels {
  return {
    attend: `${folder}/attend.wgsl`,
    keyChunk: `${folder}_key_chunk`,
    valueChunk: `${folder}_value_chunk`,
    encode: `${folder}/encode.wgsl`,
    ...extra,
  };
}

/** The usual WASM exports: one encoder for both streams, score_<base> and accumulate_<base>. */
export function standardWasm(encode: string, base: string): WasmCodecKernels {
  return { key: { encode, score: `score_${base}` }, value: { encode, accumulate: `accumulate_${base}` } };
}
