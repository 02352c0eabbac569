import { check } from '../errors.js';
import { checkObject, typeName } from '../util/args.js';
/**
 * Hyper-parameters of a LLaMA-style decoder (RMSNorm, RoPE, SwiGLU, multi-head or grouped-query
 * attention). Every model loader produces this, so the forward pass never depends on a file format.
 */
export interface ModelConfig {
  /** Residual stream width. */
  dim: number;
  /** SwiGLU hidden width. */
  hiddenDim: number;
  nLayers: number;
  /** Query heads. */
  nHeads: number;
  /** Key/value heads; nHeads is a multiple of it (GQA when larger). */
  nKvHeads: number;
  headDim: number;
  vocabSize: number;
  /** Longest context the model was trained for. */
  seqLen: number;
  /** RoPE base; llama2.c uses 10000. */
  ropeTheta: number;
  /** Added to the mean square in RMSNorm; llama2.c uses 1e-5. */
  normEps: number;
  /** True when the output classifier is the token embedding (llama2.c: vocab_size > 0 in the header). */
  sharedClassifier: boolean;
}

/** Weights of one transformer layer; matrices row-major [out][in]. */
export interface LayerWeights {
  rmsAtt: Float32Array; // [dim]
  wq: Float32Array; // [nHeads*headDim][dim]
  wk: Float32Array; // [nKvHeads*headDim][dim]
  wv: Float32Array; // [nKvHeads*headDim][dim]
  wo: Float32Array; // [dim][nHeads*headDim]
  rmsFfn: Float32Array; // [dim]
  w1: Float32Array; // [hiddenDim][dim] (gate)
  w2: Float32Array; // [dim][hiddenDim] (down)
  w3: Float32Array; // [hiddenDim][dim] (up)
}

export interface ModelWeights {
  tokenEmbedding: Float32Array; // [vocab][dim]
  layers: LayerWeights[];
  rmsFinal: Float32Array; // [dim]
  classifier: Float32Array; // [vocab][dim]; the embedding itself when shared
}

export interface Model {
  config: ModelConfig;
  weights: ModelWeights;
  /** Which loader produced it ('llama2c', ...), for reports. */
  format: string;
}

/**
 * Checks that `model` is a Model whose weights have the sizes its config gives (issue 18: a
 * wrong argument is a KvpackError before any work, not a TypeError or a read past an array).
 */
export function checkModel(model: unknown, arg = 'model'): asserts model is Model {
  checkObject(model, arg);
  checkObject(model.config, `${arg}.config`);
  checkObject(model.weights, `${arg}.weights`);
  const c = model.config as unknown as Record<string, unknown>, w = model.weights as unknown as Record<string, unknown>;
  for (const f of ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'vocabSize', 'seqLen']) {
    check(Number.isInteger(c[f]) && (c[f] as number) > 0, 'BAD_PARAM', `must be a positive integer, got ${typeName(c[f])} ${String(c[f])}`, `${arg}.config.${f}`);
  }
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, headDim, vocabSize } = model.config as unknown as ModelConfig;
  check(nHeads % nKvHeads === 0, 'BAD_SHAPE', `nHeads=${nHeads} is not a multiple of nKvHeads=${nKvHeads}`, `${arg}.config`);
  for (const f of ['ropeTheta', 'normEps']) {
    check(typeof c[f] === 'number' && Number.isFinite(c[f]) && (c[f] as number) > 0, 'BAD_PARAM', `must be a positive number, got ${String(c[f])}`, `${arg}.config.${f}`);
  }
  const f32 = (x: unknown, n: number, name: string): void => {
    check(x instanceof Float32Array, 'BAD_PARAM', `must be a Float32Array, got ${typeName(x)}`, `${arg}.weights.${name}`);
    check(x.length === n, 'BAD_SHAPE', `length ${x.length} != ${n}`, `${arg}.weights.${name}`);
  };
  f32(w.tokenEmbedding, vocabSize * dim, 'tokenEmbedding');
  f32(w.rmsFinal, dim, 'rmsFinal');
  f32(w.classifier, vocabSize * dim, 'classifier');
  check(Array.isArray(w.layers) && w.layers.length === nLayers, 'BAD_SHAPE', `must be an array of nLayers=${nLayers} layers`, `${arg}.weights.layers`);
  const q = nHeads * headDim, kvd = nKvHeads * headDim;
  (w.layers as unknown[]).forEach((l, i) => {
    checkObject(l, `${arg}.weights.layers[${i}]`);
    const sizes: [string, number][] = [['rmsAtt', dim], ['wq', q * dim], ['wk', kvd * dim], ['wv', kvd * dim], ['wo', dim * q],
      ['rmsFfn', dim], ['w1', hiddenDim * dim], ['w2', dim * hiddenDim], ['w3', hiddenDim * dim]];
    for (const [f, n] of sizes) f32(l[f], n, `layers[${i}].${f}`);
  });
}
