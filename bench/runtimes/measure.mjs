/**
 * The timed decode loop every runtime runs (step.mjs, page.mjs): `ROUNDS` windows of `steps`
 * decode steps, each window timed as a whole (ms per step = window / steps, as bench/runtimes.mjs
 * times workerd from outside: the figure the "vs Node" ratios compare), and each step on its own.
 * A window counts every time the process was descheduled while other jobs ran; a single step
 * (~1 ms) usually fits between them, so on a loaded machine the fastest single step stays near the
 * idle speed while windows slow down with the load: comparing one runtime's single steps with
 * another's windows made workerd look 2.5-6x slower than Node (D68, D161).
 */
import { buildCache, decodeQuery, WORKLOAD } from '../../examples/edge-worker/workload.js';

export const ROUNDS = 5;

export async function measure(kv, steps) {
  const cache = buildCache(kv);
  const backend = await kv.createWasmBackend();
  for (let i = 0; i < 3; i++) await backend.attend(cache, [0], decodeQuery(i), WORKLOAD.nHeads);
  const queries = Array.from({ length: steps }, (_, i) => decodeQuery(3 + i));
  const ms = [];
  const windows = [];
  for (let r = 0; r < ROUNDS; r++) {
    const w0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      await backend.attend(cache, [0], queries[i], WORKLOAD.nHeads);
      ms.push(performance.now() - t0);
    }
    windows.push((performance.now() - w0) / steps);
  }
  ms.sort((a, b) => a - b);
  windows.sort((a, b) => a - b);
  const out = { backend: backend.description, msWindow: windows[windows.length >> 1], msWindowMin: windows[0],
    msPerStep: ms[ms.length >> 1], msMin: ms[0], steps: ROUNDS * steps };
  backend.dispose();
  return out;
}
