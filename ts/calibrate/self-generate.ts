import type { AttentionBackend } from '../backends/types.js';
import '../codecs/fp32/index.js'; // generation runs over an fp32 cache, whatever else is registered
import { check } from '../errors.js';
import type { Model } from '../model/config.js';
import { ModelRunner } from '../model/forward.js';
import type { KvCapture, LayerCapture } from '../model/kv-capture.js';
import { kvGradients } from '../model/kv-gradients.js';
import { sampleToken, XorShiftRng } from '../model/sampler.js';
import { BOS, EOS } from '../model/tokenizer.js';

/**
 * Data-free calibration text: stories sampled from the model itself. The calibration split of
 * the shared text is 4 lines (3,603 tokens), too few for k-means with 256 centroids per
 * (layer, stream, head, group); sampling the model's own distribution gives any amount of
 * in-distribution text without touching the evaluation lines (the practice of data-free
 * quantization, e.g. LLM-QAT, Liu et al. 2023, Sec. 2.1: "generate data from the pretrained
 * model", there with a hybrid greedy/sampled scheme; here plain sampling at temperature 1,
 * which draws from exactly the distribution the model learned).
 *
 * Text comes as windows laid out like the evaluation's: each window starts at position 0 with
 * BOS and holds consecutive stories, a sampled BOS/EOS ending one story and BOS starting the next
 * (llama2.c's pretokenized TinyStories put BOS before every story, nothing after it). So the
 * captured keys cover every position 0..window-1 the evaluation's keys do, RoPE included.
 */
export interface SelfGenerateOptions {
  /** Tokens to produce in total (the last window is cut here). */
  tokens: number;
  /** Tokens per window (each from position 0); default and maximum the model's seq_len. */
  window?: number;
  /** Softmax temperature; default 1 (the model's own distribution). 0 = greedy. */
  temperature?: number;
  /** llama2.c xorshift seed (positive integer); default 42. */
  seed?: number;
  /** Windows decoded together (one backend call per layer and step); default 8. */
  batch?: number;
  /** Attention backend of the fp32 cache; default the TS reference. */
  backend?: AttentionBackend;
  /** Per layer and window, the step's query/key/value (ModelRunner's observe: arrays are reused, copy them). */
  observe?: (layer: number, window: number, pos: number, q: Float32Array, k: Float32Array, v: Float32Array) => void;
  onProgress?: (done: number, total: number) => void;
}

export interface SelfGeneratedText {
  /** Windows concatenated: window w holds tokens[w * window, (w + 1) * window). */
  tokens: number[];
  window: number;
  /** Stories begun (BOS tokens in the stream). */
  stories: number;
}

/**
 * Samples `tokens` tokens from `model` as windows of consecutive stories (see above). Windows
 * advance `batch` at a time; draws come from one generator in a fixed order (window by window
 * within a step), so a seed and a batch size always give the same tokens.
 */
