import { KvpackError } from '../../errors.js';
import type { StreamCodec } from '../../codecs/types.js';
import type { WgslCodecKernels } from '../../codecs/kernels.js';
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
 * Bits of the word-load hooks (WgslCodecKernels.words, e.g. wgsl/kivi/words.wgsl) for this codec
 * pair, or undefined: both streams name the same words file and have the same bits.
 */
export function wordsBits(key: WgslCodecKernels, value: WgslCodecKernels): number | undefined {
  if (!key.words || !value.words || key.words.file !== value.words.file || key.bits !== value.bits) return undefined;
  return key.bits;
}

/**
 * Attention over packed tiles (wgsl/attend/tiles.wgsl) with `key`'s key hooks and `value`'s
 * value hooks. Pairs with word-load hooks (KIVI-2/4) get them over a vec4 view of the pages (unless
 * `generic`, kept for A/B runs): the one textual substitution here swaps the page declaration of
 * attend/bindings.wgsl, checked below.
 */
export function attendTilesSource(key: WgslCodecKernels, value: WgslCodecKernels,
  opts: { generic?: boolean } = {}): string {
  if (!opts.generic && wordsBits(key, value) !== undefined) {
    const bindings = wgslFile('attend/bindings.wgsl');
    if (!bindings.includes(PAGES_U32)) {
      throw new KvpackError('BACKEND_UNAVAILABLE', `attend/bindings.wgsl no longer declares '${PAGES_U32}'`, 'wgsl');
    }
    const words = key.words!;
    const glue = [
      `fn key_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return ${words.keyChunk}(base, t, c8); }`,
      `fn value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return ${words.valueChunk}(base, t, c8); }`,
      'fn key_init(lid: u32, kv_head: u32) { }',
      'fn value_init(lid: u32, kv_head: u32) { }',
    ].join('\n');
    const vec4Bindings = bindings.replace(PAGES_U32, 'var<storage, read> pages: array<vec4<u32>>;');
    return [
      join(['constants.wgsl', 'common/f16.wgsl']),
      `// ---- wgsl/attend/bindings.wgsl (pages as array<vec4<u32>>)\n${vec4Bindings}`,
      join(['attend/tiles.wgsl', words.file], glue),
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

/**
 * The span of a codec pair whose fold files need one (WgslFold.span: the most parameter groups
 * one 8-position chunk meets, over both streams' params), else undefined.
 */
export function foldSpan(key: WgslCodecKernels, value: WgslCodecKernels, keyCodec: StreamCodec, valueCodec: StreamCodec,
  headDim: number): number | undefined {
  const ks = key.fold?.span, vs = value.fold?.span;
  if (!ks || !vs) return undefined;
  return Math.max(ks.of(keyCodec.paramWords, headDim), vs.of(valueCodec.paramWords, headDim));
}

/**
 * The fold file for a codec pair, or undefined: both streams name the same fold file
 * (WgslCodecKernels.fold: KIVI-2/4, fp16, q8_0/q4_0, SKVQ), and where the file has a span limit
 * (SKVQ's channel groups per chunk) the pair's `span` is known and within it.
 */
export function foldCodec(key: WgslCodecKernels, value: WgslCodecKernels, span?: number): FoldCodec | undefined {
  const f = key.fold;
  if (!f || !value.fold || value.fold.file !== f.file || (f.pairs && !f.pairs(key, value))) return undefined;
  if (f.span && (span === undefined || span > f.span.max)) return undefined;
  return {
    file: f.file, glue: f.glue?.(key, value, span) ?? '', tableBytes: f.tableBytes, rowsOneHead: f.rowsOneHead,
    rowsSeveralHeads: f.rowsSeveralHeads, prefetch: f.prefetch, expRegisters: f.expRegisters,
  };
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
  /** Pairs whose fold file has a span limit (SKVQ): the pair's span (foldSpan). */
  foldSpan?: number;
  /** The caller opted in to integer-domain KIVI keys (GpuAttendOptions.integerAttention). */
  integerAttention?: boolean;
  /** The adapter's WGSL has dot4I8Packed (language feature packed_4x8_integer_dot_product; int-dot.ts). */
  packedDot4?: boolean;
}

/** Which attention kernel runs over the packed tiles (ts/backends/webgpu/attend.ts, bench/gpu). */
export type AttendKernel = 'fold-sg-int' | 'fold-int' | 'fold-sg' | 'fold' | 'words' | 'generic';

export interface AttendKernelChoice {
  /** An AttendKernel, or an outside driver's own name (AttendDriverFn). */
  kernel: string;
  source: string;
  /** Query heads per workgroup: the dispatch's z dimension is ceil(group / headsPerWorkgroup). */
  headsPerWorkgroup: number;
}

/**
 * A WGSL attention driver composed outside the library (GpuAttendOptions.driver; e.g. the bench's
 * matrix kernel, bench/gpu/matrix/driver.ts): its choice for a pair, or undefined where it does
 * not apply (then the library's chooser decides). Same bindings, dispatch and partials as tiles.wgsl.
 */
export type AttendDriverFn = (key: WgslCodecKernels, value: WgslCodecKernels, opts: ChooseAttendOptions) => AttendKernelChoice | undefined;

/**
 * One WGSL attention driver: which requested kernels it may serve ('auto' included) and, for a
 * codec pair on a device, its composed source where it applies and fits the workgroup memory.
 */
interface AttendDriver {
  kernel: AttendKernel;
  serves: readonly (AttendKernel | 'auto')[];
  compose(key: WgslCodecKernels, value: WgslCodecKernels, opts: ChooseAttendOptions): AttendKernelChoice | undefined;
}

/**
 * The kernel chooser: the first row that serves the request and applies wins; a forced kernel
 * that does not apply falls through to the next rows, ending at tiles.wgsl with the codecs'
 * generic hooks. (The matrix kernel on i8 subgroup matrices is a bench experiment:
 * bench/gpu/matrix/, decisions.md#D27.)
 */
const ATTEND_DRIVERS: readonly AttendDriver[] = [
  // opt-in (integerAttention) on adapters with dot4I8Packed: KIVI-2/4 keys by 8-bit integer dots (kivi/fold-int.wgsl)
  { kernel: 'fold-sg-int', serves: ['auto', 'fold-sg', 'fold'], compose: composeFoldInteger },
  { kernel: 'fold-sg', serves: ['auto', 'fold-sg'], compose: composeFoldSubgroup },
  { kernel: 'fold', serves: ['auto', 'fold', 'fold-sg'], compose: composeFold },
  { kernel: 'words', serves: ['auto', 'fold', 'fold-sg', 'words'], compose: (k, v, o) => composeTiles(k, v, o, false) },
  { kernel: 'generic', serves: ['auto', 'fold', 'fold-sg', 'words', 'generic'], compose: (k, v, o) => composeTiles(k, v, o, true) },
];

/**
 * The attention kernel for a codec pair and shape. `auto` (default): a folded kernel where the
 * pair has a fold file and it fits the workgroup memory limit, else tiles.wgsl with the pair's
 * word-load hooks or the codecs' generic hooks (ATTEND_DRIVERS, in order).
 */
export function chooseAttendKernel(key: WgslCodecKernels, value: WgslCodecKernels,
  opts: ChooseAttendOptions): AttendKernelChoice {
  // attendGpu asks on every call: compose each source once (the same string object also keeps
  // the pipeline cache's lookup cheap, pipelines.ts)
  const memoKey = JSON.stringify([key, value, opts]);
  let choice = choices.get(memoKey);
  if (!choice) {
    const want = opts.kernel ?? 'auto';
    for (const driver of ATTEND_DRIVERS) {
      if (!driver.serves.includes(want)) continue;
      choice = driver.compose(key, value, opts);
      if (choice) break;
    }
    choices.set(memoKey, choice!);
  }
  return choice!;
}

const choices = new Map<string, AttendKernelChoice>();

/** The pair's fold file where the head size has folded kernels, heads before the memory limit and rows within maxComputeInvocationsPerWorkgroup. */
function foldSetup(key: WgslCodecKernels, value: WgslCodecKernels, opts: ChooseAttendOptions):
  { fold: FoldCodec; maxHeads: number; maxRows: number } | undefined {
  const fold = FOLD_HEAD_DIMS.includes(opts.headDim) ? foldCodec(key, value, opts.foldSpan) : undefined;
  if (!fold) return undefined;
  return {
    fold,
    maxHeads: Math.min(opts.foldMaxHeads ?? FOLD_MAX_HEADS, FOLD_MAX_HEADS, opts.group),
    maxRows: Math.max(1, Math.floor((opts.maxInvocations ?? 256) / 32)),
  };
}

function foldSources(fold: FoldCodec, driver: string[]): string {
  return join(['common/f16.wgsl', 'attend/bindings.wgsl', 'attend/fold-common.wgsl', fold.file, ...driver]);
}

function foldGlue(fold: FoldCodec, headDim: number, heads: number, rows: number, prefetch: boolean): string {
  return `const FOLD_G: u32 = ${heads}u;\nconst FOLD_LPT: u32 = ${headDim / 8}u;\nconst FOLD_W: u32 = ${rows}u;\nconst FOLD_PREFETCH: bool = ${prefetch};\n` +
    `const FOLD_EXP_REGISTERS: bool = ${heads > 1 ? fold.expRegisters.severalHeads : fold.expRegisters.oneHead};${fold.glue ? `\n${fold.glue}` : ''}`;
}

function composeFoldSubgroup(key: WgslCodecKernels, value: WgslCodecKernels, opts: ChooseAttendOptions): AttendKernelChoice | undefined {
  const setup = foldSetup(key, value, opts);
  if (!setup || opts.subgroupSize !== 32) return undefined;
  const { fold, maxRows } = setup;
  let heads = setup.maxHeads;
  // rows per codec and heads per workgroup from the descriptor (decisions.md#D13, #D19);
  // prefetch (the next tile's words) only ever paid with several heads
  const shape = (h: number): { rows: number; prefetch: boolean } => ({
    rows: opts.foldRows ?? Math.min(maxRows, h === 1 ? fold.rowsOneHead : fold.rowsSeveralHeads), prefetch: opts.foldPrefetch ?? (h > 1 && fold.prefetch),
  });
  const bytes = (h: number): number => foldSgWorkgroupBytes(h, opts.headDim, shape(h).rows, fold.tableBytes);
  while (heads > 1 && bytes(heads) > opts.maxWorkgroupBytes) heads--;
  const { rows, prefetch } = shape(heads);
  if (bytes(heads) > opts.maxWorkgroupBytes) return undefined;
  return { kernel: 'fold-sg', headsPerWorkgroup: heads,
    source: SUBGROUP_PRELUDE + join(['constants.wgsl'], foldGlue(fold, opts.headDim, heads, rows, prefetch)) + '\n' +
      foldSources(fold, ['attend/subgroup-ops.wgsl', 'attend/fold-subgroup.wgsl']) };
}

function composeFold(key: WgslCodecKernels, value: WgslCodecKernels, opts: ChooseAttendOptions): AttendKernelChoice | undefined {
  const setup = foldSetup(key, value, opts);
  if (!setup) return undefined;
  const { fold, maxRows } = setup;
  const rows = opts.foldRows ?? Math.min(FOLD_ROWS, maxRows);
  let heads = setup.maxHeads;
  const bytes = (h: number): number => foldWorkgroupBytes(h, opts.headDim, rows, fold.tableBytes);
  while (heads > 1 && bytes(heads) > opts.maxWorkgroupBytes) heads--;
  if (bytes(heads) > opts.maxWorkgroupBytes) return undefined;
  return { kernel: 'fold', headsPerWorkgroup: heads,
    source: join(['constants.wgsl'], foldGlue(fold, opts.headDim, heads, rows, false)) + '\n' + foldSources(fold, ['attend/fold.wgsl']) };
}

/** Directive of the integer key file's builtins (dot4I8Packed, pack4xI8). */
const PACKED_DOT4_PRELUDE = 'requires packed_4x8_integer_dot_product;\n';

/**
 * The folded drivers with KIVI-2/4 keys scored by dot4I8Packed (kivi/fold-int.wgsl, composed
 * after kivi/fold.wgsl with that file's fold_query / fold_key_batch renamed away), where the
 * caller opted in and the adapter has the language feature: fold-subgroup.wgsl on 32-wide
 * subgroups (unless 'fold' is asked for), else fold.wgsl; shapes and split rule as theirs.
 */
function composeFoldInteger(key: WgslCodecKernels, value: WgslCodecKernels, opts: ChooseAttendOptions): AttendKernelChoice | undefined {
  if (!opts.integerAttention || !opts.packedDot4 || key.fold?.file !== 'kivi/fold.wgsl' || (key.bits !== 2 && key.bits !== 4)) return undefined;
  const sg = opts.subgroupSize === 32 && opts.kernel !== 'fold';
  const float = sg ? composeFoldSubgroup(key, value, opts) : composeFold(key, value, opts);
  if (!float) return undefined;
  const kivi = wgslFile('kivi/fold.wgsl');
  const renamed = kivi.replace('fn fold_query(', 'fn kivi_fold_query_f32(').replace('fn fold_key_batch(', 'fn kivi_fold_key_batch_f32(');
  if (!/fn kivi_fold_query_f32\(/.test(renamed) || !/fn kivi_fold_key_batch_f32\(/.test(renamed)) {
    throw new KvpackError('BACKEND_UNAVAILABLE', 'kivi/fold.wgsl no longer defines fold_query and fold_key_batch', 'wgsl');
  }
  const marker = '// ---- wgsl/kivi/fold.wgsl\n';
  const at = float.source.indexOf(marker);
  if (at < 0) throw new KvpackError('BACKEND_UNAVAILABLE', 'folded KIVI source without kivi/fold.wgsl', 'wgsl');
  const end = at + marker.length + kivi.length;
  const source = PACKED_DOT4_PRELUDE + float.source.slice(0, at) + `// ---- wgsl/kivi/fold.wgsl (fold_query, fold_key_batch renamed)\n${renamed}\n` +
    `// ---- wgsl/kivi/fold-int.wgsl\n${wgslFile('kivi/fold-int.wgsl')}` + float.source.slice(end);
  return { kernel: sg ? 'fold-sg-int' : 'fold-int', headsPerWorkgroup: float.headsPerWorkgroup, source };
}

/** tiles.wgsl: with the pair's word-load hooks (vec4-aligned tiles only), or with the codecs' generic hooks. */
function composeTiles(key: WgslCodecKernels, value: WgslCodecKernels, opts: ChooseAttendOptions,
  generic: boolean): AttendKernelChoice | undefined {
  if (!generic && (!opts.vec4Aligned || wordsBits(key, value) === undefined)) return undefined;
  return { kernel: generic ? 'generic' : 'words', source: attendTilesSource(key, value, { generic }), headsPerWorkgroup: TILES_MAX_HEADS };
}

/** Query heads per workgroup of tiles.wgsl (MAX_G there). */
export const TILES_MAX_HEADS = 8;

/** Attention over the fp32 rows (sinks + tail). */
export function attendRowsSource(): string {
  return (rowsSource ??= join(['constants.wgsl', 'attend/bindings.wgsl', 'attend/tiles.wgsl', 'attend/rows.wgsl']));
}

/** The rotation pass of rotated streams (attend/rotate.wgsl, entry point `rotate`). */
export function rotateSource(): string {
  return (rotateSrc ??= join(['attend/rotate.wgsl']));
}
let rotateSrc: string | undefined;

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
