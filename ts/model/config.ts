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
