/**
 * Importing this module registers every built-in codec (each codec module calls registerCodec
 * at import). Add one import line per codec module here: the only registry line of a codec
 * (its WASM kernels in assembly/codecs/<codec>/ are exported by the generated
 * assembly/codecs/index.ts, in the order of these lines; scripts/gen-assembly-codecs.mjs).
 */
import './fp32/index.js';
import './fp16/index.js';
import './q8_0/index.js';
import './q4_0/index.js';
import './kivi/index.js';
import './cq/index.js';
import './skvq/index.js';
import './qaq/index.js';

export { codecInfo, createCodec, listCodecs, registerCodec } from './registry.js';
export { tileBitsPerElement } from './types.js';
export type { CodecContext, CodecFactory, CodecInfo, StreamCodec, StreamKind } from './types.js';
