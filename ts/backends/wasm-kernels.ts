import '../codecs/index.js';
import { codecKernels } from '../codecs/registry.js';
import type { StreamCodec } from '../codecs/types.js';
import type { WasmKeyKernels, WasmValueKernels } from '../codecs/kernels.js';

export type { WasmCodecKernels, WasmKeyKernels, WasmValueKernels } from '../codecs/kernels.js';

/**
 * The WASM kernels of one stream of a codec instance (its CodecInfo.kernels.wasm, exports of
 * build/kvpack.wasm), or undefined when WASM has none.
 */
export function wasmKernelsFor(codec: StreamCodec): WasmKeyKernels | WasmValueKernels | undefined {
  const entry = codecKernels(codec)?.wasm;
  if (!entry) return undefined;
  const k = typeof entry === 'function' ? entry(codec) : entry;
  return codec.kind === 'key' ? k.key : k.value;
}
