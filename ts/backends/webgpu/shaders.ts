import { KvpackError } from '../../errors.js';
import type { WgslCodecKernels } from './kernels.js';
import { WGSL_SOURCES } from './shaders.generated.js';
import { TILE_TOKENS } from '../../format/constants.js';

/**
 * Assembles WGSL modules from the files in wgsl/ (embedded by scripts/gen-wgsl.mjs). Sources
 * are concatenated, never templated: the only generated text is the glue that binds the
 * generic hook names the attention driver calls to the chosen codecs' functions.
 */

export function wgslFile(path: string): string {
  const src = WGSL_SOURCES[path];
  if (src === undefined) {
    throw new KvpackError('BACKEND_UNAVAILABLE', `WGSL file '${path}' is not embedded; run node scripts/gen-wgsl.mjs`, 'wgsl');
  }
  return src;
}

function join(paths: readonly string[], extra = ''): string {
  const unique = [...new Set(paths)];
  return unique.map((p) => `// ---- wgsl/${p}\n${wgslFile(p)}`).join('\n') + (extra ? `\n// ---- glue\n${extra}` : '');
}

/** The page binding as the generic hooks read it (one u32 per load). */
const PAGES_U32 = 'var<storage, read> pages: array<u32>;';

/**
 * Bits of the KIVI word-load fast path (wgsl/kivi/words.wgsl) for this codec pair, or
 * undefined: both streams KIVI with the same 2 or 4 bits (8 codes of a chunk in one word).
 */
export function kiviWordsBits(key: WgslCodecKernels, value: WgslCodecKernels): number | undefined {
  const kivi = (k: WgslCodecKernels): boolean => k.attend === 'kivi/attend.wgsl';
  if (!kivi(key) || !kivi(value) || key.bits !== value.bits) return undefined;
  return key.bits === 2 || key.bits === 4 ? key.bits : undefined;
}

/**
 * Attention over packed tiles (wgsl/attend/tiles.wgsl) with `key`'s key hooks and `value`'s
 * value hooks. KIVI-2/4 pairs get the word-load hooks over a vec4 view of the pages (unless
 * `generic`, kept for A/B runs): the one textual substitution here swaps the page declaration of
 * attend/bindings.wgsl, checked below.
 */
export function attendTilesSource(key: WgslCodecKernels, value: WgslCodecKernels,
  opts: { generic?: boolean } = {}): string {
  if (!opts.generic && kiviWordsBits(key, value) !== undefined) {
    const bindings = wgslFile('attend/bindings.wgsl');
    if (!bindings.includes(PAGES_U32)) {
      throw new KvpackError('BACKEND_UNAVAILABLE', `attend/bindings.wgsl no longer declares '${PAGES_U32}'`, 'wgsl');
    }
    const glue = [
      'fn key_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return kivi_words_key_chunk(base, t, c8); }',
      'fn value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return kivi_words_value_chunk(base, t, c8); }',
      'fn key_init(lid: u32, kv_head: u32) { }',
      'fn value_init(lid: u32, kv_head: u32) { }',
    ].join('\n');
    const vec4Bindings = bindings.replace(PAGES_U32, 'var<storage, read> pages: array<vec4<u32>>;');
    return [
      join(['constants.wgsl', 'common/f16.wgsl']),
      `// ---- wgsl/attend/bindings.wgsl (pages as array<vec4<u32>>)\n${vec4Bindings}`,
      join(['attend/tiles.wgsl', 'kivi/words.wgsl'], glue),
    ].join('\n');
  }
  const glue = [
    `fn key_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return ${key.keyChunk}(base, t, c8); }`,
    `fn value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return ${value.valueChunk}(base, t, c8); }`,
    `fn key_init(lid: u32, kv_head: u32) {${key.keyInit ? ` ${key.keyInit}(lid, kv_head);` : ''} }`,
    `fn value_init(lid: u32, kv_head: u32) {${value.valueInit ? ` ${value.valueInit}(lid, kv_head);` : ''} }`,
  ].join('\n');
  return join(['constants.wgsl', 'common/f16.wgsl', 'attend/bindings.wgsl', 'attend/tiles.wgsl', 'attend/load.wgsl', key.attend, value.attend], glue);
}

