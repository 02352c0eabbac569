import type { AttentionBackend } from '../backends/types.js';
import { codecInfo } from '../codecs/registry.js';
import { check, KvpackError } from '../errors.js';
import type { LayerCalibrator } from './calibrate-from-capture.js';
import { pairingLayerSpec, type CodecPairing } from './codec-pairing.js';
import type { Model } from './config.js';
import { ModelRunner, type LayerCacheSpec, type ModelCacheStats } from './forward.js';
import { logProb } from './math.js';
import { defaultWindowEngine, type WindowEngine } from './window-engine.js';
import { windowNll } from './window-forward.js';
import { PackedKvCache } from '../cache/kv-cache.js';

export interface PerplexityOptions {
  /** Context length: tokens per window (windows are non-overlapping). */
  ctx: number;
  /** Evaluate at most this many windows (default all full windows). */
  maxWindows?: number;
  /** Windows advanced together as sequences of one cache (one backend call per layer and step). */
  batch?: number;
  backend?: AttentionBackend;
  /** Needed when a codec of the pairing needs calibration. */
  calibrator?: LayerCalibrator;
  onProgress?: (predicted: number, total: number) => void;
  /**
   * 'window': each window in one pass (windowNll, window-forward.ts): same numbers as decoding
   * step by step, many times faster, attention in TS whatever `backend` says (its encoders still
   * pack the tiles). 'step': one token at a time through `backend`. 'auto' (default): 'step'
   * when `backend` is given or a layer cache attends itself (QAQ), else 'window'.
   */
  mode?: 'auto' | 'window' | 'step';
  /** Arrays and matrix products of mode 'window' (default: WASM SIMD where available, else TS). */
  engine?: WindowEngine;
}

export interface PerplexityResult {
  label: string;
  key: string;
  value: string;
  /** fp32 recent tokens as configured; null = the cache's default. */
  window: number | null;
  sinks: number;
  ctx: number;
  windows: number;
  /** Predictions scored: windows x (ctx - 1). */
  predicted: number;
  /** Mean negative log-likelihood (nats) and its exp. */
  nll: number;
  perplexity: number;
  /**
   * Cache of one full window (all layers): effectiveBits counts packed tiles with their metadata,
   * fp regions at 16 bits and calibration parameters charged to this one window;
   * bitsWithoutParams leaves the parameters out (as papers do for shared codebooks).
   */
  cache: ModelCacheStats & { bitsWithoutParams: number };
  /** fp16 bits / effective bits (the papers' compression ratio), and vs fp32. */
  compressionVsFp16: number;
  compressionVsFp32: number;
  seconds: number;
  /** Tokens through the whole model (prefill-free decode steps) per second, this backend. */
  tokensPerSecond: number;
  backend: string;
  /** How the windows were evaluated (PerplexityOptions.mode, 'auto' resolved). */
  mode: 'window' | 'step';
}

/**
 * Perplexity as the KV-cache papers measure it: the token stream is cut into non-overlapping
 * windows of `ctx` tokens (a partial last window is dropped); in each window every token is fed
 * one at a time at positions 0..ctx-1, each attending over the cache of the preceding tokens as
 * the codec stores them, and the log-probability of the next token is scored (ctx - 1
 * predictions per window).
 */
