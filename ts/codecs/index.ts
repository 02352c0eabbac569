/**
 * Importing this module registers every built-in codec (each codec module calls registerCodec
 * at import). Add one import line per codec module here.
 */
import './fp32.js';
import './fp16.js';
import './q8_0.js';
import './q4_0.js';
import './kivi.js';
import './cq/index.js';
import './skvq/index.js';
import './qaq/index.js';

export { codecInfo, createCodec, listCodecs, registerCodec } from './registry.js';
export { tileBitsPerElement } from './types.js';
export type { CodecContext, CodecFactory, CodecInfo, StreamCodec, StreamKind } from './types.js';