/** Head sizes of the folded kernels (wgsl/attend/fold.wgsl, fold-subgroup.wgsl). */
export const FOLD_HEAD_DIMS: readonly number[] = [64, 128];
/** Query heads one workgroup of the folded kernels computes at most (their per-head state is four sets of variables). */
export const FOLD_MAX_HEADS = 4;
/** Invocation rows of 32 (tiles per round) of fold.wgsl: FOLD_W there, set by the glue. */
export const FOLD_ROWS = 4;
/** Most SKVQ channel groups one chunk of 8 positions may meet in skvq/fold.wgsl (FOLD_SPAN). */
export const SKVQ_FOLD_MAX_SPAN = 4;

/**
 * A codec pair's file for the folded drivers, its glue constants, its workgroup tables and the
 * subgroup kernel's shape with several heads per workgroup (one head: 8 rows, no prefetch).
 */
export interface FoldCodec {
  file: string;
  glue: string;
  tableBytes: number;
  /** Rows of 32 invocations (FOLD_W) of the subgroup kernel with one head / several heads per workgroup. */
  rowsOneHead: number;
  rowsSeveralHeads: number;
  prefetch: boolean;
  /** fold_exact_codes' exponent fields in registers (FOLD_EXP_REGISTERS, fold-common.wgsl), with one / several heads per workgroup. */
  expRegisters: { oneHead: boolean; severalHeads: boolean };
}

/** FoldCodec.expRegisters for every shape / none. */
const BOTH = { oneHead: true, severalHeads: true };
const NEITHER = { oneHead: false, severalHeads: false };

/**
 * The fold file for a codec pair, or undefined: both streams KIVI with 2 or 4 bits each
 * (kivi/fold.wgsl), both fp16 (fp16/fold.wgsl), both q8_0/q4_0 (q-block/fold.wgsl), or both SKVQ with
 * 2/4-bit keys, 2/4-bit or ternary values and chunks that meet at most SKVQ_FOLD_MAX_SPAN groups
 * (`skvqSpan`, from the params: skvqFoldSpan; skvq/fold.wgsl).
 */
export function foldCodec(key: WgslCodecKernels, value: WgslCodecKernels, skvqSpan?: number): FoldCodec | undefined {
  const bits24 = (k: WgslCodecKernels): boolean => k.bits === 2 || k.bits === 4;
  if (key.attend === 'kivi/attend.wgsl' && value.attend === 'kivi/attend.wgsl' && bits24(key) && bits24(value)) {
    // exponents in registers: kivi2 MHA 11%, GQA 5% faster on the H100; several heads: 16 rows
    // without prefetch, 1M GQA 9% faster than 4 rows with it (bench/README.md "SASS")
    // one head: 16 rows, 1M MHA 5-8% faster than 8 (128K within 1%)
    return { file: 'kivi/fold.wgsl', glue: '', tableBytes: 0, rowsOneHead: 16, rowsSeveralHeads: 16, prefetch: false, expRegisters: BOTH };
  }
  if (key.attend === 'fp16/attend.wgsl' && value.attend === 'fp16/attend.wgsl') {
    return { file: 'fp16/fold.wgsl', glue: '', tableBytes: 0, rowsOneHead: 8, rowsSeveralHeads: 4, prefetch: false, expRegisters: NEITHER };
  }
  const blockScaled = (k: WgslCodecKernels): boolean => k.attend === 'q8_0/attend.wgsl' || k.attend === 'q4_0/attend.wgsl';
  if (blockScaled(key) && blockScaled(value)) {
    // exponents in registers: q4_0 MHA 11%, GQA 2% faster on the H100, q8_0 unchanged; 16 rows with
    // several heads: q4_0 GQA 6% (128K) / 14% (1M) faster than 4 (bench/README.md "SASS")
    return { file: 'q-block/fold.wgsl', glue: '', tableBytes: 0, rowsOneHead: 16, rowsSeveralHeads: 16, prefetch: false, expRegisters: BOTH };
  }
  if (key.attend === 'skvq/attend.wgsl' && value.attend === 'skvq/attend.wgsl' && bits24(key)
    && (bits24(value) || value.ternary === true) && skvqSpan !== undefined && skvqSpan <= SKVQ_FOLD_MAX_SPAN) {
    return {
      file: 'skvq/fold.wgsl',
      glue: `const FOLD_SPAN: u32 = ${skvqSpan}u;\nconst FOLD_V_TERNARY: bool = ${value.ternary === true};`,
      tableBytes: 4 * 256, // trit_lut
      rowsOneHead: 8,
      // GQA 32/8 at 128K on the H100: 16 rows 9-21% faster than 4 (bench/README.md)
      rowsSeveralHeads: 16,
      prefetch: false,
      // exponents in registers, g128 on the H100: one head 3.5% slower, four heads 3.7% faster
      expRegisters: { oneHead: false, severalHeads: true },
    };
  }
  return undefined;
}

