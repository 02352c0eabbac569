import { TsBackend } from '../backends/ts-backend.js';
import { encodersOf, type AttentionBackend } from '../backends/types.js';
import { PackedKvCache, type CacheOptions, type CacheStats } from '../cache/kv-cache.js';
import type { SelfAttendingCache } from '../cache/kv-cache-like.js';
import { codecInfo } from '../codecs/registry.js';
import { check, KvpackError } from '../errors.js';
import type { Model } from './config.js';
import { applyRope, matVec, rmsNorm, ropeAngles } from './math.js';
import { checkModel } from './config.js';
import { checkArray, checkObject, checkOptionalBool, checkOptionalFn, checkSeqId, checkSeqIds, checkTokenIds, typeName } from '../util/args.js';

/** Cache settings of one layer (shape comes from the model). */
export type LayerCacheSpec = Omit<CacheOptions, 'nKvHeads' | 'headDim'>;

/** A layer cache: tiles read by an AttentionBackend, or a cache that attends itself (QAQ). */
export type LayerCache = PackedKvCache | SelfAttendingCache;

function selfAttending(c: LayerCache): c is SelfAttendingCache {
  return !(c instanceof PackedKvCache);
}

/**
 * Builds one layer's cache: a PackedKvCache, unless the codec registers `createCache` (codecs
 * with per-token sizes, e.g. QAQ), which then codes both streams and computes its own attention.
 */
export function createLayerCache(spec: LayerCacheSpec, nKvHeads: number, headDim: number): LayerCache {
  const named = (c: LayerCacheSpec['key']): string | undefined => (typeof c === 'string' ? c : undefined);
  const k = named(spec.key), v = named(spec.value);
  const kInfo = k !== undefined ? codecInfo(k) : undefined, vInfo = v !== undefined ? codecInfo(v) : undefined;
  if (kInfo?.createCache || vInfo?.createCache) {
    if (k !== v) {
      throw new KvpackError('BAD_PARAM', `codec '${kInfo?.createCache ? k : v}' builds its own cache for both streams; ` +
        `use it for keys and values (got ${k ?? 'instance'}:${v ?? 'instance'})`, 'codec');
    }
    check(!spec.sinks, 'BAD_PARAM', `codec '${k}' builds its own cache, which has no sinks`, 'sinks');
    return kInfo!.createCache!({
      nKvHeads, headDim, ...(spec.window !== undefined ? { window: spec.window } : {}),
      ...(spec.keyOptions ? { options: spec.keyOptions } : {}),
      ...(spec.calibration?.key !== undefined ? { calibration: spec.calibration.key } : {}),
    });
  }
  return new PackedKvCache({ ...spec, nKvHeads, headDim });
}

/** undefined, or an AttentionBackend (an object with attend()). */
export function checkBackendLike(b: unknown, arg: string): void {
  check(b === undefined || (b !== null && typeof b === 'object' && typeof (b as { attend?: unknown }).attend === 'function'), 'BAD_PARAM',
    `must be an AttentionBackend, got ${typeName(b)}`, arg);
}

export interface RunnerOptions {
  /** Cache codecs/window/sinks, the same for every layer or per layer (calibrated codecs differ by layer). */
  cache: LayerCacheSpec | ((layer: number) => LayerCacheSpec);
  /** Or the layer caches themselves, one per layer (e.g. restored with deserializeCaches); `cache` is then unused. */
  caches?: readonly LayerCache[];
  /** Attention over PackedKvCache layers; default the TS reference. Self-attending caches (QAQ) ignore it. */
  backend?: AttentionBackend;
  /**
   * Called per layer and sequence with that step's query (after RoPE), key (after RoPE, as
   * cached) and value, before attention; used by captureKv. Arrays are reused: copy them.
   */
  observe?: (layer: number, seq: number, pos: number, q: Float32Array, k: Float32Array, v: Float32Array) => void;
}

/** Byte and bit accounting of all layers' caches together. */
export interface ModelCacheStats extends CacheStats {
  /** Cached scalars, K and V, all layers. */
  elements: number;
  /** Bytes the same tokens would take in fp32 / fp16 (K and V, all layers). */
  fp32Bytes: number;
  fp16Bytes: number;
}

/**
 * A LLaMA-style decoder (llama2.c run.c math: RMSNorm, RoPE on consecutive pairs, SwiGLU, GQA)
 * whose attention reads a kvpack PackedKvCache per layer through an AttentionBackend, so the
 * model attends over exactly what the codec stored. Several sequences can advance together
 * (one backend call per layer for all of them).
 */
