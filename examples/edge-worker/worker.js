/**
 * kvpack on the edge: a workerd module worker answering decode-attention requests over a packed
 * KV cache with the WASM SIMD backend.
 *
 * workerd (like Cloudflare Workers) forbids compiling WebAssembly from bytes at run time
 * ("Wasm code generation disallowed by embedder"), so the kernels come in as `wasm` modules
 * (config.capnp): workerd compiles them at load and the import is a WebAssembly.Module, which
 * createWasmBackend(module) instantiates. Both builds are imported; the relaxed-SIMD one is
 * used where this V8 validates relaxed SIMD.
 *
 * The cache: `cache.bin` (a `data` module, an ArrayBuffer) holds the bytes of
 * PackedKvCache.serialize() written by build.mjs; it is restored without re-encoding. Where the
 * kvpack build has no serialize() the file is empty and the worker builds the same cache from the
 * seeded workload (workload.js) at its first request instead.
 *
 * Routes:
 *   GET  /info    -> { backend, description, build, tolerance, cache: { tokens, ... }, restoredFrom }
 *   POST /attend  <- { q: number[] (nHeads * headDim), nHeads?, repeat? }
 *                 -> { out: number[], backend, build, repeat }
 *   `repeat` (default 1, at most 1000) runs the same attention that many times: workerd's clock
 *   stands still while a request computes, so timing is done by the client (bench/runtimes.mjs).
 */
import * as kv from './kvpack.js';
import baseModule from './kvpack.wasm';
import relaxedModule from './kvpack-relaxed.wasm';
import cacheBytes from './cache.bin';
import { buildCache, WORKLOAD } from './workload.js';

let state;

async function init() {
  const module = kv.relaxedSimdSupported() ? relaxedModule : baseModule;
  const backend = await kv.createWasmBackend(module);
  let cache;
  let restoredFrom;
  if (cacheBytes.byteLength > 0) {
    cache = kv.PackedKvCache.deserialize(new Uint8Array(cacheBytes));
    restoredFrom = `cache.bin (${cacheBytes.byteLength} bytes, PackedKvCache.deserialize)`;
  } else {
    cache = buildCache(kv);
    restoredFrom = 'built in the worker from the seeded workload (cache.bin is empty: this kvpack has no serialize())';
  }
  return { backend, cache, restoredFrom };
}

function json(body, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    try {
      state ??= init();
      const { backend, cache, restoredFrom } = await state;
      if (url.pathname === '/info') {
        return json({ backend: backend.name, description: backend.description, build: backend.wasm.build,
          // the bound its answers hold to attendReference (integer kernels here: KIVI in GQA groups)
          tolerance: kv.attentionToleranceOf(backend, cache, WORKLOAD.nHeads),
          cache: { ...WORKLOAD, tokens: cache.length(0), packedBytes: cache.stats().packedBytes }, restoredFrom });
      }
      if (url.pathname === '/attend' && request.method === 'POST') {
        const body = await request.json();
        const nHeads = body.nHeads ?? WORKLOAD.nHeads;
        const repeat = body.repeat ?? 1;
        if (!Array.isArray(body.q)) return json({ error: 'q must be an array of numbers' }, 400);
        if (!Number.isInteger(repeat) || repeat < 0 || repeat > 1000) return json({ error: 'repeat must be an integer in [0, 1000]' }, 400);
        const q = Float32Array.from(body.q);
        let out = new Float32Array(0);
        for (let i = 0; i < repeat; i++) out = await backend.attend(cache, [0], q, nHeads);
        return json({ out: Array.from(out), backend: backend.name, build: backend.wasm.build, repeat });
      }
      return json({ error: `no route ${request.method} ${url.pathname}` }, 404);
    } catch (e) {
      // KvpackError carries a stable code (BAD_SHAPE, NON_FINITE, ...)
      return json({ error: e.message, code: e.code }, e.code ? 400 : 500);
    }
  },
};
