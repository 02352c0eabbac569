import type { CodecKernels, KernelCodec, WasmCodecKernels, WgslCodecKernels, WgslFold } from '../kernels.js';
import type { SkvqBits } from './geometry.js';
import { skvqChunkSpan } from './webgpu.js';

/**
 * SKVQ's kernels (assembly/codecs/skvq/kernels.ts, wgsl/skvq/). WASM: the encoder and the tile
 * kernels read levels/groups/permutation from the codec's paramWords, so every bit width shares
 * them. Keys: the query is permuted once per (query, KV head) into scratch (group * d floats; for
 * 2-bit keys in <= 4 groups, split by group with its per-group sums: group * (4d + 64) + 64 bytes,
 * decisions.md#D105; with integerAttention, the i16 query and cut-block corrections, decisions.md#D47: keyIntegerBytes).
 * Values: accumulated in permuted order in a d-float state per query head, scattered back to
 * model order by finish_skvq. WGSL: one set of generic hooks for every bit width (the init hooks
 * record the workgroup's KV head, whose permutation the chunk hooks read), and the folded
 * drivers' file for 2/4-bit keys with 2/4-bit or ternary values whose chunks meet at most 4
 * channel groups.
 */
/**
 * The integer 2-bit key path's scratch (assembly/codecs/skvq/kernels.ts prepareKeys2Int): a header,
 * 16 bytes per 64-position chunk, 12 correction entries of 32 bytes; per head 16 bytes of group
 * sums, 4 of alpha (padded to 4 heads), 128 bytes of i16 query per chunk and 16 per correction entry.
 */
function keyIntegerBytes(d: number, group: number): number {
  const chunks = d >> 6;
  return 16 + chunks * 16 + 12 * 32 + group * 16 + ((group + 3) & ~3) * 4 + group * (chunks * 128 + 12 * 16);
}

const keys: WasmCodecKernels = {
  key: {
    encode: 'encode_skvq', score: 'score_skvq', prepare: 'prepare_skvq',
    scratchBytes: (d, group) => Math.max(group * (4 * d + 64) + 64, keyIntegerBytes(d, group)),
  },
};
const values: WasmCodecKernels = {
  value: { encode: 'encode_skvq', accumulate: 'accumulate_skvq', finish: 'finish_skvq', stateFloats: (d) => d },
};

/** Most channel groups one chunk of 8 positions may meet in wgsl/skvq/fold.wgsl (FOLD_SPAN there). */
export const SKVQ_FOLD_MAX_SPAN = 4;

const SKVQ_FOLD: WgslFold = {
  file: 'skvq/fold.wgsl',
  tableBytes: 4 * 256, // trit_lut
  rowsOneHead: 8,
  rowsSeveralHeads: 16, // decisions.md#D16
  prefetch: false,
  // exponents in registers with several heads only (decisions.md#D17)
  expRegisters: { oneHead: false, severalHeads: true },
  span: { of: skvqChunkSpan, max: SKVQ_FOLD_MAX_SPAN },
  // the fold file decodes 2/4-bit keys (ternary codes are values only)
  pairs: (key) => key.ternary !== true,
  glue: (_key, value, span) => `const FOLD_SPAN: u32 = ${span}u;\nconst FOLD_V_TERNARY: bool = ${value.ternary === true};`,
};

const wgsl: WgslCodecKernels = {
  attend: 'skvq/attend.wgsl',
  keyChunk: 'skvq_key_chunk',
  valueChunk: 'skvq_value_chunk',
  keyInit: 'skvq_key_init',
  valueInit: 'skvq_value_init',
  encode: 'skvq/encode.wgsl',
  fold: SKVQ_FOLD,
};

/**
 * Where the integer-domain kernels run (assembly/codecs/skvq/kernels.ts useIntKeys / useIntValues:
 * 2-bit keys / ternary or 2-bit values, <= 4 channel groups, head_dim a multiple of 64 / 32 up to
 * 256, any query group; decisions.md#D47, #D48, #D171), from the codec's parameter words as the kernel reads them
 * (word 0: levels, word 1: channel groups C).
 */
function integerShapes(codec: KernelCodec, levels: readonly number[], align: number): (headDim: number) => boolean {
  const ok = levels.includes(codec.paramWords[0] ?? 0) && (codec.paramWords[1] ?? 5) <= 4;
  return (d) => ok && d % align === 0 && d <= 256;
}

/** The kernels of SKVQ keys or values at `bits` (1.5: ternary values). */
export function skvqKernels(kind: 'key' | 'value', bits: SkvqBits): CodecKernels {
  return {
    wasm: kind === 'key'
      ? (codec) => ({ key: { ...keys.key!, integer: integerShapes(codec, [4], 64) } })
      : (codec) => ({ value: { ...values.value!, integer: integerShapes(codec, [3, 4], 32) } }),
    wgsl: bits === 1.5 ? { ...wgsl, ternary: true } : { ...wgsl, bits },
  };
}