export class ModelRunner {
  readonly model: Model;
  readonly caches: LayerCache[];
  readonly backend: AttentionBackend;
  private readonly observe: RunnerOptions['observe'];
  private readonly ropeCache = new Map<number, { cos: Float64Array; sin: Float64Array }>();

  constructor(model: Model, opts: RunnerOptions) {
    checkModel(model);
    checkObject(opts, 'opts');
    if (opts.caches !== undefined) {
      checkArray(opts.caches, 'caches');
      opts.caches.forEach((k, l) => checkObject(k, `caches[${l}]`));
    } else {
      check(typeof opts.cache === 'function' || (opts.cache !== null && typeof opts.cache === 'object' && !Array.isArray(opts.cache)), 'BAD_PARAM',
        `must be a cache spec object or a function of the layer, got ${typeName(opts.cache)}`, 'cache');
    }
    checkBackendLike(opts.backend, 'backend');
    checkOptionalFn(opts.observe, 'observe');
    this.model = model;
    const c = model.config;
    const spec = typeof opts.cache === 'function' ? opts.cache : () => opts.cache as LayerCacheSpec;
    this.backend = opts.backend ?? new TsBackend();
    // a backend with its own encoders (WASM) also packs the tiles: same words, faster
    const encodeWith = encodersOf(this.backend);
    const withEncoders = (sp: LayerCacheSpec): LayerCacheSpec => (encodeWith && !sp.encodeWith ? { ...sp, encodeWith } : sp);
    if (opts.caches) {
      check(opts.caches.length === c.nLayers, 'BAD_PARAM', `${opts.caches.length} caches for ${c.nLayers} layers`, 'caches');
      opts.caches.forEach((k, l) => check(k.nKvHeads === c.nKvHeads && k.headDim === c.headDim, 'BAD_SHAPE',
        `layer ${l}: cache of ${k.nKvHeads}x${k.headDim}, model has ${c.nKvHeads}x${c.headDim}`, 'caches'));
      this.caches = [...opts.caches];
    } else {
      this.caches = Array.from({ length: c.nLayers }, (_, l) => createLayerCache(withEncoders(spec(l)), c.nKvHeads, c.headDim));
    }
    this.observe = opts.observe;
  }

  /** Tokens cached for a sequence (its next position). */
  position(seq: number): number {
    checkSeqId(seq);
    return this.caches[0]!.length(seq);
  }

  /** Drops a sequence from every layer's cache. */
  deleteSequence(seq: number): void {
    checkSeqId(seq);
    for (const cache of this.caches) cache.delete(seq);
  }

  /**
   * One decode step for each sequence: token `tokens[i]` at the next position of `seqs[i]`.
   * Returns logits [seqs.length][vocabSize]. Inputs are validated before any cache changes.
   */
  async step(seqs: readonly number[], tokens: readonly number[]): Promise<Float32Array> {
    const c = this.model.config, w = this.model.weights;
    checkSeqIds(seqs);
    checkTokenIds(tokens, c.vocabSize);
    check(seqs.length > 0 && seqs.length === tokens.length, 'BAD_SHAPE',
      `${tokens.length} tokens for ${seqs.length} sequences`, 'tokens');
    check(new Set(seqs).size === seqs.length, 'BAD_PARAM', 'a sequence appears twice in one step', 'seqs');
    for (const t of tokens) check(Number.isInteger(t) && t >= 0 && t < c.vocabSize, 'BAD_PARAM', `token ${t} outside [0, ${c.vocabSize})`, 'tokens');
    const positions = seqs.map((s) => {
      check(Number.isInteger(s) && s >= 0, 'BAD_PARAM', `must be a non-negative integer, got ${s}`, 'seqs');
      const p = this.position(s);
      check(p < c.seqLen, 'BAD_PARAM', `sequence ${s} already holds seq_len=${c.seqLen} tokens`, 'seqs');
      return p;
    });

    const B = seqs.length, dim = c.dim, hd = c.headDim;
    const qDim = c.nHeads * hd, kvDim = c.nKvHeads * hd;
    const x = new Float32Array(B * dim);
    tokens.forEach((t, b) => x.set(w.tokenEmbedding.subarray(t * dim, (t + 1) * dim), b * dim));
    const xb = new Float32Array(dim), q = new Float32Array(B * qDim), k = new Float32Array(kvDim), v = new Float32Array(kvDim);
    const proj = new Float32Array(dim), hb = new Float32Array(c.hiddenDim), hb2 = new Float32Array(c.hiddenDim);
    for (let l = 0; l < c.nLayers; l++) {
      const lw = w.layers[l]!, cache = this.caches[l]!;
      for (let b = 0; b < B; b++) {
        const xs = x.subarray(b * dim, (b + 1) * dim), qs = q.subarray(b * qDim, (b + 1) * qDim);
        rmsNorm(xb, xs, lw.rmsAtt, c.normEps);
        matVec(qs, lw.wq, xb, qDim, dim);
        matVec(k, lw.wk, xb, kvDim, dim);
        matVec(v, lw.wv, xb, kvDim, dim);
        const rope = this.rope(positions[b]!);
        applyRope(qs, hd, rope.cos, rope.sin);
        applyRope(k, hd, rope.cos, rope.sin);
        this.observe?.(l, seqs[b]!, positions[b]!, qs, k, v);
        cache.append(seqs[b]!, k, v);
      }
      const att = selfAttending(cache) ? await cache.attend(seqs, q, c.nHeads) : await this.backend.attend(cache, seqs, q, c.nHeads);
      for (let b = 0; b < B; b++) {
        const xs = x.subarray(b * dim, (b + 1) * dim);
        matVec(proj, lw.wo, att.subarray(b * qDim, (b + 1) * qDim), dim, qDim);
        for (let i = 0; i < dim; i++) xs[i] = xs[i]! + proj[i]!;
        rmsNorm(xb, xs, lw.rmsFfn, c.normEps);
        matVec(hb, lw.w1, xb, c.hiddenDim, dim);
        matVec(hb2, lw.w3, xb, c.hiddenDim, dim);
        for (let i = 0; i < c.hiddenDim; i++) {
          const g = hb[i]!;
          hb[i] = (g / (1 + Math.exp(-g))) * hb2[i]!; // SwiGLU: silu(w1 x) * (w3 x)
        }
        matVec(proj, lw.w2, hb, dim, c.hiddenDim);
        for (let i = 0; i < dim; i++) xs[i] = xs[i]! + proj[i]!;
      }
    }
    const logits = new Float32Array(B * c.vocabSize);
    for (let b = 0; b < B; b++) {
      rmsNorm(xb, x.subarray(b * dim, (b + 1) * dim), w.rmsFinal, c.normEps);
      matVec(logits.subarray(b * c.vocabSize, (b + 1) * c.vocabSize), w.classifier, xb, c.vocabSize, dim);
    }
    return logits;
  }

