/** The real-model harness: loaders, tokenizer, forward pass over a kvpack cache, capture, perplexity. */
export type { LayerWeights, Model, ModelConfig, ModelWeights } from './config.js';
export { listModelLoaders, loadModelFrom, registerModelLoader } from './loader-registry.js';
export type { LoadedModel, ModelLoader, ModelSource } from './loader-registry.js';
export { llama2cLoader } from './llama2c-loader.js';
export { parseLlama2cCheckpoint, readLlama2cHeader } from './llama2c-checkpoint.js';
export { BOS, EOS, parseLlama2cTokenizer, Tokenizer } from './tokenizer.js';
export { ModelRunner } from './forward.js';
export type { LayerCacheSpec, ModelCacheStats, RunnerOptions } from './forward.js';
export { denseForward } from './dense-reference.js';
export { captureKv } from './capture.js';
export { kvCaptureBytes, parseKvCapture, serializeKvCapture } from './kv-capture.js';
export type { KvCapture, LayerCapture } from './kv-capture.js';
export { CALIBRATION_FRACTION, splitText, tokenizeLines } from './text-split.js';
