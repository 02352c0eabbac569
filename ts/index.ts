/**
 * kvpack public API. Importing it registers every built-in codec (ts/codecs/index.ts).
 * Grouped by architecture layer (docs/ARCHITECTURE.md); helpers of each layer add their lines.
 */

// errors
export { KvpackError } from './errors.js';
export type { KvpackErrorCode } from './errors.js';

// format: constants shared with the WASM and WGSL kernels, f16 bit conversion
export { FORMAT_VERSION, HEAD_DIM_MULTIPLE, MAX_HEAD_DIM, TILE_TOKENS, TILES_PER_PAGE } from './format/constants.js';
export { f16BitsToF32, f32ToF16Bits, packF16Pair, roundF16 } from './format/f16.js';

// codecs: registry (with every built-in codec registered) and the baseline codec classes
export { codecInfo, createCodec, listCodecs, registerCodec, tileBitsPerElement } from './codecs/index.js';
export type { CodecContext, CodecFactory, CodecInfo, StreamCodec, StreamKind } from './codecs/index.js';
export { TileCodec } from './codecs/base.js';
// representable range (docs/reliability.md): each codec's |x| bound, the f32 kernels' bound
export { ATTEND_MAX_ABS, codecMaxAbs } from './codecs/range.js';
export { Fp32Codec } from './codecs/fp32/index.js';
export { Fp16Codec } from './codecs/fp16/index.js';
export { Q8_0Codec } from './codecs/q8_0/index.js';
export { Q4_0Codec } from './codecs/q4_0/index.js';
export { KiviCodec } from './codecs/kivi/index.js';
export { CODE_BITS, codeWords, packCodes, readCode, unpackCodes, writeCode } from './codecs/bitpack.js';
export {
  affineCode, affineDecode, affineParams, clipRange, packAffineMeta, unpackAffineMeta, quantizeAffineGroup,
  dequantizeAffineGroup,
} from './codecs/uniform.js';
export type { AffineParams } from './codecs/uniform.js';
// SKVQ (docs/codecs/skvq.md): codec, calibration objects, calibration drivers (TS oracle or WASM math)
export { SkvqCodec, plainSkvqCalibration, validateSkvqCalibration, SKVQ_DEFAULT_WINDOW, SKVQ_DEFAULT_SINKS } from './codecs/skvq/index.js';
export type { SkvqBits, SkvqCalibration, SkvqOptions } from './codecs/skvq/index.js';
export { calibrateSkvq, calibrateSkvqStream, tsSkvqMath } from './codecs/skvq/calibrate.js';
export type { SkvqCalibrateOptions, SkvqCalibrationMath, SkvqCaptureOptions } from './codecs/skvq/calibrate.js';
export { skvqMathWasm } from './codecs/skvq/wasm.js';
// CQ (docs/codecs/cq.md): codec, calibration objects, k-means calibration (TS oracle or WASM), LUT attention
export { CqCodec, CQ_REGISTERED, cqName, cqShape, parseCqName, loadCqCalibration, makeCqCalibration } from './codecs/cq/index.js';
export type { CqCalibration, CqConfig, CqPrecision, CqShape } from './codecs/cq/index.js';
export { calibrateCq, calibrateCqStream } from './codecs/cq/calibrate.js';
export type { CqCalibrateOptions, CqCaptureLike, CqLayerCalibration, CqProgress, KmeansFn } from './codecs/cq/calibrate.js';
export { kmeans } from './codecs/cq/kmeans.js';
export type { KmeansOptions, KmeansResult } from './codecs/cq/kmeans.js';
export { kmeansWasm } from './codecs/cq/wasm.js';
export { attendCqLut } from './codecs/cq/lut-attention.js';
export { CqWebGpuAttention } from './codecs/cq/webgpu.js';

// cache
export { PackedKvCache } from './cache/kv-cache.js';
export type { CacheOptions, CacheStats, DeserializeOptions, SequenceView, TileEncoderSource } from './cache/kv-cache.js';
export { QaqKvCache } from './codecs/qaq/cache.js';
export type { QaqCacheOptions, QaqCacheStats, QaqPackedAttention } from './codecs/qaq/cache.js';
// QAQ's packed-attention kernels (QaqCacheOptions.packedAttention), as docs/codecs/qaq.md shows them
export { QaqWasmAttention } from './codecs/qaq/wasm.js';
export { QaqGpu } from './codecs/qaq/webgpu.js';
// save and restore (docs/FORMAT.md, "Saved caches")
export * from './serialize/index.js';

// reference attention (the oracle every backend is tested against)
export { attendDense, attendReference, emptyPartial, finishPartial, mergePartials } from './reference/attention.js';
export type { Partial } from './reference/attention.js';

// backends
export type { AttentionBackend, BackendName } from './backends/types.js';
export { ATTENTION_TOLERANCE, attentionToleranceOf } from './backends/types.js';
export { chooseBackend, formatBackendReport } from './backends/detect.js';
export type { BackendReport, ChooseOptions, ChosenBackend } from './backends/detect.js';
export { TsBackend } from './backends/ts-backend.js';
export type { WasmBackendOptions } from './backends/wasm.js';
export { FailoverBackend } from './backends/failover.js';
export type { FailoverEvent } from './backends/failover.js';
export { WasmBackend, createWasmBackend, encodeTileWasm, loadKvpackWasm, wasmSimdSupported, relaxedSimdSupported, chooseWasmBuild, KvpackWasm } from './backends/wasm.js';
export type { WasmBuild } from './backends/wasm.js';
export { WasmThreadsBackend, runWasmAttentionWorker } from './backends/wasm-threads.js';
export type { WasmThreadsOptions } from './backends/wasm-threads.js';
export { wasmKernelsFor } from './backends/wasm-kernels.js';
// kernel descriptors (CodecInfo.kernels): what a codec's WASM exports and WGSL files are
export { codecKernels } from './codecs/registry.js';
export { standardWasm, standardWgsl } from './codecs/kernels.js';
export type { CodecKernels, CustomWebGpuAttention, WasmCodecKernels, WasmKeyKernels, WasmValueKernels, WgslFold } from './codecs/kernels.js';
// WebGPU: importing is free (the Node 'webgpu' addon is loaded only when a device is requested)
export { WebGpuBackend, createWebGpuBackend, GpuKvCache, GpuContext, getGpuDevice, attendGpu, attendInto, kernelsFor } from './backends/webgpu/index.js';
export type { WebGpuBackendOptions, GpuCacheOptions, GpuDeviceOptions, GpuAttendOptions, AttendIntoOptions, GpuBufferSlice, GpuRows, WgslCodecKernels } from './backends/webgpu/index.js';

// model harness (llama2.c checkpoints, tokenizer, forward pass over a kvpack cache)
export * from './model/index.js';