/** Workgroup memory of fold.wgsl for `heads` heads per workgroup (its q_sh, red, sc, ms, ls) plus a codec's tables, in bytes. */
export function foldWorkgroupBytes(heads: number, headDim: number, rows = FOLD_ROWS, tableBytes = 0): number {
  const lpt = headDim / 8;
  return 4 * (heads * lpt * 8 + rows * heads * 32 * (lpt + 1) + rows * 32 * 4 + 2 * rows * 32) + tableBytes;
}

/** Workgroup memory of fold-subgroup.wgsl (q_sh, ms, ls, acc_sh) plus a codec's tables, in bytes. */
export function foldSgWorkgroupBytes(heads: number, headDim: number, rows = FOLD_ROWS, tableBytes = 0): number {
  return 4 * (heads * headDim + 2 * rows + rows * headDim) + tableBytes;
}

/** Source prelude of fold-subgroup.wgsl: directives must precede every declaration. */
const SUBGROUP_PRELUDE = 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);\n';
/** Source prelude of kivi/matrix.wgsl with subgroup matrices (attend/mx-ops.wgsl). */
const MATRIX_PRELUDE = 'enable subgroups;\nenable chromium_experimental_subgroup_matrix;\ndiagnostic(off, subgroup_uniformity);\n';

/**
 * The matrix kernel's shape for a codec pair (kivi/matrix.wgsl), or undefined where it does
 * not apply: both streams KIVI with 2 or 4 bits, head size 64 or 128, and an
 * i8 product with `n` result columns among `columns` (4 limbs per head: 8 columns take 2
 * heads, 16 take 4).
 */
export function matrixShape(key: WgslCodecKernels, value: WgslCodecKernels, headDim: number, group: number,
  columns: readonly number[]): { heads: number; n: number } | undefined {
  const kivi = (k: WgslCodecKernels): boolean => k.attend === 'kivi/attend.wgsl' && (k.bits === 2 || k.bits === 4);
  if (!kivi(key) || !kivi(value) || (headDim !== 64 && headDim !== 128)) return undefined;
  const heads = Math.min(group, columns.includes(16) ? 4 : 2);
  const n = 4 * heads <= 8 && columns.includes(8) ? 8 : 16;
  return columns.includes(n) ? { heads, n } : undefined;
}

/** Workgroup memory of kivi/matrix.wgsl (queries, codes, limbs, results; + the emulation's reductions), in bytes. */
export function matrixWorkgroupBytes(heads: number, headDim: number, n: number, emulated: boolean): number {
  return 4 * heads * headDim + TILE_TOKENS * headDim + headDim * n + headDim * n + 4 * headDim * n + (emulated ? 512 : 0);
}

export interface ChooseAttendOptions {
  headDim: number;
  group: number;
  maxWorkgroupBytes: number;
  kernel?: AttendKernel | 'auto';
  /** Tile and slot word offsets are multiples of 4 (the word-load hooks read pages as vec4s). */
  vec4Aligned: boolean;
  /** Folded kernels' shape overrides for A/B runs: rows per workgroup, most heads per workgroup, prefetch. */
  foldRows?: number;
  foldMaxHeads?: number;
  foldPrefetch?: boolean;
  /** The adapter's subgroup size when every subgroup has the same (subgroups.ts), else undefined. */
  subgroupSize?: number;
  /** The device's maxComputeInvocationsPerWorkgroup (rows of 32 are capped by it; WebGPU's default 256). */
  maxInvocations?: number;
  /** SKVQ pairs: the most channel groups a chunk of 8 positions meets (skvqFoldSpan). */
  skvqSpan?: number;
  /** Result columns N of the device's i8 x i8 -> i32 subgroup matrices with M 16, K 32 (subgroups.ts int8MatrixColumns). */
  int8MatrixColumns?: readonly number[];
}

