/**
 * What bench/workerd-wasm.mjs times, the same file in Node and in workerd: GET /?k=<kernel>&n=<n>
 * runs kernel `k` n times and answers { desc, check }. The client times a request of n against one
 * of 0 (workerd's clock stands still while a request computes).
 *   loop         load-loop.mjs's run(1000): 1,000 dot products of 8,192 floats (no kvpack code)
 *   kivi2-int    one decode attention of the edge workload (examples/edge-worker/workload.js) with
 *                kvpack's integer-domain KIVI kernels (the default)
 *   kivi2-float  the same attention with the float kernels (integerAttention: false)
 *   q8_0, fp32   the same attention over q8_0 and over fp32 keys and values (float kernels only)
 * Both kvpack kernels run the base SIMD build (kvpack.wasm) in both runtimes: Node 20 does not
 * validate relaxed SIMD without a flag.
 */
import { fillLoadLoop } from './load-loop.mjs';
import { buildCache, decodeQuery, WORKLOAD } from './workload.js';

export async function makeHandler(kv, modules) {
  const loop = await WebAssembly.instantiate(modules.loop);
  fillLoadLoop(loop.exports.memory);
  const q = decodeQuery(0);
  const int = await kv.createWasmBackend(modules.kvpack, { integerAttention: true });
  const float = await kv.createWasmBackend(modules.kvpack, { integerAttention: false });
  const kivi2 = buildCache(kv);
  // the float paths of other codecs (no integer kernels there): same tokens, other encodings
  const q8 = buildCache(kv, { ...WORKLOAD, key: 'q8_0', value: 'q8_0' });
  const fp32 = buildCache(kv, { ...WORKLOAD, key: 'fp32', value: 'fp32' });
  const attend = (backend, cache) => async () => (await backend.attend(cache, [0], q, WORKLOAD.nHeads))[0];
  const kernels = {
    loop: () => loop.exports.run(1000),
    'kivi2-int': attend(int, kivi2),
    'kivi2-float': attend(float, kivi2),
    'q8_0': attend(int, q8),
    fp32: attend(int, fp32),
  };
  const desc = { loop: 'load-loop.mjs run(1000)', 'kivi2-int': int.description, 'kivi2-float': float.description,
    'q8_0': `${int.description}; q8_0 keys and values`, fp32: `${int.description}; fp32 keys and values` };
  return async (url) => {
    const u = new URL(url);
    const k = u.searchParams.get('k'), n = Number(u.searchParams.get('n'));
    if (!kernels[k] || !Number.isInteger(n) || n < 0 || n > 10_000) return { status: 400, body: { error: `bad k or n: ${u.search}` } };
    let check = 0;
    for (let i = 0; i < n; i++) check = await kernels[k]();
    return { status: 200, body: { desc: desc[k], check } };
  };
}