export async function selfGenerateTokens(model: Model, opts: SelfGenerateOptions): Promise<SelfGeneratedText> {
  const { tokens: total } = opts;
  check(Number.isInteger(total) && total >= 1, 'BAD_PARAM', `must be a positive integer, got ${total}`, 'tokens');
  const temperature = opts.temperature ?? 1;
  check(Number.isFinite(temperature) && temperature >= 0, 'BAD_PARAM', `must be >= 0, got ${temperature}`, 'temperature');
  const batch = opts.batch ?? 8;
  check(Number.isInteger(batch) && batch >= 1, 'BAD_PARAM', `must be a positive integer, got ${batch}`, 'batch');
  const { seqLen, vocabSize: V } = model.config;
  const window = opts.window ?? seqLen;
  check(Number.isInteger(window) && window >= 1 && window <= seqLen, 'BAD_PARAM', `must be in [1, seq_len=${seqLen}], got ${window}`, 'window');
  const rng = new XorShiftRng(opts.seed ?? 42); // validates the seed
  const runner = new ModelRunner(model, {
    cache: { key: 'fp32', value: 'fp32' },
    ...(opts.backend ? { backend: opts.backend } : {}),
    ...(opts.observe ? { observe: opts.observe } : {}),
  });
  const out = new Array<number>(total);
  const nWindows = Math.ceil(total / window);
  let done = 0;
  for (let w0 = 0; w0 < nWindows; w0 += batch) {
    const seqs = Array.from({ length: Math.min(batch, nWindows - w0) }, (_, i) => w0 + i);
    const len = (w: number): number => Math.min(window, total - w * window);
    for (const w of seqs) out[w * window] = BOS;
    for (let p = 0; p + 1 < window; p++) {
      const live = seqs.filter((w) => p + 1 < len(w)); // the cut last window stops early
      if (live.length === 0) break;
      const logits = await runner.step(live, live.map((w) => out[w * window + p]!));
      live.forEach((w, b) => {
        const t = sampleToken(logits.subarray(b * V, (b + 1) * V), temperature, rng);
        out[w * window + p + 1] = t === EOS ? BOS : t; // a story's end: the next one starts with BOS
      });
      done += live.length;
      opts.onProgress?.(done, total);
    }
    // The last token of each window was sampled but not fed: feed it so observers see every row.
    const last = seqs.filter((w) => len(w) >= 1);
    await runner.step(last, last.map((w) => out[w * window + len(w) - 1]!));
    done += last.length;
    opts.onProgress?.(Math.min(done, total), total);
    for (const w of seqs) runner.deleteSequence(w);
  }
  return { tokens: out, window, stories: out.filter((t) => t === BOS).length };
}

/**
 * A KvCapture of self-generated windows (queries, keys after RoPE, values: what captureKv records
 * over text), recorded while the text is sampled, so the model runs over it once and batched.
 * With `fisher`, squared gradients of each window's NLL w.r.t. its cached keys/values
 * (kvGradients), as captureKv({ fisher }) records them.
 */
export async function selfGenerateCapture(model: Model, opts: Omit<SelfGenerateOptions, 'observe'> & { fisher?: boolean },
): Promise<{ capture: KvCapture; text: SelfGeneratedText }> {
  const c = model.config, hd = c.headDim;
  check(Number.isInteger(opts.tokens) && opts.tokens >= 1, 'BAD_PARAM', `must be a positive integer, got ${opts.tokens}`, 'tokens');
  const n = opts.tokens, window = opts.window ?? c.seqLen;
  const qRow = c.nHeads * hd, kvRow = c.nKvHeads * hd;
  const layers: LayerCapture[] = Array.from({ length: c.nLayers }, () => ({
    queries: new Float32Array(n * qRow), keys: new Float32Array(n * kvRow), values: new Float32Array(n * kvRow),
  }));
  const text = await selfGenerateTokens(model, {
    ...opts,
    observe: (l, w, pos, q, k, v) => {
      const row = w * window + pos, L = layers[l]!;
      L.queries.set(q, row * qRow);
      L.keys.set(k, row * kvRow);
      L.values.set(v, row * kvRow);
    },
  });
  const positions = new Uint32Array(n);
  for (let i = 0; i < n; i++) positions[i] = i % window;
  if (opts.fisher) {
    for (const L of layers) { L.keysFisher = new Float32Array(n * kvRow); L.valuesFisher = new Float32Array(n * kvRow); }
    for (let start = 0; start < n; start += window) {
      const end = Math.min(n, start + window);
      if (end - start < 2) continue; // one token predicts nothing: its weights stay 0
      kvGradients(model, text.tokens.slice(start, end)).layers.forEach((g, l) => {
        const L = layers[l]!;
        for (let i = 0; i < g.keys.length; i++) {
          L.keysFisher![start * kvRow + i] = g.keys[i]! ** 2;
          L.valuesFisher![start * kvRow + i] = g.values[i]! ** 2;
        }
      });
    }
  }
  return {
    capture: { nLayers: c.nLayers, nTokens: n, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: hd, tokens: Uint32Array.from(text.tokens), positions, layers },
    text,
  };
}