/** Which attention kernel runs over the packed tiles (ts/backends/webgpu/attend.ts, bench/gpu). */
export type AttendKernel = 'mx' | 'mx-emulated' | 'fold-sg' | 'fold' | 'words' | 'generic';

export interface AttendKernelChoice {
  kernel: AttendKernel;
  source: string;
  /** Query heads per workgroup: the dispatch's z dimension is ceil(group / headsPerWorkgroup). */
  headsPerWorkgroup: number;
}

/**
 * The attention kernel for a codec pair and shape. `auto` (default): a folded kernel where the
 * pair has a fold file (foldCodec: KIVI-2/4, fp16, q8_0/q4_0, SKVQ) and it fits the workgroup
 * memory limit, else tiles.wgsl with the KIVI word-load hooks or the codecs' generic hooks. A forced kernel that does not apply falls back the same way.
 * `mx` (opt-in): KIVI pairs on i8 subgroup matrices where the device has them and subgroups of 32
 * (kivi/matrix.wgsl); `mx-emulated`: the same kernel with plain-WGSL products, on any adapter (tests).
 */
export function chooseAttendKernel(key: WgslCodecKernels, value: WgslCodecKernels,
  opts: ChooseAttendOptions): AttendKernelChoice {
  // attendGpu asks on every call: compose each source once (the same string object also keeps
  // the pipeline cache's lookup cheap, pipelines.ts)
  const memoKey = JSON.stringify([key, value, opts]);
  let choice = choices.get(memoKey);
  if (!choice) {
    choice = composeAttendKernel(key, value, opts);
    choices.set(memoKey, choice);
  }
  return choice;
}

const choices = new Map<string, AttendKernelChoice>();

