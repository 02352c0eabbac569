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
export { createLayerCache } from './forward.js';
export type { LayerCache } from './forward.js';
export { kvGradients } from './kv-gradients.js';
export type { KvGradients, KvNudge } from './kv-gradients.js';
export { defaultPairings, parsePairing } from './codec-pairing.js';
export type { CodecPairing } from './codec-pairing.js';
export { CaptureCalibrator } from './calibrate-from-capture.js';
export { evaluatePerplexity } from './perplexity.js';
export type { PerplexityOptions, PerplexityResult } from './perplexity.js';
export { paretoFront, paretoSvg } from './pareto-svg.js';
export type { ParetoPoint } from './pareto-svg.js';
export { sampleToken, XorShiftRng } from './sampler.js';
// Node-only (node:fs): import 'ts/model/load-model.js' (loadModel) and 'ts/model/kv-capture-file.js'
// (loadKvCapture, saveKvCapture) directly; in a browser build a ModelSource for loadModelFrom.
export type { LayerCalibrator } from './calibrate-from-capture.js';
export { checkTuneCandidates, defaultTuneCandidates, loadTuneConfig, parseTuneConfig, tune, TUNE_CANDIDATES, TUNE_CONFIG_VERSION, tuneCacheSpec, tuneCalibrator, tunePairing } from './tune.js';
export type { TuneBudget, TuneCandidate, TuneConfig, TuneOptions, TuneRotation } from './tune.js';
