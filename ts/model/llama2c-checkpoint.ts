import { KvpackError } from '../errors.js';
import type { LayerWeights, Model, ModelConfig } from './config.js';
import { checkBytes } from '../util/args.js';

/** Bytes of the legacy (v0) llama2.c header: 7 little-endian int32. */
export const LLAMA2C_HEADER_BYTES = 28;
/** "ak42" read as a little-endian u32: the magic of llama2.c's later (v1+) exports. */
const LLAMA2C_V1_MAGIC = 0x616b3432;
/** Guards against absurd headers before any size arithmetic (a 7B model has dim 4096). */
const MAX_DIM = 1 << 16;
const MAX_VOCAB = 1 << 20;
const MAX_SEQ = 1 << 20;
const MAX_LAYERS = 1024;

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  sharedClassifier: boolean;
}

function corrupt(message: string, arg = 'checkpoint'): KvpackError {
  return new KvpackError('CORRUPT_DATA', message, arg);
}

/** Reads and validates the 7-int header (llama2.c run.c `Config`); sign of vocab_size = shared classifier. */
export function readLlama2cHeader(bytes: Uint8Array): Llama2cHeader {
  checkBytes(bytes, 'bytes');
  if (bytes.byteLength < LLAMA2C_HEADER_BYTES) {
    throw corrupt(`${bytes.byteLength} bytes, shorter than the ${LLAMA2C_HEADER_BYTES}-byte llama2.c header`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) === LLAMA2C_V1_MAGIC) {
    throw corrupt('llama2.c v1+ export (magic "ak42") is not supported; export with --version 0 (legacy)');
  }
  const f = (i: number): number => dv.getInt32(i * 4, true);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = [f(0), f(1), f(2), f(3), f(4), f(5), f(6)];
  const vocabSize = Math.abs(rawVocab);
  const bad = (field: string, v: number, why: string): never => { throw corrupt(`header ${field}=${v}: ${why}`); };
  if (dim <= 0 || dim > MAX_DIM) bad('dim', dim, `must be in [1, ${MAX_DIM}]`);
  if (hiddenDim <= 0 || hiddenDim > 16 * MAX_DIM) bad('hidden_dim', hiddenDim, 'must be positive and plausible');
  if (nLayers <= 0 || nLayers > MAX_LAYERS) bad('n_layers', nLayers, `must be in [1, ${MAX_LAYERS}]`);
  if (nHeads <= 0 || dim % nHeads !== 0) bad('n_heads', nHeads, `must be positive and divide dim=${dim}`);
  if (nKvHeads <= 0 || nHeads % nKvHeads !== 0) bad('n_kv_heads', nKvHeads, `must be positive and divide n_heads=${nHeads}`);
  if ((dim / nHeads) % 2 !== 0) bad('n_heads', nHeads, `head_dim=${dim / nHeads} must be even for RoPE pairs`);
  if (vocabSize === 0 || vocabSize > MAX_VOCAB) bad('vocab_size', rawVocab, `|vocab_size| must be in [1, ${MAX_VOCAB}]`);
  if (seqLen <= 0 || seqLen > MAX_SEQ) bad('seq_len', seqLen, `must be in [1, ${MAX_SEQ}]`);
  return { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, sharedClassifier: rawVocab > 0 };
}

/** Floats after the header that a legacy checkpoint with this header holds (llama2.c run.c memory_map_weights). */
export function llama2cFloatCount(h: Llama2cHeader): number {
  const headDim = h.dim / h.nHeads;
  const kvDim = h.nKvHeads * headDim;
  const perLayer = 2 * h.dim /* rms_att, rms_ffn */ + h.dim * h.dim * 2 /* wq, wo */ + 2 * kvDim * h.dim /* wk, wv */ +
    3 * h.dim * h.hiddenDim /* w1, w2, w3 */;
  return h.vocabSize * h.dim + h.nLayers * perLayer + h.dim /* rms_final */ +
    h.seqLen * headDim /* two legacy RoPE tables of seq_len*head_dim/2 */ + (h.sharedClassifier ? 0 : h.vocabSize * h.dim);
}

