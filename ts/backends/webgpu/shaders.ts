import { KvpackError } from '../../errors.js';
import type { WgslCodecKernels } from './kernels.js';
import { WGSL_SOURCES } from './shaders.generated.js';

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
 * Bits of the KIVI word-load fast path (wgsl/attend/kivi-words.wgsl) for this codec pair, or
 * undefined: both streams KIVI with the same 2 or 4 bits (8 codes of a chunk in one word).
 */
export function kiviWordsBits(key: WgslCodecKernels, value: WgslCodecKernels): number | undefined {
  const kivi = (k: WgslCodecKernels): boolean => k.attend === 'kivi/attend.wgsl';
  if (!kivi(key) || !kivi(value) || key.bits !== value.bits) return undefined;
  return key.bits === 2 || key.bits === 4 ? key.bits : undefined;
}

/**
 * Attention over packed tiles with `key`'s key hooks and `value`'s value hooks. KIVI-2/4 pairs
 * get the word-load hooks over a vec4 view of the pages (unless `generic`, kept for A/B runs), or
 * with `kiviTileLoop` and `headDim` 64 or 128 the dedicated tile loop of wgsl/attend/kivi-fast.wgsl:
 * the one textual substitution here swaps the driver's page declaration, checked below.
 */
/**
 * Head sizes of the dedicated KIVI tile loop (wgsl/attend/kivi-fast.wgsl: acc in registers).
 * Opt-in only (`kiviTileLoop`): 1.4-4.1x slower than the word-load hooks on the H100
 * (bench/README.md, "Dedicated KIVI tile loop").
 */
export const KIVI_FAST_HEAD_DIMS: readonly number[] = [64, 128];

export function attendTilesSource(key: WgslCodecKernels, value: WgslCodecKernels,
  opts: { generic?: boolean; kiviTileLoop?: boolean; headDim?: number } = {}): string {
  // the dedicated KIVI kernel: same entry point, bindings, dispatch and partials as tiles.wgsl
  if (!opts.generic && opts.kiviTileLoop && kiviWordsBits(key, value) !== undefined
    && opts.headDim !== undefined && KIVI_FAST_HEAD_DIMS.includes(opts.headDim)) {
    return join(['constants.wgsl', 'common/f16.wgsl', 'attend/kivi-fast.wgsl', 'attend/kivi-words.wgsl']);
  }
  if (!opts.generic && kiviWordsBits(key, value) !== undefined) {
    const driver = wgslFile('attend/tiles.wgsl');
    if (!driver.includes(PAGES_U32)) {
      throw new KvpackError('BACKEND_UNAVAILABLE', `attend/tiles.wgsl no longer declares '${PAGES_U32}'`, 'wgsl');
    }
    const glue = [
      'fn key_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return kivi_words_key_chunk(base, t, c8); }',
      'fn value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return kivi_words_value_chunk(base, t, c8); }',
      'fn key_init(lid: u32, kv_head: u32) { }',
      'fn value_init(lid: u32, kv_head: u32) { }',
    ].join('\n');
    const vec4Driver = driver.replace(PAGES_U32, 'var<storage, read> pages: array<vec4<u32>>;');
    return [
      join(['constants.wgsl', 'common/f16.wgsl']),
      `// ---- wgsl/attend/tiles.wgsl (pages as array<vec4<u32>>)\n${vec4Driver}`,
      join(['attend/kivi-words.wgsl'], glue),
    ].join('\n');
  }
  const glue = [
    `fn key_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return ${key.keyChunk}(base, t, c8); }`,
    `fn value_chunk(base: u32, t: u32, c8: u32) -> Chunk8 { return ${value.valueChunk}(base, t, c8); }`,
    `fn key_init(lid: u32, kv_head: u32) {${key.keyInit ? ` ${key.keyInit}(lid, kv_head);` : ''} }`,
    `fn value_init(lid: u32, kv_head: u32) {${value.valueInit ? ` ${value.valueInit}(lid, kv_head);` : ''} }`,
  ].join('\n');
  return join(['constants.wgsl', 'common/f16.wgsl', 'attend/tiles.wgsl', 'attend/load.wgsl', key.attend, value.attend], glue);
}

/** Attention over the fp32 rows (sinks + tail). */
export function attendRowsSource(): string {
  return join(['constants.wgsl', 'attend/tiles.wgsl', 'attend/rows.wgsl']);
}

export function mergeSource(): string {
  return join(['constants.wgsl', 'attend/merge.wgsl']);
}

/** Quantize-on-append for one codec (entry points encode_key / encode_value). */
export function encodeSource(kernels: WgslCodecKernels): string {
  return join(['constants.wgsl', 'common/f16.wgsl', 'common/f32div.wgsl', 'encode/prelude.wgsl', kernels.encode]);
}
