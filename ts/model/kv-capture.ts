import { KvpackError } from '../errors.js';
import { checkBytes } from '../util/args.js';

/**
 * Real activations of a model over some text, for calibrating codecs (SKVQ, CQ, QAQ) and for
 * attention-error studies. Per layer, rows are tokens in capture order:
 * queries [nTokens][nHeads][headDim] and keys [nTokens][nKvHeads][headDim] after RoPE (as cached
 * and as attention sees them), values [nTokens][nKvHeads][headDim].
 * Tokens come in windows that each start at position 0 (`positions` says where each row sits).
 */
export interface KvCapture {
  nLayers: number;
  nTokens: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  tokens: Uint32Array;
  positions: Uint32Array;
  layers: LayerCapture[];
}

export interface LayerCapture {
  queries: Float32Array;
  keys: Float32Array;
  values: Float32Array;
  /**
   * Squared gradients of the window's next-token loss w.r.t. each cached key/value element (the
   * diagonal Fisher information CQ weights its k-means with); present when captured with `fisher`.
   */
  keysFisher?: Float32Array;
  valuesFisher?: Float32Array;
}

/** "KVCP" as bytes 4B 56 43 50, read as a little-endian u32. */
export const KVCAP_MAGIC = 0x5043564b;
export const KVCAP_VERSION = 1;
/** 8 u32: magic, version, nLayers, nTokens, nHeads, nKvHeads, headDim, flags (bit 0: Fisher arrays follow). */
export const KVCAP_HEADER_BYTES = 32;
export const KVCAP_FLAG_FISHER = 1;

/** Bytes of a .kvcap file with these dimensions (see docs/QUALITY.md, "Capture format"). */
export function kvCaptureBytes(nLayers: number, nTokens: number, nHeads: number, nKvHeads: number, headDim: number, fisher = false): number {
  return KVCAP_HEADER_BYTES + 8 * nTokens + 4 * nLayers * nTokens * headDim * (nHeads + (fisher ? 4 : 2) * nKvHeads);
}

/**
 * Layout (all little-endian): header, tokens u32[nTokens], positions u32[nTokens], then per layer
 * queries, keys, values (and with the Fisher flag keysFisher, valuesFisher) as f32 in the shapes
 * of KvCapture.
 */
export function serializeKvCapture(c: KvCapture): Uint8Array {
  checkCaptureShape(c);
  const fisher = c.layers[0]?.keysFisher !== undefined;
  const size = kvCaptureBytes(c.nLayers, c.nTokens, c.nHeads, c.nKvHeads, c.headDim, fisher);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  [KVCAP_MAGIC, KVCAP_VERSION, c.nLayers, c.nTokens, c.nHeads, c.nKvHeads, c.headDim, fisher ? KVCAP_FLAG_FISHER : 0]
    .forEach((v, i) => dv.setUint32(i * 4, v, true));
  let off = KVCAP_HEADER_BYTES;
  const put = (a: Uint32Array | Float32Array): void => {
    for (let i = 0; i < a.length; i++) {
      if (a instanceof Float32Array) dv.setFloat32(off + 4 * i, a[i]!, true);
      else dv.setUint32(off + 4 * i, a[i]!, true);
    }
    off += 4 * a.length;
  };
  put(c.tokens);
  put(c.positions);
  for (const l of c.layers) {
    put(l.queries); put(l.keys); put(l.values);
    if (fisher) { put(l.keysFisher!); put(l.valuesFisher!); }
  }
  return out;
}

