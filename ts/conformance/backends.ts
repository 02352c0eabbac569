import { WasmBackend, type WasmBackendOptions } from '../backends/wasm.js';
import { defaultWasmBytes, relaxedSimdSupported } from '../backends/wasm-loader.js';
import { WasmThreadsBackend } from '../backends/wasm-threads.js';
import { TsBackend } from '../backends/ts-backend.js';
import { KvpackError } from '../errors.js';
import type { ConformanceBackend, KvSeq } from './matrix.js';
import { encoderWords, hasWasm } from './matrix.js';
import type { AttentionBackend } from '../backends/types.js';
import type { CacheOptions } from '../cache/kv-cache.js';
import { customAttentionFor, hasWgslKernels } from '../backends/webgpu/kernels.js';

async function wasmBuild(build: 'base' | 'relaxed', options: WasmBackendOptions = {}): Promise<AttentionBackend> {
  if (build === 'relaxed' && !relaxedSimdSupported()) {
    throw new KvpackError('BACKEND_UNAVAILABLE', 'this runtime does not validate relaxed SIMD (Node 20: --experimental-wasm-relaxed-simd)', 'wasm');
  }
  return WasmBackend.create(await defaultWasmBytes(build), options);
}

/** GPU words: the same tokens appended to a GpuKvCache (the WGSL encoders), pages read back. */
async function gpuWords(backend: AttentionBackend, opts: CacheOptions, data: KvSeq[]): Promise<Uint32Array[][] | undefined> {
  // codecs with their own attention pipeline (CQ) have no WGSL encoders
  if (typeof opts.key === 'string' || typeof opts.value === 'string' || !hasWgslKernels(opts.key) || !hasWgslKernels(opts.value)) return undefined;
  const { GpuKvCache, WebGpuBackend } = await import('../backends/webgpu/index.js');
  const gpu = await GpuKvCache.create({ ...opts, gpu: (backend as InstanceType<typeof WebGpuBackend>).gpu });
  try {
    const out: Uint32Array[][] = [];
    for (let s = 0; s < data.length; s++) {
      await gpu.append(s, data[s]!.K, data[s]!.V);
      const pages: Uint32Array[] = [];
      for (let p = 0; p < gpu.sequence(s)!.pages.length; p++) pages.push(await gpu.readPage(s, p));
      out.push(pages);
    }
    return out;
  } finally {
    gpu.destroy();
  }
}

/**
 * Every backend and kernel build the matrix knows, in report order. `webgpu` is whatever
 * WebGPU the runtime has (Dawn in Node, wgpu in Deno, the browser's).
 */
export const CONFORMANCE_BACKENDS: readonly ConformanceBackend[] = [
  { name: 'ts', create: async () => new TsBackend(), applies: () => true },
  { name: 'wasm', create: () => wasmBuild('base'), applies: hasWasm, words: encoderWords },
  { name: 'wasm-relaxed', create: () => wasmBuild('relaxed'), applies: hasWasm, words: encoderWords },
  // the opt-out (integerAttention: false): the float kernels everywhere, held to the exact tier
  { name: 'wasm-exact', create: () => wasmBuild('base', { integerAttention: false }), applies: hasWasm },
  // the same exports as `wasm`, attention split over workers (2 keep the test machine responsive)
  { name: 'wasm-threads', create: () => WasmThreadsBackend.create({ threads: 2 }), applies: hasWasm },
  {
    name: 'webgpu',
    create: async () => (await import('../backends/webgpu/index.js')).createWebGpuBackend(),
    applies: (k, v) => (hasWgslKernels(k) && hasWgslKernels(v)) || customAttentionFor(k, v) !== undefined,
    words: gpuWords,
  },
];

export interface ConformanceBackendOptions {
  /** wasm-threads run from TS sources (tests): the bundle its workers import (WasmThreadsOptions.workerModule). */
  workerModule?: string | URL;
}

/** The backends of the matrix by name (all when `names` is empty). */
export function conformanceBackends(names: readonly string[] = [], opts: ConformanceBackendOptions = {}): ConformanceBackend[] {
  const unknown = names.filter((n) => !CONFORMANCE_BACKENDS.some((b) => b.name === n));
  if (unknown.length) {
    throw new KvpackError('BAD_PARAM', `unknown backend ${unknown.join(', ')}; known: ${CONFORMANCE_BACKENDS.map((b) => b.name).join(', ')}`, 'backend');
  }
  return CONFORMANCE_BACKENDS.filter((b) => !names.length || names.includes(b.name)).map((b) => b.name === 'wasm-threads' && opts.workerModule
    ? { ...b, create: () => WasmThreadsBackend.create({ threads: 2, workerModule: opts.workerModule! }) } : b);
}
