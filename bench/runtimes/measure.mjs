/** The timed decode loop every runtime runs (step.mjs, page.mjs): median ms per step. */
import { buildCache, decodeQuery, WORKLOAD } from '../../examples/edge-worker/workload.js';

export async function measure(kv, steps) {
  const cache = buildCache(kv);
  const backend = await kv.createWasmBackend();
  for (let i = 0; i < 3; i++) await backend.attend(cache, [0], decodeQuery(i), WORKLOAD.nHeads);
  const ms = [];
  for (let i = 0; i < steps; i++) {
    const q = decodeQuery(3 + i);
    const t0 = performance.now();
    await backend.attend(cache, [0], q, WORKLOAD.nHeads);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const out = { backend: backend.description, msPerStep: ms[ms.length >> 1], steps };
  backend.dispose();
  return out;
}