/** Largest |weight| a checkpoint may hold (f16's largest finite value). */
export const MAX_WEIGHT_ABS = 65504;

/**
 * Parses a legacy llama2.c checkpoint (the format of Karpathy's tinyllamas, e.g. stories260K).
 * The file size must equal what the header implies exactly: a shorter file is truncated, a longer
 * one was written with other parameters; both are CORRUPT_DATA, so no read goes past the buffer.
 * Weights are copied into fresh aligned Float32Arrays (the input need not be 4-byte aligned).
 */
export function parseLlama2cCheckpoint(bytes: Uint8Array): Model {
  const h = readLlama2cHeader(bytes);
  const floats = llama2cFloatCount(h);
  const expected = LLAMA2C_HEADER_BYTES + 4 * floats;
  if (bytes.byteLength !== expected) {
    throw corrupt(`file is ${bytes.byteLength} bytes but its header (dim=${h.dim}, hidden_dim=${h.hiddenDim}, ` +
      `n_layers=${h.nLayers}, n_heads=${h.nHeads}, n_kv_heads=${h.nKvHeads}, vocab_size=${h.vocabSize}, ` +
      `seq_len=${h.seqLen}, shared classifier=${h.sharedClassifier}) implies ${expected} bytes` +
      (bytes.byteLength < expected ? ' (truncated)' : ' (trailing bytes)'));
  }
  const all = new Float32Array(floats);
  new Uint8Array(all.buffer).set(bytes.subarray(LLAMA2C_HEADER_BYTES));
  // absurd weights (a fuzzed 3e38 loaded and gave non-finite logits): every trained checkpoint
  // of this format fits f16's range, far inside what the f32 forward pass can multiply and sum
  for (let i = 0; i < all.length; i++) {
    const w = all[i]!;
    if (!Number.isFinite(w)) throw corrupt(`weight float ${i} is ${w}`);
    if (Math.abs(w) > MAX_WEIGHT_ABS) throw corrupt(`weight float ${i} is ${w}, beyond |w| <= ${MAX_WEIGHT_ABS} (no trained model has such weights)`);
  }
  let off = 0;
  const take = (n: number): Float32Array => { const t = all.subarray(off, off + n); off += n; return t; };
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen } = h;
  const headDim = dim / nHeads, qDim = nHeads * headDim, kvDim = nKvHeads * headDim;
  const tokenEmbedding = take(vocabSize * dim);
  // llama2.c stores each weight kind for all layers together: [layers][...].
  const rmsAtt = take(nLayers * dim), wq = take(nLayers * qDim * dim), wk = take(nLayers * kvDim * dim);
  const wv = take(nLayers * kvDim * dim), wo = take(nLayers * dim * qDim), rmsFfn = take(nLayers * dim);
  const w1 = take(nLayers * hiddenDim * dim), w2 = take(nLayers * dim * hiddenDim), w3 = take(nLayers * hiddenDim * dim);
  const rmsFinal = take(dim);
  take(seqLen * headDim); // legacy freq_cis_real/imag tables: run.c recomputes RoPE, so do we
  const classifier = h.sharedClassifier ? tokenEmbedding : take(vocabSize * dim);
  const layer = (l: number): LayerWeights => {
    const sl = (t: Float32Array, n: number): Float32Array => t.subarray(l * n, (l + 1) * n);
    return {
      rmsAtt: sl(rmsAtt, dim), wq: sl(wq, qDim * dim), wk: sl(wk, kvDim * dim), wv: sl(wv, kvDim * dim),
      wo: sl(wo, dim * qDim), rmsFfn: sl(rmsFfn, dim), w1: sl(w1, hiddenDim * dim), w2: sl(w2, dim * hiddenDim),
      w3: sl(w3, hiddenDim * dim),
    };
  };
  const config: ModelConfig = {
    dim, hiddenDim, nLayers, nHeads, nKvHeads, headDim, vocabSize, seqLen,
    ropeTheta: 10000, normEps: 1e-5, sharedClassifier: h.sharedClassifier,
  };
  return {
    config, format: 'llama2c',
    weights: { tokenEmbedding, layers: Array.from({ length: nLayers }, (_, l) => layer(l)), rmsFinal, classifier },
  };
}
