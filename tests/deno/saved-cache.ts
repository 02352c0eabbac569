/**
 * Save and restore across runtimes: Deno restores the golden file saved by Node
 * (tests/fixtures/saved-cache-v1.kvpk), attends to the outputs Node recorded with it, bit for
 * bit (TS reference), writes the same bytes back, and restores it through the chunked reader
 * from a Web ReadableStream. Run through `node tests/deno/run.mjs`; prints `N passed, N failed`.
 */
import {
  deserializeCaches, deserializeCachesFrom, GpuKvCache, attendGpu, PackedKvCache, serializeCaches, WasmBackend, WebGpuBackend, getGpuDevice,
} from '../../ts/index.js';
import { randomQuery } from '../helpers/data.js';
import { GOLDEN_EXPECTED, GOLDEN_FILE, goldenCaches, goldenOutputs } from '../serialize/golden.js';

declare const Deno: { exit(code: number): never; readFile(p: string): Promise<Uint8Array>; readTextFile(p: string): Promise<string> };

let passed = 0, failed = 0;
function check(name: string, ok: boolean, detail = ''): void {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
}
const same = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.from(a).every((x, i) => x === b[i]);

try {
  const bytes = await Deno.readFile(GOLDEN_FILE);
  const expected = JSON.parse(await Deno.readTextFile(GOLDEN_EXPECTED)) as { outputsF32Bits: number[][] };
  const caches = deserializeCaches(bytes);
  const outs = goldenOutputs(caches);
  check('restores the Node-saved file: 3 layers', caches.length === 3, `${caches.length}`);
  check('attention outputs equal Node\'s, bit for bit', outs.length === expected.outputsF32Bits.length && outs.every((o, i) => same(o, expected.outputsF32Bits[i]!)));
  check('writes the same bytes back', same(serializeCaches(caches), bytes));
  const stream = new ReadableStream<Uint8Array>({ start(c) { for (let o = 0; o < bytes.length; o += 1000) c.enqueue(bytes.slice(o, o + 1000)); c.close(); } });
  const viaStream = await deserializeCachesFrom(stream);
  check('restores from a ReadableStream of 1,000-byte chunks', same(serializeCaches(viaStream), bytes));
  // the same tokens cached in Deno vs the Node-saved file restored: WASM and WebGPU (wgpu) answer bit for bit
  const fresh = goldenCaches();
  const wasm = await WasmBackend.create();
  const gpu = await getGpuDevice();
  const webgpu = new WebGpuBackend(gpu);
  for (const li of [0, 1]) {
    const a = fresh[li] as PackedKvCache, b = caches[li] as PackedKvCache;
    const nHeads = 2 * a.nKvHeads, q = randomQuery(nHeads, a.headDim, 7);
    check(`layer ${li} ${a.key.name}: WASM attention over the restored cache = over the Deno-built one`, same(await wasm.attend(b, [0], q, nHeads), await wasm.attend(a, [0], q, nHeads)));
    check(`layer ${li} ${a.key.name}: WebGPU (${gpu.description}) backend over the restored cache = over the Deno-built one`,
      same(await webgpu.attend(b, [0], q, nHeads), await webgpu.attend(a, [0], q, nHeads)));
    const g = await GpuKvCache.deserialize(bytes, { layer: li, gpu });
    const mirror = await GpuKvCache.create({ nKvHeads: a.nKvHeads, headDim: a.headDim, key: a.key, value: a.value, window: a.window, sinks: a.sinks, gpu });
    mirror.syncFrom(a, [0]);
    check(`layer ${li}: GpuKvCache restored on the GPU attends as the uploaded Deno-built cache`, same(await attendGpu(g, [0], q, nHeads), await attendGpu(mirror, [0], q, nHeads)));
    const back = await g.serialize();
    check(`layer ${li}: the GPU cache downloads to the host cache's bytes`, same(back, b.serialize()));
    g.destroy(); mirror.destroy();
  }
  wasm.dispose(); webgpu.dispose();
} catch (e) {
  check('saved cache in Deno', false, (e as Error).stack ?? String(e));
}
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed ? 1 : 0);
