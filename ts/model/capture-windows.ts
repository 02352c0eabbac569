import '../codecs/fp32/index.js';
import { check } from '../errors.js';
import type { Model } from './config.js';
import { ModelRunner } from './forward.js';
import type { KvCapture, LayerCapture } from './kv-capture.js';
import { defaultWindowEngine, type WindowEngine } from './window-engine.js';
import { windowNll } from './window-forward.js';

/**
 * captureKv (capture.ts) without Fisher weights, a whole window per pass (window-forward.ts), in
 * a fraction of the time: layer 0 bit for bit, later layers up to the attention's rounding (its
 * sums run in another order). Consecutive windows of `window` tokens each start
 * at position 0; a shorter last window is captured too.
 */
export async function captureKvWindows(model: Model, tokens: readonly number[],
  opts: { window?: number; engine?: WindowEngine; onProgress?: (done: number, total: number) => void } = {}): Promise<KvCapture> {
  const c = model.config;
  const window = opts.window ?? c.seqLen;
  check(Number.isInteger(window) && window >= 2 && window <= c.seqLen, 'BAD_PARAM', `must be in [2, seq_len=${c.seqLen}], got ${window}`, 'window');
  check(tokens.length >= 2, 'BAD_SHAPE', 'needs at least 2 tokens', 'tokens');
  const engine = opts.engine ?? await defaultWindowEngine();
  const n = tokens.length, qRow = c.nHeads * c.headDim, kvRow = c.nKvHeads * c.headDim;
  const layers: LayerCapture[] = Array.from({ length: c.nLayers }, () => ({
    queries: new Float32Array(n * qRow), keys: new Float32Array(n * kvRow), values: new Float32Array(n * kvRow),
  }));
  const positions = new Uint32Array(n);
  const runner = new ModelRunner(model, { cache: { key: 'fp32', value: 'fp32' } });
  for (let start = 0; start < n; start += window) {
    const end = Math.min(n, start + window);
    if (end - start < 2) break; // a 1-token tail: too short for a window pass, left out
    for (let i = start; i < end; i++) positions[i] = i - start;
    windowNll(runner, 0, tokens.slice(start, end), engine, (l, q, k, v) => {
      const L = layers[l]!, T = end - start;
      L.queries.set(q.subarray(0, T * qRow), start * qRow);
      L.keys.set(k.subarray(0, T * kvRow), start * kvRow);
      L.values.set(v.subarray(0, T * kvRow), start * kvRow);
    });
    runner.deleteSequence(0);
    opts.onProgress?.(end, n);
  }
  const kept = n - (n % window === 1 ? 1 : 0);
  return {
    nLayers: c.nLayers, nTokens: kept, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim,
    tokens: Uint32Array.from(tokens.slice(0, kept)), positions: positions.subarray(0, kept),
    layers: layers.map((L) => ({ queries: L.queries.subarray(0, kept * qRow), keys: L.keys.subarray(0, kept * kvRow), values: L.values.subarray(0, kept * kvRow) })),
  };
}
