// The host owns all memory from __heap_base up (pages, fp regions, queries, outputs: see
// ts/backends/wasm-arena.ts) and grows it with memory.grow. The kernels never allocate: the
// module is built with the stub runtime and only uses static scratch (assembly/scratch.ts).

export function heap_base(): usize {
  return __heap_base;
}