export async function evaluatePerplexity(model: Model, tokens: readonly number[], pairing: CodecPairing,
  opts: PerplexityOptions): Promise<PerplexityResult> {
  const c = model.config;
  const { ctx } = opts;
  check(Number.isInteger(ctx) && ctx >= 2 && ctx <= c.seqLen, 'BAD_PARAM', `must be in [2, seq_len=${c.seqLen}], got ${ctx}`, 'ctx');
  const batch = opts.batch ?? 4;
  check(Number.isInteger(batch) && batch >= 1, 'BAD_PARAM', `must be a positive integer, got ${batch}`, 'batch');
  let windows = Math.floor(tokens.length / ctx);
  if (opts.maxWindows !== undefined) windows = Math.min(windows, opts.maxWindows);
  check(windows >= 1, 'BAD_PARAM', `${tokens.length} tokens hold no full window of ctx=${ctx}`, 'tokens');
  for (const [name, kind] of [[pairing.key, 'key'], [pairing.value, 'value']] as const) {
    if (codecInfo(name).needsCalibration && !opts.calibrator) {
      throw new KvpackError('BAD_CALIBRATION', `codec '${name}' (${kind}s) needs calibration: pass a capture of the calibration split`, 'calibrator');
    }
  }
  const spec = (layer: number): LayerCacheSpec => pairingLayerSpec(pairing, c, layer, opts.calibrator);
  // Calibrate (and build every codec) before timing, so tokens/s measures decoding only.
  const runner = new ModelRunner(model, { cache: spec, ...(opts.backend ? { backend: opts.backend } : {}) });
  const total = windows * (ctx - 1);
  let nll = 0, predicted = 0, cache: PerplexityResult['cache'] | undefined;
  const t0 = performance.now();
  const V = c.vocabSize;
  const tiled = runner.caches.every((l) => l instanceof PackedKvCache);
  const requested = opts.mode ?? 'auto';
  check(['auto', 'window', 'step'].includes(requested), 'BAD_PARAM', `must be auto, window or step, got ${String(requested)}`, 'mode');
  if (requested === 'window' && !tiled) {
    throw new KvpackError('BAD_PARAM', `'${pairing.label}' builds caches that attend themselves (QAQ): use mode 'step'`, 'mode');
  }
  // auto: a backend passed explicitly is measured (step); otherwise the fast path where it applies
  const mode = requested === 'step' || !tiled || (requested === 'auto' && opts.backend) ? 'step' : 'window';
  const engine = mode === 'window' ? opts.engine ?? await defaultWindowEngine() : undefined;
  for (let w0 = 0; mode === 'window' && w0 < windows; w0++) {
    const r = windowNll(runner, w0, tokens.slice(w0 * ctx, (w0 + 1) * ctx), engine);
    nll += r.nll;
    predicted += r.predicted;
    opts.onProgress?.(predicted, total);
    if (!cache) cache = perWindow(runner.stats(), 1);
    runner.deleteSequence(w0);
  }
  for (let w0 = 0; mode === 'step' && w0 < windows; w0 += batch) {
    const seqs = Array.from({ length: Math.min(batch, windows - w0) }, (_, i) => w0 + i);
    for (let p = 0; p < ctx; p++) {
      const logits = await runner.step(seqs, seqs.map((s) => tokens[s * ctx + p]!));
      if (p + 1 < ctx) {
        seqs.forEach((s, i) => { nll -= logProb(logits.subarray(i * V, (i + 1) * V), tokens[s * ctx + p + 1]!); });
        predicted += seqs.length;
        opts.onProgress?.(predicted, total);
      }
    }
    if (!cache) cache = perWindow(runner.stats(), seqs.length);
    for (const s of seqs) runner.deleteSequence(s);
  }
  const seconds = (performance.now() - t0) / 1000;
  const bits = cache!.effectiveBits;
  return {
    label: pairing.label, key: pairing.key, value: pairing.value, window: pairing.window ?? null, sinks: pairing.sinks,
    ctx, windows, predicted, nll: nll / predicted, perplexity: Math.exp(nll / predicted), cache: cache!,
    compressionVsFp16: 16 / bits, compressionVsFp32: 32 / bits,
    seconds, tokensPerSecond: (windows * ctx) / seconds, backend: engine ? `window/${engine.name}` : runner.backend.name, mode,
  };
}

/**
 * One window's share of a cache holding `n` equally long windows. Packed and fp bytes scale with
 * n; calibration parameters (codebooks, permutations) do not, so they are charged in full to the
 * one window: the conservative figure for a single sequence of length ctx.
 */
function perWindow(s: ModelCacheStats, n: number): ModelCacheStats & { bitsWithoutParams: number } {
  const paramBits = s.paramBytes * 8;
  const bitsWithoutParams = (s.effectiveBits * s.elements - paramBits) / s.elements;
  const storedWithoutParams = (s.effectiveBitsStored * s.elements - paramBits) / s.elements;
  const elements = s.elements / n;
  return {
    tokens: s.tokens / n, fpTokens: s.fpTokens / n, packedBytes: s.packedBytes / n, paramBytes: s.paramBytes, elements,
    effectiveBits: bitsWithoutParams + paramBits / elements,
    effectiveBitsStored: storedWithoutParams + paramBits / elements,
    fp32Bytes: s.fp32Bytes / n, fp16Bytes: s.fp16Bytes / n, bitsWithoutParams,
  };
}