  /**
   * Feeds a prompt to one sequence, one position at a time through the cache (so every position
   * attends over what the codec stored, causally), and returns the logits after each token
   * ([tokens.length][vocab]) or only the last ones with `lastOnly`.
   */
  async prefill(seq: number, tokens: readonly number[], lastOnly = false): Promise<Float32Array> {
    const V = this.model.config.vocabSize;
    checkSeqId(seq);
    checkTokenIds(tokens, V);
    checkOptionalBool(lastOnly, 'lastOnly');
    check(tokens.length > 0, 'BAD_SHAPE', 'empty prompt', 'tokens');
    check(this.position(seq) + tokens.length <= this.model.config.seqLen, 'BAD_PARAM',
      `${this.position(seq)} cached + ${tokens.length} tokens exceed seq_len=${this.model.config.seqLen}`, 'tokens');
    const out = new Float32Array(lastOnly ? V : tokens.length * V);
    for (let i = 0; i < tokens.length; i++) {
      const logits = await this.step([seq], [tokens[i]!]);
      if (!lastOnly) out.set(logits, i * V);
      else if (i === tokens.length - 1) out.set(logits);
    }
    return out;
  }

  /**
   * All layers' caches as one: `tokens` and `fpTokens` per layer (every layer holds the same
   * tokens), bytes and `elements` (K and V) summed over layers, bits weighted by elements.
   */
  stats(): ModelCacheStats {
    const first = this.caches[0]!.stats();
    let packedBytes = 0, paramBytes = 0, bits = 0, bitsStored = 0, elements = 0;
    for (const cache of this.caches) {
      const s = cache.stats();
      const e = s.tokens * cache.tokenFloats * 2;
      packedBytes += s.packedBytes; paramBytes += s.paramBytes;
      bits += s.effectiveBits * e; bitsStored += s.effectiveBitsStored * e; elements += e;
    }
    return {
      tokens: first.tokens, fpTokens: first.fpTokens, packedBytes, paramBytes, elements,
      effectiveBits: elements ? bits / elements : 0,
      effectiveBitsStored: elements ? bitsStored / elements : 0,
      fp32Bytes: elements * 4, fp16Bytes: elements * 2,
    };
  }

  private rope(pos: number): { cos: Float64Array; sin: Float64Array } {
    let r = this.ropeCache.get(pos);
    if (!r) {
      r = ropeAngles(pos, this.model.config.headDim, this.model.config.ropeTheta);
      this.ropeCache.set(pos, r);
    }
    return r;
  }
}
