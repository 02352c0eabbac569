/**
 * Per-call times of the first decode steps of a fresh WasmThreadsBackend (decisions.md#D44): are
 * the workers still running V8's baseline (Liftoff) code of the kernels when a benchmark starts
 * timing? Two pools over one cache, each timed call by call from its first step:
 *  - `fresh`: the module compiled from bytes for the pool (what `bench:cpu --scaling` did before
 *    D44), so every kernel starts in Liftoff and tiers up to TurboFan by V8's budget;
 *  - `shared`: the WebAssembly.Module that a one-thread WasmBackend already ran WARM steps with,
 *    posted to the workers (V8 shares the compiled code, optimized functions included).
 *
 *   npx esbuild bench/cpu/threads-warmup.ts --bundle --platform=node --format=esm --outfile=build/bench/threads-warmup.js
 *   node build/bench/threads-warmup.js kivi2 gqa 32768 2 [CALLS=12] [--integer]
 *
 * Prints wall ms and process CPU ms (all threads) per call, and the one-thread time of the same
 * step for reference. The workers load dist/index.js (npm run build).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { createCodec } from '../../ts/codecs/index.js';
import { WasmBackend, loadKvpackWasm } from '../../ts/backends/wasm.js';
import { WasmThreadsBackend } from '../../ts/backends/wasm-threads.js';
import { chooseWasmBuild, WASM_BUILD_FILES } from '../../ts/backends/wasm-loader.js';
import { gaussianKv, outlierKeys, randomQuery } from '../../tests/helpers/data.js';
import { WasmTileEncoder, withWasmEncoder } from './wasm-encode.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const integerAttention = !process.argv.includes('--no-integer');
const [codec, shape, ctxArg, threadsArg, callsArg] = args;
if (!codec || (shape !== 'mha' && shape !== 'gqa') || !ctxArg || !threadsArg) {
  throw new Error('usage: threads-warmup CODEC mha|gqa CONTEXT THREADS [CALLS] [--no-integer]');
}
const ctx = Number(ctxArg), threads = Number(threadsArg), calls = Number(callsArg ?? 12);
const nKv = shape === 'gqa' ? 8 : 32, nHeads = 32, d = 128, WARM = 10;
const bytes = new Uint8Array(readFileSync(join(root, 'build', WASM_BUILD_FILES[chooseWasmBuild()])));
const workerModule = pathToFileURL(join(root, 'dist', 'index.js'));

const module = await WebAssembly.compile(bytes);
const one = new WasmBackend(await loadKvpackWasm(module), { integerAttention });
const kc = createCodec(codec, { kind: 'key', headDim: d, nKvHeads: nKv });
const vc = createCodec(codec, { kind: 'value', headDim: d, nKvHeads: nKv });
const kEnc = new WasmTileEncoder(one.wasm, kc), vEnc = new WasmTileEncoder(one.wasm, vc);
const cache = new PackedKvCache({ nKvHeads: nKv, headDim: d, window: 0, sinks: 0, key: withWasmEncoder(kc, kEnc), value: withWasmEncoder(vc, vEnc) });
for (let t = 0; t < ctx; t += 1024) {
  const n = Math.min(1024, ctx - t);
  cache.append(0, outlierKeys(n, nKv, d, t + 1), gaussianKv(n, nKv, d, t + 7));
}
const q = randomQuery(nHeads, d, 3);

async function series(fn: () => unknown, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage(), t0 = performance.now();
    await fn();
    const wall = performance.now() - t0, c = process.cpuUsage(c0);
    out.push(`${wall.toFixed(1)}/${((c.user + c.system) / 1000).toFixed(1)}`);
  }
  return out;
}

const head = `${codec} ${shape} ${ctx} ${integerAttention ? 'integer' : 'float'} kernels, ${threads} threads, wall/cpu ms per call from the first`;
const fresh = await WasmThreadsBackend.create({ threads, wasm: bytes, workerModule, integerAttention });
const freshTimes = await series(() => fresh.attend(cache, [0], q, nHeads), calls);
await fresh.forget(cache);
fresh.dispose();
const oneTimes = await series(() => one.attendSync(cache, [0], q, nHeads), WARM);
const shared = await WasmThreadsBackend.create({ threads, wasm: module, workerModule, integerAttention });
const sharedTimes = await series(() => shared.attend(cache, [0], q, nHeads), calls);
await shared.forget(cache);
shared.dispose();
console.log(`${head}\n  fresh module : ${freshTimes.join(' ')}\n  one thread   : ${oneTimes.join(' ')}\n  shared module: ${sharedTimes.join(' ')}`);
kEnc.release();
vEnc.release();
