// Entry of build/kvpack.wasm: one re-export line per shared kernel module. Codec kernels come in
// through assembly/codecs/index.ts, generated from the folders assembly/codecs/<codec>/ by
// scripts/gen-assembly-codecs.mjs (`npm run build`), so a codec adds no line here
// (docs/ARCHITECTURE.md "Adding a codec").
export { heap_base } from './memory';
export { attend_sequence, attend_arg_count, attend_work_bytes } from './attention';
export { relaxed_simd } from './vec';
export { gemm_nt, gemm_nn_f64, gemm_nn_f64w, softmax_causal } from './gemm';
export { set_integer_attention } from './int-dot';
export * from './codecs/index';
