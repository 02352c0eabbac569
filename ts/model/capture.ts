import type { AttentionBackend } from '../backends/types.js';
import '../codecs/fp32/index.js'; // the capture runs over an fp32 cache, whatever else is registered
import { check } from '../errors.js';
import type { Model } from './config.js';
import { checkBackendLike, ModelRunner } from './forward.js';
import { checkModel } from './config.js';
import { checkOptionalBool, checkOptionalFn, checkOptionalObject, checkTokenIds } from '../util/args.js';
import type { KvCapture, LayerCapture } from './kv-capture.js';
import { kvGradients } from './kv-gradients.js';

export interface CaptureOptions {
  /** Tokens per window (each window restarts at position 0); default and maximum: the model's seq_len. */
  window?: number;
  /**
   * Also record squared gradients of each window's next-token loss w.r.t. every cached key and
   * value (kvGradients): the diagonal Fisher information for CQ's Fisher-guided k-means.
   */
  fisher?: boolean;
  /** Attention backend of the fp32 cache (default the TS reference); WASM SIMD makes long captures several times faster. */
  backend?: AttentionBackend;
  /** Progress callback: tokens done of total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Runs the model with an fp32 cache over `tokens` and records every layer's queries, keys (after
 * RoPE) and values. Sequences longer than the window are cut into consecutive windows, each a
 * fresh sequence starting at position 0, like the evaluation does.
 */
export async function captureKv(model: Model, tokens: readonly number[], opts: CaptureOptions = {}): Promise<KvCapture> {
  checkModel(model);
  checkOptionalObject(opts, 'opts');
  const c = model.config;
  checkTokenIds(tokens, c.vocabSize);
  checkOptionalBool(opts.fisher, 'fisher');
  checkBackendLike(opts.backend, 'backend');
  checkOptionalFn(opts.onProgress, 'onProgress');
  check(opts.window === undefined || Number.isInteger(opts.window), 'BAD_PARAM', `must be an integer, got ${String(opts.window)}`, 'window');
  const window = opts.window ?? c.seqLen;
  check(Number.isInteger(window) && window >= 1 && window <= c.seqLen, 'BAD_PARAM', `must be in [1, seq_len=${c.seqLen}], got ${window}`, 'window');
  check(tokens.length > 0, 'BAD_SHAPE', 'no tokens to capture', 'tokens');
  for (const t of tokens) check(Number.isInteger(t) && t >= 0 && t < c.vocabSize, 'BAD_PARAM', `token ${t} outside [0, ${c.vocabSize})`, 'tokens');
  const n = tokens.length, hd = c.headDim;
  const qRow = c.nHeads * hd, kvRow = c.nKvHeads * hd;
  const layers: LayerCapture[] = Array.from({ length: c.nLayers }, () => ({
    queries: new Float32Array(n * qRow), keys: new Float32Array(n * kvRow), values: new Float32Array(n * kvRow),
    ...(opts.fisher ? { keysFisher: new Float32Array(n * kvRow), valuesFisher: new Float32Array(n * kvRow) } : {}),
  }));
  const positions = new Uint32Array(n);
  let row = 0;
  const runner = new ModelRunner(model, {
    cache: { key: 'fp32', value: 'fp32' },
    ...(opts.backend ? { backend: opts.backend } : {}),
    observe: (l, _seq, _pos, q, k, v) => {
      const L = layers[l]!;
      L.queries.set(q, row * qRow);
      L.keys.set(k, row * kvRow);
      L.values.set(v, row * kvRow);
    },
  });
  for (let start = 0; start < n; start += window) {
    const seq = start / window;
    for (let i = start; i < Math.min(n, start + window); i++) {
      row = i;
      positions[i] = i - start;
      await runner.step([seq], [tokens[i]!]);
      opts.onProgress?.(i + 1, n);
    }
    runner.deleteSequence(seq);
    if (opts.fisher && Math.min(n, start + window) - start >= 2) {
      const g = kvGradients(model, tokens.slice(start, Math.min(n, start + window)));
      g.layers.forEach((gl, l) => {
        const L = layers[l]!;
        L.keysFisher ??= new Float32Array(n * kvRow);
        L.valuesFisher ??= new Float32Array(n * kvRow);
        for (let i = 0; i < gl.keys.length; i++) {
          L.keysFisher[start * kvRow + i] = gl.keys[i]! ** 2;
          L.valuesFisher[start * kvRow + i] = gl.values[i]! ** 2;
        }
      });
    }
  }
  return {
    nLayers: c.nLayers, nTokens: n, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: hd,
    tokens: Uint32Array.from(tokens), positions, layers,
  };
}