export function parseKvCapture(bytes: Uint8Array): KvCapture {
  checkBytes(bytes, 'bytes');
  const bad = (m: string): never => { throw new KvpackError('CORRUPT_DATA', m, 'capture'); };
  if (bytes.byteLength < KVCAP_HEADER_BYTES) bad(`${bytes.byteLength} bytes, shorter than the ${KVCAP_HEADER_BYTES}-byte header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = Array.from({ length: 8 }, (_, i) => dv.getUint32(i * 4, true));
  const [magic, version, nLayers, nTokens, nHeads, nKvHeads, headDim, flags] = h as [number, number, number, number, number, number, number, number];
  if (magic !== KVCAP_MAGIC) bad(`bad magic 0x${magic.toString(16)}: not a .kvcap file`);
  if (version !== KVCAP_VERSION) bad(`version ${version}; this build reads version ${KVCAP_VERSION}`);
  if (nLayers < 1 || nTokens < 1 || nHeads < 1 || nKvHeads < 1 || headDim < 1 || nHeads % nKvHeads !== 0 || headDim > 4096 || nHeads > 4096) {
    bad(`implausible header: layers=${nLayers} tokens=${nTokens} heads=${nHeads} kvHeads=${nKvHeads} headDim=${headDim}`);
  }
  if ((flags & ~KVCAP_FLAG_FISHER) !== 0) bad(`unknown flags 0x${flags.toString(16)}`);
  const fisher = (flags & KVCAP_FLAG_FISHER) !== 0;
  const expected = kvCaptureBytes(nLayers, nTokens, nHeads, nKvHeads, headDim, fisher);
  if (bytes.byteLength !== expected) bad(`${bytes.byteLength} bytes but the header implies ${expected}`);
  let off = KVCAP_HEADER_BYTES;
  const u32 = (n: number): Uint32Array => {
    const a = new Uint32Array(n);
    for (let i = 0; i < n; i++) a[i] = dv.getUint32(off + 4 * i, true);
    off += 4 * n;
    return a;
  };
  const f32 = (n: number, what: string): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const v = dv.getFloat32(off + 4 * i, true);
      if (!Number.isFinite(v)) bad(`${what}: element ${i} is ${v}`);
      a[i] = v;
    }
    off += 4 * n;
    return a;
  };
  const tokens = u32(nTokens), positions = u32(nTokens);
  const layers: LayerCapture[] = [];
  for (let l = 0; l < nLayers; l++) {
    const L: LayerCapture = {
      queries: f32(nTokens * nHeads * headDim, `layer ${l} queries`),
      keys: f32(nTokens * nKvHeads * headDim, `layer ${l} keys`),
      values: f32(nTokens * nKvHeads * headDim, `layer ${l} values`),
    };
    if (fisher) {
      L.keysFisher = f32(nTokens * nKvHeads * headDim, `layer ${l} keysFisher`);
      L.valuesFisher = f32(nTokens * nKvHeads * headDim, `layer ${l} valuesFisher`);
    }
    layers.push(L);
  }
  return { nLayers, nTokens, nHeads, nKvHeads, headDim, tokens, positions, layers };
}

function checkCaptureShape(c: KvCapture): void {
  const bad = (m: string, arg: string): never => { throw new KvpackError('BAD_SHAPE', m, arg); };
  if (c.layers.length !== c.nLayers) bad(`${c.layers.length} layers, header says ${c.nLayers}`, 'layers');
  if (c.tokens.length !== c.nTokens || c.positions.length !== c.nTokens) bad(`tokens/positions length != nTokens=${c.nTokens}`, 'tokens');
  c.layers.forEach((l, i) => {
    if (l.queries.length !== c.nTokens * c.nHeads * c.headDim) bad(`layer ${i} queries length ${l.queries.length}`, 'queries');
    if (l.keys.length !== c.nTokens * c.nKvHeads * c.headDim) bad(`layer ${i} keys length ${l.keys.length}`, 'keys');
    if (l.values.length !== c.nTokens * c.nKvHeads * c.headDim) bad(`layer ${i} values length ${l.values.length}`, 'values');
    const want = c.layers[0]?.keysFisher !== undefined;
    for (const f of [l.keysFisher, l.valuesFisher]) {
      if ((f !== undefined) !== want || (f && f.length !== l.keys.length)) bad(`layer ${i}: Fisher arrays must be on every layer, keys' length`, 'fisher');
    }
  });
}
