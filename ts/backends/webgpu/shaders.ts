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

/** Attention over packed tiles with `key`'s key hooks and `value`'s value hooks. */
export function attendTilesSource(key: WgslCodecKernels, value: WgslCodecKernels): string {
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