function composeAttendKernel(key: WgslCodecKernels, value: WgslCodecKernels,
  opts: ChooseAttendOptions): AttendKernelChoice {
  const want = opts.kernel ?? 'auto';
  // 'mx-emulated' (tests): the matrix kernel with plain-WGSL products, on any adapter
  const emulated = want === 'mx-emulated';
  const mx = matrixShape(key, value, opts.headDim, opts.group, emulated ? [8, 16] : opts.subgroupSize === 32 ? opts.int8MatrixColumns ?? [] : []);
  // never automatic: 6x slower than fold-sg on the H100 (bench/README.md "Matrix kernel")
  if ((want === 'mx' || emulated) && mx) {
    let { heads, n } = mx;
    while (heads > 1 && matrixWorkgroupBytes(heads, opts.headDim, n, emulated) > opts.maxWorkgroupBytes) heads--;
    if (matrixWorkgroupBytes(heads, opts.headDim, n, emulated) <= opts.maxWorkgroupBytes) {
      const glue = `const MX_D: u32 = ${opts.headDim}u;\nconst MX_N: u32 = ${n}u;\nconst MX_G: u32 = ${heads}u;\nconst MX_KB: u32 = ${key.bits}u;\nconst MX_VB: u32 = ${value.bits}u;`;
      return { kernel: emulated ? 'mx-emulated' : 'mx', headsPerWorkgroup: heads,
        source: (emulated ? '' : MATRIX_PRELUDE) + join(['constants.wgsl'], glue) + '\n' +
          join(['attend/bindings.wgsl', 'kivi/matrix.wgsl', emulated ? 'attend/mx-ops-emulated.wgsl' : 'attend/mx-ops.wgsl']) };
    }
  }
  const fold = FOLD_HEAD_DIMS.includes(opts.headDim) ? foldCodec(key, value, opts.skvqSpan) : undefined;
  const foldSources = (driver: string[]): string => join(['common/f16.wgsl', 'attend/bindings.wgsl', 'attend/fold-common.wgsl', fold!.file, ...driver]);
  // heads per workgroup before the memory limit, rows of 32 within maxComputeInvocationsPerWorkgroup
  const maxHeads = Math.min(opts.foldMaxHeads ?? FOLD_MAX_HEADS, FOLD_MAX_HEADS, opts.group);
  const maxRows = Math.max(1, Math.floor((opts.maxInvocations ?? 256) / 32));
  const foldGlue = (heads: number, rows: number, prefetch: boolean): string =>
    `const FOLD_G: u32 = ${heads}u;\nconst FOLD_LPT: u32 = ${opts.headDim / 8}u;\nconst FOLD_W: u32 = ${rows}u;\nconst FOLD_PREFETCH: bool = ${prefetch};\n` +
    `const FOLD_EXP_REGISTERS: bool = ${heads > 1 ? fold!.expRegisters.severalHeads : fold!.expRegisters.oneHead};${fold!.glue ? `\n${fold!.glue}` : ''}`;
  if ((want === 'auto' || want === 'fold-sg' || want === 'mx') && fold && opts.subgroupSize === 32) {
    let heads = maxHeads;
    // measured on the H100 (bench/README.md): rows per codec and heads per workgroup; prefetch
    // (the next tile's words) only ever paid with several heads
    const shape = (h: number): { rows: number; prefetch: boolean } => ({
      rows: opts.foldRows ?? Math.min(maxRows, h === 1 ? fold.rowsOneHead : fold.rowsSeveralHeads), prefetch: opts.foldPrefetch ?? (h > 1 && fold.prefetch),
    });
    const bytes = (h: number): number => foldSgWorkgroupBytes(h, opts.headDim, shape(h).rows, fold.tableBytes);
    while (heads > 1 && bytes(heads) > opts.maxWorkgroupBytes) heads--;
    const { rows, prefetch } = shape(heads);
    if (bytes(heads) <= opts.maxWorkgroupBytes) {
      return { kernel: 'fold-sg', headsPerWorkgroup: heads,
        source: SUBGROUP_PRELUDE + join(['constants.wgsl'], foldGlue(heads, rows, prefetch)) + '\n' + foldSources(['attend/subgroup-ops.wgsl', 'attend/fold-subgroup.wgsl']) };
    }
  }
  if ((want === 'auto' || want === 'fold' || want === 'fold-sg' || want === 'mx') && fold) {
    const rows = opts.foldRows ?? Math.min(FOLD_ROWS, maxRows);
    let heads = maxHeads;
    const bytes = (h: number): number => foldWorkgroupBytes(h, opts.headDim, rows, fold.tableBytes);
    while (heads > 1 && bytes(heads) > opts.maxWorkgroupBytes) heads--;
    if (bytes(heads) <= opts.maxWorkgroupBytes) {
      return { kernel: 'fold', headsPerWorkgroup: heads, source: join(['constants.wgsl'], foldGlue(heads, rows, false)) + '\n' + foldSources(['attend/fold.wgsl']) };
    }
  }
  const generic = want === 'generic' || !opts.vec4Aligned;
  const source = attendTilesSource(key, value, { generic });
  const kernel: AttendKernel = source.includes('(pages as array<vec4<u32>>)') ? 'words' : 'generic';
  return { kernel, source, headsPerWorkgroup: TILES_MAX_HEADS };
}

/** Query heads per workgroup of tiles.wgsl (MAX_G there). */
export const TILES_MAX_HEADS = 8;

/** Attention over the fp32 rows (sinks + tail). */
export function attendRowsSource(): string {
  return (rowsSource ??= join(['constants.wgsl', 'attend/bindings.wgsl', 'attend/tiles.wgsl', 'attend/rows.wgsl']));
}

export function mergeSource(): string {
  return (mergeSrc ??= join(['constants.wgsl', 'attend/merge.wgsl']));
}

// composed once: attendGpu asks for them on every call
let rowsSource: string | undefined;
let mergeSrc: string | undefined;

/** Quantize-on-append for one codec (entry points encode_key / encode_value). */
export function encodeSource(kernels: WgslCodecKernels): string {
  return join(['constants.wgsl', 'common/f16.wgsl', 'common/f32div.wgsl', 'encode/prelude.wgsl', kernels.encode]);
}
