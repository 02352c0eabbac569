/**
 * Importing this module registers every built-in codec (each codec module calls registerCodec
 * at import). Add one import line per codec module here.
 */
export { codecInfo, createCodec, listCodecs, registerCodec } from './registry.js';
export { tileBitsPerElement } from './types.js';
export type { CodecContext, CodecFactory, CodecInfo, StreamCodec, StreamKind } from './types.js';
