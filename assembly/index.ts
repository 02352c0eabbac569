// Entry of build/kvpack.wasm: one re-export line per kernel module. A codec adds its kernels as
// assembly/codecs/<codec>.ts and one line here (docs/ARCHITECTURE.md "WASM kernels").
export { heap_base } from './memory';
export { attend_sequence, attend_arg_count, attend_work_bytes } from './attention';
export { relaxed_simd } from './vec';
export * from './codecs/fp32/kernels';
export * from './codecs/fp16/kernels';
export * from './codecs/q8_0/kernels';
export * from './codecs/q4_0/kernels';
export * from './codecs/kivi/kernels';
export * from './codecs/cq/kernels';
export * from './codecs/cq/kmeans';
export * from './codecs/skvq/kernels';
export * from './codecs/skvq/calibrate';
export * from './codecs/qaq/kernels';
